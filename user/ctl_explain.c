// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netpolctl explain: see opsctl.h. */
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

/* ---- explain ---- */

static void explain_usage(FILE *f)
{
	fprintf(f,
		"usage: netpolctl explain --from SRC --to DST [--port N] [--protocol TCP|UDP|SCTP|ICMP]\n"
		"                         [--pin-path DIR] [--agent URL] [--output table|json]\n"
		"\n"
		"The verdict this node's running datapath gives the first packet of a connection\n"
		"from SRC to DST, and why.  SRC and DST are addresses or NAMESPACE/POD (names\n"
		"need the agent).  The programs the agent loaded are run with\n"
		"bpf_prog_test_run on a crafted packet, with their exact configuration (copied\n"
		"from the running programs) and the pinned policy maps; conntrack and flow\n"
		"events go to private maps, so live connections and flow records are untouched.\n"
		"Only what this node judges is answered: the egress of a local source pod and\n"
		"the ingress of a local destination pod.\n"
		"\n"
		"  --from SRC, --to DST   addresses or NAMESPACE/POD\n"
		"  --port N               destination port (not for ICMP)\n"
		"  --protocol P           TCP (default), UDP, SCTP or ICMP\n"
		COMMON_HELP
		"Exit status: 0 allowed or audited, 3 denied, 1 the datapath or the agent\n"
		"cannot be read, 2 bad usage.\n");
}

struct explain {
	struct ctl c;
	int pinned[5];           /* endpoints, node_addrs, peers, ports, state */
	void *rodata;            /* the running programs' configuration */
	size_t rodata_size;
	char errmsg[512];
};

static const char *const explain_maps[5] = { "np_endpoints", "np_node_addrs", "np_peers", "np_ports",
					     "np_state" };

/* The running ingress program's .rodata map, read whole. */
static int read_running_rodata(struct explain *x)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info), ids[16], n;
	int prog = np_ctl_pinned_fd(&x->c, "np_pod_ingress", true), ret = -ENOENT;

	if (prog < 0) {
		ret = -errno;
		snprintf(x->errmsg, sizeof(x->errmsg), "no pinned program %s/v%u/np_pod_ingress: %s",
			 x->c.pin_root, NP_PIN_LAYOUT_VERSION, strerror(errno));
		return ret;
	}
	info.nr_map_ids = 16;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog, &info, &len)) {
		ret = -errno;
		snprintf(x->errmsg, sizeof(x->errmsg), "reading the running program's info: %s", strerror(errno));
		goto cleanup;
	}
	n = info.nr_map_ids < 16 ? info.nr_map_ids : 16;
	for (__u32 i = 0; i < n && ret; i++) {
		struct bpf_map_info mi = { 0 };
		__u32 ml = sizeof(mi), zero = 0;
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &mi, &ml) == 0 && strstr(mi.name, ".rodata") &&
		    mi.type == BPF_MAP_TYPE_ARRAY && mi.max_entries == 1) {
			x->rodata = malloc(mi.value_size);
			x->rodata_size = mi.value_size;
			if (x->rodata && bpf_map_lookup_elem(fd, &zero, x->rodata) == 0)
				ret = 0;
		}
		close(fd);
	}
	if (ret)
		snprintf(x->errmsg, sizeof(x->errmsg), "the running program's configuration (.rodata) could not be read");
cleanup:
	close(prog);
	return ret;
}

/* before_load: the pinned policy maps, the running configuration. */
static int explain_before_load(struct bpf_object *obj, void *ctx)
{
	struct explain *x = ctx;
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);

		for (int i = 0; i < 5; i++)
			if (strcmp(name, explain_maps[i]) == 0) {
				int err = bpf_map__reuse_fd(map, x->pinned[i]);

				if (err) {
					np_err("cannot use the pinned map %s: %s", name, strerror(-err));
					return err;
				}
			}
		if (x->rodata && strstr(name, ".rodata")) {
			size_t size = 0;
			int err;

			if (!bpf_map__initial_value(map, &size) || size != x->rodata_size) {
				np_err("the running programs' configuration is %zu bytes, this netpolctl's %zu: use the netpolctl of the agent's build",
				       x->rodata_size, size);
				return -EINVAL;
			}
			err = bpf_map__set_initial_value(map, x->rodata, size);
			if (err)
				return err;
		}
	}
	return 0;
}

