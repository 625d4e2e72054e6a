// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The AWS credential chain (user/awscreds.c): source order and parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "awscreds.h"

static void test_pick_order(void **state)
{
	struct np_awscreds_cfg c = { 0 };

	(void)state;
	assert_int_equal(np_awscreds_pick(&c), NP_AWS_SRC_IMDS);
	c.imds_disabled = true;
	assert_int_equal(np_awscreds_pick(&c), NP_AWS_SRC_NONE);
	c.container_uri = "http://169.254.170.23/v1/credentials";
	assert_int_equal(np_awscreds_pick(&c), NP_AWS_SRC_POD_IDENTITY);
	c.role_arn = "arn:aws:iam::1:role/r";
	assert_int_equal(np_awscreds_pick(&c), NP_AWS_SRC_POD_IDENTITY); /* needs the token file too */
	c.web_identity_token_file = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
	assert_int_equal(np_awscreds_pick(&c), NP_AWS_SRC_WEB_IDENTITY);
	c.access_key = "AKID";
	assert_int_equal(np_awscreds_pick(&c), NP_AWS_SRC_WEB_IDENTITY); /* needs the secret too */
	c.secret_key = "s";
	assert_int_equal(np_awscreds_pick(&c), NP_AWS_SRC_ENV);
}

static void test_cfg_from_env(void **state)
{
	struct np_awscreds_cfg c;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "", 1); /* empty = unset */
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:17599/", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	setenv("AWS_CA_BUNDLE", "/etc/extra-ca.pem", 1);
	np_awscreds_cfg_from_env(&c, "eu-west-1");
	assert_string_equal(c.access_key, "AKIDENV");
	assert_null(c.secret_key);
	assert_string_equal(c.sts_endpoint, "http://127.0.0.1:17599/");
	assert_true(c.imds_disabled);
	assert_string_equal(c.ca_file, "/etc/extra-ca.pem");
	assert_string_equal(c.region, "eu-west-1");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	unsetenv("AWS_CA_BUNDLE");
}

static void test_iso8601(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(np_iso8601_parse("2019-11-09T13:34:41Z", &t), 0);
	assert_int_equal(t, 1573306481);
	assert_int_equal(np_iso8601_parse("2019-11-09T13:34:41.123Z", &t), 0);
	assert_int_equal(t, 1573306481);
	assert_int_equal(np_iso8601_parse("2019-11-09T13:34:41+00:00", &t), 0);
	assert_int_equal(np_iso8601_parse("2019-11-09T13:34:41+02:00", &t), -EINVAL);
	assert_int_equal(np_iso8601_parse("yesterday", &t), -EINVAL);
}

static void test_parse_sts(void **state)
{
	struct np_aws_creds c;
	const char *ok =
		"<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
		"<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:"
		"kube-system:netpol</SubjectFromWebIdentityToken><Credentials>"
		"<SessionToken>FwoGZXIvYXdzE/tok+en==</SessionToken>"
		"<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>"
		"<Expiration>2026-11-29T01:00:00Z</Expiration><AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
		"</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";

	(void)state;
	assert_int_equal(np_awscreds_parse_sts(ok, &c), 0);
	assert_string_equal(c.akid, "ASIAEXAMPLE");
	assert_string_equal(c.secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	assert_string_equal(c.token, "FwoGZXIvYXdzE/tok+en==");
	assert_int_equal(c.expires, 1795914000);
	np_aws_creds_clear(&c);
	assert_null(c.akid);
	assert_int_equal(np_awscreds_parse_sts("<ErrorResponse><Error><Code>InvalidIdentityToken"
					       "</Code></Error></ErrorResponse>", &c), -EINVAL);
	assert_null(c.akid);
}

static void test_parse_json(void **state)
{
	struct np_aws_creds c;

	(void)state;
	/* EKS Pod Identity / container credentials */
	assert_int_equal(np_awscreds_parse_json(
				 "{\"AccessKeyId\":\"ASIAPOD\",\"SecretAccessKey\":\"s3cr3t\",\"Token\":\"t0k\","
				 "\"AccountId\":\"123456789012\",\"Expiration\":\"2026-11-29T01:00:00Z\"}", &c), 0);
	assert_string_equal(c.akid, "ASIAPOD");
	assert_string_equal(c.token, "t0k");
	assert_int_equal(c.expires, 1795914000);
	np_aws_creds_clear(&c);
	/* IMDS: Code must be Success */
	assert_int_equal(np_awscreds_parse_json(
				 "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAI\","
				 "\"SecretAccessKey\":\"s\",\"Token\":\"t\",\"Expiration\":\"2026-11-29T01:00:00Z\"}",
				 &c), 0);
	np_aws_creds_clear(&c);
	assert_int_equal(np_awscreds_parse_json(
				 "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"A\","
				 "\"SecretAccessKey\":\"s\"}", &c), -EINVAL);
	assert_int_equal(np_awscreds_parse_json("{\"AccessKeyId\":\"A\"}", &c), -EINVAL);
	assert_int_equal(np_awscreds_parse_json("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
						"\"Expiration\":\"soon\"}", &c), -EINVAL);
	assert_int_equal(np_awscreds_parse_json("[]", &c), -EINVAL);
}

/* Where credentials and signed requests may go (the AWS SDKs' rules). */
static void test_url_check(void **state)
{
	static const char *const ok_any[] = {
		"https://sts.us-east-1.amazonaws.com/", "https://10.0.0.1:8443/x", "HTTPS://logs.example",
		"http://127.0.0.1:4566", "http://localhost/", "http://[::1]:8080/v1", "http://127.9.9.9",
		NULL,
	};
	static const char *const ok_container[] = {
		"http://169.254.170.23/v1/credentials", "http://169.254.170.2/v2/credentials/x",
		"http://[fd00:ec2::23]/v1/credentials", NULL,
	};
	static const char *const bad[] = {
		"http://192.0.2.7/v1/credentials", "http://sts.amazonaws.com/", "http://169.254.169.254/",
		"ftp://127.0.0.1/", "127.0.0.1:80", "http://", "http://user@127.0.0.1/",
		"http://127.0.0.1.evil.example/", "http://localhost.evil.example/", "http://[::2]/", NULL,
	};
	char err[600];

	(void)state;
	for (int i = 0; ok_any[i]; i++) {
		assert_int_equal(np_aws_url_check(ok_any[i], false, err, sizeof(err)), 0);
		assert_int_equal(np_aws_url_check(ok_any[i], true, err, sizeof(err)), 0);
	}
	for (int i = 0; ok_container[i]; i++) {
		assert_int_equal(np_aws_url_check(ok_container[i], true, err, sizeof(err)), 0);
		assert_int_equal(np_aws_url_check(ok_container[i], false, err, sizeof(err)), -EINVAL);
	}
	for (int i = 0; bad[i]; i++) {
		if (np_aws_url_check(bad[i], true, err, sizeof(err)) != -EINVAL)
			fail_msg("%s accepted", bad[i]);
	}
	assert_int_equal(np_aws_url_check("http://192.0.2.7/c", true, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "plain http would send credentials in clear; use https://192.0.2.7/c"));
}

static void test_url_encode(void **state)
{
	char *e = np_url_encode("arn:aws:iam::1:role/a b+c~d_e.f-g");

	(void)state;
	assert_string_equal(e, "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc~d_e.f-g");
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_order),
		cmocka_unit_test(test_cfg_from_env),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_parse_sts),
		cmocka_unit_test(test_parse_json),
		cmocka_unit_test(test_url_check),
		cmocka_unit_test(test_url_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
