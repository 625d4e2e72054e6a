// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policy compiler: objects -> endpoints, sets, classes, rule cookies.
 * See compile.h for the model and DEVELOPERS.md for how the datapath uses it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "vec.h"

/* ---- stable ids ---- */

struct np_id_slot {
	uint32_t id;
	uint64_t epoch;
};

void np_ids_init(struct np_ids *ids)
{
	np_hashmap_init(&ids->map, 0, sizeof(struct np_id_slot));
	ids->next = 1;
	ids->epoch = 1;
}

void np_ids_free(struct np_ids *ids)
{
	np_hashmap_free(&ids->map);
}

int np_ids_get(struct np_ids *ids, const char *key, uint32_t *id)
{
	struct np_id_slot *slot = np_hashmap_get(&ids->map, key);
	struct np_id_slot fresh;
	int err;

	if (slot) {
		slot->epoch = ids->epoch;
		*id = slot->id;
		return 0;
	}
	if (ids->next == UINT32_MAX)
		return -ENOSPC;
	fresh.id = ids->next++;
	fresh.epoch = ids->epoch;
	err = np_hashmap_put(&ids->map, key, &fresh);
	if (err)
		return err;
	*id = fresh.id;
	return 0;
}

void np_ids_gc(struct np_ids *ids)
{
	const void *key;
	void *val;
	char **stale = NULL;
	size_t n = 0, cap = 0;

	for (size_t it = 0; np_hashmap_next(&ids->map, &it, &key, &val);) {
		const struct np_id_slot *slot = val;

		if (slot->epoch != ids->epoch) {
			char *copy = strdup(key);

			if (!copy || np_vec_push(&stale, &n, &cap, &copy)) {
				free(copy);
				break; /* keeping a stale id is harmless */
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		np_hashmap_del(&ids->map, stale[i]);
		free(stale[i]);
	}
	free(stale);
	ids->epoch++;
}

/* ---- small string builder for canonical keys ---- */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t nc = b->cap ? b->cap * 2 : 256;
			char *p;

			while (nc < b->len + (size_t)n + 1)
				nc *= 2;
			p = realloc(b->s, nc);
			if (!p) {
				b->oom = true;
				return;
			}
			b->s = p;
			b->cap = nc;
		}
	}
}

static void sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

/* ---- port specs after named-port resolution ---- */

struct spec {
	uint8_t proto; /* 0: every protocol (rule without ports) */
	bool all_ports;
	uint16_t lo, hi;
};

static int cmp_spec(const void *a, const void *b)
{
	const struct spec *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->all_ports != y->all_ports)
		return x->all_ports ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* An item: one rule's cookie with the ports it allows for some peers. */
struct item {
	uint32_t cookie;
	struct spec *specs;
	size_t n_specs;
	char *key;
};

/* ---- compile state ---- */

struct rule_peers {
	bool all;           /* from/to absent or empty */
	size_t *pods;       /* eligible pods matched by selectors */
	size_t n_pods;
	const struct np_peer **blocks; /* peers with ipBlock */
	size_t n_blocks;
};

struct ctx {
	const struct np_objects *objs;
	const struct np_compile_opts *opts;
	struct np_ids *ids;
	struct np_compiled *out;
	struct np_error *err;
	/* Namespaces with their pods, so selectors are evaluated once per
	 * namespace and pods are only visited where they can match. */
	struct ns_info *nss;
	size_t n_nss;
	struct np_hashmap ns_index;   /* name -> size_t index in nss */
	struct np_labels *synth;      /* labels of namespaces without object */
	size_t n_synth;
	struct pod_pols *selected;    /* per pod: policies selecting it, by dir */
	bool *eligible;               /* per pod: has IPs, not hostNetwork */
	uint32_t *stamp;              /* per pod: scratch marks equal to stamp_now */
	uint32_t stamp_now;
	struct rule_peers **peers;    /* [policy][dir * maxrules + rule] */
	uint32_t **cookies;           /* [policy][...] same indexing */
	struct np_hashmap set_index;  /* set key -> size_t index in out->sets */
	struct np_hashmap class_index;/* class key -> uint32 id */
	size_t cap_sets, cap_classes;
	struct sbuf key;
	/* Peers with the same selectors (and, without a namespaceSelector,
	 * the same namespace) select the same pods: resolved once. */
	struct np_hashmap peer_index; /* peer key -> size_t index in memos */
	struct peer_memo *memos;
	size_t n_memos, cap_memos;
	struct sbuf peer_key;
};

struct peer_memo {
	size_t *pods; /* eligible matching pods, in namespace then pod order */
	size_t n, cap;
};

struct ns_info {
	const char *name;
	const struct np_labels *labels;
	size_t *pods;
	size_t n_pods, cap_pods;
};

struct pod_pols {
	size_t *v[NP_DIR_MAX];
	size_t n[NP_DIR_MAX], cap[NP_DIR_MAX];
};