/* An endpoint: address, and the local interface entry when it is a local pod. */
struct xend {
	const char *arg;
	struct np_addr addr;
	const char *pod;   /* name from the agent, or NULL */
	bool local;
	__u32 ifindex;
	struct np_iface ifc;
};

static int resolve(struct explain *x, struct xend *e, json_t *names, int fd_ifaces, const char *family)
{
	const char *k;
	json_t *v;
	__u32 key, next, *prev = NULL;

	if (np_addr_parse(e->arg, &e->addr) != 0) {
		bool found = false;

		if (!strchr(e->arg, '/')) {
			snprintf(x->errmsg, sizeof(x->errmsg), "\"%s\" is not an address or NAMESPACE/POD", e->arg);
			return -EINVAL;
		}
		if (!names) {
			char why[sizeof(x->errmsg)];

			snprintf(why, sizeof(why), "%s", x->errmsg);
			snprintf(x->errmsg, sizeof(x->errmsg), "pod names need the agent (%.400s); give an address instead", why);
			return -EIO;
		}
		json_object_foreach(json_object_get(names, "endpoints"), k, v) {
			size_t i;
			json_t *a;

			if (strcmp(json_string_value(json_object_get(v, "pod")), e->arg) != 0)
				continue;
			json_array_foreach(json_object_get(v, "addresses"), i, a) {
				struct np_addr ad;

				if (np_addr_parse(json_string_value(a), &ad))
					continue;
				if (!found || (strcmp(family, "IPv6") == 0) == !np_addr_is_v4(&ad)) {
					e->addr = ad;
					found = true;
				}
			}
		}
		if (!found) {
			snprintf(x->errmsg, sizeof(x->errmsg), "the agent knows no pod %s with an address", e->arg);
			return -ENOENT;
		}
	}
	/* Name from the agent for a bare address too. */
	json_object_foreach(json_object_get(names, "endpoints"), k, v) {
		size_t i;
		json_t *a;
		char s[64];

		json_array_foreach(json_object_get(v, "addresses"), i, a)
			if (strcmp(json_string_value(a), np_addr_str(&e->addr, s, sizeof(s))) == 0)
				e->pod = json_string_value(json_object_get(v, "pod"));
	}
	while (bpf_map_get_next_key(fd_ifaces, prev, &next) == 0) {
		struct np_iface ifc;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd_ifaces, &key, &ifc))
			continue;
		for (__u32 i = 0; i < ifc.n_addrs && i < 2; i++)
			if (memcmp(&ifc.addrs[i], &e->addr, sizeof(e->addr)) == 0) {
				e->local = true;
				e->ifindex = key;
				e->ifc = ifc;
			}
	}
	return 0;
}

