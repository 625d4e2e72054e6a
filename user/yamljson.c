// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libyaml event stream -> jansson tree.  See yamljson.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "yamljson.h"

struct frame {
	json_t *node; /* array or object (borrowed: owned by its parent) */
	char *key;    /* objects: key waiting for its value */
};

struct builder {
	struct frame stack[NP_YAML_MAX_DEPTH];
	int depth;
	json_t *root; /* current document */
	char *err;
	size_t err_len;
};

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *fmt,
		   ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(b->err, b->err_len, "line %zu, column %zu: %s",
		 m->line + 1, m->column + 1, what);
	return -EINVAL;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL",
					   NULL };
/* YAML 1.1, as Kubernetes' reader (go-yaml v2) resolves them. */
static const char *const true_words[] = { "true", "True", "TRUE", "yes",
					   "Yes", "YES", "on", "On", "ON",
					   "y", "Y", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", "no",
					    "No", "NO", "off", "Off", "OFF",
					    "n", "N", NULL };

/*
 * An integer as Kubernetes' YAML reader (go-yaml v2, YAML 1.1) reads a
 * plain scalar that starts with a digit or a sign: underscores dropped
 * (PLAIN is S without them), then Go's strconv.ParseInt(s, 0, 64): an
 * optional sign, then 0x hex, 0o or a leading 0 octal, 0b binary, else
 * decimal.  So "0100" is 64, "1_000" is 1000 and "0b1" is 1, as kubectl and
 * the API server read them.  Out of the int64 range: a real (the unsigned
 * and float readings go-yaml tries next).  NULL: not an integer.
 */
static json_t *resolve_int(const char *plain)
{
	const char *p = plain;
	int base = 10;
	bool neg = false;
	unsigned long long v;
	char *end;

	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1]) {
		base = 8;
		p += 1;
	}
	if (!*p)
		return NULL;
	for (const char *q = p; *q; q++) {
		bool ok = base == 16 ? ((*q >= '0' && *q <= '9') ||
					 (*q >= 'a' && *q <= 'f') ||
					 (*q >= 'A' && *q <= 'F'))
			: base == 8 ? (*q >= '0' && *q <= '7')
			: base == 2 ? (*q == '0' || *q == '1')
				    : (*q >= '0' && *q <= '9');
		if (!ok)
			return NULL;
	}
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno == ERANGE || *end || v > (unsigned long long)INT64_MAX)
		return json_real(neg ? -(double)v : (double)v);
	return json_integer(neg ? -(json_int_t)v : (json_int_t)v);
}

/* [-+]? ( . digits | digits [. digits*] ) ([eE] [-+]? digits)? */
static json_t *resolve_float(const char *s)
{
	const char *p = s;
	bool digits = false;
	double d;
	char *end;

	if (*p == '+' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9') {
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			p++;
			digits = true;
		}
	}
	if (!digits)
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return NULL;
	errno = 0;
	d = strtod(s, &end);
	if (*end || !isfinite(d))
		return NULL;
	return json_real(d);
}

/* A plain (unquoted, untagged) scalar. */
static json_t *resolve_plain(const char *s)
{
	json_t *v;

	if (one_of(s, null_words))
		return json_null();
	if (one_of(s, true_words))
		return json_true();
	if (one_of(s, false_words))
		return json_false();
	if ((*s >= '0' && *s <= '9') || *s == '+' || *s == '-') {
		/* go-yaml drops underscores from such scalars before
		 * reading them as numbers. */
		size_t n = strlen(s), k = 0;
		char *plain = malloc(n + 1);

		if (!plain)
			return NULL;
		for (size_t i = 0; i < n; i++)
			if (s[i] != '_')
				plain[k++] = s[i];
		plain[k] = '\0';
		v = resolve_int(plain);
		if (!v)
			v = resolve_float(plain);
		free(plain);
		if (v)
			return v;
		return json_string(s);
	}
	v = resolve_float(s);
	if (v)
		return v;
	return json_string(s);
}

#define TAG_PREFIX "tag:yaml.org,2002:"

static int scalar_value(struct builder *b, const yaml_event_t *ev,
			json_t **out)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	json_t *v = NULL;

	if (strlen(s) != len)
		return fail_at(b, &ev->start_mark,
			       "strings containing NUL characters are not supported");
	if (tag && strcmp(tag, "!") != 0) {
		json_type want;

		if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
			return fail_at(b, &ev->start_mark,
				       "unsupported YAML tag %s", tag);
		tag += strlen(TAG_PREFIX);
		if (strcmp(tag, "str") == 0) {
			v = json_stringn(s, len);
			goto done;
		}
		if (strcmp(tag, "int") == 0)
			want = JSON_INTEGER;
		else if (strcmp(tag, "float") == 0)
			want = JSON_REAL;
		else if (strcmp(tag, "bool") == 0)
			want = JSON_TRUE;
		else if (strcmp(tag, "null") == 0)
			want = JSON_NULL;
		else
			return fail_at(b, &ev->start_mark,
				       "unsupported YAML tag !!%s", tag);
		v = resolve_plain(s);
		if (v && want == JSON_REAL && json_is_integer(v)) {
			json_t *r = json_real((double)json_integer_value(v));

			json_decref(v);
			v = r;
		}
		if (v && !(json_typeof(v) == want ||
			   (want == JSON_TRUE && json_is_boolean(v)))) {
			json_decref(v);
			return fail_at(b, &ev->start_mark,
				       "\"%s\" is not a valid !!%s", s, tag);
		}
		goto done;
	}
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
		v = resolve_plain(s);
	else
		v = json_stringn(s, len);
