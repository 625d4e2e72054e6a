/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map layouts shared by the BPF datapath (bpf/) and userspace (user/).
 *
 * Every struct has fixed-width fields, explicit padding and a size check, so
 * that the kernel and userspace views can never drift apart silently.
 *
 * Addresses are always 16 bytes: IPv4 is stored IPv4-mapped (::ffff:a.b.c.d),
 * so one code path and one map serves both families, and an IPv4 CIDR a/n
 * is the 128-bit prefix ::ffff:a/(96+n), which can never match IPv6 traffic.
 *
 * How a new connection is judged (see bpf/policy.h):
 *   endpoints[local address]          -> set id for the direction (0: not isolated)
 *   peers LPM {set id, peer address}  -> class id (0: no rule covers that peer)
 *   ports LPM {class id, proto, port} -> rule cookie (the rule that allows it)
 * Set and class ids are chosen by userspace; classes are immutable once
 * written, so a packet that reads a class id always sees a complete class.
 */
#ifndef NETPOL_H
#define NETPOL_H

#ifdef __BPF__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

#define NP_ADDR_LEN 16

enum np_dir {
	NP_DIR_INGRESS = 0, /* traffic going to the pod */
	NP_DIR_EGRESS = 1,  /* traffic coming from the pod */
	NP_DIR_MAX = 2,
};

enum np_verdict {
	NP_VERDICT_ALLOW = 0,
	NP_VERDICT_DENY = 1,
	NP_VERDICT_AUDIT = 2, /* would be denied, passed because of audit mode */
};

/* Why a verdict was reached.  Stored in conntrack entries and flow events. */
enum np_reason {
	NP_REASON_NONE = 0,
	NP_REASON_POLICY = 1,       /* allowed by the rule named by the cookie */
	NP_REASON_NOT_ISOLATED = 2, /* no policy selects the pod in this direction */
	NP_REASON_NODE = 3,         /* peer is an address of this node (kubelet probes) */
	NP_REASON_NO_RULE = 4,      /* pod isolated and no rule matched */
	NP_REASON_SPOOFED = 5,      /* egress source is not the pod's address */
	NP_REASON_UNKNOWN_POD = 6,  /* no endpoint known for the local address */
	NP_REASON_FRAGMENT = 7,     /* non-first fragment without a known first fragment */
	NP_REASON_MALFORMED = 8,    /* truncated or invalid header */
	NP_REASON_REPLY = 9,        /* picked up mid-stream as the reply of a connection the other side may open */
	NP_REASON_REVOKED = 10,     /* a policy change revoked this connection; only a fresh connection replaces it */
	NP_REASON_RELATED = 11,     /* ICMP error about a connection that is allowed */
	NP_REASON_MAX,
};

/* Protocols we key on (IANA numbers). */
#define NP_PROTO_ICMP 1
#define NP_PROTO_TCP 6
#define NP_PROTO_UDP 17
#define NP_PROTO_ICMPV6 58
#define NP_PROTO_SCTP 132

/* endpoints: BPF_MAP_TYPE_HASH, key struct np_addr, value struct np_endpoint. */
struct np_addr {
	__u8 b[NP_ADDR_LEN];
};

#define NP_EP_AUDIT_INGRESS (1u << 0) /* every policy isolating ingress is in audit mode */
#define NP_EP_AUDIT_EGRESS (1u << 1)

struct np_endpoint {
	__u32 ep_id;              /* userspace id of the pod, for attribution */
	__u32 set_id[NP_DIR_MAX]; /* policy set per direction; 0 = not isolated */
	__u32 flags;              /* NP_EP_* */
};

/* ifaces: BPF_MAP_TYPE_HASH, key __u32 ifindex (host side of the pod),
 * value struct np_iface.  Used by the egress program for anti-spoofing. */
struct np_iface {
	__u32 ep_id;
	__u32 n_addrs;                /* 0..2: one address per family at most */
	struct np_addr addrs[2];
};

/* node_addrs: BPF_MAP_TYPE_HASH, key struct np_addr, value __u32 (unused, 1). */

/* Address families in keys. */
#define NP_FAMILY_IPV4 4
#define NP_FAMILY_IPV6 6

/* peers: BPF_MAP_TYPE_LPM_TRIE (BPF_F_NO_PREALLOC).
 * prefixlen counts the bits of set_id and family (always all 40) plus
 * address bits.  The family byte keeps the two families apart: an IPv6
 * block (even ::/0 or ::ffff:0:0/96) never matches an IPv4 peer and an IPv4
 * block never matches an IPv6 peer.  IPv4 prefixes are stored mapped, so
 * a.b.c.d/n has 40 + 96 + n bits. */
