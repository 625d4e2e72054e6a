/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the TC programs, with a header cursor in the style of
 * xdp-tools: every step checks its header against data_end before reading.
 *
 * np_parse() reduces a frame to what policy needs (struct np_pkt): addresses
 * (IPv4 as ::ffff:a.b.c.d), protocol, ports, TCP flags and fragment info.
 * It is inlined: on CPUs with return-stack mitigations (AMD SRSO "safe RET",
 * retbleed) every BPF-to-BPF call costs about 10 ns, a quarter of the whole
 * established-flow budget.  The verifier cost of inlining stays small
 * because IPv6 extension headers are read at a scalar offset (see
 * np_parse_ipv6_ext), not through an advancing packet pointer.
 */
#ifndef NP_PARSE_H
#define NP_PARSE_H

/* vmlinux.h carries types, not macros. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define NP_IP_MF 0x2000
#define NP_IP_OFFSET 0x1FFF

#define NP_IPPROTO_HOPOPTS 0
#define NP_IPPROTO_ROUTING 43
#define NP_IPPROTO_FRAGMENT 44
#define NP_IPPROTO_ESP 50
#define NP_IPPROTO_AH 51
#define NP_IPPROTO_NONE 59
#define NP_IPPROTO_DSTOPTS 60

/* More extension headers than this: we refuse to guess where L4 starts. */
#define NP_IPV6_MAX_EXT 8

#define NP_TCP_FLAG_FIN 0x01
#define NP_TCP_FLAG_SYN 0x02
#define NP_TCP_FLAG_RST 0x04
#define NP_TCP_FLAG_ACK 0x10

#define NP_ICMP_ECHOREPLY 0
#define NP_ICMP_ECHO 8
#define NP_ICMPV6_ECHO 128
#define NP_ICMPV6_ECHOREPLY 129
#define NP_ICMPV6_ND_FIRST 133 /* router solicitation */
#define NP_ICMPV6_ND_LAST 137  /* redirect */
/* Multicast listener discovery: like ND, link-local plumbing every IPv6
 * interface sends (often from ::), never subject to NetworkPolicy. */
#define NP_ICMPV6_MLD_QUERY 130
#define NP_ICMPV6_MLD_DONE 132
#define NP_ICMPV6_MLD2_REPORT 143
/* Errors that quote the offending packet: destination unreachable
 * (fragmentation needed included), time exceeded, parameter problem; for
 * ICMPv6 also packet too big. */
#define NP_ICMP_DEST_UNREACH 3
#define NP_ICMP_TIME_EXCEEDED 11
#define NP_ICMP_PARAMETERPROB 12
#define NP_ICMPV6_DEST_UNREACH 1
#define NP_ICMPV6_PARAMPROB 4

enum np_frag_kind {
	NP_FRAG_NONE = 0,
	NP_FRAG_FIRST = 1, /* offset 0, more fragments: carries the L4 header */
	NP_FRAG_LATER = 2, /* offset > 0: no L4 header */
};

enum np_parse_rc {
	NP_PARSE_OK = 0,   /* IP packet; struct np_pkt filled in */
	NP_PARSE_PASS = 1, /* not ours to judge: non-IP (ARP), neighbour discovery */
	NP_PARSE_TRUNC = 2, /* a header ends past the linear data */
	NP_PARSE_BAD = 3,  /* invalid header */
};

struct np_pkt {
	struct np_addr src;
	struct np_addr dst;
	__u32 frag_id;  /* IPv4: 16-bit id; IPv6: 32-bit id */
	__u16 sport;    /* network order; ICMP echo: identifier */
	__u16 dport;    /* network order; ICMP echo: identifier */
	__u8 proto;
	__u8 tcp_flags;
	__u8 frag;      /* enum np_frag_kind */
	__u8 icmp_err;  /* an ICMP/ICMPv6 error: its body quotes a packet's headers */
	__u16 l4_off;   /* offset of the L4 header from skb->data */
	__u16 pad;
} __attribute__((aligned(8)));

struct hdr_cursor {
	void *pos;
};

static __always_inline void np_addr_from_v4(struct np_addr *a, __be32 ip)
{
	/* struct np_pkt is 8-aligned and the addresses sit at 0 and 16, so
	 * word stores are aligned. */
	__u32 *w = (__u32 *)a;

	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = ip;
}

