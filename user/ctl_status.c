// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netpolctl status: see opsctl.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include <jansson.h>

#include "loader.h"
#include "log.h"
#include "mapusage.h"
#include "netpol.h"
#include "opsctl.h"
#include "opsctl_int.h"
#include "pkt.h"
#include "verdict.h"

/* ---- status ---- */

static void status_usage(FILE *f)
{
	fprintf(f,
		"usage: netpolctl status [--pin-path DIR] [--agent URL] [--output table|json]\n"
		"\n"
		"What the agent on this node enforces: attached interfaces, local pods and\n"
		"whether each direction is isolated (and by which policies), the policy\n"
		"generation and map usage (read from the pinned maps: true even while the\n"
		"agent is down), and the agent's health and readiness (its HTTP endpoint).\n"
		"\n" COMMON_HELP
		"Exit status: 0 the agent is ready, 1 not ready, unreachable or no pinned\n"
		"datapath, 2 bad usage.\n");
}

static const char *policies_of(json_t *agent_pod, const char *dir, char *buf, size_t len)
{
	json_t *iso = json_object_get(json_object_get(agent_pod, "isolatedBy"), dir);
	size_t i, off = 0;
	json_t *p;

	buf[0] = '\0';
	json_array_foreach(iso, i, p) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", json_string_value(p));

		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf;
}

