// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The API object caches and the snapshot the compiler gets
 * (user/kubecache.c): an address belongs to at most one live pod; files and
 * API objects merged with the API winning. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kube.h"

static json_t *pod(const char *ns, const char *name, const char *ip, const char *app,
		   const char *phase, const char *created, bool deleting, bool host)
{
	json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:s}, s:{s:s, s:b}, s:{s:s}}",
			      "apiVersion", "v1", "kind", "Pod",
			      "metadata", "name", name, "namespace", ns, "labels", "app", app,
			      "creationTimestamp", created,
			      "spec", "nodeName", "node-1", "hostNetwork", host,
			      "status", "phase", phase);

	assert_non_null(o);
	if (ip) {
		json_object_set_new(json_object_get(o, "status"), "podIP", json_string(ip));
		json_object_set_new(json_object_get(o, "status"), "podIPs",
				    json_pack("[{s:s}]", "ip", ip));
	}
	if (deleting)
		json_object_set_new(json_object_get(o, "metadata"), "deletionTimestamp",
				    json_string("2026-11-28T10:00:00Z"));
	return o;
}

static void upsert(struct np_kubecache *c, enum np_kind kind, json_t *o, int want)
{
	assert_int_equal(np_kubecache_upsert(c, kind, o), want);
	json_decref(o);
}

/* DELETED carries the last state; only the name matters. */
static void del_pod(struct np_kubecache *c, const char *ns, const char *name, int want)
{
	json_t *o = json_pack("{s:{s:s,s:s}}", "metadata", "name", name, "namespace", ns);

	assert_int_equal(np_kubecache_delete(c, NP_KIND_POD, o), want);
	json_decref(o);
}

static const struct np_pod *find(const struct np_objects *o, const char *name)
{
	for (size_t i = 0; i < o->n_pods; i++)
		if (strcmp(o->pods[i].name, name) == 0)
			return &o->pods[i];
	return NULL;
}

/* Who owns ADDR in the snapshot: the one live pod with it, or NULL. */
static const char *owner(const struct np_objects *o, const char *addr)
{
	const char *who = NULL;
	struct np_addr a;

	assert_int_equal(np_addr_parse(addr, &a), 0);
	for (size_t i = 0; i < o->n_pods; i++) {
		for (size_t j = 0; j < o->pods[i].n_ips; j++) {
			if (memcmp(&o->pods[i].ips[j], &a, sizeof(a)) != 0 || o->pods[i].host_network)
				continue;
			assert_null(who); /* at most one */
			who = o->pods[i].name;
		}
	}
	return who;
}

static const char *snap_owner(struct np_kubecache *c, const char *addr, char *buf)
{
	struct np_objects o;
	const char *w;

	assert_int_equal(np_kubecache_snapshot(c, NULL, &o), 0);
	w = owner(&o, addr);
	snprintf(buf, 64, "%s", w ? w : "(none)");
	np_objects_free(&o);
	return buf;
}

static void test_ip_reuse(void **state)
{
	struct np_kubecache c;
	char b[64];

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	upsert(&c, NP_KIND_POD, pod("a", "old", "10.1.0.5", "x", "Running", "2026-11-01T00:00:00Z", false, false), 1);
	assert_string_equal(snap_owner(&c, "10.1.0.5", b), "old");
	/* completed: its address is free, even before the new pod exists */
	upsert(&c, NP_KIND_POD, pod("a", "old", "10.1.0.5", "x", "Succeeded", "2026-11-01T00:00:00Z", false, false), 1);
	assert_string_equal(snap_owner(&c, "10.1.0.5", b), "(none)");
	/* the new pod (created later) gets it */
	upsert(&c, NP_KIND_POD, pod("b", "new", "10.1.0.5", "y", "Running", "2026-11-02T00:00:00Z", false, false), 1);
	assert_string_equal(snap_owner(&c, "10.1.0.5", b), "new");
	/* a stale Running view of an older pod with the same address loses to
	 * the newer one (the kubelet's update of the old one may come late) */
	upsert(&c, NP_KIND_POD, pod("a", "old", "10.1.0.5", "x", "Running", "2026-11-01T00:00:00Z", false, false), 1);
	assert_string_equal(snap_owner(&c, "10.1.0.5", b), "new");
	/* a terminating pod loses to a live one, however new it is */
	upsert(&c, NP_KIND_POD, pod("b", "new", "10.1.0.5", "y", "Running", "2026-11-02T00:00:00Z", true, false), 1);
	assert_string_equal(snap_owner(&c, "10.1.0.5", b), "old");
	/* ...but keeps its address while nobody else claims it */
	upsert(&c, NP_KIND_POD, pod("a", "old", "10.1.0.5", "x", "Failed", "2026-11-01T00:00:00Z", false, false), 1);
	assert_string_equal(snap_owner(&c, "10.1.0.5", b), "new");
	/* gone: nobody */
	del_pod(&c, "b", "new", 1);
	del_pod(&c, "b", "new", 0);
	assert_string_equal(snap_owner(&c, "10.1.0.5", b), "(none)");
	np_kubecache_free(&c);
}

