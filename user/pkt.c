// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pkt.h"

#define ETH_HLEN 14

static const __u8 v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int is_v4(const struct np_addr *a)
{
	return memcmp(a->b, v4_prefix, sizeof(v4_prefix)) == 0;
}

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(__u8 *p, __u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* One's complement sum of big-endian 16-bit words. */
static __u32 csum_add(__u32 sum, const __u8 *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += ((__u32)p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += (__u32)p[len - 1] << 8;
	return sum;
}

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static size_t l4_hdr_len(__u8 proto)
{
	switch (proto) {
	case NP_PROTO_TCP:
		return 20;
	case NP_PROTO_UDP:
	case NP_PROTO_ICMP:
	case NP_PROTO_ICMPV6:
		return 8;
	case NP_PROTO_SCTP:
		return 12;
	default:
		return 0;
	}
}

static void put_l4(const struct np_pkt_spec *s, __u8 *l4, size_t l4_total)
{
	switch (s->proto) {
	case NP_PROTO_TCP:
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, 1);                                  /* seq */
		put32(l4 + 8, (s->tcp_flags & 0x10) ? 1 : 0);      /* ack */
		l4[12] = 5 << 4;                                   /* data offset */
		l4[13] = s->tcp_flags;
		put16(l4 + 14, 65535);                             /* window */
		break;
	case NP_PROTO_UDP:
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put16(l4 + 4, (__u16)l4_total);
		break;
	case NP_PROTO_SCTP:
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, 0x01020304);                         /* verification tag */
		break;
	case NP_PROTO_ICMP:
	case NP_PROTO_ICMPV6:
		l4[0] = s->icmp_type;
		l4[1] = s->icmp_code;
		if (s->icmp_type == 8 || s->icmp_type == 0 || s->icmp_type == 128 ||
		    s->icmp_type == 129 || !s->icmp_rest) {
			put16(l4 + 4, s->sport);                   /* identifier */
			put16(l4 + 6, 1);                          /* sequence */
		} else {
			put32(l4 + 4, s->icmp_rest);               /* MTU, pointer */
		}
		break;
	default:
		break;
	}
}

/* TCP/UDP/ICMPv6 over the pseudo header; ICMP without one. */
static void put_l4_csum(const struct np_pkt_spec *s, int v4, __u8 *l4, size_t l4_total)
{
	size_t at;
	__u32 sum = 0;
	__u8 ph[8];

	switch (s->proto) {
	case NP_PROTO_TCP:
		at = 16;
		break;
	case NP_PROTO_UDP:
		at = 6;
		break;
	case NP_PROTO_ICMP:
	case NP_PROTO_ICMPV6:
		at = 2;
		break;
	default:
		return;
	}
	if (s->proto != NP_PROTO_ICMP) {
		if (v4) {
			sum = csum_add(sum, s->src.b + 12, 4);
			sum = csum_add(sum, s->dst.b + 12, 4);
		} else {
			sum = csum_add(sum, s->src.b, 16);
			sum = csum_add(sum, s->dst.b, 16);
		}
		put32(ph, (__u32)l4_total);
		put32(ph + 4, s->proto);
		sum = csum_add(sum, ph, sizeof(ph));
	}
	sum = csum_add(sum, l4, l4_total);
	put16(l4 + at, csum_fold(sum));
	if (s->proto == NP_PROTO_UDP && l4[at] == 0 && l4[at + 1] == 0)
		put16(l4 + at, 0xffff);
}

