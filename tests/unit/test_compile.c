// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Policy compiler: sets, classes, named ports, endPort, policyTypes, ids.
 * A small reference lookup over the compiled tables stands in for the
 * kernel's LPM tries (the BPF tests and the conformance suite check the real
 * programs). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "compile.h"

struct fixture {
	struct np_objects objs;
	struct np_ids ids;
	struct np_compiled c;
};

static void load(struct fixture *f, const char *yaml)
{
	struct np_error err;
	int ret;

	memset(f, 0, sizeof(*f));
	np_ids_init(&f->ids);
	ret = np_objects_load_buffer(&f->objs, "test.yaml", yaml, strlen(yaml), &err);
	if (ret)
		fail_msg("load: %s", err.msg);
	ret = np_compile(&f->objs, NULL, &f->ids, &f->c, &err);
	if (ret)
		fail_msg("compile: %s", err.msg);
}

static void unload(struct fixture *f)
{
	np_compiled_free(&f->c);
	np_objects_free(&f->objs);
	np_ids_free(&f->ids);
}

static const struct np_compiled_ep *ep_of(const struct np_compiled *c,
					  const char *ip)
{
	struct np_addr a;

	assert_int_equal(np_addr_parse(ip, &a), 0);
	for (size_t i = 0; i < c->n_eps; i++)
		if (memcmp(&c->eps[i].addr, &a, sizeof(a)) == 0)
			return &c->eps[i];
	return NULL;
}

/* Reference lookup: 0 = not isolated, -1 = denied, else the cookie. */
static long judge(const struct np_compiled *c, const char *pod_ip,
		  enum np_dir dir, const char *peer_ip, uint8_t proto,
		  uint16_t port)
{
	const struct np_compiled_ep *ep = ep_of(c, pod_ip);
	const struct np_set *set;
	const struct np_peer_entry *best = NULL;
	const struct np_class *cls = NULL;
	const struct np_port_entry *pbest = NULL;
	struct np_addr peer;

	assert_non_null(ep);
	if (ep->val.set_id[dir] == 0)
		return 0;
	set = np_compiled_set(c, ep->val.set_id[dir]);
	assert_non_null(set);
	assert_int_equal(np_addr_parse(peer_ip, &peer), 0);
	for (size_t i = 0; i < set->n_peers; i++)
		if (np_cidr_contains_addr(&set->peers[i].prefix, &peer) &&
		    (!best || set->peers[i].prefix.plen > best->prefix.plen))
			best = &set->peers[i];
	if (!best || best->class_id == 0)
		return -1;
	for (size_t i = 0; i < c->n_classes; i++)
		if (c->classes[i].id == best->class_id)
			cls = &c->classes[i];
	assert_non_null(cls);
	for (size_t i = 0; i < cls->n; i++) {
		const struct np_port_entry *e = &cls->entries[i];
		bool match;

		if (e->plen == NP_PORT_KEY_BITS_CLASS)
			match = true;
		else if (e->plen == NP_PORT_KEY_BITS_PROTO)
			match = e->proto == proto;
		else {
			unsigned bits = e->plen - NP_PORT_KEY_BITS_PROTO;
			uint16_t mask = (uint16_t)(0xffffu << (16 - bits));

			match = e->proto == proto && (port & mask) == e->port;
		}
		if (match && (!pbest || e->plen > pbest->plen))
			pbest = e;
	}
	return pbest ? (long)pbest->cookie : -1;
}

static const char *rule_name(const struct np_compiled *c, long cookie,
			     char *buf, size_t len)
{
	const struct np_rule_ref *r = np_compiled_rule(c, (uint32_t)cookie);

	if (!r)
		return "?";
	snprintf(buf, len, "%s/%s/%s[%u]", r->ns, r->name,
		 r->dir == NP_DIR_INGRESS ? "ingress" : "egress", r->index);
	return buf;
}

#define PODS                                                                   \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {ns: x}}\n" \
	"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: 'y', labels: {ns: 'y'}}\n" \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {pod: a}}\n" \
	"spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]}]}\n" \
	"status: {podIP: 10.0.0.1}\n"                                          \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {pod: b}}\n" \
	"spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}\n" \
	"status: {podIP: 10.0.0.2}\n"                                          \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: 'y', labels: {pod: c}}\n" \
	"spec: {containers: [{name: c}]}\n"                                    \
	"status: {podIPs: [{ip: 10.0.1.3}, {ip: 'fd00::3'}]}\n"