/* Namespaces are keyed by name alone. */
static void test_delete_namespace(void **state)
{
	struct np_kubecache c;
	json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "ns1");

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	upsert(&c, NP_KIND_NAMESPACE, json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", "ns1"), 1);
	assert_int_equal(np_kubecache_delete(&c, NP_KIND_NAMESPACE, o), 1);
	json_decref(o);
	assert_int_equal(np_kubecache_count(&c, NP_KIND_NAMESPACE), 0);
	np_kubecache_free(&c);
}

static void test_no_address_and_host_network(void **state)
{
	struct np_kubecache c;
	struct np_objects o;

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	upsert(&c, NP_KIND_POD, pod("a", "pending", NULL, "x", "Pending", "2026-11-01T00:00:00Z", false, false), 1);
	upsert(&c, NP_KIND_POD, pod("a", "h1", "10.0.0.1", "x", "Running", "2026-11-01T00:00:00Z", false, true), 1);
	upsert(&c, NP_KIND_POD, pod("a", "h2", "10.0.0.1", "x", "Running", "2026-11-02T00:00:00Z", false, true), 1);
	assert_int_equal(np_kubecache_snapshot(&c, NULL, &o), 0);
	assert_int_equal(o.n_pods, 3);
	assert_int_equal(find(&o, "pending")->n_ips, 0);
	/* host-network pods share the node's address: both keep it */
	assert_int_equal(find(&o, "h1")->n_ips, 1);
	assert_int_equal(find(&o, "h2")->n_ips, 1);
	np_objects_free(&o);
	np_kubecache_free(&c);
}

static json_t *policy_json(const char *name, const char *spec_json)
{
	json_error_t jerr;
	json_t *spec = json_loads(spec_json, 0, &jerr);
	json_t *o;

	assert_non_null(spec);
	o = json_pack("{s:s,s:s,s:{s:s,s:s},s:o}", "apiVersion", "networking.k8s.io/v1",
		      "kind", "NetworkPolicy", "metadata", "name", name, "namespace", "n",
		      "spec", spec);
	assert_non_null(o);
	return o;
}

static const struct np_policy *snap_policy(const struct np_objects *o, const char *name)
{
	for (size_t i = 0; i < o->n_policies; i++)
		if (strcmp(o->policies[i].name, name) == 0)
			return &o->policies[i];
	return NULL;
}

static void count_cb(void *ctx, const char *object, const char *in_force, const char *why)
{
	char *log = ctx;

	(void)why;
	snprintf(log + strlen(log), 512 - strlen(log), "%s=%s;", object, in_force);
}

/* An object the API accepted but we cannot validate never widens access:
 * the last good version stays; a policy seen only invalid isolates what it
 * selects, with no rules. */