#define NO_NS ((size_t)-1)

static size_t rule_slot(const struct np_policy *p, enum np_dir dir, size_t i)
{
	return dir == NP_DIR_INGRESS ? i : p->n_rules[NP_DIR_INGRESS] + i;
}

static size_t ns_find(struct ctx *c, const char *name)
{
	size_t *idx = np_hashmap_get(&c->ns_index, name);

	return idx ? *idx : NO_NS;
}

static int ns_add(struct ctx *c, size_t *cap, const char *name,
		  const struct np_labels *labels)
{
	struct ns_info ni = { .name = name, .labels = labels };
	size_t idx = c->n_nss;
	int err;

	err = np_vec_push(&c->nss, &c->n_nss, cap, &ni);
	if (!err)
		err = np_hashmap_put(&c->ns_index, name, &idx);
	return err;
}

static int index_namespaces(struct ctx *c)
{
	const struct np_objects *o = c->objs;
	size_t cap = 0;
	int err = 0;

	np_hashmap_init(&c->ns_index, 0, sizeof(size_t));
	for (size_t i = 0; i < o->n_namespaces && !err; i++)
		err = ns_add(c, &cap, o->namespaces[i].name, &o->namespaces[i].labels);
	/* Namespaces only referenced by pods carry the label the API server
	 * sets on every namespace, so namespaceSelectors still work. */
	c->synth = calloc(o->n_pods + 1, sizeof(*c->synth));
	if (!c->synth)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_pods && !err; i++) {
		const char *ns = o->pods[i].ns;
		size_t k = ns_find(c, ns);
		struct ns_info *ni;

		if (k == NO_NS) {
			struct np_labels *l = &c->synth[c->n_synth++];

			l->items = calloc(1, sizeof(*l->items));
			if (!l->items)
				return -ENOMEM;
			l->items[0].key = (char *)"kubernetes.io/metadata.name";
			l->items[0].value = (char *)ns;
			l->n = 1;
			k = c->n_nss;
			err = ns_add(c, &cap, ns, l);
			if (err)
				break;
		}
		ni = &c->nss[k];
		err = np_vec_push(&ni->pods, &ni->n_pods, &ni->cap_pods, &i);
	}
	return err;
}

/* Add the eligible pods of namespace K matching the peer's pod selector. */
static int add_ns_pods(struct ctx *c, size_t k, const struct np_peer *peer,
		       struct peer_memo *m)
{
	const struct ns_info *ni = &c->nss[k];
	int err = 0;

	for (size_t j = 0; j < ni->n_pods && !err; j++) {
		size_t i = ni->pods[j];

		if (!c->eligible[i])
			continue;
		if (peer->has_pod_sel &&
		    !np_selector_matches(&peer->pod_sel, &c->objs->pods[i].labels))
			continue;
		err = np_vec_push(&m->pods, &m->n, &m->cap, &i);
	}
	return err;
}

static void selector_key(struct sbuf *b, const struct np_selector *sel)
{
	for (size_t i = 0; i < sel->match_labels.n; i++)
		sb_add(b, "%s=%s,", sel->match_labels.items[i].key,
		       sel->match_labels.items[i].value ? sel->match_labels.items[i].value : "");
	for (size_t i = 0; i < sel->n_exprs; i++) {
		sb_add(b, ";%s:%d:", sel->exprs[i].key, (int)sel->exprs[i].op);
		for (size_t j = 0; j < sel->exprs[i].n_values; j++)
			sb_add(b, "%s,", sel->exprs[i].values[j] ? sel->exprs[i].values[j] : "");
	}
}

/* The pods a selector peer (no ipBlock) of policy P selects, memoized. */
static int peer_pods(struct ctx *c, const struct np_policy *p,
		     const struct np_peer *peer, const struct peer_memo **out)
{
	struct peer_memo fresh = { 0 };
	size_t *known, idx;
	int err = 0;

	sb_reset(&c->peer_key);
	if (peer->has_ns_sel) {
		sb_add(&c->peer_key, "ns|");
		selector_key(&c->peer_key, &peer->ns_sel);
	} else {
		sb_add(&c->peer_key, "own|%s", p->ns);
	}
	sb_add(&c->peer_key, "|pod%d|", peer->has_pod_sel);
	if (peer->has_pod_sel)
		selector_key(&c->peer_key, &peer->pod_sel);
	if (c->peer_key.oom)
		return -ENOMEM;
	known = np_hashmap_get(&c->peer_index, c->peer_key.s);
	if (known) {
		*out = &c->memos[*known];
		return 0;
	}
	if (!peer->has_ns_sel) {
		/* podSelector alone: the policy's own namespace */
		size_t own = ns_find(c, p->ns);

		if (own != NO_NS)
			err = add_ns_pods(c, own, peer, &fresh);
	} else {
		for (size_t n = 0; n < c->n_nss && !err; n++)
			if (np_selector_matches(&peer->ns_sel, c->nss[n].labels))
				err = add_ns_pods(c, n, peer, &fresh);
	}
	idx = c->n_memos;
	if (!err)
		err = np_vec_push(&c->memos, &c->n_memos, &c->cap_memos, &fresh);
	if (err) {
		free(fresh.pods);
		return err;
	}
	err = np_hashmap_put(&c->peer_index, c->peer_key.s, &idx);
	if (err)
		return err;
	*out = &c->memos[idx];
	return 0;
}

