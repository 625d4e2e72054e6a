/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP errors related to a connection: fragmentation needed / packet too
 * big (path MTU discovery), destination and port unreachable, time
 * exceeded, parameter problem.  They come from routers as often as from the
 * peer, so judging them as new ICMP traffic from their sender would drop
 * them for every isolated pod, and path MTU discovery would break (large
 * answers stall, small ones work).  An error passes when the packet it
 * quotes belongs to a connection of this pod that is allowed now; any other
 * error is judged like any ICMP packet.
 *
 * Included by netpol.bpf.c after conntrack.h.
 */
#ifndef NP_RELATED_H
#define NP_RELATED_H

/* 0: C's packet is an ICMP error about an allowed connection of this pod,
 * pass it; -1: judge it as usual.  Changes no state. */
static __noinline int np_icmp_related(struct __sk_buff *skb, const struct np_ctx *c)
{
	struct np_inner in;
	struct np_ct_key k;
	struct np_ct_val *ct;
	struct np_res r;

	__builtin_memset(&in, 0, sizeof(in));
	__builtin_memset(&k, 0, sizeof(k));
	if (np_parse_icmp_inner(skb, c->p.l4_off, c->p.proto == NP_PROTO_ICMPV6, &in) < 0)
		return -1;
	k.proto = in.proto;
	k.ifindex = skb->ifindex;
	if (c->dir == NP_DIR_INGRESS) {
		/* Going to the pod: about a packet the pod sent. */
		__builtin_memcpy(&k.local, &in.src, sizeof(k.local));
		__builtin_memcpy(&k.remote, &in.dst, sizeof(k.remote));
		k.local_port = in.sport;
		k.remote_port = in.dport;
		if (!np_addr_eq(&k.local, &c->p.dst))
			return -1;
	} else {
		/* From the pod: about a packet the pod received. */
		__builtin_memcpy(&k.local, &in.dst, sizeof(k.local));
		__builtin_memcpy(&k.remote, &in.src, sizeof(k.remote));
		k.local_port = in.dport;
		k.remote_port = in.sport;
		if (!np_addr_eq(&k.local, &c->p.src))
			return -1;
	}
	ct = bpf_map_lookup_elem(&np_ct, &k);
	if (!ct || ct->verdict == NP_VERDICT_DENY) /* unknown, or revoked */
		return -1;
	if (c->now - ct->last_seen > np_ct_timeout(k.proto, ct->state))
		return -1;
	if (ct->gen != c->gen) {
		/* The policy changed and no packet of the connection has been
		 * judged since: judge it here, without touching the entry. */
		np_rejudge(&k, ct->origin, &r);
		if (r.verdict == NP_VERDICT_DENY)
			return -1;
	}
	return 0;
}

#endif /* NP_RELATED_H */
