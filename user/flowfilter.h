/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Filters over flow records (JSON objects as written by flowrec.c), as
 * `netpolctl flows` takes them: by pod, namespace, IP or CIDR, port,
 * protocol, action, direction, policy and time.  Every criterion given must
 * match; pod, namespace, IP and port match either end of the flow.
 */
#ifndef NP_FLOWFILTER_H
#define NP_FLOWFILTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "model.h"

struct np_flow_filter {
	const char *pod_ns, *pod_name; /* pod_ns NULL: any namespace */
	const char *ns;
	bool has_cidr;
	struct np_cidr cidr;
	int port;       /* -1: any */
	int proto;      /* -1: any */
	const char *action;    /* "ACCEPT", "REJECT", "AUDIT" or NULL */
	const char *direction; /* "ingress", "egress" or NULL */
	const char *policy;    /* "ns/name" or NULL */
	int64_t since;  /* Unix seconds; records ending before are skipped; 0: all */
	char pod_ns_buf[254];
};

/* Set one criterion from the option NAME (without "--") and its VALUE.
 * 0, or -EINVAL with MSG naming the option and what is wrong. */
int np_flow_filter_set(struct np_flow_filter *f, const char *name, const char *value,
		       int64_t now, char *msg, size_t msglen);
void np_flow_filter_init(struct np_flow_filter *f);
bool np_flow_filter_match(const struct np_flow_filter *f, const json_t *rec);

/* "30s", "10m", "2h", "1d" -> seconds; -EINVAL when malformed. */
int np_parse_duration(const char *s, int64_t *seconds);

#endif
