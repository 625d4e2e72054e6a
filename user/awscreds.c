// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The AWS credential chain: see awscreds.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "awscreds.h"
#include "log.h"

#define NP_IMDS_DEFAULT "http://169.254.169.254"
/* Credentials with less life left than this are refused as they arrive
 * (already expired: taking them would re-fetch at once, in a tight loop);
 * they are retried with the failure backoff. */
#define NP_CREDS_MIN_LIFE_S 1
#define NP_TOKEN_FILE_MAX (64 * 1024)

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void np_awscreds_cfg_from_env(struct np_awscreds_cfg *cfg, const char *region)
{
	const char *dis = env("AWS_EC2_METADATA_DISABLED");

	memset(cfg, 0, sizeof(*cfg));
	cfg->access_key = env("AWS_ACCESS_KEY_ID");
	cfg->secret_key = env("AWS_SECRET_ACCESS_KEY");
	cfg->session_token = env("AWS_SESSION_TOKEN");
	cfg->role_arn = env("AWS_ROLE_ARN");
	cfg->web_identity_token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
	cfg->role_session_name = env("AWS_ROLE_SESSION_NAME");
	cfg->sts_endpoint = env("AWS_ENDPOINT_URL_STS");
	cfg->container_uri = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	cfg->container_token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	cfg->container_token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	cfg->imds_endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	cfg->imds_disabled = dis && !strcasecmp(dis, "true");
	cfg->region = region;
	cfg->ca_file = env("AWS_CA_BUNDLE");
}

/* The host of URL (after "scheme://", before ":port" or "/"), brackets of
 * an IPv6 literal removed, into BUF; -EINVAL when there is none. */
static int url_host(const char *url, char *buf, size_t len)
{
	const char *p = strstr(url, "://"), *end;
	size_t n;

	if (!p)
		return -EINVAL;
	p += 3;
	if (strchr(p, '@') && (!strchr(p, '/') || strchr(p, '@') < strchr(p, '/')))
		return -EINVAL; /* user info: never with credentials */
	if (*p == '[') {
		end = strchr(++p, ']');
		if (!end)
			return -EINVAL;
	} else {
		end = p + strcspn(p, ":/?#");
	}
	n = (size_t)(end - p);
	if (n == 0 || n >= len)
		return -EINVAL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int np_aws_url_check(const char *url, bool container, char *err, size_t err_len)
{
	static const char *const agents[] = { "169.254.170.2", "169.254.170.23", "fd00:ec2::23", NULL };
	struct in6_addr a6;
	struct in_addr a4;
	char host[256];

	if (!url || url_host(url, host, sizeof(host)) < 0) {
		snprintf(err, err_len, "\"%s\" is not a URL with a host", url ? url : "");
		return -EINVAL;
	}
	if (strncasecmp(url, "https://", 8) == 0)
		return 0;
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, err_len, "\"%s\": expected an https:// URL", url);
		return -EINVAL;
	}
	if (strcasecmp(host, "localhost") == 0 ||
	    (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
	    (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)))
		return 0;
	for (int i = 0; container && agents[i]; i++) {
		struct in6_addr x, y;

		if (inet_pton(AF_INET6, host, &x) == 1 && inet_pton(AF_INET6, agents[i], &y) == 1 &&
		    memcmp(&x, &y, sizeof(x)) == 0)
			return 0;
		if (strcmp(host, agents[i]) == 0)
			return 0;
	}
	snprintf(err, err_len,
		 "\"%s\": plain http would send credentials in clear; use https://%s (http:// is allowed only to loopback%s)",
		 url, url + 7, container ? " and the ECS/EKS Pod Identity agent addresses" : "");
	return -EINVAL;
}

enum np_aws_source np_awscreds_pick(const struct np_awscreds_cfg *cfg)
{
	if (cfg->access_key && cfg->secret_key)
		return NP_AWS_SRC_ENV;
	if (cfg->role_arn && cfg->web_identity_token_file)
		return NP_AWS_SRC_WEB_IDENTITY;
	if (cfg->container_uri)
		return NP_AWS_SRC_POD_IDENTITY;
	if (!cfg->imds_disabled)
		return NP_AWS_SRC_IMDS;
	return NP_AWS_SRC_NONE;
}