static int resolve_peers(struct ctx *c, const struct np_policy *p,
			 const struct np_rule *r, struct rule_peers *rp)
{
	size_t cap_pods = 0, cap_blocks = 0;
	int err = 0;

	rp->all = r->n_peers == 0;
	c->stamp_now++;
	for (size_t k = 0; k < r->n_peers && !err; k++) {
		const struct np_peer *peer = &r->peers[k];
		const struct peer_memo *m = NULL;

		if (peer->has_ip_block) {
			err = np_vec_push(&rp->blocks, &rp->n_blocks,
					  &cap_blocks, &peer);
			continue;
		}
		err = peer_pods(c, p, peer, &m);
		for (size_t j = 0; !err && j < m->n; j++) {
			size_t i = m->pods[j];

			/* a pod matched by two peers of one rule counts once */
			if (c->stamp[i] == c->stamp_now)
				continue;
			c->stamp[i] = c->stamp_now;
			err = np_vec_push(&rp->pods, &rp->n_pods, &cap_pods, &i);
		}
	}
	return err;
}

/* Per pod, the policies selecting it in each direction, in policy order. */
static int select_targets(struct ctx *c)
{
	const struct np_objects *o = c->objs;
	int err = 0;

	c->selected = calloc(o->n_pods + 1, sizeof(*c->selected));
	if (!c->selected)
		return -ENOMEM;
	for (size_t pi = 0; pi < o->n_policies && !err; pi++) {
		const struct np_policy *p = &o->policies[pi];
		size_t k = ns_find(c, p->ns);

		if (k == NO_NS)
			continue;
		for (size_t j = 0; j < c->nss[k].n_pods && !err; j++) {
			size_t i = c->nss[k].pods[j];
			struct pod_pols *pp = &c->selected[i];

			if (!np_selector_matches(&p->pod_sel, &o->pods[i].labels))
				continue;
			for (int d = 0; d < NP_DIR_MAX && !err; d++)
				if (p->types[d])
					err = np_vec_push(&pp->v[d], &pp->n[d],
							  &pp->cap[d], &pi);
		}
	}
	return err;
}

