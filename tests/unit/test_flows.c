// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Flow records on the node: aggregation (flowagg.c), JSON records
 * (flowrec.c) with Kubernetes context (flowmeta.c), the file sink with
 * rotation (filesink.c) and the `netpolctl flows` filters (flowfilter.c). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>
#include <jansson.h>

#include "compile.h"
#include "filesink.h"
#include "flowagg.h"
#include "flowfilter.h"
#include "flowlog.h"
#include "flowmeta.h"
#include "flowrec.h"
#include "model.h"

#define S 1000000000ull /* ns per second */

/* ---- a fake kernel: entries the aggregator reads and expires ---- */

struct fake_entry {
	struct np_flow_key k;
	struct np_ct_val v;
	bool present;
	int expired; /* times expire() removed it */
};

struct fake_kernel {
	struct fake_entry e[8];
	size_t n;
};

static struct fake_entry *fake_find(struct fake_kernel *fk, const struct np_flow_key *k)
{
	for (size_t i = 0; i < fk->n; i++)
		if (!memcmp(&fk->e[i].k.ct, &k->ct, sizeof(k->ct)) && fk->e[i].k.deny == k->deny)
			return &fk->e[i];
	return NULL;
}

static int fake_lookup(void *ctx, const struct np_flow_key *k, struct np_ct_val *v)
{
	struct fake_entry *e = fake_find(ctx, k);

	if (!e || !e->present)
		return -ENOENT;
	*v = e->v;
	return 0;
}

static void fake_expire(void *ctx, const struct np_flow_key *k, uint64_t last_seen)
{
	struct fake_entry *e = fake_find(ctx, k);

	if (e && e->present && e->v.last_seen == last_seen) {
		e->present = false;
		e->expired++;
	}
}

/* ---- results collected by the flush callback ---- */

struct results {
	struct np_flow_result r[16];
	struct np_flow f[16];
	size_t n;
};

static void collect(void *ctx, const struct np_flow_result *r)
{
	struct results *res = ctx;

	assert_true(res->n < 16);
	res->f[res->n] = *r->flow;
	res->r[res->n] = *r;
	res->r[res->n].flow = &res->f[res->n];
	res->n++;
}

static const struct np_flow_agg_opts agg_opts = {
	.interval_s = 60, .to_tcp_syn_s = 60, .to_tcp_est_s = 21600, .to_tcp_close_s = 10,
	.to_other_s = 60, .to_icmp_s = 30,
};

static struct np_ct_key key_in(uint16_t rport)
{
	struct np_ct_key k = { .local_port = htons(443), .remote_port = htons(rport),
			       .proto = NP_PROTO_TCP, .ifindex = 5 };

	np_addr_parse("10.244.1.10", &k.local);
	np_addr_parse("10.250.0.5", &k.remote);
	return k;
}

static struct np_flow_event event(uint8_t kind, struct np_ct_key k, uint32_t p0, uint32_t p1)
{
	struct np_flow_event ev = { .kind = kind, .key = k, .origin = NP_DIR_INGRESS,
				    .dir = NP_DIR_INGRESS, .verdict = NP_VERDICT_ALLOW,
				    .reason = NP_REASON_POLICY, .cookie = 7, .ep_id = 3,
				    .flow = NP_FLOW_LOGGED };

	ev.packets[0] = p0;
	ev.packets[1] = p1;
	ev.bytes[0] = 100ull * p0;
	ev.bytes[1] = 1000ull * p1;
	ev.tcp_flags = NP_FLOW_TCP_SYN;
	return ev;
}

static void fake_put(struct fake_kernel *fk, struct np_ct_key k, bool deny, uint32_t p0,
		     uint32_t p1, uint64_t last_seen, uint8_t state)
{
	struct fake_entry *e;
	struct np_flow_key fkey = { .ct = k, .deny = deny };

	e = fake_find(fk, &fkey);
	if (!e) {
		e = &fk->e[fk->n++];
		memset(e, 0, sizeof(*e));
		e->k = fkey;
	}
	e->present = true;
	e->v.packets[0] = p0;
	e->v.packets[1] = p1;
	e->v.bytes[0] = 100ull * p0;
	e->v.bytes[1] = 1000ull * p1;
	e->v.last_seen = last_seen;
	e->v.state = state;
	e->v.flow = NP_FLOW_LOGGED;
}

/* Counters come from the kernel entry at each flush: one record per
 * interval with what moved, none while idle, the rest at the end. */
