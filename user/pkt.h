/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Crafting test packets (verdict tool, BPF tests, benchmarks) and running
 * them through a program with bpf_prog_test_run_opts. */
#ifndef NP_PKT_H
#define NP_PKT_H

#include <stddef.h>
#include <linux/types.h>

#include "netpol.h"

struct np_pkt_spec {
	struct np_addr src, dst; /* v4-mapped => IPv4 packet */
	__u8 proto;              /* NP_PROTO_* or any other number */
	__u16 sport, dport;      /* host order; for ICMP echo: sport = identifier */
	__u8 tcp_flags;          /* TCP flag byte (0x02 SYN, 0x10 ACK, 0x12 SYN-ACK, 0x01 FIN, 0x04 RST) */
	__u8 icmp_type;          /* for ICMP/ICMPv6 */
	__u8 ip_opts_len;        /* IPv4 options bytes (multiple of 4, <= 40), NOPs + end */
	__u8 n_v6_ext;           /* IPv6 extension headers before L4 (0..3: hop-by-hop 8 bytes,
				  * destination options 16 bytes, routing 24 bytes) */
	__u8 frag;               /* 0 none, 1 first fragment (MF set, offset 0), 2 later fragment (offset > 0, no L4 header) */
	__u32 frag_id;
	__u16 payload_len;       /* bytes of payload after L4 header */
	__u8 ipv6;               /* build IPv6 even with v4-mapped addresses (invalid on
				  * the wire: the datapath must drop such packets) */
	__u8 icmp_code;
	__u32 icmp_rest;         /* ICMP header bytes 4-7 of non-echo types (an MTU) */
	const __u8 *payload;     /* payload_len bytes of payload; NULL: a counting pattern */
};

#define NP_PKT_FRAG_NONE 0
#define NP_PKT_FRAG_FIRST 1
#define NP_PKT_FRAG_LATER 2

/* Offset of the later fragments built by np_pkt_build (in 8-byte units). */
#define NP_PKT_LATER_FRAG_OFFSET 185

/* Returns the frame length or -errno (-EINVAL bad spec, -ENOSPC cap too
 * small); Ethernet header included.  IPv4 header, TCP, UDP, ICMP and ICMPv6
 * checksums are correct for unfragmented packets. */
int np_pkt_build(const struct np_pkt_spec *s, void *buf, size_t cap);

/* An ICMP (IPv4) or ICMPv6 error of TYPE/CODE/REST from FROM to INNER's
 * source, quoting the packet INNER describes (its headers and payload,
 * without the Ethernet header), as a router or the peer would send it.
 * Returns the frame length or -errno. */
int np_pkt_build_icmp_error(const struct np_addr *from, __u8 type, __u8 code, __u32 rest,
			    const struct np_pkt_spec *inner, void *buf, size_t cap);

/* bpf_prog_test_run_opts wrapper: 0 or -errno; retval/duration optional
 * (duration is the kernel's average per run, ns). */
/* Like np_prog_run, once, as if the packet arrived on IFINDEX (the device
 * must exist in the caller's network namespace). */
int np_prog_run_on(int prog_fd, const void *pkt, size_t len, __u32 ifindex, __u32 *retval);
int np_prog_run(int prog_fd, const void *pkt, size_t len, __u32 *retval, __u32 repeat,
		__u64 *duration_ns);

#endif
