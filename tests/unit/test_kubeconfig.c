// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kubeconfig and in-cluster configuration (user/kubeconfig.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kube.h"

static int parse(struct np_kubeconfig *kc, const char *yaml, struct np_error *err)
{
	return np_kubeconfig_parse(kc, "test-kubeconfig", yaml, strlen(yaml), "/etc/kube", err);
}

/* "-----BEGIN CERTIFICATE-----\nMIIB\n" and "secret-key" */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIK"
#define KEY_B64 "c2VjcmV0LWtleQ=="

static void test_base64(void **state)
{
	static const struct { const char *in, *out; } ok[] = {
		{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
		{ "Zm9vYmFy", "foobar" }, { "Zm9vYg", "foob" }, { "Zm9v\nYmFy\n", "foobar" },
	};
	char *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(np_base64_decode(ok[i].in, &out, &len), 0);
		assert_int_equal(len, strlen(ok[i].out));
		assert_string_equal(out, ok[i].out);
		free(out);
	}
	assert_int_equal(np_base64_decode("Zm9v!", &out, &len), -EINVAL);
	assert_int_equal(np_base64_decode("Zg==Zg", &out, &len), -EINVAL);
	assert_int_equal(np_base64_decode("Z", &out, &len), -EINVAL);
}

static void test_current_context(void **state)
{
	const char *yaml =
		"apiVersion: v1\n"
		"kind: Config\n"
		"current-context: prod\n"
		"clusters:\n"
		"- name: staging\n"
		"  cluster: {server: 'https://staging:6443'}\n"
		"- name: prod\n"
		"  cluster:\n"
		"    server: https://api.prod.example:443/\n"
		"    certificate-authority-data: " CA_B64 "\n"
		"contexts:\n"
		"- name: staging\n"
		"  context: {cluster: staging, user: dev}\n"
		"- name: prod\n"
		"  context: {cluster: prod, user: agent, namespace: kube-system}\n"
		"users:\n"
		"- name: dev\n"
		"  user: {token: dev-token}\n"
		"- name: agent\n"
		"  user:\n"
		"    token: agent-token\n"
		"    client-certificate: certs/agent.crt\n"
		"    client-key-data: " KEY_B64 "\n";
	struct np_kubeconfig kc;
	struct np_error err;
	char *tok;

	(void)state;
	assert_int_equal(parse(&kc, yaml, &err), 0);
	assert_string_equal(kc.server, "https://api.prod.example:443");
	assert_null(kc.ca_file);
	assert_int_equal(kc.ca_data_len, 33);
	assert_memory_equal(kc.ca_data, "-----BEGIN CERTIFICATE-----\nMIIB\n", 33);
	assert_string_equal(kc.cert_file, "/etc/kube/certs/agent.crt");
	assert_string_equal(kc.key_data, "secret-key");
	assert_null(kc.token_file);
	assert_int_equal(np_kubeconfig_read_token(&kc, &tok, &err), 0);
	assert_string_equal(tok, "agent-token");
	free(tok);
	np_kubeconfig_free(&kc);
}

static void test_token_file(void **state)
{
	char dir[] = "/tmp/np-kc-XXXXXX", path[64], yaml[512];
	struct np_kubeconfig kc;
	struct np_error err;
	FILE *f;
	char *tok;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("rotated-1\n", f);
	fclose(f);
	snprintf(yaml, sizeof(yaml),
		 "current-context: c\n"
		 "clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443', certificate-authority: /ca.pem}}]\n"
		 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "users: [{name: u, user: {tokenFile: token}}]\n");
	assert_int_equal(np_kubeconfig_parse(&kc, "kc", yaml, strlen(yaml), dir, &err), 0);
	assert_string_equal(kc.ca_file, "/ca.pem");
	assert_string_equal(kc.token_file, path);
	assert_int_equal(np_kubeconfig_read_token(&kc, &tok, &err), 0);
	assert_string_equal(tok, "rotated-1");
	free(tok);
	/* rotation: the next read sees the new token */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("rotated-2", f);
	fclose(f);
	assert_int_equal(np_kubeconfig_read_token(&kc, &tok, &err), 0);
	assert_string_equal(tok, "rotated-2");
	free(tok);
	/* an empty token file is an error, not an empty token */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(np_kubeconfig_read_token(&kc, &tok, &err), -ENODATA);
	unlink(path);
	assert_int_equal(np_kubeconfig_read_token(&kc, &tok, &err), -ENOENT);
	assert_non_null(strstr(err.msg, path));
	np_kubeconfig_free(&kc);
	rmdir(dir);
}

static void expect_error(const char *yaml, const char *what)
{
	struct np_kubeconfig kc;
	struct np_error err;

	assert_true(parse(&kc, yaml, &err) < 0);
	if (!strstr(err.msg, what))
		fail_msg("expected \"%s\" in: %s", what, err.msg);
	assert_null(kc.server);
}

#define KC(cluster, user)                                                      \
	"current-context: c\n"                                                 \
	"clusters: [{name: k, cluster: " cluster "}]\n"                        \
	"contexts: [{name: c, context: {cluster: k, user: u}}]\n"              \
	"users: [{name: u, user: " user "}]\n"

static void test_errors(void **state)
{
	(void)state;
	expect_error("clusters: []\n", "current-context is not set");
	expect_error("current-context: x\ncontexts: []\n", "context \"x\"");
	expect_error(KC("{server: 'http://plain:8080'}", "{token: t}"), "is not https://");
	expect_error(KC("{server: 'https://a', insecure-skip-tls-verify: true}", "{token: t}"),
		     "always verifies");
	expect_error(KC("{server: 'https://a'}", "{exec: {command: aws}}"), "\"exec\"");
	expect_error(KC("{server: 'https://a'}", "{client-certificate: c.pem}"), "needs its key");
	expect_error(KC("{server: 'https://a'}", "{}"), "no credentials");
	expect_error(KC("{certificate-authority-data: abc}", "{token: t}"), "has no server");
	expect_error(KC("{server: 'https://a', certificate-authority-data: 'a!b'}", "{token: t}"),
		     "not valid base64");
	expect_error("current-context: [\n", "test-kubeconfig");
}

static void test_in_cluster(void **state)
{
	char dir[] = "/tmp/np-sa-XXXXXX", path[64];
	struct np_kubeconfig kc;
	struct np_error err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(np_kubeconfig_in_cluster(&kc, dir, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "--kubeconfig"));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	/* no token file yet: a clear error at start, not at the first request */
	assert_int_equal(np_kubeconfig_in_cluster(&kc, dir, &err), -ENOENT);
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("sa-token", f);
	fclose(f);
	assert_int_equal(np_kubeconfig_in_cluster(&kc, dir, &err), 0);
	assert_string_equal(kc.server, "https://10.96.0.1:443");
	assert_string_equal(kc.token_file, path);
	assert_non_null(strstr(kc.ca_file, "/ca.crt"));
	np_kubeconfig_free(&kc);
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	assert_int_equal(np_kubeconfig_in_cluster(&kc, dir, &err), 0);
	assert_string_equal(kc.server, "https://[fd00:10:96::1]:443");
	np_kubeconfig_free(&kc);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_current_context),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_in_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
