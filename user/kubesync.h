/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's side of the Kubernetes API sync: configuration, waiting for
 * the initial lists, merging the API's objects with the files', and turning
 * watch changes into debounced recompiles.  Keeps agent.c to a few calls.
 */
#ifndef NP_KUBESYNC_H
#define NP_KUBESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "kube.h"

/* Changes arriving within this many ms of the first are applied together. */
#define NP_KUBE_DEBOUNCE_MS 5

/* Recompile and apply; 0 when the new state is in force. */
typedef int (*np_kube_apply_fn)(void *ctx, const char *why);

struct np_kube_sync {
	struct np_kubeconfig cfg;
	struct np_kube *kube;
	struct np_loop *loop;
	struct np_timer debounce;
	np_kube_apply_fn apply;
	void *ctx;
	bool started;        /* the agent applies changes now */
	bool ready;          /* the initial lists have been applied */
	bool pending;
	uint64_t first_arrival_ms; /* of the oldest change not applied yet */
	uint64_t applied_gen;
	double last_latency_ms; /* arrival -> maps updated, last change */
	double snapshot_ms;     /* building the object set, last reload */
};

/* Read the configuration (KUBECONFIG NULL: in-cluster) and start listing.
 * 0, or -errno with the reason logged. */
int np_kube_sync_start(struct np_kube_sync *s, struct np_loop *loop,
		       const char *kubeconfig, np_kube_apply_fn apply, void *ctx);
/* Run LOOP until every resource has been listed once, or SIGTERM/SIGINT
 * arrives on SIGFD (SIGHUP is read and ignored).  0 when synced, 1 on a
 * stop signal, -errno. */
int np_kube_sync_wait(struct np_kube_sync *s, int sigfd);
/* The objects to compile: the API's, plus FILES' objects the API does not
 * have (API objects win on the same kind, namespace and name). */
int np_kube_sync_objects(struct np_kube_sync *s, const struct np_objects *files,
			 struct np_objects *out);
/* The agent applied the initial state: from now on changes are applied,
 * and the agent is ready. */
void np_kube_sync_started(struct np_kube_sync *s);
void np_kube_sync_stop(struct np_kube_sync *s);

#endif
