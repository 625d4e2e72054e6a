// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * np-conn: a tiny, deterministic echo client/server for the end-to-end tests
 * and the demo (no netcat needed).
 *
 *   np-conn listen [--udp] PORT
 *       Bind [::]:PORT dual-stack (0.0.0.0 when IPv6 is unavailable) and
 *       serve forever.  TCP: every connection in its own process, echoing
 *       each line back until the peer closes (30 s idle limit).  UDP: echo
 *       every datagram.  Prints "listening ..." on stderr once bound.
 *
 *   np-conn connect [--udp] [--timeout-ms N] [--source ADDR] ADDR PORT
 *       Send "ping\n" and expect it echoed within N ms (default 2000) from
 *       the start.  Exit 0 on success, 1 on timeout, refusal, reset or a
 *       wrong answer (what happened goes to stderr), 2 on bad usage.
 *       --source binds the local address first (to test anti-spoofing).
 *
 *   np-conn hold [--udp] [--interval-ms N] [--duration-ms N] [--timeout-ms N]
 *                ADDR PORT
 *       One connection kept open for --duration-ms (default 3000): every
 *       --interval-ms (default 100) a numbered line goes out and must come
 *       back within --timeout-ms (default 1000).  Exit 0 when every exchange
 *       succeeded ("held ..."), 1 at the first that did not ("broken after
 *       ... ms at exchange N: ..."), 2 on bad usage.
 *
 *   np-conn fetch [--bytes N] [--timeout-ms N] ADDR PORT
 *       Ask the TCP server for N bytes (default 1048576, at most 64 MiB)
 *       with "fetch N\n" and check that all of them arrive, with the
 *       server's pattern, within N ms (default 10000): large answers, for
 *       the path MTU test.  Exit 0 ok, 1 failed (stalled, closed, wrong
 *       data), 2 usage.  The listener answers a first line "fetch N" this
 *       way and closes; any other connection is echoed.
 *
 *   np-conn syn --count N ADDR PORT
 *       Start N TCP connections at once (non-blocking connect: one SYN
 *       each, from N different source ports) and close them right away:
 *       a SYN flood in miniature, for the flow log tests.  Exit 0 once
 *       all N were sent, 1 when a socket could not be opened.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define PING "ping\n"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: np-conn listen [--udp] PORT\n"
		"       np-conn connect [--udp] [--timeout-ms N] [--source ADDR] [--source-port N] ADDR PORT\n"
		"       np-conn hold [--udp] [--interval-ms N] [--duration-ms N] [--timeout-ms N] [--source-port N] ADDR PORT\n"
		"       np-conn fetch [--bytes N] [--timeout-ms N] ADDR PORT\n"
		"       np-conn syn --count N ADDR PORT\n"
		"\n"
		"listen:  echo server on [::]:PORT (dual-stack); TCP: one line per connection\n"
		"connect: send \"ping\\n\", expect the echo; exit 0 ok, 1 failed, 2 usage\n"
		"hold:    one connection, a line echoed every interval for the duration;\n"
		"         exit 0 held, 1 broken (when and how on stderr), 2 usage\n"
		"fetch:   ask the server for N bytes (default 1 MiB) and check them all\n"
		"syn:     N connection attempts at once from N source ports, closed at once\n");
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);

	if (!end || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- listen ---- */

static int bind_any(int type, uint16_t port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				     .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, zero = 0;
	int fd;

	fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0)
			return fd;
		close(fd);
	}
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

#define FETCH_MAX (64L << 20)

/* Byte I of a fetch answer. */
static char fetch_byte(long i)
{
	return (char)(i % 251);
}

/* BUF[0..N) begins with "fetch N\n": send N pattern bytes.  1 when it
 * was a fetch (answered or not), 0 otherwise. */