static int prepare_policies(struct ctx *c)
{
	const struct np_objects *o = c->objs;
	int err = 0;

	c->peers = calloc(o->n_policies + 1, sizeof(*c->peers));
	c->cookies = calloc(o->n_policies + 1, sizeof(*c->cookies));
	if (!c->peers || !c->cookies)
		return -ENOMEM;
	for (size_t pi = 0; pi < o->n_policies; pi++) {
		const struct np_policy *p = &o->policies[pi];
		size_t total = p->n_rules[0] + p->n_rules[1];

		c->peers[pi] = calloc(total + 1, sizeof(**c->peers));
		c->cookies[pi] = calloc(total + 1, sizeof(**c->cookies));
		if (!c->peers[pi] || !c->cookies[pi])
			return -ENOMEM;
		for (int d = 0; d < NP_DIR_MAX; d++) {
			for (size_t i = 0; i < p->n_rules[d]; i++) {
				size_t s = rule_slot(p, d, i);
				struct np_rule_ref ref = { 0 };

				c->key.len = 0;
				sb_reset(&c->key);
				sb_add(&c->key, "rule|%s/%s|%d|%zu", p->ns,
				       p->name, d, i);
				if (c->key.oom)
					return -ENOMEM;
				err = np_ids_get(c->ids, c->key.s,
						 &c->cookies[pi][s]);
				if (err)
					return err;
				if (!p->types[d])
					continue; /* rules of a type not in policyTypes are ignored */
				err = resolve_peers(c, p, &p->rules[d][i],
						    &c->peers[pi][s]);
				if (err)
					return err;
				ref.ns = strdup(p->ns);
				ref.name = strdup(p->name);
				if (!ref.ns || !ref.name) {
					free(ref.ns);
					free(ref.name);
					return -ENOMEM;
				}
				ref.dir = d;
				ref.index = (uint32_t)i;
				ref.audit = p->audit;
				err = np_hashmap_put(&c->out->rules,
						     &c->cookies[pi][s], &ref);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

/* A named port resolves against POD's container ports: name and protocol. */
static bool resolve_named(const struct np_pod *pod, const struct np_port_spec *ps,
			  uint16_t *port)
{
	for (size_t i = 0; i < pod->n_ports; i++) {
		const struct np_container_port *cp = &pod->ports[i];

		if (cp->name && strcmp(cp->name, ps->name) == 0 &&
		    cp->proto == ps->proto) {
			*port = cp->port;
			return true;
		}
	}
	return false;
}

/* Build the specs of rule R: numeric ones always; named ones resolved
 * against NAMED_POD when given (NULL: named specs dropped).  *HAS_NAMED tells
 * whether the rule had named ports at all. */
static int rule_specs(const struct np_rule *r, const struct np_pod *named_pod,
		      bool want_numeric, struct spec **out, size_t *n,
		      bool *has_named)
{
	size_t cap = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	*has_named = false;
	if (r->n_ports == 0) {
		struct spec s = { .proto = 0, .all_ports = true, .lo = 0, .hi = 65535 };

		return want_numeric ? np_vec_push(out, n, &cap, &s) : 0;
	}
	for (size_t i = 0; i < r->n_ports && !err; i++) {
		const struct np_port_spec *ps = &r->ports[i];
		struct spec s = { .proto = ps->proto };

		if (ps->name) {
			uint16_t port;

			*has_named = true;
			if (!named_pod || !resolve_named(named_pod, ps, &port))
				continue;
			s.lo = s.hi = port;
		} else {
			if (!want_numeric)
				continue;
			if (!ps->has_port) {
				s.all_ports = true;
				s.lo = 0;
				s.hi = 65535;
			} else {
				s.lo = ps->port;
				s.hi = ps->end_port >= ps->port ? ps->end_port
								: ps->port;
			}
		}
		err = np_vec_push(out, n, &cap, &s);
	}
	if (!err && *n > 1)
		qsort(*out, *n, sizeof(**out), cmp_spec);
	return err;
}

/* Set-local item table. */
struct items {
	struct item *v;
	size_t n, cap;
	struct np_hashmap index; /* key -> uint32 */
};

static int item_intern(struct ctx *c, struct items *it, uint32_t cookie,
		       struct spec *specs, size_t n_specs, uint32_t *idx)
{
	uint32_t *found;
	struct item item = { 0 };
	int err;

	sb_reset(&c->key);
	sb_add(&c->key, "%u", cookie);
	for (size_t i = 0; i < n_specs; i++)
		sb_add(&c->key, ";%u:%d:%u-%u", specs[i].proto,
		       specs[i].all_ports, specs[i].lo, specs[i].hi);
	if (c->key.oom)
		return -ENOMEM;
	found = np_hashmap_get(&it->index, c->key.s);
	if (found) {
		*idx = *found;
		free(specs);
		return 0;
	}
	item.cookie = cookie;
	item.specs = specs;
	item.n_specs = n_specs;
	item.key = strdup(c->key.s);
	if (!item.key)
		return -ENOMEM;
	*idx = (uint32_t)it->n;
	err = np_vec_push(&it->v, &it->n, &it->cap, &item);
	if (err) {
		free(item.key);
		return err;
	}
	return np_hashmap_put(&it->index, item.key, idx);
}

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++) {
		free(it->v[i].specs);
		free(it->v[i].key);
	}
	free(it->v);
	np_hashmap_free(&it->index);
}

static void addr_block(const struct np_addr *a, uint32_t item,
		       struct np_block *b)
{
	memset(b, 0, sizeof(*b));
	np_cidr_host(a, &b->cidr);
	b->item = item;
}

static bool pod_in_block(const struct np_pod *pod, const struct np_peer *peer,
			 const struct np_addr *ip)
{
	(void)pod;
	if (!np_cidr_contains_addr(&peer->cidr, ip))
		return false;
	for (size_t i = 0; i < peer->n_except; i++)
		if (np_cidr_contains_addr(&peer->except[i], ip))
			return false;
	return true;
}

/* Blocks of one rule for its numeric item. */
static int add_rule_blocks(struct ctx *c, const struct rule_peers *rp,
			   uint32_t item, struct np_block **blocks, size_t *n,
			   size_t *cap)
{
	/* Every address is two blocks: 0.0.0.0/0 and ::/0, one per family. */
	static const struct np_cidr everything[2] = {
		{ .addr = { .b = { [10] = 0xff, [11] = 0xff } }, .plen = 96, .v4 = true },
		{ .plen = 0, .v4 = false },
	};
	int err = 0;

	if (rp->all) {
		for (size_t i = 0; i < 2 && !err; i++) {
			struct np_block b = { .cidr = everything[i], .item = item };

			err = np_vec_push(blocks, n, cap, &b);
		}
		return err;
	}
	for (size_t i = 0; i < rp->n_blocks && !err; i++) {
		const struct np_peer *peer = rp->blocks[i];
		struct np_block b = { .cidr = peer->cidr,
				      .except = peer->except,
				      .n_except = peer->n_except,
				      .item = item };

		err = np_vec_push(blocks, n, cap, &b);
	}
	for (size_t i = 0; i < rp->n_pods && !err; i++) {
		const struct np_pod *pod = &c->objs->pods[rp->pods[i]];

		for (size_t j = 0; j < pod->n_ips && !err; j++) {
			struct np_block b;

			addr_block(&pod->ips[j], item, &b);
			err = np_vec_push(blocks, n, cap, &b);
		}
	}
	return err;
}

/* Is pod index PI one of the destinations of the rule's peers?  The rule's
 * selected pods must have been marked with the current stamp. */
static bool rule_covers_pod(struct ctx *c, const struct rule_peers *rp,
			    size_t pi, const struct np_addr *ip)
{
	if (rp->all || c->stamp[pi] == c->stamp_now)
		return true;
	for (size_t i = 0; i < rp->n_blocks; i++)
		if (pod_in_block(&c->objs->pods[pi], rp->blocks[i], ip))
			return true;
	return false;
}

static int class_for_items(struct ctx *c, const struct items *it,
			   const uint32_t *idx, size_t n, uint32_t *class_id);

static int build_set(struct ctx *c, enum np_dir dir, const struct np_pod *pod,
		     const size_t *pols, size_t n_pols, struct np_set *set)
{
	const struct np_objects *o = c->objs;
	struct items it = { 0 };
	struct np_block *blocks = NULL;
	size_t n_blocks = 0, cap_blocks = 0, cap_peers = 0, prev_n = 0;
	struct np_flat flat = { 0 };
	const uint32_t *prev_idx = NULL;
	uint32_t prev_class = 0;
	bool have_prev = false;
	int err;

	err = np_hashmap_init(&it.index, 0, sizeof(uint32_t));
	if (err)
		goto cleanup;
	set->audit = true;
	set->dir = dir;
	set->policies = calloc(n_pols + 1, sizeof(char *));
	if (!set->policies) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t k = 0; k < n_pols; k++) {
		const struct np_policy *p = &o->policies[pols[k]];

		if (!p->audit)
			set->audit = false;
		if (asprintf(&set->policies[set->n_policies], "%s/%s", p->ns,
			     p->name) < 0) {
			err = -ENOMEM;
			goto cleanup;
		}
		set->n_policies++;
		for (size_t i = 0; i < p->n_rules[dir]; i++) {
			size_t s = rule_slot(p, dir, i);
			const struct np_rule *r = &p->rules[dir][i];
			const struct rule_peers *rp = &c->peers[pols[k]][s];
			uint32_t cookie = c->cookies[pols[k]][s];
			struct spec *specs;
			size_t n_specs;
			bool has_named;
			uint32_t idx;

			/* Ingress: named ports resolve against this pod. */
			err = rule_specs(r, dir == NP_DIR_INGRESS ? pod : NULL,
					 true, &specs, &n_specs, &has_named);
			if (err)
				goto cleanup;
			if (n_specs > 0) {
				err = item_intern(c, &it, cookie, specs, n_specs,
						  &idx);
				if (err)
					goto cleanup;
				err = add_rule_blocks(c, rp, idx, &blocks,
						      &n_blocks, &cap_blocks);
				if (err)
					goto cleanup;
			} else {
				free(specs);
			}
			if (dir != NP_DIR_EGRESS || !has_named)
				continue;
			/* Egress: named ports resolve against each
			 * destination pod, so they apply per pod address. */
			c->stamp_now++;
			for (size_t j = 0; j < rp->n_pods; j++)
				c->stamp[rp->pods[j]] = c->stamp_now;
			for (size_t pi = 0; pi < o->n_pods; pi++) {
				const struct np_pod *dst = &o->pods[pi];

				if (!c->eligible[pi])
					continue;
				for (size_t j = 0; j < dst->n_ips; j++) {
					struct np_block b;

					if (!rule_covers_pod(c, rp, pi, &dst->ips[j]))
						continue;
					err = rule_specs(r, dst, false, &specs,
							 &n_specs, &has_named);
					if (err)
						goto cleanup;
					if (n_specs == 0) {
						free(specs);
						continue;
					}
					err = item_intern(c, &it, cookie, specs,
							  n_specs, &idx);
					if (err)
						goto cleanup;
					addr_block(&dst->ips[j], idx, &b);
					err = np_vec_push(&blocks, &n_blocks,
							  &cap_blocks, &b);
					if (err)
						goto cleanup;
				}
			}
		}
	}
	err = np_flatten(blocks, n_blocks, &flat);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < flat.n; i++) {
		struct np_peer_entry pe = { .prefix = flat.entries[i].prefix };
		const uint32_t *idx = flat.items + flat.entries[i].off;
		size_t n = flat.entries[i].n;

		/* Neighbouring prefixes mostly carry the same items (every
		 * pod a rule selects): same items, same class, no key to
		 * build and look up again. */
		if (have_prev && n == prev_n &&
		    (n == 0 || memcmp(idx, prev_idx, n * sizeof(*idx)) == 0)) {
			pe.class_id = prev_class;
		} else {
			err = class_for_items(c, &it, idx, n, &pe.class_id);
			if (err)
				goto cleanup;
			have_prev = true;
			prev_idx = idx;
			prev_n = n;
			prev_class = pe.class_id;
		}
		err = np_vec_push(&set->peers, &set->n_peers, &cap_peers, &pe);
		if (err)
			goto cleanup;
	}
cleanup:
	np_flat_free(&flat);
	free(blocks);
	items_free(&it);
	return err;
}

