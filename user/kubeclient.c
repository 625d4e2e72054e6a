// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * List+watch of Namespaces, Pods and NetworkPolicies on the agent's event
 * loop: one curl easy handle per resource, all in one curl multi whose
 * sockets and timeout are registered with the evloop
 * (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION).  No threads.
 *
 * Per resource, the reflector's state machine:
 *
 *   LIST  (resourceVersion=0: served from the API server's watch cache, cheap
 *          when a thousand agents restart at once; after a 410, or when the
 *          cache list failed, a consistent list paginated with limit/continue;
 *          an expired continue token (410) restarts the list)
 *     -> the pages accumulate in a staging cache that replaces the kind's
 *        entries when the last page arrived (objects deleted while we were
 *        away disappear)
 *   WATCH from the list's resourceVersion, allowWatchBookmarks=true,
 *          timeoutSeconds random in [300, 600] so a fleet does not reconnect
 *          in lockstep; every event (bookmarks included) advances the
 *          resourceVersion we resume from
 *     -> server timeout / clean end: watch again from there
 *     -> 410 (HTTP or an ERROR event): LIST again (consistent), replace
 *     -> connection errors, 5xx, 429: WAIT (jittered exponential backoff),
 *        then watch again from the last resourceVersion
 *     -> 401: re-read the token file, WAIT, retry
 *
 * The cache keeps its last contents through any failure: the agent goes on
 * enforcing the last state the API showed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agentops.h"
#include "kube.h"
#include "log.h"

#define MAX_LIST_BODY (1u << 30)
#define MAX_ERROR_BODY 4096
/* A watch event is one object: the API server stores at most 1.5 MiB per
 * object (etcd's request limit); 4 MiB leaves room for the envelope and
 * escaping.  A longer line is not a real event: refused, never buffered
 * further, and the resource re-listed. */
#define MAX_EVENT_LINE (4u << 20)
#define MIN_HEALTHY_WATCH_MS 1000

enum res_state { R_IDLE, R_LIST, R_WATCH, R_WAIT };

static const char *const res_path[NP_KIND_MAX] = {
	[NP_KIND_NAMESPACE] = "/api/v1/namespaces",
	[NP_KIND_POD] = "/api/v1/pods",
	[NP_KIND_POLICY] = "/apis/networking.k8s.io/v1/networkpolicies",
};
static const char *const res_name[NP_KIND_MAX] = { "namespaces", "pods", "networkpolicies" };
static const char *const kind_singular[NP_KIND_MAX] = { "Namespace", "Pod", "NetworkPolicy" };

struct res {
	struct np_kube *k;
	enum np_kind kind;
	enum res_state state;
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	char *body;             /* list page, or an error response */
	size_t body_len, body_cap;
	struct np_kstream stream;
	struct np_kubecache staging;
	char *rv;               /* resourceVersion to resume from */
	char *cont;             /* continue token of the list in progress */
	bool need_list;         /* the next request is a list */
	bool consistent;        /* the next list is a consistent one */
	bool synced;            /* listed at least once */
	bool relist;            /* an ERROR 410 event arrived */
	bool bad_event;         /* another ERROR event or garbage */
	uint64_t started_ms;
	uint64_t events;        /* of the current watch */
	unsigned failures;
	struct np_timer retry;
};

struct np_kube {
	struct np_kube_opts o;
	CURLM *multi;
	struct np_timer curl_timer, token_timer;
	char *auth;             /* "Authorization: Bearer ..." (never logged) */
	struct np_kubecache cache;
	struct res res[NP_KIND_MAX];
	struct np_kube_stats st;
	bool stopping;
};

static void start_request(struct res *r);

/* ---- helpers ---------------------------------------------------------------- */

static unsigned rand_between(unsigned lo, unsigned hi)
{
	return hi <= lo ? lo : lo + (unsigned)(random() % (hi - lo + 1));
}

