// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: a watch response body cut into chunks where the input says,
 * each event applied to the object cache as the client does (ADDED,
 * MODIFIED, DELETED, of any kind), then a snapshot.  Input: the first
 * byte seeds the chunk sizes, the rest is the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *ctx, json_t *ev)
{
	struct np_kubecache *c = ctx;
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	enum np_kind kind = NP_KIND_POD;
	const char *k = json_string_value(json_object_get(obj, "kind"));

	if (!type || !json_is_object(obj))
		return 0;
	if (k && !strcmp(k, "Namespace"))
		kind = NP_KIND_NAMESPACE;
	else if (k && !strcmp(k, "NetworkPolicy"))
		kind = NP_KIND_POLICY;
	if (!strcmp(type, "DELETED"))
		np_kubecache_delete(c, kind, obj);
	else
		np_kubecache_upsert(c, kind, obj);
	/* and the same object on the wrong resource: refused, never stored */
	np_kubecache_upsert(c, (enum np_kind)((kind + 1) % NP_KIND_MAX), obj);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_kstream s;
	struct np_kubecache c;
	struct np_objects snap;
	unsigned seed;
	size_t off = 1;

	if (size < 1)
		return 0;
	np_log_set_level(NP_LOG_ERROR);
	seed = data[0];
	if (np_kubecache_init(&c))
		return 0;
	np_kstream_init(&s, 1 << 16);
	while (off < size) {
		size_t n = 1 + (seed % 97);

		seed = seed * 1103515245u + 12345u;
		if (n > size - off)
			n = size - off;
		if (np_kstream_feed(&s, (const char *)data + off, n, on_event, &c) < 0)
			np_kstream_reset(&s); /* the client reconnects */
		off += n;
	}
	np_kstream_finish(&s);
	if (np_kubecache_snapshot(&c, NULL, &snap) == 0)
		np_objects_free(&snap);
	np_kstream_free(&s);
	np_kubecache_free(&c);
	return 0;
}
