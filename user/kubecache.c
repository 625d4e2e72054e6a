// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The objects seen on the API, one entry per object, reduced to the model
 * (objects.c parses and validates them exactly as it does files) plus the
 * three fields that decide whether a pod takes part: creationTimestamp,
 * deletionTimestamp and phase.  Nothing else of the API objects is kept.
 *
 * np_kubecache_snapshot() copies the entries into one struct np_objects for
 * the compiler; copying (rather than lending) keeps ownership simple: the
 * agent's last good object set stays valid whatever the watch does next.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "log.h"

static const char *const kind_name[NP_KIND_MAX] = { "Namespace", "Pod", "NetworkPolicy" };
static const char *const kind_api[NP_KIND_MAX] = { "v1", "v1", "networking.k8s.io/v1" };

static void entry_free(struct np_kentry *e)
{
	if (!e)
		return;
	np_objects_free(&e->obj);
	free(e->created);
	free(e->invalid);
	free(e);
}

int np_kubecache_init(struct np_kubecache *c)
{
	memset(c, 0, sizeof(*c));
	for (int k = 0; k < NP_KIND_MAX; k++) {
		int ret = np_hashmap_init(&c->map[k], 0, sizeof(struct np_kentry *));

		if (ret) {
			while (k--)
				np_hashmap_free(&c->map[k]);
			return ret;
		}
	}
	return 0;
}

void np_kubecache_clear(struct np_kubecache *c, enum np_kind kind)
{
	const void *key;
	void *val;

	for (size_t it = 0; np_hashmap_next(&c->map[kind], &it, &key, &val);)
		entry_free(*(struct np_kentry **)val);
	np_hashmap_clear(&c->map[kind]);
	c->generation++;
}

void np_kubecache_free(struct np_kubecache *c)
{
	for (int k = 0; k < NP_KIND_MAX; k++) {
		np_kubecache_clear(c, (enum np_kind)k);
		np_hashmap_free(&c->map[k]);
	}
}

void np_kubecache_replace(struct np_kubecache *dst, struct np_kubecache *src,
			  enum np_kind kind)
{
	struct np_hashmap tmp;

	np_kubecache_clear(dst, kind);
	tmp = dst->map[kind];
	dst->map[kind] = src->map[kind];
	src->map[kind] = tmp;
	dst->generation++;
}

size_t np_kubecache_count(const struct np_kubecache *c, enum np_kind kind)
{
	return c->map[kind].count;
}

/* "ns/name" for namespaced kinds, "name" for namespaces; -EINVAL when the
 * object has no name. */
static int object_key(enum np_kind kind, const json_t *obj, char *buf, size_t len)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	int n;

	if (!name || !*name)
		return -EINVAL;
	if (kind == NP_KIND_NAMESPACE)
		n = snprintf(buf, len, "%s", name);
	else
		n = snprintf(buf, len, "%s/%s", ns && *ns ? ns : "default", name);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static void put_entry(struct np_kubecache *c, enum np_kind kind, const char *key,
		      struct np_kentry *e, int *ret)
{
	struct np_kentry **old = np_hashmap_get(&c->map[kind], key);

	if (old) {
		entry_free(*old);
		*old = e;
		return;
	}
	*ret = np_hashmap_put(&c->map[kind], key, &e);
}

/* The parts of OBJ the agent uses, as one canonical JSON text, hashed.
 * Unknown fields inside a policy's spec are included (they make it
 * invalid).  0 when it cannot be computed (then it never matches). */
