// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* YAML/JSON -> struct np_objects (user/objects.c, user/yamljson.c). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"

/* Fixtures live in tests/unit/fixtures (tests run from the repository
 * root); NP_FIXTURES overrides the directory. */
static char fixtures[512];

static const char *fixture(const char *name)
{
	static char buf[600];

	snprintf(buf, sizeof(buf), "%s/%s", fixtures, name);
	return buf;
}

static int load(struct np_objects *o, const char *yaml, struct np_error *err)
{
	return np_objects_load_buffer(o, "test.yaml", yaml, strlen(yaml), err);
}

/* Load YAML that must be valid and hold exactly one policy. */
static const struct np_policy *one_policy(struct np_objects *o, const char *yaml)
{
	struct np_error err = { "" };
	int ret = load(o, yaml, &err);

	if (ret != 0)
		fail_msg("unexpected error %d: %s", ret, err.msg);
	assert_int_equal(o->n_policies, 1);
	return &o->policies[0];
}

/* Load YAML that must fail with exactly MSG. */
static void expect_error(const char *yaml, const char *msg)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	int ret = load(&o, yaml, &err);

	if (ret != -EINVAL)
		fail_msg("expected -EINVAL, got %d (%s) for:\n%s", ret, err.msg, yaml);
	assert_string_equal(err.msg, msg);
	assert_int_equal(o.n_namespaces + o.n_pods + o.n_policies, 0);
	np_objects_free(&o);
}

#define NP_HDR                                                                 \
	"apiVersion: networking.k8s.io/v1\n"                                   \
	"kind: NetworkPolicy\n"                                                \
	"metadata: {name: p, namespace: ns}\n"

static const char *cidr_str(const struct np_cidr *c)
{
	static char buf[80];
	char a[64];

	np_addr_str(&c->addr, a, sizeof(a));
	snprintf(buf, sizeof(buf), "%s/%u", a,
		 c->v4 ? (unsigned int)c->plen - 96 : (unsigned int)c->plen);
	return buf;
}

/* ---- policyTypes defaulting ---- */

static void test_types_default_ingress_only(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;

	(void)state;
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n");
	assert_true(p->types[NP_DIR_INGRESS]);
	assert_false(p->types[NP_DIR_EGRESS]);
	assert_int_equal(p->n_rules[NP_DIR_INGRESS], 0);
	assert_int_equal(p->n_rules[NP_DIR_EGRESS], 0);
	assert_true(np_selector_is_empty(&p->pod_sel));
	assert_string_equal(p->ns, "ns");
	assert_string_equal(p->name, "p");
	assert_string_equal(p->source, "test.yaml");
	assert_false(p->audit);
	np_objects_free(&o);
}

static void test_types_default_with_egress(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;

	(void)state;
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - {}\n");
	assert_true(p->types[NP_DIR_INGRESS]);
	assert_true(p->types[NP_DIR_EGRESS]);
	assert_int_equal(p->n_rules[NP_DIR_EGRESS], 1);
	assert_int_equal(p->rules[NP_DIR_EGRESS][0].n_peers, 0);
	assert_int_equal(p->rules[NP_DIR_EGRESS][0].n_ports, 0);
	np_objects_free(&o);
}

static void test_types_default_empty_egress(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;

	(void)state;
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n  egress: []\n");
	assert_true(p->types[NP_DIR_INGRESS]);
	assert_false(p->types[NP_DIR_EGRESS]);
	np_objects_free(&o);
	/* policyTypes: [] is defaulted like an absent one */
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n  policyTypes: []\n"
			   "  egress: [{}]\n");
	assert_true(p->types[NP_DIR_INGRESS]);
	assert_true(p->types[NP_DIR_EGRESS]);
	np_objects_free(&o);
}

static void test_types_explicit(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;

	(void)state;
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n");
	assert_false(p->types[NP_DIR_INGRESS]);
	assert_true(p->types[NP_DIR_EGRESS]);
	np_objects_free(&o);
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n"
			   "  policyTypes: [Ingress, Egress]\n  ingress: [{}]\n");
	assert_true(p->types[NP_DIR_INGRESS]);
	assert_true(p->types[NP_DIR_EGRESS]);
	assert_int_equal(p->n_rules[NP_DIR_INGRESS], 1);
	np_objects_free(&o);
	/* explicit Ingress with egress rules: egress is not isolated */
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n"
			   "  policyTypes: [Ingress]\n  egress: [{}]\n");
	assert_true(p->types[NP_DIR_INGRESS]);
	assert_false(p->types[NP_DIR_EGRESS]);
	np_objects_free(&o);
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  policyTypes: [ingress]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.policyTypes[0]: \"ingress\" is not a policy type: must be Ingress or Egress");
}

/* ---- peers ---- */