int np_pkt_build(const struct np_pkt_spec *s, void *buf, size_t cap)
{
	__u8 *p = buf;
	int v4 = !s->ipv6 && is_v4(&s->src);
	size_t l3_len, ext_len = 0, l4_len, len;
	__u8 *ip, *l4;
	int err = 0;

	if ((!s->ipv6 && v4 != is_v4(&s->dst)) || s->frag > NP_PKT_FRAG_LATER) {
		err = -EINVAL;
		goto cleanup;
	}
	if (v4 && (s->ip_opts_len % 4 != 0 || s->ip_opts_len > 40 || s->n_v6_ext)) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!v4 && (s->n_v6_ext > 3 || s->ip_opts_len)) {
		err = -EINVAL;
		goto cleanup;
	}

	l4_len = s->frag == NP_PKT_FRAG_LATER ? 0 : l4_hdr_len(s->proto);
	if (v4) {
		l3_len = 20 + s->ip_opts_len;
	} else {
		for (int i = 0; i < s->n_v6_ext; i++)
			ext_len += 8 * (size_t)(i + 1);
		if (s->frag)
			ext_len += 8;
		l3_len = 40 + ext_len;
	}
	len = ETH_HLEN + l3_len + l4_len + s->payload_len;
	if (len > cap) {
		err = -ENOSPC;
		goto cleanup;
	}
	memset(p, 0, len);

	/* Ethernet: locally administered MACs. */
	p[0] = 0x02, p[5] = 0x02;
	p[6] = 0x02, p[11] = 0x01;
	put16(p + 12, v4 ? 0x0800 : 0x86DD);
	ip = p + ETH_HLEN;
	l4 = ip + l3_len;

	if (v4) {
		__u16 frag_off = 0;

		ip[0] = 0x40 | (__u8)(l3_len / 4);
		put16(ip + 2, (__u16)(l3_len + l4_len + s->payload_len));
		put16(ip + 4, (__u16)s->frag_id);
		if (s->frag == NP_PKT_FRAG_FIRST)
			frag_off = 0x2000;
		else if (s->frag == NP_PKT_FRAG_LATER)
			frag_off = NP_PKT_LATER_FRAG_OFFSET;
		put16(ip + 6, frag_off);
		ip[8] = 64;
		ip[9] = s->proto;
		memcpy(ip + 12, s->src.b + 12, 4);
		memcpy(ip + 16, s->dst.b + 12, 4);
		/* Options: NOPs, then end-of-options in the last byte. */
		if (s->ip_opts_len) {
			memset(ip + 20, 1, s->ip_opts_len);
			ip[20 + s->ip_opts_len - 1] = 0;
		}
		put16(ip + 10, csum_fold(csum_add(0, ip, l3_len)));
	} else {
		/* Chain: hop-by-hop (8), destination options (16), routing
		 * (24), fragment (8), then L4. */
		static const __u8 ext_types[3] = { 0, 60, 43 };
		__u8 *h = ip + 40;
		__u8 *prev_next = ip + 6;

		ip[0] = 0x60;
		put16(ip + 4, (__u16)(ext_len + l4_len + s->payload_len));
		ip[7] = 64;
		memcpy(ip + 8, s->src.b, 16);
		memcpy(ip + 24, s->dst.b, 16);
		for (int i = 0; i < s->n_v6_ext; i++) {
			size_t hl = 8 * (size_t)(i + 1);

			*prev_next = ext_types[i];
			h[1] = (__u8)i; /* length in 8-byte units, minus one */
			if (ext_types[i] == 43) {
				h[2] = 4; /* routing type (segment routing), segments left 0 */
			} else {
				h[2] = 1; /* PadN option filling the header */
				h[3] = (__u8)(hl - 4);
			}
			prev_next = &h[0];
			h += hl;
		}
		if (s->frag) {
			*prev_next = 44;
			put16(h + 2, s->frag == NP_PKT_FRAG_LATER ?
					     (NP_PKT_LATER_FRAG_OFFSET << 3) : 1);
			put32(h + 4, s->frag_id);
			prev_next = &h[0];
			h += 8;
		}
		*prev_next = s->proto;
	}

	if (l4_len)
		put_l4(s, l4, l4_len + s->payload_len);
	if (s->payload)
		memcpy(l4 + l4_len, s->payload, s->payload_len);
	else
		for (size_t i = 0; i < s->payload_len; i++)
			l4[l4_len + i] = (__u8)i;
	if (l4_len && !s->frag)
		put_l4_csum(s, v4, l4, l4_len + s->payload_len);
	err = (int)len;
cleanup:
	return err;
}

int np_pkt_build_icmp_error(const struct np_addr *from, __u8 type, __u8 code, __u32 rest,
			    const struct np_pkt_spec *inner, void *buf, size_t cap)
{
	__u8 quoted[1600];
	struct np_pkt_spec outer = { 0 };
	int n, v4 = !inner->ipv6 && is_v4(&inner->src);
	int err;

	n = np_pkt_build(inner, quoted, sizeof(quoted));
	if (n < 0) {
		err = n;
		goto cleanup;
	}
	outer.src = *from;
	outer.dst = inner->src;
	outer.ipv6 = (__u8)!v4;
	outer.proto = v4 ? NP_PROTO_ICMP : NP_PROTO_ICMPV6;
	outer.icmp_type = type;
	outer.icmp_code = code;
	outer.icmp_rest = rest;
	outer.payload = quoted + ETH_HLEN;
	outer.payload_len = (__u16)(n - ETH_HLEN);
	err = np_pkt_build(&outer, buf, cap);
cleanup:
	return err;
}

int np_prog_run(int prog_fd, const void *pkt, size_t len, __u32 *retval, __u32 repeat,
		__u64 *duration_ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
		    .repeat = repeat);
	int err = 0;

	if (bpf_prog_test_run_opts(prog_fd, &opts) < 0) {
		err = -errno;
		goto cleanup;
	}
	if (retval)
		*retval = opts.retval;
	if (duration_ns)
		*duration_ns = opts.duration;
cleanup:
	return err;
}

int np_prog_run_on(int prog_fd, const void *pkt, size_t len, __u32 ifindex, __u32 *retval)
{
	struct __sk_buff ctx = { .ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err = 0;

	if (bpf_prog_test_run_opts(prog_fd, &opts) < 0) {
		err = -errno;
		goto cleanup;
	}
	*retval = opts.retval;
cleanup:
	return err;
}
