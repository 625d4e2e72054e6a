// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where the API server is and how to authenticate: in-cluster (service
 * account) or a kubeconfig file.  Only what the agent needs is read: the
 * current context's cluster (server, certificate-authority[-data]) and user
 * (token, tokenFile, client-certificate[-data], client-key[-data]).  Other
 * auth methods (exec plugins, auth providers, basic auth) are refused with a
 * message rather than silently ignored.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "yamljson.h"

#define MAX_CONFIG_SIZE (16u << 20)
#define MAX_TOKEN_SIZE (64u << 10)

static int failf(struct np_error *err, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int failf(struct np_error *err, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return ret;
}

void np_kubeconfig_free(struct np_kubeconfig *kc)
{
	free(kc->server);
	free(kc->ca_file);
	free(kc->ca_data);
	if (kc->token) {
		explicit_bzero(kc->token, strlen(kc->token));
		free(kc->token);
	}
	free(kc->token_file);
	free(kc->cert_file);
	free(kc->key_file);
	free(kc->cert_data);
	if (kc->key_data) {
		explicit_bzero(kc->key_data, kc->key_data_len);
		free(kc->key_data);
	}
	free(kc->source);
	memset(kc, 0, sizeof(*kc));
}

static int b64_val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int np_base64_decode(const char *in, char **out, size_t *out_len)
{
	size_t n = strlen(in), len = 0;
	unsigned acc = 0, bits = 0;
	bool pad = false;
	char *buf;

	buf = malloc(n / 4 * 3 + 4);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		int v;

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad = true;
			continue;
		}
		v = b64_val(ch);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[len++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (bits >= 6)
		goto bad; /* a lone sextet cannot end valid base64 */
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
bad:
	free(buf);
	return -EINVAL;
}

static int read_all(const char *path, size_t max, char **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, got;
	int ret = 0;

	if (!f)
		return -errno;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb) {
				ret = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (len > max) {
			ret = -EFBIG;
			goto cleanup;
		}
	} while (got > 0);
	if (ferror(f)) {
		ret = -EIO;
		goto cleanup;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
cleanup:
	free(buf);
	fclose(f);
	return ret;
}

int np_kubeconfig_read_token(const struct np_kubeconfig *kc, char **out,
			     struct np_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	if (!kc->token_file) {
		if (!kc->token)
			return failf(err, -ENOENT, "%s: no bearer token configured",
				     kc->source);
		buf = strdup(kc->token);
		if (!buf)
			return failf(err, -ENOMEM, "out of memory");
		*out = buf;
		return 0;
	}
	ret = read_all(kc->token_file, MAX_TOKEN_SIZE, &buf, &len);
	if (ret)
		return failf(err, ret,
			     "reading the bearer token from %s failed: %s; check the service account token mount (or the kubeconfig's tokenFile)",
			     kc->token_file, strerror(-ret));
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
		       buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (!len) {
		free(buf);
		return failf(err, -ENODATA, "the bearer token file %s is empty",
			     kc->token_file);
	}
	*out = buf;
	return 0;
}

int np_kubeconfig_in_cluster(struct np_kubeconfig *kc, const char *sa_dir,
			     struct np_error *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *tok = NULL;
	int ret = 0;

	memset(kc, 0, sizeof(*kc));
	if (!sa_dir)
		sa_dir = NP_KUBE_SA_DIR;
	if (!host || !*host || !port || !*port) {
		ret = failf(err, -ENOENT,
			    "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: not running in a pod; give --kubeconfig PATH outside a cluster");
		goto cleanup;
	}
	if (asprintf(&kc->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0 ||
	    asprintf(&kc->ca_file, "%s/ca.crt", sa_dir) < 0 ||
	    asprintf(&kc->token_file, "%s/token", sa_dir) < 0 ||
	    !(kc->source = strdup("in-cluster config"))) {
		kc->server = kc->ca_file = kc->token_file = NULL;
		ret = failf(err, -ENOMEM, "out of memory");
		goto cleanup;
	}
	/* Fail now, with a clear message, rather than on the first request. */
	ret = np_kubeconfig_read_token(kc, &tok, err);
cleanup:
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	if (ret)
		np_kubeconfig_free(kc);
	return ret;
}

static const json_t *named(const json_t *list, const char *name, const char *field)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e) {
		json_t *n = json_object_get(e, "name");

		if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
			return json_object_get(e, field);
	}
	return NULL;
}

