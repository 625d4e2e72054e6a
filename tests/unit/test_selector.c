// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* metav1.LabelSelector semantics (user/selector.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Labels of the pod under test: app=web, tier=front, env=prod. */
static struct np_label pod_items[] = {
	{ "app", "web" },
	{ "tier", "front" },
	{ "env", "prod" },
};
static const struct np_labels pod = { pod_items, N(pod_items) };
static const struct np_labels none = { NULL, 0 };

static struct np_selector sel_labels(struct np_label *items, size_t n)
{
	struct np_selector s = { .match_labels = { items, n } };

	return s;
}

static struct np_selector sel_expr(struct np_sel_expr *e, size_t n)
{
	struct np_selector s = { .exprs = e, .n_exprs = n };

	return s;
}

static void test_empty_matches_everything(void **state)
{
	struct np_selector s = { 0 };

	(void)state;
	assert_true(np_selector_is_empty(&s));
	assert_true(np_selector_matches(&s, &pod));
	assert_true(np_selector_matches(&s, &none));
}

static void test_match_labels(void **state)
{
	struct np_label one[] = { { "app", "web" } };
	struct np_label two[] = { { "app", "web" }, { "env", "prod" } };
	struct np_label wrong[] = { { "app", "web" }, { "env", "dev" } };
	struct np_label missing[] = { { "zone", "a" } };
	struct np_label empty_val[] = { { "app", "" } };
	struct np_selector s;

	(void)state;
	s = sel_labels(one, N(one));
	assert_false(np_selector_is_empty(&s));
	assert_true(np_selector_matches(&s, &pod));
	assert_false(np_selector_matches(&s, &none));
	s = sel_labels(two, N(two));
	assert_true(np_selector_matches(&s, &pod));
	s = sel_labels(wrong, N(wrong));
	assert_false(np_selector_matches(&s, &pod));
	s = sel_labels(missing, N(missing));
	assert_false(np_selector_matches(&s, &pod));
	s = sel_labels(empty_val, N(empty_val));
	assert_false(np_selector_matches(&s, &pod));
}

static void test_op_in(void **state)
{
	char *vals[] = { "web", "api" };
	char *other[] = { "db" };
	struct np_sel_expr e = { "app", NP_SEL_IN, vals, N(vals) };
	struct np_sel_expr f = { "app", NP_SEL_IN, other, N(other) };
	struct np_sel_expr g = { "zone", NP_SEL_IN, vals, N(vals) };
	struct np_selector s;

	(void)state;
	s = sel_expr(&e, 1);
	assert_true(np_selector_matches(&s, &pod));
	assert_false(np_selector_matches(&s, &none));
	s = sel_expr(&f, 1);
	assert_false(np_selector_matches(&s, &pod));
	s = sel_expr(&g, 1); /* key missing: In never matches */
	assert_false(np_selector_matches(&s, &pod));
}

static void test_op_not_in(void **state)
{
	char *vals[] = { "db", "cache" };
	char *mine[] = { "web" };
	struct np_sel_expr e = { "app", NP_SEL_NOT_IN, vals, N(vals) };
	struct np_sel_expr f = { "app", NP_SEL_NOT_IN, mine, N(mine) };
	struct np_sel_expr g = { "zone", NP_SEL_NOT_IN, mine, N(mine) };
	struct np_selector s;

	(void)state;
	s = sel_expr(&e, 1);
	assert_true(np_selector_matches(&s, &pod));
	s = sel_expr(&f, 1);
	assert_false(np_selector_matches(&s, &pod));
	/* NotIn matches objects that do not have the key at all */
	s = sel_expr(&g, 1);
	assert_true(np_selector_matches(&s, &pod));
	s = sel_expr(&f, 1);
	assert_true(np_selector_matches(&s, &none));
}

static void test_op_exists(void **state)
{
	struct np_sel_expr e = { "tier", NP_SEL_EXISTS, NULL, 0 };
	struct np_sel_expr f = { "zone", NP_SEL_EXISTS, NULL, 0 };
	struct np_selector s;

	(void)state;
	s = sel_expr(&e, 1);
	assert_true(np_selector_matches(&s, &pod));
	assert_false(np_selector_matches(&s, &none));
	s = sel_expr(&f, 1);
	assert_false(np_selector_matches(&s, &pod));
}

