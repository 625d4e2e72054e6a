// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * YAML/JSON -> struct np_objects.
 *
 * Files are parsed by libyaml into jansson trees (yamljson.c: one code path
 * for YAML and JSON), then each document is converted and validated the way
 * the API server would.  Everything is loaded into a temporary set first and
 * appended to the caller's set only when the whole load succeeded.
 *
 * Strictness: in NetworkPolicy objects (outside metadata and status) every
 * unknown field is an error, because a typo there silently changes what is
 * allowed.  Pods and Namespaces carry many fields we do not use; those are
 * accepted, but the fields we do read must have the right type.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "model.h"
#include "yamljson.h"

#define PATHLEN 512
/* Reading costs about 3x the text (the model; one document's tree at a
 * time), so 32 MiB stays near 100 MiB under the DaemonSet's 256 Mi limit.
 * Larger files are refused whole, the last good state kept. */
#define MAX_FILE_SIZE (32u << 20)
#define NS_NAME_LABEL "kubernetes.io/metadata.name"

enum kind {
	KIND_NAMESPACE,
	KIND_POD,
	KIND_POLICY,
};

static const char *const kind_names[] = { "Namespace", "Pod", "NetworkPolicy" };

struct loader {
	struct np_objects objs; /* what this load produced so far */
	size_t cap_ns, cap_pods, cap_pols;
};

/* Where we are, for messages. */
struct ctx {
	const char *file;
	char obj[600]; /* "NetworkPolicy ns/name" or "document 3" */
	struct np_error *err;
};

/* ------------------------------------------------------------------ */
/* errors and paths */

/* snprintf that truncates silently (messages and paths are bounded). */
static void fmt_to(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt_to(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (path && *path)
		fmt_to(c->err->msg, sizeof(c->err->msg), "%s: %s: %s: %s",
		       c->file, c->obj, path, what);
	else
		fmt_to(c->err->msg, sizeof(c->err->msg), "%s: %s: %s", c->file,
		       c->obj, what);
	return -EINVAL;
}

static int fail_oom(struct ctx *c)
{
	fmt_to(c->err->msg, sizeof(c->err->msg), "%s: %s: out of memory",
	       c->file, c->obj);
	return -ENOMEM;
}

static void path_field(char *out, const char *base, const char *name)
{
	if (base && *base)
		fmt_to(out, PATHLEN, "%s.%s", base, name);
	else
		fmt_to(out, PATHLEN, "%s", name);
}

static void path_index(char *out, const char *base, size_t i)
{
	fmt_to(out, PATHLEN, "%s[%zu]", base, i);
}

static void path_key(char *out, const char *base, const char *key)
{
	fmt_to(out, PATHLEN, "%s[%s]", base, key);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* Absent and explicit null are the same thing (as for Go's decoder). */
static json_t *get(const json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_null(v) ? NULL : v;
}

static int check_fields(struct ctx *c, const json_t *obj, const char *path,
			const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		char p[PATHLEN], list[256] = "";
		size_t used = 0;
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				ok = true;
		if (ok)
			continue;
		for (const char *const *a = allowed; *a; a++) {
			int n = snprintf(list + used, sizeof(list) - used, "%s%s",
					 a == allowed ? "" : ", ", *a);

			if (n < 0 || (size_t)n >= sizeof(list) - used)
				break;
			used += (size_t)n;
		}
		path_field(p, path, key);
		return fail(c, p, "unknown field (expected one of: %s)", list);
	}
	return 0;
}

static int want_type(struct ctx *c, const json_t *v, const char *path,
		     json_type t, const char *what)
{
	if (json_typeof(v) == t)
		return 0;
	return fail(c, path, "must be %s, got %s", what, type_name(v));
}

/* An integer, or a number with an integral value (80.0). */
static bool int_value(const json_t *v, long long *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d >= -9e15 && d <= 9e15 && d == (double)(long long)d) {
			*out = (long long)d;
			return true;
		}
	}
	return false;
}

static int dup_str(struct ctx *c, const char *s, char **out)
{
	*out = strdup(s);
	return *out ? 0 : fail_oom(c);
}

/* ------------------------------------------------------------------ */
/* name validation (k8s.io/apimachinery/pkg/util/validation) */

static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_alnum(char ch)
{
	return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

/* RFC 1123 label: namespaces. */
static const char *check_dns_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > 63)
		return "must be at most 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return "must consist of lower case letters, digits and '-' (RFC 1123 label)";
	if (s[0] == '-' || s[n - 1] == '-')
		return "must start and end with a letter or digit (RFC 1123 label)";
	return NULL;
}

/* RFC 1123 subdomain: object names, label key prefixes. */
static const char *check_dns_subdomain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > 253)
		return "must be at most 253 characters";
	for (size_t i = 0; i < n; i++) {
		bool edge_ok = i > 0 && i < n - 1 && s[i - 1] != '.' &&
			       s[i + 1] != '.';

		if (is_lower_alnum(s[i]))
			continue;
		if ((s[i] == '-' || s[i] == '.') && edge_ok)
			continue;
		return "must consist of lower case letters, digits, '-' and '.', and start and end with a letter or digit (RFC 1123 subdomain)";
	}
	return NULL;
}

/* The name part of a label key, or a label value (non-empty). */
static const char *check_label_chars(const char *s, size_t n)
{
	if (n > 63)
		return "must be at most 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return "must consist of letters, digits, '-', '_' and '.'";
	if (n && (!is_alnum(s[0]) || !is_alnum(s[n - 1])))
		return "must start and end with a letter or digit";
	return NULL;
}

static const char *check_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *name = slash ? slash + 1 : s;
	static char prefix_msg[300];

	if (slash) {
		char prefix[254];
		size_t plen = (size_t)(slash - s);
		const char *why;

		if (plen == 0 || plen > 253)
			return "prefix before '/' must be 1-253 characters";
		memcpy(prefix, s, plen);
		prefix[plen] = '\0';
		why = check_dns_subdomain(prefix);
		if (why) {
			snprintf(prefix_msg, sizeof(prefix_msg), "prefix %s", why);
			return prefix_msg;
		}
	}
	if (*name == '\0')
		return "name part must not be empty";
	return check_label_chars(name, strlen(name));
}

static const char *check_label_value(const char *s)
{
	return check_label_chars(s, strlen(s));
}

/* IANA_SVC_NAME: named ports. */
static const char *check_port_name(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n == 0 || n > 15)
		return "must be 1-15 characters";
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return "must consist of lower case letters, digits and '-'";
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		if (s[i] == '-' && i + 1 < n && s[i + 1] == '-')
			return "must not contain consecutive '-'";
	}
	if (s[0] == '-' || s[n - 1] == '-')
		return "must not start or end with '-'";
	if (!letter)
		return "must contain at least one letter";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* freeing */