static const char *str_field(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

/* A file path from the kubeconfig, relative to its directory. */
static int path_field(const json_t *obj, const char *key, const char *dir,
		      char **out)
{
	const char *s = str_field(obj, key);

	if (!s)
		return 0;
	if (s[0] == '/' || !dir)
		*out = strdup(s);
	else if (asprintf(out, "%s/%s", dir, s) < 0)
		*out = NULL;
	return *out ? 0 : -ENOMEM;
}

static int data_field(const json_t *obj, const char *key, char **out,
		      size_t *len, const char *name, const char *what,
		      struct np_error *err)
{
	const char *s = str_field(obj, key);
	int ret;

	if (!s)
		return 0;
	ret = np_base64_decode(s, out, len);
	if (ret == -EINVAL)
		return failf(err, ret, "%s: %s %s: not valid base64", name, what, key);
	if (ret)
		return failf(err, ret, "out of memory");
	return 0;
}

int np_kubeconfig_parse(struct np_kubeconfig *kc, const char *name,
			const char *buf, size_t len, const char *dir,
			struct np_error *err)
{
	static const char *const refused[] = { "exec", "auth-provider", "username",
					       "password", NULL };
	char yerr[512];
	json_t *docs = NULL;
	const json_t *doc, *ctx, *cluster, *user;
	const char *cur, *cname, *uname;
	int ret = 0;

	memset(kc, 0, sizeof(*kc));
	docs = np_yaml_parse(buf, len, yerr, sizeof(yerr));
	if (!docs) {
		ret = failf(err, -EINVAL, "%s: %s", name, yerr);
		goto cleanup;
	}
	doc = json_array_get(docs, 0);
	if (!json_is_object(doc)) {
		ret = failf(err, -EINVAL, "%s: not a kubeconfig (expected a mapping with clusters, users, contexts)", name);
		goto cleanup;
	}
	cur = str_field(doc, "current-context");
	if (!cur) {
		ret = failf(err, -EINVAL, "%s: current-context is not set; set it with kubectl config use-context", name);
		goto cleanup;
	}
	ctx = named(json_object_get(doc, "contexts"), cur, "context");
	if (!json_is_object(ctx)) {
		ret = failf(err, -EINVAL, "%s: context \"%s\" (the current-context) is not defined under contexts", name, cur);
		goto cleanup;
	}
	cname = str_field(ctx, "cluster");
	uname = str_field(ctx, "user");
	cluster = cname ? named(json_object_get(doc, "clusters"), cname, "cluster") : NULL;
	if (!json_is_object(cluster)) {
		ret = failf(err, -EINVAL, "%s: cluster \"%s\" of context \"%s\" is not defined under clusters",
			    name, cname ? cname : "", cur);
		goto cleanup;
	}
	user = uname ? named(json_object_get(doc, "users"), uname, "user") : NULL;
	if (uname && !json_is_object(user)) {
		ret = failf(err, -EINVAL, "%s: user \"%s\" of context \"%s\" is not defined under users",
			    name, uname, cur);
		goto cleanup;
	}
	if (!str_field(cluster, "server")) {
		ret = failf(err, -EINVAL, "%s: cluster \"%s\" has no server", name, cname);
		goto cleanup;
	}
	if (strncmp(str_field(cluster, "server"), "https://", 8) != 0) {
		ret = failf(err, -EINVAL, "%s: cluster \"%s\": server \"%s\" is not https:// (plain HTTP to the API server is not supported)",
			    name, cname, str_field(cluster, "server"));
		goto cleanup;
	}
	if (json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"))) {
		ret = failf(err, -EINVAL, "%s: cluster \"%s\" sets insecure-skip-tls-verify; netpol-agent always verifies the API server's certificate: give certificate-authority or certificate-authority-data instead",
			    name, cname);
		goto cleanup;
	}
	for (const char *const *r = refused; user && *r; r++) {
		if (json_object_get(user, *r)) {
			ret = failf(err, -ENOTSUP, "%s: user \"%s\" uses \"%s\", which netpol-agent does not support: use token, tokenFile or a client certificate",
				    name, uname, *r);
			goto cleanup;
		}
	}
	if (!(kc->server = strdup(str_field(cluster, "server"))) ||
	    !(kc->source = strdup(name))) {
		ret = failf(err, -ENOMEM, "out of memory");
		goto cleanup;
	}
	while (strlen(kc->server) > 8 && kc->server[strlen(kc->server) - 1] == '/')
		kc->server[strlen(kc->server) - 1] = '\0';
	if ((ret = path_field(cluster, "certificate-authority", dir, &kc->ca_file)) ||
	    (ret = path_field(user, "tokenFile", dir, &kc->token_file)) ||
	    (ret = path_field(user, "client-certificate", dir, &kc->cert_file)) ||
	    (ret = path_field(user, "client-key", dir, &kc->key_file))) {
		ret = failf(err, ret, "out of memory");
		goto cleanup;
	}
	if ((ret = data_field(cluster, "certificate-authority-data", &kc->ca_data,
			      &kc->ca_data_len, name, "cluster", err)) ||
	    (ret = data_field(user, "client-certificate-data", &kc->cert_data,
			      &kc->cert_data_len, name, "user", err)) ||
	    (ret = data_field(user, "client-key-data", &kc->key_data,
			      &kc->key_data_len, name, "user", err)))
		goto cleanup;
	if (str_field(user, "token") && !(kc->token = strdup(str_field(user, "token")))) {
		ret = failf(err, -ENOMEM, "out of memory");
		goto cleanup;
	}
	if (!!(kc->cert_file || kc->cert_data) != !!(kc->key_file || kc->key_data)) {
		ret = failf(err, -EINVAL, "%s: user \"%s\": a client certificate needs its key and a key its certificate",
			    name, uname);
		goto cleanup;
	}
	if (!kc->token && !kc->token_file && !kc->cert_file && !kc->cert_data) {
		ret = failf(err, -EINVAL, "%s: user \"%s\" has no credentials (token, tokenFile or client-certificate/client-key)",
			    name, uname ? uname : "");
		goto cleanup;
	}
cleanup:
	json_decref(docs);
	if (ret)
		np_kubeconfig_free(kc);
	return ret;
}

int np_kubeconfig_load(struct np_kubeconfig *kc, const char *path,
		       struct np_error *err)
{
	char *buf = NULL, *copy = NULL;
	size_t len = 0;
	int ret;

	memset(kc, 0, sizeof(*kc));
	ret = read_all(path, MAX_CONFIG_SIZE, &buf, &len);
	if (ret) {
		ret = failf(err, ret, "reading the kubeconfig %s failed: %s", path,
			    strerror(-ret));
		goto cleanup;
	}
	copy = strdup(path);
	if (!copy) {
		ret = failf(err, -ENOMEM, "out of memory");
		goto cleanup;
	}
	ret = np_kubeconfig_parse(kc, path, buf, len, dirname(copy), err);
cleanup:
	free(copy);
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return ret;
}
