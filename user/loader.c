// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <zlib.h>

#include "netpol.h"
#include "netpol.skel.h"
#include "loader.h"
#include "log.h"

void np_load_opts_default(struct np_load_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->emit_events = true;
	o->max_endpoints = 65536;
	o->max_ifaces = 65536;
	o->max_node_addrs = 1024;
	o->max_peers = 1048576;
	o->max_ports = 1048576;
	o->max_ct = 524288;
	o->max_ct_deny = 65536;
	o->max_frags = 16384;
	o->ringbuf_bytes = 4u << 20;
	o->max_flow_deny = 65536;
	o->flow_log = NP_FLOW_LOG_ALL;
	o->flow_interval_s = 60;
	o->deny_events_per_s = 500;
	o->to_tcp_syn_s = 60;
	o->to_tcp_est_s = 6 * 3600;
	o->to_tcp_close_s = 10;
	o->to_other_s = 60;
	o->to_icmp_s = 30;
	o->to_deny_s = 5;
}

/* ---- kernel HZ ---------------------------------------------------------- */

/* CONFIG_HZ=N from a kernel config file, plain or gzip (gzread reads both). */
static int hz_from_config(const char *path, unsigned int *hz)
{
	char line[256];
	gzFile f;
	int err = -ENOENT;

	f = gzopen(path, "rb");
	if (!f)
		goto cleanup;
	while (gzgets(f, line, sizeof(line))) {
		unsigned int v;

		if (sscanf(line, "CONFIG_HZ=%u", &v) == 1 && v > 0) {
			*hz = v;
			err = 0;
			break;
		}
	}
	gzclose(f);
cleanup:
	return err;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int np_kernel_hz_measure(unsigned int *hz)
{
	/* r0 = bpf_jiffies64(); exit: the low 32 bits come back as retval. */
	const struct bpf_insn insns[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_jiffies64 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static const unsigned int candidates[] = { 100, 250, 300, 1000 };
	unsigned char pkt[64] = { 0 };
	__u32 j[2];
	double t[2], rate, best_d = 0;
	unsigned int best = 0;
	int fd = -1, err = 0;

	fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "np_hz_probe", "GPL", insns,
			   sizeof(insns) / sizeof(insns[0]), NULL);
	if (fd < 0) {
		err = -errno;
		np_err("cannot load the HZ probe program: %s; run as root (CAP_BPF and CAP_PERFMON)",
		       strerror(-err));
		goto cleanup;
	}
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt));

		if (i == 1)
			usleep(200 * 1000);
		t[i] = mono_s();
		if (bpf_prog_test_run_opts(fd, &opts) < 0) {
			err = -errno;
			np_err("cannot run the HZ probe program: %s", strerror(-err));
			goto cleanup;
		}
		j[i] = opts.retval;
	}
	rate = (double)(__u32)(j[1] - j[0]) / (t[1] - t[0]);
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		double d = rate > candidates[i] ? rate - candidates[i] : candidates[i] - rate;

		if (!best || d < best_d) {
			best = candidates[i];
			best_d = d;
		}
	}
	np_dbg("measured %.1f jiffies/s, assuming HZ=%u", rate, best);
	*hz = best;
cleanup:
	if (fd >= 0)
		close(fd);
	return err;
}

int np_kernel_jiffies(__u64 *out)
{
	/* cb[0], cb[1] = the two halves of bpf_jiffies64(); ctx_out gives
	 * them back (the return value alone has 32 bits). */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_1 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_jiffies64 },
		{ .code = BPF_STX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_0,
		  .off = offsetof(struct __sk_buff, cb[0]) },
		{ .code = BPF_ALU64 | BPF_RSH | BPF_K, .dst_reg = BPF_REG_0, .imm = 32 },
		{ .code = BPF_STX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_0,
		  .off = offsetof(struct __sk_buff, cb[1]) },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	unsigned char pkt[64] = { 0 };
	struct __sk_buff ctx = { 0 };
	int fd, err = 0;

	fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "np_jiffies", "GPL", insns,
			   sizeof(insns) / sizeof(insns[0]), NULL);
	if (fd < 0)
		return -errno;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &ctx,
		    .ctx_size_out = sizeof(ctx));
	if (bpf_prog_test_run_opts(fd, &opts) < 0)
		err = -errno;
	else
		*out = (__u64)ctx.cb[1] << 32 | ctx.cb[0];
	close(fd);
	return err;
}