static int set_str(char **dst, const char *s)
{
	char *c = s ? strdup(s) : NULL;

	if (s && !c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static void notify(struct np_kube *k, uint64_t arrival_ms)
{
	if (k->o.on_change)
		k->o.on_change(k->o.ctx, arrival_ms);
}

/* Read the token again; keeps the old one when the file is unreadable. */
static void reload_token(struct np_kube *k, const char *why)
{
	struct np_error err;
	char *tok = NULL, *hdr = NULL;
	int ret;

	ret = np_kubeconfig_read_token(k->o.cfg, &tok, &err);
	if (ret == -ENOENT && !k->o.cfg->token_file)
		return; /* client certificate only */
	if (ret) {
		np_warn("%s (%s); keeping the previous token", err.msg, why);
		return;
	}
	if (asprintf(&hdr, "Authorization: Bearer %s", tok) < 0)
		hdr = NULL;
	explicit_bzero(tok, strlen(tok));
	free(tok);
	if (!hdr) {
		np_warn("out of memory re-reading the token; keeping the previous one");
		return;
	}
	if (k->auth && strcmp(k->auth, hdr) != 0)
		np_info("API: bearer token changed (%s); new requests use it", why);
	if (k->auth) {
		explicit_bzero(k->auth, strlen(k->auth));
		free(k->auth);
	}
	k->auth = hdr;
}

static void on_token_timer(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct np_kube *k = ctx;

	reload_token(k, "periodic re-read");
	np_timer_arm(loop, t, k->o.token_reread_ms);
}

/* ---- the backoff ----------------------------------------------------------- */

static void on_retry(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct res *r = ctx;

	(void)loop, (void)t;
	if (r->state == R_WAIT)
		start_request(r);
}

/* Jittered exponential: a random delay in [d/2, d], d doubling per failure
 * from backoff_min_ms up to backoff_max_ms. */
static void backoff(struct res *r, const char *what)
{
	struct np_kube *k = r->k;
	uint64_t d = k->o.backoff_min_ms;
	unsigned delay;

	for (unsigned i = 0; i < r->failures && d < k->o.backoff_max_ms; i++)
		d *= 2;
	if (d > k->o.backoff_max_ms)
		d = k->o.backoff_max_ms;
	delay = rand_between((unsigned)d / 2, (unsigned)d);
	r->failures++;
	k->st.errors++;
	np_warn("API %s: %s; retrying in %u ms (attempt %u)%s", res_name[r->kind],
		what, delay, r->failures,
		r->synced ? "; the last state stays in force" : "");
	r->state = R_WAIT;
	np_timer_arm(k->o.loop, &r->retry, delay);
}

/* ---- responses --------------------------------------------------------------- */

static int append_body(struct res *r, const char *p, size_t n, size_t max)
{
	if (r->body_len + n > max)
		return -EFBIG;
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 65536;
		char *nb;

		while (cap < r->body_len + n + 1)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (!nb)
			return -ENOMEM;
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static uint64_t g_chunk_ms; /* arrival of the chunk being parsed */

/* An object of another kind on this resource's list or watch (a Pod on the
 * namespaces watch, a *List, an unknown kind): refused with an error, never
 * stored, counted in netpol_kube_watch_errors_total{kind="wrong-kind"}.
 * True when OBJ was refused. */
static bool refuse_wrong_kind(struct res *r, const json_t *obj)
{
	const char *claims = np_kubecache_wrong_kind(r->kind, obj);
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (!claims)
		return false;
	np_err("API %s: object %s%s%s claims to be \"%s\", not a %s; refused (never stored)",
	       res_name[r->kind], ns ? ns : "", ns ? "/" : "", name ? name : "(unnamed)", claims,
	       kind_singular[r->kind]);
	r->k->st.wrong_kind++;
	np_ops_kube_error(res_name[r->kind], "wrong-kind");
	return true;
}

static int on_watch_event(void *ctx, json_t *ev)
{
	struct res *r = ctx;
	struct np_kube *k = r->k;
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"),
							   "resourceVersion"));
	int changed = 0;

	k->st.events++;
	r->events++;
	if (type)
		np_ops_kube_event(res_name[r->kind], type); /* a fixed set of types */
	if (!type || !json_is_object(obj)) {
		np_warn("API %s: a watch event without type or object; watching again",
			res_name[r->kind]);
		r->bad_event = true;
		return -EBADMSG;
	}
	if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *msg = json_string_value(json_object_get(obj, "message"));

		if (code == 410) {
			np_info("API %s: watch expired (410 %s); re-listing", res_name[r->kind],
				msg ? msg : "Gone");
			r->relist = true;
			return -ESTALE;
		}
		np_warn("API %s: watch ERROR event %lld: %s", res_name[r->kind],
			(long long)code, msg ? msg : "(no message)");
		r->bad_event = true;
		return -EPROTO;
	}
	if (strcmp(type, "BOOKMARK") != 0 && refuse_wrong_kind(r, obj))
		return 0; /* logged and counted; the watch goes on */
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
		changed = np_kubecache_upsert(&k->cache, r->kind, obj);
	else if (strcmp(type, "DELETED") == 0)
		changed = np_kubecache_delete(&k->cache, r->kind, obj);
	else if (strcmp(type, "BOOKMARK") != 0)
		np_dbg("API %s: ignoring watch event type %s", res_name[r->kind], type);
	if (changed < 0)
		return changed;
	if (rv && set_str(&r->rv, rv))
		return -ENOMEM;
	if (changed > 0)
		notify(k, g_chunk_ms);
	return 0;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	struct res *r = ud;
	size_t n = size * nmemb;
	long status = 0;
	int ret;

	r->k->st.bytes += n;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->state == R_LIST || status != 200)
		ret = append_body(r, p, n, r->state == R_LIST && status == 200 ?
				  MAX_LIST_BODY : MAX_ERROR_BODY);
	else {
		/* The watch is established: the next failure starts the
		 * backoff from the beginning again. */
		r->failures = 0;
		g_chunk_ms = np_now_ms();
		ret = np_kstream_feed(&r->stream, p, n, on_watch_event, r);
		if (ret == -EMSGSIZE || ret == -E2BIG) {
			/* Resuming at the same resourceVersion would meet the
			 * same event again, forever: re-list instead (the
			 * list moves past it). */
			np_err("API %s: a watch event after resourceVersion %s is %s; re-listing",
			       res_name[r->kind], r->rv ? r->rv : "(none)",
			       ret == -EMSGSIZE ? "longer than 4 MiB (no object is that big)"
						: "too costly to parse (mostly tiny values)");
			r->bad_event = true;
			r->need_list = true;
			np_ops_kube_error(res_name[r->kind], "oversize");
		} else if (ret == -EBADMSG) {
			np_warn("API %s: unparsable watch event (%s); watching again",
				res_name[r->kind], strerror(-ret));
			r->bad_event = true;
		}
	}
	if (ret == -EFBIG && status != 200)
		return n; /* the start of an error body is enough */
	return ret ? 0 : n;
}

