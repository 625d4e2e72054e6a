// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Atomic policy updates: map sync writes through a fake writer that keeps a
 * model of the maps and, after every single write, resolves a set of probes
 * the way the datapath does (endpoint -> set -> longest peer prefix -> class
 * -> port entries).  Every intermediate resolution must be the old one or the
 * new one, and a class must be complete whenever a packet can reach it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compile.h"
#include "mapsync.h"

#define MAX_PROBES 16
#define MAX_STEPS 4096

struct probe {
	const char *pod;  /* local pod address */
	const char *peer; /* remote address */
};

/* What one probe sees: the set and the class (0: none). */
struct view {
	uint32_t set, cls;
};

struct model {
	struct np_hashmap maps[NP_SYNC_MAPS];
	const struct probe *probes;
	size_t n_probes;
	struct view seen[MAX_STEPS][MAX_PROBES];
	size_t steps;
	/* class id -> number of port entries it must have, from the target */
	struct np_hashmap class_size;
	bool incomplete_class_reachable;
};

static size_t key_size(int m)
{
	switch (m) {
	case NP_SYNC_ENDPOINTS:
	case NP_SYNC_NODE_ADDRS:
		return sizeof(struct np_addr);
	case NP_SYNC_IFACES:
		return sizeof(uint32_t);
	case NP_SYNC_PEERS:
		return sizeof(struct np_peer_key);
	default:
		return sizeof(struct np_port_key);
	}
}

static size_t val_size(int m)
{
	switch (m) {
	case NP_SYNC_ENDPOINTS:
		return sizeof(struct np_endpoint);
	case NP_SYNC_IFACES:
		return sizeof(struct np_iface);
	case NP_SYNC_NODE_ADDRS:
		return sizeof(uint32_t);
	case NP_SYNC_PEERS:
		return sizeof(struct np_peer_val);
	default:
		return sizeof(struct np_port_val);
	}
}

static struct view resolve(struct model *md, const struct probe *p)
{
	struct view v = { 0, 0 };
	struct np_addr pod, peer;
	const struct np_endpoint *ep;
	const void *k;
	void *val;
	int best = -1;

	assert_int_equal(np_addr_parse(p->pod, &pod), 0);
	assert_int_equal(np_addr_parse(p->peer, &peer), 0);
	ep = np_hashmap_get(&md->maps[NP_SYNC_ENDPOINTS], &pod);
	if (!ep)
		return v;
	v.set = ep->set_id[NP_DIR_INGRESS];
	for (size_t it = 0; np_hashmap_next(&md->maps[NP_SYNC_PEERS], &it, &k, &val);) {
		const struct np_peer_key *pk = k;
		struct np_cidr c;
		int plen = (int)pk->prefixlen - NP_PEER_KEY_BITS_FIXED;

		if (pk->set_id != v.set || plen <= best)
			continue;
		memcpy(c.addr.b, pk->addr, NP_ADDR_LEN);
		c.plen = (uint8_t)plen;
		c.v4 = pk->family == NP_FAMILY_IPV4;
		if (!np_cidr_contains_addr(&c, &peer))
			continue;
		best = plen;
		v.cls = ((const struct np_peer_val *)val)->class_id;
	}
	if (v.cls) {
		/* the class must be complete whenever it is reachable */
		uint32_t *want = np_hashmap_get(&md->class_size, &v.cls);
		uint32_t have = 0;

		for (size_t it = 0; np_hashmap_next(&md->maps[NP_SYNC_PORTS], &it, &k, NULL);)
			if (((const struct np_port_key *)k)->class_id == v.cls)
				have++;
		if (!want || have != *want)
			md->incomplete_class_reachable = true;
	}
	return v;
}

static void record(struct model *md)
{
	assert_true(md->steps < MAX_STEPS);
	for (size_t i = 0; i < md->n_probes; i++)
		md->seen[md->steps][i] = resolve(md, &md->probes[i]);
	md->steps++;
}

static int fake_update(void *ctx, int map, const void *key, const void *val)
{
	struct model *md = ctx;

	assert_int_equal(np_hashmap_put(&md->maps[map], key, val), 0);
	record(md);
	return 0;
}

static int fake_del(void *ctx, int map, const void *key)
{
	struct model *md = ctx;

	np_hashmap_del(&md->maps[map], key);
	record(md);
	return 0;
}

static int fake_bump(void *ctx)
{
	(void)ctx;
	return 0;
}

struct env {
	struct model md;
	struct np_mapsync sync;
	struct np_ids ids;
	struct np_objects objs[2];
	struct np_compiled c[2];
};

static void compile_yaml(struct env *e, int slot, const char *yaml)
{
	struct np_error err;

	memset(&e->objs[slot], 0, sizeof(e->objs[slot]));
	if (np_objects_load_buffer(&e->objs[slot], "t.yaml", yaml, strlen(yaml), &err))
		fail_msg("%s", err.msg);
	if (np_compile(&e->objs[slot], NULL, &e->ids, &e->c[slot], &err))
		fail_msg("%s", err.msg);
}

static void set_class_sizes(struct env *e, const struct np_compiled *c)
{
	for (size_t i = 0; i < c->n_classes; i++) {
		uint32_t n = (uint32_t)c->classes[i].n;

		assert_int_equal(np_hashmap_put(&e->md.class_size, &c->classes[i].id, &n), 0);
	}
}

