// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netpolctl verdict: "would this connection be allowed, and by which policy?"
 *
 * The answer comes from the real BPF programs: the objects are compiled into
 * the maps exactly as the agent does it, then a crafted first packet of the
 * connection runs through np_pod_egress (as the source pod) and np_pod_ingress
 * (as the destination pod) with bpf_prog_test_run_opts, and the conntrack
 * entry each program wrote tells the verdict, the reason and the rule.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <jansson.h>

#include "compile.h"
#include "loader.h"
#include "log.h"
#include "mapsize.h"
#include "mapsync.h"
#include "pkt.h"
#include "verdict.h"

#define EXIT_BAD_INPUT 2

struct endpoint_ref {
	struct np_addr addr;
	const struct np_pod *pod; /* NULL for a bare address */
	bool mapped;              /* written as IPv6 ::ffff:a.b.c.d */
	bool is_pod;              /* a pod we enforce for (not hostNetwork) */
	char label[300];
};

struct probe {
	json_t *obj;
	struct endpoint_ref from, to;
	uint8_t proto;
	uint16_t port;
	uint16_t sport;
	bool ipv6;   /* an IPv6 probe */
	bool mapped; /* an end written as ::ffff:a.b.c.d: an IPv6 packet the datapath drops */
};

struct vctx {
	struct np_objects objs;
	struct np_compiled compiled;
	struct np_ids ids;
	struct np_datapath dp;
	bool dp_loaded;
	struct np_mapsync sync;
	bool sync_ready;
};

static const char *const reason_names[NP_REASON_MAX] = {
	[NP_REASON_NONE] = "none",
	[NP_REASON_POLICY] = "policy",
	[NP_REASON_NOT_ISOLATED] = "not-isolated",
	[NP_REASON_NODE] = "node",
	[NP_REASON_NO_RULE] = "no-rule",
	[NP_REASON_SPOOFED] = "spoofed",
	[NP_REASON_UNKNOWN_POD] = "unknown-pod",
	[NP_REASON_FRAGMENT] = "fragment",
	[NP_REASON_MALFORMED] = "malformed",
	[NP_REASON_REPLY] = "reply",
	[NP_REASON_REVOKED] = "revoked",
	[NP_REASON_RELATED] = "related",
};

const char *np_reason_name(unsigned int reason)
{
	return reason < NP_REASON_MAX && reason_names[reason] ? reason_names[reason]
							      : "unknown";
}

const char *np_verdict_name(unsigned int verdict)
{
	switch (verdict) {
	case NP_VERDICT_ALLOW:
		return "ALLOW";
	case NP_VERDICT_DENY:
		return "DENY";
	case NP_VERDICT_AUDIT:
		return "AUDIT";
	default:
		return "UNKNOWN";
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netpolctl verdict -f OBJECTS [-f OBJECTS ...] (--probes FILE | --from SRC --to DST --port N [--protocol P])\n"
		"\n"
		"Judges connections with the real BPF programs after compiling the objects\n"
		"(Namespaces, Pods, NetworkPolicies as YAML/JSON files or directories).\n"
		"\n"
		"  -f, --objects PATH     objects to load (repeatable)\n"
		"      --probes FILE      JSON lines: {\"from\": \"ns/pod\"|IP, \"to\": ..., \"port\": N, \"protocol\": \"TCP\"};\n"
		"                         '-' reads standard input; other fields are echoed unchanged\n"
		"      --from SRC         source: namespace/pod or an IP address\n"
		"      --to DST           destination: namespace/pod or an IP address\n"
		"      --port N           destination port (ignored for ICMP)\n"
		"      --protocol P       TCP (default), UDP, SCTP or ICMP\n"
		"      --ip-family F      IPv4 or IPv6: which address of dual-stack pods to use\n"
		"                         (default IPv4 when both ends have one); probes may set \"ipFamily\"\n"
		"      --node-ip IP       an address of the node (always allowed); repeatable\n"
		"      --audit            load the datapath in audit mode (denials pass as AUDIT)\n"
		"%s"
		"  -h, --help             this text\n"
		"\n"
		"Output: one JSON line per probe, in order: the probe's fields plus \"verdict\"\n"
		"(ALLOW, DENY or AUDIT) and \"egress\"/\"ingress\" details (verdict, reason, pod,\n"
		"policy, rule, isolatedBy). Exit status: 0 every probe judged, 2 bad input, 1 failure.\n",
		np_map_size_help());
}

