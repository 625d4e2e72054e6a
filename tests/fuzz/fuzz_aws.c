// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: what AWS endpoints answer (STS XML, container / IMDS JSON
 * credentials, PutLogEvents and error bodies), endpoint URLs and times. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "awscreds.h"
#include "cwbatch.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_aws_creds cr;
	struct np_cw_rejected rej;
	char *s, type[128], msg[256], err[600];
	int64_t t;

	np_log_set_level(NP_LOG_ERROR);
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&cr, 0, sizeof(cr));
	if (np_awscreds_parse_sts(s, &cr) == 0)
		np_aws_creds_clear(&cr);
	memset(&cr, 0, sizeof(cr));
	if (np_awscreds_parse_json(s, &cr) == 0)
		np_aws_creds_clear(&cr);
	np_cw_parse_accepted(s, 64, &rej);
	np_cw_parse_error(s, type, sizeof(type), msg, sizeof(msg));
	np_aws_url_check(s, true, err, sizeof(err));
	np_iso8601_parse(s, &t);
	free(s);
	return 0;
}
