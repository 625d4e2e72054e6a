// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * NetworkPolicy enforcement on the host side of each pod's interface
 * (clsact, direct action; see DEVELOPERS.md):
 *   np_pod_ingress  on the TC egress hook: packets going TO the pod
 *   np_pod_egress   on the TC ingress hook: packets coming FROM the pod
 * One program pair serves every pod; everything per pod is in maps.
 *
 * Only features of Linux 5.10 are used: bounded loops, static subprograms,
 * ring buffer, bpf_jiffies64.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "netpol.h"
#include "parse.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

/* Headers that do not fit in the linear part are pulled up to this many
 * bytes (Ethernet + IPv6 + extension headers + L4 ports). */
#define NP_PULL_MAX 512

/*
 * Load-time configuration, set by user/loader.c before load.  The defaults
 * below assume HZ=250; the loader always writes timeouts computed from the
 * running kernel's HZ.
 */
const volatile __u8 cfg_audit_all = 0;    /* denials pass with verdict AUDIT */
const volatile __u8 cfg_deny_unknown = 0; /* drop traffic of unknown pods/interfaces */
const volatile __u8 cfg_emit_events = 1;
const volatile __u8 cfg_flow_log = NP_FLOW_LOG_ALL;    /* enum np_flow_log */
const volatile __u32 cfg_report_jiffies = 60 * 250;   /* flow interval */
const volatile __u64 cfg_hz = 250;
const volatile __u32 cfg_deny_events_per_s = 500;     /* per CPU */
/* Wake the event reader once this much is waiting (see np_emit). */
const volatile __u64 cfg_events_wakeup_bytes = 64 * 1024;
const volatile __u64 cfg_to_tcp_syn = 60 * 250;      /* SYN seen, no reply yet */
const volatile __u64 cfg_to_tcp_est = 6 * 3600 * 250;
const volatile __u64 cfg_to_tcp_close = 10 * 250;    /* FIN both ways, or RST */
const volatile __u64 cfg_to_other = 60 * 250;        /* UDP, SCTP, others */
const volatile __u64 cfg_to_icmp = 30 * 250;
const volatile __u64 cfg_to_deny = 5 * 250;          /* np_ct_deny entries */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct np_addr);
	__type(value, struct np_endpoint);
} np_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct np_iface);
} np_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct np_addr);
	__type(value, __u32);
} np_node_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1048576);
	__type(key, struct np_peer_key);
	__type(value, struct np_peer_val);
} np_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1048576);
	__type(key, struct np_port_key);
	__type(value, struct np_port_val);
} np_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 524288);
	__type(key, struct np_ct_key);
	__type(value, struct np_ct_val);
} np_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct np_ct_key);
	__type(value, struct np_ct_val);
} np_ct_deny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct np_frag_key);
	__type(value, struct np_frag_val);
} np_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct np_state);
} np_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} np_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct np_ct_key);
	__type(value, struct np_ct_val);
} np_flow_deny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} np_flow_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct np_flow_budget);
} np_flow_budget SEC(".maps");

#include "policy.h"
#include "conntrack.h"
#include "related.h"

/* fe80::/10 or :: as source, fe80::/10 or ff00::/8 as destination. */
static __always_inline int np_link_scoped(const struct np_addr *src, const struct np_addr *dst)
{
	const __u64 *s = (const __u64 *)src;
	int src_ll = src->b[0] == 0xfe && (src->b[1] & 0xc0) == 0x80;
	int src_any = s[0] == 0 && s[1] == 0;
	int dst_ll = dst->b[0] == 0xfe && (dst->b[1] & 0xc0) == 0x80;
	int dst_mc = dst->b[0] == 0xff;

	return (src_ll || src_any) && (dst_ll || dst_mc);
}

/* Does the interface own this source address?  (n_addrs is 0..2.) */
static __always_inline int np_iface_owns(const struct np_iface *ifc, const struct np_addr *a)
{
	return (ifc->n_addrs > 0 && np_addr_eq(a, &ifc->addrs[0])) ||
	       (ifc->n_addrs > 1 && np_addr_eq(a, &ifc->addrs[1]));
}

/*
 * Fragments: a first fragment that passes records its ports under
 * {src, dst, id, proto}; later ones (no L4 header) take them from there, or
 * are dropped.  So a fragment is judged on the same 5-tuple as its first
 * fragment and can never slip past the policy.  Recording only first
 * fragments that passed (after anti-spoofing) keeps a pod from planting
 * ports for another pod's datagrams.
 */
static __always_inline void np_frag_key(const struct np_pkt *p, struct np_frag_key *fk)
{
	__builtin_memset(fk, 0, sizeof(*fk));
	__builtin_memcpy(&fk->src, &p->src, sizeof(fk->src));
	__builtin_memcpy(&fk->dst, &p->dst, sizeof(fk->dst));
	fk->id = p->frag_id;
	fk->proto = p->proto;
}

static __always_inline void np_frag_record(const struct np_pkt *p)
{
	struct np_frag_key fk;
	struct np_frag_val fv = { .sport = p->sport, .dport = p->dport };

	np_frag_key(p, &fk);
	bpf_map_update_elem(&np_frags, &fk, &fv, BPF_ANY);
}

