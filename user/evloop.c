// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The agent's event loop: see evloop.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "vec.h"

struct np_loop_fd {
	int fd;
	np_fd_cb cb;
	void *ctx;
	struct np_loop_fd *next_dead;
};

#define NP_LOOP_MAX_EVENTS 64

uint64_t np_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int np_loop_init(struct np_loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

static void free_dead(struct np_loop *loop)
{
	while (loop->dead) {
		struct np_loop_fd *d = loop->dead;

		loop->dead = d->next_dead;
		free(d);
	}
}

void np_loop_free(struct np_loop *loop)
{
	for (size_t i = 0; i < loop->cap_fds; i++)
		free(loop->fds[i]);
	free(loop->fds);
	free(loop->timers);
	free_dead(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

bool np_loop_fd_registered(const struct np_loop *loop, int fd)
{
	return fd >= 0 && (size_t)fd < loop->cap_fds && loop->fds[fd];
}

int np_loop_fd_add(struct np_loop *loop, int fd, uint32_t events, np_fd_cb cb, void *ctx)
{
	struct epoll_event ev = { .events = events };
	struct np_loop_fd *r;
	int ret = 0;

	if (fd < 0)
		return -EBADF;
	if (np_loop_fd_registered(loop, fd))
		return -EEXIST;
	if ((size_t)fd >= loop->cap_fds) {
		size_t cap = loop->cap_fds ? loop->cap_fds : 64;
		struct np_loop_fd **p;

		while (cap <= (size_t)fd)
			cap *= 2;
		p = realloc(loop->fds, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + loop->cap_fds, 0, (cap - loop->cap_fds) * sizeof(*p));
		loop->fds = p;
		loop->cap_fds = cap;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->cb = cb;
	r->ctx = ctx;
	ev.data.ptr = r;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		free(r);
		goto cleanup;
	}
	loop->fds[fd] = r;
cleanup:
	return ret;
}

int np_loop_fd_mod(struct np_loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (!np_loop_fd_registered(loop, fd))
		return -ENOENT;
	ev.data.ptr = loop->fds[fd];
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void np_loop_fd_del(struct np_loop *loop, int fd)
{
	struct np_loop_fd *r;

	if (!np_loop_fd_registered(loop, fd))
		return;
	r = loop->fds[fd];
	loop->fds[fd] = NULL;
	/* The fd may already be closed (curl closes before telling us):
	 * epoll then forgot it by itself. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* Events for it may still be in the batch being dispatched. */
	r->cb = NULL;
	r->next_dead = loop->dead;
	loop->dead = r;
}

void np_timer_init(struct np_timer *t, np_timer_cb cb, void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->ctx = ctx;
}

int np_timer_arm(struct np_loop *loop, struct np_timer *t, uint64_t after_ms)
{
	int ret;

	t->due_ms = np_now_ms() + after_ms;
	if (t->armed)
		return 0;
	ret = np_vec_push(&loop->timers, &loop->n_timers, &loop->cap_timers, &t);
	if (!ret)
		t->armed = true;
	return ret;
}

void np_timer_cancel(struct np_loop *loop, struct np_timer *t)
{
	if (!t->armed)
		return;
	for (size_t i = 0; i < loop->n_timers; i++) {
		if (loop->timers[i] == t) {
			loop->timers[i] = loop->timers[--loop->n_timers];
			break;
		}
	}
	t->armed = false;
}

void np_loop_stop(struct np_loop *loop, int ret)
{
	loop->stop = true;
	loop->ret = ret;
}

/* Fire every due timer; a callback may re-arm its own or others. */
static void run_timers(struct np_loop *loop)
{
	uint64_t now = np_now_ms();
	bool fired;

	do {
		fired = false;
		for (size_t i = 0; i < loop->n_timers; i++) {
			struct np_timer *t = loop->timers[i];

			if (t->due_ms > now)
				continue;
			np_timer_cancel(loop, t);
			t->cb(loop, t, t->ctx);
			fired = true;
			break; /* the array changed */
		}
	} while (fired && !loop->stop);
}

static int next_wait_ms(const struct np_loop *loop, int max_wait_ms)
{
	uint64_t now = np_now_ms();
	int64_t wait = max_wait_ms;

	for (size_t i = 0; i < loop->n_timers; i++) {
		int64_t d = loop->timers[i]->due_ms > now ? (int64_t)(loop->timers[i]->due_ms - now) : 0;

		if (wait < 0 || d < wait)
			wait = d;
	}
	return wait > 1000000 ? 1000000 : (int)wait;
}

int np_loop_once(struct np_loop *loop, int max_wait_ms)
{
	struct epoll_event evs[NP_LOOP_MAX_EVENTS];
	int n;

	n = epoll_wait(loop->epfd, evs, NP_LOOP_MAX_EVENTS, next_wait_ms(loop, max_wait_ms));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !loop->stop; i++) {
		struct np_loop_fd *r = evs[i].data.ptr;

		if (r->cb)
			r->cb(loop, r->fd, evs[i].events, r->ctx);
	}
	free_dead(loop);
	if (!loop->stop)
		run_timers(loop);
	return 0;
}

int np_loop_run(struct np_loop *loop)
{
	int ret;

	loop->stop = false;
	while (!loop->stop) {
		ret = np_loop_once(loop, -1);
		if (ret)
			return ret;
	}
	return loop->ret;
}
