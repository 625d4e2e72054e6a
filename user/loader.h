/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Opening and loading the datapath (bpf/netpol.bpf.c) with its load-time
 * configuration: map sizes, audit mode, unknown-pod policy, timeouts. */
#ifndef NP_LOADER_H
#define NP_LOADER_H

#include <stdbool.h>
#include <linux/types.h>

struct bpf_object;

struct np_load_opts {
	bool audit_all;    /* denials pass with verdict AUDIT */
	bool deny_unknown; /* drop traffic of unknown pods / interfaces */
	bool emit_events;  /* false: no flow events at all (verdict tool, benches) */
	unsigned int flow_log;       /* enum np_flow_log: which flows are logged */
	__u32 flow_interval_s;       /* report interval of long flows; 0: default 60 */
	__u32 deny_events_per_s;     /* denial events per CPU and second; 0: default */
	/* Map sizes; 0 means the default. */
	__u32 max_endpoints, max_ifaces, max_node_addrs, max_peers, max_ports,
		max_ct, max_ct_deny, max_frags, ringbuf_bytes, max_flow_deny;
	/* Conntrack timeouts in seconds; 0 means the default. */
	__u32 to_tcp_syn_s, to_tcp_est_s, to_tcp_close_s, to_other_s, to_icmp_s, to_deny_s;
	/* Called after the object is opened and its maps sized, right before
	 * it is loaded (the agent reuses pinned maps there, see pin.h);
	 * NULL: none.  A non-zero return aborts the load. */
	int (*before_load)(struct bpf_object *obj, void *ctx);
	void *before_load_ctx;
};

void np_load_opts_default(struct np_load_opts *o);

struct netpol_bpf;

struct np_datapath {
	struct netpol_bpf *skel; /* from build/netpol.skel.h */
	int prog_ingress, prog_egress; /* fds */
	int map_endpoints, map_ifaces, map_node_addrs, map_peers, map_ports, map_ct,
		map_ct_deny, map_frags, map_state, map_events, map_flow_deny,
		map_flow_stats; /* fds */
	unsigned int hz; /* kernel HZ used for jiffies */
};

/* 0 or -errno; logs what failed and what to do.  On failure *dp holds no
 * resources (fds are -1). */
int np_datapath_load(struct np_datapath *dp, const struct np_load_opts *o);
void np_datapath_close(struct np_datapath *dp);
int np_datapath_gen(struct np_datapath *dp, __u32 *gen); /* read generation */
int np_datapath_bump_gen(struct np_datapath *dp);        /* gen++ */

/* Kernel HZ: CONFIG_HZ from /boot/config-$(uname -r) or /proc/config.gz,
 * else measured with np_kernel_hz_measure(). */
int np_kernel_hz(unsigned int *hz);

/* Kernels before 5.11 charge BPF maps and programs to RLIMIT_MEMLOCK (of the
 * uid: every root process's BPF memory counts against it) instead of the
 * memory cgroup.  libbpf raises the limit to infinity, which needs
 * CAP_SYS_RESOURCE unless the hard limit is already infinite; the DaemonSet
 * does not grant it.  np_memlock_prepare() (idempotent, before creating maps)
 * then raises the soft limit to the hard one and logs the limit in force.
 * true: this kernel charges RLIMIT_MEMLOCK. */
bool np_memlock_prepare(void);
/* After a map or program creation failed with err (-errno): "" or a sentence
 * (starting "; ") naming the RLIMIT_MEMLOCK limit as the likely cause. */
const char *np_memlock_hint(int err);
/* Measure HZ: bpf_jiffies64() twice, 200 ms apart, rounded to the nearest
 * of 100, 250, 300, 1000.  Needs CAP_BPF/root. */
int np_kernel_hz_measure(unsigned int *hz);
/* bpf_jiffies64() now (conntrack times are in jiffies).  Runs a probe
 * program: needs CAP_BPF.  0 or -errno. */
int np_kernel_jiffies(__u64 *out);

#endif