static int resolve_endpoint(struct vctx *v, const char *s, const char *family,
			    const char *other_family_hint,
			    struct endpoint_ref *ref, char *errbuf, size_t errlen)
{
	const char *slash = strchr(s, '/');

	(void)other_family_hint;
	memset(ref, 0, sizeof(*ref));
	snprintf(ref->label, sizeof(ref->label), "%s", s);
	if (!slash) {
		bool v4;

		if (np_addr_parse_any(s, &ref->addr, &v4)) {
			snprintf(errbuf, errlen,
				 "\"%s\" is neither namespace/pod nor an IP address", s);
			return -EINVAL;
		}
		if (family && (strcmp(family, "IPv6") == 0) == v4) {
			snprintf(errbuf, errlen, "\"%s\" is an %s address but the probe is %s",
				 s, v4 ? "IPv4" : "IPv6", family);
			return -EINVAL;
		}
		ref->mapped = !v4 && np_addr_is_v4(&ref->addr);
		return 0;
	}
	{
		char ns[254];
		size_t nl = (size_t)(slash - s);
		const struct np_pod *pod;
		bool want_v6 = family && strcmp(family, "IPv6") == 0;
		bool found = false;

		if (nl == 0 || nl >= sizeof(ns)) {
			snprintf(errbuf, errlen, "\"%s\": bad namespace/pod", s);
			return -EINVAL;
		}
		memcpy(ns, s, nl);
		ns[nl] = '\0';
		pod = np_objects_pod(&v->objs, ns, slash + 1);
		if (!pod) {
			snprintf(errbuf, errlen,
				 "pod %s not found in the objects given with -f", s);
			return -EINVAL;
		}
		for (size_t i = 0; i < pod->n_ips && !found; i++) {
			if (np_addr_is_v4(&pod->ips[i]) != want_v6) {
				ref->addr = pod->ips[i];
				found = true;
			}
		}
		if (!found) {
			snprintf(errbuf, errlen, "pod %s has no %s address (status.podIPs)",
				 s, want_v6 ? "IPv6" : "IPv4");
			return -EINVAL;
		}
		ref->pod = pod;
		ref->is_pod = !pod->host_network;
	}
	return 0;
}

/* Pick the family: explicit, else IPv4 if both ends can, else IPv6. */
static const char *pick_family(struct vctx *v, const char *explicit_family,
			       const char *from, const char *to)
{
	const char *ends[2] = { from, to };

	if (explicit_family)
		return explicit_family;
	for (int i = 0; i < 2; i++) {
		const char *slash = strchr(ends[i], '/');
		struct np_addr a;

		if (!slash) {
			bool v4;

			if (np_addr_parse_any(ends[i], &a, &v4) == 0 && !v4)
				return "IPv6";
			continue;
		}
		{
			char ns[254];
			size_t nl = (size_t)(slash - ends[i]);
			const struct np_pod *pod;
			bool has_v4 = false;

			if (nl == 0 || nl >= sizeof(ns))
				continue;
			memcpy(ns, ends[i], nl);
			ns[nl] = '\0';
			pod = np_objects_pod(&v->objs, ns, slash + 1);
			if (!pod)
				continue;
			for (size_t k = 0; k < pod->n_ips; k++)
				if (np_addr_is_v4(&pod->ips[k]))
					has_v4 = true;
			if (pod->n_ips > 0 && !has_v4)
				return "IPv6";
		}
	}
	return "IPv4";
}

