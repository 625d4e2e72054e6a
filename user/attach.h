/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Attaching the datapath to a pod's host-side interface: clsact qdisc,
 * np_pod_egress on its TC ingress hook (packets from the pod), np_pod_ingress
 * on its TC egress hook (packets to the pod), direct action.  The filters use
 * a fixed handle and priority (NP_TC_HANDLE / NP_TC_PRIORITY) so a restarted
 * agent replaces its own stale filters instead of stacking new ones.
 */
#ifndef NP_ATTACH_H
#define NP_ATTACH_H

#include <net/if.h>
#include <stdbool.h>

#define NP_TC_HANDLE 0x4e50 /* "NP" */
#define NP_TC_PRIORITY 1    /* first: policy runs before other classifiers */

struct np_attachment {
	int ifindex;
	char ifname[IF_NAMESIZE];
	bool created_qdisc; /* we created clsact: remove it on detach */
	bool ingress_hook;  /* np_pod_egress attached on TC ingress */
	bool egress_hook;   /* np_pod_ingress attached on TC egress */
};

/* Attach PROG_EGRESS (from the pod) and PROG_INGRESS (to the pod) to
 * IFINDEX, creating clsact if absent.  On error nothing stays attached
 * (and a clsact we created is removed); returns -errno. */
int np_attach(int ifindex, int prog_ingress, int prog_egress,
	      struct np_attachment *att);

/* Are both of our filters still on ATT's interface?  (Lets a resync skip
 * interfaces that need nothing, instead of re-creating hooks.) */
bool np_attach_intact(const struct np_attachment *att);

/* Remove what np_attach added.  An interface that is already gone counts
 * as detached.  Returns 0 or the first -errno (and still tries the rest). */
int np_detach(struct np_attachment *att);

#endif
