// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netpolctl: command-line tools around the netpol-agent datapath. */
#include <stdio.h>
#include <string.h>

#include "flowctl.h"
#include "log.h"
#include "verdict.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netpolctl [--log-level LEVEL] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  verdict   judge connections with the real BPF programs (netpolctl verdict --help)\n"
		"  flows     show and follow the flow records of this node (netpolctl flows --help)\n"
		"\n"
		"  --log-level LEVEL   error, warn (default), info or debug\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	np_log_hook_libbpf();
	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
			int level = np_log_level_parse(argv[i + 1]);

			if (level < 0) {
				fprintf(stderr, "netpolctl: --log-level: \"%s\" is not error, warn, info or debug\n",
					argv[i + 1]);
				return 2;
			}
			np_log_set_level(level);
			i += 2;
			continue;
		}
		usage(stderr);
		return 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "verdict") == 0)
		return np_verdict_main(argc - i, argv + i);
	if (strcmp(argv[i], "flows") == 0)
		return np_flows_main(argc - i, argv + i);
	fprintf(stderr, "netpolctl: unknown command \"%s\"\n", argv[i]);
	usage(stderr);
	return 2;
}
