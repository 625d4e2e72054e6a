/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's one event loop: epoll for file descriptors, a handful of
 * one-shot timers on CLOCK_MONOTONIC.  Everything the agent waits for (signals,
 * inotify, rtnetlink, the flow ring buffer, curl multi sockets of the
 * Kubernetes watches and the CloudWatch shipper) is a callback here, so
 * nothing polls and nothing needs a thread.
 *
 * Callbacks may add, modify or remove any fd or timer, their own included.
 */
#ifndef NP_EVLOOP_H
#define NP_EVLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct np_loop;
struct np_timer;

/* EVENTS: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits as returned by epoll. */
typedef void (*np_fd_cb)(struct np_loop *loop, int fd, uint32_t events, void *ctx);
typedef void (*np_timer_cb)(struct np_loop *loop, struct np_timer *t, void *ctx);

struct np_timer {
	uint64_t due_ms;   /* np_now_ms() at which it fires */
	np_timer_cb cb;
	void *ctx;
	bool armed;
};

struct np_loop_fd; /* private */

struct np_loop {
	int epfd;
	struct np_loop_fd **fds; /* indexed by fd; NULL when not registered */
	size_t cap_fds;
	struct np_timer **timers; /* armed timers, unordered */
	size_t n_timers, cap_timers;
	struct np_loop_fd *dead;  /* removed during dispatch, freed after it */
	bool stop;
	int ret;
};

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t np_now_ms(void);

int np_loop_init(struct np_loop *loop);
void np_loop_free(struct np_loop *loop);

/* Register FD (once) for EVENTS (EPOLLIN, EPOLLOUT).  -EEXIST if already. */
int np_loop_fd_add(struct np_loop *loop, int fd, uint32_t events, np_fd_cb cb, void *ctx);
int np_loop_fd_mod(struct np_loop *loop, int fd, uint32_t events);
/* Forget FD; no more callbacks for it, even later in this dispatch. */
void np_loop_fd_del(struct np_loop *loop, int fd);
bool np_loop_fd_registered(const struct np_loop *loop, int fd);

void np_timer_init(struct np_timer *t, np_timer_cb cb, void *ctx);
/* (Re)arm T to fire once, AFTER_MS from now. */
int np_timer_arm(struct np_loop *loop, struct np_timer *t, uint64_t after_ms);
void np_timer_cancel(struct np_loop *loop, struct np_timer *t);

/* Dispatch until np_loop_stop(); returns the value given to it, or -errno
 * when epoll itself fails. */
int np_loop_run(struct np_loop *loop);
/* One round: wait at most MAX_WAIT_MS (-1: until something happens),
 * dispatch what is ready.  0 or -errno. */
int np_loop_once(struct np_loop *loop, int max_wait_ms);
void np_loop_stop(struct np_loop *loop, int ret);

#endif