const char *np_aws_source_name(enum np_aws_source s)
{
	switch (s) {
	case NP_AWS_SRC_ENV: return "environment";
	case NP_AWS_SRC_WEB_IDENTITY: return "IRSA web identity (STS AssumeRoleWithWebIdentity)";
	case NP_AWS_SRC_POD_IDENTITY: return "EKS Pod Identity (container credentials)";
	case NP_AWS_SRC_IMDS: return "EC2 instance metadata (IMDSv2)";
	default: return "none";
	}
}

void np_aws_creds_clear(struct np_aws_creds *c)
{
	if (c->secret)
		explicit_bzero(c->secret, strlen(c->secret));
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->akid);
	free(c->secret);
	free(c->token);
	memset(c, 0, sizeof(*c));
}

int np_iso8601_parse(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (!s)
		return -EINVAL;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") && strcmp(p, "+00:00") && strcmp(p, ""))
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*out = (int64_t)t;
	return 0;
}

char *np_url_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = malloc(strlen(s) * 3 + 1), *q = o;

	if (!o)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			*q++ = (char)c;
		} else {
			*q++ = '%';
			*q++ = hex[c >> 4];
			*q++ = hex[c & 15];
		}
	}
	*q = 0;
	return o;
}

/* The text between <TAG> and </TAG> in XML (first match), malloc'ed. */
static char *xml_tag(const char *xml, const char *tag)
{
	char open[64], close[64];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = strstr(xml, open);
	if (!a)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (!b)
		return NULL;
	return strndup(a, (size_t)(b - a));
}

int np_awscreds_parse_sts(const char *xml, struct np_aws_creds *out)
{
	char *exp = NULL;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!xml)
		return -EINVAL;
	out->akid = xml_tag(xml, "AccessKeyId");
	out->secret = xml_tag(xml, "SecretAccessKey");
	out->token = xml_tag(xml, "SessionToken");
	exp = xml_tag(xml, "Expiration");
	if (!out->akid || !out->secret || !out->token || !*out->akid || !*out->secret)
		goto cleanup;
	if (exp && np_iso8601_parse(exp, &out->expires) < 0)
		goto cleanup;
	ret = 0;
cleanup:
	free(exp);
	if (ret < 0)
		np_aws_creds_clear(out);
	return ret;
}

static char *jstrdup(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? strdup(v) : NULL;
}

int np_awscreds_parse_json(const char *text, struct np_aws_creds *out)
{
	json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
	const char *exp;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc))
		goto cleanup;
	/* IMDS says "Code": "Success"; anything else is a failure. */
	if (json_object_get(doc, "Code") &&
	    strcmp(json_string_value(json_object_get(doc, "Code")) ?: "", "Success"))
		goto cleanup;
	out->akid = jstrdup(doc, "AccessKeyId");
	out->secret = jstrdup(doc, "SecretAccessKey");
	out->token = jstrdup(doc, "Token");
	exp = json_string_value(json_object_get(doc, "Expiration"));
	if (!out->akid || !out->secret || !*out->akid || !*out->secret)
		goto cleanup;
	if (exp && np_iso8601_parse(exp, &out->expires) < 0)
		goto cleanup;
	ret = 0;
cleanup:
	json_decref(doc);
	if (ret < 0)
		np_aws_creds_clear(out);
	return ret;
}

/* Read a token file whole, trailing newline removed; never logged. */
static int read_token(const char *path, char **out)
{
	char *buf = malloc(NP_TOKEN_FILE_MAX + 1);
	size_t len = 0;
	int fd = -1, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, NP_TOKEN_FILE_MAX - len);

		if (r < 0) {
			ret = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == NP_TOKEN_FILE_MAX) {
			ret = -EFBIG;
			goto cleanup;
		}
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = 0;
	if (!len) {
		ret = -ENODATA;
		goto cleanup;
	}
	*out = buf;
	buf = NULL;
cleanup:
	if (fd >= 0)
		close(fd);
	if (buf) {
		explicit_bzero(buf, NP_TOKEN_FILE_MAX);
		free(buf);
	}
	return ret;
}

static void fetch_done(struct np_http_req *req, CURLcode res, long status, void *ctx);
static void start_fetch(struct np_awscreds *c);

