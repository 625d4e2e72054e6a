/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What flow records say about Kubernetes: which pod an address belongs to
 * (local or remote, from the object state the agent has), which policy and
 * rule a cookie stands for, which policies isolate a local pod.  Rebuilt
 * after every policy/pod change; it owns copies of every string, so it does
 * not depend on the lifetime of the objects or the compiled policy.
 */
#ifndef NP_FLOWMETA_H
#define NP_FLOWMETA_H

#include <stdint.h>

#include "compile.h"
#include "hashmap.h"
#include "model.h"

struct np_meta_pod {
	const char *ns, *name;
};

struct np_meta_rule {
	const char *policy; /* "ns/name" */
	const char *rule;   /* "ingress[0]" */
};

struct np_meta_ep {
	const char *ns, *name;
	const char *isolating[NP_DIR_MAX]; /* "ns/a,ns/b" or NULL when not isolated */
};

struct np_flow_meta {
	struct np_hashmap pods;  /* struct np_addr -> struct np_meta_pod */
	struct np_hashmap rules; /* uint32_t cookie -> struct np_meta_rule */
	struct np_hashmap eps;   /* uint32_t ep_id -> struct np_meta_ep */
	char **strs;             /* owned strings */
	size_t n_strs, cap_strs;
};

int np_flow_meta_build(struct np_flow_meta *m, const struct np_objects *objs,
		       const struct np_compiled *c);
void np_flow_meta_free(struct np_flow_meta *m);

const struct np_meta_pod *np_flow_meta_pod(const struct np_flow_meta *m, const struct np_addr *a);
const struct np_meta_rule *np_flow_meta_rule(const struct np_flow_meta *m, uint32_t cookie);
const struct np_meta_ep *np_flow_meta_ep(const struct np_flow_meta *m, uint32_t ep_id);

#endif