/* Run the first packet through one direction's program; fill D. */
static int judge_dir(struct np_datapath *dp, const struct xend *from, const struct xend *to,
		     uint8_t proto, uint16_t port, enum np_dir dir, json_t *names, json_t *d,
		     unsigned int *verdict)
{
	const struct xend *me = dir == NP_DIR_EGRESS ? from : to;
	struct np_pkt_spec spec = { 0 };
	unsigned char pkt[256];
	struct np_ct_key k = { 0 };
	struct np_ct_val v;
	bool icmp = proto == NP_PROTO_ICMP || proto == NP_PROTO_ICMPV6, have = false;
	uint16_t sport = 40999;
	__u32 retval = 0, lo = 1;
	int len, ret;
	char id[16];

	if (dir == NP_DIR_EGRESS && bpf_map_update_elem(dp->map_ifaces, &lo, &me->ifc, BPF_ANY))
		return -errno;
	spec.src = from->addr;
	spec.dst = to->addr;
	spec.proto = proto;
	spec.sport = sport;
	spec.dport = port;
	if (proto == NP_PROTO_TCP)
		spec.tcp_flags = 0x02;
	if (proto == NP_PROTO_ICMP)
		spec.icmp_type = 8;
	else if (proto == NP_PROTO_ICMPV6)
		spec.icmp_type = 128;
	len = np_pkt_build(&spec, pkt, sizeof(pkt));
	if (len < 0)
		return len;
	ret = np_prog_run(dir == NP_DIR_EGRESS ? dp->prog_egress : dp->prog_ingress, pkt, (size_t)len,
			  &retval, 1, NULL);
	if (ret)
		return ret;
	k.proto = proto;
	k.ifindex = 1; /* bpf_prog_test_run runs on loopback */
	k.local = me->addr;
	k.remote = dir == NP_DIR_EGRESS ? to->addr : from->addr;
	k.local_port = htons(dir == NP_DIR_EGRESS ? sport : (icmp ? sport : port));
	k.remote_port = htons(dir == NP_DIR_EGRESS ? (icmp ? sport : port) : sport);
	have = bpf_map_lookup_elem(dp->map_ct, &k, &v) == 0 || bpf_map_lookup_elem(dp->map_ct_deny, &k, &v) == 0;
	*verdict = have ? v.verdict : retval == 2 ? NP_VERDICT_DENY : NP_VERDICT_ALLOW;
	json_object_set_new(d, "verdict", json_string(np_verdict_name(*verdict)));
	json_object_set_new(d, "reason", json_string(have ? np_reason_name(v.reason) : "none"));
	json_object_set_new(d, "interface", json_string(if_indextoname(me->ifindex, id) ? id : ""));
	if (me->pod)
		json_object_set_new(d, "pod", json_string(me->pod));
	if (have && v.cookie) {
		json_t *r;

		snprintf(id, sizeof(id), "%u", v.cookie);
		r = json_object_get(json_object_get(names, "rules"), id);
		if (r) {
			json_object_set(d, "policy", json_object_get(r, "policy"));
			json_object_set(d, "rule", json_object_get(r, "rule"));
		}
		json_object_set_new(d, "cookie", json_integer(v.cookie));
	}
	return 0;
}

static const char *reason_text(const char *reason)
{
	if (strcmp(reason, "policy") == 0)
		return "allowed by a rule";
	if (strcmp(reason, "not-isolated") == 0)
		return "no policy selects the pod in this direction";
	if (strcmp(reason, "node") == 0)
		return "the peer is an address of this node (always allowed)";
	if (strcmp(reason, "no-rule") == 0)
		return "the pod is isolated and no rule of the isolating policies allows this peer, protocol and port";
	if (strcmp(reason, "spoofed") == 0)
		return "the source address is not the pod's";
	if (strcmp(reason, "unknown-pod") == 0)
		return "no endpoint is known for the address (strict mode drops it)";
	return reason;
}

/* Do the programs loaded here have the same code (tag) as the pinned ones
 * the agent runs?  False also when that cannot be read. */
static bool same_programs(const struct ctl *c, const struct np_datapath *dp)
{
	const char *names[2] = { "np_pod_ingress", "np_pod_egress" };
	int mine[2] = { dp->prog_ingress, dp->prog_egress };
	bool same = true;

	for (int i = 0; i < 2 && same; i++) {
		struct bpf_prog_info a = { 0 }, b = { 0 };
		__u32 la = sizeof(a), lb = sizeof(b);
		int fd = np_ctl_pinned_fd(c, names[i], true);

		same = fd >= 0 && bpf_obj_get_info_by_fd(fd, &a, &la) == 0 &&
		       bpf_obj_get_info_by_fd(mine[i], &b, &lb) == 0 &&
		       memcmp(a.tag, b.tag, sizeof(a.tag)) == 0;
		if (fd >= 0)
			close(fd);
	}
	return same;
}

