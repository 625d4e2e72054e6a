// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The watch stream parser (user/kubestream.c) on API-server-shaped watch
 * bodies (tests/unit/fixtures/watch-*.jsonl: full objects with
 * managedFields, ownerReferences, status), fed in every way a chunked
 * response can be cut, and the events applied to the cache (kubecache.c). */
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

static char fixtures[512];

static char *slurp(const char *name, size_t *len)
{
	char path[700];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

struct seen {
	char types[32][16];
	char rvs[32][16];
	size_t n;
	int fail_at; /* return -EIO on this event (1-based), 0: never */
};

static int collect(void *ctx, json_t *ev)
{
	struct seen *s = ctx;
	json_t *obj = json_object_get(ev, "object");
	const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"),
							   "resourceVersion"));

	assert_true(s->n < 32);
	snprintf(s->types[s->n], sizeof(s->types[0]), "%s",
		 json_string_value(json_object_get(ev, "type")));
	snprintf(s->rvs[s->n], sizeof(s->rvs[0]), "%s", rv ? rv : "");
	s->n++;
	if (s->fail_at && (int)s->n == s->fail_at)
		return -EIO;
	return 0;
}

static const char *const pod_types[] = { "ADDED", "ADDED", "ADDED", "MODIFIED", "BOOKMARK",
					 "MODIFIED", "DELETED", "ADDED", "ERROR" };

static void expect_pods(const struct seen *s)
{
	assert_int_equal(s->n, 9);
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(s->types[i], pod_types[i]);
	assert_string_equal(s->rvs[4], "48301");
	assert_string_equal(s->rvs[7], "48318");
}

/* feed BUF in chunks of sizes from a fixed pseudo-random sequence (or all
 * of size STEP when STEP > 0) */
static void feed_chunks(const char *buf, size_t len, size_t step, struct seen *s)
{
	struct np_kstream ks;
	uint32_t x = 12345;

	np_kstream_init(&ks, 0);
	for (size_t off = 0; off < len;) {
		size_t n = step;

		if (!n) {
			x = x * 1103515245u + 12345u;
			n = 1 + (x >> 16) % 700;
		}
		if (n > len - off)
			n = len - off;
		assert_int_equal(np_kstream_feed(&ks, buf + off, n, collect, s), 0);
		off += n;
	}
	assert_int_equal(np_kstream_finish(&ks), 0);
	assert_int_equal(ks.bytes, len);
	np_kstream_free(&ks);
}

static void test_whole_body(void **state)
{
	struct seen s = { 0 };
	size_t len;
	char *buf = slurp("watch-pods.jsonl", &len);

	(void)state;
	feed_chunks(buf, len, len, &s);
	expect_pods(&s);
	free(buf);
}

static void test_byte_by_byte(void **state)
{
	struct seen s = { 0 };
	size_t len;
	char *buf = slurp("watch-pods.jsonl", &len);

	(void)state;
	feed_chunks(buf, len, 1, &s);
	expect_pods(&s);
	free(buf);
}

static void test_random_chunks(void **state)
{
	struct seen s = { 0 };
	size_t len;
	char *buf = slurp("watch-pods.jsonl", &len);

	(void)state;
	feed_chunks(buf, len, 0, &s);
	expect_pods(&s);
	free(buf);
}