static int serve_fetch(int c, const char *buf, ssize_t n)
{
	char line[32], chunk[16384];
	long want, sent = 0;
	char *end = NULL;
	ssize_t i;

	if (n < 7 || memcmp(buf, "fetch ", 6) != 0)
		return 0;
	for (i = 6; i < n && i < (ssize_t)sizeof(line) - 1 && buf[i] != '\n'; i++)
		;
	if (i >= n || buf[i] != '\n')
		return 1;
	memcpy(line, buf + 6, (size_t)(i - 6));
	line[i - 6] = '\0';
	want = strtol(line, &end, 10);
	if (!end || *end || want < 1 || want > FETCH_MAX)
		return 1;
	while (sent < want) {
		size_t k = sizeof(chunk);
		ssize_t w;

		if ((long)k > want - sent)
			k = (size_t)(want - sent);
		for (size_t j = 0; j < k; j++)
			chunk[j] = fetch_byte(sent + (long)j);
		w = send(c, chunk, k, MSG_NOSIGNAL);
		if (w <= 0)
			return 1;
		sent += w;
	}
	return 1;
}

static void serve_tcp_conn(int c)
{
	struct timeval tv = { .tv_sec = 30 };
	char buf[4096];
	bool first = true;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t n = recv(c, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		if (first && serve_fetch(c, buf, n))
			break;
		first = false;
		if (send(c, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			break;
	}
}

static int do_listen(bool udp, uint16_t port)
{
	int fd = bind_any(udp ? SOCK_DGRAM : SOCK_STREAM, port);
	int ret = EXIT_FAIL;

	if (fd < 0) {
		fprintf(stderr, "np-conn listen: binding %s port %u failed: %s\n",
			udp ? "UDP" : "TCP", port, strerror(-fd));
		goto cleanup;
	}
	if (!udp && listen(fd, 64) < 0) {
		perror("np-conn listen: listen");
		goto cleanup;
	}
	signal(SIGCHLD, SIG_IGN); /* children reaped automatically */
	fprintf(stderr, "listening %s %u\n", udp ? "udp" : "tcp", port);
	for (;;) {
		if (udp) {
			char buf[65536];
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &flen);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				perror("np-conn listen: recvfrom");
				goto cleanup;
			}
			sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
		} else {
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

			if (c < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				perror("np-conn listen: accept");
				goto cleanup;
			}
			/* One process per connection: held connections and
			 * one-shot probes are served side by side. */
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				close(fd);
				serve_tcp_conn(c);
				_exit(0);
			}
			close(c);
		}
	}
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- connect ---- */

/* Wait for EVENTS on FD until DEADLINE; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
	}
}

static const char *what(int err)
{
	switch (err) {
	case ETIMEDOUT:
		return "timed out (packets dropped?)";
	case ECONNREFUSED:
		return "refused (nothing listening, or ICMP unreachable)";
	case ECONNRESET:
		return "reset by peer";
	default:
		return strerror(err);
	}
}

/* A non-blocking socket connected to SS (from SRC when given), the TCP
 * handshake done by DEADLINE.  0 or a positive errno (ETIMEDOUT included). */
static int open_connected(const struct sockaddr_storage *ss, socklen_t len, bool udp,
			  const struct sockaddr_storage *src, socklen_t slen,
			  int64_t deadline, int *fd_out)
{
	int fd, err = 0;

	fd = socket(ss->ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (src) {
		int one = 1;

		/* The source need not be assigned here (spoofing tests). */
		setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)src, slen) < 0) {
			err = errno;
			goto cleanup;
		}
	}
	if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
		err = errno;
		goto cleanup;
	}
	if (!udp) {
		socklen_t elen = sizeof(err);

		err = -wait_fd(fd, POLLOUT, deadline);
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
cleanup:
	if (err)
		close(fd);
	else
		*fd_out = fd;
	return err;
}

/* Bind to PORT (tests match flow records to attempts by source port), on
 * the wildcard address of SS's family when ANY, else on SRC's address. */
