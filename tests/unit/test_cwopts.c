// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The agent's CloudWatch flags (user/cwopts.c): parsing, env, defaults. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cwopts.h"

static void clear_env(void)
{
	static const char *const vars[] = { "AWS_REGION", "AWS_DEFAULT_REGION", "CLUSTER_NAME",
		"NODE_NAME", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "NETPOL_CLOUDWATCH",
		"NETPOL_CLOUDWATCH_LOG_GROUP", "NETPOL_SPOOL_DIR", "NETPOL_SPOOL_MAX_BYTES", NULL };

	for (size_t i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

/* Parse ARGV with the merged option table, as the agent does. */
static int parse(struct np_cwopts *o, int argc, char **argv)
{
	static const struct option base[] = { { "objects", required_argument, NULL, 'o' }, { 0 } };
	struct option *all = np_cwopts_longopts(base);
	int opt, ret = 0;

	assert_non_null(all);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", all, NULL)) != -1 && ret >= 0) {
		if (opt == 'o')
			continue;
		ret = np_cwopts_parse(o, opt, optarg);
		if (ret == 0)
			ret = -EINVAL;
	}
	free(all);
	return ret < 0 ? ret : 0;
}

static void test_flags_and_defaults(void **state)
{
	char *argv[] = { "agent", "--objects", "x.yaml", "--cluster-name", "prod", "--aws-region",
			 "eu-central-1", "--cloudwatch-create", "--spool-dir", "/var/lib/netpol/spool",
			 "--spool-max-bytes", "64M", "--cloudwatch-flush-delay", "0.5", NULL };
	struct np_cwopts o = { 0 };

	(void)state;
	clear_env();
	assert_int_equal(parse(&o, 14, argv), 0);
	assert_true(o.enabled);
	assert_int_equal(np_cwopts_finish(&o, "ip-10-0-1-2.eu-central-1.compute.internal"), 0);
	assert_string_equal(o.group, "/aws/eks/prod/netpol-flows");
	assert_string_equal(o.stream, "ip-10-0-1-2.eu-central-1.compute.internal");
	assert_string_equal(o.region, "eu-central-1");
	assert_string_equal(o.spool_dir, "/var/lib/netpol/spool");
	assert_int_equal(o.spool_max_bytes, 64ull << 20);
	assert_int_equal(o.flush_delay_ms, 500);
	assert_true(o.create);
	assert_null(o.endpoint);
	np_cwopts_free(&o);
}

static void test_env(void **state)
{
	char *argv[] = { "agent", "--cloudwatch", NULL };
	struct np_cwopts o = { 0 };

	(void)state;
	clear_env();
	setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
	setenv("CLUSTER_NAME", "c1", 1);
	setenv("NODE_NAME", "node-7", 1);
	setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "https://logs.vpce.example", 1);
	assert_int_equal(parse(&o, 2, argv), 0);
	assert_int_equal(np_cwopts_finish(&o, NULL), 0);
	assert_string_equal(o.region, "us-west-2");
	assert_string_equal(o.group, "/aws/eks/c1/netpol-flows");
	assert_string_equal(o.stream, "node-7");
	assert_string_equal(o.endpoint, "https://logs.vpce.example");
	np_cwopts_free(&o);
	clear_env();
}

static void test_disabled_without_flags(void **state)
{
	char *argv[] = { "agent", "--aws-region", "us-east-1", NULL };
	struct np_cwopts o = { 0 };

	(void)state;
	clear_env();
	assert_int_equal(parse(&o, 3, argv), 0);
	assert_int_equal(np_cwopts_finish(&o, NULL), 0);
	assert_false(o.enabled);
}

static void test_bad_values(void **state)
{
	char *a1[] = { "agent", "--spool-max-bytes", "12x", NULL };
	char *a2[] = { "agent", "--cloudwatch-flush-delay", "-1", NULL };
	char *a3[] = { "agent", "--cloudwatch-endpoint", "logs.example", "--aws-region", "r", NULL };
	char *a4[] = { "agent", "--cloudwatch", NULL };
	char *a5[] = { "agent", "--cloudwatch", "--aws-region", "r", NULL };
	struct np_cwopts o = { 0 };

	(void)state;
	clear_env();
	assert_int_equal(parse(&o, 3, a1), -EINVAL);
	memset(&o, 0, sizeof(o));
	assert_int_equal(parse(&o, 3, a2), -EINVAL);
	memset(&o, 0, sizeof(o));
	assert_int_equal(parse(&o, 5, a3), 0);
	assert_int_equal(np_cwopts_finish(&o, "n"), -EINVAL); /* not a URL */
	np_cwopts_free(&o);
	memset(&o, 0, sizeof(o));
	assert_int_equal(parse(&o, 2, a4), 0);
	assert_int_equal(np_cwopts_finish(&o, "n"), -EINVAL); /* no region */
	np_cwopts_free(&o);
	memset(&o, 0, sizeof(o));
	assert_int_equal(parse(&o, 4, a5), 0);
	assert_int_equal(np_cwopts_finish(&o, "n"), -EINVAL); /* no group, no cluster */
	np_cwopts_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_and_defaults),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_disabled_without_flags),
		cmocka_unit_test(test_bad_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