static void test_peers(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;
	const struct np_rule *r;
	const struct np_peer *pe;

	(void)state;
	p = one_policy(&o, NP_HDR
		       "spec:\n"
		       "  podSelector: {matchLabels: {app: db}}\n"
		       "  ingress:\n"
		       "  - from:\n"
		       "    - podSelector: {matchLabels: {app: web}}\n"
		       "      namespaceSelector: {matchLabels: {team: a}}\n"
		       "    - namespaceSelector: {}\n"
		       "    - ipBlock:\n"
		       "        cidr: 10.0.0.0/8\n"
		       "        except: [10.1.0.0/16, 10.2.3.4/32]\n"
		       "  - from: []\n"
		       "  - ports: [{port: 5432}]\n");
	assert_int_equal(p->n_rules[NP_DIR_INGRESS], 3);
	r = &p->rules[NP_DIR_INGRESS][0];
	assert_int_equal(r->n_peers, 3);
	assert_int_equal(r->n_ports, 0);
	pe = &r->peers[0];
	assert_true(pe->has_pod_sel);
	assert_true(pe->has_ns_sel);
	assert_false(pe->has_ip_block);
	assert_string_equal(np_labels_get(&pe->pod_sel.match_labels, "app"), "web");
	assert_string_equal(np_labels_get(&pe->ns_sel.match_labels, "team"), "a");
	pe = &r->peers[1];
	assert_false(pe->has_pod_sel);
	assert_true(pe->has_ns_sel);
	assert_true(np_selector_is_empty(&pe->ns_sel));
	pe = &r->peers[2];
	assert_true(pe->has_ip_block);
	assert_false(pe->has_pod_sel || pe->has_ns_sel);
	assert_string_equal(cidr_str(&pe->cidr), "10.0.0.0/8");
	assert_true(pe->cidr.v4);
	assert_int_equal(pe->n_except, 2);
	assert_string_equal(cidr_str(&pe->except[0]), "10.1.0.0/16");
	assert_string_equal(cidr_str(&pe->except[1]), "10.2.3.4/32");
	/* empty and missing from: every peer */
	assert_int_equal(p->rules[NP_DIR_INGRESS][1].n_peers, 0);
	assert_int_equal(p->rules[NP_DIR_INGRESS][2].n_peers, 0);
	assert_int_equal(p->rules[NP_DIR_INGRESS][2].n_ports, 1);
	np_objects_free(&o);
}

static void test_ipblock_canonical_and_v6(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;
	const struct np_peer *pe;

	(void)state;
	p = one_policy(&o, NP_HDR
		       "spec:\n"
		       "  podSelector: {}\n"
		       "  egress:\n"
		       "  - to:\n"
		       "    - ipBlock: {cidr: 10.10.1.12/24, except: [10.10.1.200/30]}\n"
		       "    - ipBlock: {cidr: 'fd00:1:2:3::9/48', except: ['fd00:1:2:8000::/49']}\n");
	pe = &p->rules[NP_DIR_EGRESS][0].peers[0];
	assert_string_equal(cidr_str(&pe->cidr), "10.10.1.0/24");
	assert_int_equal(pe->cidr.plen, 96 + 24);
	assert_string_equal(cidr_str(&pe->except[0]), "10.10.1.200/30");
	pe = &p->rules[NP_DIR_EGRESS][0].peers[1];
	assert_false(pe->cidr.v4);
	assert_string_equal(cidr_str(&pe->cidr), "fd00:1:2::/48");
	assert_string_equal(cidr_str(&pe->except[0]), "fd00:1:2:8000::/49");
	assert_true(p->types[NP_DIR_EGRESS]);
	np_objects_free(&o);
}

/* ---- ports ---- */

static void test_ports(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;
	const struct np_port_spec *ps;

	(void)state;
	p = one_policy(&o, NP_HDR
		       "spec:\n"
		       "  podSelector: {}\n"
		       "  ingress:\n"
		       "  - ports:\n"
		       "    - port: 80\n"
		       "    - port: metrics\n"
		       "      protocol: UDP\n"
		       "    - port: 30000\n"
		       "      endPort: 32767\n"
		       "      protocol: SCTP\n"
		       "    - protocol: UDP\n"
		       "    - {}\n"
		       "    - port: 443\n"
		       "      endPort: 443\n");
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].n_ports, 6);
	ps = p->rules[NP_DIR_INGRESS][0].ports;
	assert_int_equal(ps[0].proto, NP_PROTO_TCP);
	assert_true(ps[0].has_port);
	assert_null(ps[0].name);
	assert_int_equal(ps[0].port, 80);
	assert_int_equal(ps[0].end_port, 80);
	assert_int_equal(ps[1].proto, NP_PROTO_UDP);
	assert_true(ps[1].has_port);
	assert_string_equal(ps[1].name, "metrics");
	assert_int_equal(ps[1].port, 0);
	assert_int_equal(ps[2].proto, NP_PROTO_SCTP);
	assert_int_equal(ps[2].port, 30000);
	assert_int_equal(ps[2].end_port, 32767);
	assert_int_equal(ps[3].proto, NP_PROTO_UDP);
	assert_false(ps[3].has_port);
	assert_int_equal(ps[4].proto, NP_PROTO_TCP);
	assert_false(ps[4].has_port);
	assert_int_equal(ps[5].port, 443);
	assert_int_equal(ps[5].end_port, 443);
	np_objects_free(&o);
}