static void free_labels(struct np_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void free_selector(struct np_selector *s)
{
	free_labels(&s->match_labels);
	for (size_t i = 0; i < s->n_exprs; i++) {
		struct np_sel_expr *e = &s->exprs[i];

		free(e->key);
		for (size_t j = 0; j < e->n_values; j++)
			free(e->values[j]);
		free(e->values);
	}
	free(s->exprs);
	s->exprs = NULL;
	s->n_exprs = 0;
}

static void free_rule(struct np_rule *r)
{
	for (size_t i = 0; i < r->n_peers; i++) {
		free_selector(&r->peers[i].pod_sel);
		free_selector(&r->peers[i].ns_sel);
		free(r->peers[i].except);
	}
	free(r->peers);
	for (size_t i = 0; i < r->n_ports; i++)
		free(r->ports[i].name);
	free(r->ports);
}

static void free_policy(struct np_policy *p)
{
	free(p->ns);
	free(p->name);
	free_selector(&p->pod_sel);
	for (int d = 0; d < NP_DIR_MAX; d++) {
		for (size_t i = 0; i < p->n_rules[d]; i++)
			free_rule(&p->rules[d][i]);
		free(p->rules[d]);
	}
	free(p->source);
}

static void free_pod(struct np_pod *p)
{
	free(p->ns);
	free(p->name);
	free_labels(&p->labels);
	for (size_t i = 0; i < p->n_ports; i++)
		free(p->ports[i].name);
	free(p->ports);
	free(p->node_name);
	free(p->source);
}

static void free_namespace(struct np_namespace *n)
{
	free(n->name);
	free_labels(&n->labels);
	free(n->source);
}

void np_objects_free(struct np_objects *objs)
{
	if (!objs)
		return;
	for (size_t i = 0; i < objs->n_namespaces; i++)
		free_namespace(&objs->namespaces[i]);
	free(objs->namespaces);
	for (size_t i = 0; i < objs->n_pods; i++)
		free_pod(&objs->pods[i]);
	free(objs->pods);
	for (size_t i = 0; i < objs->n_policies; i++)
		free_policy(&objs->policies[i]);
	free(objs->policies);
	memset(objs, 0, sizeof(*objs));
}

/* ------------------------------------------------------------------ */
/* labels and selectors */

/* A map of label key -> value (metadata.labels, matchLabels). */
static int parse_labels(struct ctx *c, const json_t *v, const char *path,
			struct np_labels *out, size_t extra)
{
	const char *key;
	json_t *val;
	size_t n;
	int ret;

	if (!v)
		n = 0;
	else if ((ret = want_type(c, v, path, JSON_OBJECT,
				  "a mapping of label keys to values")) < 0)
		return ret;
	else
		n = json_object_size(v);
	if (n + extra == 0)
		return 0;
	out->items = calloc(n + extra, sizeof(*out->items));
	if (!out->items)
		return fail_oom(c);
	if (!v)
		return 0;
	json_object_foreach((json_t *)v, key, val) {
		char p[PATHLEN];
		struct np_label *l = &out->items[out->n];
		const char *why;

		path_key(p, path, key);
		why = check_label_key(key);
		if (why)
			return fail(c, p, "invalid label key \"%s\": %s", key, why);
		if (!json_is_string(val))
			return fail(c, p,
				    "label value must be a string, got %s (quote it, e.g. \"true\" or \"1\")",
				    type_name(val));
		why = check_label_value(json_string_value(val));
		if (why)
			return fail(c, p, "invalid label value \"%s\": %s",
				    json_string_value(val), why);
		out->n++;
		if ((ret = dup_str(c, key, &l->key)) < 0 ||
		    (ret = dup_str(c, json_string_value(val), &l->value)) < 0)
			return ret;
	}
	return 0;
}

static int parse_expr(struct ctx *c, const json_t *v, const char *path,
		      struct np_sel_expr *e)
{
	static const char *const fields[] = { "key", "operator", "values", NULL };
	char p[PATHLEN];
	const json_t *key, *op, *values;
	const char *why, *ops;
	int ret;

	if ((ret = want_type(c, v, path, JSON_OBJECT, "a mapping")) < 0 ||
	    (ret = check_fields(c, v, path, fields)) < 0)
		return ret;
	key = get(v, "key");
	op = get(v, "operator");
	values = get(v, "values");
	path_field(p, path, "key");
	if (!key)
		return fail(c, p, "is required");
	if ((ret = want_type(c, key, p, JSON_STRING, "a string")) < 0)
		return ret;
	why = check_label_key(json_string_value(key));
	if (why)
		return fail(c, p, "invalid label key \"%s\": %s",
			    json_string_value(key), why);
	if ((ret = dup_str(c, json_string_value(key), &e->key)) < 0)
		return ret;
	path_field(p, path, "operator");
	if (!op)
		return fail(c, p, "is required (In, NotIn, Exists or DoesNotExist)");
	if ((ret = want_type(c, op, p, JSON_STRING, "a string")) < 0)
		return ret;
	ops = json_string_value(op);
	if (strcmp(ops, "In") == 0)
		e->op = NP_SEL_IN;
	else if (strcmp(ops, "NotIn") == 0)
		e->op = NP_SEL_NOT_IN;
	else if (strcmp(ops, "Exists") == 0)
		e->op = NP_SEL_EXISTS;
	else if (strcmp(ops, "DoesNotExist") == 0)
		e->op = NP_SEL_DOES_NOT_EXIST;
	else
		return fail(c, p,
			    "\"%s\" is not a valid operator: must be In, NotIn, Exists or DoesNotExist",
			    ops);
	path_field(p, path, "values");
	if (values) {
		size_t n;

		if ((ret = want_type(c, values, p, JSON_ARRAY, "a list of strings")) < 0)
			return ret;
		n = json_array_size(values);
		if (n) {
			e->values = calloc(n, sizeof(*e->values));
			if (!e->values)
				return fail_oom(c);
		}
		for (size_t i = 0; i < n; i++) {
			const json_t *s = json_array_get(values, i);
			char pi[PATHLEN];

			path_index(pi, p, i);
			if ((ret = want_type(c, s, pi, JSON_STRING, "a string")) < 0)
				return ret;
			why = check_label_value(json_string_value(s));
			if (why)
				return fail(c, pi, "invalid label value \"%s\": %s",
					    json_string_value(s), why);
			e->n_values++;
			if ((ret = dup_str(c, json_string_value(s),
					   &e->values[i])) < 0)
				return ret;
		}
	}
	if ((e->op == NP_SEL_IN || e->op == NP_SEL_NOT_IN) && e->n_values == 0)
		return fail(c, p, "must be non-empty when operator is %s", ops);
	if ((e->op == NP_SEL_EXISTS || e->op == NP_SEL_DOES_NOT_EXIST) &&
	    e->n_values > 0)
		return fail(c, p, "must be empty when operator is %s", ops);
	return 0;
}

static int parse_selector(struct ctx *c, const json_t *v, const char *path,
			  struct np_selector *out)
{
	static const char *const fields[] = { "matchLabels", "matchExpressions",
					      NULL };
	char p[PATHLEN];
	const json_t *exprs;
	int ret;

	if ((ret = want_type(c, v, path, JSON_OBJECT, "a label selector mapping")) < 0 ||
	    (ret = check_fields(c, v, path, fields)) < 0)
		return ret;
	path_field(p, path, "matchLabels");
	if ((ret = parse_labels(c, get(v, "matchLabels"), p,
				&out->match_labels, 0)) < 0)
		return ret;
	exprs = get(v, "matchExpressions");
	path_field(p, path, "matchExpressions");
	if (exprs) {
		size_t n;

		if ((ret = want_type(c, exprs, p, JSON_ARRAY, "a list")) < 0)
			return ret;
		n = json_array_size(exprs);
		if (n) {
			out->exprs = calloc(n, sizeof(*out->exprs));
			if (!out->exprs)
				return fail_oom(c);
			out->n_exprs = n;
		}
		for (size_t i = 0; i < n; i++) {
			char pi[PATHLEN];

			path_index(pi, p, i);
			if ((ret = parse_expr(c, json_array_get(exprs, i), pi,
					      &out->exprs[i])) < 0)
				return ret;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* NetworkPolicy */

static int parse_cidr(struct ctx *c, const json_t *v, const char *path,
		      struct np_cidr *out)
{
	int ret;

	if ((ret = want_type(c, v, path, JSON_STRING, "a CIDR string")) < 0)
		return ret;
	if (np_cidr_parse(json_string_value(v), out) < 0)
		return fail(c, path,
			    "\"%s\" is not a valid CIDR (expected e.g. 10.0.0.0/16 or fd00::/64)",
			    json_string_value(v));
	return 0;
}


static int parse_ip_block(struct ctx *c, const json_t *v, const char *path,
			  struct np_peer *pe)
{
	static const char *const fields[] = { "cidr", "except", NULL };
	char p[PATHLEN];
	const json_t *cidr, *except;
	int ret;

	if ((ret = want_type(c, v, path, JSON_OBJECT, "a mapping")) < 0 ||
	    (ret = check_fields(c, v, path, fields)) < 0)
		return ret;
	cidr = get(v, "cidr");
	path_field(p, path, "cidr");
	if (!cidr)
		return fail(c, p, "is required");
	if ((ret = parse_cidr(c, cidr, p, &pe->cidr)) < 0)
		return ret;
	pe->has_ip_block = true;
	except = get(v, "except");
	path_field(p, path, "except");
	if (except) {
		size_t n;

		if ((ret = want_type(c, except, p, JSON_ARRAY, "a list of CIDRs")) < 0)
			return ret;
		n = json_array_size(except);
		if (n) {
			pe->except = calloc(n, sizeof(*pe->except));
			if (!pe->except)
				return fail_oom(c);
		}
		for (size_t i = 0; i < n; i++) {
			struct np_cidr *x = &pe->except[i];
			char pi[PATHLEN], outer[80], inner[80];

			path_index(pi, p, i);
			if ((ret = parse_cidr(c, json_array_get(except, i), pi,
					      x)) < 0)
				return ret;
			pe->n_except++;
			np_cidr_str(&pe->cidr, outer, sizeof(outer));
			np_cidr_str(x, inner, sizeof(inner));
			if (x->v4 != pe->cidr.v4)
				return fail(c, pi,
					    "%s is not the same address family as cidr %s",
					    inner, outer);
			if (!(x->plen > pe->cidr.plen &&
			      np_cidr_contains(&pe->cidr, x)))
				return fail(c, pi,
					    "%s is not strictly inside cidr %s",
					    inner, outer);
		}
	}
	return 0;
}

static int parse_peer(struct ctx *c, const json_t *v, const char *path,
		      struct np_peer *pe)
{
	static const char *const fields[] = { "podSelector", "namespaceSelector",
					      "ipBlock", NULL };
	char p[PATHLEN];
	const json_t *pod, *ns, *ipb;
	int ret;

	if (json_is_null(v))
		return fail(c, path,
			    "must specify at least one of podSelector, namespaceSelector or ipBlock");
	if ((ret = want_type(c, v, path, JSON_OBJECT, "a mapping")) < 0 ||
	    (ret = check_fields(c, v, path, fields)) < 0)
		return ret;
	pod = get(v, "podSelector");
	ns = get(v, "namespaceSelector");
	ipb = get(v, "ipBlock");
	if (ipb && (pod || ns))
		return fail(c, path,
			    "ipBlock cannot be combined with podSelector or namespaceSelector in one peer (use separate peers)");
	if (!ipb && !pod && !ns)
		return fail(c, path,
			    "must specify at least one of podSelector, namespaceSelector or ipBlock");
	if (pod) {
		path_field(p, path, "podSelector");
		if ((ret = parse_selector(c, pod, p, &pe->pod_sel)) < 0)
			return ret;
		pe->has_pod_sel = true;
	}
	if (ns) {
		path_field(p, path, "namespaceSelector");
		if ((ret = parse_selector(c, ns, p, &pe->ns_sel)) < 0)
			return ret;
		pe->has_ns_sel = true;
	}
	if (ipb) {
		path_field(p, path, "ipBlock");
		if ((ret = parse_ip_block(c, ipb, p, pe)) < 0)
			return ret;
	}
	return 0;
}

static int parse_port(struct ctx *c, const json_t *v, const char *path,
		      struct np_port_spec *ps)
{
	static const char *const fields[] = { "protocol", "port", "endPort", NULL };
	char p[PATHLEN];
	const json_t *proto, *port, *end;
	long long n;
	int ret;

	ps->proto = NP_PROTO_TCP;
	if (!v || json_is_null(v))
		return 0; /* {}: every TCP port */
	if ((ret = want_type(c, v, path, JSON_OBJECT, "a mapping")) < 0 ||
	    (ret = check_fields(c, v, path, fields)) < 0)
		return ret;
	proto = get(v, "protocol");
	port = get(v, "port");
	end = get(v, "endPort");
	if (proto) {
		path_field(p, path, "protocol");
		if ((ret = want_type(c, proto, p, JSON_STRING, "a string")) < 0)
			return ret;
		ps->proto = np_proto_parse(json_string_value(proto));
		if (!ps->proto)
			return fail(c, p,
				    "\"%s\" is not a supported protocol: must be TCP, UDP or SCTP",
				    json_string_value(proto));
	}
	if (port) {
		path_field(p, path, "port");
		if (json_is_string(port)) {
			const char *name = json_string_value(port);
			const char *why = check_port_name(name);

			if (why)
				return fail(c, p, "\"%s\" is not a valid port name: %s",
					    name, why);
			if ((ret = dup_str(c, name, &ps->name)) < 0)
				return ret;
		} else if (int_value(port, &n)) {
			if (n < 1 || n > 65535)
				return fail(c, p, "%lld is out of range 1-65535", n);
			ps->port = (uint16_t)n;
		} else {
			return fail(c, p,
				    "must be a port number or a port name, got %s",
				    type_name(port));
		}
		ps->has_port = true;
		ps->end_port = ps->port;
	}
	if (end) {
		path_field(p, path, "endPort");
		if (!int_value(end, &n))
			return fail(c, p, "must be an integer, got %s",
				    type_name(end));
		if (!port)
			return fail(c, p, "may not be specified without port");
		if (ps->name)
			return fail(c, p,
				    "may not be specified when port is a name (\"%s\")",
				    ps->name);
		if (n < 1 || n > 65535)
			return fail(c, p, "%lld is out of range 1-65535", n);
		if (n < ps->port)
			return fail(c, p, "%lld is less than port %u", n,
				    (unsigned int)ps->port);
		ps->end_port = (uint16_t)n;
	}
	return 0;
}

static int parse_rules(struct ctx *c, const json_t *v, const char *path,
		       const char *peer_key, struct np_rule **rules_out,
		       size_t *n_out)
{
	const char *fields[] = { peer_key, "ports", NULL };
	struct np_rule *rules;
	size_t n;
	int ret;

	if (!v)
		return 0;
	if ((ret = want_type(c, v, path, JSON_ARRAY, "a list of rules")) < 0)
		return ret;
	n = json_array_size(v);
	if (n == 0)
		return 0;
	rules = calloc(n, sizeof(*rules));
	if (!rules)
		return fail_oom(c);
	*rules_out = rules;
	*n_out = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(v, i);
		const json_t *peers, *ports;
		struct np_rule *rule = &rules[i];
		char pr[PATHLEN], p[PATHLEN];

		path_index(pr, path, i);
		if (json_is_null(r))
			continue; /* like {}: every peer, every port */
		if ((ret = want_type(c, r, pr, JSON_OBJECT, "a mapping")) < 0 ||
		    (ret = check_fields(c, r, pr, fields)) < 0)
			return ret;
		peers = get(r, peer_key);
		ports = get(r, "ports");
		path_field(p, pr, peer_key);
		if (peers) {
			size_t np;

			if ((ret = want_type(c, peers, p, JSON_ARRAY, "a list of peers")) < 0)
				return ret;
			np = json_array_size(peers);
			if (np) {
				rule->peers = calloc(np, sizeof(*rule->peers));
				if (!rule->peers)
					return fail_oom(c);
				rule->n_peers = np;
			}
			for (size_t j = 0; j < np; j++) {
				char pj[PATHLEN];

				path_index(pj, p, j);
				if ((ret = parse_peer(c, json_array_get(peers, j),
						      pj, &rule->peers[j])) < 0)
					return ret;
			}
		}
		path_field(p, pr, "ports");
		if (ports) {
			size_t np;

			if ((ret = want_type(c, ports, p, JSON_ARRAY, "a list of ports")) < 0)
				return ret;
			np = json_array_size(ports);
			if (np) {
				rule->ports = calloc(np, sizeof(*rule->ports));
				if (!rule->ports)
					return fail_oom(c);
				rule->n_ports = np;
			}
			for (size_t j = 0; j < np; j++) {
				char pj[PATHLEN];

				path_index(pj, p, j);
				if ((ret = parse_port(c, json_array_get(ports, j),
						      pj, &rule->ports[j])) < 0)
					return ret;
			}
		}
	}
	return 0;
}

static int parse_policy(struct ctx *c, const json_t *doc, struct np_policy *pol)
{
	static const char *const top_fields[] = { "apiVersion", "kind", "metadata",
						  "spec", "status", NULL };
	static const char *const spec_fields[] = { "podSelector", "policyTypes",
						   "ingress", "egress", NULL };
	const json_t *meta = get(doc, "metadata");
	const json_t *ann, *audit, *spec, *sel, *types, *egress;
	int ret;

	if ((ret = check_fields(c, doc, "", top_fields)) < 0)
		return ret;
	ann = get(meta, "annotations");
	if (ann) {
		if ((ret = want_type(c, ann, "metadata.annotations", JSON_OBJECT,
				     "a mapping")) < 0)
			return ret;
		audit = get(ann, NP_AUDIT_ANNOTATION);
		if (audit) {
			if (!json_is_string(audit))
				return fail(c, "metadata.annotations[" NP_AUDIT_ANNOTATION "]",
					    "must be a string (\"true\" or \"false\"), got %s",
					    type_name(audit));
			pol->audit = strcasecmp(json_string_value(audit), "true") == 0;
		}
	}
	spec = get(doc, "spec");
	if (!spec)
		return fail(c, "spec", "is required");
	if ((ret = want_type(c, spec, "spec", JSON_OBJECT, "a mapping")) < 0 ||
	    (ret = check_fields(c, spec, "spec", spec_fields)) < 0)
		return ret;
	sel = get(spec, "podSelector");
	if (!sel)
		return fail(c, "spec.podSelector",
			    "is required (use {} to select every pod in the namespace)");
	if ((ret = parse_selector(c, sel, "spec.podSelector", &pol->pod_sel)) < 0)
		return ret;
	if ((ret = parse_rules(c, get(spec, "ingress"), "spec.ingress", "from",
			       &pol->rules[NP_DIR_INGRESS],
			       &pol->n_rules[NP_DIR_INGRESS])) < 0)
		return ret;
	if ((ret = parse_rules(c, get(spec, "egress"), "spec.egress", "to",
			       &pol->rules[NP_DIR_EGRESS],
			       &pol->n_rules[NP_DIR_EGRESS])) < 0)
		return ret;
	types = get(spec, "policyTypes");
	if (types) {
		size_t n;

		if ((ret = want_type(c, types, "spec.policyTypes", JSON_ARRAY,
				     "a list")) < 0)
			return ret;
		n = json_array_size(types);
		if (n > 2)
			return fail(c, "spec.policyTypes",
				    "may not have more than 2 entries");
		for (size_t i = 0; i < n; i++) {
			const json_t *t = json_array_get(types, i);
			char p[PATHLEN];

			path_index(p, "spec.policyTypes", i);
			if ((ret = want_type(c, t, p, JSON_STRING, "a string")) < 0)
				return ret;
			if (strcmp(json_string_value(t), "Ingress") == 0)
				pol->types[NP_DIR_INGRESS] = true;
			else if (strcmp(json_string_value(t), "Egress") == 0)
				pol->types[NP_DIR_EGRESS] = true;
			else
				return fail(c, p,
					    "\"%s\" is not a policy type: must be Ingress or Egress",
					    json_string_value(t));
		}
		if (n > 0)
			return 0;
	}
	/* API-server defaulting of an absent or empty policyTypes. */
	egress = get(spec, "egress");
	pol->types[NP_DIR_INGRESS] = true;
	pol->types[NP_DIR_EGRESS] = json_is_array(egress) &&
				    json_array_size(egress) > 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pod */

static int parse_pod_ip(struct ctx *c, const json_t *v, const char *path,
			struct np_pod *pod)
{
	struct np_addr a;
	char have[64];
	int ret;

	if ((ret = want_type(c, v, path, JSON_STRING, "an IP address string")) < 0)
		return ret;
	ret = np_addr_parse(json_string_value(v), &a);
	if (ret == -EAFNOSUPPORT)
		return fail(c, path,
			    "\"%s\" is an IPv4-mapped IPv6 address; a pod IP is either IPv4 (write it as a.b.c.d) or a real IPv6 address",
			    json_string_value(v));
	if (ret < 0)
		return fail(c, path, "\"%s\" is not a valid IP address",
			    json_string_value(v));
	for (size_t i = 0; i < pod->n_ips; i++) {
		if (memcmp(&pod->ips[i], &a, sizeof(a)) == 0)
			return 0;
		if (np_addr_is_v4(&pod->ips[i]) == np_addr_is_v4(&a))
			return fail(c, path,
				    "%s is a second %s address (pod already has %s); at most one per family",
				    json_string_value(v),
				    np_addr_is_v4(&a) ? "IPv4" : "IPv6",
				    np_addr_str(&pod->ips[i], have, sizeof(have)));
	}
	pod->ips[pod->n_ips++] = a; /* n_ips < 2 here: one per family */
	return 0;
}

static int parse_pod(struct ctx *c, const json_t *doc, struct np_pod *pod)
{
	const json_t *spec = get(doc, "spec"), *status = get(doc, "status");
	const json_t *v, *containers, *ips;
	int ret;

	if ((ret = parse_labels(c, get(get(doc, "metadata"), "labels"),
				"metadata.labels", &pod->labels, 0)) < 0)
		return ret;
	if (spec) {
		if ((ret = want_type(c, spec, "spec", JSON_OBJECT, "a mapping")) < 0)
			return ret;
		v = get(spec, "hostNetwork");
		if (v) {
			if (!json_is_boolean(v))
				return fail(c, "spec.hostNetwork",
					    "must be a boolean, got %s", type_name(v));
			pod->host_network = json_is_true(v);
		}
		v = get(spec, "nodeName");
		if (v) {
			if ((ret = want_type(c, v, "spec.nodeName", JSON_STRING,
					     "a string")) < 0)
				return ret;
			if (json_string_length(v) > 0 &&
			    (ret = dup_str(c, json_string_value(v), &pod->node_name)) < 0)
				return ret;
		}
		containers = get(spec, "containers");
		if (containers &&
		    (ret = want_type(c, containers, "spec.containers", JSON_ARRAY,
				     "a list")) < 0)
			return ret;
		for (size_t i = 0; containers && i < json_array_size(containers); i++) {
			const json_t *ctr = json_array_get(containers, i);
			const json_t *ports;
			char pc[PATHLEN], pp[PATHLEN];
			struct np_container_port *grown;
			size_t np;

			path_index(pc, "spec.containers", i);
			if ((ret = want_type(c, ctr, pc, JSON_OBJECT, "a mapping")) < 0)
				return ret;
			ports = get(ctr, "ports");
			if (!ports)
				continue;
			path_field(pp, pc, "ports");
			if ((ret = want_type(c, ports, pp, JSON_ARRAY, "a list")) < 0)
				return ret;
			np = json_array_size(ports);
			if (!np)
				continue;
			grown = realloc(pod->ports,
					(pod->n_ports + np) * sizeof(*pod->ports));
			if (!grown)
				return fail_oom(c);
			pod->ports = grown;
			for (size_t j = 0; j < np; j++) {
				const json_t *port = json_array_get(ports, j);
				const json_t *num, *name, *proto;
				struct np_container_port *cp = &pod->ports[pod->n_ports];
				char pj[PATHLEN], p[PATHLEN];
				long long n;

				memset(cp, 0, sizeof(*cp));
				pod->n_ports++;
				cp->proto = NP_PROTO_TCP;
				path_index(pj, pp, j);
				if ((ret = want_type(c, port, pj, JSON_OBJECT, "a mapping")) < 0)
					return ret;
				num = get(port, "containerPort");
				name = get(port, "name");
				proto = get(port, "protocol");
				path_field(p, pj, "containerPort");
				if (!num)
					return fail(c, p, "is required");
				if (!int_value(num, &n))
					return fail(c, p, "must be an integer, got %s",
						    type_name(num));
				if (n < 1 || n > 65535)
					return fail(c, p, "%lld is out of range 1-65535", n);
				cp->port = (uint16_t)n;
				if (proto) {
					path_field(p, pj, "protocol");
					if ((ret = want_type(c, proto, p, JSON_STRING,
							     "a string")) < 0)
						return ret;
					cp->proto = np_proto_parse(json_string_value(proto));
					if (!cp->proto)
						return fail(c, p,
							    "\"%s\" is not a supported protocol: must be TCP, UDP or SCTP",
							    json_string_value(proto));
				}
				if (name) {
					const char *why;

					path_field(p, pj, "name");
					if ((ret = want_type(c, name, p, JSON_STRING,
							     "a string")) < 0)
						return ret;
					why = check_port_name(json_string_value(name));
					if (why)
						return fail(c, p,
							    "\"%s\" is not a valid port name: %s",
							    json_string_value(name), why);
					if ((ret = dup_str(c, json_string_value(name),
							   &cp->name)) < 0)
						return ret;
				}
			}
		}
	}
	if (status) {
		if ((ret = want_type(c, status, "status", JSON_OBJECT, "a mapping")) < 0)
			return ret;
		ips = get(status, "podIPs");
		if (ips) {
			if ((ret = want_type(c, ips, "status.podIPs", JSON_ARRAY,
					     "a list")) < 0)
				return ret;
			for (size_t i = 0; i < json_array_size(ips); i++) {
				const json_t *e = json_array_get(ips, i);
				const json_t *ip;
				char pi[PATHLEN], p[PATHLEN];

				path_index(pi, "status.podIPs", i);
				if ((ret = want_type(c, e, pi, JSON_OBJECT, "a mapping")) < 0)
					return ret;
				ip = get(e, "ip");
				path_field(p, pi, "ip");
				if (!ip)
					return fail(c, p, "is required");
				if ((ret = parse_pod_ip(c, ip, p, pod)) < 0)
					return ret;
			}
		}
		v = get(status, "podIP");
		if (v && !(json_is_string(v) && json_string_length(v) == 0) &&
		    (ret = parse_pod_ip(c, v, "status.podIP", pod)) < 0)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* documents */

static int parse_namespace(struct ctx *c, const json_t *doc,
			   struct np_namespace *ns)
{
	struct np_labels *l = &ns->labels;
	int ret;

	/* one spare slot for kubernetes.io/metadata.name */
	if ((ret = parse_labels(c, get(get(doc, "metadata"), "labels"),
				"metadata.labels", l, 1)) < 0)
		return ret;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].key, NS_NAME_LABEL) == 0) {
			free(l->items[i].value);
			return dup_str(c, ns->name, &l->items[i].value);
		}
	}
	l->n++;
	if ((ret = dup_str(c, NS_NAME_LABEL, &l->items[l->n - 1].key)) < 0)
		return ret;
	return dup_str(c, ns->name, &l->items[l->n - 1].value);
}

/* metadata.name and metadata.namespace; names the object in C->obj. */
static int parse_meta(struct ctx *c, const json_t *doc, enum kind kind,
		      char **name_out, char **ns_out)
{
	const json_t *meta = get(doc, "metadata"), *name, *ns;
	const char *why, *nss = "default";
	int ret;

	if (!meta)
		return fail(c, "metadata", "is required for a %s", kind_names[kind]);
	if ((ret = want_type(c, meta, "metadata", JSON_OBJECT, "a mapping")) < 0)
		return ret;
	name = get(meta, "name");
	if (!name)
		return fail(c, "metadata.name", "is required for a %s",
			    kind_names[kind]);
	if ((ret = want_type(c, name, "metadata.name", JSON_STRING, "a string")) < 0)
		return ret;
	why = kind == KIND_NAMESPACE ? check_dns_label(json_string_value(name))
				     : check_dns_subdomain(json_string_value(name));
	if (why)
		return fail(c, "metadata.name", "invalid %s name \"%s\": %s",
			    kind_names[kind], json_string_value(name), why);
	ns = get(meta, "namespace");
	if (kind != KIND_NAMESPACE && ns) {
		if ((ret = want_type(c, ns, "metadata.namespace", JSON_STRING,
				     "a string")) < 0)
			return ret;
		if (json_string_length(ns) > 0)
			nss = json_string_value(ns);
		why = check_dns_label(nss);
		if (why)
			return fail(c, "metadata.namespace",
				    "invalid namespace \"%s\": %s", nss, why);
	}
	if (kind == KIND_NAMESPACE)
		snprintf(c->obj, sizeof(c->obj), "%s %s", kind_names[kind],
			 json_string_value(name));
	else
		snprintf(c->obj, sizeof(c->obj), "%s %s/%s", kind_names[kind],
			 nss, json_string_value(name));
	if ((ret = dup_str(c, json_string_value(name), name_out)) < 0)
		return ret;
	if (ns_out && (ret = dup_str(c, nss, ns_out)) < 0)
		return ret;
	return 0;
}

/* Make room for one more element at the end of ARR (N used, CAP allocated)
 * and point OUT at it, zeroed; OUT is NULL when out of memory. */
#define GROW(out, arr, n, cap)                                                 \
	do {                                                                   \
		(out) = NULL;                                                  \
		if ((n) == (cap)) {                                            \
			size_t ncap_ = (cap) ? (cap) * 2 : 16;                 \
			void *na_ = realloc((arr), ncap_ * sizeof(*(arr)));   \
			if (!na_)                                              \
				break;                                         \
			(arr) = na_;                                           \
			(cap) = ncap_;                                         \
		}                                                              \
		(out) = &(arr)[(n)++];                                         \
		memset((out), 0, sizeof(*(out)));                              \
	} while (0)

/* Load one object (or list of objects).  Items of a typed list read from
 * the API server (PodList...) carry no kind and apiVersion: they take
 * DEF_KIND and DEF_API from the list. */
static int load_doc(struct loader *ld, struct ctx *c, const json_t *doc,
		    const char *desc, int depth, const char *def_kind,
		    const char *def_api)
{
	const json_t *kind, *api, *items;
	const char *k, *want_api, *a;
	enum kind kd;
	int ret;

	snprintf(c->obj, sizeof(c->obj), "%s", desc);
	if (json_is_null(doc))
		return 0; /* empty document */
	if (!json_is_object(doc))
		return fail(c, "",
			    "expected a Kubernetes object (a mapping with apiVersion and kind), got %s",
			    type_name(doc));
	kind = get(doc, "kind");
	if (kind) {
		if ((ret = want_type(c, kind, "kind", JSON_STRING, "a string")) < 0)
			return ret;
		k = json_string_value(kind);
	} else if (def_kind) {
		k = def_kind;
	} else {
		return fail(c, "kind", "is required");
	}
	api = get(doc, "apiVersion");
	if (api) {
		if ((ret = want_type(c, api, "apiVersion", JSON_STRING, "a string")) < 0)
			return ret;
		a = json_string_value(api);
	} else {
		a = def_kind && strcmp(k, def_kind) == 0 ? def_api : NULL;
	}
	if (strcmp(k, "Namespace") == 0) {
		kd = KIND_NAMESPACE;
		want_api = "v1";
	} else if (strcmp(k, "Pod") == 0) {
		kd = KIND_POD;
		want_api = "v1";
	} else if (strcmp(k, "NetworkPolicy") == 0) {
		kd = KIND_POLICY;
		want_api = "networking.k8s.io/v1";
	} else if (strlen(k) >= 4 && strcmp(k + strlen(k) - 4, "List") == 0) {
		items = get(doc, "items");
		if (!items)
			return 0;
		if ((ret = want_type(c, items, "items", JSON_ARRAY, "a list")) < 0)
			return ret;
		if (depth >= 4)
			return fail(c, "items", "lists nested too deeply");
		for (size_t i = 0; i < json_array_size(items); i++) {
			char d[700], item_kind[64] = "";
			size_t kl = strlen(k) - 4;

			/* "PodList" -> "Pod"; "List" -> none */
			if (kl > 0 && kl < sizeof(item_kind)) {
				memcpy(item_kind, k, kl);
				item_kind[kl] = '\0';
			}
			snprintf(d, sizeof(d), "%.500s items[%zu]", desc, i);
			if ((ret = load_doc(ld, c, json_array_get(items, i), d,
					    depth + 1, *item_kind ? item_kind : NULL,
					    a)) < 0)
				return ret;
		}
		return 0;
	} else {
		return 0; /* other kinds are not our business */
	}
	if (!a)
		return fail(c, "apiVersion", "is required (%s for a %s)", want_api, k);
	if (strcmp(a, want_api) != 0)
		return fail(c, "apiVersion",
			    "\"%s\" is not supported for a %s: expected %s", a, k,
			    want_api);

	switch (kd) {
	case KIND_NAMESPACE: {
		struct np_namespace *ns;

		GROW(ns, ld->objs.namespaces, ld->objs.n_namespaces, ld->cap_ns);

		if (!ns)
			return fail_oom(c);
		if ((ret = parse_meta(c, doc, kd, &ns->name, NULL)) < 0 ||
		    (ret = dup_str(c, c->file, &ns->source)) < 0)
			return ret;
		return parse_namespace(c, doc, ns);
	}
	case KIND_POD: {
		struct np_pod *pod;

		GROW(pod, ld->objs.pods, ld->objs.n_pods, ld->cap_pods);

		if (!pod)
			return fail_oom(c);
		if ((ret = parse_meta(c, doc, kd, &pod->name, &pod->ns)) < 0 ||
		    (ret = dup_str(c, c->file, &pod->source)) < 0)
			return ret;
		return parse_pod(c, doc, pod);
	}
	case KIND_POLICY: {
		struct np_policy *pol;

		GROW(pol, ld->objs.policies, ld->objs.n_policies, ld->cap_pols);

		if (!pol)
			return fail_oom(c);
		if ((ret = parse_meta(c, doc, kd, &pol->name, &pol->ns)) < 0 ||
		    (ret = dup_str(c, c->file, &pol->source)) < 0)
			return ret;
		return parse_policy(c, doc, pol);
	}
	}
	return 0;
}

struct doc_ctx {
	struct loader *ld;
	struct ctx *c;
};

static int load_one_doc(void *p, json_t *doc, size_t index)
{
	struct doc_ctx *d = p;
	char desc[32];

	snprintf(desc, sizeof(desc), "document %zu", index + 1);
	return load_doc(d->ld, d->c, doc, desc, 0, NULL, NULL);
}

static int load_buffer(struct loader *ld, const char *name, const char *buf,
		       size_t len, struct np_error *err)
{
	struct ctx c = { .file = name, .err = err };
	struct doc_ctx d = { ld, &c };
	char yerr[512];
	int ret;

	/* Document by document: a large multi-document manifest never has
	 * more than one document's tree in memory next to the model. */
	ret = np_yaml_parse_each(buf, len, load_one_doc, &d, yerr, sizeof(yerr));
	if (ret == NP_YAML_CB_FAILED)
		return -EINVAL; /* err written by load_doc */
	if (ret == -EINVAL) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", name, yerr);
		return -EINVAL;
	}
	if (ret == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory while reading it", name);
	return ret;
}

/* ------------------------------------------------------------------ */
/* duplicates and committing */

struct ident {
	enum kind kind;
	const char *ns; /* "" for namespaces */
	const char *name;
	const char *source;
	size_t order;
};

static int ident_cmp(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	int r;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if ((r = strcmp(x->ns, y->ns)) != 0)
		return r;
	if ((r = strcmp(x->name, y->name)) != 0)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

static size_t add_idents(struct ident *ids, size_t n, const struct np_objects *o)
{
	for (size_t i = 0; i < o->n_namespaces; i++, n++)
		ids[n] = (struct ident){ KIND_NAMESPACE, "", o->namespaces[i].name,
					 o->namespaces[i].source, n };
	for (size_t i = 0; i < o->n_pods; i++, n++)
		ids[n] = (struct ident){ KIND_POD, o->pods[i].ns, o->pods[i].name,
					 o->pods[i].source, n };
	for (size_t i = 0; i < o->n_policies; i++, n++)
		ids[n] = (struct ident){ KIND_POLICY, o->policies[i].ns,
					 o->policies[i].name,
					 o->policies[i].source, n };
	return n;
}

/* Objects already in OLD count too: loading twice is a duplicate. */
static int check_duplicates(const struct np_objects *old,
			    const struct np_objects *new, struct np_error *err)
{
	size_t total = old->n_namespaces + old->n_pods + old->n_policies +
		       new->n_namespaces + new->n_pods + new->n_policies;
	struct ident *ids;
	int ret = 0;
	size_t n;

	if (total < 2)
		return 0;
	ids = calloc(total, sizeof(*ids));
	if (!ids) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	n = add_idents(ids, 0, old);
	n = add_idents(ids, n, new);
	qsort(ids, n, sizeof(*ids), ident_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct ident *a = &ids[i - 1], *b = &ids[i];
		int w;

		if (a->kind != b->kind || strcmp(a->ns, b->ns) != 0 ||
		    strcmp(a->name, b->name) != 0)
			continue;
		w = snprintf(err->msg, sizeof(err->msg),
			     "%s: %s %s%s%s: defined more than once (also in %s)",
			     b->source ? b->source : "?", kind_names[b->kind],
			     a->ns, *a->ns ? "/" : "", a->name,
			     a->source ? a->source : "?");
		(void)w;
		ret = -EINVAL;
		break;
	}
	free(ids);
	return ret;
}

/* Move everything from SRC to the end of DST.  Only fails (-ENOMEM) before
 * changing anything visible in DST. */
static int append_objects(struct np_objects *dst, struct np_objects *src,
			  struct np_error *err)
{
	void *p;

#define RESERVE(arr, n)                                                        \
	do {                                                                   \
		if (src->n) {                                                  \
			p = realloc(dst->arr,                                  \
				    (dst->n + src->n) * sizeof(*dst->arr));    \
			if (!p)                                                \
				goto oom;                                      \
			dst->arr = p;                                          \
		}                                                              \
	} while (0)
	RESERVE(namespaces, n_namespaces);
	RESERVE(pods, n_pods);
	RESERVE(policies, n_policies);
#undef RESERVE
	if (src->n_namespaces)
		memcpy(dst->namespaces + dst->n_namespaces, src->namespaces,
		       src->n_namespaces * sizeof(*src->namespaces));
	if (src->n_pods)
		memcpy(dst->pods + dst->n_pods, src->pods,
		       src->n_pods * sizeof(*src->pods));
	if (src->n_policies)
		memcpy(dst->policies + dst->n_policies, src->policies,
		       src->n_policies * sizeof(*src->policies));
	dst->n_namespaces += src->n_namespaces;
	dst->n_pods += src->n_pods;
	dst->n_policies += src->n_policies;
	free(src->namespaces);
	free(src->pods);
	free(src->policies);
	memset(src, 0, sizeof(*src));
	return 0;
oom:
	snprintf(err->msg, sizeof(err->msg), "out of memory");
	return -ENOMEM;
}

static int finish(struct np_objects *objs, struct loader *ld, int ret,
		  struct np_error *err)
{
	if (ret == 0)
		ret = check_duplicates(objs, &ld->objs, err);
	if (ret == 0)
		ret = append_objects(objs, &ld->objs, err);
	np_objects_free(&ld->objs);
	return ret;
}

int np_objects_load_buffer(struct np_objects *objs, const char *name,
			   const char *buf, size_t len, struct np_error *err)
{
	struct np_error scratch;
	struct loader ld = { 0 };
	int ret;

	if (!err)
		err = &scratch;
	err->msg[0] = '\0';
	if (!objs || (!buf && len)) {
		snprintf(err->msg, sizeof(err->msg), "invalid arguments");
		return -EINVAL;
	}
	if (!name)
		name = "<input>";
	ret = load_buffer(&ld, name, buf ? buf : "", len, err);
	return finish(objs, &ld, ret, err);
}

int np_objects_load_json(struct np_objects *objs, const char *name,
			 const struct json_t *doc, const char *def_kind,
			 const char *def_api, struct np_error *err)
{
	struct np_error scratch;
	struct loader ld = { 0 };
	struct ctx c = { .err = err ? err : &scratch };
	int ret;

	c.err->msg[0] = '\0';
	c.file = name ? name : "<api>";
	if (!objs || !doc) {
		snprintf(c.err->msg, sizeof(c.err->msg), "invalid arguments");
		return -EINVAL;
	}
	ret = load_doc(&ld, &c, doc, "object", 0, def_kind, def_api);
	return finish(objs, &ld, ret, c.err);
}

/* Read PATH whole; *BUF is malloc'd (NUL-terminated). */
static int read_file(const char *path, char **buf, size_t *len,
		     struct np_error *err)
{
	FILE *f = NULL;
	char *data = NULL;
	size_t cap = 0, n = 0;
	int ret = 0;

	f = fopen(path, "rb");
	if (!f) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: cannot open: %s", path,
			 strerror(-ret));
		goto cleanup;
	}
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			char *nd;

			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_FILE_SIZE + 1) {
				ret = -EFBIG;
				snprintf(err->msg, sizeof(err->msg),
					 "%s: larger than %u MiB, the most one objects file may be (reading costs about 3x its size in memory); split it into several files",
					 path, MAX_FILE_SIZE >> 20);
				goto cleanup;
			}
			nd = realloc(data, cap);
			if (!nd) {
				ret = -ENOMEM;
				snprintf(err->msg, sizeof(err->msg),
					 "%s: out of memory", path);
				goto cleanup;
			}
			data = nd;
		}
		got = fread(data + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				ret = -EIO;
				snprintf(err->msg, sizeof(err->msg),
					 "%s: read error", path);
				goto cleanup;
			}
			break;
		}
	}
	data[n] = '\0';
	*buf = data;
	*len = n;
	data = NULL;