static void set_source_port(struct sockaddr_storage *src, socklen_t *slen,
			    const struct sockaddr_storage *ss, bool any, uint16_t port)
{
	if (any) {
		memset(src, 0, sizeof(*src));
		src->ss_family = ss->ss_family;
		*slen = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	}
	if (src->ss_family == AF_INET6)
		((struct sockaddr_in6 *)src)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)src)->sin_port = htons(port);
}

/* The peer closed the connection before answering. */
#define EXCHANGE_CLOSED (-1)
/* The answer was not the line we sent. */
#define EXCHANGE_MISMATCH (-2)

/* Send LINE and wait for its echo until DEADLINE: 0, a positive errno, or
 * EXCHANGE_CLOSED / EXCHANGE_MISMATCH. */
static int echo_exchange(int fd, const char *line, size_t want, int64_t deadline)
{
	char buf[64];
	size_t got = 0;
	int err;

	if (want > sizeof(buf))
		return EINVAL;
	if (send(fd, line, want, MSG_NOSIGNAL) < 0)
		return errno;
	while (got < want) {
		ssize_t n;

		err = -wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EXCHANGE_CLOSED;
		got += (size_t)n;
	}
	return memcmp(buf, line, want) == 0 ? 0 : EXCHANGE_MISMATCH;
}

