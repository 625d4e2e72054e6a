// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Compiler + map sync + the real programs together: policy updates are
 * incremental, refused whole when they don't fit, and cut exactly the
 * established connections the new policy no longer allows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "compile.h"
#include "loader.h"
#include "mapsize.h"
#include "mapsync.h"
#include "pkt.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#define CLUSTER                                                                \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: relay}\n"          \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: relay-0, namespace: relay, labels: {app: relay}}\n" \
	"status: {podIP: 10.244.1.10}\n"                                       \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: relay, labels: {app: client}}\n" \
	"status: {podIP: 10.244.1.20}\n"                                       \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: other, namespace: relay, labels: {app: other}}\n" \
	"status: {podIP: 10.244.1.30}\n"

#define POLICY(ports)                                                          \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"        \
	"metadata: {name: relay-allow, namespace: relay}\n"                    \
	"spec:\n  podSelector: {matchLabels: {app: relay}}\n  ingress:\n"      \
	"  - from: [{podSelector: {matchLabels: {app: client}}}]\n"            \
	"    ports: " ports "\n"                                               \
	"  - from: [{ipBlock: {cidr: 10.250.0.0/16, except: [10.250.9.0/24]}}]\n" \
	"    ports: [{port: 443}]\n"

struct env {
	struct np_datapath dp;
	struct np_mapsync sync;
	struct np_ids ids;
	struct np_objects objs;
	struct np_compiled compiled;
	struct np_load_opts lopts;
};

static int apply_yaml(struct env *e, const char *yaml, struct np_sync_stats *st,
		      struct np_error *err)
{
	struct np_objects objs = { 0 };
	struct np_compiled c;
	int ret;

	ret = np_objects_load_buffer(&objs, "test.yaml", yaml, strlen(yaml), err);
	if (ret)
		return ret;
	ret = np_compile(&objs, NULL, &e->ids, &c, err);
	if (ret) {
		np_objects_free(&objs);
		return ret;
	}
	ret = np_mapsync_apply(&e->sync, &c, NULL, 0, st, err);
	if (ret) {
		np_compiled_free(&c);
		np_objects_free(&objs);
		return ret;
	}
	np_ids_gc(&e->ids);
	np_compiled_free(&e->compiled);
	np_objects_free(&e->objs);
	e->compiled = c;
	e->objs = objs;
	return 0;
}

static int setup_with(void **state, uint32_t max_peers)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	np_load_opts_default(&e->lopts);
	e->lopts.emit_events = false;
	if (max_peers)
		e->lopts.max_peers = max_peers;
	if (np_datapath_load(&e->dp, &e->lopts)) {
		free(e);
		return -1;
	}
	np_mapsync_open(&e->sync, &e->dp, &e->lopts);
	np_ids_init(&e->ids);
	*state = e;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0);
}

static int setup_small(void **state)
{
	return setup_with(state, 8);
}

static int teardown(void **state)
{
	struct env *e = *state;

	np_compiled_free(&e->compiled);
	np_objects_free(&e->objs);
	np_ids_free(&e->ids);
	np_mapsync_free(&e->sync);
	np_datapath_close(&e->dp);
	free(e);
	return 0;
}

/* Run one TCP packet from SRC:SPORT to the relay pod's PORT through
 * np_pod_ingress; returns the TC action. */