struct port_emit {
	struct np_class *cls;
	size_t cap;
	uint8_t proto;
	uint32_t cookie;
	int err;
};

static void add_port_entry(struct port_emit *pe, uint8_t plen, uint16_t port)
{
	struct np_class *cls = pe->cls;
	struct np_port_entry e = { plen, pe->proto, port, pe->cookie };

	if (pe->err)
		return;
	/* Same key from two items: keep the lowest cookie, deterministically. */
	for (size_t i = 0; i < cls->n; i++) {
		struct np_port_entry *x = &cls->entries[i];

		if (x->plen == plen && x->proto == e.proto && x->port == port) {
			if (e.cookie < x->cookie)
				x->cookie = e.cookie;
			return;
		}
	}
	pe->err = np_vec_push(&cls->entries, &cls->n, &pe->cap, &e);
}

static void emit_range(uint16_t port, uint8_t bits, void *ctx)
{
	add_port_entry(ctx, (uint8_t)(NP_PORT_KEY_BITS_PROTO + bits), port);
}

static int class_for_items(struct ctx *c, const struct items *it,
			   const uint32_t *idx, size_t n, uint32_t *class_id)
{
	struct port_emit pe = { 0 };
	struct np_class cls = { 0 };
	uint32_t *known;
	int err;

	if (n == 0) {
		*class_id = 0;
		return 0;
	}
	sb_reset(&c->key);
	sb_add(&c->key, "class");
	for (size_t i = 0; i < n; i++)
		sb_add(&c->key, "|%s", it->v[idx[i]].key);
	if (c->key.oom)
		return -ENOMEM;
	err = np_ids_get(c->ids, c->key.s, class_id);
	if (err)
		return err;
	known = np_hashmap_get(&c->class_index, c->key.s);
	if (known)
		return 0;
	err = np_hashmap_put(&c->class_index, c->key.s, class_id);
	if (err)
		return err;
	cls.id = *class_id;
	pe.cls = &cls;
	for (size_t i = 0; i < n; i++) {
		const struct item *item = &it->v[idx[i]];

		pe.cookie = item->cookie;
		for (size_t j = 0; j < item->n_specs; j++) {
			const struct spec *s = &item->specs[j];

			pe.proto = s->proto;
			if (s->proto == 0)
				add_port_entry(&pe, NP_PORT_KEY_BITS_CLASS, 0);
			else if (s->all_ports)
				add_port_entry(&pe, NP_PORT_KEY_BITS_PROTO, 0);
			else
				np_port_range_prefixes(s->lo, s->hi, emit_range,
						       &pe);
		}
	}
	if (pe.err) {
		free(cls.entries);
		return pe.err;
	}
	err = np_vec_push(&c->out->classes, &c->out->n_classes,
			  &c->cap_classes, &cls);
	if (err)
		free(cls.entries);
	return err;
}

