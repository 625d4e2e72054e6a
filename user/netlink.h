/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Minimal rtnetlink queries: which interface an address is routed through,
 * which interfaces carry default routes, and interface names/flags.
 * Each call opens and closes its own NETLINK_ROUTE socket, so callers need
 * no state; all of them work in the caller's network namespace.
 */
#ifndef NP_NETLINK_H
#define NP_NETLINK_H

#include <stdbool.h>
#include <stddef.h>

#include "netpol.h"

/* Output interface of the route the kernel picks for A (an RTM_GETROUTE
 * lookup, IPv4-mapped addresses are looked up as IPv4).  0 with *IFINDEX
 * set; -ENETUNREACH / -EHOSTUNREACH when there is no usable route or the
 * route is not unicast (local, blackhole, unreachable, prohibit); other
 * -errno on netlink failure. */
int np_route_oif(const struct np_addr *a, int *ifindex);

/* Is there a clsact qdisc on IFINDEX?  0 or -errno. */
int np_tc_has_clsact(int ifindex, bool *yes);

/* Interfaces that carry a default route (main table, IPv4 and IPv6, every
 * nexthop of multipath routes).  Writes at most MAX ifindexes to OUT and
 * their count to *N (duplicates removed).  0 or -errno. */
int np_route_default_oifs(int *out, size_t max, size_t *n);

/* Name and loopback flag of IFINDEX.  0, -ENODEV when it does not exist, or
 * -errno. */
int np_link_info(int ifindex, char *name, size_t name_len, bool *loopback);

/* Number of tc filters on IFINDEX's clsact ingress (or egress) hook, ours
 * included.  0 or -errno (-EINVAL/-ENOENT: no clsact). */
int np_tc_filter_count(int ifindex, bool ingress, size_t *n);

/* Is there a clsact qdisc on IFINDEX?  0 or -errno. */
int np_tc_has_clsact(int ifindex, bool *yes);

/* Interfaces that carry a /32 or /128 unicast route of the main table (a
 * CNI's host route to a pod), IPv4 and IPv6.  0 or -errno. */
int np_route_host_oifs(int *out, size_t max, size_t *n);

/* A non-blocking NETLINK_ROUTE socket subscribed to link and IPv4/IPv6
 * route changes.  fd or -errno. */
int np_nl_monitor_open(void);

struct np_nl_changes {
	size_t links, routes;  /* messages seen */
	int gone[64];          /* ifindexes of RTM_DELLINK */
	size_t n_gone;
	bool overflow;         /* messages were lost: resync everything */
};

/* Drain FD, adding what it carried to *CH.  0 or -errno. */
int np_nl_monitor_read(int fd, struct np_nl_changes *ch);
/* One datagram of the monitor (LEN bytes at BUF, as received: untrusted),
 * added to *CH.  Exposed for tests and fuzzing. */
void np_nl_monitor_parse(const void *buf, size_t len, struct np_nl_changes *ch);
/* The answer to a route lookup: *OIF (0 when none), returns rtm_type. */
int np_nl_route_answer_parse(const void *buf, size_t len, int *oif);
/* A qdisc dump: is there a clsact qdisc on IFINDEX? */
bool np_nl_clsact_parse(const void *buf, size_t len, int ifindex);

#endif