static void test_agg_intervals(void **state)
{
	struct fake_kernel fk = { 0 };
	struct np_flow_source src = { fake_lookup, fake_expire, &fk };
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_ct_key k = key_in(40000);
	struct np_flow_event ev = event(NP_EV_NEW, k, 1, 0);

	(void)state;
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	assert_int_equal(np_flow_agg_event(&a, &ev, 30 * S, 1000), 0);
	/* By the end of the interval the connection has 10 + 8 packets. */
	fake_put(&fk, k, false, 10, 8, 111, NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY);
	np_flow_agg_flush(&a, &src, 0, 60 * S, 60000, false, collect, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].delta.packets[0], 10);
	assert_int_equal(res.r[0].delta.packets[1], 8);
	assert_int_equal(res.r[0].delta.bytes[1], 8000);
	assert_int_equal(res.r[0].start_ns, 30 * S); /* started inside the interval */
	assert_int_equal(res.r[0].end_ns, 60 * S);
	assert_int_equal(res.r[0].tcp_flags, NP_FLOW_TCP_SYN);

	/* Idle interval: no record, flow kept. */
	res.n = 0;
	np_flow_agg_flush(&a, &src, 60 * S, 120 * S, 120000, false, collect, &res);
	assert_int_equal(res.n, 0);
	assert_int_equal(np_flow_agg_count(&a), 1);

	/* Active again: only the new packets. */
	fake_put(&fk, k, false, 15, 9, 222, NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY);
	np_flow_agg_flush(&a, &src, 120 * S, 180 * S, 180000, false, collect, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].delta.packets[0], 5);
	assert_int_equal(res.r[0].delta.packets[1], 1);
	assert_int_equal(res.r[0].start_ns, 120 * S);

	/* The end event carries the final counters; the flow is then gone. */
	res.n = 0;
	ev = event(NP_EV_END, k, 17, 10);
	ev.end = NP_END_FIN;
	assert_int_equal(np_flow_agg_event(&a, &ev, 190 * S, 190000), 0);
	np_flow_agg_flush(&a, &src, 180 * S, 240 * S, 240000, false, collect, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].delta.packets[0], 2);
	assert_int_equal(res.r[0].delta.packets[1], 1);
	assert_true(res.f[0].ended);
	assert_int_equal(res.f[0].end, NP_FLOW_END_FIN);
	assert_int_equal(res.r[0].end_ns, 190 * S); /* ended inside the interval */
	assert_int_equal(np_flow_agg_count(&a), 0);
	np_flow_agg_free(&a);
}

/* Idle past its conntrack timeout: reported as ended, entry removed; a gone
 * entry ends the flow as evicted. */
static void test_agg_timeout_and_eviction(void **state)
{
	struct fake_kernel fk = { 0 };
	struct np_flow_source src = { fake_lookup, fake_expire, &fk };
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_ct_key udp = key_in(5353), tcp = key_in(40001);
	struct np_flow_event ev;

	(void)state;
	udp.proto = NP_PROTO_UDP;
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	ev = event(NP_EV_NEW, udp, 1, 0);
	np_flow_agg_event(&a, &ev, 1 * S, 1000);
	ev = event(NP_EV_NEW, tcp, 1, 0);
	np_flow_agg_event(&a, &ev, 1 * S, 1000);
	fake_put(&fk, udp, false, 2, 2, 50, NP_TCP_SEEN_REPLY);
	fake_put(&fk, tcp, false, 3, 3, 50, NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY);
	np_flow_agg_flush(&a, &src, 0, 60 * S, 2000, false, collect, &res);
	assert_int_equal(res.n, 2);

	/* 61 s later nothing moved: UDP (60 s timeout) is over, TCP is not. */
	res.n = 0;
	np_flow_agg_flush(&a, &src, 60 * S, 120 * S, 63001, false, collect, &res);
	assert_int_equal(fk.e[0].expired, 1);
	assert_int_equal(fk.e[1].expired, 0);
	assert_int_equal(np_flow_agg_count(&a), 1);

	/* The TCP entry disappears (LRU eviction): its flow ends. */
	fk.e[1].present = false;
	np_flow_agg_flush(&a, &src, 120 * S, 180 * S, 64000, false, collect, &res);
	assert_int_equal(np_flow_agg_count(&a), 0);
	np_flow_agg_free(&a);
}

/* A NEW event for a 5-tuple still tracked: the old flow is reported as
 * replaced, the new one starts from zero.  An UPDATE for an unknown flow
 * (its NEW was lost) starts it with everything counted so far. */
static void test_agg_reuse_and_lost_new(void **state)
{
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_ct_key k = key_in(40002), k2 = key_in(40003);
	struct np_flow_event ev;

	(void)state;
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	ev = event(NP_EV_NEW, k, 1, 0);
	np_flow_agg_event(&a, &ev, 1 * S, 1000);
	ev = event(NP_EV_NEW, k, 1, 0);
	np_flow_agg_event(&a, &ev, 2 * S, 2000);
	ev = event(NP_EV_UPDATE, k2, 40, 30);
	np_flow_agg_event(&a, &ev, 3 * S, 3000);
	np_flow_agg_flush(&a, NULL, 0, 60 * S, 60000, false, collect, &res);
	assert_int_equal(res.n, 3);
	assert_int_equal(res.f[0].end, NP_FLOW_END_REPLACED);
	for (size_t i = 1; i < 3; i++) {
		if (!memcmp(&res.f[i].key.ct, &k2, sizeof(k2)))
			assert_int_equal(res.r[i].delta.packets[0] + res.r[i].delta.packets[1], 70);
		else
			assert_int_equal(res.r[i].delta.packets[0], 1);
	}
	/* final: everything reported and forgotten */
	res.n = 0;
	np_flow_agg_flush(&a, NULL, 60 * S, 61 * S, 61000, true, collect, &res);
	assert_int_equal(np_flow_agg_count(&a), 0);
	np_flow_agg_free(&a);
}

/* A connection cut by a policy change: its last record is a REJECT with
 * flowEnd "cut" and the counters up to the cut. */
