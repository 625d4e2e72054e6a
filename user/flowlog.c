// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The flow pipeline: see flowlog.h. */
#include <errno.h>
#include <malloc.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowlog.h"
#include "loader.h"
#include "log.h"
#include "vec.h"

#define NP_FLOW_DRAIN_MS 250
#define NP_FLOW_RETRY_MS 1000
#define NP_FLOW_PUMP_BATCH 4096
#define NS_PER_S 1000000000ull

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Once per batch of events, not per event. */
static void update_clock_offset(struct np_flowlog *fl)
{
	fl->mono_to_real_ns = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	fl->now_ms = np_now_ms();
}

/* ---- per-sink queues ---- */

static struct np_rec *q_at(struct np_recq *q, size_t i)
{
	return &q->v[(q->head + i) % q->cap];
}

static void q_drop_oldest(struct np_flowlog *fl, struct np_recq *q)
{
	np_rec_free(q_at(q, 0));
	q->head = (q->head + 1) % q->cap;
	q->n--;
	fl->st.dropped++;
}

/* Append a copy of LINE; when full, the oldest record goes (counted). */
static void q_push(struct np_flowlog *fl, struct np_recq *q, const char *line, size_t len,
		   int64_t ts_ms)
{
	struct np_rec *r;
	char *copy = malloc(len + 1);

	if (!copy) {
		fl->st.dropped++;
		return;
	}
	memcpy(copy, line, len + 1);
	if (q->n == q->cap)
		q_drop_oldest(fl, q);
	r = q_at(q, q->n);
	r->line = copy;
	r->len = (uint32_t)len;
	r->ts_ms = ts_ms;
	r->seq = fl->seq;
	q->n++;
}

/* Offer each sink its queue, oldest first, in contiguous runs. */
static void pump(struct np_flowlog *fl)
{
	bool again = false;

	for (size_t s = 0; s < fl->n_sinks; s++) {
		struct np_recq *q = &fl->q[s];

		while (q->n) {
			size_t run = q->cap - q->head < q->n ? q->cap - q->head : q->n;
			size_t took = fl->sinks[s]->offer(fl->sinks[s], &q->v[q->head], run);

			q->head = (q->head + took) % q->cap;
			q->n -= took;
			if (took < run) {
				again = true;
				break;
			}
		}
	}
	if (again && fl->loop)
		np_timer_arm(fl->loop, &fl->retry, NP_FLOW_RETRY_MS);
}

static void emit_line(struct np_flowlog *fl, int64_t ts_ms)
{
	if (fl->buf.oom) {
		fl->st.dropped++;
		return;
	}
	fl->st.records++;
	fl->seq++;
	for (size_t s = 0; s < fl->n_sinks; s++) {
		q_push(fl, &fl->q[s], fl->buf.p, fl->buf.len, ts_ms);
		/* A big interval is handed over as it is produced, not all at
		 * once: the records of 100,000 flows would be 40 MB. */
		if (fl->q[s].n >= NP_FLOW_PUMP_BATCH)
			pump(fl);
	}
}

/* ---- Kubernetes and interface context ---- */

static const char *ifname_of(void *ctx, uint32_t ifindex)
{
	struct np_flowlog *fl = ctx;
	char name[IF_NAMESIZE] = "";
	char *hit = np_hashmap_get(&fl->ifnames, &ifindex);

	if (hit)
		return hit;
	if (!if_indextoname(ifindex, name))
		name[0] = '\0';
	if (np_hashmap_put(&fl->ifnames, &ifindex, name))
		return "";
	return np_hashmap_get(&fl->ifnames, &ifindex);
}

static void rec_ctx(struct np_flowlog *fl, struct np_flow_rec_ctx *c)
{
	c->meta = fl->have_meta ? &fl->meta : NULL;
	c->node = fl->o.node;
	c->ifname = ifname_of;
	c->ifname_ctx = fl;
}

/* ---- kernel state ---- */

