// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The metrics registry (metrics.c) and its Prometheus rendering, the HTTP
 * server on the event loop (httpd.c), and the readiness and reporting hooks
 * (agentops.c) without a datapath. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "agentops.h"
#include "evloop.h"
#include "httpd.h"
#include "metrics.h"

static char *render(struct np_metrics *r)
{
	struct np_strbuf b = { 0 };

	np_metrics_render(r, &b);
	assert_false(b.oom);
	return b.p;
}

static void test_render_counters_and_gauges(void **state)
{
	struct np_metrics r;
	struct np_metric *c, *g;
	char *out;

	(void)state;
	np_metrics_init(&r);
	c = np_metric_new(&r, "x_packets_total", "Packets.", NP_METRIC_COUNTER, "direction,action");
	g = np_metric_new(&r, "x_up", "Up or not.", NP_METRIC_GAUGE, NULL);
	assert_non_null(c);
	assert_non_null(g);
	assert_int_equal(np_metric_add(c, 3, NP_LV("ingress", "ACCEPT")), 0);
	assert_int_equal(np_metric_add(c, 4, NP_LV("ingress", "ACCEPT")), 0);
	assert_int_equal(np_metric_add(c, 1, NP_LV("egress", "REJECT")), 0);
	assert_int_equal(np_metric_set(g, 1, NULL), 0);
	assert_true(np_metric_get(c, NP_LV("ingress", "ACCEPT")) == 7);
	assert_true(np_metric_get(c, NP_LV("ingress", "REJECT")) == 0);
	out = render(&r);
	assert_non_null(strstr(out, "# HELP x_packets_total Packets.\n# TYPE x_packets_total counter\n"
				    "x_packets_total{direction=\"ingress\",action=\"ACCEPT\"} 7\n"
				    "x_packets_total{direction=\"egress\",action=\"REJECT\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE x_up gauge\nx_up 1\n"));
	assert_non_null(strstr(out, "netpol_metrics_series_dropped_total 0\n"));
	free(out);
	np_metric_set(g, 0.25, NULL);
	np_metric_clear(c);
	out = render(&r);
	assert_non_null(strstr(out, "x_up 0.25\n"));
	assert_null(strstr(out, "x_packets_total{"));
	free(out);
	np_metrics_free(&r);
}

static void test_label_and_help_escaping(void **state)
{
	struct np_metrics r;
	struct np_metric *c;
	char *out;

	(void)state;
	np_metrics_init(&r);
	c = np_metric_new(&r, "x_total", "a \\ back\nslash", NP_METRIC_COUNTER, "policy");
	np_metric_add(c, 1, NP_LV("ns/a\"b\\c\nd"));
	out = render(&r);
	assert_non_null(strstr(out, "# HELP x_total a \\\\ back\\nslash\n"));
	assert_non_null(strstr(out, "x_total{policy=\"ns/a\\\"b\\\\c\\nd\"} 1\n"));
	free(out);
	np_metrics_free(&r);
}

static void test_bad_names_refused(void **state)
{
	struct np_metrics r;

	(void)state;
	np_metrics_init(&r);
	assert_null(np_metric_new(&r, "9lives", "x", NP_METRIC_GAUGE, NULL));
	assert_null(np_metric_new(&r, "a-b", "x", NP_METRIC_GAUGE, NULL));
	assert_null(np_metric_new(&r, "ok_name", "x", NP_METRIC_GAUGE, "bad-label"));
	assert_null(np_metric_new(&r, "ok_name", "x", NP_METRIC_GAUGE, "a,b,c,d,e"));
	assert_int_equal(r.n_families, 0);
	np_metrics_free(&r);
}

static void test_series_cap(void **state)
{
	struct np_metrics r;
	struct np_metric *c;
	char name[32], *out;

	(void)state;
	np_metrics_init(&r);
	c = np_metric_new(&r, "x_total", "x", NP_METRIC_COUNTER, "k");
	for (int i = 0; i < NP_METRIC_MAX_SERIES; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		assert_int_equal(np_metric_add(c, 1, NP_LV(name)), 0);
	}
	assert_int_equal(np_metric_add(c, 1, NP_LV("one-too-many")), -E2BIG);
	/* Existing series still count. */
	assert_int_equal(np_metric_add(c, 1, NP_LV("v0")), 0);
	assert_true(np_metric_get(c, NP_LV("v0")) == 2);
	out = render(&r);
	assert_non_null(strstr(out, "netpol_metrics_series_dropped_total 1\n"));
	assert_null(strstr(out, "one-too-many"));
	free(out);
	np_metrics_free(&r);
}

