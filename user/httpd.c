// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The HTTP server on the event loop: see httpd.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <microhttpd.h>

#include "httpd.h"
#include "log.h"

int np_httpd_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *hs = s;
	size_t hl;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		hs = s + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -EINVAL;
	if (!*host) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_any;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1 || hs == s)
			return -EINVAL; /* an IPv6 address needs [brackets] */
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	}
	return 0;
}

int np_httpd_route(struct np_httpd *h, const char *path, np_httpd_handler fn, void *ctx,
		   bool local_only)
{
	if (h->n_routes == NP_HTTPD_MAX_ROUTES)
		return -E2BIG;
	h->routes[h->n_routes].path = path;
	h->routes[h->n_routes].fn = fn;
	h->routes[h->n_routes].ctx = ctx;
	h->routes[h->n_routes].local_only = local_only;
	h->n_routes++;
	return 0;
}

const char *np_httpd_query(const struct np_httpd_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* A client connecting from the very address it connected to is on this
 * host (netpolctl on a node whose agent listens on the node's address). */
static bool same_host(struct MHD_Connection *conn, const struct sockaddr *peer)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);

	if (!ci || !peer || getsockname(ci->connect_fd, (struct sockaddr *)&me, &len) < 0 ||
	    me.ss_family != peer->sa_family)
		return false;
	if (peer->sa_family == AF_INET)
		return ((struct sockaddr_in *)&me)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)peer)->sin_addr.s_addr;
	if (peer->sa_family == AF_INET6)
		return memcmp(&((struct sockaddr_in6 *)&me)->sin6_addr,
			      &((const struct sockaddr_in6 *)peer)->sin6_addr, sizeof(struct in6_addr)) == 0;
	return false;
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *type,
			     const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct np_httpd *h = cls;
	struct np_httpd_req req = { .path = url, .conn = conn };
	const union MHD_ConnectionInfo *ci;
	struct np_strbuf body = { 0 };
	const char *type = "text/plain; charset=utf-8";
	enum MHD_Result ret;
	int status;

	(void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
	h->requests++;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		static const char msg[] = "only GET and HEAD are served\n";

		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, type, msg, sizeof(msg) - 1);
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	req.local_peer = ci && (is_loopback(ci->client_addr) || same_host(conn, ci->client_addr));
	for (size_t i = 0; i < h->n_routes; i++) {
		if (strcmp(h->routes[i].path, url) != 0)
			continue;
		if (h->routes[i].local_only && !req.local_peer) {
			static const char msg[] = "served to loopback clients only (run netpolctl on the node)\n";

			return reply(conn, MHD_HTTP_FORBIDDEN, type, msg, sizeof(msg) - 1);
		}
		status = h->routes[i].fn(h->routes[i].ctx, &req, &body, &type);
		if (body.oom) {
			np_sb_free(&body);
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			np_sb_str(&body, "out of memory\n");
		}
		ret = reply(conn, status, type, body.p ? body.p : "", body.len);
		np_sb_free(&body);
		return ret;
	}
	{
		static const char msg[] = "not found; try /healthz, /readyz, /metrics\n";

		return reply(conn, MHD_HTTP_NOT_FOUND, type, msg, sizeof(msg) - 1);
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	np_dbg("http: %s", msg);
}

/* Run MHD, then wake up again when it next has something to time out. */
static void service(struct np_httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(h->d);
	if (MHD_get_timeout(h->d, &ms) == MHD_YES)
		np_timer_arm(h->loop, &h->timer, ms);
	else
		np_timer_cancel(h->loop, &h->timer);
}

static void on_epoll(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop, (void)fd, (void)events;
	service(ctx);
}

static void on_timer(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	(void)loop, (void)t;
	service(ctx);
}