static int set_for_pod(struct ctx *c, enum np_dir dir, size_t pod_idx,
		       uint32_t *set_id, bool *audit)
{
	const struct np_objects *o = c->objs;
	const struct np_pod *pod = &o->pods[pod_idx];
	const size_t *pols = c->selected[pod_idx].v[dir];
	size_t n_pols = c->selected[pod_idx].n[dir];
	bool named = false;
	size_t *found;
	struct np_set set = { 0 };
	int err = 0;

	*set_id = 0;
	*audit = false;
	for (size_t k = 0; k < n_pols; k++) {
		size_t pi = pols[k];

		for (size_t i = 0; i < o->policies[pi].n_rules[dir]; i++)
			for (size_t k = 0; k < o->policies[pi].rules[dir][i].n_ports; k++)
				if (o->policies[pi].rules[dir][i].ports[k].name)
					named = true;
	}
	if (err || n_pols == 0)
		goto cleanup;
	sb_reset(&c->key);
	sb_add(&c->key, "set|%d", dir);
	for (size_t k = 0; k < n_pols; k++)
		sb_add(&c->key, "|%s/%s", o->policies[pols[k]].ns,
		       o->policies[pols[k]].name);
	if (named && dir == NP_DIR_INGRESS) {
		/* The set depends on this pod's own named ports. */
		sb_add(&c->key, "|ports");
		for (size_t i = 0; i < pod->n_ports; i++)
			if (pod->ports[i].name)
				sb_add(&c->key, ",%s/%u/%u", pod->ports[i].name,
				       pod->ports[i].proto, pod->ports[i].port);
	}
	if (c->key.oom) {
		err = -ENOMEM;
		goto cleanup;
	}
	found = np_hashmap_get(&c->set_index, c->key.s);
	if (found) {
		*set_id = c->out->sets[*found].id;
		*audit = c->out->sets[*found].audit;
		goto cleanup;
	}
	{
		char *set_key = strdup(c->key.s);
		size_t idx = c->out->n_sets;

		if (!set_key) {
			err = -ENOMEM;
			goto cleanup;
		}
		err = np_ids_get(c->ids, set_key, &set.id);
		if (!err)
			err = build_set(c, dir, pod, pols, n_pols, &set);
		if (!err)
			err = np_vec_push(&c->out->sets, &c->out->n_sets,
					  &c->cap_sets, &set);
		if (!err)
			err = np_hashmap_put(&c->set_index, set_key, &idx);
		free(set_key);
		if (err) {
			if (idx == c->out->n_sets) {
				for (size_t i = 0; i < set.n_policies; i++)
					free(set.policies[i]);
				free(set.policies);
				free(set.peers);
			}
			goto cleanup;
		}
		*set_id = set.id;
		*audit = set.audit;
	}
cleanup:
	return err;
}

