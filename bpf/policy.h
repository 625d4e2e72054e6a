/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy lookup for a new connection (include/netpol.h has the maps):
 *   node address            -> ALLOW (NODE)
 *   endpoints[local]        -> missing: UNKNOWN_POD; set id 0: NOT_ISOLATED
 *   peers {set, remote}     -> class id (0 or miss: no rule)
 *   ports {class, proto, port} -> cookie: ALLOW (POLICY)
 *   otherwise DENY (NO_RULE), or AUDIT when audit mode covers it.
 *
 * Included by netpol.bpf.c after the maps and cfg_* variables are defined.
 */
#ifndef NP_POLICY_H
#define NP_POLICY_H

struct np_res {
	__u32 cookie;
	__u32 ep_id;
	__u8 verdict; /* enum np_verdict */
	__u8 reason;  /* enum np_reason */
	__u8 pad[2];
};

/*
 * Judge a connection of the pod k->local with peer k->remote, opened in
 * direction dir towards destination port dport (network order).  Used for
 * new connections, for the reply pickup and for re-judging established
 * connections after a policy change, so all three agree by construction.
 * Not inlined: it is the slow path and is called from several places.
 */
static __noinline int np_judge_new(__u32 dir, const struct np_ct_key *k, __u32 dport,
				   struct np_res *r)
{
	struct np_peer_key pk;
	struct np_port_key qk;
	struct np_endpoint *ep;
	struct np_peer_val *pv;
	struct np_port_val *qv;
	__u32 set, audit_flag;
	__u16 port;

	r->cookie = NP_COOKIE_NONE;
	r->pad[0] = 0;
	r->pad[1] = 0;
	ep = bpf_map_lookup_elem(&np_endpoints, &k->local);
	r->ep_id = ep ? ep->ep_id : 0;

	/* The node itself (kubelet probes, host network) is always allowed. */
	if (bpf_map_lookup_elem(&np_node_addrs, &k->remote)) {
		r->verdict = NP_VERDICT_ALLOW;
		r->reason = NP_REASON_NODE;
		return 0;
	}
	if (!ep) {
		r->verdict = cfg_deny_unknown ? NP_VERDICT_DENY : NP_VERDICT_ALLOW;
		r->reason = NP_REASON_UNKNOWN_POD;
		return 0;
	}
	set = ep->set_id[dir & 1];
	if (!set) {
		r->verdict = NP_VERDICT_ALLOW;
		r->reason = NP_REASON_NOT_ISOLATED;
		return 0;
	}

	/* An IPv4-mapped remote is IPv4: np_parse drops IPv6 packets that
	 * carry such an address. */
	pk.prefixlen = NP_PEER_KEY_BITS;
	pk.set_id = set;
	pk.family = np_addr_v4(&k->remote) ? NP_FAMILY_IPV4 : NP_FAMILY_IPV6;
	__builtin_memcpy(pk.addr, &k->remote, sizeof(pk.addr));
	pk.pad[0] = 0;
	pk.pad[1] = 0;
	pk.pad[2] = 0;
	pv = bpf_map_lookup_elem(&np_peers, &pk);
	if (pv && pv->class_id) {
		/* ICMP has no ports: only rules without ports (prefixlen 32
		 * entries) can match it, via port 0 here. */
		port = (k->proto == NP_PROTO_ICMP || k->proto == NP_PROTO_ICMPV6) ? 0 : dport;
		qk.prefixlen = NP_PORT_KEY_BITS_FULL;
		qk.class_id = pv->class_id;
		qk.proto = k->proto;
		__builtin_memcpy(qk.port, &port, sizeof(qk.port));
		qk.pad = 0;
		qv = bpf_map_lookup_elem(&np_ports, &qk);
		if (qv) {
			r->verdict = NP_VERDICT_ALLOW;
			r->reason = NP_REASON_POLICY;
			r->cookie = qv->cookie;
			return 0;
		}
	}

	r->verdict = NP_VERDICT_DENY;
	r->reason = NP_REASON_NO_RULE;
	audit_flag = (dir & 1) == NP_DIR_EGRESS ? NP_EP_AUDIT_EGRESS : NP_EP_AUDIT_INGRESS;
	if (cfg_audit_all || (ep->flags & audit_flag))
		r->verdict = NP_VERDICT_AUDIT;
	return 0;
}

#endif /* NP_POLICY_H */