static int parse_probe(struct vctx *v, json_t *obj, const char *default_family,
		       size_t line, struct probe *p, char *errbuf, size_t errlen)
{
	json_t *jf = json_object_get(obj, "from");
	json_t *jt = json_object_get(obj, "to");
	json_t *jp = json_object_get(obj, "port");
	json_t *jproto = json_object_get(obj, "protocol");
	json_t *jfam = json_object_get(obj, "ipFamily");
	const char *proto_s = "TCP";
	const char *family;
	int ret;

	memset(p, 0, sizeof(*p));
	p->obj = obj;
	if (!json_is_string(jf) || !json_is_string(jt)) {
		snprintf(errbuf, errlen, "\"from\" and \"to\" must be strings");
		return -EINVAL;
	}
	if (jproto) {
		if (!json_is_string(jproto)) {
			snprintf(errbuf, errlen, "\"protocol\" must be a string");
			return -EINVAL;
		}
		proto_s = json_string_value(jproto);
	}
	if (jfam && (!json_is_string(jfam) ||
		     (strcmp(json_string_value(jfam), "IPv4") != 0 &&
		      strcmp(json_string_value(jfam), "IPv6") != 0))) {
		snprintf(errbuf, errlen, "\"ipFamily\" must be \"IPv4\" or \"IPv6\"");
		return -EINVAL;
	}
	family = pick_family(v, jfam ? json_string_value(jfam) : default_family,
			     json_string_value(jf), json_string_value(jt));
	if (strcmp(proto_s, "ICMP") == 0) {
		p->proto = strcmp(family, "IPv6") == 0 ? NP_PROTO_ICMPV6
						       : NP_PROTO_ICMP;
	} else {
		p->proto = np_proto_parse(proto_s);
		if (!p->proto) {
			snprintf(errbuf, errlen,
				 "\"protocol\": \"%s\" is not TCP, UDP, SCTP or ICMP",
				 proto_s);
			return -EINVAL;
		}
		if (!json_is_integer(jp) || json_integer_value(jp) < 1 ||
		    json_integer_value(jp) > 65535) {
			snprintf(errbuf, errlen,
				 "\"port\" must be a number from 1 to 65535");
			return -EINVAL;
		}
		p->port = (uint16_t)json_integer_value(jp);
	}
	ret = resolve_endpoint(v, json_string_value(jf), family, NULL, &p->from,
			       errbuf, errlen);
	if (!ret)
		ret = resolve_endpoint(v, json_string_value(jt), family, NULL,
				       &p->to, errbuf, errlen);
	p->ipv6 = strcmp(family, "IPv6") == 0;
	p->mapped = p->from.mapped || p->to.mapped;
	/* A fixed ephemeral port per line keeps runs reproducible. */
	p->sport = (uint16_t)(32768 + (line % 28000));
	return ret;
}

static void ct_key_for(const struct probe *p, enum np_dir dir,
		       struct np_ct_key *k)
{
	bool icmp = p->proto == NP_PROTO_ICMP || p->proto == NP_PROTO_ICMPV6;
	uint16_t sport = htons(p->sport);
	uint16_t dport = icmp ? htons(p->sport) : htons(p->port);

	memset(k, 0, sizeof(*k));
	k->proto = p->proto;
	k->ifindex = 1; /* bpf_prog_test_run runs the packet on loopback */
	if (dir == NP_DIR_EGRESS) {
		k->local = p->from.addr;
		k->remote = p->to.addr;
		k->local_port = sport;
		k->remote_port = dport;
	} else {
		k->local = p->to.addr;
		k->remote = p->from.addr;
		k->local_port = dport;
		k->remote_port = sport;
	}
}