static void test_audit_annotation(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;

	(void)state;
	p = one_policy(&o, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			   "metadata:\n  name: a\n  annotations: {netpol-agent.io/audit: \"TRUE\"}\n"
			   "spec: {podSelector: {}}\n");
	assert_true(p->audit);
	assert_string_equal(p->ns, "default");
	np_objects_free(&o);
	p = one_policy(&o, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			   "metadata:\n  name: a\n  annotations: {netpol-agent.io/audit: \"false\"}\n"
			   "spec: {podSelector: {}}\n");
	assert_false(p->audit);
	np_objects_free(&o);
}

/* ---- whole files ---- */

static void test_multi_doc_yaml(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	const struct np_namespace *ns;
	const struct np_pod *pod;
	const struct np_policy *p;
	const struct np_rule *r;
	char buf[64];
	int ret;

	(void)state;
	ret = np_objects_load_path(&o, fixture("multi.yaml"), &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_namespaces, 1);
	assert_int_equal(o.n_pods, 1);
	assert_int_equal(o.n_policies, 1);

	ns = np_objects_namespace(&o, "relay");
	assert_non_null(ns);
	assert_string_equal(np_labels_get(&ns->labels, "team"), "net");
	assert_string_equal(np_labels_get(&ns->labels, "kubernetes.io/metadata.name"), "relay");
	assert_int_equal(ns->labels.n, 2);
	assert_string_equal(ns->source, fixture("multi.yaml"));
	assert_null(np_objects_namespace(&o, "other"));

	pod = np_objects_pod(&o, "relay", "web-0");
	assert_non_null(pod);
	assert_null(np_objects_pod(&o, "default", "web-0"));
	assert_string_equal(np_labels_get(&pod->labels, "app"), "web");
	assert_string_equal(np_labels_get(&pod->labels, "version"), "1.0");
	assert_int_equal(pod->n_ips, 2);
	assert_string_equal(np_addr_str(&pod->ips[0], buf, sizeof(buf)), "10.244.1.5");
	assert_string_equal(np_addr_str(&pod->ips[1], buf, sizeof(buf)), "fd00:10:244:1::5");
	assert_false(pod->host_network);
	assert_int_equal(pod->n_ports, 3); /* initContainers are not counted */
	assert_string_equal(pod->ports[0].name, "http");
	assert_int_equal(pod->ports[0].port, 8080);
	assert_int_equal(pod->ports[0].proto, NP_PROTO_TCP);
	assert_string_equal(pod->ports[1].name, "dns");
	assert_int_equal(pod->ports[1].proto, NP_PROTO_UDP);
	assert_string_equal(pod->ports[2].name, "admin");
	assert_int_equal(pod->ports[2].port, 9901);
	assert_int_equal(pod->ports[2].proto, NP_PROTO_SCTP);

	p = &o.policies[0];
	assert_string_equal(p->name, "allow-web");
	assert_true(p->audit);
	assert_true(p->types[NP_DIR_INGRESS]);
	assert_false(p->types[NP_DIR_EGRESS]);
	r = &p->rules[NP_DIR_INGRESS][0];
	assert_int_equal(r->n_peers, 2);
	assert_int_equal(r->peers[0].pod_sel.n_exprs, 1);
	assert_int_equal(r->peers[0].pod_sel.exprs[0].op, NP_SEL_IN);
	assert_int_equal(r->peers[0].pod_sel.exprs[0].n_values, 2);
	assert_string_equal(r->peers[0].pod_sel.exprs[0].values[1], "probe");
	assert_string_equal(cidr_str(&r->peers[1].cidr), "10.10.1.0/24");
	assert_int_equal(r->n_ports, 4);
	assert_string_equal(r->ports[0].name, "http");
	assert_int_equal(r->ports[1].end_port, 9100);
	assert_false(r->ports[2].has_port);
	assert_int_equal(r->ports[2].proto, NP_PROTO_UDP);
	assert_false(r->ports[3].has_port);
	assert_int_equal(r->ports[3].proto, NP_PROTO_TCP);
	np_objects_free(&o);
}

static void test_kind_list(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	const struct np_pod *pod;
	int ret;

	(void)state;
	ret = np_objects_load_path(&o, fixture("list.yaml"), &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_namespaces, 1);
	assert_int_equal(o.n_pods, 1);
	assert_int_equal(o.n_policies, 1);
	pod = np_objects_pod(&o, "default", "p1");
	assert_non_null(pod);
	assert_int_equal(pod->n_ips, 1);
	assert_int_equal(pod->labels.n, 0);
	assert_true(o.policies[0].types[NP_DIR_INGRESS]);
	assert_true(o.policies[0].types[NP_DIR_EGRESS]);
	assert_string_equal(o.policies[0].ns, "alpha");
	np_objects_free(&o);
}