static int src_lookup(void *ctx, const struct np_flow_key *k, struct np_ct_val *v)
{
	struct np_flowlog *fl = ctx;
	int fd = k->deny ? fl->map_flow_deny : fl->map_ct;

	return bpf_map_lookup_elem(fd, &k->ct, v) ? -ENOENT : 0;
}

static void src_expire(void *ctx, const struct np_flow_key *k, uint64_t last_seen)
{
	struct np_flowlog *fl = ctx;
	int fd = k->deny ? fl->map_flow_deny : fl->map_ct;
	struct np_flow_mark_pending p = { .op = NP_MARK_EXPIRE, .key = *k, .last_seen = last_seen };
	struct np_ct_val v;

	/* With marks, the entry (which holds the flow's counters) goes only
	 * once the flow's last record is durable: np_flowlog_flush queues it
	 * behind this interval's records. */
	if (np_flow_marks_on(&fl->marks)) {
		if (np_vec_push(&fl->expiring, &fl->n_expiring, &fl->cap_expiring, &p) == 0)
			return;
	}
	/* A packet since our look: the entry lives on, keep it. */
	if (bpf_map_lookup_elem(fd, &k->ct, &v) == 0 && v.last_seen == last_seen)
		bpf_map_delete_elem(fd, &k->ct);
}

/* ---- durable marks ---- */

/* Every record with a seq below this is durable in every sink (or was
 * dropped and reported so). */
static uint64_t resolved_seq(struct np_flowlog *fl)
{
	uint64_t r = fl->seq + 1;

	for (size_t s = 0; s < fl->n_sinks; s++) {
		struct np_recq *q = &fl->q[s];
		struct np_sink *k = fl->sinks[s];

		if (q->n && q_at(q, 0)->seq < r)
			r = q_at(q, 0)->seq;
		if (k->pending_seq) {
			uint64_t p = k->pending_seq(k);

			if (p < r)
				r = p;
		}
	}
	return r;
}

static bool agg_tracks(void *ctx, const struct np_flow_key *k)
{
	struct np_flowlog *fl = ctx;

	return np_flow_agg_find(&fl->agg, k) != NULL;
}

void np_flowlog_settle(struct np_flowlog *fl)
{
	uint64_t now = np_now_ms();

	if (np_flow_marks_on(&fl->marks) && fl->marks.n)
		np_flow_marks_commit(&fl->marks, resolved_seq(fl));
	/* Marks of flows that are over go only once every record before is
	 * durable: a flow's last record (or the SKIPDATA that reports a flow
	 * evicted) may still be in memory, and without its mark a kill -9
	 * would lose it without a trace. */
	if (fl->sweep_due && np_flow_marks_on(&fl->marks) && !fl->marks.n) {
		np_flow_marks_sweep(&fl->marks, agg_tracks, fl);
		fl->sweep_due = false;
	}
	/* A mark not written costs nothing now, but a kill -9 would repeat
	 * those flows' records: say so, once a minute at most. */
	if (fl->marks.failed > fl->warned_mark_failures &&
	    (!fl->warned_mark_ms || now - fl->warned_mark_ms >= 60000)) {
		np_warn("flow logs: %llu durable marks could not be written (the pinned np_flow_mark map is full, or out of memory); after a restart those flows' records may be sent again (same recordId, dedup removes them)",
			(unsigned long long)(fl->marks.failed - fl->warned_mark_failures));
		fl->warned_mark_failures = fl->marks.failed;
		fl->warned_mark_ms = now;
	}
}

/* The record just made (fl->seq) covers F up to R's end. */
static void mark_record(struct np_flowlog *fl, const struct np_flow_result *r)
{
	const struct np_flow *f = r->flow;
	struct np_flow_mark_pending p = { .op = NP_MARK_SET, .seq = fl->seq, .key = f->key };

	if (!np_flow_marks_on(&fl->marks) || !f->created)
		return;
	p.mark.created = f->created;
	p.mark.end_ns = r->end_ns;
	for (int i = 0; i < 2; i++) {
		p.mark.bytes[i] = f->rep.bytes[i] + r->delta.bytes[i];
		p.mark.packets[i] = f->rep.packets[i] + r->delta.packets[i];
	}
	p.mark.flags = f->ended ? NP_FLOW_MARK_ENDED : 0;
	np_flow_marks_push(&fl->marks, &p);
}

