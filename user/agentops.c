// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Health, readiness, metrics and debug endpoints of the agent: see agentops.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agentops.h"
#include "agentops_int.h"
#include "cwlogs.h"
#include "kube.h"
#include "flowrec.h"
#include "log.h"
#include "mapusage.h"
#include "verdict.h"

static struct np_ops *g_ops; /* the active one; NULL: reporting is a no-op */

const char *const np_ops_ready_names[NP_READY_MAX] = {
	[NP_READY_DATAPATH] = "datapath",
	[NP_READY_KUBERNETES] = "kubernetes",
};

/* ---- families ---- */

struct family_spec {
	size_t off; /* offsetof(struct np_ops, m_...) */
	const char *name, *help, *labels;
	enum np_metric_type type;
};

#define F(field, name, type, labels, help) \
	{ offsetof(struct np_ops, field), name, help, labels, NP_METRIC_##type }

static const struct family_spec families[] = {
	F(m_ready, "netpol_ready", GAUGE, NULL,
	  "1 when policies are applied and programs attached (and, with the Kubernetes source, the initial lists applied)"),
	F(m_packets, "netpol_packets_total", COUNTER, "direction,action,policy",
	  "Packets of logged flows, both ways, by the flow's direction relative to the local pod, verdict and policy (ACCEPT: the allowing policy; REJECT/AUDIT: the isolating ones); added at each flow interval"),
	F(m_bytes, "netpol_bytes_total", COUNTER, "direction,action,policy",
	  "Bytes (IP length plus link header) of logged flows, both ways; labels as netpol_packets_total"),
	F(m_flows, "netpol_flows_total", COUNTER, "direction,action,policy",
	  "Flows (connections, or denial aggregates) first reported; labels as netpol_packets_total"),
	F(m_flows_active, "netpol_flows_active", GAUGE, NULL, "Flows the agent is aggregating right now"),
	F(m_events_lost, "netpol_flow_events_lost_total", COUNTER, NULL,
	  "Flow events the kernel could not write because the ring buffer was full"),
	F(m_events_suppressed, "netpol_flow_events_suppressed_total", COUNTER, NULL,
	  "Denial events over the per-CPU budget (--flow-deny-events), counted instead of sent"),
	F(m_records, "netpol_flow_records_total", COUNTER, NULL, "Flow records produced (SKIPDATA included)"),
	F(m_records_dropped, "netpol_flow_records_dropped_total", COUNTER, NULL,
	  "Flow records dropped because a sink's queue was full (reported in SKIPDATA)"),
	F(m_map_entries, "netpol_map_entries", GAUGE, "map",
	  "Entries in each BPF map, counted every --metrics-map-interval seconds (default 30)"),
	F(m_map_capacity, "netpol_map_capacity", GAUGE, "map",
	  "max_entries of each BPF map (--map-size); np_events is the ring buffer size in bytes"),
	F(m_map_sample_seconds, "netpol_map_count_duration_seconds", GAUGE, NULL,
	  "Time the last count of every map's entries took"),
	F(m_recompute_seconds, "netpol_policy_recompute_seconds_total", COUNTER, "trigger",
	  "Time spent recomputing policy (load, compile, map diff, attachments), by trigger"),
	F(m_recompute_last, "netpol_policy_recompute_last_seconds", GAUGE, NULL,
	  "Duration of the last policy recompute"),
	F(m_reloads, "netpol_policy_reloads_total", COUNTER, "trigger,result",
	  "Policy recomputes by trigger and result (error: the last good policy stayed in force)"),
	F(m_policies, "netpol_policies", GAUGE, NULL, "NetworkPolicies in force"),
	F(m_pods, "netpol_pods", GAUGE, NULL, "Pods known (every node's; peers need their addresses)"),
	F(m_local_pods, "netpol_local_pods", GAUGE, NULL, "Pods on this node whose interface is enforced"),
	F(m_attached, "netpol_attached_interfaces", GAUGE, NULL, "Interfaces the programs are attached to"),
	F(m_generation, "netpol_policy_generation", GAUGE, NULL,
	  "Policy generation in the datapath (np_state), bumped by every map update"),
	F(m_http_requests, "netpol_http_requests_total", COUNTER, NULL, "Requests served by this endpoint"),
	F(m_kube_reconnects, "netpol_kube_watch_reconnects_total", COUNTER, "resource",
	  "Kubernetes watch connections re-opened, by resource"),
	F(m_kube_errors, "netpol_kube_watch_errors_total", COUNTER, "resource,kind",
	  "Kubernetes list/watch errors by resource and kind (connect, http, parse, gone, watch-ended: a watch that ended at once without events)"),
	F(m_kube_events, "netpol_kube_watch_events_total", COUNTER, "resource,type",
	  "Kubernetes watch events by resource and type"),
	F(m_kube_relists, "netpol_kube_relists_total", COUNTER, "resource",
	  "Full re-lists (after 410 Gone or a lost watch), by resource"),
	F(m_kube_invalid, "netpol_kube_invalid_objects", GAUGE, NULL,
	  "API objects whose latest version does not validate here: their last good version, or for a policy its isolation alone, is in force"),
	F(m_cw_requests, "netpol_cloudwatch_requests_total", COUNTER, NULL,
	  "CloudWatch Logs requests sent (PutLogEvents batches, retries included, and log group/stream creation)"),
	F(m_cw_retries, "netpol_cloudwatch_retries_total", COUNTER, NULL,
	  "Requests retried after throttling, a 5xx answer or a connection error"),
	F(m_cw_records, "netpol_cloudwatch_records_total", COUNTER, "result",
	  "Flow records by fate: produced (offered to the shipper), shipped (accepted by CloudWatch), rejected (refused in a 200 answer: too old/new), spooled (written to the disk spool)"),
	F(m_cw_dropped, "netpol_cloudwatch_dropped_records_total", COUNTER, "reason",
	  "Flow records given up, by reason: spool-full (oldest deleted; reported in SKIPDATA), client-error, oversize, corrupt (unreadable spool segment), shutdown"),
	F(m_cw_queued, "netpol_cloudwatch_queued_records", GAUGE, NULL, "Flow records waiting in memory"),
	F(m_cw_spool_records, "netpol_cloudwatch_spool_records", GAUGE, NULL,
	  "Flow records waiting in the on-disk spool"),
	F(m_cw_spool_bytes, "netpol_cloudwatch_spool_bytes", GAUGE, NULL, "Bytes of the on-disk spool"),
	F(m_cw_bytes_sent, "netpol_cloudwatch_bytes_sent_total", COUNTER, NULL,
	  "Request body bytes sent to CloudWatch Logs (gzip-compressed)"),
	F(m_cw_cred_refreshes, "netpol_aws_credential_refreshes_total", COUNTER, NULL,
	  "AWS credentials fetched or refreshed (environment, IRSA web identity, Pod Identity, IMDSv2)"),
};

/* ---- flow metrics ---- */

void np_ops_flow_observe(void *ctx, const struct np_flow_result *r, const struct np_flow_meta *meta)
{
	struct np_ops *o = ctx;
	const struct np_flow *f = r->flow;
	const char *dir = (f->origin & 1) == NP_DIR_EGRESS ? "egress" : "ingress";
	const char *action = np_flow_action_name(f->verdict);
	const char *policy = "";
	uint64_t packets = (uint64_t)r->delta.packets[0] + r->delta.packets[1];
	uint64_t bytes = r->delta.bytes[0] + r->delta.bytes[1];

	if (meta && f->verdict == NP_VERDICT_ALLOW) {
		const struct np_meta_rule *rule = f->cookie ? np_flow_meta_rule(meta, f->cookie) : NULL;

		if (rule)
			policy = rule->policy;
	} else if (meta) {
		const struct np_meta_ep *ep = np_flow_meta_ep(meta, f->ep_id);

		if (ep && ep->isolating[f->origin & 1])
			policy = ep->isolating[f->origin & 1];
	}
	if (packets)
		np_metric_add(o->m_packets, (double)packets, NP_LV(dir, action, policy));
	if (bytes)
		np_metric_add(o->m_bytes, (double)bytes, NP_LV(dir, action, policy));
	if (f->fresh)
		np_metric_add(o->m_flows, 1, NP_LV(dir, action, policy));
}

/* ---- collectors (run before each render) ---- */

static void counter_to(struct np_metric *m, uint64_t now, uint64_t *seen)
{
	if (now > *seen)
		np_metric_add(m, (double)(now - *seen), NULL);
	*seen = now;
}

static void collect(void *ctx)
{
	struct np_ops *o = ctx;
	const struct np_agent_view *v = &o->v;
	__u32 gen = 0;

	np_metric_set(o->m_ready, np_ops_ready() ? 1 : 0, NULL);
	np_metric_set(o->m_policies, (double)v->objs->n_policies, NULL);
	np_metric_set(o->m_pods, (double)v->objs->n_pods, NULL);
	np_metric_set(o->m_local_pods, (double)*v->n_plan, NULL);
	np_metric_set(o->m_attached, (double)*v->n_atts, NULL);
	np_metric_set(o->m_http_requests, (double)o->http.requests, NULL);
	if (*v->dp_loaded && np_datapath_gen((struct np_datapath *)v->dp, &gen) == 0)
		np_metric_set(o->m_generation, gen, NULL);
	if (o->cw_sink) {
		struct np_cw_stats st;

		np_cw_get_stats(o->cw_sink, &st);
		/* Cumulative since the start: the counters take the values. */
		np_metric_set(o->m_cw_requests, (double)st.requests, NULL);
		np_metric_set(o->m_cw_retries, (double)st.retries, NULL);
		np_metric_set(o->m_cw_records, (double)st.produced, NP_LV("produced"));
		np_metric_set(o->m_cw_records, (double)st.shipped, NP_LV("shipped"));
		np_metric_set(o->m_cw_records, (double)st.rejected, NP_LV("rejected"));
		np_metric_set(o->m_cw_records, (double)st.spooled, NP_LV("spooled"));
		np_metric_set(o->m_cw_dropped, (double)st.dropped_spool, NP_LV("spool-full"));
		np_metric_set(o->m_cw_dropped, (double)st.dropped_failed, NP_LV("client-error"));
		np_metric_set(o->m_cw_dropped, (double)st.dropped_oversize, NP_LV("oversize"));
		np_metric_set(o->m_cw_dropped, (double)st.dropped_corrupt, NP_LV("corrupt"));
		np_metric_set(o->m_cw_dropped, (double)st.dropped_shutdown, NP_LV("shutdown"));
		np_metric_set(o->m_cw_queued, (double)st.in_memory, NULL);
		np_metric_set(o->m_cw_spool_records, (double)st.in_spool, NULL);
		np_metric_set(o->m_cw_spool_bytes, (double)st.spool_bytes, NULL);
		np_metric_set(o->m_cw_bytes_sent, (double)st.bytes_sent, NULL);
		np_metric_set(o->m_cw_cred_refreshes, (double)st.cred_refreshes, NULL);
	}
	if (v->kube && *v->kube)
		np_metric_set(o->m_kube_invalid,
			      (double)np_kubecache_invalid(np_kube_cache(*v->kube), NULL, NULL), NULL);
	if (v->flows && *v->flows_on) {
		const struct np_flowlog_stats *st = &v->flows->st;

		counter_to(o->m_events_lost, st->lost_events, &o->seen_lost);
		counter_to(o->m_events_suppressed, st->suppressed_events, &o->seen_suppressed);
		counter_to(o->m_records, st->records, &o->seen_records);
		counter_to(o->m_records_dropped, st->dropped, &o->seen_dropped);
		np_metric_set(o->m_flows_active, (double)np_flow_agg_count(&v->flows->agg), NULL);
	}
}

/* The datapath's maps by name, for sampling and /debug/status. */
size_t np_ops_dp_maps(const struct np_datapath *dp, const char **names, int *fds)
{
	const char *n[] = { "np_endpoints", "np_ifaces", "np_node_addrs", "np_peers", "np_ports",
			    "np_ct", "np_ct_deny", "np_frags", "np_flow_deny", "np_events" };
	int f[] = { dp->map_endpoints, dp->map_ifaces, dp->map_node_addrs, dp->map_peers,
		    dp->map_ports, dp->map_ct, dp->map_ct_deny, dp->map_frags, dp->map_flow_deny,
		    dp->map_events };
	size_t k = 0;

	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		if (f[i] < 0)
			continue;
		names[k] = n[i];
		fds[k++] = f[i];
	}
	return k;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sample_maps(struct np_ops *o)
{
	const char *names[16];
	int fds[16];
	size_t n = *o->v.dp_loaded ? np_ops_dp_maps(o->v.dp, names, fds) : 0;
	double t0 = mono_s();

	for (size_t i = 0; i < n; i++) {
		struct np_map_usage u;

		if (np_map_usage(fds[i], &u)) {
			np_dbg("counting the entries of %s failed: %s", names[i], strerror(errno));
			continue;
		}
		np_metric_set(o->m_map_capacity, (double)u.capacity, NP_LV(names[i]));
		if (u.counted)
			np_metric_set(o->m_map_entries, (double)u.entries, NP_LV(names[i]));
	}
	np_metric_set(o->m_map_sample_seconds, mono_s() - t0, NULL);
}

static void on_sample(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	sample_maps(ctx);
	np_timer_arm(loop, t, (uint64_t)((struct np_ops *)ctx)->sample_s * 1000);
}

/* ---- HTTP handlers ---- */

static int h_healthz(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type)
{
	(void)ctx, (void)req, (void)type;
	np_sb_str(b, "ok\n");
	return 200;
}

static void invalid_line(void *ctx, const char *object, const char *in_force, const char *why)
{
	struct np_strbuf *b = ctx;

	np_sb_str(b, "invalid: ");
	np_sb_str(b, object);
	np_sb_str(b, ": ");
	np_sb_str(b, in_force);
	np_sb_str(b, " in force; ");
	np_sb_str(b, why);
	np_sb_str(b, "\n");
}

/* Readiness detail: API objects kept safe because they do not validate. */
static void readyz_invalid(struct np_ops *o, struct np_strbuf *b)
{
	if (o->v.kube && *o->v.kube)
		np_kubecache_invalid(np_kube_cache(*o->v.kube), invalid_line, b);
}

static int h_readyz(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type)
{
	struct np_ops *o = ctx;
	bool first = true;

	(void)req, (void)type;
	if (np_ops_ready()) {
		np_sb_str(b, "ready\n");
		readyz_invalid(o, b);
		return 200;
	}
	np_sb_str(b, "not ready: waiting for ");
	for (int c = 0; c < NP_READY_MAX; c++) {
		if (!o->required[c] || o->ok[c])
			continue;
		np_sb_str(b, first ? "" : ", ");
		np_sb_str(b, np_ops_ready_names[c]);
		first = false;
	}
	np_sb_str(b, "\n");
	readyz_invalid(o, b);
	return 503;
}

static int h_metrics(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type)
{
	(void)req;
	np_metrics_render(&((struct np_ops *)ctx)->reg, b);
	*type = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}

/* ---- life cycle ---- */

int np_ops_init(struct np_ops *o, const struct np_agent_view *v)
{
	memset(o, 0, sizeof(*o));
	o->v = *v;
	o->http.epfd = -1;
	o->required[NP_READY_DATAPATH] = true;
	np_metrics_init(&o->reg);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		struct np_metric **slot = (struct np_metric **)((char *)o + families[i].off);

		*slot = np_metric_new(&o->reg, families[i].name, families[i].help, families[i].type,
				      families[i].labels);
		if (!*slot) {
			np_metrics_free(&o->reg);
			return -ENOMEM;
		}
	}
	return np_metrics_add_collector(&o->reg, collect, o);
}