/* In ::ffff:0:0/96, the range that holds IPv4 addresses. */
static __always_inline int np_addr_v4(const struct np_addr *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int np_addr_eq(const struct np_addr *a, const struct np_addr *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

static __always_inline int np_parse_ipv4(struct hdr_cursor *nh, void *data_end,
					 struct np_pkt *p)
{
	struct iphdr *iph = nh->pos;
	__u8 vihl;
	__u32 hlen;
	__u16 frag_off;

	if ((void *)(iph + 1) > data_end)
		return NP_PARSE_TRUNC;
	/* Read version/ihl as one byte: bitfield order is an ABI detail. */
	vihl = *(__u8 *)iph;
	if ((vihl >> 4) != 4 || (vihl & 0xf) < 5)
		return NP_PARSE_BAD;
	hlen = (vihl & 0xf) * 4;
	/* Options are skipped, never interpreted: only their length matters. */
	if (nh->pos + hlen > data_end)
		return NP_PARSE_TRUNC;
	nh->pos += hlen;

	np_addr_from_v4(&p->src, iph->saddr);
	np_addr_from_v4(&p->dst, iph->daddr);
	p->proto = iph->protocol;

	frag_off = bpf_ntohs(iph->frag_off);
	if (frag_off & NP_IP_OFFSET)
		p->frag = NP_FRAG_LATER;
	else if (frag_off & NP_IP_MF)
		p->frag = NP_FRAG_FIRST;
	p->frag_id = bpf_ntohs(iph->id);
	return NP_PARSE_OK;
}

static __always_inline int np_ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == NP_IPPROTO_HOPOPTS || nexthdr == NP_IPPROTO_ROUTING ||
	       nexthdr == NP_IPPROTO_FRAGMENT || nexthdr == NP_IPPROTO_AH ||
	       nexthdr == NP_IPPROTO_DSTOPTS;
}

/* Bytes of the L4 header we read: ports (and TCP flags at byte 13; the
 * ICMP echo identifier at bytes 4-5).  Every ICMP message has 8 bytes. */
static __always_inline __u32 np_l4_need(__u8 proto)
{
	switch (proto) {
	case NP_PROTO_TCP:
		return 14;
	case NP_PROTO_UDP:
	case NP_PROTO_SCTP:
		return 4;
	case NP_PROTO_ICMP:
	case NP_PROTO_ICMPV6:
		return 8;
	default:
		return 0; /* no ports we know of (ESP, GRE, ...) */
	}
}

/* Decode ports/flags from the first np_l4_need(p->proto) bytes of L4. */
static __always_inline int np_parse_l4(const __u8 *l4, struct np_pkt *p)
{
	__u8 type;

	switch (p->proto) {
	case NP_PROTO_TCP:
		p->sport = *(const __u16 *)l4;
		p->dport = *(const __u16 *)(l4 + 2);
		p->tcp_flags = l4[13];
		return NP_PARSE_OK;
	case NP_PROTO_UDP:
	case NP_PROTO_SCTP:
		p->sport = *(const __u16 *)l4;
		p->dport = *(const __u16 *)(l4 + 2);
		return NP_PARSE_OK;
	case NP_PROTO_ICMP:
	case NP_PROTO_ICMPV6:
		type = l4[0];
		if (p->proto == NP_PROTO_ICMPV6 &&
		    ((type >= NP_ICMPV6_ND_FIRST && type <= NP_ICMPV6_ND_LAST) ||
		     (type >= NP_ICMPV6_MLD_QUERY && type <= NP_ICMPV6_MLD_DONE) ||
		     type == NP_ICMPV6_MLD2_REPORT))
			return NP_PARSE_PASS;
		if ((p->proto == NP_PROTO_ICMP &&
		     (type == NP_ICMP_DEST_UNREACH || type == NP_ICMP_TIME_EXCEEDED ||
		      type == NP_ICMP_PARAMETERPROB)) ||
		    (p->proto == NP_PROTO_ICMPV6 && type >= NP_ICMPV6_DEST_UNREACH &&
		     type <= NP_ICMPV6_PARAMPROB))
			p->icmp_err = 1;
		if ((p->proto == NP_PROTO_ICMP &&
		     (type == NP_ICMP_ECHO || type == NP_ICMP_ECHOREPLY)) ||
		    (p->proto == NP_PROTO_ICMPV6 &&
		     (type == NP_ICMPV6_ECHO || type == NP_ICMPV6_ECHOREPLY))) {
			/* The identifier on both sides: request and reply
			 * then share one conntrack key. */
			p->sport = *(const __u16 *)(l4 + 4);
			p->dport = p->sport;
		}
		return NP_PARSE_OK;
	default:
		return NP_PARSE_OK;
	}
}

/* Copy the L4 bytes we need from the linear packet data into buf. */
static __always_inline int np_copy_l4(void *l4, void *data_end, __u32 need, __u8 *buf)
{
	if (need == 14) {
		if (l4 + 14 > data_end)
			return NP_PARSE_TRUNC;
		__builtin_memcpy(buf, l4, 14);
	} else if (need == 8) {
		if (l4 + 8 > data_end)
			return NP_PARSE_TRUNC;
		__builtin_memcpy(buf, l4, 8);
	} else if (need == 4) {
		if (l4 + 4 > data_end)
			return NP_PARSE_TRUNC;
		__builtin_memcpy(buf, l4, 4);
	}
	return NP_PARSE_OK;
}

/*
 * IPv6 extension headers, starting at byte offset off with header type
 * nexthdr.  Rare, so they are read with bpf_skb_load_bytes() at a scalar
 * offset instead of through packet pointers: a packet pointer advanced by
 * up to 8 variable lengths gives the verifier one state per combination of
 * header kinds (hundreds of thousands of instructions), a scalar offset
 * that only feeds a helper argument gives it one state per iteration.  The
 * helper also reads paged data, so no pull is needed here.
 */
static __always_inline int np_parse_ipv6_ext(struct __sk_buff *skb, __u32 off,
					     __u8 nexthdr, struct np_pkt *p, __u8 *buf)
{
	__u8 h[8] __attribute__((aligned(8)));
	__u32 need;
	int i;

	for (i = 0; i < NP_IPV6_MAX_EXT; i++) {
		__u32 len;

		if (!np_ipv6_is_ext(nexthdr))
			break;
		/* Every extension header is at least 8 bytes long. */
		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0)
			return NP_PARSE_BAD;
		if (nexthdr == NP_IPPROTO_FRAGMENT) {
			__u16 frag_off = ((__u16)h[2] << 8) | h[3];

			p->frag_id = ((__u32)h[4] << 24) | ((__u32)h[5] << 16) |
				     ((__u32)h[6] << 8) | h[7];
			if (frag_off & 0xFFF8) {
				/* A later fragment: what follows is payload,
				 * not an L4 header. */
				p->frag = NP_FRAG_LATER;
				p->proto = h[0];
				return NP_PARSE_OK;
			}
			if (frag_off & 1)
				p->frag = NP_FRAG_FIRST;
			len = 8;
		} else if (nexthdr == NP_IPPROTO_AH) {
			len = ((__u32)h[1] + 2) * 4;
		} else {
			len = ((__u32)h[1] + 1) * 8;
		}
		nexthdr = h[0];
		off += len;
	}
	/* More than NP_IPV6_MAX_EXT headers: we refuse to guess. */
	if (np_ipv6_is_ext(nexthdr))
		return NP_PARSE_BAD;
	p->proto = nexthdr;
	p->l4_off = (__u16)off;
	need = np_l4_need(nexthdr);
	if (need && bpf_skb_load_bytes(skb, off, buf, need) < 0)
		return NP_PARSE_BAD;
	return np_parse_l4(buf, p);
}

