// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * flow-bench: figures for the flow pipeline (`make bench`, tools/flow-bench.sh).
 *
 *   flow-bench pipeline [--flows N]
 *       On one core, in this process: N flows of 2 events each (NEW, then
 *       END with counters), through aggregation, JSON records with
 *       Kubernetes context and a sink that only counts.  Prints
 *       "events_per_s=... records_per_s=... bytes_per_record=...", CPU time
 *       of this thread only.
 *
 *   flow-bench inject --prog PINNED_PROG --ifindex N --flows N [--dst ADDR] [--dport P]
 *       Run the agent's pinned ingress program (bpf_prog_test_run) on N SYNs
 *       from N different sources in 10.250.0.0/16, as if they arrived on
 *       IFINDEX: N allowed connections in its conntrack table, N NEW events
 *       in its ring buffer.  For measuring the agent with many active flows.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "flowlog.h"
#include "model.h"
#include "pkt.h"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "flow-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct count_sink {
	struct np_sink sink;
	uint64_t bytes;
};

static size_t count_offer(struct np_sink *s, struct np_rec *recs, size_t n)
{
	struct count_sink *c = (struct count_sink *)s;

	for (size_t i = 0; i < n; i++) {
		c->bytes += recs[i].len + 1;
		np_rec_free(&recs[i]);
	}
	s->stats.accepted += n;
	return n;
}

static void count_destroy(struct np_sink *s)
{
	(void)s;
}

/* Kubernetes context as the agent has it: the relay pod is a known pod. */
static void meta_for_bench(struct np_flowlog *fl)
{
	static const char yaml[] =
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: relay-0\n  namespace: relay\n"
		"  labels:\n    app: relay\nspec:\n  containers:\n  - name: c\n    image: x\n"
		"status:\n  podIP: 10.244.1.10\n";
	struct np_objects objs = { 0 };
	struct np_compiled c = { 0 };
	struct np_compile_opts copts = { 0 };
	struct np_flow_meta meta;
	struct np_error err;
	struct np_ids ids;

	np_ids_init(&ids);
	if (np_objects_load_buffer(&objs, "bench", yaml, sizeof(yaml) - 1, &err) ||
	    np_compile(&objs, &copts, &ids, &c, &err) || np_flow_meta_build(&meta, &objs, &c))
		die("building the Kubernetes context failed: %s", err.msg);
	np_flowlog_set_meta(fl, &meta);
	np_compiled_free(&c);
	np_ids_free(&ids);
	np_objects_free(&objs);
}