/* "410 Gone: message" from a Status body, for logs. */
static void status_text(const struct res *r, long status, char *buf, size_t len)
{
	json_t *st = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(st, "message"));

	snprintf(buf, len, "HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
	json_decref(st);
}

static void list_page_done(struct res *r)
{
	struct np_kube *k = r->k;
	json_error_t jerr;
	json_t *doc, *items, *item;
	const char *rv, *cont;
	size_t i;
	int ret = 0;

	if (r->body && !np_json_cost_ok(r->body, r->body_len)) {
		snprintf(jerr.text, sizeof(jerr.text), "%zu bytes of mostly tiny values: too costly to parse",
			 r->body_len);
		doc = NULL;
	} else {
		doc = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
	}
	/* A list from the watch cache is the whole resource at once (tens of
	 * MB for 10,000 pods): do not keep its buffer around. */
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
	items = json_object_get(doc, "items");
	if (!doc || (items && !json_is_array(items))) {
		char what[300];

		snprintf(what, sizeof(what), "the list response is not a %s list (%s)",
			 res_name[r->kind], doc ? "items is not an array" : jerr.text);
		json_decref(doc);
		r->need_list = true;
		backoff(r, what);
		return;
	}
	json_array_foreach(items, i, item) {
		if (refuse_wrong_kind(r, item))
			continue;
		ret = np_kubecache_upsert(&r->staging, r->kind, item);
		if (ret < 0)
			break;
	}
	rv = json_string_value(json_object_get(json_object_get(doc, "metadata"), "resourceVersion"));
	cont = json_string_value(json_object_get(json_object_get(doc, "metadata"), "continue"));
	if (ret >= 0 && cont && *cont) {
		ret = set_str(&r->cont, cont);
		json_decref(doc);
		if (ret) {
			r->need_list = true;
			backoff(r, "out of memory");
			return;
		}
		r->need_list = true;
		start_request(r); /* the next page */
		return;
	}
	if (ret >= 0 && (!rv || !*rv)) {
		/* Without it there is nothing to watch from: listing again at
		 * once would hammer the server. */
		json_decref(doc);
		np_kubecache_clear(&r->staging, r->kind);
		set_str(&r->cont, NULL);
		r->need_list = true;
		backoff(r, "the list response has no metadata.resourceVersion");
		return;
	}
	if (ret >= 0)
		ret = set_str(&r->rv, rv);
	json_decref(doc);
	if (ret < 0) {
		np_kubecache_clear(&r->staging, r->kind);
		set_str(&r->cont, NULL);
		r->need_list = true;
		backoff(r, "out of memory while listing");
		return;
	}
	set_str(&r->cont, NULL);
	np_kubecache_replace(&k->cache, &r->staging, r->kind);
	np_kubecache_clear(&r->staging, r->kind);
	/* Give the parse's transient memory (the JSON tree of a whole list)
	 * back to the system rather than keeping it as the agent's RSS. */
	malloc_trim(0);
	np_info("API %s: listed %zu at resourceVersion %s%s", res_name[r->kind],
		np_kubecache_count(&k->cache, r->kind), r->rv ? r->rv : "?",
		r->consistent ? " (consistent list)" : " (from the API server's cache)");
	r->synced = true;
	r->need_list = false;
	r->consistent = false;
	r->failures = 0;
	notify(k, np_now_ms());
	start_request(r);
}

