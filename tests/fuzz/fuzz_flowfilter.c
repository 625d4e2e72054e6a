// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: netpolctl flows' filter options and the flow records it reads.
 * Input: "name=value" lines up to an empty line, then a record (JSON). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flowfilter.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_flow_filter f;
	char *s, *p, *rec = NULL, msg[256];
	json_error_t jerr;
	json_t *r;
	int64_t d;

	np_log_set_level(NP_LOG_ERROR);
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	np_flow_filter_init(&f);
	for (p = s; p && *p;) {
		char *nl = strchr(p, '\n'), *eq;

		if (nl)
			*nl = '\0';
		if (!*p) {
			rec = nl ? nl + 1 : NULL;
			break;
		}
		eq = strchr(p, '=');
		if (eq) {
			*eq = '\0';
			np_flow_filter_set(&f, p, eq + 1, 1800000000, msg, sizeof(msg));
		}
		np_parse_duration(p, &d);
		p = nl ? nl + 1 : NULL;
	}
	if (rec) {
		r = json_loads(rec, 0, &jerr);
		if (r) {
			np_flow_filter_match(&f, r);
			json_decref(r);
		}
	}
	free(s);
	return 0;
}