static int cmd_pipeline(long flows)
{
	struct count_sink cs = { .sink = { .name = "count", .offer = count_offer,
					   .destroy = count_destroy } };
	struct np_sink *sinks[1] = { &cs.sink };
	struct np_flowlog_opts o = {
		.node = "ip-10-0-1-23.eu-west-1.compute.internal", .interval_s = 60,
		.queue_max = 1u << 20,
		.agg = { .to_tcp_syn_s = 60, .to_tcp_est_s = 21600, .to_tcp_close_s = 10,
			 .to_other_s = 60, .to_icmp_s = 30 },
	};
	struct np_flowlog fl;
	const long batch = 100000; /* flows per flush: a busy interval */
	struct np_addr local, remote;
	double t0, t;

	np_addr_parse("10.244.1.10", &local);
	np_addr_parse("10.250.0.0", &remote);
	if (np_flowlog_init(&fl, &o, NULL, sinks, 1))
		die("np_flowlog_init failed");
	meta_for_bench(&fl);
	t0 = thread_cpu_s();
	for (long done = 0; done < flows; done += batch) {
		for (long i = done; i < done + batch && i < flows; i++) {
			struct np_flow_event ev = { .kind = NP_EV_NEW, .origin = NP_DIR_INGRESS,
						    .dir = NP_DIR_INGRESS, .verdict = NP_VERDICT_ALLOW,
						    .reason = NP_REASON_NOT_ISOLATED, .ep_id = 1,
						    .flow = NP_FLOW_LOGGED, .ts_ns = 1 };

			ev.key.local = local;
			ev.key.remote = remote;
			ev.key.remote.b[14] = (uint8_t)(i >> 8);
			ev.key.remote.b[15] = (uint8_t)i;
			ev.key.remote_port = htons((uint16_t)(1024 + (i >> 16)));
			ev.key.local_port = htons(443);
			ev.key.proto = NP_PROTO_TCP;
			ev.key.ifindex = 7;
			ev.packets[0] = 1;
			ev.bytes[0] = 74;
			ev.tcp_flags = NP_FLOW_TCP_SYN;
			np_flowlog_event(&fl, &ev);
			ev.kind = NP_EV_END;
			ev.end = NP_END_FIN;
			ev.packets[0] = 6;
			ev.packets[1] = 5;
			ev.bytes[0] = 700;
			ev.bytes[1] = 5200;
			ev.tcp_flags = NP_FLOW_TCP_SYN | NP_FLOW_TCP_ACK | NP_FLOW_TCP_FIN;
			np_flowlog_event(&fl, &ev);
		}
		np_flowlog_flush(&fl, false);
	}
	t = thread_cpu_s() - t0;
	printf("events_per_s=%.0f records_per_s=%.0f bytes_per_record=%.0f records=%llu\n",
	       2.0 * (double)flows / t, (double)cs.sink.stats.accepted / t,
	       (double)cs.bytes / (double)(cs.sink.stats.accepted ? cs.sink.stats.accepted : 1),
	       (unsigned long long)cs.sink.stats.accepted);
	np_flowlog_close(&fl, 0);
	return 0;
}

static int cmd_inject(const char *prog, unsigned int ifindex, long flows, const char *dst,
		      unsigned int dport)
{
	struct np_pkt_spec s = { .proto = NP_PROTO_TCP, .dport = (uint16_t)dport, .tcp_flags = 0x02 };
	uint8_t buf[128];
	long passed = 0;
	int fd = bpf_obj_get(prog);

	if (fd < 0)
		die("opening the pinned program %s failed: %s", prog, strerror(errno));
	if (np_addr_parse(dst, &s.dst) || np_addr_parse("10.250.0.0", &s.src))
		die("bad address %s", dst);
	for (long i = 0; i < flows; i++) {
		__u32 ret = 0;
		int len;

		s.src.b[14] = (uint8_t)(i >> 8);
		s.src.b[15] = (uint8_t)i;
		s.sport = (uint16_t)(1024 + (i >> 16));
		len = np_pkt_build(&s, buf, sizeof(buf));
		if (len < 0 || np_prog_run_on(fd, buf, (size_t)len, ifindex, &ret))
			die("running the program failed at flow %ld", i);
		passed += ret == 0;
	}
	printf("injected=%ld passed=%ld\n", flows, passed);
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = NULL, *dst = "10.244.1.10";
	long flows = 1000000;
	unsigned int ifindex = 0, dport = 443;

	if (argc < 2)
		die("usage: flow-bench pipeline [--flows N] | inject --prog PIN --ifindex N --flows N [--dst A] [--dport P]");
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--flows"))
			flows = strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--prog"))
			prog = argv[i + 1];
		else if (!strcmp(argv[i], "--ifindex"))
			ifindex = (unsigned int)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--dst"))
			dst = argv[i + 1];
		else if (!strcmp(argv[i], "--dport"))
			dport = (unsigned int)strtoul(argv[i + 1], NULL, 10);
		else
			die("unknown option %s", argv[i]);
	}
	if (flows <= 0)
		die("--flows must be positive");
	if (!strcmp(argv[1], "pipeline"))
		return cmd_pipeline(flows);
	if (!strcmp(argv[1], "inject") && prog && ifindex)
		return cmd_inject(prog, ifindex, flows, dst, dport);
	die("unknown subcommand or missing --prog/--ifindex: %s", argv[1]);
}
