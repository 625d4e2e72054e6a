// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Embedded Metric Format records (user/emf.c): shape and counts. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "emf.h"

static json_t *rec_json(const struct np_rec *r)
{
	json_t *doc = json_loadb(r->line, r->len, 0, NULL);

	assert_non_null(doc);
	assert_int_equal(strlen(r->line), r->len);
	return doc;
}

/* Every dimension key and metric name of the directive is a top-level member. */
static void check_shape(json_t *doc, int64_t ts)
{
	json_t *aws = json_object_get(doc, "_aws"), *cwm, *d, *dims, *m;
	size_t i, j;

	assert_non_null(aws);
	assert_int_equal(json_integer_value(json_object_get(aws, "Timestamp")), ts);
	cwm = json_object_get(aws, "CloudWatchMetrics");
	assert_int_equal(json_array_size(cwm), 1);
	d = json_array_get(cwm, 0);
	assert_string_equal(json_string_value(json_object_get(d, "Namespace")), "NetpolAgent");
	json_array_foreach(json_object_get(d, "Dimensions"), i, dims) {
		json_t *k;

		assert_true(json_array_size(dims) >= 1);
		json_array_foreach(dims, j, k) {
			const char *key = json_string_value(k);

			assert_true(!strcmp(key, "ClusterName") || !strcmp(key, "Node") ||
				    !strcmp(key, "Direction") || !strcmp(key, "Policy"));
			assert_true(json_is_string(json_object_get(doc, key)));
		}
	}
	json_array_foreach(json_object_get(d, "Metrics"), i, m) {
		assert_string_equal(json_string_value(json_object_get(m, "Unit")), "Count");
		assert_true(json_is_integer(json_object_get(doc, json_string_value(json_object_get(m, "Name")))));
	}
}

static void test_records(void **state)
{
	struct np_emf_counts c = { .cluster = "prod", .node = "ip-10-0-0-1" };
	struct np_rec *r = NULL;
	size_t n = 0;
	json_t *doc;

	(void)state;
	assert_int_equal(np_emf_count(&c, NP_EMF_INGRESS, NP_EMF_REJECT, "relay/default-deny"), 0);
	assert_int_equal(np_emf_count(&c, NP_EMF_INGRESS, NP_EMF_REJECT, "relay/default-deny"), 0);
	assert_int_equal(np_emf_count(&c, NP_EMF_INGRESS, NP_EMF_ACCEPT, "relay/allow-web"), 0);
	assert_int_equal(np_emf_count(&c, NP_EMF_EGRESS, NP_EMF_AUDIT, NULL), 0);
	assert_int_equal(np_emf_count(&c, 7, NP_EMF_AUDIT, NULL), -EINVAL);
	assert_int_equal(np_emf_records(&c, 1700000000123, &r, &n), 0);
	/* 2 direction records + 2 (policy, direction) records */
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		doc = rec_json(&r[i]);
		check_shape(doc, 1700000000123);
		assert_int_equal(r[i].ts_ms, 1700000000123);
		json_decref(doc);
	}
	doc = rec_json(&r[0]);
	assert_string_equal(json_string_value(json_object_get(doc, "Direction")), "ingress");
	assert_int_equal(json_integer_value(json_object_get(doc, "RejectedFlows")), 2);
	assert_int_equal(json_integer_value(json_object_get(doc, "AcceptedFlows")), 1);
	assert_int_equal(json_integer_value(json_object_get(doc, "AuditFlows")), 0);
	json_decref(doc);
	doc = rec_json(&r[1]);
	assert_string_equal(json_string_value(json_object_get(doc, "Direction")), "egress");
	assert_int_equal(json_integer_value(json_object_get(doc, "AuditFlows")), 1);
	json_decref(doc);
	doc = rec_json(&r[2]);
	assert_string_equal(json_string_value(json_object_get(doc, "Policy")), "relay/default-deny");
	assert_int_equal(json_integer_value(json_object_get(doc, "RejectedFlows")), 2);
	assert_null(json_object_get(doc, "srcAddr"));
	json_decref(doc);
	for (size_t i = 0; i < n; i++)
		np_rec_free(&r[i]);
	free(r);
	np_emf_reset(&c);
	assert_int_equal(c.n_policies, 0);
	assert_int_equal(c.n[NP_EMF_INGRESS][NP_EMF_REJECT], 0);
}

static void test_count_record(void **state)
{
	struct np_emf_counts c = { 0 };
	static const char *const lines[] = {
		"{\"flowDirection\":\"egress\",\"action\":\"REJECT\",\"logStatus\":\"OK\","
		"\"policy\":\"a/p1,a/p2\"}",
		"{\"flowDirection\":\"ingress\",\"action\":\"ACCEPT\",\"logStatus\":\"OK\","
		"\"policy\":\"b/allow\",\"policyRule\":\"ingress[0]\"}",
		"{\"logStatus\":\"SKIPDATA\",\"droppedRecords\":5}",
		"{\"_aws\":{}}",
	};

	(void)state;
	static const int want[] = { 1, 1, 0, 0 };

	for (size_t i = 0; i < 4; i++)
		assert_int_equal(np_emf_count_record(&c, lines[i], strlen(lines[i])), want[i]);
	assert_int_equal(np_emf_count_record(&c, "nope", 4), -EINVAL);
	assert_int_equal(c.n[NP_EMF_EGRESS][NP_EMF_REJECT], 1);
	assert_int_equal(c.n[NP_EMF_INGRESS][NP_EMF_ACCEPT], 1);
	assert_int_equal(c.n_policies, 3);
	assert_string_equal(c.policies[1].name, "a/p2");
	assert_int_equal(c.policies[1].n[NP_EMF_EGRESS][NP_EMF_REJECT], 1);
	np_emf_reset(&c);
}

static void test_policy_cap(void **state)
{
	struct np_emf_counts c = { 0 };
	char name[32];

	(void)state;
	for (int i = 0; i < NP_EMF_MAX_POLICIES + 10; i++) {
		snprintf(name, sizeof(name), "ns/p%d", i);
		assert_int_equal(np_emf_count(&c, NP_EMF_INGRESS, NP_EMF_ACCEPT, name), 0);
	}
	/* the cap, plus the "other" bucket holding the rest */
	assert_int_equal(c.n_policies, NP_EMF_MAX_POLICIES + 1);
	assert_string_equal(c.policies[NP_EMF_MAX_POLICIES].name, "other");
	assert_int_equal(c.policies[NP_EMF_MAX_POLICIES].n[NP_EMF_INGRESS][NP_EMF_ACCEPT], 10);
	np_emf_reset(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_count_record),
		cmocka_unit_test(test_policy_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
