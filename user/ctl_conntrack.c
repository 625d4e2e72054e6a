// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netpolctl conntrack: see opsctl.h. */
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

/* ---- conntrack ---- */

static void conntrack_usage(FILE *f)
{
	fprintf(f,
		"usage: netpolctl conntrack [--pin-path DIR] [--agent URL] [--output table|json]\n"
		"                           [--pod NS/NAME] [--ip ADDR|CIDR] [--port N]\n"
		"                           [--protocol tcp|udp|sctp|icmp|icmpv6|N] [--denied]\n"
		"\n"
		"The live connection table of the datapath (the pinned np_ct map): one line per\n"
		"connection and local pod interface, with who opened it, its TCP state, the\n"
		"verdict, the rule that allowed it, its age and idle time, and its counters\n"
		"(counted only for logged flows).  --denied shows the recently denied 5-tuples\n"
		"(np_ct_deny, kept 5 s) instead.  Pod and policy names come from the agent\n"
		"when it is reachable.  --pod, --ip and --port match either end.\n"
		"\n" COMMON_HELP
		"Exit status: 0 ok, 1 the pinned map cannot be read, 2 bad usage.\n");
}

/* jiffies now, as bpf_jiffies64() sees it: asked of the kernel with a
 * three-instruction program (the same clock, nothing to parse), else read
 * from /proc/timer_list, which containers and hardened hosts often hide. */
static int jiffies_now(__u64 *out)
{
	FILE *f;
	char line[256];
	int ret;

	ret = np_kernel_jiffies(out);
	if (!ret)
		return 0;
	f = fopen("/proc/timer_list", "r");
	if (!f)
		return -errno;
	ret = -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "jiffies: %llu", (unsigned long long *)out) == 1) {
			ret = 0;
			break;
		}
	fclose(f);
	return ret;
}

static const char *tcp_state(const struct np_ct_val *v, uint8_t proto)
{
	if (proto != NP_PROTO_TCP)
		return v->state & NP_TCP_SEEN_REPLY ? "replied" : "unreplied";
	if (v->state & NP_TCP_RST)
		return "reset";
	if ((v->state & NP_TCP_FIN_ORIG) && (v->state & NP_TCP_FIN_REPLY))
		return "closed";
	if (v->state & (NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY))
		return "closing";
	if (v->state & NP_TCP_SEEN_REPLY)
		return "established";
	return "syn-sent";
}

static const char *ep_name(json_t *names, uint32_t ep)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", ep);
	return json_string_value(json_object_get(json_object_get(json_object_get(names, "endpoints"), id), "pod"));
}

