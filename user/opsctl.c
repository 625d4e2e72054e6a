// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netpolctl status / policy / explain / conntrack: see opsctl.h. */
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

#include "agentops.h"
#include "loader.h"
#include "log.h"
#include "mapusage.h"
#include "model.h"
#include "netpol.h"
#include "opsctl.h"
#include "pin.h"
#include "pkt.h"
#include "strbuf.h"
#include "verdict.h"

#define EXIT_UNREADABLE 1
#define EXIT_USAGE 2

struct ctl {
	const char *pin_root;
	char agent[256]; /* base URL, no trailing slash */
	bool json;
};

/* ---- common options ---- */

enum { OPT_PIN = 2000, OPT_AGENT, OPT_OUTPUT };

#define COMMON_LONGOPTS                                              \
	{ "pin-path", required_argument, NULL, OPT_PIN },            \
	{ "agent", required_argument, NULL, OPT_AGENT },             \
	{ "output", required_argument, NULL, OPT_OUTPUT },           \
	{ "help", no_argument, NULL, 'h' }

#define COMMON_HELP                                                                           \
	"  --pin-path DIR      the agent's pin path (default env NETPOL_PIN_PATH, else\n"        \
	"                      " NP_PIN_DEFAULT ")\n"                                           \
	"  --agent URL         the agent's HTTP endpoint (default http:// + env\n"              \
	"                      NETPOL_METRICS_ADDRESS, else http://" NP_METRICS_DEFAULT_ADDRESS ")\n" \
	"  --output FORMAT     table (default) or json\n"

static void ctl_defaults(struct ctl *c)
{
	const char *env = getenv("NETPOL_PIN_PATH");
	const char *addr = getenv("NETPOL_METRICS_ADDRESS");

	c->pin_root = env && *env ? env : NP_PIN_DEFAULT;
	if (!addr || !*addr || strcmp(addr, "off") == 0)
		addr = NP_METRICS_DEFAULT_ADDRESS;
	/* An agent listening on every address is reached on loopback. */
	if (addr[0] == ':')
		snprintf(c->agent, sizeof(c->agent), "http://127.0.0.1%s", addr);
	else if (strncmp(addr, "0.0.0.0:", 8) == 0)
		snprintf(c->agent, sizeof(c->agent), "http://127.0.0.1%s", addr + 7);
	else
		snprintf(c->agent, sizeof(c->agent), "http://%s", addr);
	c->json = false;
}

/* 1: handled (a common option), 0: not ours, -EINVAL: bad value. */
static int ctl_opt(struct ctl *c, int opt, const char *cmd)
{
	switch (opt) {
	case OPT_PIN:
		c->pin_root = optarg;
		return 1;
	case OPT_AGENT: {
		size_t n = strlen(optarg);

		if (strncmp(optarg, "http://", 7) != 0 || n >= sizeof(c->agent)) {
			fprintf(stderr, "netpolctl %s: --agent: \"%s\" is not an http:// URL (e.g. http://127.0.0.1:9090)\n",
				cmd, optarg);
			return -EINVAL;
		}
		snprintf(c->agent, sizeof(c->agent), "%s", optarg);
		while (n > 7 && c->agent[n - 1] == '/')
			c->agent[--n] = '\0';
		return 1;
	}
	case OPT_OUTPUT:
		if (strcmp(optarg, "json") == 0) {
			c->json = true;
		} else if (strcmp(optarg, "table") == 0) {
			c->json = false;
		} else {
			fprintf(stderr, "netpolctl %s: --output: \"%s\" is not table or json\n", cmd, optarg);
			return -EINVAL;
		}
		return 1;
	default:
		return 0;
	}
}