static uint32_t to_relay(struct env *e, const char *src, uint16_t sport,
			 uint16_t port, uint8_t flags)
{
	struct np_pkt_spec s = { 0 };
	unsigned char buf[256];
	uint32_t retval = 99;
	int len;

	assert_int_equal(np_addr_parse(src, &s.src), 0);
	assert_int_equal(np_addr_parse("10.244.1.10", &s.dst), 0);
	s.proto = NP_PROTO_TCP;
	s.sport = sport;
	s.dport = port;
	s.tcp_flags = flags;
	len = np_pkt_build(&s, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(np_prog_run(e->dp.prog_ingress, buf, (size_t)len, &retval, 1, NULL), 0);
	return retval;
}

static void lookup_ct(struct env *e, const char *src, uint16_t sport,
		      uint16_t port, struct np_ct_val *val, bool *found)
{
	struct np_ct_key k = { 0 };

	assert_int_equal(np_addr_parse("10.244.1.10", &k.local), 0);
	assert_int_equal(np_addr_parse(src, &k.remote), 0);
	k.local_port = htons(port);
	k.remote_port = htons(sport);
	k.proto = NP_PROTO_TCP;
	k.ifindex = 1; /* loopback: the device of bpf_prog_test_run */
	*found = bpf_map_lookup_elem(e->dp.map_ct, &k, val) == 0;
}

static void test_verdicts_and_attribution(void **state)
{
	struct env *e = *state;
	struct np_sync_stats st;
	struct np_error err;
	struct np_ct_val v;
	bool found;
	const struct np_rule_ref *r;

	assert_int_equal(apply_yaml(e, CLUSTER POLICY("[{port: 80}]"), &st, &err), 0);
	assert_int_equal(to_relay(e, "10.244.1.20", 40000, 80, 0x02), TC_ACT_OK);
	lookup_ct(e, "10.244.1.20", 40000, 80, &v, &found);
	assert_true(found);
	assert_int_equal(v.reason, NP_REASON_POLICY);
	r = np_compiled_rule(&e->compiled, v.cookie);
	assert_non_null(r);
	assert_string_equal(r->name, "relay-allow");
	assert_int_equal(r->index, 0);
	assert_int_equal(to_relay(e, "10.244.1.30", 40000, 80, 0x02), TC_ACT_SHOT);
	assert_int_equal(to_relay(e, "10.250.3.3", 40000, 443, 0x02), TC_ACT_OK);
	lookup_ct(e, "10.250.3.3", 40000, 443, &v, &found);
	assert_true(found);
	r = np_compiled_rule(&e->compiled, v.cookie);
	assert_non_null(r);
	assert_int_equal(r->index, 1);
	assert_int_equal(to_relay(e, "10.250.9.3", 40000, 443, 0x02), TC_ACT_SHOT);
	assert_int_equal(to_relay(e, "10.250.3.3", 40001, 8443, 0x02), TC_ACT_SHOT);
}

static void test_change_cuts_only_what_is_no_longer_allowed(void **state)
{
	struct env *e = *state;
	struct np_sync_stats st;
	struct np_error err;
	struct np_ct_val v;
	bool found;

	assert_int_equal(apply_yaml(e, CLUSTER POLICY("[{port: 80}, {port: 81}]"), &st, &err), 0);
	/* two established connections from the client: to 80 and to 81 */
	assert_int_equal(to_relay(e, "10.244.1.20", 40000, 80, 0x02), TC_ACT_OK);
	assert_int_equal(to_relay(e, "10.244.1.20", 40001, 81, 0x02), TC_ACT_OK);
	assert_int_equal(to_relay(e, "10.244.1.20", 40000, 80, 0x10), TC_ACT_OK);
	assert_int_equal(to_relay(e, "10.244.1.20", 40001, 81, 0x10), TC_ACT_OK);
	/* the new policy drops port 81 */
	assert_int_equal(apply_yaml(e, CLUSTER POLICY("[{port: 80}]"), &st, &err), 0);
	assert_int_equal(to_relay(e, "10.244.1.20", 40000, 80, 0x10), TC_ACT_OK);
	assert_int_equal(to_relay(e, "10.244.1.20", 40001, 81, 0x10), TC_ACT_SHOT);
	/* the cut connection stays as a tombstone: its next packets are
	 * dropped too, not picked up as new (see test_datapath.c) */
	lookup_ct(e, "10.244.1.20", 40001, 81, &v, &found);
	assert_true(found);
	assert_int_equal(v.verdict, NP_VERDICT_DENY);
	assert_int_equal(v.reason, NP_REASON_REVOKED);
	assert_int_equal(to_relay(e, "10.244.1.20", 40001, 81, 0x10), TC_ACT_SHOT);
	lookup_ct(e, "10.244.1.20", 40000, 80, &v, &found);
	assert_true(found);
	/* and the surviving connection keeps passing */
	assert_int_equal(to_relay(e, "10.244.1.20", 40000, 80, 0x10), TC_ACT_OK);
}

/* A copy of S with the first FROM replaced by TO. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	char *out;

	assert_non_null(p);
	out = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, s, (size_t)(p - s));
	strcpy(out + (p - s), to);
	strcat(out, p + strlen(from));
	return out;
}

static void test_label_change_is_incremental(void **state)
{
	struct env *e = *state;
	struct np_sync_stats st;
	struct np_error err;
	size_t total = 0;
	const char *yaml = CLUSTER POLICY("[{port: 80}]");
	char *relabelled = replace(yaml, "{app: other}", "{app: client}");

	assert_int_equal(apply_yaml(e, yaml, &st, &err), 0);
	assert_int_equal(to_relay(e, "10.244.1.30", 40000, 80, 0x02), TC_ACT_SHOT);
	/* "other" becomes a client: only its peer entry changes */
	assert_int_equal(apply_yaml(e, relabelled, &st, &err), 0);
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		total += st.upserts[m] + st.deletes[m];
	assert_true(total >= 1);
	assert_true(total <= 2);
	assert_int_equal(st.upserts[NP_SYNC_PORTS] + st.deletes[NP_SYNC_PORTS], 0);
	/* denied 5-tuples are re-judged after the change too */
	assert_int_equal(to_relay(e, "10.244.1.30", 40000, 80, 0x02), TC_ACT_OK);
	free(relabelled);
}

