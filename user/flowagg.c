// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Flow aggregation: see flowagg.h. */
#include <errno.h>
#include <string.h>

#include "flowagg.h"
#include "flowtable.h"
#include "vec.h"


int np_flow_agg_init(struct np_flow_agg *a, const struct np_flow_agg_opts *o)
{
	memset(a, 0, sizeof(*a));
	a->o = *o;
	if (!a->o.interval_s)
		a->o.interval_s = 60;
	np_flow_table_init(&a->flows);
	return 0;
}

void np_flow_agg_free(struct np_flow_agg *a)
{
	np_flow_table_free(&a->flows);
	free(a->done);
	a->done = NULL;
	a->n_done = a->cap_done = 0;
}

size_t np_flow_agg_count(const struct np_flow_agg *a)
{
	return a->flows.count + a->n_done;
}

/* Cumulative counters only grow (modulo the 32-bit packet counters'
 * wrap): keep the newest view. */
static void take_counts(struct np_flow_counts *cur, const __u64 bytes[2],
			const __u32 packets[2])
{
	for (int i = 0; i < 2; i++) {
		if (bytes[i] > cur->bytes[i])
			cur->bytes[i] = bytes[i];
		if ((int32_t)(packets[i] - cur->packets[i]) > 0)
			cur->packets[i] = packets[i];
	}
}

static void flow_start(struct np_flow *f, const struct np_flow_key *k, uint64_t ev_ns,
		       uint64_t now_ms)
{
	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->first_ns = ev_ns;
	f->last_ns = ev_ns;
	f->idle_since_ms = now_ms;
	f->fresh = true;
}

void np_flow_agg_set_source(struct np_flow_agg *a, const struct np_flow_source *src)
{
	a->src = *src;
	a->has_src = true;
}

/* A NEW event for flow F that the kernel entry says is F itself: the entry
 * still has the created F knows.  It happens to flows a restarted agent
 * took over: a connection opened while the agent read the leftover events
 * and walked the kernel's entries is found by the walk before its NEW event
 * is read.  Making it a "replaced" flow would give one connection two
 * records with one recordId, and the first one's mark would say its last
 * record is durable while the fin record is not yet: a kill -9 then lost
 * the fin.  A new connection reusing the 5-tuple has a new entry, with
 * another created. */
static bool late_new(struct np_flow_agg *a, const struct np_flow *f)
{
	struct np_ct_val v;

	if (!f->created || !a->has_src || f->key.deny ||
	    a->src.lookup(a->src.ctx, &f->key, &v) || v.created != f->created)
		return false;
	return true;
}

int np_flow_agg_event(struct np_flow_agg *a, const struct np_flow_event *ev, uint64_t ev_ns,
		      uint64_t now_ms)
{
	struct np_flow_key k;
	struct np_flow *f;
	bool created, late;
	int ret = 0;

	memset(&k, 0, sizeof(k));
	k.ct = ev->key;
	k.deny = ev->kind == NP_EV_DENY;
	a->events++;
	f = np_flow_table_upsert(&a->flows, &k, &created);
	if (!f) {
		ret = -ENOMEM;
		goto cleanup;
	}
	late = !created && ev->kind == NP_EV_NEW && late_new(a, f);
	if (late) {
		a->late_new++;
	} else if (!created && ev->kind == NP_EV_NEW) {
		/* The 5-tuple was reused (or the old flow's end was lost):
		 * the old flow ends here, reported at the next flush. */
		f->ended = true;
		if (!f->end)
			f->end = NP_FLOW_END_REPLACED;
		ret = np_vec_push(&a->done, &a->n_done, &a->cap_done, f);
		if (ret)
			goto cleanup;
	}
	if (created || (ev->kind == NP_EV_NEW && !late))
		flow_start(f, &k, ev_ns, now_ms);
	take_counts(&f->cur, ev->bytes, ev->packets);
	f->tcp_flags |= ev->tcp_flags;
	f->origin = ev->origin;
	f->verdict = ev->verdict;
	f->reason = ev->reason;
	f->cookie = ev->cookie;
	f->ep_id = ev->ep_id;
	f->flow_bits = ev->flow;
	f->eph_port = ev->eph_port;
	if (ev_ns > f->last_ns)
		f->last_ns = ev_ns;
	f->idle_since_ms = now_ms;
	if (ev->kind == NP_EV_END) {
		f->ended = true;
		f->end = ev->end;
	} else if (ev->kind == NP_EV_CUT) {
		f->ended = true;
		f->end = NP_FLOW_END_CUT;
	}
cleanup:
	return ret;
}