/* Ports of a later fragment from its first fragment: 0, or -1 to drop. */
static __always_inline int np_frag_ports(struct np_pkt *p)
{
	struct np_frag_key fk;
	struct np_frag_val *hit;

	np_frag_key(p, &fk);
	hit = bpf_map_lookup_elem(&np_frags, &fk);
	if (!hit)
		return -1;
	p->sport = hit->sport;
	p->dport = hit->dport;
	return 0;
}

/* Conntrack key from the pod's point of view. */
static __always_inline void np_ct_key_fill(struct np_ctx *c, struct __sk_buff *skb)
{
	c->key.proto = c->p.proto;
	c->key.ifindex = skb->ifindex;
	if (c->dir == NP_DIR_EGRESS) {
		c->key.local = c->p.src;
		c->key.remote = c->p.dst;
		c->key.local_port = c->p.sport;
		c->key.remote_port = c->p.dport;
	} else {
		c->key.local = c->p.dst;
		c->key.remote = c->p.src;
		c->key.local_port = c->p.dport;
		c->key.remote_port = c->p.sport;
	}
}

static __always_inline int judge(struct __sk_buff *skb, const __u8 dir)
{
	struct np_ctx c;
	struct np_ct_val *ct;
	struct np_state *st;
	__u32 zero = 0;
	int rc;

	__builtin_memset(&c, 0, sizeof(c));
	c.dir = dir;
	rc = np_parse(skb, &c.p);
	if (rc == NP_PARSE_TRUNC) {
		/* Headers may sit partly in paged data: pull them into the
		 * linear part once and parse again.  Still short: malformed. */
		__u32 len = skb->len < NP_PULL_MAX ? skb->len : NP_PULL_MAX;

		rc = NP_PARSE_BAD;
		if (bpf_skb_pull_data(skb, len) == 0) {
			__builtin_memset(&c.p, 0, sizeof(c.p));
			rc = np_parse(skb, &c.p);
			if (rc == NP_PARSE_TRUNC)
				rc = NP_PARSE_BAD;
		}
	}
	if (rc == NP_PARSE_PASS)
		return TC_ACT_OK;
	if (rc != NP_PARSE_OK)
		return TC_ACT_SHOT; /* NP_REASON_MALFORMED; no event, addresses unknown */

	/* IPv6 link-scoped traffic (link-local or unspecified source, to a
	 * link-local or multicast destination) never leaves the pod's link:
	 * only the pod and its node can exchange it, so it is neither a
	 * NetworkPolicy matter nor spoofing. */
	if (np_link_scoped(&c.p.src, &c.p.dst))
		return TC_ACT_OK;

	c.now = bpf_jiffies64();
	if (c.p.icmp_err) {
		st = bpf_map_lookup_elem(&np_state, &zero);
		c.gen = st ? st->gen : 0;
		if (np_icmp_related(skb, &c) == 0)
			return TC_ACT_OK; /* NP_REASON_RELATED */
	}
	if (c.p.frag == NP_FRAG_LATER && np_frag_ports(&c.p) < 0) {
		struct np_res r = {
			.verdict = NP_VERDICT_DENY,
			.reason = NP_REASON_FRAGMENT,
		};

		np_ct_key_fill(&c, skb); /* ports unknown: 0 */
		np_deny_account(skb, &c, &r, c.dir);
		return TC_ACT_SHOT;
	}

	np_ct_key_fill(&c, skb);
	ct = bpf_map_lookup_elem(&np_ct, &c.key);
	st = bpf_map_lookup_elem(&np_state, &zero);
	c.gen = st ? st->gen : 0;
	if (ct) {
		rc = np_ct_hit(skb, &c, ct);
		if (rc != NP_CT_AGAIN)
			goto out;
	}

	if (np_deny_cached(skb, &c)) {
		rc = TC_ACT_SHOT;
		goto out;
	}

	/* A new connection (or one we forgot).  The interface is in the
	 * conntrack key, so a spoofed packet never finds another pod's
	 * entry and always ends up here. */
	if (dir == NP_DIR_EGRESS) {
		__u32 ifindex = skb->ifindex;
		struct np_iface *ifc = bpf_map_lookup_elem(&np_ifaces, &ifindex);

		if (!ifc) {
			rc = cfg_deny_unknown ? TC_ACT_SHOT : TC_ACT_OK; /* NP_REASON_UNKNOWN_POD */
			goto out;
		}
		if (!np_iface_owns(ifc, &c.p.src)) {
			struct np_res r = {
				.ep_id = ifc->ep_id,
				.verdict = NP_VERDICT_DENY,
				.reason = NP_REASON_SPOOFED,
			};

			np_deny_account(skb, &c, &r, c.dir);
			return TC_ACT_SHOT;
		}
	}

	rc = np_ct_miss(skb, &c);
out:
	if (rc == TC_ACT_OK && c.p.frag == NP_FRAG_FIRST)
		np_frag_record(&c.p);
	return rc;
}

SEC("tc")
int np_pod_ingress(struct __sk_buff *skb)
{
	return judge(skb, NP_DIR_INGRESS);
}

SEC("tc")
int np_pod_egress(struct __sk_buff *skb)
{
	return judge(skb, NP_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
