// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Embedded Metric Format records: see emf.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emf.h"
#include "vec.h"

static const char *const metric_names[NP_EMF_NACT] = { "AcceptedFlows", "RejectedFlows", "AuditFlows" };
static const char *const dir_names[NP_EMF_NDIR] = { "ingress", "egress" };

static struct np_emf_policy *policy_slot(struct np_emf_counts *c, const char *name)
{
	struct np_emf_policy p = { 0 };

	if (c->n_policies >= NP_EMF_MAX_POLICIES)
		name = "other";
	for (size_t i = 0; i < c->n_policies; i++)
		if (!strcmp(c->policies[i].name, name))
			return &c->policies[i];
	p.name = strdup(name);
	if (!p.name)
		return NULL;
	if (np_vec_push(&c->policies, &c->n_policies, &c->cap_policies, &p) < 0) {
		free(p.name);
		return NULL;
	}
	return &c->policies[c->n_policies - 1];
}

int np_emf_count(struct np_emf_counts *c, enum np_emf_dir dir, enum np_emf_action act,
		 const char *policy)
{
	struct np_emf_policy *p;

	if ((unsigned)dir >= NP_EMF_NDIR || (unsigned)act >= NP_EMF_NACT)
		return -EINVAL;
	c->n[dir][act]++;
	if (!policy || !*policy)
		return 0;
	p = policy_slot(c, policy);
	if (!p)
		return -ENOMEM;
	p->n[dir][act]++;
	return 0;
}

/* The string value of "KEY":"..." in a flat JSON line (the flow records'
 * own keys are literal and their values never hold a quote), or NULL. */
static const char *str_field(const char *line, size_t len, const char *key, size_t *vlen)
{
	char pat[40];
	const char *p, *e;
	int n = snprintf(pat, sizeof(pat), "\"%s\":\"", key);

	p = memmem(line, len, pat, (size_t)n);
	if (!p)
		return NULL;
	p += n;
	e = memchr(p, '"', len - (size_t)(p - line));
	if (!e)
		return NULL;
	*vlen = (size_t)(e - p);
	return p;
}

static bool is(const char *v, size_t n, const char *lit)
{
	return v && n == strlen(lit) && !memcmp(v, lit, n);
}

int np_emf_count_record(struct np_emf_counts *c, const char *line, size_t len)
{
	const char *dir, *act, *status, *pol;
	size_t dn = 0, an = 0, sn = 0, pn = 0;
	int d, a;

	if (!len || line[0] != '{')
		return -EINVAL;
	/* Scanned, not parsed: this runs for every record shipped. */
	status = str_field(line, len, "logStatus", &sn);
	dir = str_field(line, len, "flowDirection", &dn);
	act = str_field(line, len, "action", &an);
	if (!is(status, sn, "OK") || !dir || !act)
		return 0;
	d = is(dir, dn, "ingress") ? NP_EMF_INGRESS : is(dir, dn, "egress") ? NP_EMF_EGRESS : -1;
	a = is(act, an, "ACCEPT") ? NP_EMF_ACCEPT : is(act, an, "REJECT") ? NP_EMF_REJECT :
	    is(act, an, "AUDIT") ? NP_EMF_AUDIT : -1;
	if (d < 0 || a < 0)
		return 0;
	c->n[d][a]++;
	/* "policy": the allowing policy, or "ns/a,ns/b": every policy that
	 * isolates the pod counts the reject. */
	pol = str_field(line, len, "policy", &pn);
	while (pol && pn) {
		const char *comma = memchr(pol, ',', pn);
		size_t one = comma ? (size_t)(comma - pol) : pn;
		struct np_emf_policy *p;
		char name[256];

		if (one && one < sizeof(name)) {
			memcpy(name, pol, one);
			name[one] = 0;
			p = policy_slot(c, name);
			if (!p)
				return -ENOMEM;
			p->n[d][a]++;
		}
		if (!comma)
			break;
		pn -= one + 1;
		pol = comma + 1;
	}
	return 1;
}

void np_emf_reset(struct np_emf_counts *c)
{
	for (size_t i = 0; i < c->n_policies; i++)
		free(c->policies[i].name);
	free(c->policies);
	c->policies = NULL;
	c->n_policies = c->cap_policies = 0;
	memset(c->n, 0, sizeof(c->n));
}

