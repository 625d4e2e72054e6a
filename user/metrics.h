/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A small metrics registry rendered in the Prometheus text exposition format
 * (version 0.0.4): counter and gauge families, each with a fixed list of
 * label names and one series per combination of label values.
 *
 * Labels must stay low-cardinality (direction, action, policy, map name,
 * resource): never addresses or ports.  A family refuses new series beyond
 * NP_METRIC_MAX_SERIES and counts the refusals in
 * netpol_metrics_series_dropped_total, so a bug can never grow the agent
 * without bound.
 *
 * Collectors registered with np_metrics_add_collector() run right before
 * every render: they set gauges that are cheap to read from current state.
 * Values that are expensive to compute (walking a large BPF map) are sampled
 * on a timer by their owner and only copied here.
 *
 * Single-threaded: the agent updates and renders from its event loop.
 */
#ifndef NP_METRICS_H
#define NP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "strbuf.h"

#define NP_METRIC_MAX_LABELS 4
#define NP_METRIC_MAX_SERIES 2000

enum np_metric_type {
	NP_METRIC_COUNTER,
	NP_METRIC_GAUGE,
};

struct np_metric_series {
	char *labels; /* rendered: a="x",b="y" ("" without labels) */
	double value;
};

struct np_metric {
	char *name, *help;
	enum np_metric_type type;
	const char *label_names[NP_METRIC_MAX_LABELS];
	size_t n_labels;
	struct np_metric_series *series;
	size_t n_series, cap_series;
	struct np_hashmap index; /* rendered labels -> size_t position */
	struct np_metrics *reg;
};

typedef void (*np_metrics_collect_fn)(void *ctx);

struct np_metrics {
	struct np_metric **families;
	size_t n_families, cap_families;
	struct {
		np_metrics_collect_fn fn;
		void *ctx;
	} collectors[16];
	size_t n_collectors;
	uint64_t series_dropped;
};

void np_metrics_init(struct np_metrics *r);
void np_metrics_free(struct np_metrics *r);

/* A new family.  NAME must be a valid Prometheus metric name (counters end
 * in _total by convention); LABELS is NULL or a comma-separated list of at
 * most NP_METRIC_MAX_LABELS label names.  The registry owns the family.
 * NULL on bad input (logged) or out of memory. */
struct np_metric *np_metric_new(struct np_metrics *r, const char *name, const char *help,
				enum np_metric_type type, const char *labels);

/* Add V to (counter or gauge) / set to V (gauge) the series with label
 * values VALUES (exactly n_labels strings; NULL when the family has none).
 * 0, -E2BIG when the family is full (counted), -ENOMEM. */
int np_metric_add(struct np_metric *m, double v, const char *const *values);
int np_metric_set(struct np_metric *m, double v, const char *const *values);
/* The current value, 0 when the series does not exist. */
double np_metric_get(const struct np_metric *m, const char *const *values);
/* Forget every series (a gauge family rebuilt from scratch). */
void np_metric_clear(struct np_metric *m);

/* Label values inline: np_metric_add(m, 1, NP_LV("ingress", "ACCEPT")). */
#define NP_LV(...) ((const char *const[]){ __VA_ARGS__ })

int np_metrics_add_collector(struct np_metrics *r, np_metrics_collect_fn fn, void *ctx);

/* Run the collectors, then append every family to OUT in the text format. */
void np_metrics_render(struct np_metrics *r, struct np_strbuf *out);

#endif
