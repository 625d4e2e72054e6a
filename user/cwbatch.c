// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* PutLogEvents batches: see cwbatch.h. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cwbatch.h"

size_t np_cwbatch_take(const struct np_rec *recs, size_t n, const struct np_cwbatch_limits *lim,
		       uint64_t *bytes)
{
	uint32_t max_events = lim && lim->max_events ? lim->max_events : NP_CW_MAX_EVENTS;
	uint32_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : NP_CW_MAX_BYTES;
	int64_t lo = 0, hi = 0;
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < n && i < max_events; i++) {
		uint64_t sz = (uint64_t)recs[i].len + NP_CW_EVENT_OVERHEAD;
		int64_t t = recs[i].ts_ms;

		if (recs[i].len > NP_CW_MAX_MESSAGE)
			break;
		if (total + sz > max_bytes)
			break;
		if (i == 0) {
			lo = hi = t;
		} else {
			int64_t nlo = t < lo ? t : lo, nhi = t > hi ? t : hi;

			if (nhi - nlo > NP_CW_MAX_SPAN_MS)
				break;
			lo = nlo;
			hi = nhi;
		}
		total += sz;
	}
	if (bytes)
		*bytes = total;
	return i;
}

static int buf_reserve(char **buf, size_t len, size_t *cap, size_t more)
{
	size_t nc;
	char *p;

	if (len + more + 1 <= *cap)
		return 0;
	nc = *cap ? *cap : 4096;
	while (nc < len + more + 1)
		nc *= 2;
	p = realloc(*buf, nc);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = nc;
	return 0;
}

static int buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (buf_reserve(buf, *len, cap, n))
		return -ENOMEM;
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = 0;
	return 0;
}

int np_json_str_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o;

	/* Worst case: every byte becomes \u00XX. */
	if (buf_reserve(buf, *len, cap, n * 6 + 2))
		return -ENOMEM;
	o = *buf + *len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20) {
			*o++ = '\\';
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	*o = 0;
	*len = (size_t)(o - *buf);
	return 0;
}

struct order {
	int64_t ts;
	size_t idx;
};

static int order_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int np_cwbatch_body(const char *group, const char *stream, const struct np_rec *recs, size_t n,
		    char **out, size_t *out_len)
{
	struct order *ord = NULL;
	char *buf = NULL, num[48];
	size_t len = 0, cap = 0;
	int ret = -ENOMEM;

	ord = malloc((n ? n : 1) * sizeof(*ord));
	if (!ord)
		goto cleanup;
	for (size_t i = 0; i < n; i++)
		ord[i] = (struct order){ recs[i].ts_ms, i };
	qsort(ord, n, sizeof(*ord), order_cmp);
	if (buf_add(&buf, &len, &cap, "{\"logGroupName\":", 16) ||
	    np_json_str_append(&buf, &len, &cap, group, strlen(group)) ||
	    buf_add(&buf, &len, &cap, ",\"logStreamName\":", 17) ||
	    np_json_str_append(&buf, &len, &cap, stream, strlen(stream)) ||
	    buf_add(&buf, &len, &cap, ",\"logEvents\":[", 14))
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		const struct np_rec *r = &recs[ord[i].idx];
		int k = snprintf(num, sizeof(num), "%s{\"timestamp\":%" PRId64 ",\"message\":",
				 i ? "," : "", r->ts_ms);

		/* Never past the string: a record whose LEN disagrees with its
		 * line (a NUL inside) would otherwise ship the heap behind it.
		 * The spool refuses such records; this is the last guard. */
		if (buf_add(&buf, &len, &cap, num, (size_t)k) ||
		    np_json_str_append(&buf, &len, &cap, r->line, strnlen(r->line, r->len)) ||
		    buf_add(&buf, &len, &cap, "}", 1))
			goto cleanup;
	}
	if (buf_add(&buf, &len, &cap, "]}", 2))
		goto cleanup;
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = 0;
cleanup:
	free(ord);
	free(buf);
	return ret;
}

int np_cw_simple_body(const char *group, const char *stream, char **out, size_t *out_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int ret = -ENOMEM;

	if (buf_add(&buf, &len, &cap, "{\"logGroupName\":", 16) ||
	    np_json_str_append(&buf, &len, &cap, group, strlen(group)))
		goto cleanup;
	if (stream && (buf_add(&buf, &len, &cap, ",\"logStreamName\":", 17) ||
		       np_json_str_append(&buf, &len, &cap, stream, strlen(stream))))
		goto cleanup;
	if (buf_add(&buf, &len, &cap, "}", 1))
		goto cleanup;
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = 0;
cleanup:
	free(buf);
	return ret;
}

int np_gzip(const void *in, size_t n, char **out, size_t *out_len)
{
	z_stream zs = { 0 };
	char *buf = NULL;
	size_t cap;
	int ret = 0, zr;

	/* 15 window bits + 16: a gzip header and trailer, not zlib's. */
	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&zs, (uLong)n) + 32;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto cleanup;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = (Bytef *)buf;
	zs.avail_out = (uInt)cap;
	zr = deflate(&zs, Z_FINISH);
	if (zr != Z_STREAM_END) {
		ret = -EIO;
		goto cleanup;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
cleanup:
	deflateEnd(&zs);
	free(buf);
	return ret;
}

static int64_t get_index(json_t *info, const char *key)
{
	json_t *v = json_object_get(info, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

long np_cw_parse_accepted(const char *body, size_t n, struct np_cw_rejected *rej)
{
	json_t *doc, *info;
	int64_t prefix = 0;
	long rejected = 0;

	rej->too_new_start = rej->too_old_end = rej->expired_end = -1;
	if (!body || !*body)
		return 0;
	doc = json_loads(body, JSON_DECODE_ANY, NULL);
	if (!doc)
		return -EINVAL;
	info = json_object_get(doc, "rejectedLogEventsInfo");
	if (json_is_object(info)) {
		rej->too_new_start = get_index(info, "tooNewLogEventStartIndex");
		rej->too_old_end = get_index(info, "tooOldLogEventEndIndex");
		rej->expired_end = get_index(info, "expiredLogEventEndIndex");
	}
	json_decref(doc);
	/* Too old and expired are both prefixes of the (sorted) batch. */
	if (rej->too_old_end > prefix)
		prefix = rej->too_old_end;
	if (rej->expired_end > prefix)
		prefix = rej->expired_end;
	if (prefix > (int64_t)n)
		prefix = (int64_t)n;
	rejected = (long)prefix;
	if (rej->too_new_start >= 0 && rej->too_new_start < (int64_t)n) {
		int64_t from = rej->too_new_start > prefix ? rej->too_new_start : prefix;

		rejected += (long)((int64_t)n - from);
	}
	return rejected;
}

void np_cw_parse_error(const char *body, char *type, size_t type_sz, char *msg, size_t msg_sz)
{
	json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
	const char *t = NULL, *m = NULL, *hash;

	if (type_sz)
		type[0] = 0;
	if (msg_sz)
		msg[0] = 0;
	if (!doc)
		return;
	t = json_string_value(json_object_get(doc, "__type"));
	m = json_string_value(json_object_get(doc, "message"));
	if (!m)
		m = json_string_value(json_object_get(doc, "Message"));
	if (t) {
		hash = strrchr(t, '#');
		snprintf(type, type_sz, "%s", hash ? hash + 1 : t);
	}
	if (m)
		snprintf(msg, msg_sz, "%s", m);
	json_decref(doc);
}
