/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * CloudWatch Logs PutLogEvents batches, as pure functions (no I/O): which
 * records fit in one call, the JSON body, its gzip, and what the answer
 * says (rejected events, error type and message).
 *
 * Service limits (PutLogEvents API reference): 1..10,000 events; at most
 * 1,048,576 bytes counted as each message's UTF-8 bytes + 26; events in
 * chronological order; first and last event less than 24 h apart.
 */
#ifndef NP_CWBATCH_H
#define NP_CWBATCH_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

#define NP_CW_MAX_EVENTS 10000u
#define NP_CW_MAX_BYTES 1048576u
#define NP_CW_EVENT_OVERHEAD 26u
#define NP_CW_MAX_SPAN_MS (24LL * 3600 * 1000 - 1)
/* One event's message at most (256 KiB event size, overhead included). */
#define NP_CW_MAX_MESSAGE (262144u - NP_CW_EVENT_OVERHEAD)

struct np_cwbatch_limits {
	uint32_t max_events;  /* NP_CW_MAX_EVENTS or less (tests, bench) */
	uint32_t max_bytes;   /* NP_CW_MAX_BYTES or less */
};

/* How many records from the start of RECS[0..N) form one valid batch
 * (at least 1 when N > 0 and RECS[0] is not oversized); *BYTES gets the
 * batch size as the service counts it.  Records longer than
 * NP_CW_MAX_MESSAGE are never taken: the caller drops them (counted). */
size_t np_cwbatch_take(const struct np_rec *recs, size_t n, const struct np_cwbatch_limits *lim,
		       uint64_t *bytes);

/* The PutLogEvents JSON body for RECS[0..N), events sorted by timestamp
 * (stable: equal timestamps keep queue order).  -ENOMEM. */
int np_cwbatch_body(const char *group, const char *stream, const struct np_rec *recs, size_t n,
		    char **out, size_t *out_len);

/* A JSON document {"k1": "v1", ...} for CreateLogGroup / CreateLogStream. */
int np_cw_simple_body(const char *group, const char *stream, char **out, size_t *out_len);

/* Gzip (RFC 1952) IN[0..N) into a malloc'ed *OUT.  -ENOMEM / -EIO. */
int np_gzip(const void *in, size_t n, char **out, size_t *out_len);

/* Append S as a JSON string (quotes included) to the growable buffer. */
int np_json_str_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

/* rejectedLogEventsInfo of a 200 answer; -1 = absent. */
struct np_cw_rejected {
	int64_t too_new_start;  /* events [too_new_start, n) too new */
	int64_t too_old_end;    /* events [0, too_old_end) too old */
	int64_t expired_end;    /* events [0, expired_end) past retention */
};

/* Parse a PutLogEvents 200 answer (empty or "{}" is fine).  Returns the
 * number of rejected events of a batch of N, or -EINVAL when the answer is
 * not JSON. */
long np_cw_parse_accepted(const char *body, size_t n, struct np_cw_rejected *rej);

/* An error answer's "__type" (namespace prefix "...#" stripped) and
 * "message"/"Message" into TYPE and MSG (empty when absent). */
void np_cw_parse_error(const char *body, char *type, size_t type_sz, char *msg, size_t msg_sz);

#endif