static void test_agg_cut(void **state)
{
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_ct_key k = key_in(40004);
	struct np_flow_event ev = event(NP_EV_NEW, k, 1, 0);

	(void)state;
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	np_flow_agg_event(&a, &ev, 1 * S, 1000);
	ev = event(NP_EV_CUT, k, 20, 18);
	ev.verdict = NP_VERDICT_DENY;
	ev.reason = NP_REASON_NO_RULE;
	np_flow_agg_event(&a, &ev, 5 * S, 5000);
	np_flow_agg_flush(&a, NULL, 0, 60 * S, 60000, false, collect, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.f[0].end, NP_FLOW_END_CUT);
	assert_int_equal(res.f[0].verdict, NP_VERDICT_DENY);
	assert_int_equal(res.r[0].delta.packets[0] + res.r[0].delta.packets[1], 38);
	assert_string_equal(np_flow_end_name(res.f[0].end), "cut");
	assert_string_equal(np_flow_action_name(res.f[0].verdict), "REJECT");
	assert_int_equal(np_flow_agg_count(&a), 0);
	np_flow_agg_free(&a);
}

/* Denial aggregates: counted from the kernel, forgotten (and removed)
 * after two quiet intervals. */
static void test_agg_deny_forgotten_when_quiet(void **state)
{
	struct fake_kernel fk = { 0 };
	struct np_flow_source src = { fake_lookup, fake_expire, &fk };
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_ct_key k = key_in(0);
	struct np_flow_event ev = event(NP_EV_DENY, k, 1, 0);

	(void)state;
	ev.verdict = NP_VERDICT_DENY;
	ev.reason = NP_REASON_NO_RULE;
	ev.eph_port = htons(40000);
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	np_flow_agg_event(&a, &ev, 1 * S, 1000);
	fake_put(&fk, k, true, 300, 0, 10, 0);
	fk.e[0].v.flow |= NP_FLOW_MULTI_PORT;
	np_flow_agg_flush(&a, &src, 0, 60 * S, 60000, false, collect, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].delta.packets[0], 300);
	assert_true(res.f[0].flow_bits & NP_FLOW_MULTI_PORT); /* taken from the kernel */
	assert_true(res.f[0].key.deny);
	res.n = 0;
	np_flow_agg_flush(&a, &src, 60 * S, 120 * S, 120000, false, collect, &res);
	assert_int_equal(np_flow_agg_count(&a), 1);
	np_flow_agg_flush(&a, &src, 120 * S, 180 * S, 180001, false, collect, &res);
	assert_int_equal(res.n, 0);
	assert_int_equal(np_flow_agg_count(&a), 0);
	assert_int_equal(fk.e[0].expired, 1);
	np_flow_agg_free(&a);
}

/* ---- records ---- */

static const char cluster_yaml[] =
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: relay\n---\n"
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: relay-0\n  namespace: relay\n  labels:\n    app: relay\n"
	"spec:\n  containers:\n  - name: c\n    image: x\nstatus:\n  podIP: 10.244.1.10\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: client-0\n  namespace: other\n"
	"spec:\n  containers:\n  - name: c\n    image: x\nstatus:\n  podIP: 10.244.2.20\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-aks\n  namespace: relay\n"
	"spec:\n  podSelector:\n    matchLabels:\n      app: relay\n  ingress:\n  - from:\n    - ipBlock:\n        cidr: 10.250.0.0/16\n"
	"    ports:\n    - port: 443\n---\n"
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-all\n  namespace: relay\n"
	"spec:\n  podSelector: {}\n";

struct rec_env {
	struct np_objects objs;
	struct np_compiled c;
	struct np_ids ids;
	struct np_flow_meta meta;
	uint32_t relay_ep, cookie;
};

static int rec_setup(void **state)
{
	struct rec_env *e = calloc(1, sizeof(*e));
	struct np_compile_opts copts = { 0 };
	struct np_error err;
	const void *k;
	void *v;

	assert_non_null(e);
	np_ids_init(&e->ids);
	assert_int_equal(np_objects_load_buffer(&e->objs, "cluster.yaml", cluster_yaml,
						sizeof(cluster_yaml) - 1, &err), 0);
	assert_int_equal(np_compile(&e->objs, &copts, &e->ids, &e->c, &err), 0);
	assert_int_equal(np_flow_meta_build(&e->meta, &e->objs, &e->c), 0);
	for (size_t i = 0; i < e->c.n_eps; i++)
		if (e->c.eps[i].pod && !strcmp(e->c.eps[i].pod->name, "relay-0"))
			e->relay_ep = e->c.eps[i].val.ep_id;
	for (size_t it = 0; np_hashmap_next(&e->c.rules, &it, &k, &v);)
		e->cookie = *(const uint32_t *)k;
	*state = e;
	return 0;
}

static int rec_teardown(void **state)
{
	struct rec_env *e = *state;

	np_flow_meta_free(&e->meta);
	np_compiled_free(&e->c);
	np_ids_free(&e->ids);
	np_objects_free(&e->objs);
	free(e);
	return 0;
}

static const char *ifname(void *ctx, uint32_t ifindex)
{
	(void)ctx;
	return ifindex == 5 ? "eni1234" : "";
}

static json_t *render(const struct np_flow_rec_ctx *c, const struct np_flow_result *r)
{
	struct np_strbuf b = { 0 };
	json_error_t err;
	json_t *j;

	np_flow_rec_json(&b, c, r);
	assert_false(b.oom);
	assert_null(strchr(b.p, '\n'));
	j = json_loads(b.p, 0, &err);
	if (!j)
		fail_msg("not JSON: %s: %s", err.text, b.p);
	np_sb_free(&b);
	return j;
}

#define JSTR(j, k) json_string_value(json_object_get((j), (k)))
#define JINT(j, k) json_integer_value(json_object_get((j), (k)))

