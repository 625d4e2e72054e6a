/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow events: one per flow and interval, never one per packet.
 *
 *   allowed/audited connections: NP_EV_NEW when the conntrack entry is
 *     created, NP_EV_UPDATE on the first packet after each report interval,
 *     NP_EV_END when TCP closes (FIN both ways, RST) or a later packet finds
 *     the entry timed out, NP_EV_CUT when a policy change cuts it.  Counters
 *     live in the conntrack entry; events carry cumulative values.
 *   denied traffic: counted in np_flow_deny under the conntrack key with the
 *     client's port zeroed, so a SYN flood from one source over many ports
 *     is one aggregate; NP_EV_DENY when the aggregate starts and once per
 *     interval while packets keep coming.  On top, each CPU sends at most
 *     cfg_deny_events_per_s denial events a second (spoofed floods from
 *     random addresses); the rest are counted in np_flow_stats and reported
 *     by userspace as skipped data.
 *
 * Which flows are logged is load-time configuration (cfg_flow_log); audit
 * verdicts always are.  A full ring buffer loses the event, never the
 * packet, and is counted (NP_STAT_EVENTS_LOST).
 *
 * Included by netpol.bpf.c after the maps and cfg_*.
 */
#ifndef NP_FLOWLOG_H
#define NP_FLOWLOG_H

static __always_inline void np_stat_inc(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&np_flow_stats, &stat);

	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* Is a flow with this verdict logged at the configured level? */
static __always_inline int np_flow_logged(__u8 verdict)
{
	if (!cfg_emit_events)
		return 0;
	if (verdict == NP_VERDICT_AUDIT)
		return 1;
	if (verdict == NP_VERDICT_DENY)
		return cfg_flow_log >= NP_FLOW_LOG_REJECTED;
	return cfg_flow_log >= NP_FLOW_LOG_ALL;
}

/* VPC Flow Logs' flag bits of one TCP packet. */
static __always_inline __u8 np_flow_tcp_flags(__u8 flags)
{
	__u8 f = flags & (NP_FLOW_TCP_FIN | NP_FLOW_TCP_SYN | NP_FLOW_TCP_RST);

	if ((flags & (NP_TCP_FLAG_SYN | NP_TCP_FLAG_ACK)) == (NP_TCP_FLAG_SYN | NP_TCP_FLAG_ACK))
		f |= NP_FLOW_TCP_ACK;
	return f;
}

static __noinline int np_emit(const struct np_ctx *c, const struct np_ct_key *key,
			      const struct np_ct_val *v, __u32 kind, __u32 end)
{
	struct np_flow_event *e;

	e = bpf_ringbuf_reserve(&np_events, sizeof(*e), 0);
	if (!e) {
		np_stat_inc(NP_STAT_EVENTS_LOST);
		return 0;
	}
	/* Ring buffer memory is not zeroed: write every field. */
	e->ts_ns = bpf_ktime_get_ns();
	e->bytes[0] = v->bytes[0];
	e->bytes[1] = v->bytes[1];
	__builtin_memcpy(&e->key, key, sizeof(e->key));
	e->packets[0] = v->packets[0];
	e->packets[1] = v->packets[1];
	e->cookie = v->cookie;
	e->ep_id = v->ep_id;
	e->kind = kind;
	e->origin = v->origin;
	e->dir = c->dir;
	e->verdict = v->verdict;
	e->reason = v->reason;
	e->tcp_flags = v->tcp_flags;
	e->end = end;
	e->flow = v->flow;
	e->eph_port = v->eph_port;
	e->pad = 0;
	/* Waking the reader per event costs microseconds (an interrupt per
	 * new flow); wake it only once a batch is waiting.  The reader also
	 * drains on a short timer, so a quiet trickle is never stuck. */
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&np_events, BPF_RB_AVAIL_DATA) >=
				      cfg_events_wakeup_bytes
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP);
	return 0;
}

/* Count this packet into a logged entry; FWD: it travels in the origin
 * direction. */