int np_status_main(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	struct ctl c;
	json_t *out = json_object(), *agent_st = NULL, *names = NULL, *atts = json_array(),
	       *pods = json_array(), *maps = json_array(), *agent = json_object();
	char err[512] = "", err2[512] = "";
	struct np_strbuf body = { 0 };
	int opt, ret = 0, fd_att = -1, fd_if = -1, fd_ep = -1, fd_state = -1;
	long hst = 0, rst = 0;
	bool reachable, ready = false;
	static const char *const mapnames[] = { "np_endpoints", "np_ifaces", "np_node_addrs",
						"np_peers",     "np_ports",  "np_ct",
						"np_ct_deny",   "np_frags" };

	np_ctl_defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = np_ctl_opt(&c, opt, "status");

		if (r < 0)
			return EXIT_USAGE;
		if (r)
			continue;
		if (opt == 'h') {
			status_usage(stdout);
			return 0;
		}
		status_usage(stderr);
		return EXIT_USAGE;
	}
	/* The agent: health, readiness, names. */
	reachable = np_ctl_get(&c, "/healthz", &hst, &body, err, sizeof(err)) == 0;
	json_object_set_new(agent, "url", json_string(c.agent));
	json_object_set_new(agent, "reachable", json_boolean(reachable));
	if (reachable) {
		np_sb_reset(&body);
		np_ctl_get(&c, "/readyz", &rst, &body, err2, sizeof(err2));
		ready = rst == 200;
		json_object_set_new(agent, "healthy", json_boolean(hst == 200));
		json_object_set_new(agent, "ready", json_boolean(ready));
		if (body.p) {
			char *nl = strchr(body.p, '\n');

			/* The first line; the details (invalid objects) come
			 * from /debug/status. */
			if (nl)
				*nl = '\0';
			json_object_set_new(agent, "readyz", json_string(body.p));
		}
		agent_st = np_ctl_json(&c, "/debug/status", NULL, err2, sizeof(err2));
		names = np_ctl_json(&c, "/debug/names", NULL, err2, sizeof(err2));
		if (agent_st) {
			json_object_set(agent, "node", json_object_get(agent_st, "node"));
			json_object_set(agent, "policies", json_object_get(agent_st, "policies"));
			json_object_set(agent, "pods", json_object_get(agent_st, "pods"));
			json_object_set(agent, "enforcement", json_object_get(agent_st, "enforcement"));
			json_object_set(agent, "audit", json_object_get(agent_st, "audit"));
			json_object_set(agent, "uptimeSeconds", json_object_get(agent_st, "uptimeSeconds"));
			if (json_object_get(agent_st, "invalidObjects"))
				json_object_set(agent, "invalidObjects",
						json_object_get(agent_st, "invalidObjects"));
		} else {
			json_object_set_new(agent, "debugError", json_string(err2));
		}
	} else {
		json_object_set_new(agent, "error", json_string(err));
	}
	json_object_set_new(out, "agent", agent);
	json_object_set_new(out, "pinPath", json_string(c.pin_root));
	/* The datapath, from the pins. */
	fd_att = np_ctl_pinned_fd(&c, "attached", false);
	fd_if = np_ctl_pinned_fd(&c, "np_ifaces", true);
	fd_ep = np_ctl_pinned_fd(&c, "np_endpoints", true);
	fd_state = np_ctl_pinned_fd(&c, "np_state", true);
	if (fd_att < 0 || fd_if < 0 || fd_ep < 0 || fd_state < 0) {
		json_object_set_new(out, "datapath",
				    json_sprintf("no pinned datapath under %s/v%u (%s): is the agent installed with this --pin-path, and is /sys/fs/bpf mounted?",
						 c.pin_root, NP_PIN_LAYOUT_VERSION, strerror(errno)));
		ret = EXIT_UNREADABLE;
	} else {
		__u32 key, next, zero = 0;
		__u32 *prev = NULL;
		struct np_state st;

		if (bpf_map_lookup_elem(fd_state, &zero, &st) == 0)
			json_object_set_new(out, "generation", json_integer(st.gen));
		while (bpf_map_get_next_key(fd_att, prev, &next) == 0) {
			struct np_pin_att a;

			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(fd_att, &key, &a))
				continue;
			a.ifname[sizeof(a.ifname) - 1] = '\0';
			json_array_append_new(atts, json_pack("{s:i, s:s, s:b}", "ifindex", a.ifindex,
							      "interface", a.ifname, "createdQdisc",
							      a.created_qdisc));
		}
		prev = NULL;
		while (bpf_map_get_next_key(fd_if, prev, &next) == 0) {
			struct np_iface ifc;
			json_t *p, *addrs = json_array(), *agent_pod = NULL, *nm;
			char s[64], ifn[IF_NAMESIZE] = "", pol[1024], idbuf[16];
			bool iso[NP_DIR_MAX] = { false, false };
			size_t i;
			json_t *lp;

			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(fd_if, &key, &ifc))
				continue;
			for (__u32 k = 0; k < ifc.n_addrs && k < 2; k++) {
				struct np_endpoint ep;

				json_array_append_new(addrs, json_string(np_ctl_addr(&ifc.addrs[k], s, sizeof(s))));
				if (bpf_map_lookup_elem(fd_ep, &ifc.addrs[k], &ep) == 0)
					for (int d = 0; d < NP_DIR_MAX; d++)
						iso[d] = iso[d] || ep.set_id[d] != 0;
			}
			snprintf(idbuf, sizeof(idbuf), "%u", ifc.ep_id);
			nm = json_object_get(json_object_get(json_object_get(names, "endpoints"), idbuf), "pod");
			json_array_foreach(json_object_get(agent_st, "localPods"), i, lp)
				if (json_integer_value(json_object_get(lp, "endpointId")) == ifc.ep_id)
					agent_pod = lp;
			if_indextoname(key, ifn);
			p = json_pack("{s:i, s:s, s:o, s:I}", "ifindex", key, "interface", ifn, "addresses",
				      addrs, "endpointId", (json_int_t)ifc.ep_id);
			if (nm)
				json_object_set(p, "pod", nm);
			for (int d = 0; d < NP_DIR_MAX; d++) {
				const char *dn = d == NP_DIR_INGRESS ? "ingress" : "egress";
				json_t *dj = json_pack("{s:b}", "isolated", iso[d]);

				if (iso[d] && agent_pod)
					json_object_set_new(dj, "by", json_string(policies_of(agent_pod, dn, pol, sizeof(pol))));
				json_object_set_new(p, dn, dj);
			}
			json_array_append_new(pods, p);
		}
		for (size_t i = 0; i < sizeof(mapnames) / sizeof(mapnames[0]); i++) {
			struct np_map_usage u;
			int fd = np_ctl_pinned_fd(&c, mapnames[i], true);

			if (fd < 0)
				continue;
			if (np_map_usage(fd, &u) == 0 && u.counted)
				json_array_append_new(maps, json_pack("{s:s, s:I, s:I}", "name", mapnames[i],
								      "entries", (json_int_t)u.entries,
								      "capacity", (json_int_t)u.capacity));
			close(fd);
		}
	}
	json_object_set_new(out, "attached", atts);
	json_object_set_new(out, "localPods", pods);
	json_object_set_new(out, "maps", maps);
	if (!ret && !ready)
		ret = EXIT_UNREADABLE;

	if (c.json) {
		np_ctl_print_json(out);
	} else {
		json_t *v;
		size_t i;

		if (!reachable)
			printf("agent:       UNREACHABLE at %s (%s)\n", c.agent, err);
		else
			printf("agent:       %s, %s (%s)%s%s\n", hst == 200 ? "healthy" : "NOT HEALTHY",
			       ready ? "ready" : "NOT READY",
			       json_string_value(json_object_get(agent, "readyz")) ?: "",
			       agent_st ? ", node " : "",
			       agent_st ? json_string_value(json_object_get(agent_st, "node")) : "");
		if (agent_st)
			printf("objects:     %lld policies, %lld pods; enforcement %s, audit %s\n",
			       json_integer_value(json_object_get(agent_st, "policies")),
			       json_integer_value(json_object_get(agent_st, "pods")),
			       json_string_value(json_object_get(agent_st, "enforcement")),
			       json_is_true(json_object_get(agent_st, "audit")) ? "on" : "off");
		printf("pin path:    %s (layout v%u)\n", c.pin_root, NP_PIN_LAYOUT_VERSION);
		if (agent_st && json_array_size(json_object_get(agent_st, "invalidObjects"))) {
			json_t *io;
			size_t k;

			printf("invalid API objects (the API accepted them, this agent cannot; kept safe):\n");
			json_array_foreach(json_object_get(agent_st, "invalidObjects"), k, io)
				printf("  %s: %s in force; %s\n",
				       json_string_value(json_object_get(io, "object")),
				       json_string_value(json_object_get(io, "inForce")),
				       json_string_value(json_object_get(io, "reason")));
		}
		if (json_object_get(out, "datapath"))
			printf("datapath:    %s\n", json_string_value(json_object_get(out, "datapath")));
		else
			printf("generation:  %lld\n", json_integer_value(json_object_get(out, "generation")));
		printf("\nattached interfaces: %zu\n", json_array_size(atts));
		if (json_array_size(atts))
			printf("  %-8s %-16s %s\n", "IFINDEX", "INTERFACE", "CLSACT");
		json_array_foreach(atts, i, v)
			printf("  %-8lld %-16s %s\n", json_integer_value(json_object_get(v, "ifindex")),
			       json_string_value(json_object_get(v, "interface")),
			       json_is_true(json_object_get(v, "createdQdisc")) ? "created by the agent" : "pre-existing");
		printf("\nlocal pods: %zu\n", json_array_size(pods));
		if (json_array_size(pods))
			printf("  %-32s %-32s %-14s %-28s %s\n", "POD", "ADDRESSES", "INTERFACE", "INGRESS", "EGRESS");
		json_array_foreach(pods, i, v) {
			char addrs[128] = "", dirs[2][600];
			size_t k;
			json_t *a;

			json_array_foreach(json_object_get(v, "addresses"), k, a) {
				strncat(addrs, k ? "," : "", sizeof(addrs) - strlen(addrs) - 1);
				strncat(addrs, json_string_value(a), sizeof(addrs) - strlen(addrs) - 1);
			}
			for (int d = 0; d < 2; d++) {
				json_t *dj = json_object_get(v, d ? "egress" : "ingress");
				const char *by = json_string_value(json_object_get(dj, "by"));

				if (!json_is_true(json_object_get(dj, "isolated")))
					snprintf(dirs[d], sizeof(dirs[d]), "open");
				else
					snprintf(dirs[d], sizeof(dirs[d]), "isolated%s%s", by ? " by " : "", by ? by : "");
			}
			printf("  %-32s %-32s %-14s %-28s %s\n",
			       json_string_value(json_object_get(v, "pod")) ?: "(name unknown: agent down)",
			       addrs, json_string_value(json_object_get(v, "interface")), dirs[0], dirs[1]);
		}
		printf("\nmaps:\n  %-14s %10s %10s %7s\n", "NAME", "ENTRIES", "CAPACITY", "USED");
		json_array_foreach(maps, i, v) {
			double e = (double)json_integer_value(json_object_get(v, "entries"));
			double cap = (double)json_integer_value(json_object_get(v, "capacity"));

			printf("  %-14s %10.0f %10.0f %6.1f%%\n", json_string_value(json_object_get(v, "name")),
			       e, cap, cap > 0 ? 100.0 * e / cap : 0.0);
		}
	}
	np_sb_free(&body);
	json_decref(out);
	json_decref(agent_st);
	json_decref(names);
	for (int *fd = (int[]){ fd_att, fd_if, fd_ep, fd_state }, k = 0; k < 4; k++)
		if (fd[k] >= 0)
			close(fd[k]);
	return ret;
}