static void request_done(struct res *r, CURLcode code)
{
	struct np_kube *k = r->k;
	bool was_watch = r->state == R_WATCH;
	char what[CURL_ERROR_SIZE + 600];
	const char *kind = "watch-ended"; /* for netpol_kube_watch_errors_total */
	long status = 0;
	size_t dropped;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(k->multi, r->easy);
	curl_easy_cleanup(r->easy);
	r->easy = NULL;
	if (was_watch && k->st.watches_open)
		k->st.watches_open--;
	if (was_watch) /* re-opened now or after a backoff */
		np_ops_kube_reconnect(res_name[r->kind]);
	dropped = np_kstream_finish(&r->stream);
	if (r->relist || status == 410) {
		/* Too old a resourceVersion or an expired continue token. */
		if (status == 410)
			np_info("API %s: %s (410 Gone); re-listing", res_name[r->kind],
				r->cont ? "the list's continue token expired" :
					  "resourceVersion too old");
		k->st.relists++;
		np_ops_kube_relist(res_name[r->kind]);
		np_ops_kube_error(res_name[r->kind], "gone");
		r->relist = false;
		r->need_list = true;
		r->consistent = true;
		set_str(&r->cont, NULL);
		np_kubecache_clear(&r->staging, r->kind);
		if (r->failures++ > 2) {
			backoff(r, "repeated 410 Gone");
			return;
		}
		start_request(r);
		return;
	}
	if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && r->bad_event)) {
		kind = "connect";
		snprintf(what, sizeof(what), "%s %s failed: %s",
			 was_watch ? "watch" : "list", res_path[r->kind],
			 r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
		goto failed;
	}
	if (status != 200) {
		kind = "http";
		status_text(r, status, what, sizeof(what));
		if (status == 401)
			reload_token(k, "401 Unauthorized");
		goto failed;
	}
	if (!was_watch) {
		list_page_done(r);
		return;
	}
	if (dropped)
		np_dbg("API %s: the watch ended inside an event (%zu bytes dropped); resuming from resourceVersion %s",
		       res_name[r->kind], dropped, r->rv);
	if (r->bad_event) {
		kind = "parse";
		snprintf(what, sizeof(what), "the watch stream was unusable");
		goto failed;
	}
	if (!r->events && np_now_ms() - r->started_ms < MIN_HEALTHY_WATCH_MS) {
		snprintf(what, sizeof(what), "the watch ended at once, without events");
		goto failed;
	}
	/* The server's timeout, or a clean close: carry on from r->rv. */
	r->failures = 0;
	start_request(r);
	return;
failed:
	np_ops_kube_error(res_name[r->kind], kind);
	if (!was_watch) {
		r->need_list = true;
		set_str(&r->cont, NULL);
		np_kubecache_clear(&r->staging, r->kind);
		/* The cache list failing: fall back to a consistent one. */
		r->consistent = true;
	}
	backoff(r, what);
}

static void check_done(struct np_kube *k)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(k->multi, &left))) {
		struct res *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			request_done(r, m->data.result);
	}
}

/* ---- requests ---------------------------------------------------------------- */