/* One EMF document: DIMS are the dimension sets (arrays of key names); the
 * keys' values and the metric values are top-level members. */
static int make_record(const struct np_emf_counts *c, int64_t ts_ms, json_t *dims, json_t *props,
		       const uint64_t n[NP_EMF_NACT], struct np_rec *out)
{
	json_t *doc = NULL, *metrics = json_array(), *directive = NULL, *aws = NULL;
	const char *key;
	json_t *v;
	char *line = NULL;
	int ret = -ENOMEM;

	if (!metrics)
		goto cleanup;
	for (int a = 0; a < NP_EMF_NACT; a++)
		if (json_array_append_new(metrics, json_pack("{s:s, s:s}", "Name", metric_names[a],
							     "Unit", "Count")))
			goto cleanup;
	directive = json_pack("{s:s, s:O, s:O}", "Namespace",
			      c->metric_namespace ? c->metric_namespace : NP_EMF_NAMESPACE_DEFAULT,
			      "Dimensions", dims, "Metrics", metrics);
	aws = directive ? json_pack("{s:I, s:[O]}", "Timestamp", (json_int_t)ts_ms,
				    "CloudWatchMetrics", directive) : NULL;
	doc = aws ? json_pack("{s:O}", "_aws", aws) : NULL;
	if (!doc)
		goto cleanup;
	json_object_foreach(props, key, v)
		if (json_object_set(doc, key, v))
			goto cleanup;
	for (int a = 0; a < NP_EMF_NACT; a++)
		if (json_object_set_new(doc, metric_names[a], json_integer((json_int_t)n[a])))
			goto cleanup;
	line = json_dumps(doc, JSON_COMPACT);
	if (!line)
		goto cleanup;
	out->line = line;
	out->len = (uint32_t)strlen(line);
	out->ts_ms = ts_ms;
	out->seq = 0;
	ret = 0;
cleanup:
	json_decref(metrics);
	json_decref(directive);
	json_decref(aws);
	json_decref(doc);
	return ret;
}

int np_emf_records(const struct np_emf_counts *c, int64_t ts_ms, struct np_rec **out, size_t *n)
{
	const char *cluster = c->cluster ? c->cluster : "";
	const char *node = c->node ? c->node : "";
	struct np_rec *recs = NULL, r;
	size_t k = 0, cap = 0;
	json_t *dims = NULL, *props = NULL;
	int ret = 0;

	for (int d = 0; d < NP_EMF_NDIR && !ret; d++) {
		ret = -ENOMEM;
		dims = json_pack("[[s,s],[s,s,s]]", "ClusterName", "Direction", "ClusterName", "Node",
				 "Direction");
		props = json_pack("{s:s, s:s, s:s}", "ClusterName", cluster, "Node", node,
				  "Direction", dir_names[d]);
		if (dims && props && !make_record(c, ts_ms, dims, props, c->n[d], &r)) {
			ret = np_vec_push(&recs, &k, &cap, &r);
			if (ret)
				free(r.line);
		}
		json_decref(dims);
		json_decref(props);
	}
	for (size_t i = 0; i < c->n_policies && !ret; i++) {
		for (int d = 0; d < NP_EMF_NDIR && !ret; d++) {
			const uint64_t *v = c->policies[i].n[d];

			if (!v[0] && !v[1] && !v[2])
				continue;
			ret = -ENOMEM;
			dims = json_pack("[[s,s,s]]", "ClusterName", "Policy", "Direction");
			props = json_pack("{s:s, s:s, s:s, s:s}", "ClusterName", cluster, "Policy",
					  c->policies[i].name, "Direction", dir_names[d], "Node", node);
			if (dims && props && !make_record(c, ts_ms, dims, props, v, &r)) {
				ret = np_vec_push(&recs, &k, &cap, &r);
				if (ret)
					free(r.line);
			}
			json_decref(dims);
			json_decref(props);
		}
	}
	if (ret) {
		for (size_t i = 0; i < k; i++)
			np_rec_free(&recs[i]);
		free(recs);
		return ret;
	}
	*out = recs;
	*n = k;
	return 0;
}
