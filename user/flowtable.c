// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The aggregator's flow table: see flowtable.h. */
#include <stdlib.h>
#include <string.h>

#include "flowagg.h"
#include "flowtable.h"

_Static_assert(sizeof(struct np_flow_key) == 48, "np_flow_key is hashed as 6 words");

static uint64_t key_hash(const struct np_flow_table *t, const struct np_flow_key *k)
{
	uint64_t w[6], h = t->seed;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 6; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h;
}

static bool key_eq(const struct np_flow_key *a, const struct np_flow_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

void np_flow_table_init(struct np_flow_table *t)
{
	static uint64_t seeds;

	memset(t, 0, sizeof(*t));
	t->seed = ++seeds * 0xd6e8feb86659fd93ull;
}

void np_flow_table_free(struct np_flow_table *t)
{
	free(t->slots);
	free(t->used);
	memset(t, 0, sizeof(*t));
}

struct np_flow *np_flow_table_at(struct np_flow_table *t, size_t i)
{
	return t->used[i] ? &t->slots[i] : NULL;
}

static size_t find(const struct np_flow_table *t, const struct np_flow_key *k, bool *hit)
{
	size_t mask = t->cap - 1, i = key_hash(t, k) & mask;

	while (t->used[i]) {
		if (key_eq(&t->slots[i].key, k)) {
			*hit = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*hit = false;
	return i;
}

struct np_flow *np_flow_table_get(struct np_flow_table *t, const struct np_flow_key *k)
{
	bool hit;
	size_t i;

	if (!t->count)
		return NULL;
	i = find(t, k, &hit);
	return hit ? &t->slots[i] : NULL;
}

/* Load factor at most 3/4: still short probes with this hash, and a
 * quarter of the memory of 1/2 for 100,000 flows. */
static int grow(struct np_flow_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	struct np_flow_table n = { .cap = cap, .seed = t->seed };

	n.slots = malloc(cap * sizeof(*n.slots));
	n.used = calloc(cap, 1);
	if (!n.slots || !n.used) {
		free(n.slots);
		free(n.used);
		return -1;
	}
	for (size_t i = 0; i < t->cap; i++) {
		bool hit;
		size_t j;

		if (!t->used[i])
			continue;
		j = find(&n, &t->slots[i].key, &hit);
		n.slots[j] = t->slots[i];
		n.used[j] = 1;
	}
	n.count = t->count;
	free(t->slots);
	free(t->used);
	*t = n;
	return 0;
}

struct np_flow *np_flow_table_upsert(struct np_flow_table *t, const struct np_flow_key *k,
				     bool *created)
{
	bool hit = false;
	size_t i;

	*created = false;
	if ((t->count + 1) * 4 > t->cap * 3 && grow(t))
		return NULL;
	i = find(t, k, &hit);
	if (hit)
		return &t->slots[i];
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	t->slots[i].key = *k;
	t->used[i] = 1;
	t->count++;
	*created = true;
	return &t->slots[i];
}

void np_flow_table_del_at(struct np_flow_table *t, size_t i)
{
	size_t mask = t->cap - 1, j = i;

	if (!t->used[i])
		return;
	t->used[i] = 0;
	t->count--;
	/* Backward shift: move later members of the probe run into the hole
	 * when their home slot does not lie between the hole and them. */
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!t->used[j])
			return;
		home = key_hash(t, &t->slots[j].key) & mask;
		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		t->slots[i] = t->slots[j];
		t->used[i] = 1;
		t->used[j] = 0;
		i = j;
	}
}
