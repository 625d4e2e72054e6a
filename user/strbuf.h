/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A growable byte buffer for building JSON lines and request bodies without
 * a formatting call per field. */
#ifndef NP_STRBUF_H
#define NP_STRBUF_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct np_strbuf {
	char *p;
	size_t len, cap;
	bool oom; /* an append failed: the content is incomplete */
};

static inline bool np_sb_reserve(struct np_strbuf *b, size_t more)
{
	size_t need = b->len + more + 1, cap;
	char *p;

	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static inline void np_sb_add(struct np_strbuf *b, const char *s, size_t n)
{
	if (!np_sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void np_sb_str(struct np_strbuf *b, const char *s)
{
	np_sb_add(b, s, strlen(s));
}

static inline void np_sb_u64(struct np_strbuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	np_sb_add(b, tmp + i, sizeof(tmp) - i);
}

/* S as a JSON string, quotes included. */
static inline void np_sb_json_str(struct np_strbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	np_sb_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const unsigned char *run = p;

		while (*p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		np_sb_add(b, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			char e[2] = { '\\', (char)*p };

			np_sb_add(b, e, 2);
		} else {
			char e[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };

			np_sb_add(b, e, 6);
		}
	}
	np_sb_add(b, "\"", 1);
}

static inline void np_sb_reset(struct np_strbuf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->p)
		b->p[0] = '\0';
}

static inline void np_sb_free(struct np_strbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

#endif
