// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

enum { SLOT_EMPTY = 0, SLOT_USED = 1, SLOT_DELETED = 2 };

/* FNV-1a followed by a final avalanche; keys are short. */
uint64_t np_hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static size_t key_len(const struct np_hashmap *m, const void *key)
{
	return m->key_size ? m->key_size : strlen(key) + 1;
}

/* Each table mixes its hashes with its own seed.  Without it, copying one
 * table into another in slot order (which diffing does all the time) feeds
 * keys grouped by their low hash bits into linear probing: huge clusters. */
static uint64_t table_hash(const struct np_hashmap *m, const void *key, size_t len)
{
	uint64_t h = np_hash_bytes(key, len) ^ m->seed;

	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

int np_hashmap_init(struct np_hashmap *m, size_t key_size, size_t value_size)
{
	static uint64_t seeds;

	memset(m, 0, sizeof(*m));
	m->seed = ++seeds * 0xd6e8feb86659fd93ull;
	m->key_size = key_size;
	m->value_size = value_size;
	return 0;
}

void np_hashmap_clear(struct np_hashmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->state[i] == SLOT_USED)
			free(m->keys[i]);
	if (m->cap) {
		memset(m->state, 0, m->cap);
	}
	m->count = 0;
	m->tombstones = 0;
}

void np_hashmap_free(struct np_hashmap *m)
{
	np_hashmap_clear(m);
	free(m->state);
	free(m->hashes);
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

static size_t find_slot(const struct np_hashmap *m, const void *key, size_t len,
			uint64_t h, bool *found)
{
	size_t mask = m->cap - 1;
	size_t i = h & mask;
	size_t first_free = (size_t)-1;

	*found = false;
	for (;;) {
		if (m->state[i] == SLOT_EMPTY)
			return first_free != (size_t)-1 ? first_free : i;
		if (m->state[i] == SLOT_DELETED) {
			if (first_free == (size_t)-1)
				first_free = i;
		} else if (m->hashes[i] == h &&
			   key_len(m, m->keys[i]) == len &&
			   memcmp(m->keys[i], key, len) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static int grow(struct np_hashmap *m)
{
	size_t new_cap = m->cap ? m->cap * 2 : 16;
	struct np_hashmap n = *m;
	int err = -ENOMEM;

	/* Rehash in place when tombstones, not live entries, fill the table. */
	if (m->cap && m->count * 2 < m->cap)
		new_cap = m->cap;
	n.cap = new_cap;
	n.count = 0;
	n.tombstones = 0;
	n.state = calloc(new_cap, 1);
	n.hashes = calloc(new_cap, sizeof(*n.hashes));
	n.keys = calloc(new_cap, sizeof(*n.keys));
	n.values = calloc(new_cap, m->value_size ? m->value_size : 1);
	if (!n.state || !n.hashes || !n.keys || !n.values)
		goto cleanup;
	for (size_t i = 0; i < m->cap; i++) {
		bool found;
		size_t j;

		if (m->state[i] != SLOT_USED)
			continue;
		j = find_slot(&n, m->keys[i], key_len(m, m->keys[i]),
			      m->hashes[i], &found);
		n.state[j] = SLOT_USED;
		n.hashes[j] = m->hashes[i];
		n.keys[j] = m->keys[i];
		memcpy(n.values + j * m->value_size,
		       m->values + i * m->value_size, m->value_size);
		n.count++;
	}
	free(m->state);
	free(m->hashes);
	free(m->keys);
	free(m->values);
	*m = n;
	return 0;
cleanup:
	free(n.state);
	free(n.hashes);
	free(n.keys);
	free(n.values);
	return err;
}

int np_hashmap_put(struct np_hashmap *m, const void *key, const void *value)
{
	size_t len = key_len(m, key);
	uint64_t h = table_hash(m, key, len);
	bool found;
	size_t i;
	int err;

	if ((m->count + m->tombstones + 1) * 4 > m->cap * 3) {
		err = grow(m);
		if (err)
			return err;
	}
	i = find_slot(m, key, len, h, &found);
	if (!found) {
		void *copy = malloc(len);

		if (!copy)
			return -ENOMEM;
		memcpy(copy, key, len);
		if (m->state[i] == SLOT_DELETED)
			m->tombstones--;
		m->state[i] = SLOT_USED;
		m->hashes[i] = h;
		m->keys[i] = copy;
		m->count++;
	}
	if (m->value_size)
		memcpy(m->values + i * m->value_size, value, m->value_size);
	return 0;
}

void *np_hashmap_get(const struct np_hashmap *m, const void *key)
{
	size_t len;
	bool found;
	size_t i;

	if (!m->cap)
		return NULL;
	len = key_len(m, key);
	i = find_slot(m, key, len, table_hash(m, key, len), &found);
	if (!found)
		return NULL;
	return m->values + i * m->value_size;
}

bool np_hashmap_del(struct np_hashmap *m, const void *key)
{
	size_t len;
	bool found;
	size_t i;

	if (!m->cap)
		return false;
	len = key_len(m, key);
	i = find_slot(m, key, len, table_hash(m, key, len), &found);
	if (!found)
		return false;
	free(m->keys[i]);
	m->keys[i] = NULL;
	m->state[i] = SLOT_DELETED;
	m->count--;
	m->tombstones++;
	return true;
}

bool np_hashmap_next(const struct np_hashmap *m, size_t *it, const void **key,
		     void **value)
{
	while (*it < m->cap) {
		size_t i = (*it)++;

		if (m->state[i] != SLOT_USED)
			continue;
		if (key)
			*key = m->keys[i];
		if (value)
			*value = m->values + i * m->value_size;
		return true;
	}
	return false;
}