static int listen_on(const char *addr, unsigned short *port_out)
{
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	int fd = -1, one = 1, ret;

	ret = np_httpd_parse_addr(addr, &ss, &len);
	if (ret) {
		np_err("metrics address \"%s\" is not HOST:PORT, [IPV6]:PORT or :PORT (e.g. 127.0.0.1:9090)",
		       addr);
		goto cleanup;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		np_err("metrics endpoint %s: socket() failed: %s", addr, strerror(errno));
		goto cleanup;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 512) < 0) {
		ret = -errno;
		np_err("metrics endpoint %s: cannot listen: %s; another process holds the port, or the address is not on this host: pick another with --metrics-address (or NETPOL_METRICS_ADDRESS)",
		       addr, strerror(errno));
		goto cleanup;
	}
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
		*port_out = ntohs(bound.ss_family == AF_INET ?
					  ((struct sockaddr_in *)&bound)->sin_port :
					  ((struct sockaddr_in6 *)&bound)->sin6_port);
cleanup:
	if (ret && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return ret ? ret : fd;
}

static bool same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

/* Cut a connection: MHD sees the end on its next run and closes it. */
static void evict(struct np_httpd_conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
	c->evicting = true;
}

/* The oldest live connection (of PEER's client when PEER is given) and how
 * many there are. */
static struct np_httpd_conn *oldest(struct np_httpd *h, const struct sockaddr_storage *peer,
				    size_t *n)
{
	struct np_httpd_conn *o = NULL;

	*n = 0;
	for (size_t i = 0; i < sizeof(h->conns) / sizeof(h->conns[0]); i++) {
		struct np_httpd_conn *c = &h->conns[i];

		if (!c->used || c->evicting || (peer && !same_client(&c->peer, peer)))
			continue;
		(*n)++;
		if (!o || c->seq < o->seq)
			o = c;
	}
	return o;
}

static void on_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct np_httpd *h = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		/* Inside MHD_add_connection: the slot being filled. */
		if (h->adding) {
			h->adding->conn = conn;
			*socket_ctx = h->adding;
		}
		return;
	}
	if (*socket_ctx) {
		memset(*socket_ctx, 0, sizeof(struct np_httpd_conn));
		*socket_ctx = NULL;
	}
}

static struct np_httpd_conn *free_slot(struct np_httpd *h)
{
	for (size_t i = 0; i < sizeof(h->conns) / sizeof(h->conns[0]); i++)
		if (!h->conns[i].used)
			return &h->conns[i];
	return NULL;
}

/* A new client: make room under the limits, then hand it to MHD, and let
 * MHD run at once.  Running MHD per connection (not once per accept batch)
 * matters under a flood from the probe's own address (a hostNetwork pod
 * shares the node's IP with kubelet): the new connection's request is read
 * and answered before the next accept can make it the oldest of its
 * client, and the connections evicted for it are closed (their slots freed
 * through on_notify) before the next accept needs a slot. */
static void take(struct np_httpd *h, int fd, const struct sockaddr_storage *peer, socklen_t plen)
{
	struct np_httpd_conn *slot = NULL, *o;
	size_t n;

	o = oldest(h, peer, &n);
	if (n >= NP_HTTPD_PER_CLIENT && o) {
		evict(o);
		h->evicted++;
	}
	o = oldest(h, NULL, &n);
	if (n >= NP_HTTPD_MAX_CONN && o) {
		evict(o);
		h->evicted++;
	}
	slot = free_slot(h);
	if (!slot) {
		/* Every slot is live or shut down but not yet closed: let MHD
		 * close the shut-down ones, then look again. */
		MHD_run(h->d);
		slot = free_slot(h);
	}
	if (!slot) {
		close(fd); /* every slot is still in use: refuse */
		h->evicted++;
		return;
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = true;
	slot->fd = fd;
	slot->since_ms = np_now_ms();
	slot->seq = ++h->next_seq;
	memcpy(&slot->peer, peer, sizeof(*peer));
	h->adding = slot;
	if (MHD_add_connection(h->d, fd, (const struct sockaddr *)peer, plen) != MHD_YES) {
		memset(slot, 0, sizeof(*slot)); /* MHD closed the socket */
		h->evicted++;
		np_dbg("http: libmicrohttpd refused a new connection (its limit or memory)");
	}
	h->adding = NULL;
	MHD_run(h->d);
}

static void on_accept(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct np_httpd *h = ctx;

	(void)loop, (void)events;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int c = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0)
			break; /* EAGAIN, or a transient error: the next readiness retries */
		take(h, c, &peer, plen);
	}
	service(h);
}