int np_ops_start(struct np_ops *o, struct np_loop *loop, const char *addr, uint32_t sample_s)
{
	int ret;

	o->loop = loop;
	o->sample_s = sample_s ? sample_s : NP_MAP_SAMPLE_S_DEFAULT;
	o->started_ms = np_now_ms();
	g_ops = o;
	np_timer_init(&o->sample, on_sample, o);
	ret = np_httpd_route(&o->http, "/healthz", h_healthz, o, false);
	ret = ret ?: np_httpd_route(&o->http, "/readyz", h_readyz, o, false);
	ret = ret ?: np_httpd_route(&o->http, "/metrics", h_metrics, o, false);
	ret = ret ?: np_httpd_route(&o->http, "/debug/status", np_ops_h_status, o, true);
	ret = ret ?: np_httpd_route(&o->http, "/debug/policy", np_ops_h_policy, o, true);
	ret = ret ?: np_httpd_route(&o->http, "/debug/names", np_ops_h_names, o, true);
	if (ret)
		return ret;
	sample_maps(o);
	ret = np_timer_arm(loop, &o->sample, (uint64_t)o->sample_s * 1000);
	if (ret)
		return ret;
	ret = np_httpd_start(&o->http, loop, addr);
	if (!ret)
		np_info("health and metrics on http://%s (/healthz /readyz /metrics; /debug/* for loopback clients)",
			addr);
	return ret;
}