static void env_init(struct env *e, const struct probe *probes, size_t n)
{
	struct np_map_fds fds = { .fd = { -1, -1, -1, -1, -1 }, .state = -1 };
	uint32_t limits[NP_SYNC_MAPS] = { 0 };
	struct np_map_writer w = { fake_update, fake_del, fake_bump, &e->md };

	memset(e, 0, sizeof(*e));
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		np_hashmap_init(&e->md.maps[m], key_size(m), val_size(m));
	np_hashmap_init(&e->md.class_size, sizeof(uint32_t), sizeof(uint32_t));
	e->md.probes = probes;
	e->md.n_probes = n;
	np_ids_init(&e->ids);
	np_mapsync_init(&e->sync, &fds, limits);
	np_mapsync_set_writer(&e->sync, &w);
}

static void env_free(struct env *e)
{
	for (int i = 0; i < 2; i++) {
		np_compiled_free(&e->c[i]);
		np_objects_free(&e->objs[i]);
	}
	np_mapsync_free(&e->sync);
	np_ids_free(&e->ids);
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		np_hashmap_free(&e->md.maps[m]);
	np_hashmap_free(&e->md.class_size);
}

/* Apply FROM (slot 0) then TO (slot 1); every state in between must show each
 * probe its FROM view or its TO view. */
static void check_transition(const char *from, const char *to,
			     const struct probe *probes, size_t n)
{
	struct env *e = calloc(1, sizeof(*e));
	struct view before[MAX_PROBES], after[MAX_PROBES];
	struct np_sync_stats st;
	struct np_error err;
	size_t first;

	assert_non_null(e);
	env_init(e, probes, n);
	compile_yaml(e, 0, from);
	set_class_sizes(e, &e->c[0]);
	assert_int_equal(np_mapsync_apply(&e->sync, &e->c[0], NULL, 0, &st, &err), 0);
	np_ids_gc(&e->ids);
	compile_yaml(e, 1, to);
	set_class_sizes(e, &e->c[1]);
	for (size_t i = 0; i < n; i++)
		before[i] = resolve(&e->md, &probes[i]);
	first = e->md.steps;
	assert_int_equal(np_mapsync_apply(&e->sync, &e->c[1], NULL, 0, &st, &err), 0);
	for (size_t i = 0; i < n; i++)
		after[i] = resolve(&e->md, &probes[i]);
	assert_true(e->md.steps > first); /* the transition wrote something */
	for (size_t s = first; s < e->md.steps; s++)
		for (size_t i = 0; i < n; i++) {
			const struct view *v = &e->md.seen[s][i];
			bool ok = (v->set == before[i].set && v->cls == before[i].cls) ||
				  (v->set == after[i].set && v->cls == after[i].cls);

			if (!ok)
				fail_msg("write %zu: %s from %s sees set %u class %u; before set %u class %u, after set %u class %u",
					 s - first + 1, probes[i].pod, probes[i].peer, v->set, v->cls,
					 before[i].set, before[i].cls, after[i].set, after[i].cls);
		}
	assert_false(e->md.incomplete_class_reachable);
	env_free(e);
	free(e);
}

#define PODS                                                                   \
	"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nstatus: {podIP: 10.9.0.1}\n" \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: b}}\nstatus: {podIP: 10.9.0.2}\n"

#define P1(body)                                                               \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p1, namespace: x}\n" \
	"spec:\n  podSelector: {matchLabels: {app: a}}\n  ingress:\n" body

static const struct probe probes[] = {
	{ "10.9.0.1", "10.1.2.3" }, { "10.9.0.1", "10.1.200.3" }, { "10.9.0.1", "10.2.3.4" },
	{ "10.9.0.1", "11.0.0.1" }, { "10.9.0.1", "10.9.0.2" },   { "10.9.0.1", "10.3.3.3" },
	{ "10.9.0.2", "10.1.2.3" },
};

static const char *const policy_a =
	PODS P1("  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]\n    ports: [{port: 80}]\n");
/* The /8 changes class and a more specific /16 appears: the /16 must be in
 * place before the /8 changes, or 10.1.x would briefly see the new /8. */
static const char *const policy_b =
	PODS P1("  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n    ports: [{port: 82}]\n"
		"  - from: [{ipBlock: {cidr: 10.1.0.0/16, except: [10.1.128.0/17]}}, {podSelector: {matchLabels: {app: b}}}]\n    ports: [{port: 81}]\n");
/* A second policy selects the pod: a new set, switched in by the endpoint. */
static const char *const policy_c =
	PODS P1("  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]\n    ports: [{port: 80}]\n")
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p2, namespace: x}\n"
	"spec:\n  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.3.0.0/16}}]\n";

static void test_in_place_set_change(void **state)
{
	(void)state;
	check_transition(policy_a, policy_b, probes, sizeof(probes) / sizeof(probes[0]));
}

static void test_in_place_set_change_back(void **state)
{
	(void)state;
	check_transition(policy_b, policy_a, probes, sizeof(probes) / sizeof(probes[0]));
}

static void test_new_set_switched_by_endpoint(void **state)
{
	(void)state;
	check_transition(policy_a, policy_c, probes, sizeof(probes) / sizeof(probes[0]));
	check_transition(policy_c, policy_b, probes, sizeof(probes) / sizeof(probes[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_place_set_change),
		cmocka_unit_test(test_in_place_set_change_back),
		cmocka_unit_test(test_new_set_switched_by_endpoint),
	};

	return cmocka_run_group_tests_name("mapsync", tests, NULL, NULL);
}