/* The kernel counters SKIPDATA records have reported, for the next agent. */
static void mark_meta(struct np_flowlog *fl)
{
	struct np_flow_mark_pending p = { .op = NP_MARK_META, .seq = fl->seq };

	if (!np_flow_marks_on(&fl->marks))
		return;
	np_flow_marks_meta_key(&p.key);
	p.mark.bytes[0] = fl->reported_lost;
	p.mark.bytes[1] = fl->reported_suppressed;
	np_flow_marks_push(&fl->marks, &p);
}

/* Sum of the per-CPU kernel counters. */
static void read_kernel_stats(struct np_flowlog *fl)
{
	__u64 *vals;

	if (fl->map_flow_stats < 0 || fl->n_cpus <= 0)
		return;
	vals = calloc((size_t)fl->n_cpus, sizeof(*vals));
	if (!vals)
		return;
	for (__u32 stat = 0; stat < 2; stat++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fl->map_flow_stats, &stat, vals))
			continue;
		for (int c = 0; c < fl->n_cpus; c++)
			sum += vals[c];
		if (stat == NP_STAT_EVENTS_LOST)
			fl->st.lost_events = sum;
		else
			fl->st.suppressed_events = sum;
	}
	free(vals);
}

/* ---- the interval ---- */

static void consume(struct np_flowlog *fl)
{
	update_clock_offset(fl);
	if (ring_buffer__consume(fl->rb) < 0)
		np_warn("reading flow events failed: %s", strerror(errno));
}

void np_flowlog_read_events(struct np_flowlog *fl)
{
	if (fl->rb)
		consume(fl);
}

struct flush_ctx {
	struct np_flowlog *fl;
	struct np_flow_rec_ctx rc;
};

static void on_result(void *ctx, const struct np_flow_result *r)
{
	struct flush_ctx *f = ctx;

	if (f->fl->o.observe)
		f->fl->o.observe(f->fl->o.observe_ctx, r, f->rc.meta);
	if (!f->fl->n_sinks)
		return; /* metrics only: nobody reads records */
	np_sb_reset(&f->fl->buf);
	np_flow_rec_json(&f->fl->buf, &f->rc, r);
	emit_line(f->fl, (int64_t)(r->start_ns / 1000000));
	mark_record(f->fl, r);
}

