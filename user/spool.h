/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The on-disk spool of flow records that could not be shipped yet.
 *
 * A spool is a directory of segments, each one gzip file (readable with
 * zcat) of lines "<ts_ms> <record JSON>\n", named
 *   seg-<seq, 20 digits>-<records>-<first ts_ms>-<last ts_ms>.gz
 * so order, size and what a segment holds are known without reading it.
 * The name is a claim, not a fact: the record count it gives is only an
 * estimate (at most what a segment may hold) until the segment is read,
 * and what is read is bounded by size, never by the name.  A batch larger
 * than one segment may be is cut into several.
 * Segments are written whole to a temporary name, fsynced, renamed and
 * the directory fsynced, one after the other: after a crash every segment
 * is complete, and the sequence numbers give the order to replay in.
 *
 * The total of segment sizes is bounded: writing past the bound deletes the
 * oldest segments first and says what they held (np_spool_drop), so the
 * caller can report the loss.  A segment being replayed (loaded) is never
 * deleted to make room: it is still owned by the shipper.
 */
#ifndef NP_SPOOL_H
#define NP_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"

struct np_spool_seg {
	char name[128];            /* the file's own name, as found or written */
	uint64_t seq;
	uint32_t nrecs;            /* real once loaded; before: the name's, capped */
	int64_t first_ts, last_ts; /* smallest and largest ts_ms */
	uint64_t bytes;            /* file size */
	bool loaded;               /* handed out by np_spool_load_oldest */
};

struct np_spool {
	char *dir;
	uint64_t max_bytes;
	uint64_t used_bytes;
	uint64_t records;          /* records in all segments */
	/* Records that segment names claimed but the contents did not hold
	 * (negative: held more), summed over the segments loaded: corrects a
	 * count taken from the names (records at open). */
	int64_t misnamed;
	struct np_spool_seg *segs; /* ascending seq */
	size_t n, cap;
};

/* What the bound made us delete. */
struct np_spool_drop {
	uint64_t records;
	uint32_t segments;
	int64_t first_ts, last_ts;
};

/* Open (creating DIR if needed) and index the segments already there (a
 * restart); leftover temporary files are removed. */
int np_spool_open(struct np_spool *sp, const char *dir, uint64_t max_bytes);
void np_spool_close(struct np_spool *sp);

/* Write RECS[0..N) as new segments (one, or several in order when they are
 * more than one segment may hold; all or none are written), after every
 * other one, or before every other one when FRONT (records older than the
 * spool's: what was in memory at shutdown).  Deletions the bound forced
 * are added to *DROP (which may then include RECS themselves when they
 * alone exceed the bound).  The records stay the caller's. */
int np_spool_write(struct np_spool *sp, const struct np_rec *recs, size_t n, bool front,
		   struct np_spool_drop *drop);

/* Read the oldest segment not yet loaded into *RECS (malloc'ed array of
 * malloc'ed lines) and mark it loaded; *SEQ names it for np_spool_remove.
 * -ENOENT when there is none.  A corrupt segment (unreadable, too big to be
 * one the spool wrote, no valid record) is renamed to *.bad, counted into
 * *DROP, and the next one is tried.  A bad record in a readable segment (a
 * NUL byte, empty, longer than an event may be, no timestamp) is skipped
 * and its count added to DROP->records; every record handed out holds
 * exactly LEN bytes and no NUL. */
int np_spool_load_oldest(struct np_spool *sp, struct np_rec **recs, size_t *n, uint64_t *seq,
			 struct np_spool_drop *drop);
/* The segment's records were delivered: delete it. */
int np_spool_remove(struct np_spool *sp, uint64_t seq);
/* Not delivered after all (shutdown): it is replayed next time. */
void np_spool_unload(struct np_spool *sp, uint64_t seq);

/* Segments not loaded. */
size_t np_spool_pending(const struct np_spool *sp);

#endif