/* ---- the agent's HTTP endpoint ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	np_sb_add(ctx, p, size * n);
	return size * n;
}

/* GET BASE+PATH.  0 with *STATUS and BODY filled, or -EIO with ERRBUF. */
static int agent_get(const struct ctl *c, const char *path, long *status, struct np_strbuf *body,
		     char *errbuf, size_t errlen)
{
	char url[1024], cerr[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (!h) {
		snprintf(errbuf, errlen, "libcurl could not start");
		return -ENOMEM;
	}
	snprintf(url, sizeof(url), "%s%s", c->agent, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* the agent is on this node */
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	else
		snprintf(errbuf, errlen, "%.300s: %.200s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
	curl_easy_cleanup(h);
	np_sb_add(body, "", 0);
	return rc == CURLE_OK ? 0 : -EIO;
}

/* GET PATH as JSON; NULL with ERRBUF on failure or a non-200 answer. */
static json_t *agent_json(const struct ctl *c, const char *path, long *status, char *errbuf,
			  size_t errlen)
{
	struct np_strbuf b = { 0 };
	json_error_t jerr;
	json_t *j = NULL;
	long st = 0;

	if (agent_get(c, path, &st, &b, errbuf, errlen))
		goto cleanup;
	if (status)
		*status = st;
	j = json_loads(b.p, 0, &jerr);
	if (!j) {
		snprintf(errbuf, errlen, "%s%s: not JSON (HTTP %ld): %.200s", c->agent, path, st, b.p);
		goto cleanup;
	}
	if (st != 200) {
		json_t *e = json_object_get(j, "error");

		snprintf(errbuf, errlen, "%s%s: HTTP %ld: %s", c->agent, path, st,
			 json_is_string(e) ? json_string_value(e) : "error");
		json_decref(j);
		j = NULL;
	}
cleanup:
	np_sb_free(&b);
	return j;
}

/* ---- pinned maps ---- */

static int pinned_fd(const struct ctl *c, const char *name, bool versioned)
{
	char path[PATH_MAX];

	if (versioned)
		snprintf(path, sizeof(path), "%s/v%u/%s", c->pin_root, NP_PIN_LAYOUT_VERSION, name);
	else
		snprintf(path, sizeof(path), "%s/%s", c->pin_root, name);
	return bpf_obj_get(path);
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		puts(s);
	free(s);
}

static const char *addr_s(const struct np_addr *a, char *buf, size_t len)
{
	return np_addr_str(a, buf, len);
}

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

	ctl_defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = ctl_opt(&c, opt, "status");

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
	reachable = agent_get(&c, "/healthz", &hst, &body, err, sizeof(err)) == 0;
	json_object_set_new(agent, "url", json_string(c.agent));
	json_object_set_new(agent, "reachable", json_boolean(reachable));
	if (reachable) {
		np_sb_reset(&body);
		agent_get(&c, "/readyz", &rst, &body, err2, sizeof(err2));
		ready = rst == 200;
		json_object_set_new(agent, "healthy", json_boolean(hst == 200));
		json_object_set_new(agent, "ready", json_boolean(ready));
		if (body.p) {
			size_t n = strlen(body.p);

			while (n && body.p[n - 1] == '\n')
				body.p[--n] = '\0';
			json_object_set_new(agent, "readyz", json_string(body.p));
		}
		agent_st = agent_json(&c, "/debug/status", NULL, err2, sizeof(err2));
		names = agent_json(&c, "/debug/names", NULL, err2, sizeof(err2));
		if (agent_st) {
			json_object_set(agent, "node", json_object_get(agent_st, "node"));
			json_object_set(agent, "policies", json_object_get(agent_st, "policies"));
			json_object_set(agent, "pods", json_object_get(agent_st, "pods"));
			json_object_set(agent, "enforcement", json_object_get(agent_st, "enforcement"));
			json_object_set(agent, "audit", json_object_get(agent_st, "audit"));
			json_object_set(agent, "uptimeSeconds", json_object_get(agent_st, "uptimeSeconds"));
		} else {
			json_object_set_new(agent, "debugError", json_string(err2));
		}
	} else {
		json_object_set_new(agent, "error", json_string(err));
	}
	json_object_set_new(out, "agent", agent);
	json_object_set_new(out, "pinPath", json_string(c.pin_root));
	/* The datapath, from the pins. */
	fd_att = pinned_fd(&c, "attached", false);
	fd_if = pinned_fd(&c, "np_ifaces", true);
	fd_ep = pinned_fd(&c, "np_endpoints", true);
	fd_state = pinned_fd(&c, "np_state", true);
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

				json_array_append_new(addrs, json_string(addr_s(&ifc.addrs[k], s, sizeof(s))));
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
			int fd = pinned_fd(&c, mapnames[i], true);

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
		print_json(out);
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

/* ---- policy ---- */

static void policy_usage(FILE *f)
{
	fprintf(f,
		"usage: netpolctl policy NAMESPACE/POD [--agent URL] [--output table|json]\n"
		"\n"
		"The rules the agent compiled for the pod, per direction: which policies isolate\n"
		"it, and for each peer prefix which protocols and ports are allowed, by which\n"
		"policy and rule, followed by those rules as written in the source policies.\n"
		"Read from the running agent (its /debug/policy endpoint, loopback only).\n"
		"\n" COMMON_HELP
		"Exit status: 0 ok, 1 the agent cannot be reached or does not know the pod,\n"
		"2 bad usage.\n");
}

static void print_selector(const char *what, json_t *sel)
{
	const char *k;
	json_t *v, *e;
	size_t i;
	bool any = false;

	printf("%s{", what);
	json_object_foreach(json_object_get(sel, "matchLabels"), k, v) {
		printf("%s%s=%s", any ? "," : "", k, json_string_value(v));
		any = true;
	}
	json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
		size_t m;
		json_t *val;

		printf("%s%s %s (", any ? "," : "", json_string_value(json_object_get(e, "key")),
		       json_string_value(json_object_get(e, "operator")));
		json_array_foreach(json_object_get(e, "values"), m, val)
			printf("%s%s", m ? "," : "", json_string_value(val));
		printf(")");
		any = true;
	}
	printf("%s}", any ? "" : "everything");
}

int np_policy_main(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { 0 } };
	struct ctl c;
	char err[1024] = "", path[1024];
	const char *pod = NULL;
	json_t *j;
	int opt;
	char *enc;

	ctl_defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = ctl_opt(&c, opt, "policy");

		if (r < 0)
			return EXIT_USAGE;
		if (r)
			continue;
		if (opt == 'h') {
			policy_usage(stdout);
			return 0;
		}
		policy_usage(stderr);
		return EXIT_USAGE;
	}
	if (optind + 1 != argc || !strchr(argv[optind], '/')) {
		fprintf(stderr, "netpolctl policy: give one pod as NAMESPACE/NAME\n");
		policy_usage(stderr);
		return EXIT_USAGE;
	}
	pod = argv[optind];
	enc = curl_easy_escape(NULL, pod, 0);
	snprintf(path, sizeof(path), "/debug/policy?pod=%s", enc ? enc : "");
	curl_free(enc);
	j = agent_json(&c, path, NULL, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "netpolctl policy: %s\n", err);
		return EXIT_UNREADABLE;
	}
	if (c.json) {
		print_json(j);
	} else {
		json_t *a, *rules = json_object_get(j, "rules"), *r;
		const char *rk;
		size_t i;

		printf("pod %s (", pod);
		json_array_foreach(json_object_get(j, "addresses"), i, a)
			printf("%s%s", i ? ", " : "", json_string_value(a));
		printf(")%s%s\n", json_is_true(json_object_get(j, "local")) ? ", on this node" : ", not on this node (enforced where it runs)",
		       json_is_true(json_object_get(j, "hostNetwork")) ? ", hostNetwork: treated as the node" : "");
		for (int d = 0; d < 2; d++) {
			const char *dn = d ? "egress" : "ingress";
			json_t *dj = json_object_get(j, dn), *p;

			if (!json_is_true(json_object_get(dj, "isolated"))) {
				printf("\n%s: not isolated (no policy selects it for %s): every %s allowed\n", dn, dn,
				       d ? "destination" : "source");
				continue;
			}
			printf("\n%s: isolated by ", dn);
			json_array_foreach(json_object_get(dj, "isolatedBy"), i, a)
				printf("%s%s", i ? ", " : "", json_string_value(a));
			printf("%s; allowed:\n", json_is_true(json_object_get(dj, "audit")) ? " (audit mode: denials pass, reported AUDIT)" : "");
			if (!json_array_size(json_object_get(dj, "peers")))
				printf("  nothing (every %s is denied)\n", d ? "connection out" : "connection in");
			else
				printf("  %-28s %-6s %-13s %s\n", d ? "DESTINATION" : "SOURCE", "PROTO", "PORTS", "POLICY RULE");
			json_array_foreach(json_object_get(dj, "peers"), i, p) {
				size_t k;
				json_t *e;

				if (!json_array_size(json_object_get(p, "allow")))
					printf("  %-28s %-6s %-13s %s\n", json_string_value(json_object_get(p, "peer")), "-", "-",
					       "(excepted: nothing allowed)");
				json_array_foreach(json_object_get(p, "allow"), k, e)
					printf("  %-28s %-6s %-13s %s %s\n", json_string_value(json_object_get(p, "peer")),
					       json_string_value(json_object_get(e, "protocol")),
					       json_string_value(json_object_get(e, "ports")),
					       json_string_value(json_object_get(e, "policy")) ?: "?",
					       json_string_value(json_object_get(e, "rule")) ?: "");
			}
		}
		if (json_object_size(rules))
			printf("\nsource rules:\n");
		json_object_foreach(rules, rk, r) {
			json_t *peers = json_object_get(r, "from") ?: json_object_get(r, "to"), *p;
			const char *src = json_string_value(json_object_get(r, "source"));

			printf("  %s%s%s\n", rk, src ? "  from " : "", src ? src : "");
			printf("    %s: ", json_object_get(r, "from") ? "from" : "to");
			if (!json_array_size(peers))
				printf("every peer");
			json_array_foreach(peers, i, p) {
				json_t *ib = json_object_get(p, "ipBlock");

				printf("%s", i ? "; " : "");
				if (ib) {
					size_t k;
					json_t *e;

					printf("ipBlock %s", json_string_value(json_object_get(ib, "cidr")));
					json_array_foreach(json_object_get(ib, "except"), k, e)
						printf("%s%s", k ? "," : " except ", json_string_value(e));
				}
				if (json_object_get(p, "namespaceSelector"))
					print_selector("namespaceSelector", json_object_get(p, "namespaceSelector"));
				if (json_object_get(p, "namespaceSelector") && json_object_get(p, "podSelector"))
					printf(" AND ");
				if (json_object_get(p, "podSelector"))
					print_selector("podSelector", json_object_get(p, "podSelector"));
			}
			printf("\n    ports: ");
			if (!json_array_size(json_object_get(r, "ports")))
				printf("every port and protocol");
			json_array_foreach(json_object_get(r, "ports"), i, p) {
				json_t *port = json_object_get(p, "port");

				printf("%s%s", i ? ", " : "", json_string_value(json_object_get(p, "protocol")));
				if (json_is_string(port))
					printf(" %s", json_string_value(port));
				else if (port)
					printf(" %lld", json_integer_value(port));
				if (json_object_get(p, "endPort"))
					printf("-%lld", json_integer_value(json_object_get(p, "endPort")));
			}
			printf("\n");
		}
	}
	json_decref(j);
	return 0;
}

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

