// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * yaml2json: YAML documents on standard input -> one JSON object per line
 * (null documents skipped), with the agent's own YAML reader (yamljson.c:
 * strict, duplicate keys refused).  For the manifest checks of
 * tests/ops/manifests.sh, which then run jq over the objects.
 * Exit status 0, 1 on a parse error (line and column on stderr).
 */
#include <stdio.h>
#include <stdlib.h>

#include "yamljson.h"

int main(void)
{
	char *buf = NULL, err[256];
	size_t len = 0, cap = 0, i;
	json_t *docs, *d;
	int ret = 0;

	for (;;) {
		size_t got;

		if (len + 65536 > cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 131072);

			if (!nb) {
				fprintf(stderr, "yaml2json: out of memory\n");
				free(buf);
				return 1;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, stdin);
		len += got;
		if (!got)
			break;
	}
	docs = np_yaml_parse(buf ? buf : "", len, err, sizeof(err));
	if (!docs) {
		fprintf(stderr, "yaml2json: %s\n", err);
		ret = 1;
		goto cleanup;
	}
	json_array_foreach(docs, i, d) {
		char *s;

		if (json_is_null(d))
			continue;
		s = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		free(s);
	}
	json_decref(docs);
cleanup:
	free(buf);
	return ret;
}