static __always_inline void np_flow_count(struct __sk_buff *skb, const struct np_ctx *c,
					  struct np_ct_val *v, int fwd)
{
	/* Two spelled-out branches: an indexed store lets clang OR the index
	 * into a stack pointer, which the verifier refuses. */
	if (fwd) {
		v->packets[0] += 1;
		v->bytes[0] += skb->len;
	} else {
		v->packets[1] += 1;
		v->bytes[1] += skb->len;
	}
	if (c->key.proto == NP_PROTO_TCP)
		v->tcp_flags |= np_flow_tcp_flags(c->p.tcp_flags);
}

/* Is a report due for an entry last reported at LAST? */
static __always_inline int np_flow_report_due(const struct np_ctx *c, __u32 last)
{
	return (__u32)c->now - last >= cfg_report_jiffies;
}

/* One more denial event this second on this CPU?  Counts the refusals. */
static __always_inline int np_deny_budget_ok(const struct np_ctx *c)
{
	__u32 zero = 0;
	struct np_flow_budget *b = bpf_map_lookup_elem(&np_flow_budget, &zero);

	if (!b)
		return 0;
	if (c->now - b->window_start >= cfg_hz) {
		b->window_start = c->now;
		b->sent = 0;
	}
	if (b->sent >= cfg_deny_events_per_s) {
		np_stat_inc(NP_STAT_EVENTS_SUPPRESSED);
		return 0;
	}
	b->sent += 1;
	return 1;
}

/*
 * Account a denied packet (verdict DENY, logged level permitting) in its
 * aggregate and emit NP_EV_DENY when the aggregate is new or its interval
 * is over.  The client's port is zeroed in the aggregate's key: the verdict
 * never depends on it, and a flood over many ports stays one aggregate.
 * ORIGIN is the direction the attempt was opened in: the packet's own for
 * new traffic, the connection's for packets of a revoked connection (both
 * of its directions then land in one aggregate, the client's port zeroed).
 */
static __noinline int np_deny_account(struct __sk_buff *skb, const struct np_ctx *c,
				      const struct np_res *r, __u32 origin)
{
	struct np_ct_key k;
	struct np_ct_val *agg;
	__u16 client_port;

	if (!np_flow_logged(NP_VERDICT_DENY))
		return 0;
	origin &= 1;
	__builtin_memcpy(&k, &c->key, sizeof(k));
	/* The opener of the attempt is its client. */
	if (origin == NP_DIR_INGRESS) {
		client_port = k.remote_port;
		k.remote_port = 0;
	} else {
		client_port = k.local_port;
		k.local_port = 0;
	}
	agg = bpf_map_lookup_elem(&np_flow_deny, &k);
	if (!agg) {
		struct np_ct_val v = {};

		v.last_seen = c->now;
		v.created = c->now;
		v.gen = c->gen;
		v.cookie = r->cookie;
		v.origin = origin;
		v.verdict = r->verdict;
		v.reason = r->reason;
		v.ep_id = r->ep_id;
		np_flow_count(skb, c, &v, origin == c->dir);
		v.last_report = (__u32)c->now;
		v.flow = NP_FLOW_LOGGED;
		v.eph_port = client_port;
		bpf_map_update_elem(&np_flow_deny, &k, &v, BPF_ANY);
		if (np_deny_budget_ok(c))
			np_emit(c, &k, &v, NP_EV_DENY, NP_END_NONE);
		return 0;
	}
	np_flow_count(skb, c, agg, origin == c->dir);
	if (agg->eph_port != client_port && !(agg->flow & NP_FLOW_MULTI_PORT)) {
		agg->flow |= NP_FLOW_MULTI_PORT;
		agg->eph_port = 0;
	}
	agg->last_seen = c->now;
	/* The latest reason and rule: a policy change may have moved them. */
	agg->reason = r->reason;
	agg->cookie = r->cookie;
	agg->ep_id = r->ep_id;
	if (np_flow_report_due(c, agg->last_report)) {
		agg->last_report = (__u32)c->now;
		if (np_deny_budget_ok(c))
			np_emit(c, &k, agg, NP_EV_DENY, NP_END_NONE);
	}
	return 0;
}

#endif /* NP_FLOWLOG_H */
