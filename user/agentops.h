/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's operations surface: health, readiness, Prometheus metrics and
 * the loopback-only debug endpoints netpolctl reads, served by httpd.h on
 * the agent's event loop.
 *
 *   /healthz        200 while the event loop turns (the handler runs on it)
 *   /readyz         200 once every required readiness condition holds
 *                   (datapath: policy applied and programs attached; the
 *                   Kubernetes source, when enabled: initial lists applied),
 *                   503 with the missing conditions otherwise
 *   /metrics        Prometheus text format (metrics.h)
 *   /debug/status   JSON: flags, generation, local pods and their isolation,
 *                   attachments, map usage, readiness (loopback clients only)
 *   /debug/policy?pod=NS/NAME  JSON: the compiled rules enforced for a pod,
 *                   with the source policies and rules (loopback only)
 *   /debug/names    JSON: endpoint ids and rule cookies -> names (loopback)
 *
 * Other subsystems report through the np_ops_* functions below; they are
 * no-ops while no np_ops is active (tests, netpolctl), so callers never
 * need to know whether metrics are on.
 */
#ifndef NP_AGENTOPS_H
#define NP_AGENTOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attach.h"
#include "compile.h"
#include "evloop.h"
#include "flowagg.h"
#include "flowlog.h"
#include "flowmeta.h"
#include "httpd.h"
#include "loader.h"
#include "mapsync.h"
#include "metrics.h"

#define NP_METRICS_DEFAULT_ADDRESS "127.0.0.1:9090"
#define NP_MAP_SAMPLE_S_DEFAULT 30

enum np_ready_cond {
	NP_READY_DATAPATH = 0,   /* policy applied, programs attached */
	NP_READY_KUBERNETES = 1, /* initial lists of the API source applied */
	NP_READY_MAX,
};

/* What the agent lets the endpoints read.  Pointers into the agent's own
 * state: they stay valid for the agent's life (reloads swap contents). */
struct np_agent_view {
	const struct np_objects *objs;
	const struct np_compiled *compiled;
	struct np_attachment *const *atts;
	const size_t *n_atts;
	struct np_iface_entry *const *plan; /* interface map contents (local pods) */
	const size_t *n_plan;
	const struct np_datapath *dp;
	const bool *dp_loaded;              /* dp's fds are valid */
	const struct np_load_opts *lopts;   /* the datapath's load-time configuration */
	const struct np_flowlog *flows;     /* NULL when flow events are off */
	const bool *flows_on;
	const char *pin_dir;
	const char *node_name;
	struct np_kube *const *kube;        /* the API client; NULL / *NULL without --kubernetes */
	bool audit, strict;
};

struct np_ops {
	struct np_metrics reg;
	struct np_httpd http;
	struct np_agent_view v;
	struct np_loop *loop;
	struct np_timer sample;
	uint32_t sample_s;  /* map entries counted every SAMPLE_S seconds */
	bool required[NP_READY_MAX], ok[NP_READY_MAX];
	uint64_t started_ms;
	uint64_t n_reloads;
	/* metric families */
	struct np_metric *m_packets, *m_bytes, *m_flows;
	struct np_metric *m_events_lost, *m_events_suppressed, *m_records, *m_records_dropped;
	struct np_metric *m_flows_active;
	struct np_metric *m_map_entries, *m_map_capacity, *m_map_sample_seconds;
	struct np_metric *m_recompute_seconds, *m_recompute_last, *m_reloads;
	struct np_metric *m_ready, *m_policies, *m_pods, *m_local_pods, *m_attached,
		*m_generation, *m_http_requests;
	struct np_metric *m_kube_reconnects, *m_kube_errors, *m_kube_events, *m_kube_relists,
		*m_kube_invalid;
	struct np_metric *m_cw_requests, *m_cw_retries, *m_cw_records, *m_cw_dropped,
		*m_cw_queued, *m_cw_spool_records, *m_cw_spool_bytes, *m_cw_bytes_sent,
		*m_cw_cred_refreshes;
	struct np_sink *cw_sink; /* the CloudWatch Logs sink, NULL when off */
	/* kernel counters already added to the counters above */
	uint64_t seen_lost, seen_suppressed, seen_records, seen_dropped;
};

/* Set up the registry and every family.  0 or -ENOMEM. */
int np_ops_init(struct np_ops *o, const struct np_agent_view *v);
/* Serve on ADDR on LOOP and start the map sampler (every SAMPLE_S s); makes O the active one
 * for the np_ops_* reporting functions.  0 or -errno (logged). */
int np_ops_start(struct np_ops *o, struct np_loop *loop, const char *addr, uint32_t sample_s);
void np_ops_free(struct np_ops *o);

/* Observer for np_flowlog_opts.observe (CTX: struct np_ops). */
void np_ops_flow_observe(void *ctx, const struct np_flow_result *r,
			 const struct np_flow_meta *meta);

/* ---- reporting hooks (no-ops while no np_ops is active) ---- */

/* Readiness: a condition counts once required. */
void np_ops_require(enum np_ready_cond c);
void np_ops_set_ready(enum np_ready_cond c, bool ok);
bool np_ops_ready(void);
/* A policy recompute (compile + map diff) that took SECONDS; OK false when
 * it failed and the last good policy stayed.  WHY: "files", "kubernetes",
 * "signal", "netlink", "start" (low cardinality). */
void np_ops_reload(const char *why, bool ok, double seconds);
/* Kubernetes API source, RESOURCE: "pods", "namespaces", "networkpolicies". */
void np_ops_kube_reconnect(const char *resource);
void np_ops_kube_error(const char *resource, const char *kind); /* kind: "connect", "http", "parse", "gone", "watch-ended" */
void np_ops_kube_event(const char *resource, const char *type); /* ADDED, MODIFIED, DELETED, BOOKMARK */
void np_ops_kube_relist(const char *resource);
/* The CloudWatch Logs sink (cwlogs.h) whose counters /metrics shows; they
 * are read from np_cw_get_stats() at each scrape.  NULL: none. */
void np_ops_cw_sink(struct np_sink *cw);
/* Stop serving HTTP (before the flow pipeline and its sinks are closed:
 * the metrics still count the last interval, nothing reads them). */
void np_ops_stop_serving(struct np_ops *o);

#endif