static void test_op_does_not_exist(void **state)
{
	struct np_sel_expr e = { "tier", NP_SEL_DOES_NOT_EXIST, NULL, 0 };
	struct np_sel_expr f = { "zone", NP_SEL_DOES_NOT_EXIST, NULL, 0 };
	struct np_selector s;

	(void)state;
	s = sel_expr(&e, 1);
	assert_false(np_selector_matches(&s, &pod));
	s = sel_expr(&f, 1);
	assert_true(np_selector_matches(&s, &pod));
	assert_true(np_selector_matches(&s, &none));
}

static void test_labels_and_expressions(void **state)
{
	struct np_label lab[] = { { "app", "web" } };
	char *envs[] = { "prod", "staging" };
	char *dev[] = { "dev" };
	struct np_sel_expr ok[] = {
		{ "env", NP_SEL_IN, envs, N(envs) },
		{ "tier", NP_SEL_EXISTS, NULL, 0 },
		{ "zone", NP_SEL_DOES_NOT_EXIST, NULL, 0 },
	};
	struct np_sel_expr one_bad[] = {
		{ "env", NP_SEL_IN, envs, N(envs) },
		{ "env", NP_SEL_IN, dev, N(dev) },
	};
	struct np_label bad_lab[] = { { "app", "api" } };
	struct np_selector s = { .match_labels = { lab, 1 }, .exprs = ok,
				 .n_exprs = N(ok) };

	(void)state;
	assert_true(np_selector_matches(&s, &pod));
	/* every expression must hold */
	s.exprs = one_bad;
	s.n_exprs = N(one_bad);
	assert_false(np_selector_matches(&s, &pod));
	/* matchLabels must hold too */
	s.match_labels.items = bad_lab;
	s.exprs = ok;
	s.n_exprs = N(ok);
	assert_false(np_selector_matches(&s, &pod));
}

static void test_labels_get(void **state)
{
	(void)state;
	assert_string_equal(np_labels_get(&pod, "tier"), "front");
	assert_null(np_labels_get(&pod, "zone"));
	assert_null(np_labels_get(&none, "app"));
}

/* The same semantics through the YAML parser. */
static void test_from_yaml(void **state)
{
	static const char yaml[] =
		"apiVersion: networking.k8s.io/v1\n"
		"kind: NetworkPolicy\n"
		"metadata: {name: p, namespace: ns}\n"
		"spec:\n"
		"  podSelector:\n"
		"    matchLabels: {app: web}\n"
		"    matchExpressions:\n"
		"    - {key: zone, operator: NotIn, values: [b]}\n"
		"    - {key: env, operator: Exists}\n";
	struct np_objects objs = { 0 };
	struct np_error err;
	struct np_label zb[] = { { "app", "web" }, { "env", "x" }, { "zone", "b" } };
	struct np_label za[] = { { "app", "web" }, { "env", "x" }, { "zone", "a" } };
	struct np_labels lb = { zb, N(zb) }, la = { za, N(za) };

	(void)state;
	assert_int_equal(np_objects_load_buffer(&objs, "sel.yaml", yaml,
						sizeof(yaml) - 1, &err), 0);
	assert_int_equal(objs.n_policies, 1);
	assert_true(np_selector_matches(&objs.policies[0].pod_sel, &pod));
	assert_false(np_selector_matches(&objs.policies[0].pod_sel, &lb));
	assert_true(np_selector_matches(&objs.policies[0].pod_sel, &la));
	assert_false(np_selector_matches(&objs.policies[0].pod_sel, &none));
	np_objects_free(&objs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_matches_everything),
		cmocka_unit_test(test_match_labels),
		cmocka_unit_test(test_op_in),
		cmocka_unit_test(test_op_not_in),
		cmocka_unit_test(test_op_exists),
		cmocka_unit_test(test_op_does_not_exist),
		cmocka_unit_test(test_labels_and_expressions),
		cmocka_unit_test(test_labels_get),
		cmocka_unit_test(test_from_yaml),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
