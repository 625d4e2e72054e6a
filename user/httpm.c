// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libcurl multi on the event loop: see httpm.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "httpm.h"
#include "log.h"

#define NP_HTTP_RESP_MAX_DEFAULT (4u << 20)

static void check_done(struct np_httpm *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct np_http_req *r = NULL;
		long status = 0;
		CURLcode res;

		if (m->msg != CURLMSG_DONE)
			continue;
		res = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(h->multi, m->easy_handle);
		if (!r)
			continue;
		r->owner = NULL;
		/* DONE may start or free requests: m is invalid after it. */
		r->done(r, res, status, r->ctx);
	}
}

static void on_fd(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct np_httpm *h = ctx;
	int flags = 0;

	(void)loop;
	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(h->multi, fd, flags, &h->running);
	check_done(h);
}

static void on_timer(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct np_httpm *h = ctx;

	(void)loop;
	(void)t;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
	check_done(h);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct np_httpm *h = userp;
	uint32_t ev = 0;
	int ret;

	(void)e;
	(void)socketp;
	np_dbg("http: curl socket %d what %d", (int)s, what);
	if (what == CURL_POLL_REMOVE) {
		np_loop_fd_del(h->loop, s);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (np_loop_fd_registered(h->loop, s))
		ret = np_loop_fd_mod(h->loop, s, ev);
	else
		ret = np_loop_fd_add(h->loop, s, ev, on_fd, h);
	if (ret < 0) {
		np_err("http: cannot watch socket %d in the event loop: %s", (int)s, strerror(-ret));
		return -1;
	}
	return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct np_httpm *h = userp;

	(void)m;
	np_dbg("http: curl timer %ld", timeout_ms);
	if (timeout_ms < 0)
		np_timer_cancel(h->loop, &h->timer);
	else
		np_timer_arm(h->loop, &h->timer, (uint64_t)timeout_ms);
	return 0;
}

int np_httpm_init(struct np_httpm *h, struct np_loop *loop)
{
	int ret = 0;

	memset(h, 0, sizeof(*h));
	h->loop = loop;
	np_timer_init(&h->timer, on_timer, h);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ret = -EIO;
		goto cleanup;
	}
	h->multi = curl_multi_init();
	if (!h->multi) {
		ret = -ENOMEM;
		goto cleanup;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
cleanup:
	return ret;
}

void np_httpm_free(struct np_httpm *h)
{
	if (!h->multi)
		return;
	np_timer_cancel(h->loop, &h->timer);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct np_http_req *r = ud;
	size_t n = size * nmemb;

	if (r->resp_len + n + 1 > r->resp_max)
		return 0; /* fails the transfer with CURLE_WRITE_ERROR */
	if (r->resp_len + n + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 4096;
		char *q;

		while (cap < r->resp_len + n + 1)
			cap *= 2;
		q = realloc(r->resp, cap);
		if (!q)
			return 0;
		r->resp = q;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, n);
	r->resp_len += n;
	r->resp[r->resp_len] = 0;
	return n;
}

struct np_http_req *np_http_req_new(const char *ca_file, long timeout_ms)
{
	struct np_http_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->easy = curl_easy_init();
	if (!r->easy) {
		free(r);
		return NULL;
	}
	r->resp_max = NP_HTTP_RESP_MAX_DEFAULT;
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* One request at a time per shipper: HTTP/2 would buy nothing, and
	 * HTTP/1.1 is what the AWS SDKs' and CloudWatch agent's requests use. */
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* The default bundle and /etc/ssl/certs stay; CA_FILE adds to them
	 * (CAPATH keeps the system directory when CAINFO is replaced). */
	if (ca_file)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, ca_file);
	return r;
}

int np_http_req_header(struct np_http_req *r, const char *line)
{
	struct curl_slist *l = curl_slist_append(r->headers, line);

	if (!l)
		return -ENOMEM;
	r->headers = l;
	return 0;
}

void np_http_req_post(struct np_http_req *r, char *body, size_t len)
{
	free(r->body);
	r->body = body;
	r->body_len = len;
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, body ? body : "");
}

void np_http_req_free(struct np_http_req *r)
{
	if (!r)
		return;
	if (r->owner)
		np_httpm_abort(r->owner, r);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->resp);
	free(r);
}

int np_httpm_start(struct np_httpm *h, struct np_http_req *r, np_http_done_cb done, void *ctx)
{
	CURLMcode mc;

	r->done = done;
	r->ctx = ctx;
	r->resp_len = 0;
	if (r->resp)
		r->resp[0] = 0;
	r->errbuf[0] = 0;
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	mc = curl_multi_add_handle(h->multi, r->easy);
	if (mc != CURLM_OK) {
		np_err("http: cannot start a request: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	r->owner = h;
	return 0;
}

void np_httpm_abort(struct np_httpm *h, struct np_http_req *r)
{
	if (r->owner != h)
		return;
	curl_multi_remove_handle(h->multi, r->easy);
	r->owner = NULL;
}
