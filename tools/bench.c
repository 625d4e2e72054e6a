// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmarks, one configuration per process (tools/bench.sh runs the rounds,
 * alternates configurations and takes medians):
 *
 *   bench packet --case CASE [--cidrs N] [--repeat R] [--flows F]
 *       prints the ns per packet of one configuration, measured with
 *       bpf_prog_test_run_opts (R repeats in one run; the kernel's own
 *       per-repeat duration).  The policy is built as real objects and goes
 *       through np_setup_datapath_from_objects (compile + load + map sync).
 *   bench compile [--pods P] [--policies N]
 *       prints key=value lines: parse, compile, apply and update times,
 *       map entry counts, entries written by the one-pod update, peak RSS.
 *
 * Every input is generated from fixed seeds, so runs are comparable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.skel.h"
#include "compile.h"
#include "loader.h"
#include "log.h"
#include "mapsize.h"
#include "mapsync.h"
#include "model.h"
#include "pkt.h"
#include "verdict.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* ------------------------------------------------------------------ */
/* small utilities */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Deterministic PRNG (splitmix64). */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng_next() % n);
}

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("formatting generated objects failed");
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap ? b->cap * 2 : 1 << 16;
		while (b->cap - b->len <= (size_t)n)
			b->cap *= 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			die("out of memory generating objects (%zu bytes)", b->cap);
	}
}

static long peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void v4(struct np_addr *a, uint32_t host_order)
{
	memset(a, 0, sizeof(*a));
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	a->b[12] = (uint8_t)(host_order >> 24);
	a->b[13] = (uint8_t)(host_order >> 16);
	a->b[14] = (uint8_t)(host_order >> 8);
	a->b[15] = (uint8_t)host_order;
}

