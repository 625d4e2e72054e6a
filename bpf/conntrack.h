/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking: the established fast path (np_ct_hit), new
 * connections (np_ct_miss: deny cache, judge, reply pickup, record) and
 * flow events.
 *
 * Keys are from the point of view of the local pod, so both directions of a
 * connection find the same entry; np_ct_val.origin tells which direction
 * opened it.  Every entry carries the policy generation it was judged
 * under: a stale generation makes the next packet re-judge the connection.
 *
 * Included by netpol.bpf.c after the maps, cfg_* and policy.h.
 */
#ifndef NP_CONNTRACK_H
#define NP_CONNTRACK_H

/* Returned by np_ct_hit() when the entry must be ignored (expired, or a
 * closed TCP connection being reopened): continue as a miss. */
#define NP_CT_AGAIN (-1)

/* Everything known about the packet being judged, on the stack, so the
 * non-inlined helpers need only one pointer. */
struct np_ctx {
	struct np_pkt p;
	struct np_ct_key key;
	__u64 now;   /* bpf_jiffies64() */
	__u32 gen;   /* current policy generation */
	__u8 dir;    /* enum np_dir of the program */
	__u8 pad[3];
} __attribute__((aligned(8)));

#include "flowlog.h"

static __always_inline int np_tcp_fresh_syn(__u8 flags)
{
	return (flags & (NP_TCP_FLAG_SYN | NP_TCP_FLAG_ACK)) == NP_TCP_FLAG_SYN;
}

static __always_inline int np_tcp_closing(__u8 state)
{
	return (state & NP_TCP_RST) ||
	       (state & (NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY)) ==
		       (NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY);
}

/* State bits a TCP packet adds; fwd: it travels in the origin direction. */
static __always_inline __u8 np_tcp_bits(__u8 flags, int fwd)
{
	__u8 s = 0;

	if (flags & NP_TCP_FLAG_RST)
		s |= NP_TCP_RST;
	if (flags & NP_TCP_FLAG_FIN)
		s |= fwd ? NP_TCP_FIN_ORIG : NP_TCP_FIN_REPLY;
	if (fwd && np_tcp_fresh_syn(flags))
		s |= NP_TCP_SYN_ORIG;
	return s;
}

static __always_inline __u64 np_ct_timeout(__u8 proto, __u8 state)
{
	if (proto == NP_PROTO_TCP) {
		if (np_tcp_closing(state))
			return cfg_to_tcp_close;
		if (state & NP_TCP_SEEN_REPLY)
			return cfg_to_tcp_est;
		return cfg_to_tcp_syn;
	}
	if (proto == NP_PROTO_ICMP || proto == NP_PROTO_ICMPV6)
		return cfg_to_icmp;
	return cfg_to_other;
}

/* Judge the connection of K again in the direction it was opened in
 * (ORIGIN), towards its server port: after a policy change, for a live
 * entry, a tombstone, or an ICMP error quoting it. */
static __always_inline void np_rejudge(const struct np_ct_key *k, __u8 origin, struct np_res *r)
{
	origin &= 1;
	np_judge_new(origin, k, origin == NP_DIR_EGRESS ? k->remote_port : k->local_port, r);
}

/*
 * The entry is the tombstone of a connection a policy change revoked
 * (verdict DENY): every packet of it, in either direction, is dropped and
 * counted into the connection's denial aggregate, and refreshes the
 * tombstone, so neither end's retransmissions nor the server's own packets
 * can be picked up as a new or mid-stream connection.  Only a connection
 * judged anew replaces it: for TCP a fresh SYN (from either side); for
 * other protocols, which have no handshake, a later policy change that
 * allows it again in its own direction, or the idle timeout.
 */
static __always_inline int np_ct_revoked(struct __sk_buff *skb, struct np_ctx *c,
					 struct np_ct_val *ct)
{
	struct np_res r;
	__u8 state = ct->state;

