/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where flow records go.  The flow pipeline (flowlog.c) hands each sink
 * batches of finished records; a sink is stdout, a local file with
 * rotation (filesink.c), or the CloudWatch Logs shipper.
 *
 * Back-pressure, not blocking: offer() takes what it can without waiting
 * and says how many; the pipeline keeps the rest in its own bounded queue
 * and offers them again later.  A slow sink therefore slows nothing in the
 * kernel path, and a record is either accepted (the sink then owns it and
 * must deliver it or count it as dropped) or still the pipeline's.
 */
#ifndef NP_SINK_H
#define NP_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* One finished record: a JSON object on one line, without the newline. */
struct np_rec {
	int64_t ts_ms;  /* event time (the record's start), Unix ms */
	uint32_t len;   /* strlen(line) */
	char *line;     /* malloc'ed; owned by whoever holds the record */
	/* The pipeline's sequence number (1, 2, ...), so a sink can say how
	 * far its records are durable (pending_seq); 0 for records that are
	 * not the pipeline's (a sink's own reports, records read back from
	 * the spool, which are durable already). */
	uint64_t seq;
};

struct np_sink_stats {
	uint64_t accepted;  /* records taken by offer() */
	uint64_t delivered; /* written / acknowledged by the destination */
	uint64_t dropped;   /* accepted but lost (and reported) */
};

struct np_sink {
	const char *name;   /* "stdout", "file", "cloudwatch" */
	/* Take ownership of a prefix of RECS[0..N): return its length (0..N).
	 * Never blocks. */
	size_t (*offer)(struct np_sink *s, struct np_rec *recs, size_t n);
	/* Deliver what is buffered; waits at most TIMEOUT_MS (shutdown). */
	int (*flush)(struct np_sink *s, int timeout_ms);
	void (*destroy)(struct np_sink *s);
	/* The seq of the oldest record taken that would be lost if the
	 * process were killed now (not yet written, spooled or
	 * acknowledged), or UINT64_MAX when there is none.  NULL: every
	 * record is durable once offer() took it (a write(2) to a file
	 * survives the process).  Lets the pipeline tell the kernel-side
	 * marks which flows are reported for good (flowmark.h). */
	uint64_t (*pending_seq)(struct np_sink *s);
	struct np_sink_stats stats;
};

static inline void np_rec_free(struct np_rec *r)
{
	free(r->line);
	r->line = NULL;
	r->len = 0;
}

#endif