static const char *v4str(uint32_t a, char *buf)
{
	sprintf(buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	return buf;
}

static void load_objects(struct np_objects *objs, const char *name,
			 const struct sbuf *text)
{
	struct np_error err;
	int ret = np_objects_load_buffer(objs, name, text->p, text->len, &err);

	if (ret)
		die("generated objects (%s) rejected: %s", name, err.msg);
}

/* ------------------------------------------------------------------ */
/* packet benchmarks */

/*
 * Addresses:
 *   the pod "bench/server"       10.0.0.10, serves TCP 80 (allowed) and 81 (not)
 *   CIDR i (i < N)               one prefix /24../32 per distinct /24, spread
 *                                over 1.0.0.0 - 223.255.255.255 minus 10/8,
 *                                127/8, 198.18/15; CIDR 0 is 198.51.100.0/24
 *   allowed peer                 198.51.100.7 (in CIDR 0)
 *   denied peer                  an address of the /24 next to CIDR 1 (or 0)
 *                                that no CIDR covers: the LPM walk goes deep
 *   new flows (bench.bpf.c)      sources from the per-CPU counter inside the
 *                                allowed region or the denied region
 */
#define POD_IP 0x0a00000au      /* 10.0.0.10 */
#define CIDR0 0xc6336400u       /* 198.51.100.0/24 */
#define ALLOWED_PEER 0xc6336407u
#define ALLOWED_PORT 80
#define DENIED_PORT 81
#define PEER_PORT 40000

static uint8_t *used24; /* bitmap of /24s holding a CIDR */

static int used24_test(uint32_t a)
{
	uint32_t i = a >> 8;

	return used24[i >> 3] & (1u << (i & 7));
}

static void used24_set(uint32_t a)
{
	uint32_t i = a >> 8;

	used24[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int excluded(uint32_t a)
{
	uint32_t o = a >> 24;

	return o == 0 || o == 10 || o == 127 || o >= 224 || (a >> 17) == (0xc612u >> 1) /* 198.18/15 */;
}

/* N distinct, non-overlapping prefixes (so the trie really holds N). */
static void gen_cidrs(size_t n, uint32_t *addr, uint8_t *plen)
{
	used24 = calloc(1, 1u << 21);
	if (!used24)
		die("out of memory");
	rng_state = 0x6e6574706f6cull; /* fixed seed */
	addr[0] = CIDR0;
	plen[0] = 24;
	used24_set(CIDR0);
	for (size_t i = 1; i < n; i++) {
		uint32_t a;
		uint8_t l;

		do {
			a = (uint32_t)rng_next();
		} while (excluded(a) || used24_test(a));
		l = (uint8_t)(24 + rng_below(9));
		a &= l == 32 ? 0xffffffffu : ~((1u << (32 - l)) - 1);
		used24_set(a);
		addr[i] = a;
		plen[i] = l;
	}
}

/* An address in a free /24 next to a used one: not covered by any CIDR,
 * but sharing a long prefix with one, so the LPM lookup walks deep. */
static uint32_t denied_peer(const uint32_t *addr, size_t n)
{
	uint32_t base = addr[n > 1 ? 1 : 0];

	for (uint32_t d = 1; d < 65536; d++) {
		uint32_t a = (base ^ (d << 8)) | 0x2a;

		if (!excluded(a) && !used24_test(a))
			return a;
	}
	die("no free address for the denied peer");
}

static void gen_packet_objects(struct sbuf *b, const uint32_t *addr,
			       const uint8_t *plen, size_t n)
{
	char ip[20];

	sb_printf(b, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n");
	sb_printf(b, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"bench\"}},\n");
	sb_printf(b, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"server\",\"namespace\":\"bench\",\"labels\":{\"app\":\"server\"}},"
		     "\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"name\":\"http\",\"containerPort\":%d}]}]},"
		     "\"status\":{\"podIP\":\"%s\"}},\n",
		  ALLOWED_PORT, v4str(POD_IP, ip));
	sb_printf(b, "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"cidrs\",\"namespace\":\"bench\"},"
		     "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"server\"}},\"policyTypes\":[\"Ingress\"],"
		     "\"ingress\":[{\"ports\":[{\"protocol\":\"TCP\",\"port\":%d}],\"from\":[",
		  ALLOWED_PORT);
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%s{\"ipBlock\":{\"cidr\":\"%s/%u\"}}", i ? "," : "",
			  v4str(addr[i], ip), plen[i]);
	sb_printf(b, "]}]}}\n]}\n");
}

/* Events are consumed by a thread, as the agent does, so the ring buffer
 * never fills up and every new flow pays for its event. */
struct drainer {
	struct ring_buffer *rb;
	volatile int stop;
	unsigned long long events;
	pthread_t thread;
};

static int drain_cb(void *ctx, void *data, size_t size)
{
	struct drainer *d = ctx;

	(void)data;
	(void)size;
	d->events++;
	return 0;
}

static void *drain_main(void *arg)
{
	struct drainer *d = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);

	while (!d->stop)
		ring_buffer__poll(d->rb, 50);
	ring_buffer__consume(d->rb);
	return NULL;
}

/* The measuring thread runs on CPU 0 and stays there: a test run that gets
 * rescheduled may otherwise resume on another CPU, where the wrappers'
 * per-CPU counters start over and flows repeat.  The event drainer gets the
 * other CPU when there is one. */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("pinning to CPU %d failed: %s", cpu, strerror(errno));
}

static void drainer_start(struct drainer *d, int map_fd)
{
	memset(d, 0, sizeof(*d));
	d->rb = ring_buffer__new(map_fd, drain_cb, d, NULL);
	if (!d->rb)
		die("opening the np_events ring buffer failed: %s", strerror(errno));
	if (pthread_create(&d->thread, NULL, drain_main, d))
		die("starting the event drain thread failed");
}

static void drainer_stop(struct drainer *d)
{
	d->stop = 1;
	pthread_join(d->thread, NULL);
	ring_buffer__free(d->rb);
}

static int build_tcp(unsigned char *pkt, size_t cap, uint32_t src, uint16_t sport,
		     uint32_t dst, uint16_t dport, uint8_t flags)
{
	struct np_pkt_spec spec = { 0 };
	int len;

	v4(&spec.src, src);
	v4(&spec.dst, dst);
	spec.proto = NP_PROTO_TCP;
	spec.sport = sport;
	spec.dport = dport;
	spec.tcp_flags = flags;
	len = np_pkt_build(&spec, pkt, cap);
	if (len < 0)
		die("crafting a packet failed: %s", strerror(-len));
	return len;
}

/* Runs PROG REPEAT times on the packet; returns the kernel's ns per run. */
static double run(int prog, const unsigned char *pkt, int len, uint32_t repeat,
		  uint32_t want, const char *what)
{
	__u32 retval = 0;
	__u64 dur = 0;
	int ret = np_prog_run(prog, pkt, (size_t)len, &retval, repeat, &dur);

	if (ret)
		die("%s: bpf_prog_test_run failed: %s", what, strerror(-ret));
	if (retval != want)
		die("%s: verdict %u, expected %u (%s): the benchmark setup is wrong",
		    what, retval, want, want == TC_ACT_OK ? "pass" : "drop");
	return (double)dur;
}

static uint32_t ct_count(int map_fd)
{
	struct np_ct_key k, next;
	uint32_t n = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		n++;
		k = next;
		prev = &k;
	}
	return n;
}

enum pcase {
	C_FLOOR,
	C_ESTABLISHED,
	C_REPLY,
	C_DENY_SRC,
	C_DENY_PORT,
	C_NEW_ALLOW,
	C_NEW_DENY,
	C_CYCLE,
	C_WRAPPER,
};

static const char *const case_names[] = {
	[C_FLOOR] = "floor",
	[C_ESTABLISHED] = "established",
	[C_REPLY] = "reply",
	[C_DENY_SRC] = "deny-src",
	[C_DENY_PORT] = "deny-port",
	[C_NEW_ALLOW] = "new-allow",
	[C_NEW_DENY] = "new-deny",
	[C_CYCLE] = "cycle",
	[C_WRAPPER] = "wrapper",
};

static int cmd_packet(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "case", required_argument, NULL, 'c' },
		{ "cidrs", required_argument, NULL, 'n' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "flows", required_argument, NULL, 'f' },
		{ "events", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0 },
	};
	int pc = -1, opt, verbose = 0;
	/* Analysis only: "off" loads the datapath with events disabled,
	 * "nodrain" leaves the ring buffer unread (it fills up). */
	const char *events = "drain";
	size_t n_cidrs = 1;
	uint32_t repeat = 1000000, flows = 400000;
	struct np_objects objs = { 0 };
	struct np_compiled compiled = { 0 };
	struct np_ids ids;
	struct np_datapath dp = { 0 };
	struct np_mapsync sync;
	struct np_load_opts lopts;
	struct np_compile_opts copts = { 0 };
	struct bench_bpf *bench = NULL;
	bool dp_loaded = false, sync_ready = false;
	struct sbuf text = { 0 };
	uint32_t *addr;
	uint8_t *plen;
	unsigned char pkt[256];
	int len, ret;
	double ns = 0, t0;
	uint32_t denied;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			for (size_t i = 0; i < sizeof(case_names) / sizeof(*case_names); i++)
				if (strcmp(optarg, case_names[i]) == 0)
					pc = (int)i;
			if (pc < 0)
				die("--case %s: unknown (floor, established, reply, deny-src, deny-port, new-allow, new-deny, cycle, wrapper)", optarg);
			break;
		case 'n':
			n_cidrs = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			repeat = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			flows = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'e':
			if (strcmp(optarg, "drain") && strcmp(optarg, "off") &&
			    strcmp(optarg, "nodrain"))
				die("--events %s: drain (default), off or nodrain", optarg);
			events = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			die("usage: bench packet --case CASE [--cidrs N] [--repeat R] [--flows F]");
		}
	}
	if (pc < 0 || n_cidrs < 1 || n_cidrs > 1000000 || repeat < 1)
		die("usage: bench packet --case CASE [--cidrs N>=1] [--repeat R>=1] [--flows F]");

	pin(0);
	/* The benchmark helpers: floor and the 5-tuple rewriting wrappers. */
	bench = bench_bpf__open();
	if (!bench)
		die("opening the bench BPF object failed: %s", strerror(errno));
	if (pc == C_CYCLE)
		bench->rodata->cfg_cycle_flows = flows;
	if (bench_bpf__load(bench))
		die("loading the bench BPF object failed (run as root?)");
	if (pc == C_FLOOR) {
		len = build_tcp(pkt, sizeof(pkt), ALLOWED_PEER, PEER_PORT, POD_IP,
				ALLOWED_PORT, TCP_ACK);
		run(bpf_program__fd(bench->progs.np_noop), pkt, len, 1000, TC_ACT_OK, "floor warm-up");
		ns = run(bpf_program__fd(bench->progs.np_noop), pkt, len, repeat,
			 TC_ACT_OK, "floor");
		goto out;
	}
	if (pc == C_WRAPPER) {
		/* The 5-tuple rewrite + tail call alone (into np_noop): what
		 * np_bench_newflow/np_bench_cycle add to the policy program. */
		uint32_t slot = 0;
		int prog = bpf_program__fd(bench->progs.np_noop);

		if (bpf_map_update_elem(bpf_map__fd(bench->maps.np_bench_jmp), &slot, &prog, BPF_ANY))
			die("writing np_bench_jmp[0] failed: %s", strerror(errno));
		len = build_tcp(pkt, sizeof(pkt), ALLOWED_PEER, PEER_PORT, POD_IP,
				ALLOWED_PORT, TCP_SYN);
		run(bpf_program__fd(bench->progs.np_bench_newflow), pkt, len, 1000, TC_ACT_OK, "wrapper warm-up");
		ns = run(bpf_program__fd(bench->progs.np_bench_newflow), pkt, len, repeat,
			 TC_ACT_OK, "wrapper");
		goto out;
	}

	/* The policy, as real objects, through the agent's path. */
	addr = calloc(n_cidrs, sizeof(*addr));
	plen = calloc(n_cidrs, sizeof(*plen));
	if (!addr || !plen)
		die("out of memory");
	gen_cidrs(n_cidrs, addr, plen);
	denied = denied_peer(addr, n_cidrs);
	gen_packet_objects(&text, addr, plen, n_cidrs);
	load_objects(&objs, "generated-policy.json", &text);
	np_ids_init(&ids);
	np_load_opts_default(&lopts);
	lopts.emit_events = strcmp(events, "off") != 0;
	if (pc == C_CYCLE && lopts.max_ct < 2 * flows)
		lopts.max_ct = 1u << 20;
	t0 = now_ms();
	ret = np_setup_datapath_from_objects(&dp, &sync, &objs, &copts, &ids, &compiled,
					     &lopts, &dp_loaded, &sync_ready);
	if (ret)
		die("setting up the datapath for %zu CIDRs failed: %s", n_cidrs, strerror(-ret));
	if (verbose)
		fprintf(stderr, "setup %.0f ms, %zu sets, %zu classes\n", now_ms() - t0,
			compiled.n_sets, compiled.n_classes);
	{
		/* Under test_run the skb device is loopback (ifindex 1). */
		struct np_iface ifc = { 0 };
		uint32_t ifindex = 1;

		ifc.ep_id = compiled.n_eps ? compiled.eps[0].val.ep_id : 0;
		ifc.n_addrs = 1;
		v4(&ifc.addrs[0], POD_IP);
		if (bpf_map_update_elem(dp.map_ifaces, &ifindex, &ifc, BPF_ANY))
			die("writing np_ifaces[1] failed: %s", strerror(errno));
	}
	{
		/* The wrappers tail-call the policy program through slot 0. */
		uint32_t slot = 0;
		int prog = dp.prog_ingress;

		if (bpf_map_update_elem(bpf_map__fd(bench->maps.np_bench_jmp), &slot, &prog, BPF_ANY))
			die("writing np_bench_jmp[0] failed: %s", strerror(errno));
	}

	switch (pc) {
	case C_ESTABLISHED:
	case C_REPLY: {
		unsigned char syn[256], synack[256], ack[256], rep[256];
		int l1 = build_tcp(syn, sizeof(syn), ALLOWED_PEER, PEER_PORT, POD_IP, ALLOWED_PORT, TCP_SYN);
		int l2 = build_tcp(synack, sizeof(synack), POD_IP, ALLOWED_PORT, ALLOWED_PEER, PEER_PORT, TCP_SYN | TCP_ACK);
		int l3 = build_tcp(ack, sizeof(ack), ALLOWED_PEER, PEER_PORT, POD_IP, ALLOWED_PORT, TCP_ACK);
		int l4 = build_tcp(rep, sizeof(rep), POD_IP, ALLOWED_PORT, ALLOWED_PEER, PEER_PORT, TCP_ACK);

		/* The handshake: SYN allowed by the policy, the pod answers. */
		run(dp.prog_ingress, syn, l1, 1, TC_ACT_OK, "SYN from an allowed peer");
		run(dp.prog_egress, synack, l2, 1, TC_ACT_OK, "SYN-ACK from the pod");
		run(dp.prog_ingress, ack, l3, 1, TC_ACT_OK, "ACK from the peer");
		if (ct_count(dp.map_ct) != 1)
			die("expected one np_ct entry after the handshake, found %u", ct_count(dp.map_ct));
		if (pc == C_ESTABLISHED) {
			run(dp.prog_ingress, ack, l3, 1000, TC_ACT_OK, "established warm-up");
			ns = run(dp.prog_ingress, ack, l3, repeat, TC_ACT_OK, "established");
		} else {
			run(dp.prog_egress, rep, l4, 1000, TC_ACT_OK, "reply warm-up");
			ns = run(dp.prog_egress, rep, l4, repeat, TC_ACT_OK, "reply");
		}
		break;
	}
	case C_DENY_SRC:
	case C_DENY_PORT:
		if (pc == C_DENY_SRC)
			len = build_tcp(pkt, sizeof(pkt), denied, PEER_PORT, POD_IP, ALLOWED_PORT, TCP_SYN);
		else
			len = build_tcp(pkt, sizeof(pkt), ALLOWED_PEER, PEER_PORT, POD_IP, DENIED_PORT, TCP_SYN);
		/* The first packet is judged and cached in np_ct_deny; every
		 * measured one is a cache hit. */
		run(dp.prog_ingress, pkt, len, 1000, TC_ACT_SHOT, "denied warm-up");
		ns = run(dp.prog_ingress, pkt, len, repeat, TC_ACT_SHOT, case_names[pc]);
		break;
	case C_NEW_ALLOW:
	case C_NEW_DENY: {
		struct drainer d = { 0 };
		uint32_t src = pc == C_NEW_ALLOW ? ALLOWED_PEER : denied;

		len = build_tcp(pkt, sizeof(pkt), src, PEER_PORT, POD_IP, ALLOWED_PORT, TCP_SYN);
		if (strcmp(events, "drain") == 0)
			drainer_start(&d, dp.map_events);
		ns = run(bpf_program__fd(bench->progs.np_bench_newflow), pkt, len, repeat,
			 pc == C_NEW_ALLOW ? TC_ACT_OK : TC_ACT_SHOT, case_names[pc]);
		if (strcmp(events, "drain") == 0)
			drainer_stop(&d);
		if (verbose)
			fprintf(stderr, "np_ct %u entries, np_ct_deny %u entries, %llu events\n",
				ct_count(dp.map_ct), ct_count(dp.map_ct_deny), d.events);
		{
			/* Every run must have been a new connection, judged and
			 * recorded: anything else measured something else. */
			uint32_t got = ct_count(pc == C_NEW_ALLOW ? dp.map_ct : dp.map_ct_deny);

			if (got != repeat)
				die("%s: %s holds %u entries after %u runs, expected %u (np_ct %u, np_ct_deny %u, %llu events)",
				    case_names[pc], pc == C_NEW_ALLOW ? "np_ct" : "np_ct_deny", got, repeat,
				    repeat, ct_count(dp.map_ct), ct_count(dp.map_ct_deny), d.events);
			/* Allowed: one NEW event per connection.  Denied: one
			 * client over many source ports is one aggregate, so
			 * one event (flowlog.h). */
			uint32_t want = pc == C_NEW_ALLOW ? repeat : 1;

			if (strcmp(events, "drain") == 0 && d.events != want)
				die("%s: %llu flow events after %u runs, expected %u", case_names[pc],
				    d.events, repeat, want);
		}
		break;
	}
	case C_CYCLE: {
		struct drainer d;
		unsigned char syn[256];
		int l1 = build_tcp(syn, sizeof(syn), ALLOWED_PEER, PEER_PORT, POD_IP, ALLOWED_PORT, TCP_SYN);
		uint32_t n;

		len = build_tcp(pkt, sizeof(pkt), ALLOWED_PEER, PEER_PORT, POD_IP, ALLOWED_PORT, TCP_ACK);
		drainer_start(&d, dp.map_events);
		/* Warm-up: one SYN per flow opens every connection. */
		run(bpf_program__fd(bench->progs.np_bench_cycle), syn, l1, flows,
		    TC_ACT_OK, "cycle warm-up (SYNs)");
		drainer_stop(&d);
		n = ct_count(dp.map_ct);
		if (n < flows)
			die("after the warm-up np_ct holds %u entries, expected %u", n, flows);
		run(bpf_program__fd(bench->progs.np_bench_cycle), pkt, len, flows,
		    TC_ACT_OK, "cycle warm-up (ACKs)");
		ns = run(bpf_program__fd(bench->progs.np_bench_cycle), pkt, len, repeat,
			 TC_ACT_OK, "cycle");
		break;
	}
	default:
		break;
	}