	if (c->key.proto == NP_PROTO_TCP) {
		if (np_tcp_fresh_syn(c->p.tcp_flags)) {
			bpf_map_delete_elem(&np_ct, &c->key);
			return NP_CT_AGAIN;
		}
		state |= np_tcp_bits(c->p.tcp_flags, c->dir == ct->origin);
		if (state != ct->state)
			ct->state = state;
	} else if (ct->gen != c->gen) {
		np_rejudge(&c->key, ct->origin, &r);
		if (r.verdict != NP_VERDICT_DENY) {
			bpf_map_delete_elem(&np_ct, &c->key);
			return NP_CT_AGAIN;
		}
		ct->gen = c->gen;
	}
	if (ct->last_seen != c->now)
		ct->last_seen = c->now;
	r.cookie = ct->cookie;
	r.ep_id = ct->ep_id;
	r.verdict = NP_VERDICT_DENY;
	r.reason = NP_REASON_REVOKED;
	r.pad[0] = 0;
	r.pad[1] = 0;
	np_deny_account(skb, c, &r, ct->origin);
	return TC_ACT_SHOT;
}

/*
 * An np_ct entry exists.  Returns TC_ACT_OK / TC_ACT_SHOT, or NP_CT_AGAIN
 * when the entry is to be ignored (it has been deleted).  This is the fast
 * path: for a current entry it is a few compares and at most two stores.
 */
static __always_inline int np_ct_hit(struct __sk_buff *skb, struct np_ctx *c,
				     struct np_ct_val *ct)
{
	__u8 flags = c->p.tcp_flags;
	__u8 state = ct->state;
	int tcp = c->key.proto == NP_PROTO_TCP;
	int fwd = c->dir == ct->origin;

	/* A fresh SYN on a closed connection (port reuse) is a new
	 * connection and must be judged as one, whichever side sends it. */
	if (c->now - ct->last_seen > np_ct_timeout(c->key.proto, state) ||
	    (tcp && np_tcp_fresh_syn(flags) && np_tcp_closing(state))) {
		if ((ct->flow & (NP_FLOW_LOGGED | NP_FLOW_ENDED)) == NP_FLOW_LOGGED)
			np_emit(c, &c->key, ct, NP_EV_END, NP_END_TIMEOUT);
		bpf_map_delete_elem(&np_ct, &c->key);
		return NP_CT_AGAIN;
	}
	if (ct->verdict == NP_VERDICT_DENY)
		return np_ct_revoked(skb, c, ct);

	if (ct->gen != c->gen) {
		/* Policy changed since the verdict: re-judge it. */
		struct np_res r;

		np_rejudge(&c->key, ct->origin, &r);
		if (r.verdict == NP_VERDICT_DENY) {
			/* Revoked.  The event keeps the rule that used to
			 * allow it and the counters so far; the verdict and
			 * reason are the new ones.  The entry stays as a
			 * tombstone (np_ct_revoked): deleting it would let
			 * the next packet be picked up as the reply of a
			 * connection the other side may open. */
			ct->verdict = r.verdict;
			ct->reason = r.reason;
			if ((ct->flow & NP_FLOW_LOGGED) || np_flow_logged(NP_VERDICT_DENY))
				np_emit(c, &c->key, ct, NP_EV_CUT, NP_END_NONE);
			ct->reason = NP_REASON_REVOKED;
			ct->flow |= NP_FLOW_ENDED;
			ct->gen = c->gen;
			ct->last_seen = c->now;
			return TC_ACT_SHOT;
		}
		ct->gen = c->gen;
		ct->cookie = r.cookie;
		ct->verdict = r.verdict;
		ct->reason = r.reason;
		ct->ep_id = r.ep_id;
		if (!(ct->flow & NP_FLOW_LOGGED) && np_flow_logged(r.verdict)) {
			/* Now logged (say, it became an audit verdict): its
			 * counters start here. */
			ct->flow |= NP_FLOW_LOGGED;
			ct->last_report = (__u32)c->now;
			np_emit(c, &c->key, ct, NP_EV_NEW, NP_END_NONE);
		}
	}

