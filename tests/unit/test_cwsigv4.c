// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libcurl's SigV4 (CURLOPT_AWS_SIGV4), the way the shipper uses it, against
 * the AWS SigV4 test vectors of aws-c-auth's aws-signing-test-suite (v4/,
 * credentials AKIDEXAMPLE, region us-east-1, service "service", time
 * 20150830T123600Z given as X-Amz-Date).  The request goes to a listener on
 * loopback; the test reads the Authorization header libcurl sent.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "httpm.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* Send one request signed by libcurl; return the request head it sent. */
static void capture(const char *method, const char *const *headers, char *head, size_t head_sz)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct np_http_req *r;
	char connect_to[128];
	struct curl_slist *ct = NULL;
	CURLM *m = curl_multi_init();
	size_t got = 0;
	int ls, cs = -1, running = 1;

	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	snprintf(connect_to, sizeof(connect_to), "example.amazonaws.com:80:127.0.0.1:%u",
		 ntohs(sa.sin_port));
	ct = curl_slist_append(NULL, connect_to);

	r = np_http_req_new(NULL, 5000);
	assert_non_null(r);
	curl_easy_setopt(r->easy, CURLOPT_URL, "http://example.amazonaws.com/");
	curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, ct);
	curl_easy_setopt(r->easy, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:service");
	curl_easy_setopt(r->easy, CURLOPT_USERNAME, AKID);
	curl_easy_setopt(r->easy, CURLOPT_PASSWORD, SECRET);
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
	for (size_t i = 0; headers[i]; i++)
		assert_int_equal(np_http_req_header(r, headers[i]), 0);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_multi_add_handle(m, r->easy);

	/* Drive curl until the whole request head is here. */
	while (running && !strstr(head, "\r\n\r\n")) {
		struct pollfd p = { .fd = cs >= 0 ? cs : ls, .events = POLLIN };

		curl_multi_perform(m, &running);
		if (poll(&p, 1, 10) > 0) {
			if (cs < 0) {
				cs = accept(ls, NULL, NULL);
				assert_true(cs >= 0);
			} else {
				ssize_t n = read(cs, head + got, head_sz - got - 1);

				assert_true(n > 0);
				got += (size_t)n;
				head[got] = 0;
			}
		}
	}
	curl_multi_remove_handle(m, r->easy);
	np_http_req_free(r);
	curl_multi_cleanup(m);
	curl_slist_free_all(ct);
	if (cs >= 0)
		close(cs);
	close(ls);
}

static void signature_of(const char *head, char *sig, size_t sz)
{
	const char *p = strstr(head, "Signature=");

	assert_non_null(p);
	p += strlen("Signature=");
	snprintf(sig, sz, "%.*s", (int)strcspn(p, "\r\n, "), p);
}

static void expect(const char *method, const char *const *headers,
		   const char *signed_headers, const char *want_sig)
{
	char head[8192] = "", sig[128], sh[256];
	const char *p;

	capture(method, headers, head, sizeof(head));
	p = strstr(head, "SignedHeaders=");
	assert_non_null(p);
	p += strlen("SignedHeaders=");
	snprintf(sh, sizeof(sh), "%.*s", (int)strcspn(p, ", \r\n"), p);
	assert_string_equal(sh, signed_headers);
	assert_non_null(strstr(head, "Credential=" AKID "/20150830/us-east-1/service/aws4_request"));
	signature_of(head, sig, sizeof(sig));
	assert_string_equal(sig, want_sig);
}

/* v4/get-vanilla-with-session-token: the token added as a header by us
 * (libcurl 7.88 does not add it) is signed. */
static void test_get_vanilla_with_session_token(void **state)
{
	static const char *const h[] = {
		"X-Amz-Date: 20150830T123600Z",
		"X-Amz-Security-Token: 6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
		NULL,
	};

	(void)state;
	expect("GET", h, "host;x-amz-date;x-amz-security-token",
	       "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

/* v4/post-header-key-sort: a custom header is signed in sorted order. */
static void test_post_header_key_sort(void **state)
{
	static const char *const h[] = { "X-Amz-Date: 20150830T123600Z", "My-Header1: value1", NULL };

	(void)state;
	expect("POST", h, "host;my-header1;x-amz-date",
	       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
}

/* v4/post-vanilla: POST with an empty body. */
static void test_post_vanilla(void **state)
{
	static const char *const h[] = { "X-Amz-Date: 20150830T123600Z", NULL };

	(void)state;
	expect("POST", h, "host;x-amz-date",
	       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_vanilla_with_session_token),
		cmocka_unit_test(test_post_header_key_sort),
		cmocka_unit_test(test_post_vanilla),
	};
	int ret;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return ret;
}