/* Connections past their total deadline are cut, however busy they look. */
static void on_deadline(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct np_httpd *h = ctx;
	uint64_t now = np_now_ms();
	bool cut = false;

	(void)t;
	for (size_t i = 0; i < sizeof(h->conns) / sizeof(h->conns[0]); i++) {
		struct np_httpd_conn *c = &h->conns[i];

		if (c->used && !c->evicting && now - c->since_ms > NP_HTTPD_DEADLINE_MS) {
			evict(c);
			h->timed_out++;
			cut = true;
		} else if (c->used && c->evicting && now - c->since_ms > 4 * NP_HTTPD_DEADLINE_MS) {
			/* MHD closes a shut-down socket at once (and would
			 * have told on_notify); never let a slot leak. */
			memset(c, 0, sizeof(*c));
		}
	}
	if (cut)
		service(h);
	np_timer_arm(loop, &h->deadline, NP_HTTPD_DEADLINE_MS / 5);
}

int np_httpd_start(struct np_httpd *h, struct np_loop *loop, const char *addr)
{
	const union MHD_DaemonInfo *info;
	int fd, ret = 0;

	snprintf(h->addr, sizeof(h->addr), "%s", addr);
	h->loop = loop;
	h->epfd = -1;
	h->listen_fd = -1;
	np_timer_init(&h->timer, on_timer, h);
	np_timer_init(&h->deadline, on_deadline, h);
	fd = listen_on(addr, &h->port);
	if (fd < 0)
		return fd;
	h->listen_fd = fd;
	/* MHD gets no listening socket: we accept (see take()).  Its own
	 * limit is far above ours, which decides: MHD still counts a closed
	 * connection until its next cleanup pass, and a limit near ours made
	 * it refuse the liveness probe under churn.  Its idle timeout stays as
	 * a second line behind the total deadline. */
	h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0, NULL,
				NULL, on_request, h,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(8 * NP_HTTPD_MAX_CONN),
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
				MHD_OPTION_NOTIFY_CONNECTION, on_notify, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	if (!h->d) {
		np_err("metrics endpoint %s: starting the HTTP server (libmicrohttpd, epoll mode) failed",
		       addr);
		ret = -EIO;
		goto cleanup;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		ret = -EIO;
		np_err("metrics endpoint %s: libmicrohttpd gave no epoll fd", addr);
		goto cleanup;
	}
	h->epfd = info->epoll_fd;
	ret = np_loop_fd_add(loop, h->epfd, EPOLLIN, on_epoll, h);
	if (ret) {
		np_err("metrics endpoint %s: adding it to the event loop failed: %s", addr,
		       strerror(-ret));
		h->epfd = -1;
		goto cleanup;
	}
	ret = np_loop_fd_add(loop, h->listen_fd, EPOLLIN, on_accept, h);
	if (ret) {
		np_err("metrics endpoint %s: adding the listening socket to the event loop failed: %s",
		       addr, strerror(-ret));
		goto cleanup;
	}
	np_timer_arm(loop, &h->deadline, NP_HTTPD_DEADLINE_MS / 5);
cleanup:
	if (ret)
		np_httpd_stop(h);
	return ret;
}

void np_httpd_stop(struct np_httpd *h)
{
	if (h->loop) {
		np_timer_cancel(h->loop, &h->timer);
		np_timer_cancel(h->loop, &h->deadline);
		if (h->epfd >= 0)
			np_loop_fd_del(h->loop, h->epfd);
		if (h->listen_fd >= 0)
			np_loop_fd_del(h->loop, h->listen_fd);
	}
	if (h->d)
		MHD_stop_daemon(h->d); /* closes the connections */
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	h->d = NULL;
	h->epfd = -1;
	h->listen_fd = -1;
}
