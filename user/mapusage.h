/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * How full a BPF map is: entries counted by walking it (batched lookups
 * where the map type supports them, key iteration otherwise), capacity from
 * the kernel's map info.  Used by the agent's metrics sampler and by
 * `netpolctl status` on the pinned maps.  Walking a 512k-entry conntrack map
 * takes a few hundred milliseconds, so the agent does it on a timer, never
 * per scrape.
 */
#ifndef NP_MAPUSAGE_H
#define NP_MAPUSAGE_H

#include <stdbool.h>
#include <stdint.h>

struct np_map_usage {
	char name[32];
	uint32_t type;        /* BPF_MAP_TYPE_* */
	uint64_t entries;     /* counted (0 for ring buffers and arrays) */
	uint64_t capacity;    /* max_entries (ring buffer: bytes) */
	bool counted;         /* false: entries are not meaningful (array, ring buffer) */
};

/* Fill U for the map FD.  0 or -errno. */
int np_map_usage(int fd, struct np_map_usage *u);

#endif