static void test_not_selected_is_not_isolated(void **state)
{
	struct fixture f;

	(void)state;
	load(&f, PODS "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: p, namespace: x}\n"
		 "spec: {podSelector: {matchLabels: {pod: a}}}\n");
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.3", 6, 80), -1);
	assert_int_equal(judge(&f.c, "10.0.0.2", NP_DIR_INGRESS, "10.0.1.3", 6, 80), 0);
	/* policyTypes absent and no egress rules: egress not isolated */
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_EGRESS, "10.0.1.3", 6, 80), 0);
	assert_int_equal(f.c.n_eps, 4); /* c has two addresses */
	unload(&f);
}

static void test_named_port_per_pod(void **state)
{
	struct fixture f;
	long ca, cb;
	char buf[128];

	(void)state;
	load(&f, PODS "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: http, namespace: x}\n"
		 "spec: {podSelector: {}, ingress: [{ports: [{port: http}]}]}\n");
	ca = judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.3", 6, 8080);
	cb = judge(&f.c, "10.0.0.2", NP_DIR_INGRESS, "10.0.1.3", 6, 9090);
	assert_true(ca > 0);
	assert_true(cb > 0);
	assert_string_equal(rule_name(&f.c, ca, buf, sizeof(buf)), "x/http/ingress[0]");
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.3", 6, 9090), -1);
	assert_int_equal(judge(&f.c, "10.0.0.2", NP_DIR_INGRESS, "10.0.1.3", 6, 8080), -1);
	/* protocol must match too: UDP 8080 is not "http" */
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.3", 17, 8080), -1);
	/* two pods with different port tables cannot share a set */
	assert_int_not_equal(ep_of(&f.c, "10.0.0.1")->val.set_id[NP_DIR_INGRESS],
			     ep_of(&f.c, "10.0.0.2")->val.set_id[NP_DIR_INGRESS]);
	unload(&f);
}

static void test_egress_named_port_resolves_at_destination(void **state)
{
	struct fixture f;

	(void)state;
	load(&f, PODS "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: out, namespace: 'y'}\n"
		 "spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {ns: x}}}], ports: [{port: http}]}]}\n");
	assert_true(judge(&f.c, "10.0.1.3", NP_DIR_EGRESS, "10.0.0.1", 6, 8080) > 0);
	assert_true(judge(&f.c, "10.0.1.3", NP_DIR_EGRESS, "10.0.0.2", 6, 9090) > 0);
	assert_int_equal(judge(&f.c, "10.0.1.3", NP_DIR_EGRESS, "10.0.0.1", 6, 9090), -1);
	assert_int_equal(judge(&f.c, "10.0.1.3", NP_DIR_EGRESS, "10.0.0.2", 6, 8080), -1);
	/* not a pod: a named port can't resolve */
	assert_int_equal(judge(&f.c, "10.0.1.3", NP_DIR_EGRESS, "8.8.8.8", 6, 8080), -1);
	unload(&f);
}

static void test_end_port_and_protocol_only(void **state)
{
	struct fixture f;

	(void)state;
	load(&f, PODS "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: range, namespace: x}\n"
		 "spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 8000, endPort: 8080}, {protocol: UDP}]}]}\n");
	for (unsigned p = 7990; p < 8100; p++) {
		long v = judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "1.2.3.4", 6, (uint16_t)p);

		if (p >= 8000 && p <= 8080)
			assert_true(v > 0);
		else
			assert_int_equal(v, -1);
	}
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "1.2.3.4", 17, 1) > 0);
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "1.2.3.4", 17, 65535) > 0);
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "1.2.3.4", 132, 8000), -1);
	/* ICMP (port 0) only matches rules without ports */
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "1.2.3.4", 1, 0), -1);
	unload(&f);
}

/* No hidden cap (the AWS agent keeps 24 port entries per CIDR): 100 ports
 * on one CIDR, every one of them allowed, none of their neighbours. */
static void test_many_ports_on_one_cidr(void **state)
{
	char yaml[8192];
	size_t off;
	struct fixture f;

	(void)state;
	off = (size_t)snprintf(yaml, sizeof(yaml), "%s%s", PODS,
			       "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			       "metadata: {name: many, namespace: x}\n"
			       "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
			       "  - from: [{ipBlock: {cidr: 192.0.2.0/24}}]\n    ports:\n");
	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
					"    - {port: %d}\n", 1000 + 3 * i);
	load(&f, yaml);
	for (int i = 0; i < 100; i++) {
		assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "192.0.2.7", 6,
				  (uint16_t)(1000 + 3 * i)) > 0);
		assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "192.0.2.7", 6,
				       (uint16_t)(1001 + 3 * i)), -1);
	}
	unload(&f);
}

