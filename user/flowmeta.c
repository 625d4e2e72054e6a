// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kubernetes context for flow records: see flowmeta.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowmeta.h"
#include "vec.h"

/* Keep S; NULL on allocation failure. */
static const char *keep(struct np_flow_meta *m, char *s)
{
	if (!s || np_vec_push(&m->strs, &m->n_strs, &m->cap_strs, &s)) {
		free(s);
		return NULL;
	}
	return s;
}

static const char *keep_dup(struct np_flow_meta *m, const char *s)
{
	return keep(m, strdup(s));
}

static const char *keep_fmt2(struct np_flow_meta *m, const char *fmt, const char *a,
			     const char *b)
{
	char *s = NULL;

	if (asprintf(&s, fmt, a, b) < 0)
		return NULL;
	return keep(m, s);
}

/* "ns/a,ns/b" from a set's sorted policy names. */
static const char *join_policies(struct np_flow_meta *m, const struct np_set *set)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; i < set->n_policies; i++)
		len += strlen(set->policies[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	*p = '\0';
	for (size_t i = 0; i < set->n_policies; i++)
		p += sprintf(p, "%s%s", i ? "," : "", set->policies[i]);
	return keep(m, s);
}

static int add_pods(struct np_flow_meta *m, const struct np_objects *objs)
{
	for (size_t i = 0; i < objs->n_pods; i++) {
		const struct np_pod *p = &objs->pods[i];
		struct np_meta_pod mp = { keep_dup(m, p->ns), keep_dup(m, p->name) };

		if (!mp.ns || !mp.name)
			return -ENOMEM;
		/* hostNetwork pods share the node's address: not theirs. */
		if (p->host_network)
			continue;
		for (size_t j = 0; j < p->n_ips; j++)
			if (np_hashmap_put(&m->pods, &p->ips[j], &mp))
				return -ENOMEM;
	}
	return 0;
}

static int add_rules(struct np_flow_meta *m, const struct np_compiled *c)
{
	const void *k;
	void *v;

	for (size_t it = 0; np_hashmap_next(&c->rules, &it, &k, &v);) {
		const struct np_rule_ref *r = v;
		struct np_meta_rule mr;
		char idx[32];

		snprintf(idx, sizeof(idx), "%u", r->index);
		mr.policy = keep_fmt2(m, "%s/%s", r->ns, r->name);
		mr.rule = keep_fmt2(m, "%s[%s]", r->dir == NP_DIR_INGRESS ? "ingress" : "egress", idx);
		if (!mr.policy || !mr.rule || np_hashmap_put(&m->rules, k, &mr))
			return -ENOMEM;
	}
	return 0;
}

static int add_eps(struct np_flow_meta *m, const struct np_compiled *c)
{
	for (size_t i = 0; i < c->n_eps; i++) {
		const struct np_compiled_ep *ep = &c->eps[i];
		struct np_meta_ep me = { 0 };

		if (np_hashmap_get(&m->eps, &ep->val.ep_id))
			continue; /* the pod's other address */
		if (ep->pod) {
			me.ns = keep_dup(m, ep->pod->ns);
			me.name = keep_dup(m, ep->pod->name);
			if (!me.ns || !me.name)
				return -ENOMEM;
		}
		for (int d = 0; d < NP_DIR_MAX; d++) {
			const struct np_set *set = ep->val.set_id[d]
							   ? np_compiled_set(c, ep->val.set_id[d])
							   : NULL;

			if (set && !(me.isolating[d] = join_policies(m, set)))
				return -ENOMEM;
		}
		if (np_hashmap_put(&m->eps, &ep->val.ep_id, &me))
			return -ENOMEM;
	}
	return 0;
}

int np_flow_meta_build(struct np_flow_meta *m, const struct np_objects *objs,
		       const struct np_compiled *c)
{
	int ret;

	memset(m, 0, sizeof(*m));
	np_hashmap_init(&m->pods, sizeof(struct np_addr), sizeof(struct np_meta_pod));
	np_hashmap_init(&m->rules, sizeof(uint32_t), sizeof(struct np_meta_rule));
	np_hashmap_init(&m->eps, sizeof(uint32_t), sizeof(struct np_meta_ep));
	ret = add_pods(m, objs);
	if (!ret)
		ret = add_rules(m, c);
	if (!ret)
		ret = add_eps(m, c);
	if (ret)
		np_flow_meta_free(m);
	return ret;
}

void np_flow_meta_free(struct np_flow_meta *m)
{
	np_hashmap_free(&m->pods);
	np_hashmap_free(&m->rules);
	np_hashmap_free(&m->eps);
	for (size_t i = 0; i < m->n_strs; i++)
		free(m->strs[i]);
	free(m->strs);
	memset(m, 0, sizeof(*m));
}

const struct np_meta_pod *np_flow_meta_pod(const struct np_flow_meta *m, const struct np_addr *a)
{
	return np_hashmap_get(&m->pods, a);
}

const struct np_meta_rule *np_flow_meta_rule(const struct np_flow_meta *m, uint32_t cookie)
{
	return np_hashmap_get(&m->rules, &cookie);
}

const struct np_meta_ep *np_flow_meta_ep(const struct np_flow_meta *m, uint32_t ep_id)
{
	return np_hashmap_get(&m->eps, &ep_id);
}
