/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow record sinks on the node: standard output, or a local file with
 * size-based rotation.  Rotated files are gzip-compressed (zlib) in the
 * background as PATH.1.gz (newest) .. PATH.K.gz (oldest); older ones are
 * removed.
 *
 * Whole lines only: each batch is one write() of complete lines; a write
 * that fails part-way is cut back to the last complete line, and a file
 * left with a partial last line (power loss) is repaired when opened.  So a
 * reader never sees half a record.
 */
#ifndef NP_FILESINK_H
#define NP_FILESINK_H

#include <stdint.h>

#include "sink.h"

struct np_filesink_opts {
	const char *path;     /* "-" = standard output */
	uint64_t max_bytes;   /* rotate when the file reaches this; 0: never */
	unsigned int keep;    /* rotated files kept (PATH.1.gz .. PATH.keep.gz) */
};

/* A new sink, or NULL with *ERR = -errno (logged, naming the path). */
struct np_sink *np_filesink_new(const struct np_filesink_opts *o, int *err);

/* Compress SRC into DST (gzip) via DST.tmp, fsync, rename; remove SRC.
 * 0 or -errno.  Exposed for tests. */
int np_gzip_file(const char *src, const char *dst);

#endif