static void test_record_accept(void **state)
{
	struct rec_env *e = *state;
	struct np_flow_rec_ctx c = { &e->meta, "node-1", ifname, NULL };
	struct np_flow f = { 0 };
	struct np_flow_result r = { .flow = &f, .start_ns = 59 * S + 1, .end_ns = 120 * S };
	json_t *j;

	f.key.ct = key_in(40000);
	f.origin = NP_DIR_INGRESS;
	f.verdict = NP_VERDICT_ALLOW;
	f.reason = NP_REASON_POLICY;
	f.cookie = e->cookie;
	f.ep_id = e->relay_ep;
	f.ended = true;
	f.end = NP_FLOW_END_FIN;
	r.delta.packets[0] = 6;
	r.delta.packets[1] = 4;
	r.delta.bytes[0] = 600;
	r.delta.bytes[1] = 4000;
	r.tcp_flags = 19;
	j = render(&c, &r);
	assert_int_equal(JINT(j, "version"), 1);
	assert_string_equal(JSTR(j, "node"), "node-1");
	assert_string_equal(JSTR(j, "interfaceId"), "eni1234");
	assert_string_equal(JSTR(j, "flowDirection"), "ingress");
	assert_string_equal(JSTR(j, "srcAddr"), "10.250.0.5");
	assert_int_equal(JINT(j, "srcPort"), 40000);
	assert_string_equal(JSTR(j, "dstAddr"), "10.244.1.10");
	assert_int_equal(JINT(j, "dstPort"), 443);
	assert_int_equal(JINT(j, "protocol"), 6);
	assert_int_equal(JINT(j, "packets"), 10);
	assert_int_equal(JINT(j, "bytes"), 4600);
	assert_int_equal(JINT(j, "replyPackets"), 4);
	assert_int_equal(JINT(j, "start"), 59);
	assert_int_equal(JINT(j, "end"), 120);
	assert_string_equal(JSTR(j, "action"), "ACCEPT");
	assert_string_equal(JSTR(j, "logStatus"), "OK");
	assert_int_equal(JINT(j, "tcpFlags"), 19);
	assert_null(json_object_get(j, "srcPod")); /* 10.250.0.5 is no pod */
	assert_string_equal(JSTR(j, "dstPod"), "relay-0");
	assert_string_equal(JSTR(j, "dstNamespace"), "relay");
	assert_string_equal(JSTR(j, "policy"), "relay/allow-aks");
	assert_string_equal(JSTR(j, "policyRule"), "ingress[0]");
	assert_string_equal(JSTR(j, "reason"), "policy");
	assert_string_equal(JSTR(j, "flowEnd"), "fin");
	json_decref(j);
}

/* REJECT: the isolating policies, sorted; an egress aggregate over many
 * client ports: srcPort 0 and srcPorts "many"; IPv6 addresses. */
static void test_record_reject(void **state)
{
	struct rec_env *e = *state;
	struct np_flow_rec_ctx c = { &e->meta, NULL, NULL, NULL };
	struct np_flow f = { 0 };
	struct np_flow_result r = { .flow = &f, .end_ns = 1 };
	json_t *j;

	np_addr_parse("10.244.2.20", &f.key.ct.remote);
	np_addr_parse("10.244.1.10", &f.key.ct.local);
	f.key.ct.local_port = htons(443);
	f.key.ct.proto = NP_PROTO_TCP;
	f.key.deny = 1;
	f.origin = NP_DIR_INGRESS;
	f.verdict = NP_VERDICT_DENY;
	f.reason = NP_REASON_NO_RULE;
	f.ep_id = e->relay_ep;
	f.flow_bits = NP_FLOW_LOGGED | NP_FLOW_MULTI_PORT;
	r.delta.packets[0] = 300;
	j = render(&c, &r);
	assert_string_equal(JSTR(j, "action"), "REJECT");
	assert_string_equal(JSTR(j, "policy"), "relay/allow-aks,relay/deny-all");
	assert_null(json_object_get(j, "policyRule"));
	assert_null(json_object_get(j, "node"));
	assert_null(json_object_get(j, "interfaceId"));
	assert_string_equal(JSTR(j, "srcPod"), "client-0");
	assert_string_equal(JSTR(j, "srcNamespace"), "other");
	assert_int_equal(JINT(j, "srcPort"), 0);
	assert_string_equal(JSTR(j, "srcPorts"), "many");
	assert_string_equal(JSTR(j, "reason"), "no-rule");
	json_decref(j);

	/* One client port only: it is shown. */
	f.flow_bits = NP_FLOW_LOGGED;
	f.eph_port = htons(51000);
	f.verdict = NP_VERDICT_AUDIT;
	np_addr_parse("fd00::5", &f.key.ct.remote);
	np_addr_parse("fd00::10", &f.key.ct.local);
	j = render(&c, &r);
	assert_int_equal(JINT(j, "srcPort"), 51000);
	assert_null(json_object_get(j, "srcPorts"));
	assert_string_equal(JSTR(j, "action"), "AUDIT");
	assert_string_equal(JSTR(j, "srcAddr"), "fd00::5");
	json_decref(j);
}