	if (!fwd)
		state |= NP_TCP_SEEN_REPLY;
	if (tcp)
		state |= np_tcp_bits(flags, fwd);
	/* Write only what changed: most packets change nothing, and an
	 * untouched entry keeps its cache line clean across CPUs. */
	if (state != ct->state)
		ct->state = state;
	if (ct->last_seen != c->now)
		ct->last_seen = c->now;
	if ((ct->flow & (NP_FLOW_LOGGED | NP_FLOW_ENDED)) == NP_FLOW_LOGGED) {
		np_flow_count(skb, c, ct, fwd);
		if (tcp && np_tcp_closing(state)) {
			ct->flow |= NP_FLOW_ENDED;
			np_emit(c, &c->key, ct, NP_EV_END,
				(state & NP_TCP_RST) ? NP_END_RST : NP_END_FIN);
		} else if (np_flow_report_due(c, ct->last_report)) {
			ct->last_report = (__u32)c->now;
			np_emit(c, &c->key, ct, NP_EV_UPDATE, NP_END_NONE);
		}
	}
	return TC_ACT_OK;
}

/* Recently denied in this direction under the current policy: drop without
 * judging, only counting it into its denial aggregate.  Inline, before
 * np_ct_miss: a flood of denied packets then costs three lookups. */
static __always_inline int np_deny_cached(struct __sk_buff *skb, const struct np_ctx *c)
{
	struct np_ct_val *d = bpf_map_lookup_elem(&np_ct_deny, &c->key);
	struct np_res r;

	if (!d || d->origin != c->dir || d->gen != c->gen ||
	    c->now - d->last_seen > cfg_to_deny)
		return 0;
	if (np_flow_logged(NP_VERDICT_DENY)) {
		r.cookie = d->cookie;
		r.ep_id = d->ep_id;
		r.verdict = d->verdict;
		r.reason = d->reason;
		np_deny_account(skb, c, &r, c->dir);
	}
	return 1;
}

/*
 * No usable np_ct entry (the deny cache was consulted already): judge, try the TCP reply
 * pickup, record the outcome.  Not inlined: the slow path.
 */
static __noinline int np_ct_miss(struct __sk_buff *skb, struct np_ctx *c)
{
	struct np_ct_val v = {};
	struct np_res r;
	__u8 dir = c->dir & 1;
	__u8 origin = dir;
	__u8 state = 0;
	int tcp = c->key.proto == NP_PROTO_TCP;

	np_judge_new(dir, &c->key, c->p.dport, &r);
	if (tcp)
		state = np_tcp_bits(c->p.tcp_flags, 1);

	/* A TCP packet that is not a fresh SYN cannot open a connection, but
	 * it may belong to one the peer opened and we forgot (LRU eviction,
	 * agent restart).  Accept it if the opposite direction, towards our
	 * side's port, would be allowed: that opens nothing new. */
	if (tcp && r.verdict != NP_VERDICT_ALLOW && !np_tcp_fresh_syn(c->p.tcp_flags)) {
		struct np_res rr;
		__u8 odir = dir ^ 1;
		__u16 dport = dir == NP_DIR_EGRESS ? c->key.local_port : c->key.remote_port;

		np_judge_new(odir, &c->key, dport, &rr);
		if (rr.verdict != NP_VERDICT_DENY) {
			r = rr;
			if (r.verdict == NP_VERDICT_ALLOW)
				r.reason = NP_REASON_REPLY;
			origin = odir;
			state = NP_TCP_SEEN_REPLY | np_tcp_bits(c->p.tcp_flags, 0);
		}
	}

	v.last_seen = c->now;
	v.created = c->now;
	v.gen = c->gen;
	v.cookie = r.cookie;
	v.origin = origin;
	v.verdict = r.verdict;
	v.reason = r.reason;
	v.state = state;
	v.ep_id = r.ep_id;

	if (r.verdict == NP_VERDICT_DENY) {
		bpf_map_update_elem(&np_ct_deny, &c->key, &v, BPF_ANY);
		np_deny_account(skb, c, &r, c->dir);
		return TC_ACT_SHOT;
	}
	if (np_flow_logged(r.verdict)) {
		v.flow = NP_FLOW_LOGGED;
		v.last_report = (__u32)c->now;
		np_flow_count(skb, c, &v, origin == dir);
	}
	/* If the table is full the LRU evicts; if the update still fails the
	 * packet passes anyway and the next one is judged again. */
	bpf_map_update_elem(&np_ct, &c->key, &v, BPF_ANY);
	if (v.flow & NP_FLOW_LOGGED)
		np_emit(c, &c->key, &v, NP_EV_NEW, NP_END_NONE);
	return TC_ACT_OK;
}

#endif /* NP_CONNTRACK_H */
