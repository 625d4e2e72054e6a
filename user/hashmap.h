/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A small open-addressing hash map from byte strings to byte strings of
 * fixed sizes chosen at creation.  Used to mirror BPF map contents and to
 * intern canonical keys.  Not thread-safe. */
#ifndef NP_HASHMAP_H
#define NP_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct np_hashmap {
	size_t key_size;   /* 0: variable-length keys (NUL-terminated strings) */
	size_t value_size;
	size_t cap;        /* slots, power of two */
	size_t count;
	size_t tombstones;
	uint64_t seed;     /* per-table hash seed, see table_hash() */
	unsigned char *state; /* 0 empty, 1 used, 2 deleted */
	uint64_t *hashes;
	void **keys;       /* owned copies */
	unsigned char *values;
};

int np_hashmap_init(struct np_hashmap *m, size_t key_size, size_t value_size);
void np_hashmap_free(struct np_hashmap *m);
void np_hashmap_clear(struct np_hashmap *m);
/* Insert or overwrite.  0 or -ENOMEM. */
int np_hashmap_put(struct np_hashmap *m, const void *key, const void *value);
/* Pointer to the stored value (valid until the next put/del), or NULL. */
void *np_hashmap_get(const struct np_hashmap *m, const void *key);
bool np_hashmap_del(struct np_hashmap *m, const void *key);

/* Iteration: for (size_t it = 0; np_hashmap_next(m, &it, &k, &v);) */
bool np_hashmap_next(const struct np_hashmap *m, size_t *it, const void **key,
		     void **value);

uint64_t np_hash_bytes(const void *data, size_t len);

#endif