static void test_json(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	const struct np_policy *p;
	const struct np_pod *pod;
	char buf[64];
	int ret;

	(void)state;
	ret = np_objects_load_path(&o, fixture("policies.json"), &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_policies, 2);
	p = &o.policies[0];
	assert_string_equal(p->ns, "kube-system");
	/* a quoted "true" stays a string */
	assert_string_equal(np_labels_get(&p->pod_sel.match_labels, "tier"), "true");
	assert_false(p->types[NP_DIR_INGRESS] && p->n_rules[NP_DIR_INGRESS]);
	assert_true(p->types[NP_DIR_EGRESS]);
	assert_string_equal(cidr_str(&p->rules[NP_DIR_EGRESS][0].peers[0].cidr), "fd00::/8");
	assert_int_equal(p->rules[NP_DIR_EGRESS][0].ports[0].proto, NP_PROTO_UDP);
	assert_int_equal(p->rules[NP_DIR_EGRESS][0].ports[1].port, 53);
	p = &o.policies[1];
	assert_string_equal(p->ns, "default");
	assert_int_equal(p->n_rules[NP_DIR_INGRESS], 1);
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].n_peers, 0);

	ret = np_objects_load_path(&o, fixture("pod.json"), &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_policies, 2);
	pod = np_objects_pod(&o, "beta", "single");
	assert_non_null(pod);
	assert_true(pod->host_network);
	assert_int_equal(pod->n_ips, 1); /* podIP and podIPs deduplicated */
	assert_string_equal(np_addr_str(&pod->ips[0], buf, sizeof(buf)), "192.168.1.20");
	assert_int_equal(pod->n_ports, 1);
	assert_null(pod->ports[0].name);
	assert_int_equal(pod->ports[0].proto, NP_PROTO_TCP);
	np_objects_free(&o);
}

/* Lists as the API server returns them: items without kind/apiVersion. */
static void test_typed_list_from_api(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	const struct np_pod *pod;
	int ret;

	(void)state;
	ret = np_objects_load_path(&o, fixture("podlist-api.json"), &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_pods, 2);
	pod = np_objects_pod(&o, "kube-system", "from-api");
	assert_non_null(pod);
	assert_int_equal(pod->n_ips, 1);
	assert_string_equal(pod->ports[0].name, "dns");
	assert_int_equal(pod->ports[0].proto, NP_PROTO_UDP);
	assert_non_null(np_objects_pod(&o, "kube-system", "explicit"));
	np_objects_free(&o);
	ret = load(&o, "kind: NetworkPolicyList\napiVersion: networking.k8s.io/v1\nitems:\n"
		       "- metadata: {name: a, namespace: b}\n  spec: {podSelector: {}}\n", &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_policies, 1);
	np_objects_free(&o);
	/* a plain List gives no kind to its items */
	expect_error("kind: List\napiVersion: v1\nitems:\n- metadata: {name: a}\n",
		     "test.yaml: document 1 items[0]: kind: is required");
	expect_error("kind: NamespaceList\napiVersion: v2\nitems:\n- metadata: {name: a}\n",
		     "test.yaml: document 1 items[0]: apiVersion: \"v2\" is not supported for a Namespace: expected v1");
}

static void test_directory(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	char dir[1024];
	int ret;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", fixture("dir"));
	ret = np_objects_load_path(&o, dir, &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_namespaces, 2);
	assert_int_equal(o.n_pods, 2);
	assert_int_equal(o.n_policies, 1);
	/* files in name order: 05-first.yaml before 20-pods.yml */
	assert_string_equal(o.pods[0].name, "z");
	assert_string_equal(o.pods[1].name, "a");
	assert_string_equal(o.namespaces[0].name, "prod");
	assert_string_equal(o.namespaces[1].name, "dev");
	assert_false(o.policies[0].types[NP_DIR_INGRESS]);
	assert_true(o.policies[0].types[NP_DIR_EGRESS]);
	assert_string_equal(o.policies[0].source, fixture("dir/30-policy.json"));
	np_objects_free(&o);

	/* a trailing slash does not double it */
	snprintf(dir, sizeof(dir), "%s/", fixture("dir"));
	ret = np_objects_load_path(&o, dir, &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_string_equal(o.policies[0].source, fixture("dir/30-policy.json"));
	np_objects_free(&o);
}

static void test_pods(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	int ret;

	(void)state;
	ret = load(&o,
		   "apiVersion: v1\nkind: Pod\nmetadata: {name: noip}\n"
		   "spec: {containers: [{name: c}], someFutureField: {x: 1}}\n"
		   "status: {phase: Pending, podIP: ''}\n"
		   "---\n"
		   "apiVersion: v1\nkind: Pod\nmetadata: {name: v6only}\n"
		   "status: {podIPs: [{ip: 'fd00::5'}]}\n",
		   &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_pods, 2);
	assert_int_equal(o.pods[0].n_ips, 0);
	assert_int_equal(o.pods[0].n_ports, 0);
	assert_int_equal(o.pods[1].n_ips, 1);
	assert_false(np_addr_is_v4(&o.pods[1].ips[0]));
	np_objects_free(&o);
	expect_error("apiVersion: v1\nkind: Pod\nmetadata: {name: two, namespace: x}\n"
		     "status:\n  podIPs:\n  - ip: 10.0.0.1\n  - ip: 10.0.0.2\n",
		     "test.yaml: Pod x/two: status.podIPs[1].ip: 10.0.0.2 is a second IPv4 address (pod already has 10.0.0.1); at most one per family");
	expect_error("apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\n"
		     "status: {podIP: 10.0.0.300}\n",
		     "test.yaml: Pod default/bad: status.podIP: \"10.0.0.300\" is not a valid IP address");
	expect_error("apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\n"
		     "spec: {containers: [{name: c, ports: [{containerPort: 0}]}]}\n",
		     "test.yaml: Pod default/bad: spec.containers[0].ports[0].containerPort: 0 is out of range 1-65535");
	expect_error("apiVersion: v1\nkind: Pod\nmetadata: {name: bad, labels: {on: true}}\n",
		     "test.yaml: Pod default/bad: metadata.labels[on]: label value must be a string, got a boolean (quote it, e.g. \"true\" or \"1\")");
}

/* ---- errors ---- */

static void test_error_unknown_fields(void **state)
{
	(void)state;
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingres: []\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingres: unknown field (expected one of: podSelector, policyTypes, ingress, egress)");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: 80\n    - prot: UDP\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[1].prot: unknown field (expected one of: protocol, port, endPort)");
	expect_error(NP_HDR "spec:\n  podSelector: {matchLabel: {a: b}}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchLabel: unknown field (expected one of: matchLabels, matchExpressions)");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - from: []\n",
		     "test.yaml: NetworkPolicy ns/p: spec.egress[0].from: unknown field (expected one of: to, ports)");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8, exept: []}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].from[0].ipBlock.exept: unknown field (expected one of: cidr, except)");
	expect_error(NP_HDR "sepc:\n  podSelector: {}\n",
		     "test.yaml: NetworkPolicy ns/p: sepc: unknown field (expected one of: apiVersion, kind, metadata, spec, status)");
}

