// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The metrics registry: see metrics.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "vec.h"

void np_metrics_init(struct np_metrics *r)
{
	memset(r, 0, sizeof(*r));
}

static void metric_free(struct np_metric *m)
{
	np_metric_clear(m);
	np_hashmap_free(&m->index);
	free(m->series);
	for (size_t i = 0; i < m->n_labels; i++)
		free((char *)m->label_names[i]);
	free(m->name);
	free(m->help);
	free(m);
}

void np_metrics_free(struct np_metrics *r)
{
	for (size_t i = 0; i < r->n_families; i++)
		metric_free(r->families[i]);
	free(r->families);
	memset(r, 0, sizeof(*r));
}

static bool valid_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int parse_labels(struct np_metric *m, const char *labels)
{
	const char *p = labels;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *name;

		if (m->n_labels == NP_METRIC_MAX_LABELS)
			return -E2BIG;
		name = strndup(p, len);
		if (!name)
			return -ENOMEM;
		m->label_names[m->n_labels++] = name;
		if (!valid_name(name))
			return -EINVAL;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

struct np_metric *np_metric_new(struct np_metrics *r, const char *name, const char *help,
				enum np_metric_type type, const char *labels)
{
	struct np_metric *m = calloc(1, sizeof(*m));
	int ret = -ENOMEM;

	if (!m)
		goto cleanup;
	m->type = type;
	m->reg = r;
	np_hashmap_init(&m->index, 0, sizeof(size_t));
	m->name = strdup(name);
	m->help = strdup(help);
	if (!m->name || !m->help)
		goto cleanup;
	ret = valid_name(name) ? parse_labels(m, labels) : -EINVAL;
	if (ret) {
		np_err("metric %s: invalid name or labels \"%s\" (%s); names are [a-zA-Z_][a-zA-Z0-9_]*, at most %d labels",
		       name, labels ? labels : "", strerror(-ret), NP_METRIC_MAX_LABELS);
		goto cleanup;
	}
	ret = np_vec_push(&r->families, &r->n_families, &r->cap_families, &m);
cleanup:
	if (ret && m) {
		metric_free(m);
		m = NULL;
	}
	return m;
}

/* Label values as Prometheus wants them: \\, \" and \n escaped. */
static void render_labels(const struct np_metric *m, const char *const *values,
			  struct np_strbuf *b)
{
	for (size_t i = 0; i < m->n_labels; i++) {
		const char *v = values[i] ? values[i] : "";

		if (i)
			np_sb_add(b, ",", 1);
		np_sb_str(b, m->label_names[i]);
		np_sb_add(b, "=\"", 2);
		for (; *v; v++) {
			if (*v == '\\' || *v == '"')
				np_sb_add(b, "\\", 1);
			if (*v == '\n')
				np_sb_add(b, "\\n", 2);
			else
				np_sb_add(b, v, 1);
		}
		np_sb_add(b, "\"", 1);
	}
}

/* The series for VALUES, created at 0 when CREATE. */
static struct np_metric_series *series_for(struct np_metric *m, const char *const *values,
					   bool create, int *err)
{
	struct np_strbuf key = { 0 };
	struct np_metric_series *s = NULL, fresh = { 0 };
	size_t *pos, idx;

	*err = 0;
	render_labels(m, values, &key);
	np_sb_add(&key, "", 0); /* a terminated string even without labels */
	if (key.oom) {
		*err = -ENOMEM;
		goto cleanup;
	}
	pos = np_hashmap_get(&m->index, key.p);
	if (pos) {
		s = &m->series[*pos];
		goto cleanup;
	}
	if (!create)
		goto cleanup;
	if (m->n_series >= NP_METRIC_MAX_SERIES) {
		m->reg->series_dropped++;
		*err = -E2BIG;
		goto cleanup;
	}
	fresh.labels = key.p;
	idx = m->n_series;
	if (np_vec_push(&m->series, &m->n_series, &m->cap_series, &fresh)) {
		*err = -ENOMEM;
		goto cleanup;
	}
	if (np_hashmap_put(&m->index, key.p, &idx)) {
		m->n_series--;
		*err = -ENOMEM;
		goto cleanup;
	}
	key.p = NULL; /* owned by the series now */
	s = &m->series[idx];
cleanup:
	free(key.p);
	return s;
}

int np_metric_add(struct np_metric *m, double v, const char *const *values)
{
	int err;
	struct np_metric_series *s = series_for(m, values, true, &err);

	if (s)
		s->value += v;
	return err;
}

int np_metric_set(struct np_metric *m, double v, const char *const *values)
{
	int err;
	struct np_metric_series *s = series_for(m, values, true, &err);

	if (s)
		s->value = v;
	return err;
}

double np_metric_get(const struct np_metric *m, const char *const *values)
{
	int err;
	struct np_metric_series *s = series_for((struct np_metric *)m, values, false, &err);

	return s ? s->value : 0;
}

void np_metric_clear(struct np_metric *m)
{
	for (size_t i = 0; i < m->n_series; i++)
		free(m->series[i].labels);
	m->n_series = 0;
	np_hashmap_clear(&m->index);
}

int np_metrics_add_collector(struct np_metrics *r, np_metrics_collect_fn fn, void *ctx)
{
	size_t max = sizeof(r->collectors) / sizeof(r->collectors[0]);

	if (r->n_collectors == max)
		return -E2BIG;
	r->collectors[r->n_collectors].fn = fn;
	r->collectors[r->n_collectors].ctx = ctx;
	r->n_collectors++;
	return 0;
}

static void render_value(struct np_strbuf *b, double v)
{
	char tmp[40];
	int n;

	if (isnan(v))
		n = snprintf(tmp, sizeof(tmp), "NaN");
	else if (isinf(v))
		n = snprintf(tmp, sizeof(tmp), v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(int64_t)v && fabs(v) < 9e15)
		n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	else
		n = snprintf(tmp, sizeof(tmp), "%.9g", v);
	np_sb_add(b, tmp, (size_t)n);
}

static void render_help(struct np_strbuf *b, const char *help)
{
	for (; *help; help++) {
		if (*help == '\\')
			np_sb_add(b, "\\\\", 2);
		else if (*help == '\n')
			np_sb_add(b, "\\n", 2);
		else
			np_sb_add(b, help, 1);
	}
}

static void render_family(const struct np_metric *m, struct np_strbuf *b)
{
	np_sb_add(b, "# HELP ", 7);
	np_sb_str(b, m->name);
	np_sb_add(b, " ", 1);
	render_help(b, m->help);
	np_sb_add(b, "\n# TYPE ", 8);
	np_sb_str(b, m->name);
	np_sb_str(b, m->type == NP_METRIC_COUNTER ? " counter\n" : " gauge\n");
	for (size_t i = 0; i < m->n_series; i++) {
		np_sb_str(b, m->name);
		if (m->n_labels) {
			np_sb_add(b, "{", 1);
			np_sb_str(b, m->series[i].labels);
			np_sb_add(b, "}", 1);
		}
		np_sb_add(b, " ", 1);
		render_value(b, m->series[i].value);
		np_sb_add(b, "\n", 1);
	}
}

void np_metrics_render(struct np_metrics *r, struct np_strbuf *out)
{
	char tmp[64];
	int n;

	for (size_t i = 0; i < r->n_collectors; i++)
		r->collectors[i].fn(r->collectors[i].ctx);
	for (size_t i = 0; i < r->n_families; i++)
		render_family(r->families[i], out);
	np_sb_str(out, "# HELP netpol_metrics_series_dropped_total Series not created because their family already had the maximum number of series (a label with too many values).\n"
		       "# TYPE netpol_metrics_series_dropped_total counter\n");
	n = snprintf(tmp, sizeof(tmp), "netpol_metrics_series_dropped_total %llu\n",
		     (unsigned long long)r->series_dropped);
	np_sb_add(out, tmp, (size_t)n);
}