cleanup:
	free(data);
	if (f)
		fclose(f);
	return ret;
}

static int load_file(struct loader *ld, const char *path, struct np_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = read_file(path, &buf, &len, err);
	if (ret == 0)
		ret = load_buffer(ld, path, buf, len, err);
	free(buf);
	return ret;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int load_dir(struct loader *ld, const char *dir, struct np_error *err)
{
	DIR *d = NULL;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	bool slash = *dir && dir[strlen(dir) - 1] == '/';
	int ret = 0;

	d = opendir(dir);
	if (!d) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: cannot open directory: %s",
			 dir, strerror(-ret));
		goto cleanup;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		char *full;

		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, ".yaml") ||
		      has_suffix(de->d_name, ".yml") ||
		      has_suffix(de->d_name, ".json")))
			continue;
		if (asprintf(&full, "%s%s%s", dir, slash ? "" : "/",
			     de->d_name) < 0) {
			ret = -ENOMEM;
			snprintf(err->msg, sizeof(err->msg), "%s: out of memory", dir);
			goto cleanup;
		}
		if (stat(full, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(full); /* dangling link, directory: not a manifest */
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nn = realloc(names, ncap * sizeof(*names));

			if (!nn) {
				free(full);
				ret = -ENOMEM;
				snprintf(err->msg, sizeof(err->msg), "%s: out of memory",
					 dir);
				goto cleanup;
			}
			names = nn;
			cap = ncap;
		}
		names[n++] = full;
	}
	if (errno) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: cannot read directory: %s",
			 dir, strerror(-ret));
		goto cleanup;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = load_file(ld, names[i], err);