static void test_error_ports(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };

	(void)state;
	assert_int_equal(np_objects_load_path(&o, fixture("bad-port.yaml"), &err), -EINVAL);
	{
		char want[2048];

		snprintf(want, sizeof(want),
			 "%s: NetworkPolicy relay/allow-aks: spec.ingress[0].ports[1].port: 70000 is out of range 1-65535",
			 fixture("bad-port.yaml"));
		assert_string_equal(err.msg, want);
	}
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 0}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].port: 0 is out of range 1-65535");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 8080, endPort: 80}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].endPort: 80 is less than port 8080");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 80, endPort: 65536}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].endPort: 65536 is out of range 1-65535");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: http, endPort: 80}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].endPort: may not be specified when port is a name (\"http\")");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{endPort: 80}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].endPort: may not be specified without port");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: \"80\"}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].port: \"80\" is not a valid port name: must contain at least one letter");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: Http}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].port: \"Http\" is not a valid port name: must consist of lower case letters, digits and '-'");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: a-very-long-port-name}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].port: \"a-very-long-port-name\" is not a valid port name: must be 1-15 characters");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{protocol: tcp}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].protocol: \"tcp\" is not a supported protocol: must be TCP, UDP or SCTP");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: [80]}]\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].port: must be a port number or a port name, got a list");
}

static void test_error_peers(void **state)
{
	(void)state;
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - from:\n"
		     "    - ipBlock: {cidr: 10.0.0.0/16}\n      podSelector: {}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].from[0]: ipBlock cannot be combined with podSelector or namespaceSelector in one peer (use separate peers)");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - {}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.ingress[0].from[0]: must specify at least one of podSelector, namespaceSelector or ipBlock");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - to:\n"
		     "    - ipBlock: {cidr: 10.1.0.0/16, except: [10.1.0.0/24, 10.2.0.0/24]}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.egress[0].to[0].ipBlock.except[1]: 10.2.0.0/24 is not strictly inside cidr 10.1.0.0/16");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - to:\n"
		     "    - ipBlock: {cidr: 10.1.0.0/16, except: [10.1.0.0/16]}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.egress[0].to[0].ipBlock.except[0]: 10.1.0.0/16 is not strictly inside cidr 10.1.0.0/16");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - to:\n"
		     "    - ipBlock: {cidr: 10.1.0.0/16, except: ['fd00::/64']}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.egress[0].to[0].ipBlock.except[0]: fd00::/64 is not the same address family as cidr 10.1.0.0/16");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - to:\n"
		     "    - ipBlock: {cidr: 10.0.0.0/33}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.egress[0].to[0].ipBlock.cidr: \"10.0.0.0/33\" is not a valid CIDR (expected e.g. 10.0.0.0/16 or fd00::/64)");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - to:\n"
		     "    - ipBlock: {cidr: 10.0.0.1}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.egress[0].to[0].ipBlock.cidr: \"10.0.0.1\" is not a valid CIDR (expected e.g. 10.0.0.0/16 or fd00::/64)");
	expect_error(NP_HDR "spec:\n  podSelector: {}\n  egress:\n  - to:\n"
		     "    - ipBlock: {except: [10.0.0.0/8]}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.egress[0].to[0].ipBlock.cidr: is required");
}