/* Fill *p (zeroed by the caller) from the frame at skb->data. */
static __always_inline int np_parse(struct __sk_buff *skb, struct np_pkt *p)
{
	void *data_end = (void *)(long)skb->data_end;
	struct hdr_cursor nh = { .pos = (void *)(long)skb->data };
	struct ethhdr *eth = nh.pos;
	/* Zeroed: the verifier cannot tie the bytes copied to the protocol. */
	__u8 buf[16] __attribute__((aligned(8))) = {};
	__u32 l3_off = sizeof(*eth);
	__u16 h_proto;
	int rc;

	if ((void *)(eth + 1) > data_end)
		return NP_PARSE_TRUNC;
	nh.pos = eth + 1;
	h_proto = eth->h_proto;
	/* One in-band VLAN tag (usually the tag is offloaded to skb metadata
	 * and never seen here). */
	if (h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = nh.pos;

		if ((void *)(vh + 1) > data_end)
			return NP_PARSE_TRUNC;
		h_proto = vh->h_vlan_encapsulated_proto;
		nh.pos = vh + 1;
		l3_off += sizeof(*vh);
	}

	if (h_proto == bpf_htons(ETH_P_IP)) {
		rc = np_parse_ipv4(&nh, data_end, p);
	} else if (h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = nh.pos;

		if ((void *)(ip6h + 1) > data_end)
			return NP_PARSE_TRUNC;
		if ((*(__u8 *)ip6h >> 4) != 6)
			return NP_PARSE_BAD;
		__builtin_memcpy(&p->src, &ip6h->saddr, sizeof(p->src));
		__builtin_memcpy(&p->dst, &ip6h->daddr, sizeof(p->dst));
		/* An IPv4-mapped address on the wire is invalid (RFC 4291
		 * 2.5.5.2; Linux's ip6_rcv_core drops it too).  Dropping it
		 * here is what makes "mapped" mean "IPv4" in every map. */
		if (np_addr_v4(&p->src) || np_addr_v4(&p->dst))
			return NP_PARSE_BAD;
		p->proto = ip6h->nexthdr;
		nh.pos = ip6h + 1;
		if (np_ipv6_is_ext(p->proto))
			return np_parse_ipv6_ext(skb, l3_off + sizeof(*ip6h), p->proto, p, buf);
		rc = NP_PARSE_OK;
	} else {
		return NP_PARSE_PASS;
	}
	if (rc != NP_PARSE_OK)
		return rc;
	/* A later fragment has no L4 header: its ports come from np_frags. */
	if (p->frag == NP_FRAG_LATER)
		return NP_PARSE_OK;
	p->l4_off = (__u16)(nh.pos - (void *)(long)skb->data);
	rc = np_copy_l4(nh.pos, data_end, np_l4_need(p->proto), buf);
	if (rc != NP_PARSE_OK)
		return rc;
	return np_parse_l4(buf, p);
}