void np_flowlog_flush(struct np_flowlog *fl, bool final)
{
	struct np_flow_source src = { src_lookup, src_expire, fl };
	struct flush_ctx fc = { .fl = fl };
	uint64_t end_ns = clock_ns(CLOCK_REALTIME);
	uint64_t lost, suppressed, dropped, evicted, records_before = fl->st.records;

	if (fl->rb)
		consume(fl);
	fl->now_ms = np_now_ms();
	pump(fl); /* what waits goes first: room for the new records */
	rec_ctx(fl, &fc.rc);
	np_flow_agg_flush(&fl->agg, fl->map_ct >= 0 ? &src : NULL, fl->interval_start_ns, end_ns,
			  fl->now_ms, final, on_result, &fc);
	/* Idle entries go once this interval's records are durable. */
	for (size_t i = 0; i < fl->n_expiring; i++) {
		fl->expiring[i].seq = fl->seq;
		np_flow_marks_push(&fl->marks, &fl->expiring[i]);
	}
	fl->n_expiring = 0;
	read_kernel_stats(fl);
	/* A fresh stats map (replaced, or no pins before) starts below what
	 * the previous agent reported: count from it, never wrap. */
	if (fl->st.lost_events < fl->reported_lost)
		fl->reported_lost = fl->st.lost_events;
	if (fl->st.suppressed_events < fl->reported_suppressed)
		fl->reported_suppressed = fl->st.suppressed_events;
	fl->st.evicted_flows += fl->agg.gone;
	fl->agg.gone = 0;
	lost = fl->st.lost_events - fl->reported_lost;
	suppressed = fl->st.suppressed_events - fl->reported_suppressed;
	dropped = fl->st.dropped - fl->reported_dropped;
	evicted = fl->st.evicted_flows - fl->reported_evicted;
	if (lost || suppressed || dropped || evicted) {
		np_sb_reset(&fl->buf);
		np_flow_rec_skipdata(&fl->buf, &fc.rc, fl->interval_start_ns, end_ns, lost,
				     suppressed, dropped, evicted);
		fl->reported_lost = fl->st.lost_events;
		fl->reported_suppressed = fl->st.suppressed_events;
		fl->reported_dropped = fl->st.dropped;
		fl->reported_evicted = fl->st.evicted_flows;
		np_warn("flow logs: %llu events lost (ring buffer full), %llu suppressed (denial event budget), %llu records dropped (sink queue full), %llu flows evicted before their last counters were read, in this interval; reported as logStatus SKIPDATA",
			(unsigned long long)lost, (unsigned long long)suppressed,
			(unsigned long long)dropped, (unsigned long long)evicted);
		emit_line(fl, (int64_t)(fl->interval_start_ns / 1000000));
		mark_meta(fl);
		/* A drop while queueing the report itself shows next time. */
	}
	if (!final)
		fl->sweep_due = true; /* see np_flowlog_settle */
	fl->interval_start_ns = end_ns;
	np_hashmap_clear(&fl->ifnames);
	pump(fl);
	np_flowlog_settle(fl);
	/* Give the records' memory back after a big interval. */
	if (fl->st.records - records_before > NP_FLOW_PUMP_BATCH)
		malloc_trim(0);
}

static int on_rb_event(void *ctx, void *data, size_t size)
{
	if (size < sizeof(struct np_flow_event))
		return 0;
	return np_flowlog_event(ctx, data) == -ENOMEM ? -ENOMEM : 0;
}

int np_flowlog_event(struct np_flowlog *fl, const struct np_flow_event *ev)
{
	uint64_t ev_ns = ev->ts_ns + (uint64_t)fl->mono_to_real_ns;

	fl->st.events++;
	return np_flow_agg_event(&fl->agg, ev, ev_ns, fl->now_ms);
}

static void on_rb_ready(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop, (void)fd, (void)events;
	consume(ctx);
}

static void on_drain(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	consume(ctx);
	np_flowlog_settle(ctx);
	np_timer_arm(loop, t, NP_FLOW_DRAIN_MS);
}

static void on_tick(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct np_flowlog *fl = ctx;

	np_flowlog_flush(fl, false);
	np_timer_arm(loop, t, (uint64_t)fl->o.interval_s * 1000);
}

static void on_retry(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	(void)loop, (void)t;
	pump(ctx);
}

int np_flowlog_init(struct np_flowlog *fl, const struct np_flowlog_opts *o,
		    const struct np_datapath *dp, struct np_sink **sinks, size_t n_sinks)
{
	int ret = 0;

	memset(fl, 0, sizeof(*fl));
	fl->o = *o;
	if (!fl->o.interval_s)
		fl->o.interval_s = 60;
	if (!fl->o.queue_max)
		fl->o.queue_max = 100000;
	fl->o.agg.interval_s = fl->o.interval_s;
	fl->map_ct = fl->map_flow_deny = fl->map_flow_stats = -1;
	np_flow_marks_init(&fl->marks, -1, -1, -1);
	np_hashmap_init(&fl->ifnames, sizeof(uint32_t), IF_NAMESIZE);
	ret = np_flow_agg_init(&fl->agg, &fl->o.agg);
	if (ret)
		goto cleanup;
	if (n_sinks > NP_FLOWLOG_MAX_SINKS) {
		ret = -E2BIG;
		goto cleanup;
	}
	for (size_t i = 0; i < n_sinks; i++) {
		fl->q[i].cap = fl->o.queue_max;
		fl->q[i].v = calloc(fl->q[i].cap, sizeof(struct np_rec));
		if (!fl->q[i].v) {
			ret = -ENOMEM;
			goto cleanup;
		}
		fl->sinks[i] = sinks[i];
	}
	fl->n_sinks = n_sinks;
	if (dp) {
		fl->map_ct = dp->map_ct;
		fl->map_flow_deny = dp->map_flow_deny;
		fl->map_flow_stats = dp->map_flow_stats;
		{
			struct np_flow_source src = { src_lookup, src_expire, fl };

			np_flow_agg_set_source(&fl->agg, &src);
		}
		fl->n_cpus = libbpf_num_possible_cpus();
		fl->hz = dp->hz;
		fl->rb = ring_buffer__new(dp->map_events, on_rb_event, fl, NULL);
		if (!fl->rb) {
			ret = -errno;
			np_err("opening the flow event ring buffer failed: %s", strerror(errno));
			goto cleanup;
		}
	}
	update_clock_offset(fl);
	fl->interval_start_ns = clock_ns(CLOCK_REALTIME);
cleanup:
	return ret;
}