static void test_selectors_and_ipblock(void **state)
{
	struct fixture f;

	(void)state;
	load(&f, PODS "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: p, namespace: x}\n"
		 "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
		 "  - from: [{namespaceSelector: {matchLabels: {ns: 'y'}}, podSelector: {matchLabels: {pod: c}}}]\n"
		 "  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.1.0/24]}}]\n    ports: [{port: 22}]\n"
		 "  - from: [{podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [a]}]}}]\n    ports: [{port: 23}]\n");
	/* AND of namespace and pod selector */
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.3", 6, 80) > 0);
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "fd00::3", 6, 80) > 0);
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.0.2", 6, 80), -1);
	/* ipBlock with except, applying to pod addresses too */
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.0.2", 6, 22) > 0);
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.9", 6, 22), -1);
	/* the pod selected by the first rule is in the except range but the
	 * first rule still allows it on every port */
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.3", 6, 22) > 0);
	/* NotIn: b (pod=b) matches, and it is only in the policy's namespace */
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.0.2", 6, 23) > 0);
	unload(&f);
}

static void test_ids_stable_across_compiles(void **state)
{
	const char *yaml = PODS "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			   "metadata: {name: p, namespace: x}\n"
			   "spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}\n";
	struct fixture f;
	struct np_compiled again;
	struct np_error err;

	(void)state;
	load(&f, yaml);
	np_ids_gc(&f.ids);
	assert_int_equal(np_compile(&f.objs, NULL, &f.ids, &again, &err), 0);
	assert_int_equal(again.n_eps, f.c.n_eps);
	for (size_t i = 0; i < f.c.n_eps; i++)
		assert_memory_equal(&again.eps[i].val, &f.c.eps[i].val,
				    sizeof(struct np_endpoint));
	assert_int_equal(again.n_classes, f.c.n_classes);
	for (size_t i = 0; i < f.c.n_classes; i++)
		assert_int_equal(again.classes[i].id, f.c.classes[i].id);
	np_compiled_free(&again);
	unload(&f);
}

static void test_audit_annotation(void **state)
{
	struct fixture f;

	(void)state;
	load(&f, PODS "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: p, namespace: x, annotations: {netpol-agent.io/audit: 'true'}}\n"
		 "spec: {podSelector: {matchLabels: {pod: a}}}\n"
		 "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: q, namespace: x}\n"
		 "spec: {podSelector: {matchLabels: {pod: b}}}\n");
	assert_true(ep_of(&f.c, "10.0.0.1")->val.flags & NP_EP_AUDIT_INGRESS);
	assert_false(ep_of(&f.c, "10.0.0.2")->val.flags & NP_EP_AUDIT_INGRESS);
	unload(&f);
}

static void test_duplicate_pod_address_is_an_error(void **state)
{
	const char *yaml =
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nstatus: {podIP: 10.0.0.1}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\nstatus: {podIP: 10.0.0.1}\n";
	struct np_objects objs = { 0 };
	struct np_ids ids;
	struct np_compiled c;
	struct np_error err;

	(void)state;
	np_ids_init(&ids);
	assert_int_equal(np_objects_load_buffer(&objs, "dup.yaml", yaml, strlen(yaml), &err), 0);
	assert_int_equal(np_compile(&objs, NULL, &ids, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "10.0.0.1"));
	assert_non_null(strstr(err.msg, "x/a"));
	np_objects_free(&objs);
	np_ids_free(&ids);
}

/* Identical peers are resolved once per compile: a podSelector without
 * namespaceSelector still means each policy's own namespace, and two peers
 * of one rule matching the same pod still count it once. */