static void test_record_skipdata_and_escaping(void **state)
{
	struct np_flow_rec_ctx c = { NULL, "no\"de\\\n", NULL, NULL };
	struct np_strbuf b = { 0 };
	json_error_t err;
	json_t *j;

	(void)state;
	np_flow_rec_skipdata(&b, &c, 60 * S, 120 * S, 228, 5, 7, 3);
	j = json_loads(b.p, 0, &err);
	assert_non_null(j);
	assert_string_equal(JSTR(j, "node"), "no\"de\\\n");
	assert_string_equal(JSTR(j, "logStatus"), "SKIPDATA");
	assert_int_equal(JINT(j, "skippedEvents"), 233);
	assert_int_equal(JINT(j, "lostEvents"), 228);
	assert_int_equal(JINT(j, "suppressedEvents"), 5);
	assert_int_equal(JINT(j, "droppedRecords"), 7);
	assert_int_equal(JINT(j, "evictedFlows"), 3);
	assert_int_equal(JINT(j, "start"), 60);
	json_decref(j);
	np_sb_free(&b);
}

/* ---- file sink ---- */

static struct np_rec rec(const char *s)
{
	struct np_rec r = { .ts_ms = 1, .len = (uint32_t)strlen(s), .line = strdup(s) };

	return r;
}

static char *slurp_gz(const char *path)
{
	gzFile gz = gzopen(path, "rb");
	static char buf[65536];
	int n;

	if (!gz)
		return NULL;
	n = gzread(gz, buf, sizeof(buf) - 1);
	gzclose(gz);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_filesink_rotation(void **state)
{
	char dir[] = "/tmp/np-filesink.XXXXXX", path[200], gz[256];
	struct np_filesink_opts o = { .path = path, .max_bytes = 100, .keep = 2 };
	struct np_sink *s;
	struct np_rec r[3];
	int err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/flows.log", dir);
	s = np_filesink_new(&o, &err);
	assert_non_null(s);
	/* 3 x 40 bytes: over 100, rotated after the batch. */
	for (int round = 0; round < 3; round++) {
		char line[64];

		for (int i = 0; i < 3; i++) {
			snprintf(line, sizeof(line), "{\"round\":%d,\"i\":%d,\"pad\":\"xxxxxxxxxx\"}", round, i);
			r[i] = rec(line);
		}
		assert_int_equal(s->offer(s, r, 3), 3);
	}
	s->destroy(s); /* waits for the compression */
	snprintf(gz, sizeof(gz), "%s.1.gz", path);
	assert_non_null(strstr(slurp_gz(gz), "{\"round\":2,\"i\":0"));
	snprintf(gz, sizeof(gz), "%s.2.gz", path);
	assert_non_null(strstr(slurp_gz(gz), "{\"round\":1,\"i\":2"));
	snprintf(gz, sizeof(gz), "%s.3.gz", path);
	assert_int_equal(access(gz, F_OK), -1); /* keep = 2 */
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, 0); /* fresh file after the rotation */
	}
	snprintf(gz, sizeof(gz), "rm -rf %s", dir);
	assert_int_equal(system(gz), 0);
}

/* A file left with half a line (crash mid-write) is cut back when opened. */
static void test_filesink_repairs_partial_line(void **state)
{
	char dir[] = "/tmp/np-filesink.XXXXXX", path[256], cmd[300], buf[256] = { 0 };
	struct np_filesink_opts o = { .path = path };
	struct np_sink *s;
	struct np_rec r = rec("{\"c\":3}");
	int err, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/flows.log", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"a\":1}\n{\"b\":", 13), 13);
	close(fd);
	s = np_filesink_new(&o, &err);
	assert_non_null(s);
	assert_int_equal(s->offer(s, &r, 1), 1);
	s->destroy(s);
	fd = open(path, O_RDONLY);
	assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	assert_string_equal(buf, "{\"a\":1}\n{\"c\":3}\n");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_filesink_bad_path(void **state)
{
	struct np_filesink_opts o = { .path = "/nonexistent-dir/flows.log" };
	int err = 0;

	(void)state;
	assert_null(np_filesink_new(&o, &err));
	assert_int_equal(err, -ENOENT);
}

/* ---- the pipeline: back-pressure and dropped records ---- */

struct fake_sink {
	struct np_sink sink;
	size_t room;      /* records the next offers may take */
	char *lines[32];
	uint64_t seqs[32];
	size_t n;
};

static size_t fake_offer(struct np_sink *s, struct np_rec *recs, size_t n)
{
	struct fake_sink *f = (struct fake_sink *)s;
	size_t take = n < f->room ? n : f->room;

	for (size_t i = 0; i < take; i++) {
		assert_true(f->n < 32);
		f->seqs[f->n] = recs[i].seq;
		f->lines[f->n++] = recs[i].line;
		recs[i].line = NULL;
	}
	f->room -= take;
	s->stats.accepted += take;
	return take;
}

static void fake_destroy(struct np_sink *s)
{
	struct fake_sink *f = (struct fake_sink *)s;

	for (size_t i = 0; i < f->n; i++)
		free(f->lines[i]);
}