int np_explain_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'r' },
		{ 0 },
	};
	struct explain x = { .pinned = { -1, -1, -1, -1, -1 } };
	struct xend from = { 0 }, to = { 0 };
	struct np_datapath dp;
	struct np_load_opts lopts;
	const char *proto_s = "TCP", *family = "IPv4";
	long port = 0;
	uint8_t proto;
	bool dp_loaded = false, same_code = false;
	int opt, ret = 0, fd_ifaces = -1;
	unsigned int overall = NP_VERDICT_ALLOW;
	json_t *names = NULL, *out = NULL, *enriched = NULL;
	char names_err[512] = "";

	np_ctl_defaults(&x.c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = np_ctl_opt(&x.c, opt, "explain");
		char *end;

		if (r < 0)
			goto usage_error;
		if (r)
			continue;
		switch (opt) {
		case 'f':
			from.arg = optarg;
			break;
		case 't':
			to.arg = optarg;
			break;
		case 'P':
			port = strtol(optarg, &end, 10);
			if (*end || port < 1 || port > 65535) {
				fprintf(stderr, "netpolctl explain: --port: \"%s\" is not 1..65535\n", optarg);
				goto usage_error;
			}
			break;
		case 'r':
			proto_s = optarg;
			break;
		case 'h':
			explain_usage(stdout);
			return 0;
		default:
			goto usage_error;
		}
	}
	if (!from.arg || !to.arg || optind < argc) {
		fprintf(stderr, "netpolctl explain: --from and --to are required\n");
		goto usage_error;
	}
	if (strcasecmp(proto_s, "ICMP") == 0) {
		proto = NP_PROTO_ICMP;
	} else {
		char up[8];
		size_t k;

		for (k = 0; proto_s[k] && k < sizeof(up) - 1; k++)
			up[k] = (char)(proto_s[k] >= 'a' && proto_s[k] <= 'z' ? proto_s[k] - 32 : proto_s[k]);
		up[k] = '\0';
		proto = np_proto_parse(up);
		if (!proto) {
			fprintf(stderr, "netpolctl explain: --protocol: \"%s\" is not TCP, UDP, SCTP or ICMP\n", proto_s);
			goto usage_error;
		}
		if (!port) {
			fprintf(stderr, "netpolctl explain: --port is required for %s\n", up);
			goto usage_error;
		}
	}
	names = np_ctl_json(&x.c, "/debug/names", NULL, names_err, sizeof(names_err));
	snprintf(x.errmsg, sizeof(x.errmsg), "%s", names_err);
	fd_ifaces = np_ctl_pinned_fd(&x.c, "np_ifaces", true);
	for (int i = 0; i < 5; i++)
		x.pinned[i] = np_ctl_pinned_fd(&x.c, explain_maps[i], true);
	if (fd_ifaces < 0 || x.pinned[0] < 0 || x.pinned[1] < 0 || x.pinned[2] < 0 || x.pinned[3] < 0 ||
	    x.pinned[4] < 0) {
		fprintf(stderr, "netpolctl explain: no pinned datapath under %s/v%u: is the agent installed with this --pin-path (run as root)?\n",
			x.c.pin_root, NP_PIN_LAYOUT_VERSION);
		ret = EXIT_UNREADABLE;
		goto cleanup;
	}
	if (strchr(from.arg, ':') || strchr(to.arg, ':'))
		family = "IPv6";
	if (resolve(&x, &from, names, fd_ifaces, family) || resolve(&x, &to, names, fd_ifaces, family)) {
		fprintf(stderr, "netpolctl explain: %s\n", x.errmsg);
		ret = x.errmsg[0] && strstr(x.errmsg, "not an address") ? EXIT_USAGE : EXIT_UNREADABLE;
		goto cleanup;
	}
	if (np_addr_is_v4(&from.addr) != np_addr_is_v4(&to.addr)) {
		fprintf(stderr, "netpolctl explain: --from and --to are of different address families\n");
		goto usage_error;
	}
	if (proto == NP_PROTO_ICMP && !np_addr_is_v4(&from.addr))
		proto = NP_PROTO_ICMPV6;
	out = json_object();
	json_object_set_new(out, "from", json_string(from.arg));
	json_object_set_new(out, "to", json_string(to.arg));
	json_object_set_new(out, "protocol", json_string(np_proto_name(proto) ?: proto_s));
	if (port)
		json_object_set_new(out, "port", json_integer(port));
	if (!from.local && !to.local) {
		json_object_set_new(out, "verdict", json_string("NOT-JUDGED"));
		json_object_set_new(out, "why", json_string("neither end is a pod on this node: this node's datapath does not see or judge this connection; ask the node where the pods run"));
		goto print;
	}
	np_load_opts_default(&lopts);
	if (read_running_rodata(&x)) {
		/* Reading a map by id needs CAP_SYS_ADMIN, which the agent's
		 * pod does not have: take the configuration the agent reports. */
		char serr[512];
		json_t *st = np_ctl_json(&x.c, "/debug/status", NULL, serr, sizeof(serr));
		json_t *cfg = json_object_get(st, "datapathConfig");

		if (!cfg) {
			fprintf(stderr, "netpolctl explain: %s, and the agent did not report it either (%s)\n",
				x.errmsg, st ? "old agent" : serr);
			json_decref(st);
			ret = EXIT_UNREADABLE;
			goto cleanup;
		}
		lopts.audit_all = json_is_true(json_object_get(cfg, "auditAll"));
		lopts.deny_unknown = json_is_true(json_object_get(cfg, "denyUnknown"));
		lopts.flow_log = (unsigned int)json_integer_value(json_object_get(cfg, "flowLog"));
		lopts.to_tcp_syn_s = (__u32)json_integer_value(json_object_get(cfg, "tcpSynS"));
		lopts.to_tcp_est_s = (__u32)json_integer_value(json_object_get(cfg, "tcpEstS"));
		lopts.to_tcp_close_s = (__u32)json_integer_value(json_object_get(cfg, "tcpCloseS"));
		lopts.to_other_s = (__u32)json_integer_value(json_object_get(cfg, "otherS"));
		lopts.to_icmp_s = (__u32)json_integer_value(json_object_get(cfg, "icmpS"));
		lopts.to_deny_s = (__u32)json_integer_value(json_object_get(cfg, "denyS"));
		json_decref(st);
		np_dbg("explain: datapath configuration from the agent (%s)", x.errmsg);
	}
	lopts.before_load = explain_before_load;
	lopts.before_load_ctx = &x;
	lopts.max_ct = 64;
	lopts.max_ct_deny = 64;
	lopts.max_frags = 64;
	lopts.max_flow_deny = 64;
	lopts.max_ifaces = 16;
	lopts.ringbuf_bytes = 4096;
	ret = np_datapath_load(&dp, &lopts);
	if (ret) {
		fprintf(stderr, "netpolctl explain: loading the programs failed: %s (run as root)\n", strerror(-ret));
		ret = EXIT_UNREADABLE;
		goto cleanup;
	}
	dp_loaded = true;
	same_code = same_programs(&x.c, &dp);
	json_object_set_new(out, "sameProgramsAsRunning", json_boolean(same_code));
	for (int i = 0; i < 2; i++) {
		enum np_dir dir = i == 0 ? NP_DIR_EGRESS : NP_DIR_INGRESS;
		const struct xend *me = dir == NP_DIR_EGRESS ? &from : &to;
		json_t *d = json_object();
		unsigned int v = NP_VERDICT_ALLOW;

		if (!me->local) {
			json_object_set_new(d, "judged", json_false());
			json_object_set_new(d, "why", json_string(dir == NP_DIR_EGRESS ?
				"the source is not a pod on this node: its egress is judged where it runs" :
				"the destination is not a pod on this node: its ingress is judged where it runs"));
			json_object_set_new(out, dir == NP_DIR_EGRESS ? "egress" : "ingress", d);
			continue;
		}
		ret = judge_dir(&dp, &from, &to, proto, (uint16_t)port, dir, names, d, &v);
		if (ret) {
			json_decref(d);
			fprintf(stderr, "netpolctl explain: running the %s program failed: %s\n",
				dir == NP_DIR_EGRESS ? "egress" : "ingress", strerror(-ret));
			ret = EXIT_UNREADABLE;
			goto cleanup;
		}
		if (v == NP_VERDICT_DENY)
			overall = NP_VERDICT_DENY;
		else if (v == NP_VERDICT_AUDIT && overall == NP_VERDICT_ALLOW)
			overall = NP_VERDICT_AUDIT;
		if (v != NP_VERDICT_ALLOW && me->pod) {
			/* Which policies isolate it, from the agent. */
			char path[600], perr[256];
			char *enc = curl_easy_escape(NULL, me->pod, 0);
			json_t *pol;

			snprintf(path, sizeof(path), "/debug/policy?pod=%s", enc ? enc : "");
			curl_free(enc);
			pol = np_ctl_json(&x.c, path, NULL, perr, sizeof(perr));
			if (pol)
				json_object_set(d, "isolatedBy", json_object_get(json_object_get(pol,
					dir == NP_DIR_EGRESS ? "egress" : "ingress"), "isolatedBy"));
			json_decref(pol);
		}
		json_object_set_new(out, dir == NP_DIR_EGRESS ? "egress" : "ingress", d);
	}
	json_object_set_new(out, "verdict", json_string(np_verdict_name(overall)));
	ret = overall == NP_VERDICT_DENY ? 3 : 0;
