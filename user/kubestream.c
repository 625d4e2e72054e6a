// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Incremental parser of a watch response: newline-delimited JSON events
 * arriving in chunks that have nothing to do with event boundaries.  Complete
 * lines are parsed straight from the chunk; only the unfinished tail of a
 * chunk is copied, so a large list of small events costs no extra copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

void np_kstream_init(struct np_kstream *s, size_t max_line)
{
	memset(s, 0, sizeof(*s));
	s->max_line = max_line ? max_line : (64u << 20);
}

void np_kstream_reset(struct np_kstream *s)
{
	s->len = 0;
}

void np_kstream_free(struct np_kstream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

/*
 * What parsing N bytes of JSON at P would cost jansson, over-estimated:
 * every value is a json_t (with, in an object, a hashtable entry and its
 * key; in an array, a slot), about 128 bytes, plus the bytes themselves.
 * Values are counted as the structural characters outside strings that
 * start one ('[', '{', ':', ','), in one pass.  A line of small values
 * ("[0,0,0,...") costs jansson about 25 times its size; this lets such a
 * line be refused before it is parsed.
 */
size_t np_json_cost(const char *p, size_t n)
{
	size_t values = 1;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '[' || c == '{' || c == ':' || c == ',')
			values++;
	}
	return values * 128 + n;
}

bool np_json_cost_ok(const char *p, size_t n)
{
	return np_json_cost(p, n) <= NP_JSON_COST_FACTOR * n + NP_JSON_COST_SLACK;
}

static bool blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

static int parse_line(struct np_kstream *s, const char *p, size_t n,
		      np_kstream_cb cb, void *ctx)
{
	json_error_t jerr;
	json_t *ev;
	int ret;

	if (blank(p, n))
		return 0;
	if (!np_json_cost_ok(p, n))
		return -E2BIG;
	ev = json_loadb(p, n, 0, &jerr);
	if (!ev || !json_is_object(ev)) {
		json_decref(ev);
		return -EBADMSG;
	}
	s->lines++;
	ret = cb(ctx, ev);
	json_decref(ev);
	return ret < 0 ? ret : 0;
}

static int append(struct np_kstream *s, const char *p, size_t n)
{
	if (s->len + n > s->max_line)
		return -EMSGSIZE;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;

		while (cap < s->len + n)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

int np_kstream_feed(struct np_kstream *s, const char *data, size_t n,
		    np_kstream_cb cb, void *ctx)
{
	const char *p = data, *end = data + n;
	int ret = 0;

	s->bytes += n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl) {
			ret = append(s, p, (size_t)(end - p));
			break;
		}
		if (s->len) {
			/* the end of a line that began in an earlier chunk */
			ret = append(s, p, (size_t)(nl - p));
			if (!ret)
				ret = parse_line(s, s->buf, s->len, cb, ctx);
			s->len = 0;
		} else {
			ret = parse_line(s, p, (size_t)(nl - p), cb, ctx);
		}
		if (ret)
			break;
		p = nl + 1;
	}
	return ret;
}

size_t np_kstream_finish(struct np_kstream *s)
{
	size_t dropped = blank(s->buf, s->len) ? 0 : s->len;

	s->len = 0;
	return dropped;
}