static int build_url(struct res *r, char **url)
{
	const struct np_kubeconfig *cfg = r->k->o.cfg;
	char *esc = NULL;
	int n;

	if (r->need_list && r->cont) {
		esc = curl_easy_escape(NULL, r->cont, 0);
		if (!esc)
			return -ENOMEM;
		n = asprintf(url, "%s%s?limit=%u&continue=%s", cfg->server,
			     res_path[r->kind], r->k->o.page_limit, esc);
	} else if (r->need_list) {
		n = asprintf(url, "%s%s?limit=%u%s", cfg->server, res_path[r->kind],
			     r->k->o.page_limit,
			     r->consistent ? "" : "&resourceVersion=0");
	} else {
		esc = curl_easy_escape(NULL, r->rv ? r->rv : "", 0);
		if (!esc)
			return -ENOMEM;
		n = asprintf(url, "%s%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
			     cfg->server, res_path[r->kind], esc,
			     rand_between(r->k->o.watch_timeout_min_s,
					  r->k->o.watch_timeout_max_s));
	}
	curl_free(esc);
	if (n < 0) {
		*url = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int setup_easy(struct res *r, const char *url, bool watch)
{
	const struct np_kubeconfig *cfg = r->k->o.cfg;
	struct curl_slist *h;
	CURL *e;

	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	r->easy = e;
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	h = curl_slist_append(NULL, "Accept: application/json");
	if (h && r->k->auth)
		h = curl_slist_append(h, r->k->auth) ?: (curl_slist_free_all(h), NULL);
	if (!h)
		return -ENOMEM;
	r->hdrs = h;
	r->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "netpol-agent");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (watch) {
		/* The server ends it after timeoutSeconds; a dead peer is
		 * caught by keepalive, a stuck one by this. */
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				 (long)(r->k->o.watch_timeout_max_s + 60) * 1000L);
	} else {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	}
	/* TLS: always verified (curl's defaults, never turned off here). */
	if (cfg->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->ca_data) {
		struct curl_blob b = { cfg->ca_data, cfg->ca_data_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (cfg->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->cert_file);
	if (cfg->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->key_file);
	if (cfg->cert_data) {
		struct curl_blob b = { cfg->cert_data, cfg->cert_data_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (cfg->key_data) {
		struct curl_blob b = { cfg->key_data, cfg->key_data_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	return 0;
}

static void start_request(struct res *r)
{
	struct np_kube *k = r->k;
	bool watch = !r->need_list && r->rv && *r->rv;
	char *url = NULL;
	int ret;

	if (k->stopping)
		return;
	if (!watch)
		r->need_list = true;
	r->body_len = 0;
	r->relist = r->bad_event = false;
	r->events = 0;
	np_kstream_reset(&r->stream);
	ret = build_url(r, &url);
	if (!ret)
		ret = setup_easy(r, url, watch);
	if (!ret && curl_multi_add_handle(k->multi, r->easy) != CURLM_OK)
		ret = -ENOMEM;
	if (ret) {
		if (r->easy)
			curl_easy_cleanup(r->easy);
		r->easy = NULL;
		free(url);
		backoff(r, "could not start a request (out of memory)");
		return;
	}
	np_dbg("API %s: %s %s", res_name[r->kind], watch ? "watch" : "list", url);
	free(url);
	r->state = watch ? R_WATCH : R_LIST;
	r->started_ms = np_now_ms();
	k->st.requests++;
	if (watch) {
		k->st.watch_requests++;
		k->st.watches_open++;
	} else {
		k->st.list_requests++;
	}
}

/* ---- curl multi <-> evloop ----------------------------------------------------- */

static void on_fd(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct np_kube *k = ctx;
	int flags = 0, running;

	(void)loop;
	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(k->multi, fd, flags, &running);
	check_done(k);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct np_kube *k = userp;
	uint32_t ev = 0;
	int ret;

	(void)e, (void)socketp;
	if (what == CURL_POLL_REMOVE) {
		np_loop_fd_del(k->o.loop, s);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (np_loop_fd_registered(k->o.loop, s))
		ret = np_loop_fd_mod(k->o.loop, s, ev);
	else
		ret = np_loop_fd_add(k->o.loop, s, ev, on_fd, k);
	if (ret)
		np_warn("API: registering a connection with the event loop failed: %s",
			strerror(-ret));
	return ret ? -1 : 0;
}

static void on_curl_timer(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct np_kube *k = ctx;
	int running;

	(void)loop, (void)t;
	curl_multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(k);
}

static int on_timer_change(CURLM *m, long timeout_ms, void *userp)
{
	struct np_kube *k = userp;

	(void)m;
	if (timeout_ms < 0) {
		np_timer_cancel(k->o.loop, &k->curl_timer);
		return 0;
	}
	return np_timer_arm(k->o.loop, &k->curl_timer, (uint64_t)timeout_ms) ? -1 : 0;
}

/* ---- public ------------------------------------------------------------------ */

int np_kube_start(struct np_kube **out, const struct np_kube_opts *opts)
{
	static bool curl_ready;
	struct np_kube *k;
	int ret = 0;

	*out = NULL;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		curl_ready = true;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->o = *opts;
	if (!k->o.page_limit)
		k->o.page_limit = 500;
	if (!k->o.backoff_min_ms)
		k->o.backoff_min_ms = 500;
	if (!k->o.backoff_max_ms)
		k->o.backoff_max_ms = 30000;
	if (!k->o.token_reread_ms)
		k->o.token_reread_ms = 60000;
	if (!k->o.watch_timeout_min_s)
		k->o.watch_timeout_min_s = 300;
	if (!k->o.watch_timeout_max_s)
		k->o.watch_timeout_max_s = 600;
	srandom((unsigned)getpid() ^ (unsigned)np_now_ms() ^ (unsigned)time(NULL));
	ret = np_kubecache_init(&k->cache);
	if (ret) {
		free(k);
		return ret;
	}
	for (int i = 0; i < NP_KIND_MAX; i++) {
		struct res *r = &k->res[i];

		r->k = k;
		r->kind = (enum np_kind)i;
		r->need_list = true;
		np_kstream_init(&r->stream, MAX_EVENT_LINE);
		np_timer_init(&r->retry, on_retry, r);
		if (!ret)
			ret = np_kubecache_init(&r->staging);
		r->staging.fallback = &k->cache;
	}
	np_timer_init(&k->curl_timer, on_curl_timer, k);
	np_timer_init(&k->token_timer, on_token_timer, k);
	k->multi = curl_multi_init();
	if (ret || !k->multi) {
		ret = ret ?: -ENOMEM;
		goto cleanup;
	}
	curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
	curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
	/* One connection per resource, over HTTP/2 too: a connection that
	 * dies or stalls takes one resource's watch with it, not all three. */
	curl_multi_setopt(k->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	reload_token(k, "start");
	if (k->o.cfg->token_file)
		np_timer_arm(k->o.loop, &k->token_timer, k->o.token_reread_ms);
	for (int i = 0; i < NP_KIND_MAX; i++)
		start_request(&k->res[i]);
	*out = k;
	k = NULL;
cleanup:
	if (k)
		np_kube_stop(k);
	return ret;
}

void np_kube_stop(struct np_kube *k)
{
	if (!k)
		return;
	k->stopping = true;
	for (int i = 0; i < NP_KIND_MAX; i++) {
		struct res *r = &k->res[i];

		if (r->easy) {
			curl_multi_remove_handle(k->multi, r->easy);
			curl_easy_cleanup(r->easy);
		}
		curl_slist_free_all(r->hdrs);
		np_timer_cancel(k->o.loop, &r->retry);
		np_kstream_free(&r->stream);
		np_kubecache_free(&r->staging);
		free(r->body);
		free(r->rv);
		free(r->cont);
	}
	if (k->multi)
		curl_multi_cleanup(k->multi);
	np_timer_cancel(k->o.loop, &k->curl_timer);
	np_timer_cancel(k->o.loop, &k->token_timer);
	np_kubecache_free(&k->cache);
	if (k->auth) {
		explicit_bzero(k->auth, strlen(k->auth));
		free(k->auth);
	}
	free(k);
}

bool np_kube_synced(const struct np_kube *k)
{
	for (int i = 0; i < NP_KIND_MAX; i++)
		if (!k->res[i].synced)
			return false;
	return true;
}

const struct np_kubecache *np_kube_cache(const struct np_kube *k)
{
	return &k->cache;
}

void np_kube_get_stats(const struct np_kube *k, struct np_kube_stats *out)
{
	*out = k->st;
}
