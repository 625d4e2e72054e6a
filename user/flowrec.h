/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow records as JSON lines, with the field names VPC Flow Logs users
 * query in CloudWatch Logs Insights (srcAddr, dstAddr, srcPort, dstPort,
 * protocol, packets, bytes, start, end, action, logStatus, tcpFlags,
 * flowDirection, interfaceId) and the Kubernetes context VPC Flow Logs
 * cannot give (srcPod, srcNamespace, dstPod, dstNamespace, policy,
 * policyRule, node).  README.md documents every field.
 */
#ifndef NP_FLOWREC_H
#define NP_FLOWREC_H

#include <stdint.h>

#include "flowagg.h"
#include "flowmeta.h"
#include "strbuf.h"

#define NP_FLOW_RECORD_VERSION 1

struct np_flow_rec_ctx {
	const struct np_flow_meta *meta; /* NULL: no Kubernetes context */
	const char *node;                /* NULL: field omitted */
	/* Host interface name of IFINDEX ("" when unknown). */
	const char *(*ifname)(void *ctx, uint32_t ifindex);
	void *ifname_ctx;
};

/* Append the record of R (no newline) to B. */
void np_flow_rec_json(struct np_strbuf *b, const struct np_flow_rec_ctx *c,
		      const struct np_flow_result *r);

/* A logStatus SKIPDATA record for [START_NS, END_NS): events the kernel
 * could not deliver (SKIPPED_EVENTS, ring buffer full or over the denial
 * event budget), records dropped on the node (DROPPED_RECORDS), and flows
 * whose kernel entry was evicted before their last counters were read
 * (EVICTED_FLOWS; their records end at the last counters read). */
void np_flow_rec_skipdata(struct np_strbuf *b, const struct np_flow_rec_ctx *c,
			  uint64_t start_ns, uint64_t end_ns, uint64_t lost_events,
			  uint64_t suppressed_events, uint64_t dropped_records,
			  uint64_t evicted_flows);
/* The record's recordId: 16 hex digits naming the flow (node, key, the
 * kernel entry's creation) and the point of its counters the record starts
 * at.  A record sent again, or repeated after a restart, has the same id;
 * the repeat then covers at least as much.  OUT: 17 bytes. */
void np_flow_rec_id(const struct np_flow_rec_ctx *c, const struct np_flow *f, char *out);

const char *np_flow_action_name(uint8_t verdict);
const char *np_flow_end_name(uint8_t end);

#endif