static int n_collected;

static void collector(void *ctx)
{
	np_metric_set(ctx, ++n_collected, NULL);
}

static void test_collectors_run_before_render(void **state)
{
	struct np_metrics r;
	struct np_metric *g;
	char *out;

	(void)state;
	np_metrics_init(&r);
	g = np_metric_new(&r, "x_renders", "x", NP_METRIC_GAUGE, NULL);
	assert_int_equal(np_metrics_add_collector(&r, collector, g), 0);
	n_collected = 0;
	free(render(&r));
	out = render(&r);
	assert_non_null(strstr(out, "x_renders 2\n"));
	free(out);
	np_metrics_free(&r);
}

static void test_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	assert_int_equal(np_httpd_parse_addr("127.0.0.1:9090", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9090);
	assert_int_equal(np_httpd_parse_addr("[::1]:80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(np_httpd_parse_addr(":9090", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(np_httpd_parse_addr("0.0.0.0:0", &ss, &len), 0);
	assert_int_equal(np_httpd_parse_addr("127.0.0.1", &ss, &len), -EINVAL);
	assert_int_equal(np_httpd_parse_addr("127.0.0.1:65536", &ss, &len), -EINVAL);
	assert_int_equal(np_httpd_parse_addr("127.0.0.1:80x", &ss, &len), -EINVAL);
	assert_int_equal(np_httpd_parse_addr("::1:80", &ss, &len), -EINVAL); /* brackets needed */
	assert_int_equal(np_httpd_parse_addr("localhost:80", &ss, &len), -EINVAL);
}

/* ---- the server on the loop, a blocking client in a thread ---- */

struct client {
	char url[128];
	long status;
	struct np_strbuf body;
	char type[128];
	volatile int done;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	np_sb_add(ctx, p, size * n);
	return size * n;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	CURL *h = curl_easy_init();
	char *type = NULL;

	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->body);
	if (curl_easy_perform(h) == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
		snprintf(c->type, sizeof(c->type), "%s", type ? type : "");
	}
	np_sb_add(&c->body, "", 0);
	curl_easy_cleanup(h);
	c->done = 1;
	return NULL;
}

static void fetch(struct np_loop *loop, unsigned short port, const char *path, struct client *c)
{
	pthread_t t;

	memset(c, 0, sizeof(*c));
	snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u%s", port, path);
	assert_int_equal(pthread_create(&t, NULL, client_main, c), 0);
	for (int i = 0; i < 500 && !c->done; i++)
		np_loop_once(loop, 10);
	pthread_join(t, NULL);
	assert_true(c->done);
}

static int h_hello(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type)
{
	const char *who = np_httpd_query(req, "who");

	(void)ctx;
	*type = "application/json";
	np_sb_str(b, "{\"hello\":\"");
	np_sb_str(b, who ? who : "world");
	np_sb_str(b, req->local_peer ? "\",\"local\":true}" : "\",\"local\":false}");
	return 200;
}

static void test_httpd_on_the_loop(void **state)
{
	struct np_loop loop;
	struct np_httpd h = { 0 };
	struct client c;

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(np_loop_init(&loop), 0);
	assert_int_equal(np_httpd_route(&h, "/hello", h_hello, NULL, true), 0);
	assert_int_equal(np_httpd_start(&h, &loop, "127.0.0.1:0"), 0);
	assert_true(h.port > 0);
	fetch(&loop, h.port, "/hello?who=ops", &c);
	assert_int_equal(c.status, 200);
	assert_string_equal(c.type, "application/json");
	assert_string_equal(c.body.p, "{\"hello\":\"ops\",\"local\":true}");
	np_sb_free(&c.body);
	fetch(&loop, h.port, "/missing", &c);
	assert_int_equal(c.status, 404);
	np_sb_free(&c.body);
	assert_int_equal(h.requests, 2);
	np_httpd_stop(&h);
	/* The port is free again: a second server binds it. */
	{
		struct np_httpd h2 = { 0 };
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", h.port);
		assert_int_equal(np_httpd_start(&h2, &loop, addr), 0);
		np_httpd_stop(&h2);
	}
	np_loop_free(&loop);
	curl_global_cleanup();
}

static void test_httpd_port_taken(void **state)
{
	struct np_loop loop;
	struct np_httpd a = { 0 }, b = { 0 };
	char addr[32];

	(void)state;
	assert_int_equal(np_loop_init(&loop), 0);
	assert_int_equal(np_httpd_start(&a, &loop, "127.0.0.1:0"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", a.port);
	assert_int_equal(np_httpd_start(&b, &loop, addr), -EADDRINUSE);
	assert_int_equal(np_httpd_start(&b, &loop, "not-an-address"), -EINVAL);
	np_httpd_stop(&a);
	np_loop_free(&loop);
}

/* Readiness and the reporting hooks, with no datapath behind them. */
static void test_readiness_and_hooks(void **state)
{
	struct np_objects objs = { 0 };
	struct np_compiled compiled = { 0 };
	struct np_attachment *atts = NULL;
	struct np_iface_entry *plan = NULL;
	size_t n_atts = 0, n_plan = 0;
	bool no = false;
	struct np_agent_view v = { .objs = &objs, .compiled = &compiled, .atts = &atts,
				   .n_atts = &n_atts, .plan = &plan, .n_plan = &n_plan,
				   .dp_loaded = &no, .flows_on = &no, .node_name = "n1" };
	struct np_loop loop;
	struct np_ops o;
	struct client c;

	(void)state;
	/* No active np_ops: every hook is a no-op, never ready. */
	np_ops_kube_reconnect("pods");
	np_ops_set_ready(NP_READY_DATAPATH, true);
	assert_false(np_ops_ready());

	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(np_loop_init(&loop), 0);
	assert_int_equal(np_ops_init(&o, &v), 0);
	assert_int_equal(np_ops_start(&o, &loop, "127.0.0.1:0", 30), 0);
	np_ops_require(NP_READY_KUBERNETES);
	fetch(&loop, o.http.port, "/readyz", &c);
	assert_int_equal(c.status, 503);
	assert_string_equal(c.body.p, "not ready: waiting for datapath, kubernetes\n");
	np_sb_free(&c.body);
	np_ops_set_ready(NP_READY_DATAPATH, true);
	fetch(&loop, o.http.port, "/readyz", &c);
	assert_string_equal(c.body.p, "not ready: waiting for kubernetes\n");
	np_sb_free(&c.body);
	np_ops_set_ready(NP_READY_KUBERNETES, true);
	fetch(&loop, o.http.port, "/readyz", &c);
	assert_int_equal(c.status, 200);
	np_sb_free(&c.body);

	np_ops_kube_reconnect("pods");
	np_ops_kube_reconnect("pods");
	np_ops_kube_error("networkpolicies", "gone");
	np_ops_reload("kubernetes", true, 0.004);
	fetch(&loop, o.http.port, "/metrics", &c);
	assert_int_equal(c.status, 200);
	assert_string_equal(c.type, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(c.body.p, "\nnetpol_ready 1\n"));
	assert_non_null(strstr(c.body.p, "\nnetpol_kube_watch_reconnects_total{resource=\"pods\"} 2\n"));
	assert_non_null(strstr(c.body.p, "\nnetpol_kube_watch_errors_total{resource=\"networkpolicies\",kind=\"gone\"} 1\n"));
	assert_non_null(strstr(c.body.p, "\nnetpol_policy_reloads_total{trigger=\"kubernetes\",result=\"ok\"} 1\n"));
	assert_non_null(strstr(c.body.p, "\nnetpol_policy_recompute_last_seconds 0.004\n"));
	/* No CloudWatch sink: its families are declared, without samples. */
	assert_non_null(strstr(c.body.p, "# TYPE netpol_cloudwatch_requests_total counter\n# HELP"));
	np_sb_free(&c.body);
	fetch(&loop, o.http.port, "/debug/status", &c);
	assert_int_equal(c.status, 200);
	assert_non_null(strstr(c.body.p, "\"node\":\"n1\""));
	assert_non_null(strstr(c.body.p, "\"readiness\":{\"datapath\":true,\"kubernetes\":true}"));
	np_sb_free(&c.body);
	fetch(&loop, o.http.port, "/debug/policy?pod=x/y", &c);
	assert_int_equal(c.status, 404);
	np_sb_free(&c.body);
	fetch(&loop, o.http.port, "/debug/policy", &c);
	assert_int_equal(c.status, 400);
	np_sb_free(&c.body);
	np_ops_free(&o);
	/* Inactive again. */
	assert_false(np_ops_ready());
	np_loop_free(&loop);
	curl_global_cleanup();
}

/* A non-blocking connection to 127.0.0.1:PORT that has sent REQ. */
static int flood_conn(unsigned short port, const char *req)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		assert_int_equal(errno, EINPROGRESS);
		assert_int_equal(poll(&p, 1, 2000), 1);
	}
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	return fd;
}

/* Kubelet's probe and a hostNetwork pod share the node's address: slow
 * connections from the probe's own address, each sending a byte per round
 * and reconnecting when cut (as tests/ops/slowloris.py does, without its
 * sleeps), must never get the probe refused, evicted or left unanswered.
 * Each round is one pass over the flood, a loop turn every few
 * connections, then the probe.  The evicted connections used to linger
 * until the end of an accept batch, filling every slot: the probe got
 * "refused" (closed at once). */
static void test_httpd_probe_survives_a_flood_from_its_address(void **state)
{
	enum { ROUNDS = 40, FLOOD = 64 };
	static const char first[] = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: a";
	static const char full[] = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	int flood[FLOOD];
	struct np_loop loop;
	struct np_httpd h = { 0 };

	(void)state;
	assert_int_equal(np_loop_init(&loop), 0);
	assert_int_equal(np_httpd_route(&h, "/hello", h_hello, NULL, false), 0);
	assert_int_equal(np_httpd_start(&h, &loop, "127.0.0.1:0"), 0);
	for (int i = 0; i < FLOOD; i++)
		flood[i] = flood_conn(h.port, first);
	for (int r = 0; r < ROUNDS; r++) {
		char got[512] = "";
		size_t len = 0;
		int probe;

		for (int i = 0; i < FLOOD; i++) {
			if (send(flood[i], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
				close(flood[i]);
				flood[i] = flood_conn(h.port, first);
			}
			if (i % 4 == 3)
				np_loop_once(&loop, 0);
		}
		probe = flood_conn(h.port, full);
		for (int i = 0; i < 300 && !strstr(got, "\r\n\r\n"); i++) {
			ssize_t n;

			np_loop_once(&loop, 10);
			n = recv(probe, got + len, sizeof(got) - 1 - len, MSG_DONTWAIT);
			if (n > 0) {
				len += (size_t)n;
				got[len] = '\0';
			} else if (n == 0 || (n < 0 && errno != EAGAIN)) {
				break; /* closed on us: refused or evicted */
			}
		}
		if (strncmp(got, "HTTP/1.1 200", 12) != 0)
			fail_msg("round %d: the probe got \"%.40s\" (empty: refused or evicted) among %d slow connections from its address",
				 r, got, FLOOD);
		close(probe);
	}
	assert_true(h.evicted > 0); /* the flood was cut, not served */
	for (int i = 0; i < FLOOD; i++)
		close(flood[i]);
	np_httpd_stop(&h);
	np_loop_free(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_counters_and_gauges),
		cmocka_unit_test(test_label_and_help_escaping),
		cmocka_unit_test(test_bad_names_refused),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_collectors_run_before_render),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_httpd_on_the_loop),
		cmocka_unit_test(test_httpd_port_taken),
		cmocka_unit_test(test_httpd_probe_survives_a_flood_from_its_address),
		cmocka_unit_test(test_readiness_and_hooks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