int np_flowlog_start(struct np_flowlog *fl, struct np_loop *loop)
{
	int ret = 0;

	fl->loop = loop;
	np_timer_init(&fl->tick, on_tick, fl);
	np_timer_init(&fl->drain, on_drain, fl);
	np_timer_init(&fl->retry, on_retry, fl);
	ret = np_timer_arm(loop, &fl->tick, (uint64_t)fl->o.interval_s * 1000);
	if (!ret && fl->rb) {
		ret = np_loop_fd_add(loop, ring_buffer__epoll_fd(fl->rb), EPOLLIN, on_rb_ready, fl);
		if (!ret)
			ret = np_timer_arm(loop, &fl->drain, NP_FLOW_DRAIN_MS);
	}
	return ret;
}

void np_flowlog_set_meta(struct np_flowlog *fl, struct np_flow_meta *meta)
{
	if (fl->have_meta)
		np_flow_meta_free(&fl->meta);
	fl->meta = *meta;
	fl->have_meta = true;
	memset(meta, 0, sizeof(*meta));
}

void np_flowlog_close(struct np_flowlog *fl, int timeout_ms)
{
	np_flowlog_flush(fl, true);
	/* A sink's flush may run the event loop (the CloudWatch shipper waits
	 * for its answers there): from now on no timer or ring buffer
	 * callback of ours may run, or it would feed sinks already closed. */
	if (fl->loop) {
		np_timer_cancel(fl->loop, &fl->tick);
		np_timer_cancel(fl->loop, &fl->drain);
		np_timer_cancel(fl->loop, &fl->retry);
		if (fl->rb)
			np_loop_fd_del(fl->loop, ring_buffer__epoll_fd(fl->rb));
	}
	for (size_t s = 0; s < fl->n_sinks; s++)
		if (fl->sinks[s]->flush)
			fl->sinks[s]->flush(fl->sinks[s], timeout_ms);
	/* What the sinks made durable is reported for good: the next agent
	 * starts after it. */
	np_flowlog_settle(fl);
	for (size_t s = 0; s < fl->n_sinks; s++) {
		struct np_recq *q = &fl->q[s];

		if (q->n)
			np_warn("flow logs: %zu records not delivered to the %s sink at shutdown",
				q->n, fl->sinks[s]->name);
		while (q->n)
			q_drop_oldest(fl, q);
		free(q->v);
		fl->sinks[s]->destroy(fl->sinks[s]);
	}
	ring_buffer__free(fl->rb);
	if (fl->marks.fd >= 0)
		close(fl->marks.fd);
	np_flow_marks_free(&fl->marks);
	free(fl->expiring);
	np_flow_agg_free(&fl->agg);
	if (fl->have_meta)
		np_flow_meta_free(&fl->meta);
	np_hashmap_free(&fl->ifnames);
	np_sb_free(&fl->buf);
	memset(fl, 0, sizeof(*fl));
}