print:
	if (!names)
		json_object_set_new(out, "names", json_sprintf("unavailable: %s", names_err));
	if (x.c.json) {
		np_ctl_print_json(out);
	} else {
		printf("%s -> %s %s%s%s: %s\n", from.arg, to.arg, json_string_value(json_object_get(out, "protocol")),
		       port ? " port " : "", port ? json_string_value(enriched = json_sprintf("%ld", port)) : "",
		       json_string_value(json_object_get(out, "verdict")));
		if (json_object_get(out, "why"))
			printf("  %s\n", json_string_value(json_object_get(out, "why")));
		for (int i = 0; i < 2; i++) {
			json_t *d = json_object_get(out, i ? "ingress" : "egress"), *p;
			size_t k;

			if (!d)
				continue;
			if (json_is_false(json_object_get(d, "judged"))) {
				printf("  %-8s not judged here: %s\n", i ? "ingress" : "egress",
				       json_string_value(json_object_get(d, "why")));
				continue;
			}
			printf("  %-8s %s at %s%s%s%s: %s", i ? "ingress" : "egress",
			       json_string_value(json_object_get(d, "verdict")),
			       json_string_value(json_object_get(d, "pod")) ?: "the pod",
			       " (", json_string_value(json_object_get(d, "interface")), ")",
			       reason_text(json_string_value(json_object_get(d, "reason"))));
			if (json_object_get(d, "policy"))
				printf(": %s %s", json_string_value(json_object_get(d, "policy")),
				       json_string_value(json_object_get(d, "rule")));
			if (json_array_size(json_object_get(d, "isolatedBy"))) {
				printf("; isolated by ");
				json_array_foreach(json_object_get(d, "isolatedBy"), k, p)
					printf("%s%s", k ? ", " : "", json_string_value(p));
			}
			printf("\n");
		}
		if (!names)
			printf("  (names unavailable: %s)\n", names_err);
		if (json_is_false(json_object_get(out, "sameProgramsAsRunning")))
			printf("  WARNING: this netpolctl's programs differ from the ones the agent runs (another build): use the agent's netpolctl for an exact answer\n");
	}
cleanup:
	if (dp_loaded)
		np_datapath_close(&dp);
	for (int i = 0; i < 5; i++)
		if (x.pinned[i] >= 0)
			close(x.pinned[i]);
	if (fd_ifaces >= 0)
		close(fd_ifaces);
	free(x.rodata);
	json_decref(names);
	json_decref(out);
	json_decref(enriched);
	return ret;
usage_error:
	explain_usage(stderr);
	ret = EXIT_USAGE;
	goto cleanup;
}
