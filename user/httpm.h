/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Asynchronous HTTP requests on the agent's event loop: one libcurl multi
 * handle whose sockets and timeout are registered with evloop
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION), so the CloudWatch
 * shipper and the credential providers never block and need no thread.
 *
 * A request owns its easy handle, header list, body and response buffer;
 * the caller sets the URL, method and headers on req->easy, then
 * np_httpm_start() runs it and calls DONE once with the outcome.
 */
#ifndef NP_HTTPM_H
#define NP_HTTPM_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "evloop.h"

struct np_httpm;
struct np_http_req;

/* RES: CURLE_OK when an HTTP answer arrived (any status). */
typedef void (*np_http_done_cb)(struct np_http_req *req, CURLcode res, long status, void *ctx);

struct np_http_req {
	CURL *easy;
	struct curl_slist *headers;
	char *body;        /* request body (POSTFIELDS points here), owned */
	size_t body_len;
	char *resp;        /* response body, NUL-terminated, owned */
	size_t resp_len, resp_cap;
	size_t resp_max;   /* larger answers fail the request (bytes) */
	char errbuf[CURL_ERROR_SIZE];
	np_http_done_cb done;
	void *ctx;
	struct np_httpm *owner; /* set while running */
};

struct np_httpm {
	CURLM *multi;
	struct np_loop *loop;
	struct np_timer timer;
	int running;
};

int np_httpm_init(struct np_httpm *h, struct np_loop *loop);
/* Aborts every running request (their DONE is not called). */
void np_httpm_free(struct np_httpm *h);

/* A fresh request with an easy handle carrying the common options: TLS
 * verified (plus AWS_CA_BUNDLE-style extra CA file CA_FILE when not NULL),
 * timeouts, no signals.  NULL when out of memory. */
struct np_http_req *np_http_req_new(const char *ca_file, long timeout_ms);
/* Append a header line "Name: value" (copied).  -ENOMEM. */
int np_http_req_header(struct np_http_req *r, const char *line);
/* Give the request body (taken over, free()d with the request) and make it
 * a POST with POSTFIELDS + POSTFIELDSIZE, the form libcurl's SigV4 signs. */
void np_http_req_post(struct np_http_req *r, char *body, size_t len);
void np_http_req_free(struct np_http_req *r);

/* Start R; DONE(R, ...) is called from the event loop when it ends. */
int np_httpm_start(struct np_httpm *h, struct np_http_req *r, np_http_done_cb done, void *ctx);
/* Stop R without calling DONE (it stays owned by the caller). */
void np_httpm_abort(struct np_httpm *h, struct np_http_req *r);

#endif
