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
	uint64_t reported_lost, reported_suppressed, reported_dropped;
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
/* Close the current interval now (the tick does it every interval). */
void np_flowlog_flush(struct np_flowlog *fl, bool final);
/* Report everything, give the sinks up to TIMEOUT_MS, free all. */
void np_flowlog_close(struct np_flowlog *fl, int timeout_ms);

#endif