/* The 5-tuple of the packet an ICMP error quotes. */
struct np_inner {
	struct np_addr src;
	struct np_addr dst;
	__u16 sport; /* network order; ICMP echo: the identifier */
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
} __attribute__((aligned(8)));

/*
 * Parse the packet quoted by an ICMP (V6 = 0) or ICMPv6 error whose header
 * starts at OFF: the inner IP header (IPv4 options skipped, up to
 * NP_IPV6_MAX_EXT IPv6 extension headers walked) and its ports or echo
 * identifier.  0, or -1 when there is no usable 5-tuple (truncated, a later
 * fragment, another family, an unknown protocol).  Read with
 * bpf_skb_load_bytes() at scalar offsets, like the extension headers above;
 * not inlined: only ICMP errors come here.
 */
static __noinline int np_parse_icmp_inner(struct __sk_buff *skb, __u32 off, __u32 v6,
					  struct np_inner *in)
{
	__u8 h[40] __attribute__((aligned(8)));
	__u32 nexthdr;
	int i;

	off += 8; /* the ICMP header: type, code, checksum, 4 more bytes */
	if (!v6) {
		if (bpf_skb_load_bytes(skb, off, h, 20) < 0)
			return -1;
		if ((h[0] >> 4) != 4 || (h[0] & 0xf) < 5)
			return -1;
		if ((h[6] & 0x1f) || h[7]) /* a later fragment: no ports */
			return -1;
		np_addr_from_v4(&in->src, *(__be32 *)(h + 12));
		np_addr_from_v4(&in->dst, *(__be32 *)(h + 16));
		nexthdr = h[9];
		off += (h[0] & 0xf) * 4;
	} else {
		if (bpf_skb_load_bytes(skb, off, h, 40) < 0)
			return -1;
		if ((h[0] >> 4) != 6)
			return -1;
		__builtin_memcpy(&in->src, h + 8, sizeof(in->src));
		__builtin_memcpy(&in->dst, h + 24, sizeof(in->dst));
		if (np_addr_v4(&in->src) || np_addr_v4(&in->dst))
			return -1;
		nexthdr = h[6];
		off += 40;
		for (i = 0; i < NP_IPV6_MAX_EXT; i++) {
			__u32 len;

			if (!np_ipv6_is_ext(nexthdr))
				break;
			if (bpf_skb_load_bytes(skb, off, h, 8) < 0)
				return -1;
			if (nexthdr == NP_IPPROTO_FRAGMENT) {
				if (((((__u32)h[2] << 8) | h[3]) & 0xFFF8) != 0)
					return -1;
				len = 8;
			} else if (nexthdr == NP_IPPROTO_AH) {
				len = ((__u32)h[1] + 2) * 4;
			} else {
				len = ((__u32)h[1] + 1) * 8;
			}
			nexthdr = h[0];
			off += len;
		}
		if (np_ipv6_is_ext(nexthdr))
			return -1;
	}
	in->proto = (__u8)nexthdr;
	switch (nexthdr) {
	case NP_PROTO_TCP:
	case NP_PROTO_UDP:
	case NP_PROTO_SCTP:
		/* An error quotes at least 8 bytes of L4: the ports. */
		if (bpf_skb_load_bytes(skb, off, h, 4) < 0)
			return -1;
		in->sport = *(__u16 *)h;
		in->dport = *(__u16 *)(h + 2);
		return 0;
	case NP_PROTO_ICMP:
	case NP_PROTO_ICMPV6:
		if ((nexthdr == NP_PROTO_ICMPV6) != (v6 != 0))
			return -1;
		if (bpf_skb_load_bytes(skb, off, h, 8) < 0)
			return -1;
		if (v6 ? (h[0] != NP_ICMPV6_ECHO && h[0] != NP_ICMPV6_ECHOREPLY)
		       : (h[0] != NP_ICMP_ECHO && h[0] != NP_ICMP_ECHOREPLY))
			return -1;
		in->sport = *(__u16 *)(h + 4);
		in->dport = in->sport;
		return 0;
	default:
		return -1;
	}
}

#endif /* NP_PARSE_H */
