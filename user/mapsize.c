// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapsize.h"

struct size_opt {
	const char *name;
	size_t offset; /* of the __u32 in struct np_load_opts */
	int sync_map;  /* enum np_sync_map, or -1 */
	const char *option;
};

#define OPT(n, field, m) { n, offsetof(struct np_load_opts, field), m, "--map-size " n "=N" }

static const struct size_opt size_opts[] = {
	OPT("endpoints", max_endpoints, NP_SYNC_ENDPOINTS),
	OPT("ifaces", max_ifaces, NP_SYNC_IFACES),
	OPT("node-addrs", max_node_addrs, NP_SYNC_NODE_ADDRS),
	OPT("peers", max_peers, NP_SYNC_PEERS),
	OPT("ports", max_ports, NP_SYNC_PORTS),
	OPT("ct", max_ct, -1),
	OPT("ct-deny", max_ct_deny, -1),
	OPT("frags", max_frags, -1),
	OPT("events-bytes", ringbuf_bytes, -1),
	OPT("flow-deny", max_flow_deny, -1),
};

int np_map_size_parse(struct np_load_opts *o, const char *spec, char *err,
		      size_t errlen)
{
	const char *eq = strchr(spec, '=');
	char *end = NULL;
	unsigned long long n;

	if (!eq) {
		snprintf(err, errlen, "--map-size: \"%s\" is not NAME=N", spec);
		return -EINVAL;
	}
	errno = 0;
	n = strtoull(eq + 1, &end, 10);
	if (errno || !end || *end || end == eq + 1 || n == 0 || n > 0x7fffffffULL) {
		snprintf(err, errlen,
			 "--map-size: \"%s\": N must be a number from 1 to 2147483647",
			 spec);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(size_opts) / sizeof(size_opts[0]); i++) {
		if (strlen(size_opts[i].name) != (size_t)(eq - spec) ||
		    strncmp(size_opts[i].name, spec, (size_t)(eq - spec)) != 0)
			continue;
		*(__u32 *)((char *)o + size_opts[i].offset) = (__u32)n;
		return 0;
	}
	snprintf(err, errlen,
		 "--map-size: unknown map in \"%s\" (endpoints, ifaces, node-addrs, peers, ports, ct, ct-deny, frags, events-bytes, flow-deny)",
		 spec);
	return -EINVAL;
}

const char *np_map_size_help(void)
{
	return "      --map-size NAME=N  size of a BPF map, repeatable (defaults):\n"
	       "                         endpoints=65536 pod addresses, ifaces=65536 pod interfaces,\n"
	       "                         node-addrs=1024, peers=1048576 peer prefixes (all policy sets),\n"
	       "                         ports=1048576 port entries (all classes), ct=524288 connections,\n"
	       "                         ct-deny=65536 denied 5-tuples, frags=16384 fragmented datagrams,\n"
	       "                         events-bytes=4194304 ring buffer (a power of two),\n"
	       "                         flow-deny=65536 denial aggregates (flow logs)\n";
}

void np_map_size_limits(const struct np_load_opts *o,
			uint32_t limits[NP_SYNC_MAPS],
			const char *options[NP_SYNC_MAPS])
{
	for (size_t i = 0; i < sizeof(size_opts) / sizeof(size_opts[0]); i++) {
		int m = size_opts[i].sync_map;

		if (m < 0)
			continue;
		limits[m] = *(const __u32 *)((const char *)o + size_opts[i].offset);
		if (options)
			options[m] = size_opts[i].option;
	}
}

int np_mapsync_open(struct np_mapsync *s, const struct np_datapath *dp,
		    const struct np_load_opts *o)
{
	struct np_map_fds fds;
	uint32_t limits[NP_SYNC_MAPS] = { 0 };
	int err;

	fds.fd[NP_SYNC_ENDPOINTS] = dp->map_endpoints;
	fds.fd[NP_SYNC_IFACES] = dp->map_ifaces;
	fds.fd[NP_SYNC_NODE_ADDRS] = dp->map_node_addrs;
	fds.fd[NP_SYNC_PEERS] = dp->map_peers;
	fds.fd[NP_SYNC_PORTS] = dp->map_ports;
	fds.state = dp->map_state;
	np_map_size_limits(o, limits, NULL);
	err = np_mapsync_init(s, &fds, limits);
	if (!err)
		np_map_size_limits(o, limits, s->limit_option);
	return err;
}
