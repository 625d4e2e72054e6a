/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The CloudWatch Logs sink: flow records -> PutLogEvents, on the event loop.
 *
 * Records flow through three places, always in this order of age:
 *   head  (memory, what the next batches are cut from)
 *   spool (disk segments, when head is full because CloudWatch is down,
 *          throttling or slower than the flows; and across restarts)
 *   tail  (memory, the newest; spilled to the spool every second or
 *          every NP_CW_SPILL_BYTES while the spool is in use)
 * A batch is sent when it is full, when its oldest record has waited the
 * flush delay, or at once while there is a backlog.  One PutLogEvents call
 * is in flight at a time, so batches arrive in order.
 *
 * Delivery is at least once: a batch whose answer was lost (timeout,
 * dropped connection, agent stopped while it was in flight) is sent again,
 * and CloudWatch then holds those events twice.
 *
 * Every record is counted (struct np_cw_stats):
 *   produced + reports + from_spool_at_start
 *     = shipped + rejected + dropped_* + in_memory + in_spool
 */
#ifndef NP_CWLOGS_H
#define NP_CWLOGS_H

#include <stdbool.h>
#include <stdint.h>

#include "awscreds.h"
#include "cwbatch.h"
#include "evloop.h"
#include "sink.h"

#define NP_CW_FLUSH_DELAY_MS_DEFAULT 5000u
#define NP_CW_QUEUE_MAX_BYTES_DEFAULT (8ull << 20)
#define NP_CW_SPOOL_MAX_BYTES_DEFAULT (256ull << 20)

struct np_cw_cfg {
	const char *region;       /* required */
	const char *endpoint;     /* NULL: https://logs.<region>.amazonaws.com */
	const char *group, *stream;
	const char *node;         /* in the records reporting drops */
	bool create;              /* CreateLogGroup/Stream when missing */
	const char *spool_dir;    /* NULL: memory only (back-pressure when full) */
	uint64_t spool_max_bytes; /* 0: NP_CW_SPOOL_MAX_BYTES_DEFAULT */
	uint32_t flush_delay_ms;  /* 0: NP_CW_FLUSH_DELAY_MS_DEFAULT */
	uint64_t queue_max_bytes; /* memory for records waiting; 0: default */
	long request_timeout_ms;  /* 0: 30 s */
	uint32_t retry_base_ms;   /* 0: 500 ms; doubled per attempt, jittered */
	uint32_t retry_max_ms;    /* 0: 30 s */
	uint32_t client_error_attempts; /* other 4xx: give up after; 0: 5 */
	struct np_cwbatch_limits limits; /* zeros: the service's */
	const struct np_awscreds_cfg *creds; /* NULL: from the environment */
	/* Embedded Metric Format: the flow records offered are counted and,
	 * half this long after an interval's first one (the pipeline hands an
	 * interval over at once), their EMF records are shipped.  0: off. */
	uint32_t emf_interval_ms;
	const char *cluster;      /* the ClusterName dimension */
};

struct np_cw_stats {
	uint64_t produced;         /* records offered and accepted */
	uint64_t reports;          /* records the shipper made: SKIPDATA, EMF */
	uint64_t from_spool_at_start; /* records a previous run left in the spool */
	uint64_t shipped;          /* accepted by CloudWatch */
	uint64_t rejected;         /* refused in a 200 answer (too old/new) */
	uint64_t dropped_spool;    /* oldest deleted because the spool was full */
	uint64_t dropped_failed;   /* batches given up on after client errors */
	uint64_t dropped_oversize; /* records longer than an event may be */
	uint64_t dropped_corrupt;  /* in spool segments that could not be read */
	uint64_t dropped_shutdown; /* still in memory at exit with no spool */
	uint64_t in_memory, in_spool;
	uint64_t spool_bytes;      /* bytes of the spool's segments on disk */
	uint64_t spooled;          /* records ever written to the spool */
	uint64_t requests, retries, bytes_sent, bytes_uncompressed;
	uint64_t cred_refreshes;
};

/* The sink; NULL on failure (logged).  Its flush() runs the event loop
 * (np_loop_once) until delivered or the timeout, then, with a spool, puts
 * what is left on disk: call it after np_loop_run() returned, never from a
 * loop callback. */
struct np_sink *np_cw_new(struct np_loop *loop, const struct np_cw_cfg *cfg);
void np_cw_get_stats(struct np_sink *s, struct np_cw_stats *out);
/* One line "produced=.. shipped=.. ..." for logs and tools. */
void np_cw_stats_str(const struct np_cw_stats *st, char *buf, size_t sz);

#endif