cleanup:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (d)
		closedir(d);
	return ret;
}

int np_objects_load_path(struct np_objects *objs, const char *path,
			 struct np_error *err)
{
	struct np_error scratch;
	struct loader ld = { 0 };
	struct stat st;
	int ret;

	if (!err)
		err = &scratch;
	err->msg[0] = '\0';
	if (!objs || !path) {
		snprintf(err->msg, sizeof(err->msg), "invalid arguments");
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (S_ISDIR(st.st_mode))
		ret = load_dir(&ld, path, err);
	else
		ret = load_file(&ld, path, err);
	return finish(objs, &ld, ret, err);
}

/* ------------------------------------------------------------------ */
/* lookups */

const struct np_namespace *np_objects_namespace(const struct np_objects *objs,
						const char *name)
{
	if (!objs || !name)
		return NULL;
	for (size_t i = 0; i < objs->n_namespaces; i++)
		if (strcmp(objs->namespaces[i].name, name) == 0)
			return &objs->namespaces[i];
	return NULL;
}

const struct np_pod *np_objects_pod(const struct np_objects *objs,
				    const char *ns, const char *name)
{
	if (!objs || !ns || !name)
		return NULL;
	for (size_t i = 0; i < objs->n_pods; i++)
		if (strcmp(objs->pods[i].ns, ns) == 0 &&
		    strcmp(objs->pods[i].name, name) == 0)
			return &objs->pods[i];
	return NULL;
}