static int add_node_addr(struct np_compiled *out, size_t *cap,
			 const struct np_addr *a)
{
	for (size_t i = 0; i < out->n_node_addrs; i++)
		if (memcmp(&out->node_addrs[i], a, sizeof(*a)) == 0)
			return 0;
	return np_vec_push(&out->node_addrs, &out->n_node_addrs, cap, a);
}

static int build_endpoints(struct ctx *c)
{
	const struct np_objects *o = c->objs;
	struct np_compiled *out = c->out;
	struct np_hashmap seen; /* addr -> pod index */
	size_t cap_eps = 0, cap_nodes = 0;
	int err;

	err = np_hashmap_init(&seen, sizeof(struct np_addr), sizeof(size_t));
	if (err)
		return err;
	for (size_t i = 0; i < c->opts->n_node_addrs && !err; i++)
		err = add_node_addr(out, &cap_nodes, &c->opts->node_addrs[i]);
	for (size_t pi = 0; pi < o->n_pods && !err; pi++) {
		const struct np_pod *pod = &o->pods[pi];
		struct np_endpoint ep = { 0 };
		char *name;

		if (pod->host_network) {
			for (size_t j = 0; j < pod->n_ips && !err &&
					   c->opts->host_network_is_node; j++)
				err = add_node_addr(out, &cap_nodes, &pod->ips[j]);
			continue;
		}
		if (!c->eligible[pi])
			continue;
		for (int d = 0; d < NP_DIR_MAX && !err; d++) {
			bool audit;

			err = set_for_pod(c, d, pi, &ep.set_id[d], &audit);
			if (audit)
				ep.flags |= d == NP_DIR_INGRESS ? NP_EP_AUDIT_INGRESS
								: NP_EP_AUDIT_EGRESS;
		}
		if (err)
			break;
		sb_reset(&c->key);
		sb_add(&c->key, "ep|%s/%s", pod->ns, pod->name);
		if (c->key.oom) {
			err = -ENOMEM;
			break;
		}
		err = np_ids_get(c->ids, c->key.s, &ep.ep_id);
		if (err)
			break;
		if (asprintf(&name, "%s/%s", pod->ns, pod->name) < 0) {
			err = -ENOMEM;
			break;
		}
		err = np_hashmap_put(&out->ep_names, &ep.ep_id, &name);
		if (err) {
			free(name);
			break;
		}
		for (size_t j = 0; j < pod->n_ips && !err; j++) {
			struct np_compiled_ep cep = { pod->ips[j], ep, pod };
			size_t *other = np_hashmap_get(&seen, &pod->ips[j]);

			if (other) {
				char buf[64];
				const struct np_pod *op = &o->pods[*other];

				snprintf(c->err->msg, sizeof(c->err->msg),
					 "%s: Pod %s/%s: status.podIPs: address %s is also used by Pod %s/%s (%s); remove the stale object",
					 pod->source ? pod->source : "?", pod->ns,
					 pod->name,
					 np_addr_str(&pod->ips[j], buf, sizeof(buf)),
					 op->ns, op->name,
					 op->source ? op->source : "?");
				err = -EINVAL;
				break;
			}
			err = np_hashmap_put(&seen, &pod->ips[j], &pi);
			if (!err)
				err = np_vec_push(&out->eps, &out->n_eps,
						  &cap_eps, &cep);
		}
	}
	np_hashmap_free(&seen);
	return err;
}