out:
	printf("%.1f\n", ns);
	fflush(stdout);
	/* Process exit releases everything; tearing down 100k-entry maps
	 * explicitly only costs time. */
	(void)sync_ready;
	return 0;
}

/* ------------------------------------------------------------------ */
/* compile benchmark */

static const char *const tiers[] = { "web", "api", "db" };
static const char *const envs[] = { "prod", "staging", "dev" };

#define APPS_PER_NS 10

static void gen_cluster(struct sbuf *b, int n_ns, int pods_per_ns, int n_policies,
			int changed_ns, int changed_pod)
{
	rng_state = 0x636f6d70696c65ull; /* fixed seed */
	for (int i = 0; i < n_ns; i++)
		sb_printf(b,
			  "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%03d\n"
			  "  labels:\n    team: team-%d\n    env: %s\n",
			  i, i % 10, envs[i % 3]);
	for (int i = 0; i < n_ns; i++) {
		for (int j = 0; j < pods_per_ns; j++) {
			int app = j % APPS_PER_NS;

			if (i == changed_ns && j == changed_pod)
				app = (app + 1) % APPS_PER_NS;
			sb_printf(b,
				  "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-%03d\n  namespace: ns-%03d\n"
				  "  labels:\n    app: app-%d\n    tier: %s\n    version: v%d\n"
				  "spec:\n  containers:\n  - name: main\n    image: registry.example/app:1\n"
				  "    ports:\n    - name: http\n      containerPort: %d\n      protocol: TCP\n"
				  "    - name: metrics\n      containerPort: 9090\n"
				  "status:\n  podIP: 10.%d.%d.%d\n  podIPs:\n  - ip: 10.%d.%d.%d\n",
				  j, i, app, tiers[j % 3], j % 2, 8080 + (app % 3),
				  64 + i / 256, i % 256, j + 1, 64 + i / 256, i % 256, j + 1);
		}
	}
	for (int k = 0; k < n_policies; k++) {
		int ns = k % n_ns;
		int app = (k / n_ns) % APPS_PER_NS;
		int kind = k % 5;

		sb_printf(b,
			  "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
			  "  name: pol-%04d\n  namespace: ns-%03d\nspec:\n"
			  "  podSelector:\n    matchLabels:\n      app: app-%d\n",
			  k, ns, app);
		sb_printf(b, "  policyTypes: [Ingress%s]\n", kind == 0 ? ", Egress" : "");
		sb_printf(b, "  ingress:\n");
		/* same-namespace frontends to the service port */
		sb_printf(b,
			  "  - from:\n    - podSelector:\n        matchLabels:\n          tier: %s\n"
			  "    ports:\n    - port: http\n",
			  tiers[(app + 2) % 3]);
		/* another team's app, by namespace and pod labels */
		sb_printf(b,
			  "  - from:\n    - namespaceSelector:\n        matchLabels:\n          team: team-%u\n"
			  "      podSelector:\n        matchLabels:\n          app: app-%u\n"
			  "    ports:\n    - protocol: TCP\n      port: %u\n",
			  rng_below(10), rng_below(APPS_PER_NS), 8080 + rng_below(3));
		/* monitoring: the scraper in ns-000 to the metrics port */
		if (kind == 1 || kind == 3)
			sb_printf(b,
				  "  - from:\n    - namespaceSelector:\n        matchLabels:\n"
				  "          kubernetes.io/metadata.name: ns-000\n"
				  "      podSelector:\n        matchLabels:\n          app: app-0\n"
				  "    ports:\n    - port: metrics\n");
		/* web tiers of every prod or staging namespace */
		if (kind == 3)
			sb_printf(b,
				  "  - from:\n    - namespaceSelector:\n        matchExpressions:\n"
				  "        - {key: env, operator: In, values: [prod, staging]}\n"
				  "      podSelector:\n        matchExpressions:\n"
				  "        - {key: tier, operator: In, values: [web]}\n"
				  "    ports:\n    - protocol: TCP\n      port: %u\n",
				  8080 + (unsigned)(app % 3));
		/* external clients by ipBlock, a port range */
		if (kind == 2 || kind == 4) {
			uint32_t net = 0x64400000u + (rng_below(1 << 14) << 8); /* 100.64/10 */
			char ip[20];

			sb_printf(b,
				  "  - from:\n    - ipBlock:\n        cidr: %s/22\n",
				  v4str(net & ~0x3ffu, ip));
			sb_printf(b, "        except: [%s/26]\n", v4str((net & ~0x3ffu) + 0x80, ip));
			sb_printf(b, "    - ipBlock:\n        cidr: 203.0.%u.0/24\n", rng_below(256));
			sb_printf(b, "    ports:\n    - protocol: TCP\n      port: 443\n"
				     "    - protocol: TCP\n      port: 30000\n      endPort: 32767\n");
		}
		/* everything from one namespace, any port */
		if (kind == 3)
			sb_printf(b,
				  "  - from:\n    - namespaceSelector:\n        matchLabels:\n"
				  "          kubernetes.io/metadata.name: ns-%03u\n",
				  rng_below((uint32_t)n_ns));
		if (kind == 0)
			sb_printf(b,
				  "  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n"
				  "          kubernetes.io/metadata.name: ns-000\n"
				  "    ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53\n"
				  "  - to:\n    - podSelector:\n        matchLabels:\n          tier: db\n"
				  "  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [10.0.0.0/8, 169.254.0.0/16]\n"
				  "    ports:\n    - protocol: TCP\n      port: 443\n");
	}
}