static uint64_t object_digest(enum np_kind kind, const json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *spec = json_object_get(obj, "spec");
	json_t *status = json_object_get(obj, "status");
	json_t *ann = json_object_get(meta, "annotations");
	json_t *sub = json_object(), *ports = json_array();
	uint64_t h = 0;
	size_t i;
	json_t *ctr;
	char *text;

	if (!sub || !ports)
		goto cleanup;
	json_object_set(sub, "l", json_object_get(meta, "labels"));
	if (kind == NP_KIND_POLICY) {
		json_object_set(sub, "s", spec);
		json_object_set(sub, "a", json_object_get(ann, NP_AUDIT_ANNOTATION));
	} else if (kind == NP_KIND_POD) {
		json_object_set(sub, "n", json_object_get(spec, "nodeName"));
		json_object_set(sub, "h", json_object_get(spec, "hostNetwork"));
		json_array_foreach(json_object_get(spec, "containers"), i, ctr)
			json_array_append(ports, json_object_get(ctr, "ports"));
		json_object_set(sub, "p", ports);
		json_object_set(sub, "i", json_object_get(status, "podIP"));
		json_object_set(sub, "I", json_object_get(status, "podIPs"));
		json_object_set(sub, "f", json_object_get(status, "phase"));
		json_object_set(sub, "c", json_object_get(meta, "creationTimestamp"));
		json_object_set_new(sub, "d", json_boolean(json_object_get(meta, "deletionTimestamp") &&
							   !json_is_null(json_object_get(meta, "deletionTimestamp"))));
	}
	text = json_dumps(sub, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (text) {
		h = np_hash_bytes(text, strlen(text)) | 1;
		free(text);
	}
cleanup:
	json_decref(ports);
	json_decref(sub);
	return h;
}

const char *np_kubecache_wrong_kind(enum np_kind kind, const json_t *obj)
{
	const json_t *k = json_object_get(obj, "kind");
	const json_t *api = json_object_get(obj, "apiVersion");

	if (!json_is_object(obj))
		return "?";
	if (!k)
		return NULL;
	if (!json_is_string(k))
		return "?";
	if (strcmp(json_string_value(k), kind_name[kind]) != 0)
		return json_string_value(k);
	if (api && (!json_is_string(api) || strcmp(json_string_value(api), kind_api[kind]) != 0))
		return json_is_string(api) ? json_string_value(api) : "?";
	return NULL;
}

/* Exactly one object, of KIND: what the snapshot copies rely on. */
static bool loaded_one(const struct np_objects *o, enum np_kind kind)
{
	size_t n[NP_KIND_MAX] = { o->n_namespaces, o->n_pods, o->n_policies };

	for (int k = 0; k < NP_KIND_MAX; k++)
		if (n[k] != (k == (int)kind ? 1u : 0u))
			return false;
	return true;
}

/* A policy's isolation alone: its podSelector and policyTypes (defaulted
 * as the API server does, with Egress also when an egress key is there at
 * all: failing closed), no rules.  0, or -EINVAL when even those do not
 * validate. */
static int load_isolation_only(const json_t *obj, struct np_objects *out)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const json_t *spec = json_object_get(obj, "spec");
	const json_t *types = json_object_get(spec, "policyTypes");
	json_t *doc = NULL, *m = NULL, *sp = NULL;
	struct np_error err;
	int ret = -ENOMEM;

	doc = json_object();
	m = json_object();
	sp = json_object();
	if (!doc || !m || !sp)
		goto cleanup;
	json_object_set_new(m, "name", json_deep_copy(json_object_get(meta, "name")));
	if (json_object_get(meta, "namespace"))
		json_object_set_new(m, "namespace", json_deep_copy(json_object_get(meta, "namespace")));
	if (json_object_get(meta, "labels"))
		json_object_set_new(m, "labels", json_deep_copy(json_object_get(meta, "labels")));
	json_object_set_new(sp, "podSelector",
			    json_object_get(spec, "podSelector")
				    ? json_deep_copy(json_object_get(spec, "podSelector"))
				    : json_object());
	if (types && json_is_array(types) && json_array_size(types) > 0) {
		json_object_set_new(sp, "policyTypes", json_deep_copy(types));
	} else {
		json_t *t = json_array();

		json_array_append_new(t, json_string("Ingress"));
		if (json_object_get(spec, "egress"))
			json_array_append_new(t, json_string("Egress"));
		json_object_set_new(sp, "policyTypes", t);
	}
	json_object_set_new(doc, "apiVersion", json_string(kind_api[NP_KIND_POLICY]));
	json_object_set_new(doc, "kind", json_string(kind_name[NP_KIND_POLICY]));
	json_object_set_new(doc, "metadata", m);
	json_object_set_new(doc, "spec", sp);
	m = sp = NULL;
	ret = np_objects_load_json(out, "API", doc, kind_name[NP_KIND_POLICY],
				   kind_api[NP_KIND_POLICY], &err);
	if (ret && ret != -ENOMEM)
		ret = -EINVAL;
cleanup:
	json_decref(doc);
	json_decref(m);
	json_decref(sp);
	return ret;
}

