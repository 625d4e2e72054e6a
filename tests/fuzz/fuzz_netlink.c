// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: rtnetlink datagrams through the monitor, route-answer and
 * qdisc parsers (the kernel sends these; parsed as untrusted anyway). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_nl_changes ch;
	void *p = malloc(size ? size : 1); /* exact size: ASan sees over-reads */
	int oif;

	if (!p)
		return 0;
	memcpy(p, data, size);
	memset(&ch, 0, sizeof(ch));
	np_nl_monitor_parse(p, size, &ch);
	np_nl_route_answer_parse(p, size, &oif);
	np_nl_clsact_parse(p, size, 3);
	free(p);
	return 0;
}