static void test_error_selectors(void **state)
{
	(void)state;
	expect_error(NP_HDR "spec:\n  podSelector:\n    matchExpressions:\n"
		     "    - {key: app, operator: In, values: []}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchExpressions[0].values: must be non-empty when operator is In");
	expect_error(NP_HDR "spec:\n  podSelector:\n    matchExpressions:\n"
		     "    - {key: app, operator: NotIn}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchExpressions[0].values: must be non-empty when operator is NotIn");
	expect_error(NP_HDR "spec:\n  podSelector:\n    matchExpressions:\n"
		     "    - {key: app, operator: Exists, values: [a]}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchExpressions[0].values: must be empty when operator is Exists");
	expect_error(NP_HDR "spec:\n  podSelector:\n    matchExpressions:\n"
		     "    - {key: app, operator: in, values: [a]}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchExpressions[0].operator: \"in\" is not a valid operator: must be In, NotIn, Exists or DoesNotExist");
	expect_error(NP_HDR "spec:\n  podSelector:\n    matchLabels: {\"bad key\": x}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchLabels[bad key]: invalid label key \"bad key\": must consist of letters, digits, '-', '_' and '.'");
	expect_error(NP_HDR "spec:\n  podSelector:\n    matchLabels: {app: 80}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchLabels[app]: label value must be a string, got an integer (quote it, e.g. \"true\" or \"1\")");
	expect_error(NP_HDR "spec:\n  podSelector:\n    matchLabels: {app: -x}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchLabels[app]: invalid label value \"-x\": must start and end with a letter or digit");
	expect_error(NP_HDR "spec: {}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector: is required (use {} to select every pod in the namespace)");
	expect_error(NP_HDR "spec:\n  podSelector: []\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector: must be a label selector mapping, got a list");
}

static void test_error_documents(void **state)
{
	(void)state;
	expect_error("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x}\n"
		     "spec: {podSelector: {}}\n",
		     "test.yaml: document 1: metadata.name: is required for a NetworkPolicy");
	expect_error("kind: Namespace\napiVersion: v1\nmetadata: {name: a}\n---\n"
		     "kind: Pod\napiVersion: v1\nmetadata: {name: Bad_Name}\n",
		     "test.yaml: document 2: metadata.name: invalid Pod name \"Bad_Name\": must consist of lower case letters, digits, '-' and '.', and start and end with a letter or digit (RFC 1123 subdomain)");
	expect_error("apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: a}\n",
		     "test.yaml: document 1: apiVersion: \"extensions/v1beta1\" is not supported for a NetworkPolicy: expected networking.k8s.io/v1");
	expect_error("metadata: {name: a}\n",
		     "test.yaml: document 1: kind: is required");
	expect_error("- a\n- b\n",
		     "test.yaml: document 1: expected a Kubernetes object (a mapping with apiVersion and kind), got a list");
	expect_error("kind: List\nitems:\n- kind: Pod\n  apiVersion: v1\n  metadata: {name: ok}\n"
		     "- kind: Pod\n  apiVersion: v1\n  metadata: {}\n",
		     "test.yaml: document 1 items[1]: metadata.name: is required for a Pod");
	expect_error(NP_HDR "spec: {podSelector: {}}\n---\n" NP_HDR "spec: {podSelector: {}}\n",
		     "test.yaml: NetworkPolicy ns/p: defined more than once (also in test.yaml)");
	expect_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
		     "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n",
		     "test.yaml: Namespace a: defined more than once (also in test.yaml)");
}

static void test_error_yaml(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	char want[2048];

	(void)state;
	assert_int_equal(np_objects_load_path(&o, fixture("bad-syntax.yaml"), &err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: line 6, column 1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence, line 5)",
		 fixture("bad-syntax.yaml"));
	assert_string_equal(err.msg, want);
	expect_error("a: b\n  c: d\n",
		     "test.yaml: line 2, column 4: YAML syntax error: mapping values are not allowed in this context");
	expect_error("kind: Pod\nkind: Pod\n",
		     "test.yaml: line 2, column 7: duplicate key \"kind\"");
	expect_error("base: &b {a: 1}\nother: *b\n",
		     "test.yaml: line 1, column 7: YAML anchors (&b) are not supported");
	expect_error("other: *b\n",
		     "test.yaml: line 1, column 8: YAML aliases (*b) are not supported; write the value out");
	expect_error("{[a]: 1}\n",
		     "test.yaml: line 1, column 2: mapping keys must be plain strings, not lists or mappings");
	expect_error("x: !!int abc\n",
		     "test.yaml: line 1, column 4: \"abc\" is not a valid !!int");
	expect_error("x: !custom abc\n",
		     "test.yaml: line 1, column 4: unsupported YAML tag !custom");
}