done:
	if (!v)
		return fail_at(b, &ev->start_mark,
			       "cannot represent scalar (invalid UTF-8 or out of memory)");
	*out = v;
	return 0;
}

/* Attach V (a new reference, stolen) to the current container or document. */
static int attach(struct builder *b, const yaml_mark_t *m, json_t *v)
{
	struct frame *f;
	int ret = 0;

	if (b->depth == 0) {
		json_decref(b->root);
		b->root = v;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (json_is_array(f->node)) {
		if (json_array_append_new(f->node, v) < 0)
			return fail_at(b, m, "out of memory");
		return 0;
	}
	/* object: f->key is set (callers check) */
	if (json_object_get(f->node, f->key)) {
		ret = fail_at(b, m, "duplicate key \"%s\"", f->key);
		json_decref(v);
	} else if (json_object_set_new(f->node, f->key, v) < 0) {
		ret = fail_at(b, m, "cannot store key \"%s\"", f->key);
	}
	free(f->key);
	f->key = NULL;
	return ret;
}

static bool expecting_key(const struct builder *b)
{
	return b->depth > 0 && json_is_object(b->stack[b->depth - 1].node) &&
	       !b->stack[b->depth - 1].key;
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	json_t *v = NULL;
	int ret;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		json_decref(b->root);
		b->root = json_null();
		return 0;
	case YAML_ALIAS_EVENT:
		return fail_at(b, m,
			       "YAML aliases (*%s) are not supported; write the value out",
			       (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			return fail_at(b, m,
				       "YAML anchors (&%s) are not supported",
				       (const char *)ev->data.scalar.anchor);
		if (expecting_key(b)) {
			const char *s = (const char *)ev->data.scalar.value;

			if (strlen(s) != ev->data.scalar.length)
				return fail_at(b, m,
					       "keys containing NUL characters are not supported");
			b->stack[b->depth - 1].key = strdup(s);
			if (!b->stack[b->depth - 1].key)
				return fail_at(b, m, "out of memory");
			return 0;
		}
		ret = scalar_value(b, ev, &v);
		if (ret < 0)
			return ret;
		return attach(b, m, v);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		const yaml_char_t *anchor =
			ev->type == YAML_SEQUENCE_START_EVENT
				? ev->data.sequence_start.anchor
				: ev->data.mapping_start.anchor;

		if (anchor)
			return fail_at(b, m,
				       "YAML anchors (&%s) are not supported",
				       (const char *)anchor);
		if (expecting_key(b))
			return fail_at(b, m,
				       "mapping keys must be plain strings, not lists or mappings");
		if (b->depth >= NP_YAML_MAX_DEPTH)
			return fail_at(b, m, "nested deeper than %d levels",
				       NP_YAML_MAX_DEPTH);
		v = ev->type == YAML_SEQUENCE_START_EVENT ? json_array()
							 : json_object();
		if (!v)
			return fail_at(b, m, "out of memory");
		/* the parent (or root) owns it; the frame borrows it */
		ret = attach(b, m, v);
		if (ret < 0)
			return ret;
		b->stack[b->depth].node = v;
		b->stack[b->depth].key = NULL;
		b->depth++;
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0) {
			b->depth--;
			free(b->stack[b->depth].key);
			b->stack[b->depth].key = NULL;
		}
		return 0;
	default:
		return 0;
	}
}

int np_yaml_parse_each(const char *buf, size_t len, np_yaml_doc_cb cb, void *ctx,
		       char *err, size_t err_len)
{
	struct builder b = { .err = err, .err_len = err_len };
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	size_t index = 0;
	int ret = 0;

	if (err_len)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, err_len, "cannot initialise the YAML parser");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			const yaml_mark_t *m = &parser.problem_mark;

			if (parser.context)
				snprintf(err, err_len,
					 "line %zu, column %zu: YAML syntax error: %s (%s, line %zu)",
					 m->line + 1, m->column + 1,
					 parser.problem ? parser.problem : "?",
					 parser.context,
					 parser.context_mark.line + 1);
			else
				snprintf(err, err_len,
					 "line %zu, column %zu: YAML syntax error: %s",
					 m->line + 1, m->column + 1,
					 parser.problem ? parser.problem : "?");
			ret = -EINVAL;
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT)
			done = true;
		if (ev.type == YAML_DOCUMENT_END_EVENT) {
			/* One document at a time: its tree is gone before the
			 * next one is built. */
			json_t *doc = b.root ? b.root : json_null();

			b.root = NULL;
			ret = cb(ctx, doc, index++);
			json_decref(doc);
			if (ret < 0)
				ret = ret == -EINVAL ? NP_YAML_CB_FAILED : ret;
		} else {
			ret = on_event(&b, &ev);
		}
		yaml_event_delete(&ev);
		if (ret < 0)
			break;
	}
	for (int i = 0; i < b.depth; i++)
		free(b.stack[i].key);
	json_decref(b.root);
	yaml_parser_delete(&parser);
	return ret < 0 ? ret : 0;
}

static int append_doc(void *ctx, json_t *doc, size_t index)
{
	(void)index;
	return json_array_append(ctx, doc) < 0 ? -ENOMEM : 0;
}

json_t *np_yaml_parse(const char *buf, size_t len, char *err, size_t err_len)
{
	json_t *docs = json_array();
	int ret;

	if (!docs) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	ret = np_yaml_parse_each(buf, len, append_doc, docs, err, err_len);
	if (ret < 0) {
		if (ret == -ENOMEM && err_len && !err[0])
			snprintf(err, err_len, "out of memory");
		json_decref(docs);
		return NULL;
	}
	return docs;
}