struct np_peer_key {
	__u32 prefixlen;
	__u32 set_id; /* big-endian is irrelevant: always fully matched */
	__u8 family;  /* NP_FAMILY_IPV4 or NP_FAMILY_IPV6 */
	__u8 addr[NP_ADDR_LEN];
	__u8 pad[3];  /* never matched: prefixlen <= NP_PEER_KEY_BITS */
};
#define NP_PEER_KEY_BITS_FIXED (32 + 8)
#define NP_PEER_KEY_BITS (NP_PEER_KEY_BITS_FIXED + 128)

struct np_peer_val {
	__u32 class_id; /* 0: no rule covers this prefix (except blocks) */
};

/* ports: BPF_MAP_TYPE_LPM_TRIE.  Bits: class id (32), proto (8), port (16,
 * network order).  prefixlen 32 = every protocol and port (a rule without
 * ports; the only kind that matches ICMP), 40 = every port of proto,
 * 40 + k = a port range aligned to 2^(16-k). */
struct np_port_key {
	__u32 prefixlen;
	__u32 class_id;
	__u8 proto;
	__u8 port[2]; /* network byte order */
	__u8 pad;     /* never matched: prefixlen <= 56 */
};
#define NP_PORT_KEY_BITS_CLASS 32
#define NP_PORT_KEY_BITS_PROTO 40
#define NP_PORT_KEY_BITS_FULL 56

struct np_port_val {
	__u32 cookie; /* rule id; userspace maps it to policy name and rule index */
};

/* ct (allowed connections) and ct_deny (recently denied 5-tuples):
 * BPF_MAP_TYPE_LRU_HASH.  The key is written from the point of view of the
 * pod whose interface the program runs on, so both directions of one
 * connection find the same entry with one lookup, and two local pods talking
 * to each other each have their own entry.  The interface is part of the
 * key: a pod spoofing another pod's address can never hit that pod's
 * entries, so the anti-spoofing check only has to run when a connection is
 * new, not on every packet. */
struct np_ct_key {
	struct np_addr local;  /* the pod's address */
	struct np_addr remote; /* the peer's address */
	__u16 local_port;      /* network order; ICMP echo: the identifier */
	__u16 remote_port;     /* network order; ICMP echo: the identifier */
	__u8 proto;
	__u8 pad[3];
	__u32 ifindex;         /* the pod's host-side interface */
};

#define NP_TCP_SYN_ORIG (1u << 0)  /* SYN seen from the originator */
#define NP_TCP_SEEN_REPLY (1u << 1) /* any packet seen in the reply direction */
#define NP_TCP_FIN_ORIG (1u << 2)
#define NP_TCP_FIN_REPLY (1u << 3)
#define NP_TCP_RST (1u << 4)

struct np_ct_val {
	__u64 last_seen; /* jiffies64 of the last packet */
	__u64 created;   /* jiffies64 of the first packet */
	__u32 gen;       /* policy generation the verdict was computed under */
	__u32 cookie;    /* rule that allowed it (NP_REASON_POLICY), else 0 */
	__u8 origin;     /* enum np_dir of the first packet: who opened it */
	__u8 verdict;    /* enum np_verdict */
	__u8 reason;     /* enum np_reason */
	__u8 state;      /* NP_TCP_* bits (also NP_TCP_SEEN_REPLY for UDP etc.) */
	__u32 ep_id;     /* endpoint at the time of the verdict */
	/* Flow accounting: kept only while the flow is logged (NP_FLOW_LOGGED),
	 * cumulative since the entry was created.  [0] counts packets in the
	 * origin direction, [1] the replies.  Plain adds: two CPUs updating one
	 * connection at the same instant may lose a count, never a packet. */
	__u64 bytes[2];
	__u32 packets[2];
	__u32 last_report; /* low 32 bits of jiffies64 of the last event */
	__u8 tcp_flags;    /* NP_FLOW_TCP_* seen so far */
	__u8 flow;         /* NP_FLOW_* */
	__u16 eph_port;    /* np_flow_deny: the client's port while only one was seen (network order) */
};

/* np_ct_val.flow */
#define NP_FLOW_LOGGED (1u << 0)     /* events are emitted for this flow */
#define NP_FLOW_MULTI_PORT (1u << 1) /* np_flow_deny: several client ports seen */
#define NP_FLOW_ENDED (1u << 2)      /* the end event was sent */

/* np_ct_val.tcp_flags and np_flow_event.tcp_flags: VPC Flow Logs' bits
 * (FIN 1, SYN 2, RST 4; SYN-ACK shows as SYN|ACK = 18). */
#define NP_FLOW_TCP_FIN 0x01
#define NP_FLOW_TCP_SYN 0x02
#define NP_FLOW_TCP_RST 0x04
#define NP_FLOW_TCP_ACK 0x10 /* only together with SYN: a SYN-ACK was seen */

/* Load-time flow logging level (cfg_flow_log).  Audit verdicts are logged
 * at every level. */
enum np_flow_log {
	NP_FLOW_LOG_NONE = 0,
	NP_FLOW_LOG_REJECTED = 1,
	NP_FLOW_LOG_ALL = 2,
};