static void test_invalid_object_never_widens(void **state)
{
	struct np_kubecache c;
	struct np_objects o;
	const struct np_policy *p;
	char log[512];

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	upsert(&c, NP_KIND_POLICY, policy_json("p", "{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/8\"}}]}]}"), 1);
	/* a field we do not know: the good version stays */
	upsert(&c, NP_KIND_POLICY, policy_json("p", "{\"podSelector\": {}, \"futureField\": 1}"), 0);
	assert_int_equal(c.invalid, 1);
	upsert(&c, NP_KIND_POLICY, policy_json("p", "{\"podSelector\": {}, \"futureField\": 1}"), 0);
	assert_int_equal(c.invalid, 1); /* the same bad version again: not re-parsed */
	/* seen only invalid: isolation in the directions it names, no rules */
	upsert(&c, NP_KIND_POLICY, policy_json("q", "{\"podSelector\": {\"matchLabels\": {\"app\": \"x\"}}, \"policyTypes\": [\"Ingress\", \"Egress\"], \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/33\"}}]}]}"), 1);
	/* no policyTypes but an egress key: both directions (fail closed) */
	upsert(&c, NP_KIND_POLICY, policy_json("r", "{\"podSelector\": {}, \"egress\": [{\"to\": 5}]}"), 1);
	/* not even the selector can be read: left out */
	upsert(&c, NP_KIND_POLICY, policy_json("s", "{\"podSelector\": 5}"), 0);
	assert_int_equal(c.invalid, 4);
	assert_int_equal(np_kubecache_snapshot(&c, NULL, &o), 0);
	assert_int_equal(o.n_policies, 3);
	p = snap_policy(&o, "p");
	assert_non_null(p);
	assert_int_equal(p->n_rules[NP_DIR_INGRESS], 1);
	p = snap_policy(&o, "q");
	assert_non_null(p);
	assert_true(p->types[NP_DIR_INGRESS] && p->types[NP_DIR_EGRESS]);
	assert_int_equal(p->n_rules[NP_DIR_INGRESS] + p->n_rules[NP_DIR_EGRESS], 0);
	assert_int_equal(p->pod_sel.match_labels.n, 1);
	p = snap_policy(&o, "r");
	assert_non_null(p);
	assert_true(p->types[NP_DIR_INGRESS] && p->types[NP_DIR_EGRESS]);
	assert_int_equal(p->n_rules[NP_DIR_EGRESS], 0);
	np_objects_free(&o);
	log[0] = '\0';
	assert_int_equal(np_kubecache_invalid(&c, count_cb, log), 3);
	assert_non_null(strstr(log, "NetworkPolicy n/p=last good version;"));
	assert_non_null(strstr(log, "NetworkPolicy n/q=isolation only (no rules);"));
	/* a good version ends it */
	upsert(&c, NP_KIND_POLICY, policy_json("q", "{\"podSelector\": {}}"), 1);
	assert_int_equal(np_kubecache_invalid(&c, NULL, NULL), 2);
	/* deleting the object deletes the kept version too */
	{
		json_t *d = json_pack("{s:{s:s,s:s}}", "metadata", "name", "p", "namespace", "n");

		assert_int_equal(np_kubecache_delete(&c, NP_KIND_POLICY, d), 1);
		json_decref(d);
	}
	assert_int_equal(np_kubecache_invalid(&c, NULL, NULL), 1);
	/* nameless: ignored */
	upsert(&c, NP_KIND_POD, json_pack("{s:{}}", "metadata"), 0);
	/* a re-list: the staging cache starts empty and finds the last good
	 * version in the live cache */
	{
		struct np_kubecache staging;

		upsert(&c, NP_KIND_POLICY, policy_json("p", "{\"podSelector\": {}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/8\"}}]}]}"), 1);
		assert_int_equal(np_kubecache_init(&staging), 0);
		staging.fallback = &c;
		upsert(&staging, NP_KIND_POLICY, policy_json("p", "{\"podSelector\": {}, \"futureField\": 1}"), 1);
		assert_int_equal(np_kubecache_snapshot(&staging, NULL, &o), 0);
		p = snap_policy(&o, "p");
		assert_non_null(p);
		assert_int_equal(p->n_rules[NP_DIR_INGRESS], 1);
		np_objects_free(&o);
		log[0] = '\0';
		assert_int_equal(np_kubecache_invalid(&staging, count_cb, log), 1);
		assert_non_null(strstr(log, "NetworkPolicy n/p=last good version;"));
		np_kubecache_free(&staging);
	}
	np_kubecache_free(&c);
}

/* Objects of another kind on a resource's list or watch are refused and
 * never stored: a Pod on the namespaces watch used to be stored as an
 * empty namespace entry and crashed the next snapshot. */