int np_conntrack_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "pod", required_argument, NULL, 'p' },
		{ "ip", required_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'r' },
		{ "denied", no_argument, NULL, 'd' },
		{ 0 },
	};
	struct ctl c;
	const char *pod = NULL;
	struct np_cidr ipf;
	bool has_ip = false, denied = false;
	long port = -1;
	int proto = -1, opt, fd = -1, ret = 0;
	json_t *names = NULL, *rows = json_array();
	char err[512];
	__u64 now = 0;
	unsigned int hz = 0;
	struct np_ct_key key, next;
	struct np_ct_key *prev = NULL;

	np_ctl_defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = np_ctl_opt(&c, opt, "conntrack");
		char *end;

		if (r < 0)
			goto usage_error;
		if (r)
			continue;
		switch (opt) {
		case 'p':
			pod = optarg;
			break;
		case 'i':
			if (np_cidr_parse(optarg, &ipf) != 0) {
				struct np_addr a;

				if (np_addr_parse(optarg, &a)) {
					fprintf(stderr, "netpolctl conntrack: --ip: \"%s\" is not an address or CIDR\n", optarg);
					goto usage_error;
				}
				np_cidr_host(&a, &ipf);
			}
			has_ip = true;
			break;
		case 'P':
			port = strtol(optarg, &end, 10);
			if (*end || port < 0 || port > 65535) {
				fprintf(stderr, "netpolctl conntrack: --port: \"%s\" is not 0..65535\n", optarg);
				goto usage_error;
			}
			break;
		case 'r': {
			char up[16];
			size_t k;

			for (k = 0; optarg[k] && k < sizeof(up) - 1; k++)
				up[k] = (char)(optarg[k] >= 'a' && optarg[k] <= 'z' ? optarg[k] - 32 : optarg[k]);
			up[k] = '\0';
			proto = strcmp(up, "ICMPV6") == 0 ? NP_PROTO_ICMPV6 : strcmp(up, "ICMP") == 0 ? NP_PROTO_ICMP : np_proto_parse(up);
			if (proto <= 0) {
				proto = (int)strtol(optarg, &end, 10);
				if (*end || proto <= 0 || proto > 255) {
					fprintf(stderr, "netpolctl conntrack: --protocol: \"%s\" is not tcp, udp, sctp, icmp, icmpv6 or a number\n", optarg);
					goto usage_error;
				}
			}
			break;
		}
		case 'd':
			denied = true;
			break;
		case 'h':
			conntrack_usage(stdout);
			return 0;
		default:
			goto usage_error;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netpolctl conntrack: unexpected argument \"%s\"\n", argv[optind]);
		goto usage_error;
	}
	fd = np_ctl_pinned_fd(&c, denied ? "np_ct_deny" : "np_ct", true);
	if (fd < 0) {
		fprintf(stderr, "netpolctl conntrack: cannot open %s/v%u/%s: %s; is the agent installed with this --pin-path (run as root)?\n",
			c.pin_root, NP_PIN_LAYOUT_VERSION, denied ? "np_ct_deny" : "np_ct", strerror(errno));
		ret = EXIT_UNREADABLE;
		goto cleanup;
	}
	names = np_ctl_json(&c, "/debug/names", NULL, err, sizeof(err));
	if (!names && pod) {
		fprintf(stderr, "netpolctl conntrack: --pod needs the agent for pod names: %s\n", err);
		ret = EXIT_UNREADABLE;
		goto cleanup;
	}
	if (jiffies_now(&now) || np_kernel_hz(&hz))
		hz = 0; /* ages unknown */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct np_ct_val v;
		bool egress;
		const char *local_pod, *remote_pod = NULL;
		char ls[64], rs[64], rule[64] = "", idbuf[16];
		json_t *row, *rj;
		struct np_addr *src, *dst;
		uint16_t sport, dport;
		json_t *eps = json_object_get(names, "endpoints");
		const char *k;
		json_t *e;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		if (proto >= 0 && key.proto != proto)
			continue;
		if (port >= 0 && ntohs(key.local_port) != port && ntohs(key.remote_port) != port)
			continue;
		if (has_ip && !np_cidr_contains_addr(&ipf, &key.local) && !np_cidr_contains_addr(&ipf, &key.remote))
			continue;
		np_ctl_addr(&key.local, ls, sizeof(ls));
		np_ctl_addr(&key.remote, rs, sizeof(rs));
		local_pod = ep_name(names, v.ep_id);
		json_object_foreach(eps, k, e) {
			size_t i;
			json_t *a;

			json_array_foreach(json_object_get(e, "addresses"), i, a)
				if (strcmp(json_string_value(a), rs) == 0)
					remote_pod = json_string_value(json_object_get(e, "pod"));
		}
		if (pod && !(local_pod && strcmp(local_pod, pod) == 0) &&
		    !(remote_pod && strcmp(remote_pod, pod) == 0))
			continue;
		egress = (v.origin & 1) == NP_DIR_EGRESS;
		src = egress ? &key.local : &key.remote;
		dst = egress ? &key.remote : &key.local;
		sport = ntohs(egress ? key.local_port : key.remote_port);
		dport = ntohs(egress ? key.remote_port : key.local_port);
		row = json_object();
		json_object_set_new(row, "interface", json_string(if_indextoname(key.ifindex, idbuf) ? idbuf : ""));
		json_object_set_new(row, "ifindex", json_integer(key.ifindex));
		json_object_set_new(row, "direction", json_string(egress ? "egress" : "ingress"));
		json_object_set_new(row, "protocol", json_integer(key.proto));
		json_object_set_new(row, "srcAddr", json_string(egress ? ls : rs));
		json_object_set_new(row, "srcPort", json_integer(sport));
		json_object_set_new(row, "dstAddr", json_string(egress ? rs : ls));
		json_object_set_new(row, "dstPort", json_integer(dport));
		(void)src, (void)dst;
		if (local_pod)
			json_object_set_new(row, "pod", json_string(local_pod));
		if (remote_pod)
			json_object_set_new(row, "peerPod", json_string(remote_pod));
		json_object_set_new(row, "state", json_string(denied ? "denied" : tcp_state(&v, key.proto)));
		json_object_set_new(row, "verdict", json_string(np_verdict_name(v.verdict)));
		json_object_set_new(row, "reason", json_string(np_reason_name(v.reason)));
		snprintf(idbuf, sizeof(idbuf), "%u", v.cookie);
		rj = json_object_get(json_object_get(names, "rules"), idbuf);
		if (v.cookie && rj) {
			json_object_set(row, "policy", json_object_get(rj, "policy"));
			json_object_set(row, "policyRule", json_object_get(rj, "rule"));
			snprintf(rule, sizeof(rule), "%s", json_string_value(json_object_get(rj, "rule")));
		} else if (v.cookie) {
			json_object_set_new(row, "cookie", json_integer(v.cookie));
		}
		if (hz) {
			json_object_set_new(row, "ageSeconds", json_integer((json_int_t)((now - v.created) / hz)));
			json_object_set_new(row, "idleSeconds", json_integer((json_int_t)((now - v.last_seen) / hz)));
		}
		json_object_set_new(row, "packets", json_integer((json_int_t)v.packets[0] + v.packets[1]));
		json_object_set_new(row, "bytes", json_integer((json_int_t)(v.bytes[0] + v.bytes[1])));
		json_object_set_new(row, "generation", json_integer(v.gen));
		json_array_append_new(rows, row);
	}
	if (c.json) {
		size_t i;
		json_t *r;

		json_array_foreach(rows, i, r) {
			char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);

			if (s)
				puts(s);
			free(s);
		}
	} else {
		size_t i;
		json_t *r;

		printf("%-12s %-7s %-5s %-40s %-40s %-11s %-7s %-12s %-32s %6s %6s %8s %10s\n", "INTERFACE", "DIR",
		       "PROTO", "SOURCE", "DESTINATION", "STATE", "VERDICT", "REASON", "POLICY", "AGE", "IDLE",
		       "PACKETS", "BYTES");
		json_array_foreach(rows, i, r) {
			char s[128], d[128], pol[300] = "", age[16] = "?", idle[16] = "?";
			bool eg = strcmp(json_string_value(json_object_get(r, "direction")), "egress") == 0;
			const char *pn = json_string_value(json_object_get(r, "pod"));
			const char *pp = json_string_value(json_object_get(r, "peerPod"));

			snprintf(s, sizeof(s), "%s:%lld%s%s%s", json_string_value(json_object_get(r, "srcAddr")),
				 json_integer_value(json_object_get(r, "srcPort")),
				 (eg ? pn : pp) ? " (" : "", (eg ? pn : pp) ?: "", (eg ? pn : pp) ? ")" : "");
			snprintf(d, sizeof(d), "%s:%lld%s%s%s", json_string_value(json_object_get(r, "dstAddr")),
				 json_integer_value(json_object_get(r, "dstPort")),
				 (eg ? pp : pn) ? " (" : "", (eg ? pp : pn) ?: "", (eg ? pp : pn) ? ")" : "");
			if (json_object_get(r, "policy"))
				snprintf(pol, sizeof(pol), "%s %s", json_string_value(json_object_get(r, "policy")),
					 json_string_value(json_object_get(r, "policyRule")));
			if (json_object_get(r, "ageSeconds")) {
				snprintf(age, sizeof(age), "%llds", json_integer_value(json_object_get(r, "ageSeconds")));
				snprintf(idle, sizeof(idle), "%llds", json_integer_value(json_object_get(r, "idleSeconds")));
			}
			printf("%-12s %-7s %-5s %-40s %-40s %-11s %-7s %-12s %-32s %6s %6s %8lld %10lld\n",
			       json_string_value(json_object_get(r, "interface")), eg ? "egress" : "ingress",
			       np_proto_name((uint8_t)json_integer_value(json_object_get(r, "protocol"))) ?: "?", s, d,
			       json_string_value(json_object_get(r, "state")),
			       json_string_value(json_object_get(r, "verdict")),
			       json_string_value(json_object_get(r, "reason")), pol, age, idle,
			       json_integer_value(json_object_get(r, "packets")),
			       json_integer_value(json_object_get(r, "bytes")));
		}
		printf("%zu %s\n", json_array_size(rows), denied ? "recently denied 5-tuples" : "connections");
	}
cleanup:
	if (fd >= 0)
		close(fd);
	json_decref(names);
	json_decref(rows);
	return ret;
usage_error:
	conntrack_usage(stderr);
	ret = EXIT_USAGE;
	goto cleanup;
}