void np_ops_free(struct np_ops *o)
{
	np_httpd_stop(&o->http);
	if (o->loop)
		np_timer_cancel(o->loop, &o->sample);
	np_metrics_free(&o->reg);
	if (g_ops == o)
		g_ops = NULL;
}

/* ---- reporting hooks ---- */

void np_ops_require(enum np_ready_cond c)
{
	if (g_ops && c < NP_READY_MAX)
		g_ops->required[c] = true;
}

void np_ops_set_ready(enum np_ready_cond c, bool ok)
{
	if (!g_ops || c >= NP_READY_MAX)
		return;
	if (g_ops->ok[c] != ok)
		np_info("readiness: %s %s", np_ops_ready_names[c], ok ? "ready" : "not ready");
	g_ops->ok[c] = ok;
	if (c == NP_READY_DATAPATH && ok)
		sample_maps(g_ops); /* the maps exist now: no need to wait for the timer */
}

bool np_ops_ready(void)
{
	if (!g_ops)
		return false;
	for (int c = 0; c < NP_READY_MAX; c++)
		if (g_ops->required[c] && !g_ops->ok[c])
			return false;
	return true;
}

void np_ops_reload(const char *why, bool ok, double seconds)
{
	if (!g_ops)
		return;
	g_ops->n_reloads++;
	np_metric_add(g_ops->m_reloads, 1, NP_LV(why, ok ? "ok" : "error"));
	np_metric_add(g_ops->m_recompute_seconds, seconds, NP_LV(why));
	np_metric_set(g_ops->m_recompute_last, seconds, NULL);
}

void np_ops_kube_reconnect(const char *resource)
{
	if (g_ops)
		np_metric_add(g_ops->m_kube_reconnects, 1, NP_LV(resource));
}

void np_ops_kube_error(const char *resource, const char *kind)
{
	if (g_ops)
		np_metric_add(g_ops->m_kube_errors, 1, NP_LV(resource, kind));
}

void np_ops_kube_event(const char *resource, const char *type)
{
	if (g_ops)
		np_metric_add(g_ops->m_kube_events, 1, NP_LV(resource, type));
}

void np_ops_kube_relist(const char *resource)
{
	if (g_ops)
		np_metric_add(g_ops->m_kube_relists, 1, NP_LV(resource));
}

void np_ops_cw_sink(struct np_sink *cw)
{
	if (g_ops)
		g_ops->cw_sink = cw;
}

void np_ops_stop_serving(struct np_ops *o)
{
	np_httpd_stop(&o->http);
}
