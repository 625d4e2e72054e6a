// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See kubesync.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "kubesync.h"
#include "log.h"

static unsigned env_uint(const char *name)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return 0;
	n = strtoul(v, &end, 10);
	if (*end || n > 1000000000ul) {
		np_warn("%s=\"%s\" is not a number; using the default", name, v);
		return 0;
	}
	return (unsigned)n;
}

static void on_debounce(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct np_kube_sync *s = ctx;
	const struct np_kubecache *c = np_kube_cache(s->kube);
	uint64_t gen = c->generation, arrival = s->first_arrival_ms, start_ms;
	int ret;

	(void)loop, (void)t;
	s->pending = false;
	if (gen == s->applied_gen)
		return;
	start_ms = np_now_ms();
	s->snapshot_ms = 0;
	ret = s->apply(s->ctx, "API change");
	if (ret)
		return; /* logged by the agent; the last good state stays */
	s->applied_gen = gen;
	s->last_latency_ms = (double)(np_now_ms() - arrival);
	np_info("API change applied %.0f ms after the event arrived (waited %.0f ms to coalesce, object set %.0f ms, compile and maps %.0f ms; %zu namespaces, %zu pods, %zu policies cached)",
		s->last_latency_ms, (double)(start_ms - arrival), s->snapshot_ms,
		(double)(np_now_ms() - start_ms) - s->snapshot_ms,
		np_kubecache_count(c, NP_KIND_NAMESPACE), np_kubecache_count(c, NP_KIND_POD),
		np_kubecache_count(c, NP_KIND_POLICY));
}

static void on_change(void *ctx, uint64_t arrival_ms)
{
	struct np_kube_sync *s = ctx;

	if (!s->started || s->pending)
		return;
	s->pending = true;
	s->first_arrival_ms = arrival_ms;
	np_timer_arm(s->loop, &s->debounce, NP_KUBE_DEBOUNCE_MS);
}

int np_kube_sync_start(struct np_kube_sync *s, struct np_loop *loop,
		       const char *kubeconfig, np_kube_apply_fn apply, void *ctx)
{
	struct np_kube_opts o = { 0 };
	struct np_error err;
	int ret;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->apply = apply;
	s->ctx = ctx;
	np_timer_init(&s->debounce, on_debounce, s);
	/* NETPOL_KUBE_SA_DIR: tests only (the kubelet mounts the token at
	 * the standard place). */
	ret = kubeconfig ? np_kubeconfig_load(&s->cfg, kubeconfig, &err)
			 : np_kubeconfig_in_cluster(&s->cfg, getenv("NETPOL_KUBE_SA_DIR"), &err);
	if (ret) {
		np_err("%s", err.msg);
		return ret;
	}
	/* Tuning knobs, mostly for tests (not in --help; see README). */
	o.page_limit = env_uint("NETPOL_KUBE_PAGE_LIMIT");
	o.backoff_max_ms = env_uint("NETPOL_KUBE_BACKOFF_MAX_MS");
	o.token_reread_ms = env_uint("NETPOL_KUBE_TOKEN_REREAD_MS");
	o.loop = loop;
	o.cfg = &s->cfg;
	o.on_change = on_change;
	o.ctx = s;
	ret = np_kube_start(&s->kube, &o);
	if (ret) {
		np_err("starting the Kubernetes API client failed: %s", strerror(-ret));
		np_kubeconfig_free(&s->cfg);
		return ret;
	}
	np_info("API: syncing namespaces, pods and networkpolicies from %s (%s)",
		s->cfg.server, s->cfg.source);
	return 0;
}

struct wait_ctx {
	bool signalled;
};

/* SIGTERM/SIGINT end the wait; SIGHUP has nothing to reload yet. */
static void on_wait_signal(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;
	struct wait_ctx *w = ctx;

	(void)loop, (void)events;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		np_info("SIGHUP while waiting for the initial lists: nothing to reload yet");
		return;
	}
	np_info("%s while waiting for the initial lists: stopping", strsignal((int)si.ssi_signo));
	w->signalled = true;
}

int np_kube_sync_wait(struct np_kube_sync *s, int sigfd)
{
	struct wait_ctx w = { 0 };
	uint64_t t0 = np_now_ms(), next_note = t0 + 10000;
	int ret = 0;

	if (sigfd >= 0 && (ret = np_loop_fd_add(s->loop, sigfd, EPOLLIN, on_wait_signal, &w)))
		return ret;
	while (!np_kube_synced(s->kube) && !w.signalled) {
		ret = np_loop_once(s->loop, 1000);
		if (ret)
			break;
		if (np_now_ms() >= next_note) {
			np_info("still waiting for the initial lists from %s (%.0f s); the previous state (if any) stays in force",
				s->cfg.server, (double)(np_now_ms() - t0) / 1000);
			next_note = np_now_ms() + 30000;
		}
	}
	if (sigfd >= 0)
		np_loop_fd_del(s->loop, sigfd);
	if (ret)
		return ret;
	if (w.signalled)
		return 1;
	np_info("API: initial lists complete in %.0f ms", (double)(np_now_ms() - t0));
	return 0;
}

int np_kube_sync_objects(struct np_kube_sync *s, const struct np_objects *files,
			 struct np_objects *out)
{
	struct timespec t0, t1;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = np_kubecache_snapshot(np_kube_cache(s->kube), files, out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->snapshot_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			 (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;

	if (ret)
		np_err("building the object set from the API cache failed: %s", strerror(-ret));
	return ret;
}

void np_kube_sync_started(struct np_kube_sync *s)
{
	s->applied_gen = np_kube_cache(s->kube)->generation;
	s->started = true;
	s->ready = true;
	/* Changes that arrived between the snapshot and now. */
	on_change(s, np_now_ms());
}

void np_kube_sync_stop(struct np_kube_sync *s)
{
	struct np_kube_stats st;

	if (!s->kube)
		return;
	np_kube_get_stats(s->kube, &st);
	np_info("API: %llu requests (%llu lists, %llu watches), %llu events, %llu bytes, %llu re-lists, %llu errors",
		(unsigned long long)st.requests, (unsigned long long)st.list_requests,
		(unsigned long long)st.watch_requests, (unsigned long long)st.events,
		(unsigned long long)st.bytes, (unsigned long long)st.relists,
		(unsigned long long)st.errors);
	np_timer_cancel(s->loop, &s->debounce);
	np_kube_stop(s->kube);
	s->kube = NULL;
	np_kubeconfig_free(&s->cfg);
}