static void test_wrong_kind_refused(void **state)
{
	struct np_kubecache c;
	struct np_objects o;
	json_t *list;

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	upsert(&c, NP_KIND_NAMESPACE, json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1",
						"kind", "Namespace", "metadata", "name", "ok"), 1);
	/* a Pod on the namespaces watch */
	upsert(&c, NP_KIND_NAMESPACE, pod("n", "p", "10.0.0.1", "a", "Running",
					  "2026-11-28T10:00:00Z", false, false), 0);
	/* a namespace with the wrong apiVersion, a list, an unknown kind,
	 * a kind that is not a string */
	upsert(&c, NP_KIND_NAMESPACE, json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v2",
						"kind", "Namespace", "metadata", "name", "x"), 0);
	list = json_pack("{s:s,s:s,s:{s:s},s:[{s:{s:s}}]}", "apiVersion", "v1", "kind", "NamespaceList",
			 "metadata", "name", "l", "items", "metadata", "name", "y");
	upsert(&c, NP_KIND_NAMESPACE, list, 0);
	upsert(&c, NP_KIND_POLICY, json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1", "kind", "Frobnicator",
					     "metadata", "name", "f", "namespace", "n"), 0);
	upsert(&c, NP_KIND_POD, json_pack("{s:s,s:i,s:{s:s,s:s}}", "apiVersion", "v1", "kind", 7,
					  "metadata", "name", "q", "namespace", "n"), 0);
	assert_int_equal(c.wrong_kind, 5);
	assert_int_equal(np_kubecache_count(&c, NP_KIND_NAMESPACE), 1);
	assert_int_equal(np_kubecache_count(&c, NP_KIND_POD), 0);
	assert_int_equal(np_kubecache_count(&c, NP_KIND_POLICY), 0);
	/* the snapshot holds only the good namespace */
	assert_int_equal(np_kubecache_snapshot(&c, NULL, &o), 0);
	assert_int_equal(o.n_namespaces, 1);
	assert_string_equal(o.namespaces[0].name, "ok");
	assert_int_equal(o.n_pods, 0);
	np_objects_free(&o);
	/* list items without kind are what lists send: accepted */
	upsert(&c, NP_KIND_NAMESPACE, json_pack("{s:{s:s}}", "metadata", "name", "nokind"), 1);
	{
		json_t *w = json_pack("{s:{}}", "o");

		assert_null(np_kubecache_wrong_kind(NP_KIND_NAMESPACE, json_object_get(w, "o")));
		assert_string_equal(np_kubecache_wrong_kind(NP_KIND_NAMESPACE, json_object_get(w, "none")), "?");
		json_decref(w);
	}
	np_kubecache_free(&c);
}

static void test_files_and_api(void **state)
{
	const char *files_yaml =
		"apiVersion: v1\nkind: Pod\nmetadata: {name: fp, namespace: shared}\nstatus: {podIP: 10.9.0.1}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: fp2, namespace: shared}\nstatus: {podIP: 10.9.0.2}\n---\n"
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: shared, labels: {from: file}}\n---\n"
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: fileonly}\n---\n"
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: p, namespace: shared}\nspec: {podSelector: {matchLabels: {a: file}}}\n";
	struct np_objects files = { 0 }, o;
	struct np_kubecache c;
	struct np_error err;
	const struct np_namespace *ns;

	(void)state;
	assert_int_equal(np_objects_load_buffer(&files, "files.yaml", files_yaml, strlen(files_yaml), &err), 0);
	assert_int_equal(np_kubecache_init(&c), 0);
	upsert(&c, NP_KIND_NAMESPACE, json_pack("{s:s,s:s,s:{s:s,s:{s:s}}}", "apiVersion", "v1", "kind", "Namespace",
						"metadata", "name", "shared", "labels", "from", "api"), 1);
	upsert(&c, NP_KIND_POD, pod("shared", "apipod", "10.9.0.1", "x", "Running", "2026-11-01T00:00:00Z", false, false), 1);
	assert_int_equal(np_kubecache_snapshot(&c, &files, &o), 0);
	assert_int_equal(o.n_namespaces, 2);
	assert_string_equal(owner(&o, "10.9.0.1"), "apipod"); /* API pod beats a file pod */
	assert_string_equal(owner(&o, "10.9.0.2"), "fp2");
	ns = np_objects_namespace(&o, "shared");
	assert_string_equal(np_labels_get(&ns->labels, "from"), "api"); /* API wins */
	assert_non_null(np_objects_namespace(&o, "fileonly"));
	assert_int_equal(o.n_policies, 1); /* the file's policy, copied */
	assert_string_equal(o.policies[0].source, "files.yaml");
	assert_string_equal(o.policies[0].pod_sel.match_labels.items[0].value, "file");
	np_objects_free(&o);
	np_objects_free(&files);
	np_kubecache_free(&c);
}