static void fail(struct np_awscreds *c, const char *what)
{
	uint64_t delay = 1000ull << (c->failures < 6 ? c->failures : 6);

	c->failures++;
	np_err("aws credentials: %s from %s failed: %s; retrying in %" PRIu64 " s", "fetch",
	       np_aws_source_name(c->source), what, delay / 1000);
	np_http_req_free(c->req);
	c->req = NULL;
	np_timer_arm(c->loop, &c->retry, delay);
	if (c->ready)
		c->ready(c->ready_ctx);
}

static void succeed(struct np_awscreds *c, struct np_aws_creds *nc)
{
	np_aws_creds_clear(&c->cur);
	c->cur = *nc;
	memset(nc, 0, sizeof(*nc));
	c->fetched_at = (int64_t)time(NULL);
	c->failures = 0;
	c->refreshes++;
	np_http_req_free(c->req);
	c->req = NULL;
	if (c->cur.expires)
		np_info("aws credentials: from %s, valid for %" PRId64 " s",
			np_aws_source_name(c->source), c->cur.expires - c->fetched_at);
	else
		np_info("aws credentials: from %s", np_aws_source_name(c->source));
	if (c->ready)
		c->ready(c->ready_ctx);
}

static int req_new(struct np_awscreds *c, const char *url)
{
	c->req = np_http_req_new(c->cfg.ca_file, c->cfg.timeout_ms ? c->cfg.timeout_ms : 5000);
	if (!c->req)
		return -ENOMEM;
	curl_easy_setopt(c->req->easy, CURLOPT_URL, url);
	c->req->resp_max = 1 << 20;
	return 0;
}

static int start_sts(struct np_awscreds *c)
{
	char *tok = NULL, *etok = NULL, *earn = NULL, *ename = NULL, *body = NULL, url[512], name[96];
	size_t cap;
	int ret;

	ret = read_token(c->cfg.web_identity_token_file, &tok);
	if (ret < 0) {
		np_err("aws credentials: cannot read AWS_WEB_IDENTITY_TOKEN_FILE %s: %s (is the "
		       "service account token projected into the pod?)",
		       c->cfg.web_identity_token_file, strerror(-ret));
		goto cleanup;
	}
	if (c->cfg.sts_endpoint)
		snprintf(url, sizeof(url), "%s", c->cfg.sts_endpoint);
	else if (c->cfg.region)
		snprintf(url, sizeof(url), "https://sts.%s.amazonaws.com/", c->cfg.region);
	else
		snprintf(url, sizeof(url), "https://sts.amazonaws.com/");
	if (c->cfg.role_session_name)
		snprintf(name, sizeof(name), "%s", c->cfg.role_session_name);
	else
		snprintf(name, sizeof(name), "netpol-agent-%lld", (long long)time(NULL));
	etok = np_url_encode(tok);
	earn = np_url_encode(c->cfg.role_arn);
	ename = np_url_encode(name);
	ret = -ENOMEM;
	if (!etok || !earn || !ename)
		goto cleanup;
	cap = strlen(etok) + strlen(earn) + strlen(ename) + 128;
	body = malloc(cap);
	if (!body)
		goto cleanup;
	snprintf(body, cap,
		 "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=%s"
		 "&RoleSessionName=%s&WebIdentityToken=%s", earn, ename, etok);
	ret = req_new(c, url);
	if (ret < 0)
		goto cleanup;
	if (np_http_req_header(c->req, "Content-Type: application/x-www-form-urlencoded") ||
	    np_http_req_header(c->req, "Accept: application/xml")) {
		ret = -ENOMEM;
		goto cleanup;
	}
	np_http_req_post(c->req, body, strlen(body));
	body = NULL;
cleanup:
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	if (etok) {
		explicit_bzero(etok, strlen(etok));
		free(etok);
	}
	free(earn);
	free(ename);
	free(body);
	return ret;
}