int np_kernel_hz(unsigned int *hz)
{
	char path[300];
	struct utsname u;
	int err = -ENOENT;

	if (uname(&u) == 0) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		err = hz_from_config(path, hz);
	}
	if (err)
		err = hz_from_config("/proc/config.gz", hz);
	if (err) {
		np_dbg("no kernel config with CONFIG_HZ found; measuring HZ");
		err = np_kernel_hz_measure(hz);
	}
	return err;
}

/* ---- RLIMIT_MEMLOCK (kernels before 5.11) -------------------------------- */

static int memlock_charged = -1; /* -1 not probed yet, 0 memory cgroup, 1 rlimit */

static void fmt_rlim(char *buf, size_t len, rlim_t v)
{
	if (v == RLIM_INFINITY)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%llu KiB", (unsigned long long)v / 1024);
}

bool np_memlock_prepare(void)
{
	struct rlimit rl, inf = { RLIM_INFINITY, RLIM_INFINITY };
	char cur[32], max[32];
	int r;

	if (memlock_charged >= 0)
		return memlock_charged;
	/* The probe libbpf itself uses: bpf_ktime_get_coarse_ns came in 5.11
	 * together with memory-cgroup accounting of BPF memory. */
	r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_ktime_get_coarse_ns,
				    NULL);
	if (r < 0) {
		/* no privileges or no BPF: the real load reports it */
		np_dbg("cannot probe for memory-cgroup accounting of BPF memory: %s", strerror(-r));
		return false;
	}
	memlock_charged = r == 0;
	if (!memlock_charged || getrlimit(RLIMIT_MEMLOCK, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return memlock_charged;
	if (setrlimit(RLIMIT_MEMLOCK, &inf) == 0) {
		np_dbg("RLIMIT_MEMLOCK raised to unlimited (this kernel charges BPF memory to it)");
		return true;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			getrlimit(RLIMIT_MEMLOCK, &rl);
	}
	fmt_rlim(cur, sizeof(cur), rl.rlim_cur);
	fmt_rlim(max, sizeof(max), rl.rlim_max);
	np_info("this kernel charges BPF maps and programs to RLIMIT_MEMLOCK (memory-cgroup "
		"accounting is Linux 5.11 and later): limit %s (hard %s), shared by every "
		"process of this uid; raising the hard limit needs CAP_SYS_RESOURCE",
		cur, max);
	return true;
}

const char *np_memlock_hint(int err)
{
	static char buf[512];
	struct rlimit rl;
	char cur[32];

	if (err != -EPERM || memlock_charged != 1 || getrlimit(RLIMIT_MEMLOCK, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return "";
	fmt_rlim(cur, sizeof(cur), rl.rlim_cur);
	snprintf(buf, sizeof(buf),
		 "; on this kernel (before 5.11) that means RLIMIT_MEMLOCK (%s) is too low: "
		 "start the agent with a higher memlock limit (e.g. LimitMEMLOCK=infinity for the "
		 "container runtime, or ulimit -l unlimited) or grant CAP_SYS_RESOURCE",
		 cur);
	return buf;
}

/* ---- loading ------------------------------------------------------------ */

/* Kernel features the datapath needs, with the first Linux version that has
 * each, so that an older kernel gets one clear message instead of a verifier
 * dump or a bare EINVAL.  The EKS kernels (5.10: Amazon Linux 2; 6.1: AL2023,
 * Bottlerocket) have all of them (make test-kernels). */
static int check_kernel_features(void)
{
	static const struct {
		const char *what, *since;
		enum bpf_map_type map;  /* or 0 */
		enum bpf_func_id func;  /* or 0 */
	} feats[] = {
		{ "BPF ring buffer maps (BPF_MAP_TYPE_RINGBUF, flow events)", "5.8",
		  BPF_MAP_TYPE_RINGBUF, 0 },
		{ "LRU hash maps (BPF_MAP_TYPE_LRU_HASH, conntrack)", "4.10", BPF_MAP_TYPE_LRU_HASH, 0 },
		{ "LPM trie maps (BPF_MAP_TYPE_LPM_TRIE, peers and ports)", "4.11",
		  BPF_MAP_TYPE_LPM_TRIE, 0 },
		{ "the bpf_jiffies64 helper in TC programs (conntrack timeouts)", "5.5", 0,
		  BPF_FUNC_jiffies64 },
		{ "the bpf_ringbuf_reserve helper in TC programs (flow events)", "5.8", 0,
		  BPF_FUNC_ringbuf_reserve },
		{ "the bpf_skb_pull_data helper in TC programs", "4.9", 0, BPF_FUNC_skb_pull_data },
	};
	struct utsname u;
	const char *rel = uname(&u) == 0 ? u.release : "unknown";
	int err = 0;

	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		np_err("this kernel (%s) has no BTF (/sys/kernel/btf/vmlinux is missing): the BPF "
		       "programs use CO-RE relocations and need a kernel built with "
		       "CONFIG_DEBUG_INFO_BTF=y (Linux 5.4 and later; the EKS kernels, Amazon Linux 2 "
		       "5.10 and AL2023/Bottlerocket 6.1, have it)",
		       rel);
		err = -EOPNOTSUPP;
	}
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++) {
		int r = feats[i].map ? libbpf_probe_bpf_map_type(feats[i].map, NULL)
				     : libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS,
							       feats[i].func, NULL);

		if (r < 0) {
			/* the probe itself failed (no privileges, no BPF at all): the
			 * real load below reports what is wrong */
			np_dbg("cannot probe for %s: %s", feats[i].what, strerror(-r));
			continue;
		}
		if (r == 0) {
			np_err("this kernel (%s) lacks %s, which the datapath needs; it is in "
			       "Linux %s and later (the EKS kernels 5.10 and 6.1 have it)",
			       rel, feats[i].what, feats[i].since);
			err = -EOPNOTSUPP;
		}
	}
	return err;
}