static void test_same_peers_in_many_policies(void **state)
{
	const char *yaml =
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: a}}\n"
		"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: 'y', labels: {team: a}}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: srv, namespace: x, labels: {app: srv}}\nstatus: {podIP: 10.0.0.1}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: cli, namespace: x, labels: {app: cli}}\nstatus: {podIP: 10.0.0.2}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: srv, namespace: 'y', labels: {app: srv}}\nstatus: {podIP: 10.0.1.1}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: cli, namespace: 'y', labels: {app: cli}}\nstatus: {podIP: 10.0.1.2}\n"
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
		"spec: {podSelector: {matchLabels: {app: srv}}, ingress: [{from: [{podSelector: {matchLabels: {app: cli}}},"
		" {podSelector: {matchLabels: {app: cli}}}]}]}\n"
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: 'y'}\n"
		"spec: {podSelector: {matchLabels: {app: srv}}, ingress: [{from: [{podSelector: {matchLabels: {app: cli}}}]},"
		" {from: [{namespaceSelector: {matchLabels: {team: a}}, podSelector: {matchLabels: {app: cli}}}], ports: [{port: 81}]}]}\n"
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: q, namespace: 'y'}\n"
		"spec: {podSelector: {matchLabels: {app: cli}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}},"
		" podSelector: {matchLabels: {app: cli}}}], ports: [{port: 81}]}]}\n";
	struct fixture f;
	const struct np_set *set;

	(void)state;
	load(&f, yaml);
	/* own namespace only, for both policies, though the peers are equal */
	assert_true(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.0.2", NP_PROTO_TCP, 80) > 0);
	assert_int_equal(judge(&f.c, "10.0.0.1", NP_DIR_INGRESS, "10.0.1.2", NP_PROTO_TCP, 80), -1);
	assert_true(judge(&f.c, "10.0.1.1", NP_DIR_INGRESS, "10.0.1.2", NP_PROTO_TCP, 80) > 0);
	assert_int_equal(judge(&f.c, "10.0.1.1", NP_DIR_INGRESS, "10.0.0.2", NP_PROTO_TCP, 80), -1);
	/* the namespaceSelector peer (shared by two policies) reaches both */
	assert_true(judge(&f.c, "10.0.1.1", NP_DIR_INGRESS, "10.0.0.2", NP_PROTO_TCP, 81) > 0);
	assert_true(judge(&f.c, "10.0.1.2", NP_DIR_INGRESS, "10.0.0.2", NP_PROTO_TCP, 81) > 0);
	assert_int_equal(judge(&f.c, "10.0.1.2", NP_DIR_INGRESS, "10.0.0.1", NP_PROTO_TCP, 81), -1);
	/* x/p's two equal peers: cli once (one /32 entry) */
	set = np_compiled_set(&f.c, ep_of(&f.c, "10.0.0.1")->val.set_id[NP_DIR_INGRESS]);
	assert_non_null(set);
	assert_int_equal(set->n_peers, 1);
	unload(&f);
}

/* Neighbouring peer prefixes with the same rules share a class; with
 * different rules they must not (the class of one is not reused for the
 * next). */
static void test_neighbour_prefixes_classes(void **state)
{
	const char *yaml =
		"apiVersion: v1\nkind: Pod\nmetadata: {name: srv, namespace: x, labels: {app: srv}}\nstatus: {podIP: 10.0.9.9}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: a1, namespace: x, labels: {app: a}}\nstatus: {podIP: 10.0.0.1}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: a2, namespace: x, labels: {app: a, b: 'y'}}\nstatus: {podIP: 10.0.0.2}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: a3, namespace: x, labels: {app: a}}\nstatus: {podIP: 10.0.0.3}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: a4, namespace: x, labels: {app: a}}\nstatus: {podIP: 10.0.0.4}\n"
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
		"spec: {podSelector: {matchLabels: {app: srv}}, ingress: ["
		"{from: [{podSelector: {matchLabels: {app: a}}}], ports: [{port: 80}]},"
		"{from: [{podSelector: {matchLabels: {b: 'y'}}}], ports: [{port: 81}]}]}\n";
	static const char *const peers[] = { "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4" };
	struct fixture f;

	(void)state;
	load(&f, yaml);
	for (size_t i = 0; i < 4; i++) {
		assert_true(judge(&f.c, "10.0.9.9", NP_DIR_INGRESS, peers[i], NP_PROTO_TCP, 80) > 0);
		if (i == 1)
			assert_true(judge(&f.c, "10.0.9.9", NP_DIR_INGRESS, peers[i], NP_PROTO_TCP, 81) > 0);
		else
			assert_int_equal(judge(&f.c, "10.0.9.9", NP_DIR_INGRESS, peers[i], NP_PROTO_TCP, 81), -1);
	}
	unload(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_selected_is_not_isolated),
		cmocka_unit_test(test_named_port_per_pod),
		cmocka_unit_test(test_egress_named_port_resolves_at_destination),
		cmocka_unit_test(test_end_port_and_protocol_only),
		cmocka_unit_test(test_many_ports_on_one_cidr),
		cmocka_unit_test(test_selectors_and_ipblock),
		cmocka_unit_test(test_ids_stable_across_compiles),
		cmocka_unit_test(test_audit_annotation),
		cmocka_unit_test(test_duplicate_pod_address_is_an_error),
		cmocka_unit_test(test_same_peers_in_many_policies),
		cmocka_unit_test(test_neighbour_prefixes_classes),
	};

	return cmocka_run_group_tests_name("compile", tests, NULL, NULL);
}