static int start_container(struct np_awscreds *c)
{
	char *tok = NULL, *hdr = NULL;
	int ret = 0;

	if (c->cfg.container_token_file) {
		ret = read_token(c->cfg.container_token_file, &tok);
		if (ret < 0) {
			np_err("aws credentials: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
			       "%s: %s", c->cfg.container_token_file, strerror(-ret));
			goto cleanup;
		}
	} else if (c->cfg.container_token) {
		tok = strdup(c->cfg.container_token);
		if (!tok) {
			ret = -ENOMEM;
			goto cleanup;
		}
	}
	ret = req_new(c, c->cfg.container_uri);
	if (ret < 0 || !tok)
		goto cleanup;
	if (asprintf(&hdr, "Authorization: %s", tok) < 0) {
		hdr = NULL;
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = np_http_req_header(c->req, hdr);
cleanup:
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	if (hdr) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	return ret;
}

static int start_imds(struct np_awscreds *c)
{
	const char *base = c->cfg.imds_endpoint ? c->cfg.imds_endpoint : NP_IMDS_DEFAULT;
	size_t bl = strlen(base);
	char url[1024], hdr[1024];
	int ret;

	while (bl && base[bl - 1] == '/')
		bl--;
	if (c->step == 0) {
		snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)bl, base);
		ret = req_new(c, url);
		if (ret < 0)
			return ret;
		np_http_req_post(c->req, NULL, 0);
		curl_easy_setopt(c->req->easy, CURLOPT_CUSTOMREQUEST, "PUT");
		return np_http_req_header(c->req, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
	}
	if (c->step == 1)
		snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/",
			 (int)bl, base);
	else
		snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/%s",
			 (int)bl, base, c->imds_role);
	ret = req_new(c, url);
	if (ret < 0)
		return ret;
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", c->imds_token);
	ret = np_http_req_header(c->req, hdr);
	explicit_bzero(hdr, sizeof(hdr));
	return ret;
}

static void start_fetch(struct np_awscreds *c)
{
	int ret = -EINVAL;

	if (c->req)
		return;
	np_timer_cancel(c->loop, &c->retry);
	switch (c->source) {
	case NP_AWS_SRC_WEB_IDENTITY:
		ret = start_sts(c);
		break;
	case NP_AWS_SRC_POD_IDENTITY:
		ret = start_container(c);
		break;
	case NP_AWS_SRC_IMDS:
		ret = start_imds(c);
		break;
	default:
		return;
	}
	if (!ret)
		ret = np_httpm_start(c->http, c->req, fetch_done, c);
	if (ret < 0)
		fail(c, strerror(-ret));
}

static void fetch_done(struct np_http_req *req, CURLcode res, long status, void *ctx)
{
	struct np_awscreds *c = ctx;
	struct np_aws_creds nc = { 0 };
	char why[512];

	if (res != CURLE_OK) {
		snprintf(why, sizeof(why), "%s", req->errbuf[0] ? req->errbuf : curl_easy_strerror(res));
		fail(c, why);
		return;
	}
	if (status != 200) {
		char *code = req->resp ? xml_tag(req->resp, "Code") : NULL;
		char *msg = req->resp ? xml_tag(req->resp, "Message") : NULL;

		snprintf(why, sizeof(why), "HTTP %ld%s%s%s%s", status, code ? " " : "", code ?: "",
			 msg ? ": " : "", msg ?: "");
		free(code);
		free(msg);
		fail(c, why);
		return;
	}
	if (c->source == NP_AWS_SRC_IMDS && c->step < 2) {
		char *v = strdup(req->resp ? req->resp : "");

		if (!v) {
			fail(c, "out of memory");
			return;
		}
		if (c->step == 1) {
			v[strcspn(v, "\r\n")] = 0;
			free(c->imds_role);
			c->imds_role = v;
		} else {
			if (c->imds_token) {
				explicit_bzero(c->imds_token, strlen(c->imds_token));
				free(c->imds_token);
			}
			c->imds_token = v;
		}
		if (!*v) {
			fail(c, c->step ? "no instance role attached" : "empty IMDSv2 token");
			c->step = 0;
			return;
		}
		c->step++;
		np_http_req_free(c->req);
		c->req = NULL;
		start_fetch(c);
		return;
	}
	c->step = 0;
	if ((c->source == NP_AWS_SRC_WEB_IDENTITY ? np_awscreds_parse_sts(req->resp, &nc)
						  : np_awscreds_parse_json(req->resp, &nc)) < 0) {
		fail(c, "the answer holds no AccessKeyId/SecretAccessKey/Token/Expiration");
		return;
	}
	if (nc.expires && nc.expires - (int64_t)time(NULL) < NP_CREDS_MIN_LIFE_S) {
		/* Taking them would ask for new ones at once, in a loop:
		 * retry with the failure backoff instead. */
		char what[160];

		snprintf(what, sizeof(what), "the credentials arrived expired or expiring in %" PRId64 " s (under %d s)",
			 nc.expires - (int64_t)time(NULL), NP_CREDS_MIN_LIFE_S);
		np_aws_creds_clear(&nc);
		fail(c, what);
		return;
	}
	succeed(c, &nc);
}