static void ctx_free(struct ctx *c)
{
	const struct np_objects *o = c->objs;

	for (size_t i = 0; i < c->n_nss; i++)
		free(c->nss[i].pods);
	free(c->nss);
	np_hashmap_free(&c->ns_index);
	if (c->selected) {
		for (size_t i = 0; i < o->n_pods; i++)
			for (int d = 0; d < NP_DIR_MAX; d++)
				free(c->selected[i].v[d]);
		free(c->selected);
	}
	for (size_t i = 0; i < c->n_synth; i++)
		free(c->synth[i].items);
	free(c->synth);
	if (c->peers) {
		for (size_t pi = 0; pi < o->n_policies; pi++) {
			const struct np_policy *p = &o->policies[pi];
			size_t total = p->n_rules[0] + p->n_rules[1];

			if (!c->peers[pi])
				continue;
			for (size_t s = 0; s < total; s++) {
				free(c->peers[pi][s].pods);
				free(c->peers[pi][s].blocks);
			}
			free(c->peers[pi]);
		}
	}
	free(c->peers);
	if (c->cookies)
		for (size_t pi = 0; pi < o->n_policies; pi++)
			free(c->cookies[pi]);
	free(c->cookies);
	free(c->eligible);
	free(c->stamp);
	np_hashmap_free(&c->set_index);
	np_hashmap_free(&c->class_index);
	free(c->key.s);
	for (size_t i = 0; i < c->n_memos; i++)
		free(c->memos[i].pods);
	free(c->memos);
	np_hashmap_free(&c->peer_index);
	free(c->peer_key.s);
}

int np_compile(const struct np_objects *objs, const struct np_compile_opts *opts,
	       struct np_ids *ids, struct np_compiled *out, struct np_error *err)
{
	static const struct np_compile_opts no_opts;
	struct ctx c = { 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	err->msg[0] = '\0';
	c.objs = objs;
	c.opts = opts ? opts : &no_opts;
	c.ids = ids;
	c.out = out;
	c.err = err;
	np_hashmap_init(&out->rules, sizeof(uint32_t), sizeof(struct np_rule_ref));
	np_hashmap_init(&out->ep_names, sizeof(uint32_t), sizeof(char *));
	np_hashmap_init(&c.set_index, 0, sizeof(size_t));
	np_hashmap_init(&c.class_index, 0, sizeof(uint32_t));
	np_hashmap_init(&c.peer_index, 0, sizeof(size_t));
	c.eligible = calloc(objs->n_pods + 1, sizeof(bool));
	c.stamp = calloc(objs->n_pods + 1, sizeof(uint32_t));
	if (!c.eligible || !c.stamp) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < objs->n_pods; i++)
		c.eligible[i] = !objs->pods[i].host_network && objs->pods[i].n_ips > 0;
	ret = index_namespaces(&c);
	if (!ret)
		ret = prepare_policies(&c);
	if (!ret)
		ret = select_targets(&c);
	if (!ret)
		ret = build_endpoints(&c);
cleanup:
	ctx_free(&c);
	if (ret) {
		if (!err->msg[0])
			snprintf(err->msg, sizeof(err->msg),
				 "compiling policies failed: %s", strerror(-ret));
		np_compiled_free(out);
	}
	return ret;
}

void np_compiled_free(struct np_compiled *c)
{
	const void *k;
	void *v;

	free(c->eps);
	for (size_t i = 0; i < c->n_sets; i++) {
		for (size_t j = 0; j < c->sets[i].n_policies; j++)
			free(c->sets[i].policies[j]);
		free(c->sets[i].policies);
		free(c->sets[i].peers);
	}
	free(c->sets);
	for (size_t i = 0; i < c->n_classes; i++)
		free(c->classes[i].entries);
	free(c->classes);
	free(c->node_addrs);
	for (size_t it = 0; np_hashmap_next(&c->rules, &it, &k, &v);) {
		struct np_rule_ref *r = v;

		free(r->ns);
		free(r->name);
	}
	np_hashmap_free(&c->rules);
	for (size_t it = 0; np_hashmap_next(&c->ep_names, &it, &k, &v);)
		free(*(char **)v);
	np_hashmap_free(&c->ep_names);
	memset(c, 0, sizeof(*c));
}

const struct np_rule_ref *np_compiled_rule(const struct np_compiled *c,
					   uint32_t cookie)
{
	return np_hashmap_get(&c->rules, &cookie);
}

const struct np_set *np_compiled_set(const struct np_compiled *c, uint32_t id)
{
	for (size_t i = 0; i < c->n_sets; i++)
		if (c->sets[i].id == id)
			return &c->sets[i];
	return NULL;
}