static void test_pipeline_backpressure(void **state)
{
	struct fake_sink fs = { .sink = { .name = "fake", .offer = fake_offer, .destroy = fake_destroy } };
	struct np_sink *sinks[1] = { &fs.sink };
	struct np_flowlog_opts o = { .node = "n1", .interval_s = 60, .queue_max = 3, .agg = agg_opts };
	struct np_flowlog fl;
	json_t *j;

	(void)state;
	assert_int_equal(np_flowlog_init(&fl, &o, NULL, sinks, 1), 0);
	for (uint16_t i = 0; i < 5; i++) {
		struct np_flow_event ev = event(NP_EV_NEW, key_in((uint16_t)(1000 + i)), 1, 0);

		assert_int_equal(np_flowlog_event(&fl, &ev), 0);
	}
	/* The sink takes nothing: 5 records for a queue of 3, so 2 are
	 * dropped, and reported at once in a SKIPDATA record, whose own
	 * queueing drops a third: the queue holds the 2 newest and the report. */
	np_flowlog_flush(&fl, false);
	assert_int_equal(fl.st.records, 6);
	assert_int_equal(fl.q[0].n, 3);
	assert_int_equal(fl.st.dropped, 3);
	/* It recovers: the queued records, then the report of the third drop. */
	fs.room = 100;
	np_flowlog_flush(&fl, false);
	assert_int_equal(fs.n, 4);
	for (int i = 0; i < 2; i++) { /* the queued flow records first */
		j = json_loads(fs.lines[i], 0, NULL);
		assert_string_equal(JSTR(j, "logStatus"), "OK");
		json_decref(j);
	}
	j = json_loads(fs.lines[2], 0, NULL);
	assert_string_equal(JSTR(j, "logStatus"), "SKIPDATA");
	assert_int_equal(JINT(j, "droppedRecords"), 2);
	json_decref(j);
	j = json_loads(fs.lines[3], 0, NULL);
	assert_string_equal(JSTR(j, "logStatus"), "SKIPDATA");
	assert_int_equal(JINT(j, "droppedRecords"), 1);
	json_decref(j);
	/* Every record is accounted for. */
	assert_int_equal(fl.st.records, fs.sink.stats.accepted + fl.st.dropped);
	np_flowlog_close(&fl, 0);
}

/* ---- restarts: adopting kernel entries, record ids ---- */

/* A flow taken over from the kernel starts its record at its mark: what a
 * durable record covered is not reported again; without a mark it is
 * reported whole, as new.  Ended entries end the flow as the kernel says. */
static void test_agg_adopt(void **state)
{
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_ct_val v = { .created = 1000, .last_seen = 1100, .origin = NP_DIR_INGRESS,
			       .verdict = NP_VERDICT_ALLOW, .reason = NP_REASON_POLICY,
			       .cookie = 7, .ep_id = 3, .flow = NP_FLOW_LOGGED };
	struct np_flow_counts mark = { .bytes = { 300, 2000 }, .packets = { 3, 2 } };
	struct np_flow_key k1 = { .ct = key_in(1001) }, k2 = { .ct = key_in(1002) };
	struct np_flow_key k3 = { .ct = key_in(1003) }, k4 = { .ct = key_in(1004) };

	(void)state;
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	v.packets[0] = 5;
	v.packets[1] = 4;
	v.bytes[0] = 500;
	v.bytes[1] = 4000;
	/* k1: marked at 3+2 packets: 2+2 new */
	assert_int_equal(np_flow_agg_adopt(&a, &k1, &v, &mark, 50 * S, 55 * S, 1000), 0);
	/* k2: no mark: all of it, fresh */
	assert_int_equal(np_flow_agg_adopt(&a, &k2, &v, NULL, 40 * S, 55 * S, 1000), 0);
	/* k3: closed by FIN, k4: a revoked connection's tombstone */
	v.flow = NP_FLOW_LOGGED | NP_FLOW_ENDED;
	v.state = NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY;
	assert_int_equal(np_flow_agg_adopt(&a, &k3, &v, NULL, 40 * S, 55 * S, 1000), 0);
	v.verdict = NP_VERDICT_DENY;
	v.reason = NP_REASON_REVOKED;
	assert_int_equal(np_flow_agg_adopt(&a, &k4, &v, &mark, 50 * S, 55 * S, 1000), 0);
	np_flow_agg_flush(&a, NULL, 60 * S, 120 * S, 1000, false, collect, &res);
	assert_int_equal(res.n, 4);
	for (size_t i = 0; i < res.n; i++) {
		const struct np_flow_result *r = &res.r[i];
		uint16_t port = ntohs(r->flow->key.ct.remote_port);

		assert_true(r->flow->recovered);
		assert_int_equal(r->flow->created, 1000);
		if (port == 1001 || port == 1004) {
			assert_int_equal(r->delta.packets[0], 2);
			assert_int_equal(r->delta.packets[1], 2);
			assert_int_equal(r->delta.bytes[1], 2000);
		} else {
			assert_int_equal(r->delta.packets[0], 5);
			assert_int_equal(r->delta.packets[1], 4);
		}
		/* the interval reaches back to the flow's start or mark */
		assert_int_equal(r->start_ns, 60 * S);
		if (port == 1003)
			assert_int_equal(r->flow->end, NP_FLOW_END_FIN);
		if (port == 1004)
			assert_int_equal(r->flow->end, NP_FLOW_END_CUT);
		if (port == 1001 || port == 1002)
			assert_false(r->flow->ended);
	}
	/* Only the first record after the restart is marked recovered. */
	res.n = 0;
	np_flow_agg_flush(&a, NULL, 120 * S, 180 * S, 2000, false, collect, &res);
	assert_int_equal(res.n, 0);
	assert_int_equal(np_flow_agg_count(&a), 2);
	assert_false(np_flow_agg_find(&a, &k1)->recovered);
	np_flow_agg_free(&a);
}

/* After a restart, a connection opened while the agent walked the kernel's
 * entries is taken over before its NEW event is read.  That late NEW is the
 * same connection (the entry still has the created the walk saw): one flow,
 * one record ending in fin, never a "replaced" copy plus a second record of
 * the same connection (whose mark let a kill -9 lose the fin).  A NEW with
 * another created in the entry is a new connection on the same 5-tuple. */