static uint32_t ct_timeout_s(const struct np_flow_agg_opts *o, uint8_t proto, uint8_t state)
{
	if (proto == NP_PROTO_TCP) {
		if ((state & NP_TCP_RST) ||
		    (state & (NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY)) == (NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY))
			return o->to_tcp_close_s;
		return (state & NP_TCP_SEEN_REPLY) ? o->to_tcp_est_s : o->to_tcp_syn_s;
	}
	if (proto == NP_PROTO_ICMP || proto == NP_PROTO_ICMPV6)
		return o->to_icmp_s;
	return o->to_other_s;
}

/* Read the kernel entry again: newest counters, and whether it has ended. */
static void refresh(struct np_flow_agg *a, struct np_flow *f, const struct np_flow_source *src,
		    uint64_t end_ns, uint64_t now_ms)
{
	struct np_ct_val v;
	uint64_t idle_ms;

	if (src->lookup(src->ctx, &f->key, &v)) {
		f->ended = true;
		f->end = NP_FLOW_END_GONE;
		a->gone++;
		return;
	}
	f->created = v.created;
	f->state = v.state;
	f->tcp_flags |= v.tcp_flags;
	if (f->key.deny) {
		f->flow_bits = v.flow;
		f->eph_port = v.eph_port;
	}
	if (v.last_seen != f->kernel_last_seen) {
		struct np_flow_counts before = f->cur;

		f->kernel_last_seen = v.last_seen;
		take_counts(&f->cur, v.bytes, v.packets);
		if (memcmp(&before, &f->cur, sizeof(before)) != 0) {
			f->idle_since_ms = now_ms;
			f->last_ns = end_ns;
		}
		return;
	}
	idle_ms = now_ms - f->idle_since_ms;
	if (f->key.deny) {
		/* A quiet aggregate is forgotten; if the source comes back
		 * it starts a new one (and a new event). */
		if (idle_ms >= 2000ull * a->o.interval_s) {
			f->ended = true;
			src->expire(src->ctx, &f->key, v.last_seen);
		}
		return;
	}
	if (idle_ms > 1000ull * ct_timeout_s(&a->o, f->key.ct.proto, v.state)) {
		/* The datapath would treat it as a new connection on its next
		 * packet anyway: removing it changes no verdict. */
		f->ended = true;
		f->end = NP_FLOW_END_TIMEOUT;
		src->expire(src->ctx, &f->key, v.last_seen);
	}
}

/* A flow that ended before any read: its entry (kept while it closes)
 * still names it. */
static void learn_created(struct np_flow *f, const struct np_flow_source *src)
{
	struct np_ct_val v;

	if (src->lookup(src->ctx, &f->key, &v) == 0)
		f->created = v.created;
}

static bool has_news(const struct np_flow *f)
{
	return f->fresh || f->cur.packets[0] != f->rep.packets[0] ||
	       f->cur.packets[1] != f->rep.packets[1];
}