static void on_retry(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	start_fetch(ctx);
}

int np_awscreds_init(struct np_awscreds *c, const struct np_awscreds_cfg *cfg,
		     struct np_httpm *http, np_awscreds_ready_cb ready, void *ctx)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->http = http;
	c->loop = http->loop;
	c->ready = ready;
	c->ready_ctx = ctx;
	np_timer_init(&c->retry, on_retry, c);
	c->source = np_awscreds_pick(cfg);
	if (c->source == NP_AWS_SRC_NONE) {
		np_err("aws credentials: none configured (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
		       " IRSA AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, Pod Identity, or allow IMDS)");
		return -ENOKEY;
	}
	if (c->source == NP_AWS_SRC_WEB_IDENTITY && cfg->sts_endpoint) {
		char why[600];

		if (np_aws_url_check(cfg->sts_endpoint, false, why, sizeof(why)) < 0) {
			np_err("aws credentials: AWS_ENDPOINT_URL_STS %s", why);
			return -EINVAL;
		}
	}
	if (c->source == NP_AWS_SRC_POD_IDENTITY) {
		char why[600];

		if (np_aws_url_check(cfg->container_uri, true, why, sizeof(why)) < 0) {
			np_err("aws credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI %s", why);
			return -EINVAL;
		}
	}
	if (c->source == NP_AWS_SRC_ENV) {
		c->cur.akid = strdup(cfg->access_key);
		c->cur.secret = strdup(cfg->secret_key);
		c->cur.token = cfg->session_token ? strdup(cfg->session_token) : NULL;
		if (!c->cur.akid || !c->cur.secret || (cfg->session_token && !c->cur.token)) {
			np_aws_creds_clear(&c->cur);
			return -ENOMEM;
		}
	}
	np_info("aws credentials: using %s", np_aws_source_name(c->source));
	return 0;
}

void np_awscreds_free(struct np_awscreds *c)
{
	if (!c->loop)
		return;
	np_timer_cancel(c->loop, &c->retry);
	np_http_req_free(c->req);
	c->req = NULL;
	np_aws_creds_clear(&c->cur);
	if (c->imds_token) {
		explicit_bzero(c->imds_token, strlen(c->imds_token));
		free(c->imds_token);
	}
	free(c->imds_role);
	c->imds_token = c->imds_role = NULL;
}

const struct np_aws_creds *np_awscreds_get(struct np_awscreds *c, int64_t now)
{
	int64_t life, margin, guard;

	if (c->source == NP_AWS_SRC_ENV)
		return c->cur.akid ? &c->cur : NULL;
	if (!c->cur.akid) {
		if (!c->retry.armed)
			start_fetch(c);
		return NULL;
	}
	if (!c->cur.expires)
		return &c->cur;
	/* Refresh 5 minutes ahead, or at half-life for short credentials;
	 * stop using them 1 minute (a quarter of their life) before expiry,
	 * so a request in flight does not arrive with expired ones. */
	life = c->cur.expires - c->fetched_at;
	margin = life / 2 < 300 ? life / 2 : 300;
	guard = life / 4 < 60 ? life / 4 : 60;
	if (now >= c->cur.expires - margin && !c->retry.armed)
		start_fetch(c);
	return now < c->cur.expires - guard ? &c->cur : NULL;
}

void np_awscreds_invalidate(struct np_awscreds *c)
{
	if (c->source == NP_AWS_SRC_ENV)
		return;
	np_aws_creds_clear(&c->cur);
	start_fetch(c);
}
