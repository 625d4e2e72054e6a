// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Map usage: see mapusage.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "mapusage.h"

#define BATCH 4096

/* Hash maps: BPF_MAP_LOOKUP_BATCH, BATCH entries per system call.  -EINVAL or
 * -ENOTSUPP/-EOPNOTSUPP for map types without batch support. */
static int count_batch(int fd, const struct bpf_map_info *info, uint64_t *n)
{
	void *keys = NULL, *vals = NULL;
	__u64 in = 0, out = 0;
	bool first = true;
	uint64_t total = 0;
	int ret = 0;
	size_t vsize = info->value_size;

	if (info->type == BPF_MAP_TYPE_PERCPU_HASH || info->type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
		return -EOPNOTSUPP; /* values per CPU: not worth the memory here */
	keys = malloc((size_t)BATCH * info->key_size);
	vals = malloc((size_t)BATCH * vsize);
	if (!keys || !vals) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		__u32 count = BATCH;
		int err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL);

		if (err && errno != ENOENT) {
			ret = -errno;
			goto cleanup;
		}
		total += count;
		if (err) /* ENOENT: that was the last batch */
			break;
		in = out;
		first = false;
	}
	*n = total;
cleanup:
	free(keys);
	free(vals);
	return ret;
}

static int count_keys(int fd, const struct bpf_map_info *info, uint64_t *n)
{
	unsigned char *a = malloc(info->key_size), *b = malloc(info->key_size);
	void *prev = NULL;
	uint64_t total = 0;
	int ret = 0;

	if (!a || !b) {
		ret = -ENOMEM;
		goto cleanup;
	}
	/* Bounded: a map being rewritten while we walk it cannot loop us. */
	while (total <= (uint64_t)info->max_entries * 2 &&
	       bpf_map_get_next_key(fd, prev, prev == a ? b : a) == 0) {
		prev = prev == a ? b : a;
		total++;
	}
	if (errno != ENOENT && total <= (uint64_t)info->max_entries * 2)
		ret = -errno;
	*n = total;
cleanup:
	free(a);
	free(b);
	return ret;
}

int np_map_usage(int fd, struct np_map_usage *u)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int ret;

	memset(u, 0, sizeof(*u));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	memcpy(u->name, info.name, sizeof(info.name) < sizeof(u->name) ? sizeof(info.name) : sizeof(u->name));
	u->name[sizeof(u->name) - 1] = '\0';
	u->type = info.type;
	u->capacity = info.max_entries;
	switch (info.type) {
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_RINGBUF:
		return 0; /* fixed size: nothing to count */
	default:
		break;
	}
	u->counted = true;
	ret = -EOPNOTSUPP;
	if (info.type == BPF_MAP_TYPE_HASH || info.type == BPF_MAP_TYPE_LRU_HASH)
		ret = count_batch(fd, &info, &u->entries);
	if (ret)
		ret = count_keys(fd, &info, &u->entries);
	return ret;
}
