/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * CloudWatch Embedded Metric Format records: per flow interval, counts of
 * accepted, rejected and audit flows per direction and per policy, as log
 * events CloudWatch turns into metrics (namespace NetpolAgent by default)
 * that alarms can watch, e.g. RejectedFlows{ClusterName, Policy, Direction}.
 *
 * One EMF document carries one value per metric and dimension set, so an
 * interval gives one record per direction (dimensions ClusterName+Direction
 * and ClusterName+Node+Direction) and one per policy and direction that
 * saw flows (ClusterName+Policy+Direction).  Dimensions are deliberately
 * low-cardinality: never addresses or ports (each combination is a billed
 * custom metric); policies beyond NP_EMF_MAX_POLICIES are counted under
 * "other".
 */
#ifndef NP_EMF_H
#define NP_EMF_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

#define NP_EMF_MAX_POLICIES 64
#define NP_EMF_NAMESPACE_DEFAULT "NetpolAgent"

enum np_emf_dir { NP_EMF_INGRESS = 0, NP_EMF_EGRESS = 1, NP_EMF_NDIR };
enum np_emf_action { NP_EMF_ACCEPT = 0, NP_EMF_REJECT = 1, NP_EMF_AUDIT = 2, NP_EMF_NACT };

struct np_emf_policy {
	char *name; /* "namespace/name" */
	uint64_t n[NP_EMF_NDIR][NP_EMF_NACT];
};

/* One interval's counts; fill n[][] and policies directly, or through
 * np_emf_count() / np_emf_count_record(). */
struct np_emf_counts {
	const char *metric_namespace; /* NULL: NP_EMF_NAMESPACE_DEFAULT */
	const char *cluster, *node;
	uint64_t n[NP_EMF_NDIR][NP_EMF_NACT];
	struct np_emf_policy *policies;
	size_t n_policies, cap_policies;
};

/* Count one flow of ACTION in DIR, attributed to POLICY (NULL: none). */
int np_emf_count(struct np_emf_counts *c, enum np_emf_dir dir, enum np_emf_action act,
		 const char *policy);
/* Count a flow record line (fields flowDirection, action, policy, where
 * policy may list several as "ns/a,ns/b"); records that are not flows
 * (SKIPDATA, EMF) are ignored.  1 counted, 0 ignored, -EINVAL / -ENOMEM. */
int np_emf_count_record(struct np_emf_counts *c, const char *line, size_t len);
/* Zero the counts and forget the policies (names stay set). */
void np_emf_reset(struct np_emf_counts *c);

/* The interval's EMF records (timestamp TS_MS) into *OUT (malloc'ed array
 * of *N records, each line malloc'ed).  0 or -ENOMEM. */
int np_emf_records(const struct np_emf_counts *c, int64_t ts_ms, struct np_rec **out, size_t *n);

#endif