static size_t map_entries(int fd, size_t key_size)
{
	unsigned char key[64], next[64];
	void *prev = NULL;
	size_t n = 0;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

/* Sets and classes that disappear take their entries with them, and a set
 * that comes back is written again (the per-set bookkeeping must not think
 * it is still there). */
static void test_removed_policy_leaves_nothing_behind(void **state)
{
	struct env *e = *state;
	struct np_sync_stats st;
	struct np_error err;

	assert_int_equal(apply_yaml(e, CLUSTER POLICY("[{port: 80}]"), &st, &err), 0);
	assert_true(map_entries(e->dp.map_peers, sizeof(struct np_peer_key)) > 0);
	assert_true(map_entries(e->dp.map_ports, sizeof(struct np_port_key)) > 0);
	assert_int_equal(apply_yaml(e, CLUSTER, &st, &err), 0);
	assert_int_equal(map_entries(e->dp.map_peers, sizeof(struct np_peer_key)), 0);
	assert_int_equal(map_entries(e->dp.map_ports, sizeof(struct np_port_key)), 0);
	assert_int_equal(to_relay(e, "10.244.1.30", 40000, 80, 0x02), TC_ACT_OK); /* not isolated */
	assert_int_equal(apply_yaml(e, CLUSTER POLICY("[{port: 80}]"), &st, &err), 0);
	assert_int_equal(to_relay(e, "10.244.1.30", 40001, 80, 0x02), TC_ACT_SHOT);
	assert_int_equal(to_relay(e, "10.244.1.20", 40002, 80, 0x02), TC_ACT_OK);
	/* reapplying the same objects writes nothing */
	assert_int_equal(apply_yaml(e, CLUSTER POLICY("[{port: 80}]"), &st, &err), 0);
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		assert_int_equal(st.upserts[m] + st.deletes[m], 0);
}

static void test_too_small_keeps_last_good_policy(void **state)
{
	struct env *e = *state;
	struct np_sync_stats st;
	struct np_error err;
	char big[16384];
	size_t off;
	uint32_t before;

	assert_int_equal(apply_yaml(e, CLUSTER POLICY("[{port: 80}]"), &st, &err), 0);
	before = (uint32_t)e->sync.mirror[NP_SYNC_PEERS].count;
	assert_int_equal(to_relay(e, "10.244.1.20", 40000, 80, 0x02), TC_ACT_OK);
	off = (size_t)snprintf(big, sizeof(big), "%s%s", CLUSTER POLICY("[{port: 80}]"),
			       "  - from:\n");
	for (int i = 0; i < 20; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off,
					"    - ipBlock: {cidr: 192.168.%d.0/24}\n", i);
	assert_int_equal(apply_yaml(e, big, &st, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "np_peers"));
	assert_non_null(strstr(err.msg, "--map-size peers=N"));
	assert_int_equal(e->sync.mirror[NP_SYNC_PEERS].count, before);
	/* the old policy still judges */
	assert_int_equal(to_relay(e, "192.168.3.3", 40000, 80, 0x02), TC_ACT_SHOT);
	assert_int_equal(to_relay(e, "10.244.1.20", 40002, 80, 0x02), TC_ACT_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verdicts_and_attribution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_cuts_only_what_is_no_longer_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_change_is_incremental, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_policy_leaves_nothing_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_small_keeps_last_good_policy, setup_small, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_policy_update: needs root (BPF)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("policy_update", tests, NULL, NULL);
}
