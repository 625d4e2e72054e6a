// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* PutLogEvents batches (user/cwbatch.c): limits, body, gzip, answers. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>

#include "cwbatch.h"

static struct np_rec *make(size_t n, uint32_t len, int64_t ts0, int64_t step)
{
	struct np_rec *r = calloc(n, sizeof(*r));

	assert_non_null(r);
	for (size_t i = 0; i < n; i++) {
		r[i].line = malloc(len + 1);
		assert_non_null(r[i].line);
		memset(r[i].line, 'a' + (char)(i % 26), len);
		r[i].line[len] = 0;
		r[i].len = len;
		r[i].ts_ms = ts0 + (int64_t)i * step;
	}
	return r;
}

static void drop(struct np_rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		np_rec_free(&r[i]);
	free(r);
}

static void test_take_event_limit(void **state)
{
	struct np_rec *r = make(12000, 10, 1000, 0);
	uint64_t bytes;

	(void)state;
	assert_int_equal(np_cwbatch_take(r, 12000, NULL, &bytes), 10000);
	assert_int_equal(bytes, 10000 * (10 + 26));
	assert_int_equal(np_cwbatch_take(r, 9999, NULL, NULL), 9999);
	assert_int_equal(np_cwbatch_take(r, 0, NULL, &bytes), 0);
	drop(r, 12000);
}

static void test_take_byte_limit(void **state)
{
	/* 1000-byte messages: 1026 per event, 1,048,576 / 1026 = 1022.0 */
	struct np_rec *r = make(2000, 1000, 1000, 1);
	uint64_t bytes;
	size_t k;

	(void)state;
	k = np_cwbatch_take(r, 2000, NULL, &bytes);
	assert_int_equal(k, 1048576 / 1026);
	assert_true(bytes <= NP_CW_MAX_BYTES);
	assert_true(bytes + 1026 > NP_CW_MAX_BYTES);
	drop(r, 2000);
}

static void test_take_exact_byte_limit(void **state)
{
	/* Two events filling exactly 1,048,576 bytes are one batch. */
	struct np_rec *r = make(3, 524288 - 26, 0, 0);
	uint64_t bytes;

	(void)state;
	/* Each is above the single-event size: none may be taken. */
	assert_int_equal(np_cwbatch_take(r, 3, NULL, &bytes), 0);
	drop(r, 3);
	r = make(5, 262144 - 26, 0, 0);
	assert_int_equal(np_cwbatch_take(r, 5, NULL, &bytes), 4);
	assert_int_equal(bytes, NP_CW_MAX_BYTES);
	drop(r, 5);
}

static void test_take_span(void **state)
{
	const int64_t h = 3600 * 1000;
	struct np_rec *r = make(4, 5, 0, 0);

	(void)state;
	r[0].ts_ms = 10 * h;
	r[1].ts_ms = 0;       /* older: span 10 h */
	r[2].ts_ms = 24 * h - 1; /* span 24 h - 1 ms: still fine */
	r[3].ts_ms = 24 * h;     /* span exactly 24 h: not */
	assert_int_equal(np_cwbatch_take(r, 4, NULL, NULL), 3);
	drop(r, 4);
}

static void test_take_custom_limits(void **state)
{
	struct np_cwbatch_limits lim = { .max_events = 3, .max_bytes = 0 };
	struct np_rec *r = make(10, 5, 0, 0);

	(void)state;
	assert_int_equal(np_cwbatch_take(r, 10, &lim, NULL), 3);
	lim = (struct np_cwbatch_limits){ .max_events = 0, .max_bytes = 2 * 31 };
	assert_int_equal(np_cwbatch_take(r, 10, &lim, NULL), 2);
	drop(r, 10);
}

static void test_body_sorted_and_escaped(void **state)
{
	struct np_rec r[3] = {
		{ .ts_ms = 30, .line = strdup("{\"a\":\"x\\\"y\"}") },
		{ .ts_ms = 10, .line = strdup("line\twith\ncontrols \xc3\xa9") },
		{ .ts_ms = 30, .line = strdup("third") },
	};
	char *body = NULL;
	size_t len = 0;
	json_t *doc, *evs;

	(void)state;
	for (int i = 0; i < 3; i++)
		r[i].len = (uint32_t)strlen(r[i].line);
	assert_int_equal(np_cwbatch_body("/aws/eks/c/netpol-flows", "node \"1\"", r, 3, &body, &len), 0);
	assert_int_equal(strlen(body), len);
	doc = json_loads(body, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "logGroupName")), "/aws/eks/c/netpol-flows");
	assert_string_equal(json_string_value(json_object_get(doc, "logStreamName")), "node \"1\"");
	evs = json_object_get(doc, "logEvents");
	assert_int_equal(json_array_size(evs), 3);
	/* chronological; equal timestamps keep queue order */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(evs, 0), "timestamp")), 10);
	assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 0), "message")),
			    r[1].line);
	assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 1), "message")),
			    r[0].line);
	assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 2), "message")),
			    "third");
	json_decref(doc);
	free(body);
	for (int i = 0; i < 3; i++)
		free(r[i].line);
}