static int copy_policy(const struct np_policy *src, struct np_policy *dst);
static int copy_pod(const struct np_pod *src, struct np_pod *dst);
static int copy_namespace(const struct np_namespace *src, struct np_namespace *dst);

/* A deep copy of entry SRC (of KIND) into the empty entry E. */
static int copy_entry(enum np_kind kind, const struct np_kentry *src, struct np_kentry *e)
{
	int ret = -ENOMEM;

	np_objects_free(&e->obj);
	memset(&e->obj, 0, sizeof(e->obj));
	if (kind == NP_KIND_POLICY) {
		if (!(e->obj.policies = calloc(1, sizeof(*e->obj.policies))))
			goto cleanup;
		e->obj.n_policies = 1;
		ret = copy_policy(&src->obj.policies[0], &e->obj.policies[0]);
	} else if (kind == NP_KIND_POD) {
		if (!(e->obj.pods = calloc(1, sizeof(*e->obj.pods))))
			goto cleanup;
		e->obj.n_pods = 1;
		ret = copy_pod(&src->obj.pods[0], &e->obj.pods[0]);
	} else {
		if (!(e->obj.namespaces = calloc(1, sizeof(*e->obj.namespaces))))
			goto cleanup;
		e->obj.n_namespaces = 1;
		ret = copy_namespace(&src->obj.namespaces[0], &e->obj.namespaces[0]);
	}
	if (ret)
		goto cleanup;
	if (src->created && !(e->created = strdup(src->created))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	e->terminating = src->terminating;
	e->finished = src->finished;
	e->isolation_only = src->isolation_only;
cleanup:
	return ret;
}

/*
 * OBJ (KEY) did not validate (WHY).  Keep what is safe: the last good
 * version when there is one, else for a policy its isolation alone.  E is
 * the new entry (its obj empty), consumed.  1 when the cache changed, 0
 * when not, -ENOMEM.
 */
static int keep_safe(struct np_kubecache *c, enum np_kind kind, const char *key,
		     const json_t *obj, const char *why, struct np_kentry *e)
{
	struct np_kentry **old = np_hashmap_get(&c->map[kind], key);
	int ret = 0;

	if (old) {
		char *w = strdup(why);

		if (!w) {
			ret = -ENOMEM;
			goto cleanup;
		}
		free((*old)->invalid);
		(*old)->invalid = w;
		(*old)->digest = e->digest; /* the same bad version again: quiet */
		np_err("%s; the last good version of %s %s stays in force", why,
		       kind_name[kind], key);
		goto cleanup;
	}
	if (c->fallback) {
		/* A re-list: the live cache has the last good version. */
		struct np_kentry *const *live = np_hashmap_get(&c->fallback->map[kind], key);

		if (live) {
			ret = copy_entry(kind, *live, e);
			if (ret)
				goto cleanup;
			e->invalid = strdup(why);
			if (!e->invalid) {
				ret = -ENOMEM;
				goto cleanup;
			}
			np_err("%s; the last good version of %s %s stays in force", why,
			       kind_name[kind], key);
			goto store;
		}
	}
	if (kind != NP_KIND_POLICY) {
		np_err("%s; %s %s is left out until a version validates", why,
		       kind_name[kind], key);
		goto cleanup;
	}
	np_objects_free(&e->obj);
	ret = load_isolation_only(obj, &e->obj);
	if (ret == -ENOMEM)
		goto cleanup;
	if (ret || !loaded_one(&e->obj, kind)) {
		np_err("%s; not even the podSelector and policyTypes of NetworkPolicy %s can be read: it is left out",
		       why, key);
		ret = 0;
		goto cleanup;
	}
	e->invalid = strdup(why);
	if (!e->invalid) {
		ret = -ENOMEM;
		goto cleanup;
	}
	e->isolation_only = true;
	np_err("%s; NetworkPolicy %s isolates the pods it selects with no rules until a version validates",
	       why, key);
store:
	put_entry(c, kind, key, e, &ret);
	if (ret)
		goto cleanup;
	e = NULL;
	c->generation++;
	ret = 1;
cleanup:
	entry_free(e);
	return ret;
}

size_t np_kubecache_invalid(const struct np_kubecache *c,
			    void (*fn)(void *ctx, const char *object, const char *in_force,
				       const char *why),
			    void *ctx)
{
	const void *key;
	void *val;
	size_t n = 0;

	for (int k = 0; k < NP_KIND_MAX; k++) {
		for (size_t it = 0; np_hashmap_next(&c->map[k], &it, &key, &val);) {
			const struct np_kentry *e = *(struct np_kentry **)val;
			char what[700];

			if (!e->invalid)
				continue;
			n++;
			if (!fn)
				continue;
			snprintf(what, sizeof(what), "%s %s", kind_name[k], (const char *)key);
			fn(ctx, what, e->isolation_only ? "isolation only (no rules)" : "last good version",
			   e->invalid);
		}
	}
	return n;
}

int np_kubecache_upsert(struct np_kubecache *c, enum np_kind kind,
			const json_t *obj)
{
	struct np_kentry **old;
	uint64_t digest;
	const json_t *meta = json_object_get(obj, "metadata");
	const char *created, *phase;
	struct np_kentry *e = NULL;
	struct np_error err;
	char key[600];
	int ret;

	if (np_kubecache_wrong_kind(kind, obj)) {
		c->wrong_kind++;
		return 0; /* the caller logs it, naming the resource */
	}
	if (object_key(kind, obj, key, sizeof(key))) {
		np_warn("API: a %s without metadata.name; ignored", kind_name[kind]);
		return 0;
	}
	digest = object_digest(kind, obj);
	old = np_hashmap_get(&c->map[kind], key);
	if (old && digest && (*old)->digest == digest)
		return 0; /* nothing the agent uses changed */
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->digest = digest;
	ret = np_objects_load_json(&e->obj, "API", obj, kind_name[kind],
				   kind_api[kind], &err);
	if (ret == -ENOMEM)
		goto cleanup;
	if (!ret && !loaded_one(&e->obj, kind)) {
		/* Cannot happen after np_kubecache_wrong_kind; never store
		 * what the snapshot could not copy. */
		np_err("API: %s %s did not load as one %s; refused", kind_name[kind], key,
		       kind_name[kind]);
		c->wrong_kind++;
		ret = 0;
		goto cleanup;
	}
	if (ret) {
		/* The API server validated it; we do not understand it.
		 * Dropping it could remove the isolation it gives. */
		c->invalid++;
		ret = keep_safe(c, kind, key, obj, err.msg, e);
		e = NULL;
		goto cleanup;
	}
	created = json_string_value(json_object_get(meta, "creationTimestamp"));
	if (created && !(e->created = strdup(created))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	e->terminating = json_object_get(meta, "deletionTimestamp") &&
			 !json_is_null(json_object_get(meta, "deletionTimestamp"));
	phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
	e->finished = phase && (strcmp(phase, "Succeeded") == 0 ||
				strcmp(phase, "Failed") == 0);
	put_entry(c, kind, key, e, &ret);
	if (ret)
		goto cleanup;
	e = NULL;
	c->generation++;
	ret = 1;
cleanup:
	entry_free(e);
	return ret;
}

int np_kubecache_delete(struct np_kubecache *c, enum np_kind kind,
			const json_t *obj)
{
	struct np_kentry **e;
	char key[600];

	if (object_key(kind, obj, key, sizeof(key)))
		return 0;
	e = np_hashmap_get(&c->map[kind], key);
	if (!e)
		return 0;
	entry_free(*e);
	np_hashmap_del(&c->map[kind], key);
	c->generation++;
	return 1;
}

/* ---- deep copies into the snapshot -------------------------------------- */

static int dup_s(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static void *dup_mem(const void *p, size_t n)
{
	void *q;

	if (!n)
		return NULL;
	q = malloc(n);
	if (q)
		memcpy(q, p, n);
	return q;
}

static int copy_labels(const struct np_labels *src, struct np_labels *dst)
{
	int ret = 0;

	memset(dst, 0, sizeof(*dst));
	if (!src->n)
		return 0;
	dst->items = calloc(src->n, sizeof(*dst->items));
	if (!dst->items)
		return -ENOMEM;
	dst->n = src->n;
	for (size_t i = 0; i < src->n && !ret; i++) {
		ret = dup_s(src->items[i].key, &dst->items[i].key);
		if (!ret)
			ret = dup_s(src->items[i].value, &dst->items[i].value);
	}
	return ret;
}

static int copy_selector(const struct np_selector *src, struct np_selector *dst)
{
	int ret;

	memset(dst, 0, sizeof(*dst));
	ret = copy_labels(&src->match_labels, &dst->match_labels);
	if (ret || !src->n_exprs)
		return ret;
	dst->exprs = calloc(src->n_exprs, sizeof(*dst->exprs));
	if (!dst->exprs)
		return -ENOMEM;
	dst->n_exprs = src->n_exprs;
	for (size_t i = 0; i < src->n_exprs && !ret; i++) {
		const struct np_sel_expr *s = &src->exprs[i];
		struct np_sel_expr *d = &dst->exprs[i];

		d->op = s->op;
		ret = dup_s(s->key, &d->key);
		if (ret || !s->n_values)
			continue;
		d->values = calloc(s->n_values, sizeof(*d->values));
		if (!d->values) {
			ret = -ENOMEM;
			continue;
		}
		d->n_values = s->n_values;
		for (size_t j = 0; j < s->n_values && !ret; j++)
			ret = dup_s(s->values[j], &d->values[j]);
	}
	return ret;
}

static int copy_rule(const struct np_rule *src, struct np_rule *dst)
{
	int ret = 0;

	memset(dst, 0, sizeof(*dst));
	if (src->n_peers) {
		dst->peers = calloc(src->n_peers, sizeof(*dst->peers));
		if (!dst->peers)
			return -ENOMEM;
		dst->n_peers = src->n_peers;
	}
	for (size_t i = 0; i < src->n_peers && !ret; i++) {
		const struct np_peer *s = &src->peers[i];
		struct np_peer *d = &dst->peers[i];

		d->has_pod_sel = s->has_pod_sel;
		d->has_ns_sel = s->has_ns_sel;
		d->has_ip_block = s->has_ip_block;
		d->cidr = s->cidr;
		ret = copy_selector(&s->pod_sel, &d->pod_sel);
		if (!ret)
			ret = copy_selector(&s->ns_sel, &d->ns_sel);
		if (!ret && s->n_except) {
			d->except = dup_mem(s->except, s->n_except * sizeof(*s->except));
			if (!d->except)
				ret = -ENOMEM;
			else
				d->n_except = s->n_except;
		}
	}
	if (!ret && src->n_ports) {
		dst->ports = calloc(src->n_ports, sizeof(*dst->ports));
		if (!dst->ports)
			return -ENOMEM;
		dst->n_ports = src->n_ports;
		for (size_t i = 0; i < src->n_ports && !ret; i++) {
			dst->ports[i] = src->ports[i];
			ret = dup_s(src->ports[i].name, &dst->ports[i].name);
		}
	}
	return ret;
}

static int copy_policy(const struct np_policy *src, struct np_policy *dst)
{
	int ret;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst->types, src->types, sizeof(dst->types));
	dst->audit = src->audit;
	if ((ret = dup_s(src->ns, &dst->ns)) || (ret = dup_s(src->name, &dst->name)) ||
	    (ret = dup_s(src->source, &dst->source)) ||
	    (ret = copy_selector(&src->pod_sel, &dst->pod_sel)))
		return ret;
	for (int d = 0; d < NP_DIR_MAX; d++) {
		if (!src->n_rules[d])
			continue;
		dst->rules[d] = calloc(src->n_rules[d], sizeof(*dst->rules[d]));
		if (!dst->rules[d])
			return -ENOMEM;
		dst->n_rules[d] = src->n_rules[d];
		for (size_t i = 0; i < src->n_rules[d] && !ret; i++)
			ret = copy_rule(&src->rules[d][i], &dst->rules[d][i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int copy_pod(const struct np_pod *src, struct np_pod *dst)
{
	int ret;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst->ips, src->ips, sizeof(dst->ips));
	dst->n_ips = src->n_ips;
	dst->host_network = src->host_network;
	if ((ret = dup_s(src->ns, &dst->ns)) || (ret = dup_s(src->name, &dst->name)) ||
	    (ret = dup_s(src->source, &dst->source)) ||
	    (ret = dup_s(src->node_name, &dst->node_name)) ||
	    (ret = copy_labels(&src->labels, &dst->labels)))
		return ret;
	if (src->n_ports) {
		dst->ports = calloc(src->n_ports, sizeof(*dst->ports));
		if (!dst->ports)
			return -ENOMEM;
		dst->n_ports = src->n_ports;
		for (size_t i = 0; i < src->n_ports && !ret; i++) {
			dst->ports[i] = src->ports[i];
			ret = dup_s(src->ports[i].name, &dst->ports[i].name);
		}
	}
	return ret;
}

static int copy_namespace(const struct np_namespace *src, struct np_namespace *dst)
{
	int ret;

	memset(dst, 0, sizeof(*dst));
	if ((ret = dup_s(src->name, &dst->name)) ||
	    (ret = dup_s(src->source, &dst->source)))
		return ret;
	return copy_labels(&src->labels, &dst->labels);
}

/* ---- snapshot ------------------------------------------------------------ */

struct ip_claim {
	struct np_addr addr;
	size_t pod;    /* index into the snapshot's pods */
	const struct np_kentry *e;
};

/* Does claim A beat claim B for the same address? */
static bool claim_wins(const struct ip_claim *a, const struct ip_claim *b,
		       const struct np_objects *out)
{
	const struct np_pod *pa = &out->pods[a->pod], *pb = &out->pods[b->pod];
	int r;

	if (!a->e || !b->e)
		return a->e != NULL; /* the API beats files */
	if (a->e->terminating != b->e->terminating)
		return !a->e->terminating;
	r = strcmp(a->e->created ? a->e->created : "", b->e->created ? b->e->created : "");
	if (r)
		return r > 0;
	r = strcmp(pa->ns, pb->ns);
	if (r)
		return r > 0;
	return strcmp(pa->name, pb->name) > 0;
}

static int claim_cmp(const void *x, const void *y)
{
	const struct ip_claim *a = x, *b = y;
	int r = memcmp(&a->addr, &b->addr, sizeof(a->addr));

	if (r)
		return r;
	return a->pod < b->pod ? -1 : a->pod > b->pod;
}

static void drop_ip(struct np_pod *pod, const struct np_addr *a)
{
	for (size_t i = 0; i < pod->n_ips; i++) {
		if (memcmp(&pod->ips[i], a, sizeof(*a)) != 0)
			continue;
		pod->ips[i] = pod->ips[--pod->n_ips];
		return;
	}
}

/* One live pod per address (see kube.h).  ENTRIES[i] is pod i's entry,
 * NULL for a pod from the files. */
static int resolve_ip_reuse(struct np_objects *out, const struct np_kentry **entries)
{
	struct ip_claim *claims;
	size_t n = 0;

	claims = calloc(out->n_pods * 2 + 1, sizeof(*claims));
	if (!claims)
		return -ENOMEM;
	for (size_t i = 0; i < out->n_pods; i++) {
		if (out->pods[i].host_network)
			continue;
		for (size_t j = 0; j < out->pods[i].n_ips; j++)
			claims[n++] = (struct ip_claim){ out->pods[i].ips[j], i, entries[i] };
	}
	qsort(claims, n, sizeof(*claims), claim_cmp);
	for (size_t i = 0; i < n;) {
		size_t end = i + 1, best = i;
		char a[64];

		while (end < n && memcmp(&claims[end].addr, &claims[i].addr,
					 sizeof(claims[i].addr)) == 0)
			end++;
		for (size_t k = i + 1; k < end; k++)
			if (claim_wins(&claims[k], &claims[best], out))
				best = k;
		for (size_t k = i; k < end; k++) {
			/* Two file pods with one address stay an error the
			 * compiler reports, as without the API. */
			if (k == best || (!claims[k].e && !claims[best].e))
				continue;
			np_dbg("API: %s is claimed by pods %s/%s and %s/%s; it belongs to %s/%s",
			       np_addr_str(&claims[k].addr, a, sizeof(a)),
			       out->pods[claims[k].pod].ns, out->pods[claims[k].pod].name,
			       out->pods[claims[best].pod].ns, out->pods[claims[best].pod].name,
			       out->pods[claims[best].pod].ns, out->pods[claims[best].pod].name);
			drop_ip(&out->pods[claims[k].pod], &claims[k].addr);
		}
		i = end;
	}
	free(claims);
	return 0;
}

static bool api_has(const struct np_kubecache *c, enum np_kind kind,
		    const char *ns, const char *name)
{
	char key[600];

	if (ns)
		snprintf(key, sizeof(key), "%s/%s", ns, name);
	else
		snprintf(key, sizeof(key), "%s", name);
	return np_hashmap_get(&c->map[kind], key) != NULL;
}

int np_kubecache_snapshot(const struct np_kubecache *c,
			  const struct np_objects *files,
			  struct np_objects *out)
{
	static const struct np_objects none;
	const struct np_kentry **pod_entries = NULL;
	size_t max_ns, max_pods, max_pols;
	const void *key;
	void *val;
	int ret = 0;

	if (!files)
		files = &none;
	memset(out, 0, sizeof(*out));
	max_ns = c->map[NP_KIND_NAMESPACE].count + files->n_namespaces;
	max_pods = c->map[NP_KIND_POD].count + files->n_pods;
	max_pols = c->map[NP_KIND_POLICY].count + files->n_policies;
	out->namespaces = calloc(max_ns + 1, sizeof(*out->namespaces));
	out->pods = calloc(max_pods + 1, sizeof(*out->pods));
	out->policies = calloc(max_pols + 1, sizeof(*out->policies));
	pod_entries = calloc(max_pods + 1, sizeof(*pod_entries));
	if (!out->namespaces || !out->pods || !out->policies || !pod_entries) {
		ret = -ENOMEM;
		goto cleanup;
	}
	/* API objects first, then the files' objects the API does not have. */
	for (size_t it = 0; !ret && np_hashmap_next(&c->map[NP_KIND_NAMESPACE], &it, &key, &val);) {
		const struct np_kentry *e = *(struct np_kentry **)val;

		ret = copy_namespace(&e->obj.namespaces[0], &out->namespaces[out->n_namespaces++]);
	}
	for (size_t it = 0; !ret && np_hashmap_next(&c->map[NP_KIND_POD], &it, &key, &val);) {
		const struct np_kentry *e = *(struct np_kentry **)val;

		if (e->finished)
			continue; /* its addresses are free for reuse */
		pod_entries[out->n_pods] = e;
		ret = copy_pod(&e->obj.pods[0], &out->pods[out->n_pods++]);
	}
	for (size_t it = 0; !ret && np_hashmap_next(&c->map[NP_KIND_POLICY], &it, &key, &val);) {
		const struct np_kentry *e = *(struct np_kentry **)val;

		ret = copy_policy(&e->obj.policies[0], &out->policies[out->n_policies++]);
	}
	for (size_t i = 0; !ret && i < files->n_namespaces; i++)
		if (!api_has(c, NP_KIND_NAMESPACE, NULL, files->namespaces[i].name))
			ret = copy_namespace(&files->namespaces[i],
					     &out->namespaces[out->n_namespaces++]);
	for (size_t i = 0; !ret && i < files->n_pods; i++)
		if (!api_has(c, NP_KIND_POD, files->pods[i].ns, files->pods[i].name))
			ret = copy_pod(&files->pods[i], &out->pods[out->n_pods++]);
	for (size_t i = 0; !ret && i < files->n_policies; i++)
		if (!api_has(c, NP_KIND_POLICY, files->policies[i].ns, files->policies[i].name))
			ret = copy_policy(&files->policies[i],
					  &out->policies[out->n_policies++]);
	if (!ret)
		ret = resolve_ip_reuse(out, pod_entries);
cleanup:
	free(pod_entries);
	if (ret)
		np_objects_free(out);
	return ret;
}