static json_t *direction_detail(struct vctx *v, const struct probe *p,
				enum np_dir dir, unsigned int *verdict_out,
				char *errbuf, size_t errlen)
{
	const struct endpoint_ref *me = dir == NP_DIR_EGRESS ? &p->from : &p->to;
	struct np_pkt_spec spec = { 0 };
	unsigned char pkt[256];
	struct np_ct_key key;
	struct np_ct_val val;
	bool have = false;
	__u32 retval = 0;
	json_t *d = NULL;
	int len, ret;
	int prog = dir == NP_DIR_EGRESS ? v->dp.prog_egress : v->dp.prog_ingress;
	char name[300];

	ct_key_for(p, dir, &key);
	bpf_map_delete_elem(v->dp.map_ct, &key);
	bpf_map_delete_elem(v->dp.map_ct_deny, &key);
	if (dir == NP_DIR_EGRESS) {
		/* Under test_run the packet arrives on loopback (ifindex 1):
		 * tell the datapath that interface belongs to the source pod. */
		struct np_iface ifc = { 0 };
		__u32 ifindex = 1;

		for (size_t i = 0; i < v->compiled.n_eps; i++)
			if (v->compiled.eps[i].pod == me->pod &&
			    ifc.n_addrs < 2) {
				ifc.ep_id = v->compiled.eps[i].val.ep_id;
				ifc.addrs[ifc.n_addrs++] = v->compiled.eps[i].addr;
			}
		if (bpf_map_update_elem(v->dp.map_ifaces, &ifindex, &ifc, BPF_ANY)) {
			snprintf(errbuf, errlen, "writing np_ifaces failed: %s",
				 strerror(errno));
			return NULL;
		}
	}
	spec.src = p->from.addr;
	spec.dst = p->to.addr;
	spec.ipv6 = p->ipv6;
	spec.proto = p->proto;
	spec.sport = p->sport;
	spec.dport = p->port;
	if (p->proto == NP_PROTO_TCP)
		spec.tcp_flags = 0x02; /* SYN: the first packet of a connection */
	if (p->proto == NP_PROTO_ICMP)
		spec.icmp_type = 8;
	else if (p->proto == NP_PROTO_ICMPV6)
		spec.icmp_type = 128;
	len = np_pkt_build(&spec, pkt, sizeof(pkt));
	if (len < 0) {
		snprintf(errbuf, errlen, "crafting the packet failed: %s",
			 strerror(-len));
		return NULL;
	}
	ret = np_prog_run(prog, pkt, (size_t)len, &retval, 1, NULL);
	if (ret) {
		snprintf(errbuf, errlen, "running the BPF program failed: %s",
			 strerror(-ret));
		return NULL;
	}
	if (bpf_map_lookup_elem(v->dp.map_ct, &key, &val) == 0 ||
	    bpf_map_lookup_elem(v->dp.map_ct_deny, &key, &val) == 0)
		have = true;
	d = json_object();
	if (!d)
		return NULL;
	if (have) {
		*verdict_out = val.verdict;
	} else {
		/* No state written: the program passed or dropped it before
		 * judging (for example a malformed or unknown endpoint). */
		*verdict_out = retval == 2 ? NP_VERDICT_DENY : NP_VERDICT_ALLOW;
	}
	json_object_set_new(d, "verdict", json_string(np_verdict_name(*verdict_out)));
	/* An IPv6 packet with an IPv4-mapped address is dropped as
	 * malformed before any lookup (so it can never pass for IPv4). */
	json_object_set_new(d, "reason",
			    json_string(have ? np_reason_name(val.reason)
				       : (p->mapped && retval == 2) ? "malformed" : "none"));
	if (me->pod) {
		snprintf(name, sizeof(name), "%s/%s", me->pod->ns, me->pod->name);
		json_object_set_new(d, "pod", json_string(name));
	}
	if (have && val.reason == NP_REASON_POLICY) {
		const struct np_rule_ref *r = np_compiled_rule(&v->compiled, val.cookie);

		if (r) {
			snprintf(name, sizeof(name), "%s/%s", r->ns, r->name);
			json_object_set_new(d, "policy", json_string(name));
			snprintf(name, sizeof(name), "%s[%u]",
				 r->dir == NP_DIR_INGRESS ? "ingress" : "egress",
				 r->index);
			json_object_set_new(d, "rule", json_string(name));
		}
		json_object_set_new(d, "cookie", json_integer(val.cookie));
	}
	if (*verdict_out != NP_VERDICT_ALLOW || (have && val.reason == NP_REASON_NO_RULE)) {
		/* Which policies isolate the pod in this direction. */
		json_t *arr = json_array();

		for (size_t i = 0; i < v->compiled.n_eps; i++) {
			const struct np_compiled_ep *ep = &v->compiled.eps[i];
			const struct np_set *set;

			if (memcmp(&ep->addr, &me->addr, sizeof(me->addr)) != 0)
				continue;
			set = np_compiled_set(&v->compiled, ep->val.set_id[dir]);
			for (size_t j = 0; set && j < set->n_policies; j++)
				json_array_append_new(arr, json_string(set->policies[j]));
		}
		json_object_set_new(d, "isolatedBy", arr);
	}
	return d;
}

static int judge(struct vctx *v, struct probe *p, char *errbuf, size_t errlen)
{
	unsigned int overall = NP_VERDICT_ALLOW;
	enum np_dir dirs[2] = { NP_DIR_EGRESS, NP_DIR_INGRESS };

	for (int i = 0; i < 2; i++) {
		const struct endpoint_ref *me =
			dirs[i] == NP_DIR_EGRESS ? &p->from : &p->to;
		unsigned int verdict;
		json_t *d;

		if (!me->is_pod)
			continue; /* not a pod we enforce for */
		d = direction_detail(v, p, dirs[i], &verdict, errbuf, errlen);
		if (!d)
			return -EIO;
		json_object_set_new(p->obj, dirs[i] == NP_DIR_EGRESS ? "egress" : "ingress", d);
		if (verdict == NP_VERDICT_DENY)
			overall = NP_VERDICT_DENY;
		else if (verdict == NP_VERDICT_AUDIT && overall == NP_VERDICT_ALLOW)
			overall = NP_VERDICT_AUDIT;
	}
	/* "verdict" goes before the details for readability. */
	{
		json_t *eg = json_incref(json_object_get(p->obj, "egress"));
		json_t *in = json_incref(json_object_get(p->obj, "ingress"));

		json_object_del(p->obj, "egress");
		json_object_del(p->obj, "ingress");
		json_object_set_new(p->obj, "verdict", json_string(np_verdict_name(overall)));
		if (eg)
			json_object_set_new(p->obj, "egress", eg);
		if (in)
			json_object_set_new(p->obj, "ingress", in);
	}
	return 0;
}