/* Several events in one chunk, the next one split over two chunks. */
static void test_several_events_per_chunk(void **state)
{
	const char *a = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}\n"
			"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"2\"}}}\n"
			"{\"type\":\"DEL";
	const char *b = "ETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"3\"}}}\r\n\n";
	struct np_kstream ks;
	struct seen s = { 0 };

	(void)state;
	np_kstream_init(&ks, 0);
	assert_int_equal(np_kstream_feed(&ks, a, strlen(a), collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(np_kstream_feed(&ks, b, strlen(b), collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.types[2], "DELETED");
	assert_string_equal(s.rvs[2], "3");
	assert_int_equal(np_kstream_finish(&ks), 0);
	np_kstream_free(&ks);
}

/* The connection dropped in the middle of the last event: the complete
 * events are delivered, the partial one is reported as dropped. */
static void test_truncated_last_line(void **state)
{
	struct np_kstream ks;
	struct seen s = { 0 };
	size_t len, cut;
	char *buf = slurp("watch-networkpolicies.jsonl", &len);
	char *last;

	(void)state;
	buf[len - 1] = '\0'; /* the final newline */
	last = strrchr(buf, '\n');
	assert_non_null(last);
	cut = (size_t)(last - buf) + 1 + 40; /* 40 bytes into the last event */
	np_kstream_init(&ks, 0);
	assert_int_equal(np_kstream_feed(&ks, buf, cut, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.types[2], "MODIFIED");
	assert_int_equal(np_kstream_finish(&ks), 40);
	/* the stream is reusable for the next watch */
	assert_int_equal(np_kstream_feed(&ks, "{\"type\":\"BOOKMARK\",\"object\":{}}\n", 32,
					 collect, &s), 0);
	assert_int_equal(s.n, 4);
	np_kstream_free(&ks);
	free(buf);
}

static void test_errors(void **state)
{
	struct np_kstream ks;
	struct seen s = { 0 };
	const char *two = "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"object\":{}}\n";

	(void)state;
	np_kstream_init(&ks, 0);
	assert_int_equal(np_kstream_feed(&ks, "not json\n", 9, collect, &s), -EBADMSG);
	np_kstream_reset(&ks);
	assert_int_equal(np_kstream_feed(&ks, "[1,2]\n", 6, collect, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
	np_kstream_free(&ks);

	/* a line longer than the limit */
	np_kstream_init(&ks, 16);
	assert_int_equal(np_kstream_feed(&ks, "{\"type\":\"ADDED\",", 16, collect, &s), 0);
	assert_int_equal(np_kstream_feed(&ks, "\"x\":1}", 6, collect, &s), -EMSGSIZE);
	np_kstream_free(&ks);

	/* the callback's error stops the feed */
	np_kstream_init(&ks, 0);
	s.fail_at = 1;
	assert_int_equal(np_kstream_feed(&ks, two, strlen(two), collect, &s), -EIO);
	assert_int_equal(s.n, 1);
	np_kstream_free(&ks);
}

/* The events, applied to a cache, give the model the compiler needs. */
struct apply_ctx {
	struct np_kubecache *c;
	enum np_kind kind;
	int errors;
};

static int apply_event(void *ctx, json_t *ev)
{
	struct apply_ctx *a = ctx;
	const char *t = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");

	if (strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0)
		assert_true(np_kubecache_upsert(a->c, a->kind, obj) >= 0);
	else if (strcmp(t, "DELETED") == 0)
		assert_true(np_kubecache_delete(a->c, a->kind, obj) >= 0);
	else if (strcmp(t, "ERROR") == 0)
		a->errors++;
	return 0;
}

static const struct np_pod *find_pod(const struct np_objects *o, const char *name)
{
	for (size_t i = 0; i < o->n_pods; i++)
		if (strcmp(o->pods[i].name, name) == 0)
			return &o->pods[i];
	return NULL;
}

static void test_events_to_model(void **state)
{
	struct np_kubecache c;
	struct apply_ctx a = { .c = &c };
	struct np_kstream ks;
	struct np_objects o;
	const struct np_pod *p;
	size_t len;
	char *buf;

	(void)state;
	assert_int_equal(np_kubecache_init(&c), 0);
	np_kstream_init(&ks, 0);
	buf = slurp("watch-pods.jsonl", &len);
	a.kind = NP_KIND_POD;
	assert_int_equal(np_kstream_feed(&ks, buf, len, apply_event, &a), 0);
	free(buf);
	assert_int_equal(a.errors, 1);
	buf = slurp("watch-networkpolicies.jsonl", &len);
	a.kind = NP_KIND_POLICY;
	assert_int_equal(np_kstream_feed(&ks, buf, len, apply_event, &a), 0);
	free(buf);
	np_kstream_free(&ks);

	assert_int_equal(np_kubecache_count(&c, NP_KIND_POD), 3);
	assert_int_equal(np_kubecache_count(&c, NP_KIND_POLICY), 1);
	assert_int_equal(np_kubecache_snapshot(&c, NULL, &o), 0);
	assert_int_equal(o.n_pods, 3);
	p = find_pod(&o, "checkout-7d9f8b6c5d-x2x9q");
	assert_non_null(p);
	assert_string_equal(p->ns, "shop");
	assert_string_equal(p->node_name, "ip-10-0-1-23.eu-west-1.compute.internal");
	assert_string_equal(np_labels_get(&p->labels, "version"), "v2"); /* MODIFIED */
	assert_int_equal(p->n_ips, 1);
	assert_int_equal(p->n_ports, 2);
	assert_string_equal(p->ports[1].name, "metrics");
	assert_int_equal(p->ports[1].port, 9090);
	p = find_pod(&o, "migrate-28361140-5xk2d");
	assert_non_null(p);
	assert_int_equal(p->n_ips, 0); /* Pending, no address yet */
	assert_null(find_pod(&o, "cart-5c4b7f9d8-4kq7z")); /* DELETED */
	assert_non_null(find_pod(&o, "cart-5c4b7f9d8-p9w2m"));
	assert_int_equal(o.n_policies, 1);
	assert_string_equal(o.policies[0].name, "allow-frontend");
	assert_int_equal(o.policies[0].n_rules[NP_DIR_INGRESS], 1);
	assert_true(o.policies[0].rules[NP_DIR_INGRESS][0].peers[0].has_ip_block);
	assert_int_equal(o.policies[0].rules[NP_DIR_INGRESS][0].peers[0].n_except, 1);
	assert_int_equal(o.policies[0].rules[NP_DIR_INGRESS][0].ports[0].end_port, 8090);
	np_objects_free(&o);
	np_kubecache_free(&c);
}

/* A list page as the API server sends it (with a continue token). */
static void test_list_page(void **state)
{
	struct np_kubecache c;
	struct np_objects o;
	json_error_t jerr;
	json_t *doc, *item;
	size_t len, i;
	char *buf;

	(void)state;
	buf = slurp("namespacelist-page.json", &len);
	doc = json_loadb(buf, len, 0, &jerr);
	free(buf);
	assert_non_null(doc);
	assert_int_equal(np_kubecache_init(&c), 0);
	json_array_foreach(json_object_get(doc, "items"), i, item)
		assert_int_equal(np_kubecache_upsert(&c, NP_KIND_NAMESPACE, item), 1);
	assert_non_null(json_string_value(json_object_get(json_object_get(doc, "metadata"),
							  "continue")));
	json_decref(doc);
	assert_int_equal(np_kubecache_snapshot(&c, NULL, &o), 0);
	assert_int_equal(o.n_namespaces, 3);
	assert_string_equal(np_labels_get(&np_objects_namespace(&o, "shop")->labels, "team"),
			    "payments");
	assert_string_equal(np_labels_get(&np_objects_namespace(&o, "shop")->labels,
					  "kubernetes.io/metadata.name"), "shop");
	np_objects_free(&o);
	np_kubecache_free(&c);
}

/* An event whose parse would cost jansson far more than its size (a line of
 * tiny values) is refused before it is parsed; real objects, whose values
 * are words and strings, are not. */
static void test_costly_line_refused(void **state)
{
	struct np_kstream ks;
	struct seen s = { 0 };
	size_t n = 1u << 20, k = 0;
	char *line = malloc(n + 64);

	(void)state;
	assert_non_null(line);
	k += (size_t)sprintf(line, "{\"type\":\"ADDED\",\"object\":{\"v\":[");
	while (k < n - 4) {
		line[k++] = '0';
		line[k++] = ',';
	}
	line[k++] = '0';
	k += (size_t)sprintf(line + k, "]}}\n");
	assert_true(np_json_cost(line, k) > NP_JSON_COST_FACTOR * k + NP_JSON_COST_SLACK);
	np_kstream_init(&ks, 4u << 20);
	assert_int_equal(np_kstream_feed(&ks, line, k, collect, &s), -E2BIG);
	assert_int_equal(s.n, 0);
	np_kstream_free(&ks);
	/* the same size as one long string: parsed */
	k = (size_t)sprintf(line, "{\"type\":\"ADDED\",\"object\":{\"v\":\"");
	memset(line + k, 'a', n);
	k += n;
	k += (size_t)sprintf(line + k, "\"}}\n");
	np_kstream_init(&ks, 4u << 20);
	assert_int_equal(np_kstream_feed(&ks, line, k, collect, &s), 0);
	assert_int_equal(s.n, 1);
	np_kstream_free(&ks);
	/* commas and brackets inside strings (escaped quotes too) do not count */
	{
		static const char t[] = "{\"a\":\"[,,,{\\\",,,\"}";

		assert_int_equal(np_json_cost(t, strlen(t)), 3 * 128 + strlen(t)); /* 1 + "{" + ":" */
	}
	free(line);
}

int main(void)
{
	const char *env = getenv("NP_FIXTURES");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_body),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_several_events_per_chunk),
		cmocka_unit_test(test_truncated_last_line),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_costly_line_refused),
		cmocka_unit_test(test_events_to_model),
		cmocka_unit_test(test_list_page),
	};

	snprintf(fixtures, sizeof(fixtures), "%s", env && *env ? env : "tests/unit/fixtures");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