static size_t sum(const size_t *v)
{
	size_t s = 0;

	for (int m = 0; m < NP_SYNC_MAPS; m++)
		s += v[m];
	return s;
}

static int cmd_compile(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pods", required_argument, NULL, 'p' },
		{ "policies", required_argument, NULL, 'n' },
		{ 0 },
	};
	int pods = 10000, policies = 1000, opt, ret;
	int n_ns, per_ns;
	struct sbuf text = { 0 }, text2 = { 0 };
	struct np_objects objs = { 0 }, objs2 = { 0 };
	struct np_compiled c1 = { 0 }, c2 = { 0 };
	struct np_compile_opts copts = { 0 };
	struct np_load_opts lopts;
	struct np_datapath dp = { 0 };
	struct np_mapsync sync;
	struct np_sync_stats st1, st2;
	struct np_map_fds fds;
	uint32_t limits[NP_SYNC_MAPS];
	struct np_addr node;
	struct np_error err;
	struct np_ids ids;
	double t0, t_parse, t_compile, t_apply, t_load, u_compile, u_apply;
	long rss;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			pods = atoi(optarg);
			break;
		case 'n':
			policies = atoi(optarg);
			break;
		default:
			die("usage: bench compile [--pods N] [--policies N]");
		}
	}
	if (pods < 100 || pods % 100 || policies < 1)
		die("--pods must be a multiple of 100 (100 pods per namespace), --policies >= 1");
	per_ns = 100;
	n_ns = pods / per_ns;

	gen_cluster(&text, n_ns, per_ns, policies, -1, -1);
	gen_cluster(&text2, n_ns, per_ns, policies, n_ns / 2, 42);

	t0 = now_ms();
	load_objects(&objs, "generated-cluster.yaml", &text);
	t_parse = now_ms() - t0;

	v4(&node, 0xac100001u); /* 172.16.0.1 */
	copts.node_addrs = &node;
	copts.n_node_addrs = 1;
	np_ids_init(&ids);
	t0 = now_ms();
	ret = np_compile(&objs, &copts, &ids, &c1, &err);
	t_compile = now_ms() - t0;
	if (ret)
		die("compiling the generated cluster failed: %s", err.msg);

	if (getenv("BENCH_DEBUG"))
		fprintf(stderr, "parse %.1f ms, compile %.1f ms, %zu sets, %zu classes\n",
			t_parse, t_compile, c1.n_sets, c1.n_classes);
	np_load_opts_default(&lopts);
	lopts.max_peers = 1u << 22; /* no-prealloc LPM: costs only what is used */
	t0 = now_ms();
	ret = np_datapath_load(&dp, &lopts);
	t_load = now_ms() - t0;
	if (ret)
		die("loading the datapath failed: %s (run as root)", strerror(-ret));
	fds.fd[NP_SYNC_ENDPOINTS] = dp.map_endpoints;
	fds.fd[NP_SYNC_IFACES] = dp.map_ifaces;
	fds.fd[NP_SYNC_NODE_ADDRS] = dp.map_node_addrs;
	fds.fd[NP_SYNC_PEERS] = dp.map_peers;
	fds.fd[NP_SYNC_PORTS] = dp.map_ports;
	fds.state = dp.map_state;
	np_map_size_limits(&lopts, limits, NULL);
	np_mapsync_init(&sync, &fds, limits);
	np_map_size_limits(&lopts, limits, sync.limit_option);

	t0 = now_ms();
	ret = np_mapsync_apply(&sync, &c1, NULL, 0, &st1, &err);
	t_apply = now_ms() - t0;
	if (ret)
		die("writing the compiled cluster to the maps failed: %s", err.msg);
	rss = peak_rss_kb();

	/* One pod's labels change: recompile with the same ids, apply. */
	load_objects(&objs2, "generated-cluster-changed.yaml", &text2);
	t0 = now_ms();
	ret = np_compile(&objs2, &copts, &ids, &c2, &err);
	u_compile = now_ms() - t0;
	if (ret)
		die("recompiling after the label change failed: %s", err.msg);
	t0 = now_ms();
	ret = np_mapsync_apply(&sync, &c2, NULL, 0, &st2, &err);
	u_apply = now_ms() - t0;
	if (ret)
		die("applying the label change failed: %s", err.msg);

	printf("yaml_bytes=%zu\n", text.len);
	printf("namespaces=%zu pods=%zu policies=%zu\n", objs.n_namespaces, objs.n_pods,
	       objs.n_policies);
	printf("parse_ms=%.1f\n", t_parse);
	printf("compile_ms=%.1f\n", t_compile);
	printf("load_ms=%.1f\n", t_load);
	printf("apply_ms=%.1f\n", t_apply);
	printf("total_ms=%.1f\n", t_compile + t_apply);
	printf("sets=%zu classes=%zu\n", c1.n_sets, c1.n_classes);
	printf("entries_endpoints=%zu entries_peers=%zu entries_ports=%zu entries_total=%zu\n",
	       st1.entries[NP_SYNC_ENDPOINTS], st1.entries[NP_SYNC_PEERS],
	       st1.entries[NP_SYNC_PORTS], sum(st1.entries));
	printf("written=%zu\n", sum(st1.upserts));
	printf("update_compile_ms=%.1f\n", u_compile);
	printf("update_apply_ms=%.1f\n", u_apply);
	printf("update_total_ms=%.1f\n", u_compile + u_apply);
	printf("update_upserts=%zu update_deletes=%zu\n", sum(st2.upserts), sum(st2.deletes));
	printf("update_detail=");
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		if (st2.upserts[m] || st2.deletes[m])
			printf("%s:+%zu/-%zu;", np_sync_map_name(m), st2.upserts[m], st2.deletes[m]);
	printf("\n");
	printf("peak_rss_kb=%ld\n", rss);
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ */

static int cmd_info(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *v = strchr(line, ':');

			if (v) {
				v++;
				while (*v == ' ' || *v == '\t')
					v++;
				printf("%s", v);
				break;
			}
		}
	}
	if (f)
		fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	np_log_set_level(NP_LOG_WARN);
	np_log_hook_libbpf();
	if (argc < 2)
		die("usage: bench packet|compile|cpu [options]  (see tools/bench.c)");
	if (strcmp(argv[1], "packet") == 0)
		return cmd_packet(argc - 1, argv + 1);
	if (strcmp(argv[1], "compile") == 0)
		return cmd_compile(argc - 1, argv + 1);
	if (strcmp(argv[1], "cpu") == 0)
		return cmd_info();
	die("unknown subcommand %s (packet, compile, cpu)", argv[1]);
}
