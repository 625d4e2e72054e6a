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

/* Interfaces that carry a default route (main table, IPv4 and IPv6, every
 * nexthop of multipath routes).  Writes at most MAX ifindexes to OUT and
 * their count to *N (duplicates removed).  0 or -errno. */
int np_route_default_oifs(int *out, size_t max, size_t *n);

/* Name and loopback flag of IFINDEX.  0, -ENODEV when it does not exist, or
 * -errno. */
int np_link_info(int ifindex, char *name, size_t name_len, bool *loopback);

#endif
