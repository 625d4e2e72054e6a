// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: YAML and JSON bytes through the objects loader (files,
 * netpolctl -f), and the same bytes as one API object through the cache. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "log.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_objects o = { 0 };
	struct np_error err;
	json_error_t jerr;
	json_t *doc;

	np_log_set_level(NP_LOG_ERROR); /* run.sh closes stderr (-close_fd_mask=2) */
	if (np_objects_load_buffer(&o, "fuzz.yaml", (const char *)data, size, &err) == 0)
		np_objects_free(&o);
	doc = json_loadb((const char *)data, size, 0, &jerr);
	if (doc) {
		struct np_kubecache c;
		struct np_objects snap;

		if (np_kubecache_init(&c) == 0) {
			for (int k = 0; k < NP_KIND_MAX; k++)
				np_kubecache_upsert(&c, (enum np_kind)k, doc);
			if (np_kubecache_snapshot(&c, NULL, &snap) == 0)
				np_objects_free(&snap);
			np_kubecache_free(&c);
		}
		json_decref(doc);
	}
	return 0;
}