/* Which np_load_opts field sizes which map, for error messages. */
static const char *map_option(const char *map)
{
	static const struct {
		const char *map, *opt;
	} tab[] = {
		{ "np_endpoints", "max_endpoints" }, { "np_ifaces", "max_ifaces" },
		{ "np_node_addrs", "max_node_addrs" }, { "np_peers", "max_peers" },
		{ "np_ports", "max_ports" },         { "np_ct", "max_ct" },
		{ "np_ct_deny", "max_ct_deny" },     { "np_frags", "max_frags" },
		{ "np_events", "ringbuf_bytes" },     { "np_flow_deny", "max_flow_deny" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(tab[i].map, map) == 0)
			return tab[i].opt;
	return NULL;
}

/* After a failed load, name what failed: the first map without an fd (maps
 * are created before programs), else the first program without one. */
static void report_load_failure(struct netpol_bpf *skel, int err)
{
	struct bpf_program *prog;
	struct bpf_map *map;

	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);
		const char *opt;

		if (bpf_map__fd(map) >= 0)
			continue;
		opt = map_option(name);
		if (opt && (err == -ENOMEM || err == -E2BIG || err == -EINVAL))
			np_err("cannot create BPF map %s with %u entries: %s; lower the %s option "
			       "(or check the memory cgroup / RLIMIT_MEMLOCK limits)",
			       name, bpf_map__max_entries(map), strerror(-err), opt);
		else
			np_err("cannot create BPF map %s: %s%s", name, strerror(-err),
			       np_memlock_hint(err));
		return;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		if (bpf_program__fd(prog) >= 0)
			continue;
		np_err("BPF program %s was rejected by the kernel (%s); the verifier log is above "
		       "when available, run with --log-level=debug for the full log%s",
		       bpf_program__name(prog), strerror(-err), np_memlock_hint(err));
		return;
	}
	np_err("loading the BPF datapath failed: %s", strerror(-err));
}