static int do_connect(bool udp, int timeout_ms, const char *source, uint16_t source_port,
		      const char *addr, uint16_t port)
{
	struct sockaddr_storage ss, src;
	socklen_t len, slen = 0;
	int64_t start = now_ms(), deadline = start + timeout_ms;
	int fd = -1, ret = EXIT_FAIL, err = 0;

	if (parse_addr(addr, port, &ss, &len)) {
		fprintf(stderr, "np-conn connect: \"%s\" is not an IPv4 or IPv6 address\n", addr);
		ret = EXIT_USAGE;
		goto cleanup;
	}
	if (source && (parse_addr(source, 0, &src, &slen) || src.ss_family != ss.ss_family)) {
		fprintf(stderr, "np-conn connect: --source \"%s\" is not an address of the same family as %s\n",
			source, addr);
		ret = EXIT_USAGE;
		goto cleanup;
	}
	if (source_port)
		set_source_port(&src, &slen, &ss, !source, source_port);
	err = open_connected(&ss, len, udp, source || source_port ? &src : NULL, slen, deadline, &fd);
	if (!err)
		err = echo_exchange(fd, PING, strlen(PING), deadline);
	if (err == EXCHANGE_CLOSED) {
		fprintf(stderr, "np-conn connect: %s port %u: closed before the echo arrived\n",
			addr, port);
		goto cleanup;
	}
	if (err == EXCHANGE_MISMATCH) {
		fprintf(stderr, "np-conn connect: %s port %u: unexpected answer\n", addr, port);
		goto cleanup;
	}
	if (err)
		goto fail;
	fprintf(stderr, "np-conn connect: %s %s port %u: echo ok in %lld ms\n",
		udp ? "UDP" : "TCP", addr, port, (long long)(now_ms() - start));
	ret = 0;
	goto cleanup;
fail:
	fprintf(stderr, "np-conn connect: %s %s port %u: %s after %lld ms\n",
		udp ? "UDP" : "TCP", addr, port, what(err),
		(long long)(now_ms() - start));
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- hold ---- */

static int do_hold(bool udp, int interval_ms, int duration_ms, int timeout_ms,
		   uint16_t source_port, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss, src;
	socklen_t len, slen = 0;
	int64_t start = now_ms(), next;
	const char *proto = udp ? "UDP" : "TCP";
	long seq = 0;
	int fd = -1, err = 0, ret = EXIT_FAIL;

	if (parse_addr(addr, port, &ss, &len)) {
		fprintf(stderr, "np-conn hold: \"%s\" is not an IPv4 or IPv6 address\n", addr);
		return EXIT_USAGE;
	}
	if (source_port)
		set_source_port(&src, &slen, &ss, true, source_port);
	err = open_connected(&ss, len, udp, source_port ? &src : NULL, slen, start + timeout_ms, &fd);
	if (err)
		goto fail;
	for (next = now_ms(); next - start <= duration_ms; next += interval_ms) {
		char line[64];
		size_t want;

		while (now_ms() < next)
			usleep(1000);
		want = (size_t)snprintf(line, sizeof(line), "hold %ld\n", ++seq);
		err = echo_exchange(fd, line, want, now_ms() + timeout_ms);
		if (err == EXCHANGE_CLOSED) {
			fprintf(stderr, "np-conn hold: %s %s port %u: broken after %lld ms at exchange %ld: closed by the peer\n",
				proto, addr, port, (long long)(now_ms() - start), seq);
			goto cleanup;
		}
		if (err == EXCHANGE_MISMATCH) {
			fprintf(stderr, "np-conn hold: %s %s port %u: broken at exchange %ld: unexpected answer\n",
				proto, addr, port, seq);
			goto cleanup;
		}
		if (err)
			goto fail;
	}
	fprintf(stderr, "np-conn hold: %s %s port %u: held %lld ms, %ld exchanges ok\n",
		proto, addr, port, (long long)(now_ms() - start), seq);
	ret = 0;
	goto cleanup;
fail:
	fprintf(stderr, "np-conn hold: %s %s port %u: broken after %lld ms at exchange %ld: %s\n",
		proto, addr, port, (long long)(now_ms() - start), seq, what(err));
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- fetch ---- */

static int do_fetch(long bytes, int timeout_ms, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int64_t start = now_ms(), deadline = start + timeout_ms;
	char req[32], buf[16384];
	long got = 0;
	int fd = -1, err, ret = EXIT_FAIL;
	size_t rl;

	if (parse_addr(addr, port, &ss, &len)) {
		fprintf(stderr, "np-conn fetch: \"%s\" is not an IPv4 or IPv6 address\n", addr);
		return EXIT_USAGE;
	}
	err = open_connected(&ss, len, false, NULL, 0, deadline, &fd);
	if (err)
		goto fail;
	rl = (size_t)snprintf(req, sizeof(req), "fetch %ld\n", bytes);
	if (send(fd, req, rl, MSG_NOSIGNAL) < 0) {
		err = errno;
		goto fail;
	}
	while (got < bytes) {
		ssize_t n;

		err = -wait_fd(fd, POLLIN, deadline);
		if (err)
			goto fail;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			err = errno;
			goto fail;
		}
		if (n == 0) {
			fprintf(stderr, "np-conn fetch: %s port %u: closed after %ld of %ld bytes\n",
				addr, port, got, bytes);
			goto cleanup;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != fetch_byte(got + i)) {
				fprintf(stderr, "np-conn fetch: %s port %u: wrong byte at offset %ld\n",
					addr, port, got + (long)i);
				goto cleanup;
			}
		got += n;
	}
	fprintf(stderr, "np-conn fetch: TCP %s port %u: fetched %ld bytes in %lld ms\n",
		addr, port, got, (long long)(now_ms() - start));
	ret = 0;
	goto cleanup;
fail:
	fprintf(stderr, "np-conn fetch: TCP %s port %u: %s after %lld ms, %ld of %ld bytes\n",
		addr, port, what(err), (long long)(now_ms() - start), got, bytes);
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- syn ---- */

static int do_syn(long count, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int *fds = calloc((size_t)count, sizeof(int));
	long opened = 0;
	int ret = EXIT_FAIL;

	if (!fds || parse_addr(addr, port, &ss, &len)) {
		fprintf(stderr, "np-conn syn: \"%s\" is not an IPv4 or IPv6 address\n", addr);
		goto cleanup;
	}
	for (; opened < count; opened++) {
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			fprintf(stderr, "np-conn syn: socket: %s\n", strerror(errno));
			goto cleanup;
		}
		fds[opened] = fd;
		if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
			fprintf(stderr, "np-conn syn: connect: %s\n", strerror(errno));
			opened++;
			goto cleanup;
		}
	}
	/* Let the SYNs leave before the sockets go away. */
	usleep(200 * 1000);
	fprintf(stderr, "np-conn syn: %ld SYNs sent to %s port %u\n", count, addr, port);
	ret = 0;
cleanup:
	for (long i = 0; fds && i < opened; i++)
		close(fds[i]);
	free(fds);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "udp", no_argument, NULL, 'u' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "source-port", required_argument, NULL, 'p' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmd, *source = NULL;
	bool udp = false;
	long timeout_ms = 2000, interval_ms = 100, duration_ms = 3000, count = 0;
	long bytes = 1L << 20;
	bool timeout_set = false;
	uint16_t port, source_port = 0;
	int opt;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	cmd = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			udp = true;
			break;
		case 'c':
		case 't':
		case 'i':
		case 'd': {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);

			if (!end || *end || v < 1 || v > 600000) {
				fprintf(stderr, "np-conn: --%s \"%s\" is not 1..600000\n",
					opt == 't' ? "timeout-ms" : opt == 'i' ? "interval-ms"
					: opt == 'c' ? "count" : "duration-ms",
					optarg);
				return EXIT_USAGE;
			}
			if (opt == 'c') {
				count = v;
			} else if (opt == 't') {
				timeout_ms = v;
				timeout_set = true;
			} else if (opt == 'i') {
				interval_ms = v;
			} else {
				duration_ms = v;
			}
			break;
		}
		case 'b': {
			char *end = NULL;

			bytes = strtol(optarg, &end, 10);
			if (!end || *end || bytes < 1 || bytes > FETCH_MAX) {
				fprintf(stderr, "np-conn: --bytes \"%s\" is not 1..%ld\n", optarg, FETCH_MAX);
				return EXIT_USAGE;
			}
			break;
		}
		case 's':
			source = optarg;
			break;
		case 'p':
			if (parse_port(optarg, &source_port)) {
				fprintf(stderr, "np-conn: --source-port \"%s\" is not a port (1..65535)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (strcmp(cmd, "listen") == 0 && optind == argc - 1 && !source) {
		if (parse_port(argv[optind], &port)) {
			fprintf(stderr, "np-conn listen: \"%s\" is not a port (1..65535)\n", argv[optind]);
			return EXIT_USAGE;
		}
		return do_listen(udp, port);
	}
	if (strcmp(cmd, "connect") == 0 && optind == argc - 2) {
		if (parse_port(argv[optind + 1], &port)) {
			fprintf(stderr, "np-conn connect: \"%s\" is not a port (1..65535)\n", argv[optind + 1]);
			return EXIT_USAGE;
		}
		return do_connect(udp, (int)timeout_ms, source, source_port, argv[optind], port);
	}
	if (strcmp(cmd, "hold") == 0 && optind == argc - 2 && !source) {
		if (parse_port(argv[optind + 1], &port)) {
			fprintf(stderr, "np-conn hold: \"%s\" is not a port (1..65535)\n", argv[optind + 1]);
			return EXIT_USAGE;
		}
		return do_hold(udp, (int)interval_ms, (int)duration_ms,
			       timeout_set ? (int)timeout_ms : 1000, source_port, argv[optind], port);
	}
	if (strcmp(cmd, "fetch") == 0 && optind == argc - 2 && !source && !udp) {
		if (parse_port(argv[optind + 1], &port)) {
			fprintf(stderr, "np-conn fetch: \"%s\" is not a port (1..65535)\n", argv[optind + 1]);
			return EXIT_USAGE;
		}
		return do_fetch(bytes, timeout_set ? (int)timeout_ms : 10000, argv[optind], port);
	}
	if (strcmp(cmd, "syn") == 0 && optind == argc - 2 && count > 0 && !source && !udp) {
		if (parse_port(argv[optind + 1], &port)) {
			fprintf(stderr, "np-conn syn: \"%s\" is not a port (1..65535)\n", argv[optind + 1]);
			return EXIT_USAGE;
		}
		return do_syn(count, argv[optind], port);
	}
	usage(stderr);
	return EXIT_USAGE;
}
