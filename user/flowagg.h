/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow aggregation: kernel flow events in, one result per flow and interval
 * out.
 *
 * The kernel's counters are cumulative (in the conntrack entry, or in the
 * denial aggregate), so events only tell us which flows exist and when they
 * start and end; at every interval flush the counters are read again from
 * the kernel entry, and a flow's record carries what changed since its last
 * record.  A lost event therefore loses no count, and a flow that goes quiet
 * is still reported up to its last packet.
 *
 * Flows end on NP_EV_END/NP_EV_CUT, when their kernel entry is gone, or when
 * the entry has been idle past its conntrack timeout (the entry is then
 * removed, exactly as the datapath would on the next packet).  Denial
 * aggregates idle for two intervals are forgotten (and their kernel entry
 * removed).
 */
#ifndef NP_FLOWAGG_H
#define NP_FLOWAGG_H

#include <stdbool.h>
#include <stdint.h>

#include "flowtable.h"
#include "netpol.h"

struct np_flow_key {
	struct np_ct_key ct;
	uint8_t deny;   /* 1: a denial aggregate (np_flow_deny), client port 0 */
	uint8_t pad[3];
};

struct np_flow_counts {
	uint64_t bytes[2];   /* [0] origin direction, [1] replies */
	uint32_t packets[2];
};

/* Why a flow's last record is its last (np_flow.end). */
enum np_flow_end_user {
	NP_FLOW_END_NONE = 0,
	NP_FLOW_END_FIN = NP_END_FIN,
	NP_FLOW_END_RST = NP_END_RST,
	NP_FLOW_END_TIMEOUT = NP_END_TIMEOUT,
	NP_FLOW_END_CUT = 10, /* a policy change cut it */
	NP_FLOW_END_GONE = 11, /* its kernel entry was evicted */
	NP_FLOW_END_REPLACED = 12, /* a new connection reused the 5-tuple */
};

struct np_flow {
	struct np_flow_key key;
	struct np_flow_counts cur; /* latest cumulative */
	struct np_flow_counts rep; /* cumulative at the last record */
	uint64_t first_ns;       /* Unix ns of the first packet (or first sight) */
	uint64_t last_ns;        /* Unix ns of the last change seen */
	uint64_t idle_since_ms;  /* np_now_ms() when the counters last moved */
	uint64_t kernel_last_seen; /* the entry's last_seen at the last read */
	uint64_t created;        /* the entry's created (jiffies64), 0 until read: with
				  * the key it names the flow across restarts */
	uint32_t cookie, ep_id;
	uint8_t origin, verdict, reason, state;
	uint8_t tcp_flags;       /* NP_FLOW_TCP_* seen since the flow started */
	uint8_t end;             /* enum np_flow_end_user */
	uint8_t flow_bits;       /* NP_FLOW_* */
	uint16_t eph_port;       /* denial aggregates: network order, 0 if several */
	bool fresh;              /* started since the last flush */
	bool ended;
	bool recovered;          /* taken over from the kernel after a restart:
				  * its first record may repeat one sent before */
};

/* One record's worth: the flow, what moved during the interval, and when. */
struct np_flow_result {
	const struct np_flow *flow;
	struct np_flow_counts delta;
	uint8_t tcp_flags;  /* flags seen from the flow's start to the interval's end */
	uint64_t start_ns, end_ns; /* Unix ns */
};

typedef void (*np_flow_result_cb)(void *ctx, const struct np_flow_result *r);

/* Reads (and removes) kernel entries; the agent's is over the BPF maps,
 * tests bring their own. */
struct np_flow_source {
	/* 0 with *V filled, or -ENOENT when the entry is gone. */
	int (*lookup)(void *ctx, const struct np_flow_key *k, struct np_ct_val *v);
	/* Remove the entry if its last_seen is still LAST_SEEN. */
	void (*expire)(void *ctx, const struct np_flow_key *k, uint64_t last_seen);
	void *ctx;
};

struct np_flow_agg_opts {
	uint32_t interval_s;
	/* conntrack timeouts, seconds */
	uint32_t to_tcp_syn_s, to_tcp_est_s, to_tcp_close_s, to_other_s, to_icmp_s;
};

struct np_flow_agg {
	struct np_flow_agg_opts o;
	struct np_flow_table flows;
	struct np_flow *done;      /* ended and replaced before a flush */
	size_t n_done, cap_done;
	uint64_t events;           /* events taken */
	uint64_t gone;             /* flows whose entry vanished before their end:
				    * evicted, their last counters unread */
	uint64_t late_new;         /* NEW events of flows already taken over */
	struct np_flow_source src; /* the kernel, for events (np_flow_agg_set_source) */
	bool has_src;
};

int np_flow_agg_init(struct np_flow_agg *a, const struct np_flow_agg_opts *o);
void np_flow_agg_free(struct np_flow_agg *a);
/* Let events consult the kernel entries (a NEW event for a flow taken over
 * from the kernel: the same connection, or a new one reusing its 5-tuple). */
void np_flow_agg_set_source(struct np_flow_agg *a, const struct np_flow_source *src);
/* Take one event seen at Unix time EV_NS.  0 or -ENOMEM. */
int np_flow_agg_event(struct np_flow_agg *a, const struct np_flow_event *ev, uint64_t ev_ns,
		      uint64_t now_ms);
/* Close the interval [START_NS, END_NS): refresh every flow from SRC (may be
 * NULL: events only), call CB for each flow with something to report, drop
 * ended flows.  FINAL: the agent is stopping, report every flow. */
void np_flow_agg_flush(struct np_flow_agg *a, const struct np_flow_source *src,
		       uint64_t start_ns, uint64_t end_ns, uint64_t now_ms, bool final,
		       np_flow_result_cb cb, void *ctx);
size_t np_flow_agg_count(const struct np_flow_agg *a);
/* Take over the kernel entry V of flow K after a restart (flowrecover.c):
 * the flow is created, or merged with what the ring buffer's leftover
 * events made of it.  REP: the counters a durable record already covered
 * (from its mark), or NULL when none did; FIRST_NS/LAST_NS: Unix ns of its
 * first and last packet.  0 or -ENOMEM. */
int np_flow_agg_adopt(struct np_flow_agg *a, const struct np_flow_key *k, const struct np_ct_val *v,
		      const struct np_flow_counts *rep, uint64_t first_ns, uint64_t last_ns,
		      uint64_t now_ms);
/* The flow of K, or NULL. */
struct np_flow *np_flow_agg_find(struct np_flow_agg *a, const struct np_flow_key *k);

#endif