static void test_agg_late_new_after_takeover(void **state)
{
	struct fake_kernel fk = { 0 };
	struct np_flow_source src = { fake_lookup, fake_expire, &fk };
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_ct_key ck = key_in(45001);
	struct np_flow_key k = { .ct = ck };
	struct np_flow_event ev;
	struct np_ct_val v;

	(void)state;
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	np_flow_agg_set_source(&a, &src);
	fake_put(&fk, ck, false, 2, 1, 1100, NP_TCP_SEEN_REPLY);
	fk.e[0].v.created = 1000;
	v = fk.e[0].v;
	assert_int_equal(np_flow_agg_adopt(&a, &k, &v, NULL, 40 * S, 41 * S, 1000), 0);
	ev = event(NP_EV_NEW, ck, 1, 0);
	assert_int_equal(np_flow_agg_event(&a, &ev, 40 * S, 1000), 0);
	fake_put(&fk, ck, false, 5, 4, 1200, NP_TCP_SEEN_REPLY | NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY);
	ev = event(NP_EV_END, ck, 5, 4);
	ev.end = NP_END_FIN;
	assert_int_equal(np_flow_agg_event(&a, &ev, 42 * S, 1200), 0);
	np_flow_agg_flush(&a, &src, 0, 60 * S, 60000, false, collect, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.f[0].end, NP_FLOW_END_FIN);
	assert_int_equal(res.f[0].created, 1000);
	assert_true(res.f[0].recovered);
	assert_int_equal(res.r[0].delta.packets[0], 5);
	assert_int_equal(res.r[0].delta.packets[1], 4);
	assert_int_equal(a.late_new, 1);
	np_flow_agg_free(&a);

	/* The same, but the entry now belongs to a new connection. */
	memset(&res, 0, sizeof(res));
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	np_flow_agg_set_source(&a, &src);
	fake_put(&fk, ck, false, 2, 1, 1100, NP_TCP_SEEN_REPLY);
	fk.e[0].v.created = 1000;
	v = fk.e[0].v;
	assert_int_equal(np_flow_agg_adopt(&a, &k, &v, NULL, 40 * S, 41 * S, 1000), 0);
	fake_put(&fk, ck, false, 1, 0, 1300, 0);
	fk.e[0].v.created = 1300;
	ev = event(NP_EV_NEW, ck, 1, 0);
	assert_int_equal(np_flow_agg_event(&a, &ev, 43 * S, 1300), 0);
	np_flow_agg_flush(&a, &src, 0, 60 * S, 60000, false, collect, &res);
	assert_int_equal(res.n, 2);
	assert_int_equal(res.f[0].end, NP_FLOW_END_REPLACED);
	assert_int_equal(res.f[0].created, 1000);
	assert_int_equal(res.f[1].created, 1300);
	assert_int_equal(a.late_new, 0);
	np_flow_agg_free(&a);
}

/* A flow whose entry vanishes before its end is counted as evicted. */
static void test_agg_counts_gone(void **state)
{
	struct fake_kernel fk = { 0 };
	struct np_flow_source src = { fake_lookup, fake_expire, &fk };
	struct np_flow_agg a;
	struct results res = { 0 };
	struct np_flow_event ev = event(NP_EV_NEW, key_in(2000), 1, 0);

	(void)state;
	assert_int_equal(np_flow_agg_init(&a, &agg_opts), 0);
	fake_put(&fk, key_in(2000), false, 1, 0, 5, 0);
	assert_int_equal(np_flow_agg_event(&a, &ev, 1 * S, 1000), 0);
	np_flow_agg_flush(&a, &src, 0, 60 * S, 60000, false, collect, &res);
	assert_int_equal(a.gone, 0);
	fk.e[0].present = false; /* LRU eviction */
	np_flow_agg_flush(&a, &src, 60 * S, 120 * S, 120000, false, collect, &res);
	assert_int_equal(a.gone, 1);
	assert_int_equal(res.f[0].created, 0);
	np_flow_agg_free(&a);
}

/* recordId: the same for the same flow from the same point of its
 * counters (a resend, a repeat after a restart), different otherwise. */
static void test_record_id(void **state)
{
	struct np_flow_rec_ctx c = { NULL, "node-1", NULL, NULL };
	struct np_flow f = { .key = { .ct = key_in(1001) }, .created = 1000 };
	char a[17], b[17];

	(void)state;
	np_flow_rec_id(&c, &f, a);
	assert_int_equal(strlen(a), 16);
	np_flow_rec_id(&c, &f, b);
	assert_string_equal(a, b);
	f.cur.packets[0] = 9; /* where it ends does not matter */
	np_flow_rec_id(&c, &f, b);
	assert_string_equal(a, b);
	f.rep.packets[0] = 3; /* where it starts does */
	np_flow_rec_id(&c, &f, b);
	assert_string_not_equal(a, b);
	f.rep.packets[0] = 0;
	f.created = 1001; /* another connection on the same 5-tuple */
	np_flow_rec_id(&c, &f, b);
	assert_string_not_equal(a, b);
	f.created = 1000;
	c.node = "node-2";
	np_flow_rec_id(&c, &f, b);
	assert_string_not_equal(a, b);
}

/* Records carry the pipeline's sequence numbers, in order, so a sink can
 * say how far it is durable; a recovered flow's record says so. */