static int read_probes(struct vctx *v, const char *path, const char *family,
		       struct probe **out, size_t *n_out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, pcap = 0, lineno = 0;
	struct probe *probes = NULL;
	ssize_t got;
	int ret = 0;

	if (!f) {
		np_err("cannot open probes file %s: %s", path, strerror(errno));
		return -errno;
	}
	while ((got = getline(&line, &cap, f)) >= 0) {
		json_error_t jerr;
		json_t *obj;
		struct probe p;
		char errbuf[512];
		char *s = line;

		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\n' || *s == '\0' || *s == '#')
			continue;
		obj = json_loads(s, 0, &jerr);
		if (!obj || !json_is_object(obj)) {
			np_err("%s:%zu: not a JSON object: %s", path, lineno,
			       obj ? "expected {...}" : jerr.text);
			json_decref(obj);
			ret = -EINVAL;
			break;
		}
		if (parse_probe(v, obj, family, lineno, &p, errbuf, sizeof(errbuf))) {
			np_err("%s:%zu: %s", path, lineno, errbuf);
			json_decref(obj);
			ret = -EINVAL;
			break;
		}
		if (n >= pcap) {
			size_t nc = pcap ? pcap * 2 : 64;
			struct probe *np = realloc(probes, nc * sizeof(*np));

			if (!np) {
				json_decref(obj);
				ret = -ENOMEM;
				break;
			}
			probes = np;
			pcap = nc;
		}
		probes[n++] = p;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (ret) {
		for (size_t i = 0; i < n; i++)
			json_decref(probes[i].obj);
		free(probes);
		return ret;
	}
	*out = probes;
	*n_out = n;
	return 0;
}

static void vctx_free(struct vctx *v)
{
	if (v->sync_ready)
		np_mapsync_free(&v->sync);
	if (v->dp_loaded)
		np_datapath_close(&v->dp);
	np_compiled_free(&v->compiled);
	np_ids_free(&v->ids);
	np_objects_free(&v->objs);
}

int np_setup_datapath_from_objects(struct np_datapath *dp, struct np_mapsync *sync,
				   const struct np_objects *objs,
				   const struct np_compile_opts *copts,
				   struct np_ids *ids, struct np_compiled *compiled,
				   const struct np_load_opts *lopts, bool *dp_loaded,
				   bool *sync_ready)
{
	struct np_error err;
	struct np_sync_stats stats;
	int ret;

	ret = np_compile(objs, copts, ids, compiled, &err);
	if (ret) {
		np_err("%s", err.msg);
		return ret == -EINVAL ? -EINVAL : ret;
	}
	ret = np_datapath_load(dp, lopts);
	if (ret)
		return ret == -EINVAL ? -EIO : ret;
	*dp_loaded = true;
	np_mapsync_open(sync, dp, lopts);
	*sync_ready = true;
	ret = np_mapsync_apply(sync, compiled, NULL, 0, &stats, &err);
	if (ret) {
		np_err("%s", err.msg);
		return -EIO;
	}
	np_dbg("maps: %zu endpoints, %zu peer entries, %zu port entries, %zu sets, %zu classes",
	       stats.entries[NP_SYNC_ENDPOINTS], stats.entries[NP_SYNC_PEERS],
	       stats.entries[NP_SYNC_PORTS], compiled->n_sets,
	       compiled->n_classes);
	return 0;
}

int np_verdict_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "objects", required_argument, NULL, 'f' },
		{ "probes", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "port", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'r' },
		{ "ip-family", required_argument, NULL, 'i' },
		{ "node-ip", required_argument, NULL, 'n' },
		{ "audit", no_argument, NULL, 'a' },
		{ "map-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vctx v = { 0 };
	struct np_load_opts lopts;
	struct np_compile_opts copts = { .host_network_is_node = true };
	const char *probes_path = NULL, *from = NULL, *to = NULL, *port = NULL;
	const char *protocol = NULL, *family = NULL;
	struct probe *probes = NULL;
	size_t n_probes = 0, n_paths = 0;
	struct np_addr node_addrs[64];
	int ret = EXIT_BAD_INPUT, opt;

	np_ids_init(&v.ids);
	np_load_opts_default(&lopts);
	lopts.emit_events = false; /* nobody reads them here */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': {
			struct np_error err;
			int r = np_objects_load_path(&v.objs, optarg, &err);

			if (r) {
				np_err("%s", err.msg);
				goto cleanup;
			}
			n_paths++;
			break;
		}
		case 'p':
			probes_path = optarg;
			break;
		case 'F':
			from = optarg;
			break;
		case 'T':
			to = optarg;
			break;
		case 'P':
			port = optarg;
			break;
		case 'r':
			protocol = optarg;
			break;
		case 'i':
			if (strcmp(optarg, "IPv4") && strcmp(optarg, "IPv6")) {
				np_err("--ip-family: \"%s\" is not IPv4 or IPv6", optarg);
				goto cleanup;
			}
			family = optarg;
			break;
		case 'n':
			if (copts.n_node_addrs >= 64 ||
			    np_addr_parse(optarg, &node_addrs[copts.n_node_addrs])) {
				np_err("--node-ip: \"%s\" is not an IP address (at most 64)", optarg);
				goto cleanup;
			}
			copts.n_node_addrs++;
			break;
		case 'a':
			lopts.audit_all = true;
			break;
		case 'm': {
			char msg[256];

			if (np_map_size_parse(&lopts, optarg, msg, sizeof(msg))) {
				np_err("%s", msg);
				goto cleanup;
			}
			break;
		}
		case 'h':
			usage(stdout);
			ret = 0;
			goto cleanup;
		default:
			usage(stderr);
			goto cleanup;
		}
	}
	copts.node_addrs = node_addrs;
	if (n_paths == 0 || (!probes_path && !(from && to)) ||
	    (probes_path && (from || to)) || optind < argc) {
		np_err("give objects with -f and either --probes FILE or --from/--to/--port (see --help)");
		goto cleanup;
	}
	if (probes_path) {
		if (read_probes(&v, probes_path, family, &probes, &n_probes))
			goto cleanup;
	} else {
		json_t *obj = json_object();
		char errbuf[512];
		char *end = NULL;
		long pn = port ? strtol(port, &end, 10) : 0;

		json_object_set_new(obj, "from", json_string(from));
		json_object_set_new(obj, "to", json_string(to));
		if (port) {
			if (!end || *end || pn < 1 || pn > 65535) {
				np_err("--port: \"%s\" is not a number from 1 to 65535", port);
				json_decref(obj);
				goto cleanup;
			}
			json_object_set_new(obj, "port", json_integer(pn));
		}
		json_object_set_new(obj, "protocol", json_string(protocol ? protocol : "TCP"));
		probes = calloc(1, sizeof(*probes));
		if (!probes || parse_probe(&v, obj, family, 1, &probes[0], errbuf,
					   sizeof(errbuf))) {
			np_err("probe: %s", probes ? errbuf : "out of memory");
			json_decref(obj);
			goto cleanup;
		}
		n_probes = 1;
	}
	ret = np_setup_datapath_from_objects(&v.dp, &v.sync, &v.objs, &copts,
					     &v.ids, &v.compiled, &lopts,
					     &v.dp_loaded, &v.sync_ready);
	if (ret) {
		ret = ret == -EINVAL ? EXIT_BAD_INPUT : 1;
		goto cleanup;
	}
	for (size_t i = 0; i < n_probes; i++) {
		char errbuf[512];
		char *out;

		if (judge(&v, &probes[i], errbuf, sizeof(errbuf))) {
			np_err("probe %zu: %s", i + 1, errbuf);
			ret = 1;
			goto cleanup;
		}
		out = json_dumps(probes[i].obj, JSON_COMPACT);
		if (!out) {
			ret = 1;
			goto cleanup;
		}
		puts(out);
		free(out);
	}
	fflush(stdout);
	ret = 0;
cleanup:
	for (size_t i = 0; i < n_probes; i++)
		json_decref(probes[i].obj);
	free(probes);
	vctx_free(&v);
	return ret;
}