/* flow_stats: BPF_MAP_TYPE_PERCPU_ARRAY of __u64, one slot per counter. */
enum np_flow_stat {
	NP_STAT_EVENTS_LOST = 0,       /* ring buffer full: event not written */
	NP_STAT_EVENTS_SUPPRESSED = 1, /* over the denial event budget */
	NP_STAT_MAX = 4,
};

/* flow_budget: BPF_MAP_TYPE_PERCPU_ARRAY, one element: the denial events
 * this CPU sent in the current one-second window. */
struct np_flow_budget {
	__u64 window_start; /* jiffies64 */
	__u32 sent;
	__u32 pad;
};

/* frags: BPF_MAP_TYPE_LRU_HASH: ports of a first fragment, so later
 * fragments (which carry no L4 header) get the same 5-tuple. */
struct np_frag_key {
	struct np_addr src;
	struct np_addr dst;
	__u32 id; /* IPv4: 16-bit id; IPv6: 32-bit id */
	__u8 proto;
	__u8 pad[3];
};

struct np_frag_val {
	__u16 sport; /* network order */
	__u16 dport; /* network order */
	__u32 pad;
};

/* state: BPF_MAP_TYPE_ARRAY, one element. */
struct np_state {
	__u32 gen; /* bumped by userspace after every committed policy update */
	__u32 pad;
};

/* events: BPF_MAP_TYPE_RINGBUF of struct np_flow_event. */
enum np_event_kind {
	NP_EV_NEW = 1,    /* first packet of a connection (allowed or audited) */
	NP_EV_DENY = 2,   /* denied traffic: first packet of an aggregate, then once per interval */
	NP_EV_CUT = 3,    /* an established connection cut after a policy change */
	NP_EV_UPDATE = 4, /* counters of a logged connection, once per interval while it is active */
	NP_EV_END = 5,    /* a logged connection ended (np_flow_event.end says how) */
};

enum np_flow_end {
	NP_END_NONE = 0,
	NP_END_FIN = 1,     /* FIN both ways */
	NP_END_RST = 2,
	NP_END_TIMEOUT = 3, /* idle past its timeout, noticed by a later packet */
};

/* One event per flow and kind, never one per packet.  The key is the
 * conntrack key (the pod's point of view); origin says who opened the flow,
 * so the originator is key.local for NP_DIR_EGRESS and key.remote for
 * NP_DIR_INGRESS.  Counters are cumulative since the flow started: a lost
 * event loses no count, the next one carries it.  Denial aggregates
 * (NP_EV_DENY) have the client's port zeroed in the key and carry it in
 * eph_port while only one was seen. */
struct np_flow_event {
	__u64 ts_ns;       /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 bytes[2];    /* [0] origin direction, [1] replies */
	struct np_ct_key key;
	__u32 packets[2];
	__u32 cookie;      /* allowing rule (ACCEPT), or the rule a cut flow had */
	__u32 ep_id;
	__u8 kind;         /* enum np_event_kind */
	__u8 origin;       /* enum np_dir: who opened the flow */
	__u8 dir;          /* enum np_dir of the program that saw the packet */
	__u8 verdict;      /* enum np_verdict */
	__u8 reason;       /* enum np_reason */
	__u8 tcp_flags;    /* NP_FLOW_TCP_* seen so far */
	__u8 end;          /* enum np_flow_end (NP_EV_END) */
	__u8 flow;         /* NP_FLOW_* */
	__u16 eph_port;    /* network order; 0 when several */
	__u16 pad;
};

#define NP_STATIC_ASSERT(c, m) _Static_assert(c, m)
NP_STATIC_ASSERT(sizeof(struct np_addr) == 16, "np_addr");
NP_STATIC_ASSERT(sizeof(struct np_endpoint) == 16, "np_endpoint");
NP_STATIC_ASSERT(sizeof(struct np_iface) == 40, "np_iface");
NP_STATIC_ASSERT(sizeof(struct np_peer_key) == 28, "np_peer_key");
NP_STATIC_ASSERT(sizeof(struct np_port_key) == 12, "np_port_key");
NP_STATIC_ASSERT(sizeof(struct np_ct_key) == 44, "np_ct_key");
NP_STATIC_ASSERT(sizeof(struct np_ct_val) == 64, "np_ct_val");
NP_STATIC_ASSERT(sizeof(struct np_flow_budget) == 16, "np_flow_budget");
NP_STATIC_ASSERT(sizeof(struct np_frag_key) == 40, "np_frag_key");
NP_STATIC_ASSERT(sizeof(struct np_frag_val) == 8, "np_frag_val");
NP_STATIC_ASSERT(sizeof(struct np_state) == 8, "np_state");
NP_STATIC_ASSERT(sizeof(struct np_flow_event) == 96, "np_flow_event");

/* Rule cookies: 0 is never a rule. */
#define NP_COOKIE_NONE 0u

#endif /* NETPOL_H */