static void test_pipeline_seq_and_recovered(void **state)
{
	struct fake_sink fs = { .sink = { .name = "fake", .offer = fake_offer, .destroy = fake_destroy },
				.room = 100 };
	struct np_sink *sinks[1] = { &fs.sink };
	struct np_flowlog_opts o = { .node = "n1", .interval_s = 60, .queue_max = 10, .agg = agg_opts };
	struct np_ct_val v = { .created = 77, .last_seen = 80, .origin = NP_DIR_INGRESS,
			       .verdict = NP_VERDICT_ALLOW, .flow = NP_FLOW_LOGGED,
			       .packets = { 2, 1 } };
	struct np_flow_key k = { .ct = key_in(3001) };
	struct np_flowlog fl;
	json_t *j;

	(void)state;
	assert_int_equal(np_flowlog_init(&fl, &o, NULL, sinks, 1), 0);
	assert_int_equal(np_flow_agg_adopt(&fl.agg, &k, &v, NULL, 1 * S, 2 * S, 0), 0);
	for (uint16_t i = 0; i < 2; i++) {
		struct np_flow_event ev = event(NP_EV_NEW, key_in((uint16_t)(3002 + i)), 1, 0);

		assert_int_equal(np_flowlog_event(&fl, &ev), 0);
	}
	np_flowlog_flush(&fl, false);
	assert_int_equal(fs.n, 3);
	assert_int_equal(fl.seq, 3);
	for (size_t i = 0; i < fs.n; i++) {
		j = json_loads(fs.lines[i], 0, NULL);
		assert_non_null(j);
		assert_int_equal(strlen(JSTR(j, "recordId")), 16);
		assert_int_equal(json_is_true(json_object_get(j, "recovered")),
				 JINT(j, "srcPort") == 3001);
		json_decref(j);
	}
	for (size_t i = 0; i < fs.n; i++)
		assert_int_equal(fs.seqs[i], i + 1);
	np_flowlog_close(&fl, 0);
}

/* ---- filters ---- */

static void test_filters(void **state)
{
	const char *line = "{\"srcAddr\":\"10.250.0.5\",\"srcPort\":40000,\"dstAddr\":\"10.244.1.10\","
			   "\"dstPort\":443,\"protocol\":6,\"action\":\"ACCEPT\",\"flowDirection\":\"ingress\","
			   "\"dstPod\":\"relay-0\",\"dstNamespace\":\"relay\",\"end\":1000,"
			   "\"policy\":\"relay/a,relay/b\"}";
	static const struct {
		const char *name, *value;
		bool match;
	} cases[] = {
		{ "pod", "relay-0", true },          { "pod", "relay/relay-0", true },
		{ "pod", "other/relay-0", false },   { "namespace", "relay", true },
		{ "namespace", "other", false },     { "ip", "10.250.0.0/16", true },
		{ "ip", "10.244.1.10", true },       { "ip", "10.9.0.0/16", false },
		{ "port", "443", true },             { "port", "40000", true },
		{ "port", "80", false },             { "protocol", "tcp", true },
		{ "protocol", "17", false },         { "action", "accept", true },
		{ "action", "REJECT", false },       { "direction", "ingress", true },
		{ "direction", "egress", false },    { "policy", "relay/b", true },
		{ "policy", "relay/", false },       { "since", "10m", true },
	};
	json_t *j = json_loads(line, 0, NULL);
	char msg[256];

	(void)state;
	assert_non_null(j);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct np_flow_filter f;

		np_flow_filter_init(&f);
		assert_int_equal(np_flow_filter_set(&f, cases[i].name, cases[i].value, 1300, msg,
						    sizeof(msg)), 0);
		if (np_flow_filter_match(&f, j) != cases[i].match)
			fail_msg("--%s %s: expected %s", cases[i].name, cases[i].value,
				 cases[i].match ? "a match" : "no match");
	}
	{
		struct np_flow_filter f;

		np_flow_filter_init(&f);
		assert_int_equal(np_flow_filter_set(&f, "since", "1m", 1300, msg, sizeof(msg)), 0);
		assert_false(np_flow_filter_match(&f, j)); /* ended at 1000 < 1240 */
		assert_int_equal(np_flow_filter_set(&f, "port", "70000", 0, msg, sizeof(msg)), -EINVAL);
		assert_non_null(strstr(msg, "--port"));
		assert_int_equal(np_flow_filter_set(&f, "ip", "10.0.0.300", 0, msg, sizeof(msg)), -EINVAL);
		assert_int_equal(np_flow_filter_set(&f, "since", "5 minutes", 0, msg, sizeof(msg)), -EINVAL);
		assert_int_equal(np_flow_filter_set(&f, "action", "DROP", 0, msg, sizeof(msg)), -EINVAL);
	}
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agg_intervals),
		cmocka_unit_test(test_agg_timeout_and_eviction),
		cmocka_unit_test(test_agg_reuse_and_lost_new),
		cmocka_unit_test(test_agg_deny_forgotten_when_quiet),
		cmocka_unit_test(test_agg_cut),
		cmocka_unit_test_setup_teardown(test_record_accept, rec_setup, rec_teardown),
		cmocka_unit_test_setup_teardown(test_record_reject, rec_setup, rec_teardown),
		cmocka_unit_test(test_record_skipdata_and_escaping),
		cmocka_unit_test(test_filesink_rotation),
		cmocka_unit_test(test_filesink_repairs_partial_line),
		cmocka_unit_test(test_filesink_bad_path),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_pipeline_backpressure),
		cmocka_unit_test(test_agg_adopt),
		cmocka_unit_test(test_agg_late_new_after_takeover),
		cmocka_unit_test(test_agg_counts_gone),
		cmocka_unit_test(test_record_id),
		cmocka_unit_test(test_pipeline_seq_and_recovered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