static __u32 or_default(__u32 v, __u32 def)
{
	return v ? v : def;
}

static void datapath_reset(struct np_datapath *dp)
{
	memset(dp, 0, sizeof(*dp));
	dp->prog_ingress = dp->prog_egress = -1;
	dp->map_endpoints = dp->map_ifaces = dp->map_node_addrs = dp->map_peers = -1;
	dp->map_ports = dp->map_ct = dp->map_ct_deny = dp->map_frags = -1;
	dp->map_state = dp->map_events = dp->map_flow_deny = dp->map_flow_stats = -1;
}

int np_datapath_load(struct np_datapath *dp, const struct np_load_opts *o)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct np_load_opts d;
	struct netpol_bpf *skel = NULL;
	struct {
		struct bpf_map *map;
		__u32 n;
	} sizes[10];
	unsigned int hz = 0;
	long page = sysconf(_SC_PAGESIZE);
	__u32 rb;
	int err;

	datapath_reset(dp);
	np_load_opts_default(&d);
	np_memlock_prepare();

	err = check_kernel_features();
	if (err)
		goto cleanup;

	err = np_kernel_hz(&hz);
	if (err)
		goto cleanup;

	rb = or_default(o->ringbuf_bytes, d.ringbuf_bytes);
	if ((rb & (rb - 1)) != 0 || page <= 0 || rb < (__u32)page) {
		np_err("ringbuf_bytes %u is invalid: it must be a power of two and at least the page size (%ld)",
		       rb, page);
		err = -EINVAL;
		goto cleanup;
	}

	/* Verifier logs of every program, printed by libbpf at debug level. */
	if (np_log_get_level() >= NP_LOG_DEBUG)
		oo.kernel_log_level = 1 | 4; /* BPF_LOG_LEVEL1 | BPF_LOG_STATS */

	skel = netpol_bpf__open_opts(&oo);
	if (!skel) {
		err = -errno;
		np_err("cannot open the BPF object netpol.bpf.o: %s", strerror(-err));
		goto cleanup;
	}

	skel->rodata->cfg_audit_all = o->audit_all;
	skel->rodata->cfg_deny_unknown = o->deny_unknown;
	skel->rodata->cfg_emit_events = o->emit_events;
	skel->rodata->cfg_flow_log = (__u8)o->flow_log;
	skel->rodata->cfg_report_jiffies = or_default(o->flow_interval_s, d.flow_interval_s) * hz;
	skel->rodata->cfg_hz = hz;
	skel->rodata->cfg_deny_events_per_s = or_default(o->deny_events_per_s, d.deny_events_per_s);
	skel->rodata->cfg_to_tcp_syn = (__u64)or_default(o->to_tcp_syn_s, d.to_tcp_syn_s) * hz;
	skel->rodata->cfg_to_tcp_est = (__u64)or_default(o->to_tcp_est_s, d.to_tcp_est_s) * hz;
	skel->rodata->cfg_to_tcp_close = (__u64)or_default(o->to_tcp_close_s, d.to_tcp_close_s) * hz;
	skel->rodata->cfg_to_other = (__u64)or_default(o->to_other_s, d.to_other_s) * hz;
	skel->rodata->cfg_to_icmp = (__u64)or_default(o->to_icmp_s, d.to_icmp_s) * hz;
	skel->rodata->cfg_to_deny = (__u64)or_default(o->to_deny_s, d.to_deny_s) * hz;

	sizes[0].map = skel->maps.np_endpoints;
	sizes[0].n = or_default(o->max_endpoints, d.max_endpoints);
	sizes[1].map = skel->maps.np_ifaces;
	sizes[1].n = or_default(o->max_ifaces, d.max_ifaces);
	sizes[2].map = skel->maps.np_node_addrs;
	sizes[2].n = or_default(o->max_node_addrs, d.max_node_addrs);
	sizes[3].map = skel->maps.np_peers;
	sizes[3].n = or_default(o->max_peers, d.max_peers);
	sizes[4].map = skel->maps.np_ports;
	sizes[4].n = or_default(o->max_ports, d.max_ports);
	sizes[5].map = skel->maps.np_ct;
	sizes[5].n = or_default(o->max_ct, d.max_ct);
	sizes[6].map = skel->maps.np_ct_deny;
	sizes[6].n = or_default(o->max_ct_deny, d.max_ct_deny);
	sizes[7].map = skel->maps.np_frags;
	sizes[7].n = or_default(o->max_frags, d.max_frags);
	sizes[8].map = skel->maps.np_events;
	sizes[8].n = rb;
	sizes[9].map = skel->maps.np_flow_deny;
	sizes[9].n = or_default(o->max_flow_deny, d.max_flow_deny);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		err = bpf_map__set_max_entries(sizes[i].map, sizes[i].n);
		if (err) {
			np_err("cannot size BPF map %s to %u entries: %s",
			       bpf_map__name(sizes[i].map), sizes[i].n, strerror(-err));
			goto cleanup;
		}
	}

	if (o->before_load) {
		err = o->before_load(skel->obj, o->before_load_ctx);
		if (err)
			goto cleanup;
	}
	err = netpol_bpf__load(skel);
	if (err) {
		report_load_failure(skel, err);
		goto cleanup;
	}

	dp->skel = skel;
	dp->hz = hz;
	dp->prog_ingress = bpf_program__fd(skel->progs.np_pod_ingress);
	dp->prog_egress = bpf_program__fd(skel->progs.np_pod_egress);
	dp->map_endpoints = bpf_map__fd(skel->maps.np_endpoints);
	dp->map_ifaces = bpf_map__fd(skel->maps.np_ifaces);
	dp->map_node_addrs = bpf_map__fd(skel->maps.np_node_addrs);
	dp->map_peers = bpf_map__fd(skel->maps.np_peers);
	dp->map_ports = bpf_map__fd(skel->maps.np_ports);
	dp->map_ct = bpf_map__fd(skel->maps.np_ct);
	dp->map_ct_deny = bpf_map__fd(skel->maps.np_ct_deny);
	dp->map_frags = bpf_map__fd(skel->maps.np_frags);
	dp->map_state = bpf_map__fd(skel->maps.np_state);
	dp->map_events = bpf_map__fd(skel->maps.np_events);
	dp->map_flow_deny = bpf_map__fd(skel->maps.np_flow_deny);
	dp->map_flow_stats = bpf_map__fd(skel->maps.np_flow_stats);
	skel = NULL;
	np_dbg("datapath loaded (HZ=%u, audit_all=%d, deny_unknown=%d, events=%d)", hz,
	       o->audit_all, o->deny_unknown, o->emit_events);
cleanup:
	netpol_bpf__destroy(skel);
	return err;
}

void np_datapath_close(struct np_datapath *dp)
{
	if (!dp)
		return;
	netpol_bpf__destroy(dp->skel);
	datapath_reset(dp);
}

int np_datapath_gen(struct np_datapath *dp, __u32 *gen)
{
	struct np_state st;
	__u32 zero = 0;
	int err = 0;

	if (bpf_map_lookup_elem(dp->map_state, &zero, &st) < 0) {
		err = -errno;
		np_err("cannot read the policy generation (np_state): %s", strerror(-err));
		goto cleanup;
	}
	*gen = st.gen;
cleanup:
	return err;
}

int np_datapath_bump_gen(struct np_datapath *dp)
{
	struct np_state st;
	__u32 zero = 0;
	int err;

	err = np_datapath_gen(dp, &st.gen);
	if (err)
		goto cleanup;
	st.gen++;
	st.pad = 0;
	if (bpf_map_update_elem(dp->map_state, &zero, &st, BPF_ANY) < 0) {
		err = -errno;
		np_err("cannot write the policy generation (np_state): %s", strerror(-err));
		goto cleanup;
	}
cleanup:
	return err;
}