static void test_body_never_reads_past_line(void **state)
{
	/* A record whose length claims more than its line holds (what a
	 * NUL byte did to spooled records): the body holds the line and
	 * nothing of the heap behind it; ASan fails any read past it. */
	struct np_rec r = { .ts_ms = 1, .line = malloc(3) };
	char *body = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(r.line);
	memcpy(r.line, "ab", 3);
	r.len = 40;
	assert_int_equal(np_cwbatch_body("g", "s", &r, 1, &body, &len), 0);
	assert_string_equal(body, "{\"logGroupName\":\"g\",\"logStreamName\":\"s\",\"logEvents\":"
				  "[{\"timestamp\":1,\"message\":\"ab\"}]}");
	assert_int_equal(len, strlen(body));
	free(body);
	free(r.line);
}

static void test_gzip_roundtrip(void **state)
{
	char in[5000], out[6000], *gz = NULL;
	size_t gz_len = 0;
	z_stream zs = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)('a' + i % 7);
	assert_int_equal(np_gzip(in, sizeof(in), &gz, &gz_len), 0);
	assert_true(gz_len < sizeof(in) / 4);
	/* RFC 1952 magic */
	assert_int_equal((unsigned char)gz[0], 0x1f);
	assert_int_equal((unsigned char)gz[1], 0x8b);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)gz;
	zs.avail_in = (uInt)gz_len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = sizeof(out);
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	inflateEnd(&zs);
	free(gz);
}

static void test_parse_accepted(void **state)
{
	struct np_cw_rejected rej;

	(void)state;
	assert_int_equal(np_cw_parse_accepted("", 10, &rej), 0);
	assert_int_equal(np_cw_parse_accepted("{\"nextSequenceToken\":\"1\"}", 10, &rej), 0);
	assert_int_equal(rej.too_old_end, -1);
	assert_int_equal(np_cw_parse_accepted(
				 "{\"rejectedLogEventsInfo\":{\"tooOldLogEventEndIndex\":3}}", 10, &rej), 3);
	assert_int_equal(np_cw_parse_accepted(
				 "{\"rejectedLogEventsInfo\":{\"tooNewLogEventStartIndex\":8}}", 10, &rej), 2);
	/* expired and too old overlap (both prefixes); too new is a suffix */
	assert_int_equal(np_cw_parse_accepted("{\"rejectedLogEventsInfo\":{\"tooOldLogEventEndIndex\":2,"
					      "\"expiredLogEventEndIndex\":4,"
					      "\"tooNewLogEventStartIndex\":9}}", 10, &rej), 5);
	assert_int_equal(rej.expired_end, 4);
	assert_int_equal(np_cw_parse_accepted("not json", 10, &rej), -EINVAL);
}

static void test_parse_error(void **state)
{
	char type[64], msg[128];

	(void)state;
	np_cw_parse_error("{\"__type\":\"com.amazonaws.logs#ResourceNotFoundException\","
			  "\"message\":\"The specified log group does not exist.\"}",
			  type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "ResourceNotFoundException");
	assert_string_equal(msg, "The specified log group does not exist.");
	np_cw_parse_error("{\"__type\":\"ThrottlingException\",\"Message\":\"Rate exceeded\"}",
			  type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "ThrottlingException");
	assert_string_equal(msg, "Rate exceeded");
	np_cw_parse_error("<html>bad gateway</html>", type, sizeof(type), msg, sizeof(msg));
	assert_string_equal(type, "");
	assert_string_equal(msg, "");
}

static void test_simple_body(void **state)
{
	char *b = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(np_cw_simple_body("g", NULL, &b, &n), 0);
	assert_string_equal(b, "{\"logGroupName\":\"g\"}");
	free(b);
	assert_int_equal(np_cw_simple_body("g", "s", &b, &n), 0);
	assert_string_equal(b, "{\"logGroupName\":\"g\",\"logStreamName\":\"s\"}");
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_event_limit),
		cmocka_unit_test(test_take_byte_limit),
		cmocka_unit_test(test_take_exact_byte_limit),
		cmocka_unit_test(test_take_span),
		cmocka_unit_test(test_take_custom_limits),
		cmocka_unit_test(test_body_sorted_and_escaped),
		cmocka_unit_test(test_body_never_reads_past_line),
		cmocka_unit_test(test_gzip_roundtrip),
		cmocka_unit_test(test_parse_accepted),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_simple_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
