/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Durable marks: what the pipeline has reported for good, per flow, in a
 * pinned map that outlives the process.
 *
 * The kernel's pinned maps already hold every open connection's cumulative
 * counters and every denial aggregate.  What a kill -9 loses is the
 * agent's memory: which part of those counters its records covered, and
 * the records not yet written, spooled or acknowledged.  So, once every
 * sink holds a flow's record durably (sink.h pending_seq), the counters at
 * the end of that record are written to the pinned map np_flow_mark under
 * the flow's key.  A restarted agent reads each logged kernel entry, starts
 * its record from the mark (or from the flow's start when it has none) and
 * so reports exactly what no durable record covered: at least once, and a
 * repeat starts where the record it repeats started (same recordId).
 *
 * Marks are written at commit time, in the order their records were made;
 * kernel entries the agent expires are deleted only then too, so a kill
 * between the expiry and the record loses neither.
 */
#ifndef NP_FLOWMARK_H
#define NP_FLOWMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "flowagg.h"

#define NP_FLOW_MARK_MAP "np_flow_mark"

/* np_flow_key.deny of the one entry holding the pipeline's own counters. */
#define NP_FLOW_MARK_KEY_META 2

/* Value of np_flow_mark (key: struct np_flow_key). */
struct np_flow_mark {
	__u64 created;    /* the kernel entry's created (jiffies64): which flow */
	__u64 end_ns;     /* Unix ns: end of the last durable record */
	__u64 bytes[2];   /* cumulative at that end */
	__u32 packets[2];
	__u32 flags;      /* NP_FLOW_MARK_* */
	__u32 pad;
};
_Static_assert(sizeof(struct np_flow_mark) == 48, "np_flow_mark");
_Static_assert(sizeof(struct np_flow_key) == 48, "np_flow_key");

#define NP_FLOW_MARK_ENDED (1u << 0) /* the flow's last record is durable */

/* The META entry: the kernel's lost/suppressed event counters as far as
 * SKIPDATA records reported them (bytes[0], bytes[1]). */

enum np_flow_mark_op {
	NP_MARK_SET = 1,    /* write the mark */
	NP_MARK_EXPIRE = 2, /* delete the kernel entry (if still idle) and its mark */
	NP_MARK_META = 3,   /* write the META entry */
};

struct np_flow_mark_pending {
	uint64_t seq;       /* applied once every record up to seq is durable */
	struct np_flow_key key;
	struct np_flow_mark mark;
	uint64_t last_seen; /* NP_MARK_EXPIRE: the entry's last_seen when judged idle */
	uint8_t op;
};

struct np_flow_marks {
	int fd;              /* np_flow_mark; -1: marks off */
	int fd_ct, fd_deny;  /* the kernel maps the keys refer to */
	struct np_flow_mark_pending *q; /* FIFO ring */
	size_t head, n, cap;
	uint64_t written, deleted, failed, expired; /* for logs and tests */
};

void np_flow_marks_init(struct np_flow_marks *m, int fd, int fd_ct, int fd_deny);
void np_flow_marks_free(struct np_flow_marks *m);
bool np_flow_marks_on(const struct np_flow_marks *m);
/* Queue an operation for when records up to SEQ are durable.  0 or -ENOMEM
 * (the operation is then lost: at worst a repeated record after a crash,
 * or an idle entry the datapath expires itself). */
int np_flow_marks_push(struct np_flow_marks *m, const struct np_flow_mark_pending *p);
/* Apply every queued operation whose records are durable: seq < RESOLVED. */
void np_flow_marks_commit(struct np_flow_marks *m, uint64_t resolved);
/* Delete the marks of flows that are over: the flow's last record is
 * durable and its kernel entry is gone, or the entry now belongs to
 * another flow (another created), or the entry is gone and TRACKED says
 * the pipeline no longer follows the key.  TRACKED may be NULL. */
size_t np_flow_marks_sweep(struct np_flow_marks *m,
			   bool (*tracked)(void *ctx, const struct np_flow_key *k), void *ctx);
/* The mark of K, 0 or -ENOENT. */
int np_flow_marks_get(const struct np_flow_marks *m, const struct np_flow_key *k,
		      struct np_flow_mark *out);
int np_flow_marks_del(struct np_flow_marks *m, const struct np_flow_key *k);
void np_flow_marks_meta_key(struct np_flow_key *k);

#endif