static void test_scalars(void **state)
{
	struct np_objects o = { 0 };
	const struct np_policy *p;

	(void)state;
	/* quoted and tagged scalars are strings; plain ones are typed */
	p = one_policy(&o, NP_HDR "spec:\n  podSelector:\n    matchLabels:\n"
			   "      a: \"true\"\n      b: '80'\n      c: !!str 1.5\n"
			   "      d: plain\n      e: \"\"\n      f: |-\n        lit\n"
			   "  ingress:\n  - ports:\n    - port: !!int \"443\"\n    - port: 0x50\n");
	assert_string_equal(np_labels_get(&p->pod_sel.match_labels, "a"), "true");
	assert_string_equal(np_labels_get(&p->pod_sel.match_labels, "b"), "80");
	assert_string_equal(np_labels_get(&p->pod_sel.match_labels, "c"), "1.5");
	assert_string_equal(np_labels_get(&p->pod_sel.match_labels, "d"), "plain");
	assert_string_equal(np_labels_get(&p->pod_sel.match_labels, "e"), "");
	assert_string_equal(np_labels_get(&p->pod_sel.match_labels, "f"), "lit");
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[0].port, 443);
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[1].port, 80);
	np_objects_free(&o);
	/* YAML 1.1 integers as kubectl and the API server read them (go-yaml
	 * v2): a leading 0 is octal, 0o octal, 0b binary, underscores dropped */
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n"
			   "  ingress:\n  - ports:\n    - port: 0100\n    - port: 1_000\n"
			   "    - port: 0b1\n    - port: 0o17\n    - port: +0x1_0\n");
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[0].port, 64);
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[1].port, 1000);
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[2].port, 1);
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[3].port, 15);
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[4].port, 16);
	np_objects_free(&o);
	/* not an octal number: go-yaml reads the float 8, JSON 8, port 8 */
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: 08\n");
	assert_int_equal(p->rules[NP_DIR_INGRESS][0].ports[0].port, 8);
	np_objects_free(&o);
	/* null / ~ / empty are absent */
	p = one_policy(&o, NP_HDR "spec:\n  podSelector: {matchLabels: ~}\n"
			   "  ingress:\n  policyTypes: null\n");
	assert_int_equal(p->n_rules[NP_DIR_INGRESS], 0);
	assert_true(p->types[NP_DIR_INGRESS]);
	np_objects_free(&o);
	expect_error(NP_HDR "spec:\n  podSelector: {matchLabels: {a: 1.5}}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchLabels[a]: label value must be a string, got a number (quote it, e.g. \"true\" or \"1\")");
	expect_error(NP_HDR "spec:\n  podSelector: {matchLabels: {a: yes}}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchLabels[a]: label value must be a string, got a boolean (quote it, e.g. \"true\" or \"1\")");
	expect_error(NP_HDR "spec:\n  podSelector: {matchLabels: {a: null}}\n",
		     "test.yaml: NetworkPolicy ns/p: spec.podSelector.matchLabels[a]: label value must be a string, got null (quote it, e.g. \"true\" or \"1\")");
}

/* Peak resident memory since reset_peak_rss(), KiB (VmHWM, reset by "5" in
 * clear_refs). */
static void reset_peak_rss(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	assert_non_null(f);
	assert_true(fputs("5", f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static long rss_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256], fmt[64];
	long kib = -1;

	assert_non_null(f);
	snprintf(fmt, sizeof(fmt), "%s: %%ld kB", field);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, fmt, &kib) == 1)
			break;
	fclose(f);
	assert_true(kib > 0);
	return kib;
}

/* A large multi-document manifest is read one document at a time: the
 * peak is the file, the model and one document's tree, not the file's
 * whole tree (17 times its size before). */
static void test_large_manifest_memory(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err;
	size_t cap = 12u << 20, len = 0;
	char *buf = malloc(cap);
	long before, peak;
	int i = 0;

	(void)state;
	assert_non_null(buf);
	while (len < cap - 4096) {
		len += (size_t)snprintf(buf + len, cap - len,
					"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
					"metadata:\n  name: p%d\n  namespace: ns%d\nspec:\n  podSelector:\n"
					"    matchLabels: {app: a%d}\n  ingress:\n  - from:\n", i, i % 100, i);
		for (int j = 0; j < 20 && len < cap - 256; j++)
			len += (size_t)snprintf(buf + len, cap - len,
						"    - ipBlock: {cidr: 10.%d.%d.0/24}\n", j, i % 250);
		len += (size_t)snprintf(buf + len, cap - len, "    ports: [{port: 443}]\n");
		i++;
	}
	before = rss_kib("VmRSS");
	reset_peak_rss();
	assert_int_equal(np_objects_load_buffer(&o, "big.yaml", buf, len, &err), 0);
	peak = rss_kib("VmHWM");
	assert_int_equal(o.n_policies, (size_t)i);
	print_message("  %zu MB manifest, %d policies: peak %ld MB above the start (%.1fx its size)\n",
		      len >> 20, i, (peak - before) >> 10, (double)(peak - before) * 1024 / (double)len);
	/* the model itself is about 3x the text here; 17x before.  (ASan's
	 * quarantine and redzones make the figure meaningless there.) */
#ifndef __SANITIZE_ADDRESS__
	assert_true((size_t)(peak - before) * 1024 < 6 * len);
#endif
	np_objects_free(&o);
	free(buf);
}

