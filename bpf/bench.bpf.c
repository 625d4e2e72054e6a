// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark helpers, run with bpf_prog_test_run_opts (never attached):
 *   np_noop           returns TC_ACT_OK: the cost floor of a test run.
 *   np_bench_newflow  gives every run a new 5-tuple (low bits of the IPv4
 *                     source address and the TCP source port from a
 *                     per-CPU counter), then
 *                     tail-calls np_bench_jmp[0] (userspace puts
 *                     np_pod_ingress there): the new-connection path.
 *   np_bench_cycle    cycles over cfg_cycle_flows 5-tuples: once they are
 *                     all in conntrack, the established path over a large
 *                     working set.
 * The template packet must be Ethernet + IPv4 without options + TCP.  The
 * rewrite skips checksum fixups: the policy programs do not check them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_OK 0

/* Returned when np_bench_jmp[0] is empty (tail call fell through). */
#define NP_BENCH_NO_TARGET 99

#define NP_BENCH_SADDR_OFF (14 + 12) /* Ethernet + iphdr.saddr */
#define NP_BENCH_SPORT_OFF (14 + 20) /* Ethernet + iphdr (no options) */

const volatile __u32 cfg_cycle_flows = 400000;
/* Flow index i becomes TCP source port i & 0xffff and the low
 * cfg_addr_bits bits of the source address i >> 16; the higher address bits
 * stay those of the template, so the sources stay inside the template's
 * /(32 - cfg_addr_bits) and are allowed or denied like the template. */
const volatile __u32 cfg_addr_bits = 8;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} np_bench_jmp SEC(".maps");

/* [0]: newflow counter, [1]: cycle counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} np_bench_ctr SEC(".maps");

static __always_inline void rewrite(struct __sk_buff *skb, __u64 idx)
{
	__u32 mask = cfg_addr_bits >= 32 ? ~0u : (1u << cfg_addr_bits) - 1;
	__be16 sport = bpf_htons((__u16)idx);
	__be32 saddr;

	if (bpf_skb_load_bytes(skb, NP_BENCH_SADDR_OFF, &saddr, sizeof(saddr)) < 0)
		return;
	saddr = bpf_htonl((bpf_ntohl(saddr) & ~mask) | ((__u32)(idx >> 16) & mask));
	bpf_skb_store_bytes(skb, NP_BENCH_SADDR_OFF, &saddr, sizeof(saddr), 0);
	bpf_skb_store_bytes(skb, NP_BENCH_SPORT_OFF, &sport, sizeof(sport), 0);
}

SEC("tc")
int np_noop(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int np_bench_newflow(struct __sk_buff *skb)
{
	__u32 slot = 0;
	__u64 *ctr = bpf_map_lookup_elem(&np_bench_ctr, &slot);
	__u64 idx;

	if (!ctr)
		return NP_BENCH_NO_TARGET;
	/* 2^(16 + cfg_addr_bits) distinct 5-tuples per CPU before they
	 * repeat (16.7 M by default).  A test run stays on one CPU. */
	idx = (*ctr)++;
	rewrite(skb, idx);
	bpf_tail_call(skb, &np_bench_jmp, 0);
	return NP_BENCH_NO_TARGET;
}

SEC("tc")
int np_bench_cycle(struct __sk_buff *skb)
{
	__u32 slot = 1;
	__u64 *ctr = bpf_map_lookup_elem(&np_bench_ctr, &slot);
	__u32 n = cfg_cycle_flows ? cfg_cycle_flows : 1;
	__u64 idx;

	if (!ctr)
		return NP_BENCH_NO_TARGET;
	/* Every CPU walks the same n flows: they share conntrack entries. */
	idx = (*ctr)++ % n;
	rewrite(skb, idx);
	bpf_tail_call(skb, &np_bench_jmp, 0);
	return NP_BENCH_NO_TARGET;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
