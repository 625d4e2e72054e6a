// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `netpolctl flows`: read the agent's local flow log (--flow-log-file),
 * filter it like `hubble observe`, print JSON lines or a table; --follow
 * keeps reading as the agent appends, across rotations.  With --since, the
 * rotated files (PATH.N.gz, oldest first) are read before PATH.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "flowctl.h"
#include "flowfilter.h"

#define EXIT_NO_FILE 1
#define EXIT_USAGE 2
#define NP_FLOW_LOG_DEFAULT "/var/log/netpol-agent/flows.log"
#define NP_FLOWCTL_MAX_ROTATED 1000

struct flowctl {
	struct np_flow_filter f;
	bool table, follow;
	unsigned long long shown;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netpolctl flows [--file PATH] [--follow] [--output json|table] [FILTERS]\n"
		"\n"
		"Reads the flow records the agent writes with --flow-log-file (default\n"
		NP_FLOW_LOG_DEFAULT ", env NETPOL_FLOW_LOG_FILE) and prints\n"
		"those matching every filter given.\n"
		"\n"
		"  --file PATH         the flow log\n"
		"  -f, --follow        keep printing records as they are written (rotation is followed)\n"
		"  --output FORMAT     table (default) or json (one record per line, as written)\n"
		"filters (pod, namespace, ip and port match either end of a flow):\n"
		"  --pod [NS/]NAME     --namespace NS       --ip ADDR|CIDR       --port N\n"
		"  --protocol tcp|udp|sctp|icmp|icmpv6|N    --action ACCEPT|REJECT|AUDIT\n"
		"  --direction ingress|egress               --policy NS/NAME\n"
		"  --since DURATION    records that ended in the last 30s, 10m, 2h, 1d...; also\n"
		"                      reads the rotated files PATH.N.gz\n"
		"Exit status: 0 ok, 1 the log cannot be read, 2 bad usage.\n");
}

static void print_table_header(void)
{
	printf("%-19s %-7s %-8s %-44s %-44s %-5s %8s %10s %s\n", "TIME", "ACTION", "DIR", "SOURCE",
	       "DESTINATION", "PROTO", "PACKETS", "BYTES", "POLICY");
}

static const char *jstr(const json_t *r, const char *k)
{
	const char *s = json_string_value(json_object_get(r, k));

	return s ? s : "";
}

/* "ns/pod (addr:port)" or "addr:port". */
static void endpoint(char *buf, size_t len, const json_t *r, const char *pod, const char *ns,
		     const char *addr, const char *port)
{
	const char *a = jstr(r, addr);
	bool v6 = strchr(a, ':') != NULL;
	long long p = json_integer_value(json_object_get(r, port));

	if (*jstr(r, pod))
		snprintf(buf, len, "%s/%s %s%s%s:%lld", jstr(r, ns), jstr(r, pod), v6 ? "[" : "", a,
			 v6 ? "]" : "", p);
	else
		snprintf(buf, len, "%s%s%s:%lld", v6 ? "[" : "", a, v6 ? "]" : "", p);
}