static void report(struct np_flow *f, uint64_t start_ns, uint64_t end_ns,
		   np_flow_result_cb cb, void *ctx)
{
	struct np_flow_result r = { .flow = f };
	/* A close the kernel saw (FIN, RST, a cut) gets its record even when
	 * the counters were all reported already (the last packet was read
	 * before its end event): the flow's end is news too. */
	bool closed = f->ended && (f->end == NP_FLOW_END_FIN || f->end == NP_FLOW_END_RST ||
				   f->end == NP_FLOW_END_CUT);

	if (has_news(f) || closed) {
		for (int i = 0; i < 2; i++) {
			r.delta.packets[i] = f->cur.packets[i] - f->rep.packets[i];
			r.delta.bytes[i] = f->cur.bytes[i] - f->rep.bytes[i];
		}
		r.tcp_flags = f->tcp_flags;
		/* A flow that started (or was last seen) inside the interval
		 * is bounded by its own times, as in VPC Flow Logs. */
		r.start_ns = f->first_ns > start_ns ? f->first_ns : start_ns;
		r.end_ns = f->ended && f->last_ns < end_ns ? f->last_ns : end_ns;
		if (r.end_ns < r.start_ns)
			r.end_ns = r.start_ns;
		cb(ctx, &r);
	}
	f->rep = f->cur;
	f->fresh = false;
	f->recovered = false; /* only the first record may repeat one */
}

void np_flow_agg_flush(struct np_flow_agg *a, const struct np_flow_source *src,
		       uint64_t start_ns, uint64_t end_ns, uint64_t now_ms, bool final,
		       np_flow_result_cb cb, void *ctx)
{
	for (size_t i = 0; i < a->n_done; i++)
		report(&a->done[i], start_ns, end_ns, cb, ctx);
	a->n_done = 0;
	for (size_t i = 0; i < a->flows.cap; i++) {
		struct np_flow *f = np_flow_table_at(&a->flows, i);

		/* A deletion may shift a later flow into slot i: look again. */
		while (f) {
			if (!f->ended && src)
				refresh(a, f, src, end_ns, now_ms);
			else if (f->ended && !f->created && src)
				learn_created(f, src);
			report(f, start_ns, end_ns, cb, ctx);
			if (!f->ended && !final)
				break;
			np_flow_table_del_at(&a->flows, i);
			f = np_flow_table_at(&a->flows, i);
		}
	}
}

struct np_flow *np_flow_agg_find(struct np_flow_agg *a, const struct np_flow_key *k)
{
	return np_flow_table_get(&a->flows, k);
}

/* How a kernel entry marked NP_FLOW_ENDED ended. */
static uint8_t kernel_end(const struct np_ct_val *v)
{
	if (v->verdict == NP_VERDICT_DENY)
		return NP_FLOW_END_CUT; /* a revoked connection's tombstone */
	return (v->state & NP_TCP_RST) ? NP_FLOW_END_RST : NP_FLOW_END_FIN;
}

int np_flow_agg_adopt(struct np_flow_agg *a, const struct np_flow_key *k, const struct np_ct_val *v,
		      const struct np_flow_counts *rep, uint64_t first_ns, uint64_t last_ns,
		      uint64_t now_ms)
{
	struct np_flow *f;
	bool created;

	f = np_flow_table_upsert(&a->flows, k, &created);
	if (!f)
		return -ENOMEM;
	if (created) {
		flow_start(f, k, first_ns, now_ms);
		f->last_ns = last_ns;
		f->origin = v->origin;
		f->verdict = v->verdict;
		f->reason = v->reason;
		f->cookie = v->cookie;
		f->ep_id = v->ep_id;
		f->flow_bits = v->flow;
		f->eph_port = v->eph_port;
	}
	f->recovered = true;
	f->created = v->created;
	f->kernel_last_seen = v->last_seen;
	f->state = v->state;
	f->tcp_flags |= v->tcp_flags;
	take_counts(&f->cur, v->bytes, v->packets);
	if (rep) {
		/* Records that are durable covered this much already. */
		f->rep = *rep;
		f->fresh = false;
		if (f->first_ns < first_ns)
			f->first_ns = first_ns;
	}
	if ((v->flow & NP_FLOW_ENDED) && !f->ended && !k->deny) {
		f->ended = true;
		f->end = kernel_end(v);
	}
	return 0;
}