/* jiffies now, as bpf_jiffies64() sees it. */
static int jiffies_now(__u64 *out)
{
	FILE *f = fopen("/proc/timer_list", "r");
	char line[256];
	int ret = -ENOENT;

	if (!f)
		return -errno;
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

	ctl_defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = ctl_opt(&c, opt, "conntrack");
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
				ipf.addr = a;
				ipf.plen = 128;
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
	fd = pinned_fd(&c, denied ? "np_ct_deny" : "np_ct", true);
	if (fd < 0) {
		fprintf(stderr, "netpolctl conntrack: cannot open %s/v%u/%s: %s; is the agent installed with this --pin-path (run as root)?\n",
			c.pin_root, NP_PIN_LAYOUT_VERSION, denied ? "np_ct_deny" : "np_ct", strerror(errno));
		ret = EXIT_UNREADABLE;
		goto cleanup;
	}
	names = agent_json(&c, "/debug/names", NULL, err, sizeof(err));
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
		addr_s(&key.local, ls, sizeof(ls));
		addr_s(&key.remote, rs, sizeof(rs));
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
	int prog = pinned_fd(&x->c, "np_pod_ingress", true), ret = -ENOENT;

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
	bool dp_loaded = false;
	int opt, ret = 0, fd_ifaces = -1;
	unsigned int overall = NP_VERDICT_ALLOW;
	json_t *names = NULL, *out = NULL, *enriched = NULL;
	char names_err[512] = "";

	ctl_defaults(&x.c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = ctl_opt(&x.c, opt, "explain");
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
	names = agent_json(&x.c, "/debug/names", NULL, names_err, sizeof(names_err));
	snprintf(x.errmsg, sizeof(x.errmsg), "%s", names_err);
	fd_ifaces = pinned_fd(&x.c, "np_ifaces", true);
	for (int i = 0; i < 5; i++)
		x.pinned[i] = pinned_fd(&x.c, explain_maps[i], true);
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
		json_t *st = agent_json(&x.c, "/debug/status", NULL, serr, sizeof(serr));
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
			pol = agent_json(&x.c, path, NULL, perr, sizeof(perr));
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
		print_json(out);
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
