/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Applies compiled policy to the BPF maps as a minimal diff against what the
 * maps hold (mirrored in userspace), in an order that keeps every packet's
 * judgment consistent (old policy or new, never a mix; see DEVELOPERS.md).
 * Capacity is checked before the first write: an update that would not fit
 * is refused whole and the last good policy stays in force.  A write that
 * fails anyway is rolled back.
 */
#ifndef NP_MAPSYNC_H
#define NP_MAPSYNC_H

#include "compile.h"
#include "hashmap.h"

enum np_sync_map {
	NP_SYNC_ENDPOINTS,
	NP_SYNC_IFACES,
	NP_SYNC_NODE_ADDRS,
	NP_SYNC_PEERS,
	NP_SYNC_PORTS,
	NP_SYNC_MAPS,
};

struct np_map_fds {
	int fd[NP_SYNC_MAPS];
	int state; /* np_state array: the generation */
};

struct np_sync_stats {
	size_t upserts[NP_SYNC_MAPS];
	size_t deletes[NP_SYNC_MAPS];
	size_t entries[NP_SYNC_MAPS]; /* after the update */
};

struct np_iface_entry {
	uint32_t ifindex;
	struct np_iface val;
};

/* How mapsync writes, in the order that keeps packets consistent.  The
 * default writes the BPF maps; tests substitute one that checks every
 * intermediate state.  MAP is an enum np_sync_map; 0 or -errno. */
struct np_map_writer {
	int (*update)(void *ctx, int map, const void *key, const void *val);
	int (*del)(void *ctx, int map, const void *key); /* absent: 0 */
	int (*bump_gen)(void *ctx);
	void *ctx;
};

struct np_mapsync {
	struct np_map_writer writer;
	struct np_map_fds fds;
	uint32_t limit[NP_SYNC_MAPS];       /* max_entries of each map */
	const char *limit_option[NP_SYNC_MAPS]; /* flag that raises it */
	struct np_hashmap mirror[NP_SYNC_MAPS];
	/* What the maps hold, by set and class, so an apply only diffs the
	 * sets whose peer entries changed and writes only new classes. */
	struct np_hashmap set_digests; /* set id -> digest of its entries */
	struct np_hashmap classes;     /* class ids written */
};

const char *np_sync_map_name(enum np_sync_map m);

int np_mapsync_init(struct np_mapsync *s, const struct np_map_fds *fds,
		    const uint32_t limit[NP_SYNC_MAPS]);
void np_mapsync_free(struct np_mapsync *s);

/* Make the maps hold exactly C (and IFACES when non-NULL; NULL leaves the
 * interface map as it is), then bump the generation.  0 or -errno with ERR
 * filled; on error the maps hold the previous policy. */
int np_mapsync_apply(struct np_mapsync *s, const struct np_compiled *c,
		     const struct np_iface_entry *ifaces, size_t n_ifaces,
		     struct np_sync_stats *stats, struct np_error *err);

/* Fill the mirror from what the maps hold now (after a restart with pinned
 * maps), so the next apply is a diff against reality. */
int np_mapsync_load_existing(struct np_mapsync *s);

int np_state_bump_gen(int state_fd);

void np_mapsync_set_writer(struct np_mapsync *s, const struct np_map_writer *w);

#endif