static void print_row(const json_t *r)
{
	char src[256], dst[256], when[32] = "-";
	time_t end = (time_t)json_integer_value(json_object_get(r, "end"));
	struct tm tm;

	if (!strcmp(jstr(r, "logStatus"), "SKIPDATA")) {
		if (localtime_r(&end, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-19s SKIPDATA lost=%lld suppressed=%lld droppedRecords=%lld\n", when,
		       json_integer_value(json_object_get(r, "lostEvents")),
		       json_integer_value(json_object_get(r, "suppressedEvents")),
		       json_integer_value(json_object_get(r, "droppedRecords")));
		return;
	}
	if (localtime_r(&end, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	endpoint(src, sizeof(src), r, "srcPod", "srcNamespace", "srcAddr", "srcPort");
	endpoint(dst, sizeof(dst), r, "dstPod", "dstNamespace", "dstAddr", "dstPort");
	printf("%-19s %-7s %-8s %-44s %-44s %-5lld %8lld %10lld %s%s%s\n", when, jstr(r, "action"),
	       jstr(r, "flowDirection"), src, dst, json_integer_value(json_object_get(r, "protocol")),
	       json_integer_value(json_object_get(r, "packets")),
	       json_integer_value(json_object_get(r, "bytes")), jstr(r, "policy"),
	       *jstr(r, "policyRule") ? " " : "", jstr(r, "policyRule"));
}

static void take_line(struct flowctl *c, const char *line, size_t len)
{
	json_error_t err;
	json_t *r;

	if (!len)
		return;
	r = json_loadb(line, len, 0, &err);
	if (!r)
		return; /* not a record (never written by the agent) */
	/* SKIPDATA records always show: they say what the others miss. */
	if (!strcmp(jstr(r, "logStatus"), "SKIPDATA") ? !c->f.since ||
							    json_integer_value(json_object_get(r, "end")) >= c->f.since
						      : np_flow_filter_match(&c->f, r)) {
		if (c->table)
			print_row(r);
		else
			printf("%.*s\n", (int)len, line);
		c->shown++;
	}
	json_decref(r);
}

static int read_gz(struct flowctl *c, const char *path)
{
	gzFile gz = gzopen(path, "rb");
	char *line = NULL;
	size_t cap = 1 << 16;

	if (!gz)
		return -errno;
	line = malloc(cap);
	while (line && gzgets(gz, line, (int)cap)) {
		size_t len = strlen(line);

		if (len && line[len - 1] == '\n')
			take_line(c, line, len - 1);
	}
	free(line);
	gzclose(gz);
	return 0;
}

/* Lines of F from its current position; a last line without its newline
 * (being written) is left for the next read. */
static void read_lines(struct flowctl *c, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long start;

	for (;;) {
		start = ftell(f);
		n = getline(&line, &cap, f);
		if (n <= 0)
			break;
		if (line[n - 1] != '\n') {
			fseek(f, start, SEEK_SET);
			break;
		}
		take_line(c, line, (size_t)n - 1);
	}
	clearerr(f);
	free(line);
	fflush(stdout);
}

static int run(struct flowctl *c, const char *path)
{
	struct stat st, now;
	FILE *f = NULL;
	int ret = 0;

	if (c->f.since) {
		char gz[PATH_MAX];

		for (int i = NP_FLOWCTL_MAX_ROTATED; i >= 1; i--) {
			snprintf(gz, sizeof(gz), "%s.%d.gz", path, i);
			if (access(gz, R_OK) == 0)
				read_gz(c, gz);
		}
	}
	if (c->table)
		print_table_header();
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		fprintf(stderr, "netpolctl flows: cannot read %s: %s; is the agent running with --flow-log-file %s?\n",
			path, strerror(errno), path);
		goto cleanup;
	}
	read_lines(c, f);
	while (c->follow) {
		usleep(200 * 1000);
		read_lines(c, f);
		/* Rotated: the agent renamed it and started a new file. */
		if (stat(path, &now) == 0 && fstat(fileno(f), &st) == 0 &&
		    (now.st_ino != st.st_ino || now.st_size < ftell(f))) {
			FILE *g = fopen(path, "r");

			if (g) {
				read_lines(c, f);
				fclose(f);
				f = g;
			}
		}
	}
cleanup:
	if (f)
		fclose(f);
	return ret;
}

int np_flows_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'F' },
		{ "follow", no_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "pod", required_argument, NULL, 1 },
		{ "namespace", required_argument, NULL, 1 },
		{ "ip", required_argument, NULL, 1 },
		{ "port", required_argument, NULL, 1 },
		{ "protocol", required_argument, NULL, 1 },
		{ "action", required_argument, NULL, 1 },
		{ "direction", required_argument, NULL, 1 },
		{ "policy", required_argument, NULL, 1 },
		{ "since", required_argument, NULL, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct flowctl c = { .table = true };
	const char *path = getenv("NETPOL_FLOW_LOG_FILE");
	char msg[256];
	int opt, idx;

	np_flow_filter_init(&c.f);
	if (!path || !*path)
		path = NP_FLOW_LOG_DEFAULT;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "fh", longopts, &idx)) != -1) {
		switch (opt) {
		case 'F':
			path = optarg;
			break;
		case 'f':
			c.follow = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "table")) {
				fprintf(stderr, "netpolctl flows: --output: \"%s\" is not json or table\n", optarg);
				return EXIT_USAGE;
			}
			c.table = !strcmp(optarg, "table");
			break;
		case 1:
			if (np_flow_filter_set(&c.f, longopts[idx].name, optarg, (int64_t)time(NULL), msg,
					       sizeof(msg))) {
				fprintf(stderr, "netpolctl flows: %s\n", msg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netpolctl flows: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return EXIT_USAGE;
	}
	return run(&c, path) ? EXIT_NO_FILE : 0;
}
