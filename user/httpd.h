/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's small HTTP server (/healthz, /readyz, /metrics, /debug/...),
 * built on libmicrohttpd so that no HTTP parsing is written here.
 *
 * It runs on the agent's event loop, not in a thread of its own: MHD is
 * started in external-polling epoll mode (MHD_USE_EPOLL without an internal
 * thread), its epoll fd is registered on struct np_loop, and MHD_run() is
 * called when that fd is readable and when MHD's own timeout (idle
 * connections) expires, on a loop timer.  Handlers therefore run on the loop
 * thread and read the agent's state without locks; they must be quick
 * (nothing in them blocks).
 *
 * The listening socket is created and accepted from here (bind errors name
 * the address and the cause); each connection is handed to MHD.  Any
 * hostNetwork pod can connect, so no client may starve the liveness probe:
 *   - every connection has NP_HTTPD_DEADLINE_MS in all from its accept
 *     (not reset by a trickle of bytes), then it is shut down;
 *   - at most NP_HTTPD_PER_CLIENT connections per client address and
 *     NP_HTTPD_MAX_CONN in all: a new connection over either limit evicts
 *     the oldest one of that client (or of all), so a new client (kubelet's
 *     probe) always gets in and is answered at once; each accepted
 *     connection is served (and the ones it evicted closed) before the
 *     next accept, since the probe shares its address with any
 *     hostNetwork flood;
 * only GET and HEAD are served.
 */
#ifndef NP_HTTPD_H
#define NP_HTTPD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "evloop.h"
#include "strbuf.h"

#define NP_HTTPD_MAX_ROUTES 16
#define NP_HTTPD_MAX_CONN 32
#define NP_HTTPD_PER_CLIENT 8
#define NP_HTTPD_DEADLINE_MS 5000

/* A connection we accepted and handed to MHD. */
struct np_httpd_conn {
	bool used;
	bool evicting;           /* shut down; MHD closes it on its next run */
	int fd;
	uint64_t since_ms;       /* accepted at */
	uint64_t seq;            /* accept order: many accepts share one ms */
	struct sockaddr_storage peer;
	struct MHD_Connection *conn;
};

struct MHD_Daemon;
struct MHD_Connection;

struct np_httpd_req {
	const char *path;
	bool local_peer; /* the client is on this host: loopback, or our own address */
	struct MHD_Connection *conn;
};

/* Query parameter KEY of REQ (decoded), or NULL. */
const char *np_httpd_query(const struct np_httpd_req *req, const char *key);

/* Fill BODY and *CONTENT_TYPE (default text/plain); return the HTTP status. */
typedef int (*np_httpd_handler)(void *ctx, const struct np_httpd_req *req, struct np_strbuf *body,
			       const char **content_type);

struct np_httpd {
	struct MHD_Daemon *d;
	struct np_loop *loop;
	int epfd;             /* MHD's epoll fd, registered on LOOP */
	int listen_fd;        /* ours, registered on LOOP */
	struct np_timer timer;
	struct np_timer deadline; /* enforces NP_HTTPD_DEADLINE_MS */
	struct np_httpd_conn conns[2 * NP_HTTPD_MAX_CONN];
	struct np_httpd_conn *adding; /* the slot MHD_add_connection is filling */
	unsigned long long evicted, timed_out;
	uint64_t next_seq;
	char addr[64];        /* as given, for messages */
	unsigned short port;  /* the bound port (useful with port 0) */
	struct {
		const char *path;
		np_httpd_handler fn;
		void *ctx;
		bool local_only; /* 403 for clients that are not on this host */
	} routes[NP_HTTPD_MAX_ROUTES];
	size_t n_routes;
	unsigned long long requests;
};

/* Parse "HOST:PORT", "[V6]:PORT" or ":PORT" (every address).  0 or -EINVAL. */
int np_httpd_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Register PATH (exact match) before np_httpd_start(). */
int np_httpd_route(struct np_httpd *h, const char *path, np_httpd_handler fn, void *ctx,
		   bool local_only);

/* Bind ADDR and serve on LOOP.  0 or -errno (logged: address and cause). */
int np_httpd_start(struct np_httpd *h, struct np_loop *loop, const char *addr);
void np_httpd_stop(struct np_httpd *h);

#endif
