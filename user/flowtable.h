/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The aggregator's table of flows: open addressing with the flows stored
 * in the slots (no allocation per flow), a word-wise hash of the 48-byte
 * key, and backward-shift deletion (no tombstones), because a busy
 * interval inserts and deletes hundreds of thousands of flows.
 */
#ifndef NP_FLOWTABLE_H
#define NP_FLOWTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct np_flow;     /* flowagg.h */
struct np_flow_key;

struct np_flow_table {
	struct np_flow *slots;
	uint8_t *used;
	size_t cap;   /* power of two, or 0 */
	size_t count;
	uint64_t seed;
};

void np_flow_table_init(struct np_flow_table *t);
void np_flow_table_free(struct np_flow_table *t);
struct np_flow *np_flow_table_get(struct np_flow_table *t, const struct np_flow_key *k);
/* The flow for K, created zeroed (with its key set) when absent; *CREATED
 * tells which.  NULL when out of memory.  Pointers into the table stay
 * valid until the next insert or delete. */
struct np_flow *np_flow_table_upsert(struct np_flow_table *t, const struct np_flow_key *k,
				     bool *created);
/* Remove slot I (np_flow_table_at).  A later flow may move into slot I. */
void np_flow_table_del_at(struct np_flow_table *t, size_t i);
/* Slot I's flow, or NULL when the slot is empty; I < t->cap. */
struct np_flow *np_flow_table_at(struct np_flow_table *t, size_t i);

#endif