static void test_empty_inputs(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };

	(void)state;
	assert_int_equal(np_objects_load_buffer(&o, "e", "", 0, &err), 0);
	assert_int_equal(load(&o, "# only a comment\n", &err), 0);
	assert_int_equal(load(&o, "---\n---\n...\n", &err), 0);
	assert_int_equal(load(&o, "kind: List\nitems: []\n", &err), 0);
	assert_int_equal(load(&o, "kind: ConfigMap\ndata: {a: b}\n", &err), 0);
	assert_int_equal(o.n_namespaces + o.n_pods + o.n_policies, 0);
	assert_int_equal(np_objects_load_path(&o, fixture("does-not-exist.yaml"), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "does-not-exist.yaml"));
	np_objects_free(&o);
}

/* A failed load leaves the set exactly as it was, duplicates included. */
static void test_failed_load_leaves_objs(void **state)
{
	struct np_objects o = { 0 }, before;
	struct np_error err = { "" };
	int ret;

	(void)state;
	ret = np_objects_load_path(&o, fixture("multi.yaml"), &err);
	if (ret)
		fail_msg("%s", err.msg);
	before = o;
	/* good documents before the bad one are not kept */
	ret = load(&o, "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n---\n"
		       "apiVersion: v1\nkind: Pod\nmetadata: {name: extra}\n---\n"
		       NP_HDR "spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 99999}]}]\n",
		   &err);
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err.msg,
			    "test.yaml: NetworkPolicy ns/p: spec.ingress[0].ports[0].port: 99999 is out of range 1-65535");
	assert_memory_equal(&o, &before, sizeof(o));
	ret = np_objects_load_path(&o, fixture("bad-syntax.yaml"), &err);
	assert_int_equal(ret, -EINVAL);
	assert_memory_equal(&o, &before, sizeof(o));
	/* loading the same objects again is a duplicate, naming both files */
	ret = np_objects_load_path(&o, fixture("multi.yaml"), &err);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(err.msg, "defined more than once (also in "));
	assert_memory_equal(&o, &before, sizeof(o));
	/* a successful load appends */
	ret = np_objects_load_path(&o, fixture("list.yaml"), &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_int_equal(o.n_namespaces, 2);
	assert_int_equal(o.n_pods, 2);
	assert_int_equal(o.n_policies, 2);
	assert_non_null(np_objects_namespace(&o, "relay"));
	assert_non_null(np_objects_namespace(&o, "alpha"));
	np_objects_free(&o);
	assert_int_equal(o.n_policies, 0);
	assert_null(o.policies);
}

/* Never crash: every prefix of a valid file, and random byte damage. */
static void test_robustness(void **state)
{
	static const char *const files[] = { "multi.yaml", "policies.json" };
	unsigned int seed = 12345;

	(void)state;
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		FILE *fp = fopen(fixture(files[f]), "rb");
		char buf[8192], *copy;
		size_t len;

		assert_non_null(fp);
		len = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		copy = malloc(len);
		assert_non_null(copy);
		for (size_t cut = 0; cut <= len; cut++) {
			struct np_objects o = { 0 };
			struct np_error err;

			memcpy(copy, buf, cut);
			(void)np_objects_load_buffer(&o, "cut", copy, cut, &err);
			np_objects_free(&o);
		}
		for (int round = 0; round < 2000; round++) {
			struct np_objects o = { 0 };
			struct np_error err;

			memcpy(copy, buf, len);
			for (int k = 0; k < 3; k++) {
				seed = seed * 1103515245u + 12345u;
				copy[(seed >> 8) % len] = (char)(seed >> 16);
			}
			(void)np_objects_load_buffer(&o, "fuzz", copy, len, &err);
			np_objects_free(&o);
		}
		free(copy);
	}
}

static void test_deep_nesting(void **state)
{
	struct np_objects o = { 0 };
	struct np_error err = { "" };
	char *deep = malloc(20001);

	(void)state;
	assert_non_null(deep);
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	assert_int_equal(load(&o, deep, &err), -EINVAL);
	assert_string_equal(err.msg, "test.yaml: line 1, column 129: nested deeper than 128 levels");
	free(deep);
}

int main(void)
{
	const char *env = getenv("NP_FIXTURES");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types_default_ingress_only),
		cmocka_unit_test(test_types_default_with_egress),
		cmocka_unit_test(test_types_default_empty_egress),
		cmocka_unit_test(test_types_explicit),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_ipblock_canonical_and_v6),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_audit_annotation),
		cmocka_unit_test(test_multi_doc_yaml),
		cmocka_unit_test(test_kind_list),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_typed_list_from_api),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_pods),
		cmocka_unit_test(test_error_unknown_fields),
		cmocka_unit_test(test_error_ports),
		cmocka_unit_test(test_error_peers),
		cmocka_unit_test(test_error_selectors),
		cmocka_unit_test(test_error_documents),
		cmocka_unit_test(test_error_yaml),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_large_manifest_memory),
		cmocka_unit_test(test_empty_inputs),
		cmocka_unit_test(test_failed_load_leaves_objs),
		cmocka_unit_test(test_robustness),
		cmocka_unit_test(test_deep_nesting),
	};

	snprintf(fixtures, sizeof(fixtures), "%s",
		 env && *env ? env : "tests/unit/fixtures");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
