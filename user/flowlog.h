/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow pipeline: ring buffer events -> aggregation (flowagg) -> JSON
 * records with Kubernetes context (flowrec, flowmeta) -> sinks.
 *
 *   - The ring buffer is read when its epoll fd says so (the datapath wakes
 *     it once a batch is waiting) and on a 250 ms timer for trickles: no
 *     polling loop.
 *   - Every --flow-interval seconds the interval is closed: one record per
 *     flow that moved, plus a logStatus SKIPDATA record when the kernel
 *     lost or suppressed events or records had to be dropped here.
 *   - Each sink has its own bounded queue; a sink that refuses
 *     (back-pressure) is retried every second, and when its queue is full
 *     the oldest records are dropped, counted, and reported in SKIPDATA.
 *   - On shutdown every flow still open is reported up to that moment.
 */
#ifndef NP_FLOWLOG_H
#define NP_FLOWLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "flowagg.h"
#include "flowmark.h"
#include "flowmeta.h"
#include "flowrec.h"
#include "hashmap.h"
#include "sink.h"
#include "strbuf.h"

#define NP_FLOWLOG_MAX_SINKS 4

struct np_datapath;
struct ring_buffer;

struct np_flowlog_opts {
	const char *node;         /* the "node" field; NULL: omitted */
	uint32_t interval_s;      /* --flow-interval */
	size_t queue_max;         /* records queued per sink before dropping */
	struct np_flow_agg_opts agg;
	/* Sees every flow result of an interval, with the Kubernetes context
	 * (NULL before the first), before its record is built: the agent's
	 * traffic metrics.  NULL: none.  With no sink, no record is built. */
	void (*observe)(void *ctx, const struct np_flow_result *r,
			const struct np_flow_meta *meta);
	void *observe_ctx;
};

struct np_recq {
	struct np_rec *v;  /* ring of cap records */
	size_t head, n, cap;
};

struct np_flowlog_stats {
	uint64_t events;           /* events read from the ring buffer */
	uint64_t records;          /* records produced (SKIPDATA included) */
	uint64_t dropped;          /* records dropped from full queues */
	uint64_t lost_events;      /* kernel: ring buffer full */
	uint64_t suppressed_events; /* kernel: over the denial event budget */
	uint64_t evicted_flows;    /* flows whose last counters were lost: entry
				    * evicted while running, or while no agent ran */
};

/* What np_flowlog_recover found (logged, and for tests). */
struct np_flowlog_recovery {
	uint64_t events;      /* left in the ring buffer by the previous agent */
	uint64_t flows;       /* logged kernel entries taken over */
	uint64_t marked;      /* of them, with a durable mark */
	uint64_t done;        /* entries whose last record was durable already */
	uint64_t evicted;     /* marked flows whose entry vanished unreported */
};

struct np_flowlog {
	struct np_flowlog_opts o;
	struct np_flow_agg agg;
	struct np_flow_meta meta;
	bool have_meta;
	struct np_sink *sinks[NP_FLOWLOG_MAX_SINKS];
	struct np_recq q[NP_FLOWLOG_MAX_SINKS];
	size_t n_sinks;
	struct np_flowlog_stats st;
	uint64_t reported_lost, reported_suppressed, reported_dropped, reported_evicted;
	uint64_t seq;               /* the last record's np_rec.seq */
	struct np_flow_marks marks; /* off until np_flowlog_recover */
	uint64_t warned_mark_failures, warned_mark_ms; /* marks.failed last logged, when */
	bool sweep_due;             /* sweep the marks once every queued op is applied */
	struct np_flow_mark_pending *expiring; /* judged idle during this flush */
	size_t n_expiring, cap_expiring;
	unsigned int hz;
	uint64_t interval_start_ns; /* Unix ns */
	int64_t mono_to_real_ns;    /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	uint64_t now_ms;            /* np_now_ms() at the last batch */
	int map_ct, map_flow_deny, map_flow_stats;
	int n_cpus;
	struct ring_buffer *rb;
	struct np_loop *loop;
	struct np_timer tick, drain, retry;
	struct np_hashmap ifnames;  /* uint32_t ifindex -> char[16], cleared each interval */
	struct np_strbuf buf;
};

/* Set up the pipeline on DP's maps (DP may be NULL: no kernel, for tests
 * that feed events by hand).  The sinks are the pipeline's from now on. */
int np_flowlog_init(struct np_flowlog *fl, const struct np_flowlog_opts *o,
		    const struct np_datapath *dp, struct np_sink **sinks, size_t n_sinks);
/* Register the ring buffer and the timers on LOOP. */
int np_flowlog_start(struct np_flowlog *fl, struct np_loop *loop);
/* New Kubernetes context after a policy/pod change.  Takes META. */
void np_flowlog_set_meta(struct np_flowlog *fl, struct np_flow_meta *meta);
/* One event, as the ring buffer callback gets it (tests call it too). */
int np_flowlog_event(struct np_flowlog *fl, const struct np_flow_event *ev);
/* Read what the ring buffer holds now. */
void np_flowlog_read_events(struct np_flowlog *fl);
/* Close the current interval now (the tick does it every interval). */
void np_flowlog_flush(struct np_flowlog *fl, bool final);
/* After a restart, before np_flowlog_start: turn durable marks on over
 * MARK_FD (the pinned np_flow_mark map, owned from now on) and take over
 * what the kernel kept: the ring buffer's unread events, every logged
 * conntrack entry and denial aggregate, reported from their marks on
 * (flowmark.h).  0 or -errno (logged; the pipeline then runs without). */
int np_flowlog_recover(struct np_flowlog *fl, int mark_fd, struct np_flowlog_recovery *out);
/* Apply the marks of records that are durable now (the drain timer does
 * it every 250 ms). */
void np_flowlog_settle(struct np_flowlog *fl);
/* Report everything, give the sinks up to TIMEOUT_MS, free all. */
void np_flowlog_close(struct np_flowlog *fl, int timeout_ms);

#endif