static void test_replace_after_relist(void **state)
{
	struct np_kubecache c, staging;
	uint64_t gen;

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	assert_int_equal(np_kubecache_init(&staging), 0);
	upsert(&c, NP_KIND_POD, pod("a", "gone-while-away", "10.1.0.1", "x", "Running", "2026-11-01T00:00:00Z", false, false), 1);
	upsert(&c, NP_KIND_NAMESPACE, json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", "keep"), 1);
	upsert(&staging, NP_KIND_POD, pod("a", "new", "10.1.0.2", "x", "Running", "2026-11-01T00:00:00Z", false, false), 1);
	gen = c.generation;
	np_kubecache_replace(&c, &staging, NP_KIND_POD);
	assert_true(c.generation > gen);
	assert_int_equal(np_kubecache_count(&c, NP_KIND_POD), 1);
	assert_int_equal(np_kubecache_count(&staging, NP_KIND_POD), 0);
	assert_int_equal(np_kubecache_count(&c, NP_KIND_NAMESPACE), 1); /* other kinds untouched */
	np_kubecache_free(&staging);
	np_kubecache_free(&c);
}

/* Updates that change nothing the agent uses are not changes: the
 * kubelet's status updates must not recompile anything. */
static void test_irrelevant_updates(void **state)
{
	struct np_kubecache c;
	json_t *p = pod("a", "web", "10.1.0.9", "web", "Running", "2026-11-01T00:00:00Z", false, false);
	json_t *pol = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:{}}}", "apiVersion", "networking.k8s.io/v1",
				"kind", "NetworkPolicy", "metadata", "name", "p", "namespace", "a",
				"annotations", "note", "v1", "spec", "podSelector");
	uint64_t gen;

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POD, p), 1);
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POLICY, pol), 1);
	gen = c.generation;
	/* conditions, container statuses, resourceVersion: not a change */
	json_object_set_new(json_object_get(p, "status"), "conditions",
			    json_pack("[{s:s,s:s}]", "type", "Ready", "status", "False"));
	json_object_set_new(json_object_get(p, "metadata"), "resourceVersion", json_string("77"));
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POD, p), 0);
	/* another annotation on the policy: not a change */
	json_object_set_new(json_object_get(json_object_get(pol, "metadata"), "annotations"),
			    "note", json_string("v2"));
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POLICY, pol), 0);
	assert_int_equal(c.generation, gen);
	/* a label, the address, the phase, a port, the audit annotation: changes */
	json_object_set_new(json_object_get(json_object_get(p, "metadata"), "labels"), "v", json_string("2"));
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POD, p), 1);
	json_object_set_new(json_object_get(p, "status"), "podIP", json_string("10.1.0.10"));
	json_object_set_new(json_object_get(p, "status"), "podIPs", json_pack("[{s:s}]", "ip", "10.1.0.10"));
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POD, p), 1);
	json_object_set_new(json_object_get(p, "status"), "phase", json_string("Succeeded"));
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POD, p), 1);
	json_object_set_new(json_object_get(p, "spec"), "containers",
			    json_pack("[{s:s,s:[{s:i}]}]", "name", "c", "ports", "containerPort", 80));
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POD, p), 1);
	json_object_set_new(json_object_get(json_object_get(pol, "metadata"), "annotations"),
			    NP_AUDIT_ANNOTATION, json_string("true"));
	assert_int_equal(np_kubecache_upsert(&c, NP_KIND_POLICY, pol), 1);
	assert_true(c.generation > gen);
	json_decref(p);
	json_decref(pol);
	np_kubecache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_reuse),
		cmocka_unit_test(test_delete_namespace),
		cmocka_unit_test(test_no_address_and_host_network),
		cmocka_unit_test(test_invalid_object_never_widens),
		cmocka_unit_test(test_wrong_kind_refused),
		cmocka_unit_test(test_files_and_api),
		cmocka_unit_test(test_replace_after_relist),
		cmocka_unit_test(test_irrelevant_updates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
