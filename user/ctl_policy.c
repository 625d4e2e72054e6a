// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* netpolctl policy: see opsctl.h. */
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

	np_ctl_defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = np_ctl_opt(&c, opt, "policy");

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
	j = np_ctl_json(&c, path, NULL, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "netpolctl policy: %s\n", err);
		return EXIT_UNREADABLE;
	}
	if (c.json) {
		np_ctl_print_json(j);
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
