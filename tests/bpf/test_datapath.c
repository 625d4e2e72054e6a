// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The real TC programs (bpf/netpol.bpf.c) under bpf_prog_test_run_opts,
 * with maps filled by hand from include/netpol.h.  Each test checks the
 * program's return code and what it recorded in np_ct / np_ct_deny.
 *
 * Under test_run the skb's device is loopback, so the egress program looks
 * up np_ifaces[1]: pod A's interface.
 *
 * The policy used throughout:
 *   pod A 10.0.0.1 / fd00::1  ep 7, ingress set 1, egress set 2, on ifindex 1
 *   pod B 10.0.0.2            ep 8, not isolated
 *   pod C 10.0.0.3            ep 9, ingress set 1 in audit mode
 *   node  10.0.0.254 / fd00::fe
 *   set 1: 10.1.0.0/16 except 10.1.5.0/24 and fd01::/64 -> class 10,
 *          10.3.0.0/16 and fd03::/64 -> class 30
 *   set 2: 10.2.0.0/16 and fd02::/64 -> class 20, 10.3.0.0/16, fd03::/64 -> class 30
 *   class 10: TCP 80 (cookie 100), UDP 53 (101), TCP 8000-8003 (102)
 *   class 20: TCP 443 (200), UDP 53 (201), SCTP 9999 (202)
 *   class 30: everything, no ports (300)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "loader.h"
#include "log.h"
#include "netpol.h"
#include "pkt.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04

#define V4(x1, x2, x3, x4) { .b = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, x1, x2, x3, x4 } }
/* pfx::x */
#define V6(pfx, x) { .b = { (pfx) >> 8, (pfx) & 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (x) >> 8, (x) & 0xff } }
#define LL6(x) { .b = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x } }

#define POD_A4 V4(10, 0, 0, 1)
#define POD_A6 V6(0xfd00, 1)
#define POD_B4 V4(10, 0, 0, 2)
#define POD_C4 V4(10, 0, 0, 3)
#define UNKNOWN4 V4(10, 0, 0, 99)
#define NODE4 V4(10, 0, 0, 254)
#define NODE6 V6(0xfd00, 0xfe)
#define PEER_IN4 V4(10, 1, 2, 3)   /* class 10 for A's ingress */
#define PEER_EXC4 V4(10, 1, 5, 7)  /* in the except block */
#define PEER_EG4 V4(10, 2, 0, 9)   /* class 20 for A's egress */
#define PEER_ANY4 V4(10, 3, 0, 5)  /* class 30 both ways */
#define STRANGER4 V4(10, 9, 9, 9)  /* no class */
#define PEER_IN6 V6(0xfd01, 5)
#define PEER_EG6 V6(0xfd02, 9)
#define PEER_ANY6 V6(0xfd03, 5)

#define EP_A 7
#define EP_B 8
#define EP_C 9

#define IN NP_DIR_INGRESS
#define EG NP_DIR_EGRESS

struct env {
	struct np_datapath dp;
	struct ring_buffer *rb;
	struct np_flow_event ev[64];
	int n_ev;
};

/* ---- helpers ------------------------------------------------------------ */

static const struct np_addr a_pod_a4 = POD_A4, a_pod_a6 = POD_A6, a_pod_b4 = POD_B4,
			    a_pod_c4 = POD_C4, a_node4 = NODE4, a_node6 = NODE6;

static struct np_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct np_addr x = V4(a, b, c, d);

	return x;
}

static struct np_addr v6(uint16_t pfx)
{
	struct np_addr x = V6(pfx, 0);

	return x;
}

static void put_endpoint(struct env *e, const struct np_addr *a, uint32_t ep_id,
			 uint32_t set_in, uint32_t set_eg, uint32_t flags)
{
	struct np_endpoint v = { .ep_id = ep_id, .set_id = { set_in, set_eg }, .flags = flags };

	assert_int_equal(bpf_map_update_elem(e->dp.map_endpoints, a, &v, BPF_ANY), 0);
}

/* addr_bits: prefix length in the 128-bit space (IPv4 /n is 96 + n);
 * family: NP_FAMILY_IPV4 or NP_FAMILY_IPV6, explicit as in the compiler. */
static void put_peer_family(struct env *e, uint32_t set, uint8_t family, struct np_addr a,
			    uint32_t addr_bits, uint32_t class_id)
{
	struct np_peer_key k = { .prefixlen = NP_PEER_KEY_BITS_FIXED + addr_bits,
				 .set_id = set,
				 .family = family };
	struct np_peer_val v = { .class_id = class_id };

	memcpy(k.addr, a.b, sizeof(k.addr));
	assert_int_equal(bpf_map_update_elem(e->dp.map_peers, &k, &v, BPF_ANY), 0);
}

/* The family of a prefix in the mapped range is IPv4, else IPv6. */
static void put_peer(struct env *e, uint32_t set, struct np_addr a, uint32_t addr_bits,
		     uint32_t class_id)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint8_t family = addr_bits >= 96 && memcmp(a.b, mapped, 12) == 0 ? NP_FAMILY_IPV4
									 : NP_FAMILY_IPV6;

	put_peer_family(e, set, family, a, addr_bits, class_id);
}

static struct np_port_key port_key(uint32_t class_id, uint8_t proto, uint16_t port,
				   uint32_t prefixlen)
{
	struct np_port_key k = { .prefixlen = prefixlen, .class_id = class_id, .proto = proto };

	k.port[0] = port >> 8;
	k.port[1] = port & 0xff;
	return k;
}

static void put_port(struct env *e, uint32_t class_id, uint8_t proto, uint16_t port,
		     uint32_t prefixlen, uint32_t cookie)
{
	struct np_port_key k = port_key(class_id, proto, port, prefixlen);
	struct np_port_val v = { .cookie = cookie };

	assert_int_equal(bpf_map_update_elem(e->dp.map_ports, &k, &v, BPF_ANY), 0);
}

static void put_iface(struct env *e)
{
	struct np_iface ifc = { .ep_id = EP_A, .n_addrs = 2 };
	uint32_t ifindex = 1;

	ifc.addrs[0] = a_pod_a4;
	ifc.addrs[1] = a_pod_a6;
	assert_int_equal(bpf_map_update_elem(e->dp.map_ifaces, &ifindex, &ifc, BPF_ANY), 0);
}

static void put_policy(struct env *e)
{
	uint32_t one = 1;

	put_endpoint(e, &a_pod_a4, EP_A, 1, 2, 0);
	put_endpoint(e, &a_pod_a6, EP_A, 1, 2, 0);
	put_endpoint(e, &a_pod_b4, EP_B, 0, 0, 0);
	put_endpoint(e, &a_pod_c4, EP_C, 1, 0, NP_EP_AUDIT_INGRESS);
	put_iface(e);
	assert_int_equal(bpf_map_update_elem(e->dp.map_node_addrs, &a_node4, &one, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(e->dp.map_node_addrs, &a_node6, &one, BPF_ANY), 0);

	put_peer(e, 1, v4(10, 1, 0, 0), 96 + 16, 10);
	put_peer(e, 1, v4(10, 1, 5, 0), 96 + 24, 0);
	put_peer(e, 1, v6(0xfd01), 64, 10);
	put_peer(e, 1, v4(10, 3, 0, 0), 96 + 16, 30);
	put_peer(e, 1, v6(0xfd03), 64, 30);
	/* An IPv6 block with the bits of IPv4 10.4.0.0/16 (::ffff:10.4.0.0/112):
	 * it must never match IPv4 10.4.x.x. */
	put_peer_family(e, 1, NP_FAMILY_IPV6, v4(10, 4, 0, 0), 96 + 16, 10);
	put_peer(e, 2, v4(10, 2, 0, 0), 96 + 16, 20);
	put_peer(e, 2, v6(0xfd02), 64, 20);
	put_peer(e, 2, v4(10, 3, 0, 0), 96 + 16, 30);
	put_peer(e, 2, v6(0xfd03), 64, 30);

	put_port(e, 10, NP_PROTO_TCP, 80, NP_PORT_KEY_BITS_FULL, 100);
	put_port(e, 10, NP_PROTO_UDP, 53, NP_PORT_KEY_BITS_FULL, 101);
	put_port(e, 10, NP_PROTO_TCP, 8000, NP_PORT_KEY_BITS_PROTO + 14, 102);
	put_port(e, 20, NP_PROTO_TCP, 443, NP_PORT_KEY_BITS_FULL, 200);
	put_port(e, 20, NP_PROTO_UDP, 53, NP_PORT_KEY_BITS_FULL, 201);
	put_port(e, 20, NP_PROTO_SCTP, 9999, NP_PORT_KEY_BITS_FULL, 202);
	put_port(e, 30, 0, 0, NP_PORT_KEY_BITS_CLASS, 300);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct env *e = ctx;

	assert_int_equal(size, sizeof(struct np_flow_event));
	/* Count every event; keep the first ones. */
	if (e->n_ev < (int)(sizeof(e->ev) / sizeof(e->ev[0])))
		memcpy(&e->ev[e->n_ev], data, sizeof(struct np_flow_event));
	e->n_ev++;
	return 0;
}

/* Collect the events emitted so far into e->ev (replacing what was there). */
static int drain_events(struct env *e)
{
	e->n_ev = 0;
	assert_true(ring_buffer__consume(e->rb) >= 0);
	return e->n_ev;
}

static int env_open_with(void **state, bool audit_all, bool deny_unknown, unsigned int flow_log,
			 uint32_t ringbuf_bytes)
{
	struct env *e = calloc(1, sizeof(*e));
	struct np_load_opts o;

	if (!e)
		return -1;
	np_load_opts_default(&o);
	o.audit_all = audit_all;
	o.deny_unknown = deny_unknown;
	o.flow_log = flow_log;
	o.max_endpoints = o.max_ifaces = o.max_node_addrs = 256;
	o.max_peers = o.max_ports = 1024;
	o.max_ct = o.max_ct_deny = o.max_frags = o.max_flow_deny = 4096;
	o.ringbuf_bytes = ringbuf_bytes;
	if (np_datapath_load(&e->dp, &o)) {
		free(e);
		return -1;
	}
	e->rb = ring_buffer__new(e->dp.map_events, on_event, e, NULL);
	if (!e->rb) {
		np_datapath_close(&e->dp);
		free(e);
		return -1;
	}
	*state = e;
	put_policy(e);
	return 0;
}

static int env_open(void **state, bool audit_all, bool deny_unknown)
{
	return env_open_with(state, audit_all, deny_unknown, NP_FLOW_LOG_ALL, 256 * 1024);
}

static int setup_default(void **state) { return env_open(state, false, false); }
static int setup_log_rejected(void **state)
{
	return env_open_with(state, false, false, NP_FLOW_LOG_REJECTED, 256 * 1024);
}
static int setup_log_none(void **state)
{
	return env_open_with(state, false, false, NP_FLOW_LOG_NONE, 256 * 1024);
}
/* One page: about 39 events. */
static int setup_tiny_ringbuf(void **state)
{
	return env_open_with(state, false, false, NP_FLOW_LOG_ALL, 4096);
}
static int setup_audit_all(void **state) { return env_open(state, true, false); }
static int setup_deny_unknown(void **state) { return env_open(state, false, true); }

static int teardown(void **state)
{
	struct env *e = *state;

	ring_buffer__free(e->rb);
	np_datapath_close(&e->dp);
	free(e);
	return 0;
}

static int build(const struct np_pkt_spec *s, uint8_t *buf, size_t cap)
{
	int len = np_pkt_build(s, buf, cap);

	assert_true(len > 0);
	return len;
}

static uint32_t run_raw(struct env *e, int dir, const uint8_t *pkt, int len)
{
	uint32_t ret = 0xdead;

	assert_int_equal(np_prog_run(dir == EG ? e->dp.prog_egress : e->dp.prog_ingress, pkt,
				     (size_t)len, &ret, 1, NULL),
			 0);
	return ret;
}

static uint32_t run(struct env *e, int dir, const struct np_pkt_spec *s)
{
	uint8_t buf[2048];
	int len = build(s, buf, sizeof(buf));

	return run_raw(e, dir, buf, len);
}

static int has_ports(uint8_t proto)
{
	return proto == NP_PROTO_TCP || proto == NP_PROTO_UDP || proto == NP_PROTO_SCTP;
}

/* The conntrack key the programs use for this packet seen in dir. */
static struct np_ct_key key_of(const struct np_pkt_spec *s, int dir)
{
	struct np_ct_key k;
	uint16_t sp = 0, dp = 0;

	memset(&k, 0, sizeof(k));
	if (has_ports(s->proto)) {
		sp = htons(s->sport);
		dp = htons(s->dport);
	} else if ((s->proto == NP_PROTO_ICMP && (s->icmp_type == 8 || s->icmp_type == 0)) ||
		   (s->proto == NP_PROTO_ICMPV6 && (s->icmp_type == 128 || s->icmp_type == 129))) {
		sp = dp = htons(s->sport);
	}
	if (dir == EG) {
		k.local = s->src;
		k.remote = s->dst;
		k.local_port = sp;
		k.remote_port = dp;
	} else {
		k.local = s->dst;
		k.remote = s->src;
		k.local_port = dp;
		k.remote_port = sp;
	}
	k.ifindex = 1; /* loopback: the device of bpf_prog_test_run */
	k.proto = s->proto;
	return k;
}

static int ct_get(int map_fd, const struct np_pkt_spec *s, int dir, struct np_ct_val *v)
{
	struct np_ct_key k = key_of(s, dir);

	return bpf_map_lookup_elem(map_fd, &k, v) == 0 ? 0 : -errno;
}

static void ct_put(int map_fd, const struct np_pkt_spec *s, int dir, const struct np_ct_val *v)
{
	struct np_ct_key k = key_of(s, dir);

	assert_int_equal(bpf_map_update_elem(map_fd, &k, v, BPF_ANY), 0);
}

static int map_count(int fd, size_t key_size)
{
	uint8_t key[64], next[64];
	void *prev = NULL;
	int n = 0;

	assert_true(key_size <= sizeof(key));
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		n++;
		memcpy(key, next, key_size);
		prev = key;
	}
	return n;
}

static void map_clear(int fd, size_t key_size)
{
	uint8_t key[64];

	assert_true(key_size <= sizeof(key));
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
}

static void clear_state(struct env *e)
{
	map_clear(e->dp.map_ct, sizeof(struct np_ct_key));
	map_clear(e->dp.map_ct_deny, sizeof(struct np_ct_key));
	map_clear(e->dp.map_frags, sizeof(struct np_frag_key));
	drain_events(e);
}

static void assert_ct(struct env *e, const struct np_pkt_spec *s, int dir, uint8_t verdict,
		      uint8_t reason, uint8_t origin, uint32_t cookie)
{
	struct np_ct_val v;
	uint32_t gen;

	assert_int_equal(ct_get(e->dp.map_ct, s, dir, &v), 0);
	assert_int_equal(v.verdict, verdict);
	assert_int_equal(v.reason, reason);
	assert_int_equal(v.origin, origin);
	assert_int_equal(v.cookie, cookie);
	assert_int_equal(np_datapath_gen(&e->dp, &gen), 0);
	assert_int_equal(v.gen, gen);
}

static void assert_denied(struct env *e, const struct np_pkt_spec *s, int dir, uint8_t reason)
{
	struct np_ct_val v;

	assert_int_equal(ct_get(e->dp.map_ct, s, dir, &v), -ENOENT);
	assert_int_equal(ct_get(e->dp.map_ct_deny, s, dir, &v), 0);
	assert_int_equal(v.verdict, NP_VERDICT_DENY);
	assert_int_equal(v.reason, reason);
	assert_int_equal(v.origin, dir);
}

static void assert_no_state(struct env *e)
{
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), 0);
	assert_int_equal(map_count(e->dp.map_ct_deny, sizeof(struct np_ct_key)), 0);
}

/* ---- the fixture table: one packet, one verdict -------------------------- */

enum where { NOWHERE, IN_CT, IN_DENY };

struct dp_case {
	const char *name;
	int dir; /* which program: IN (np_pod_ingress) or EG (np_pod_egress) */
	struct np_pkt_spec pkt;
	uint32_t ret;
	enum where where;
	uint8_t verdict, reason;
	uint32_t cookie;
	uint32_t ep_id;
};

#define TCP4(s, sp, d, dp, fl) .src = s, .dst = d, .proto = NP_PROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = fl

/* Pod B's interface sends packets with pod A's source address and A's
 * established 5-tuple: the conntrack key includes the interface, so they
 * miss A's entry and are dropped as spoofed; A's own packets still pass. */
static void test_spoof_cannot_use_other_pods_entries(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(POD_A4, 40000, PEER_EG4, 443, SYN) };
	struct np_pkt_spec ack = { TCP4(POD_A4, 40000, PEER_EG4, 443, ACK) };
	struct np_iface ifc_b = { .ep_id = EP_B, .n_addrs = 1 };
	uint8_t buf[256];
	uint32_t ret = 0xdead, ifindex_b;
	int len;

	/* A private network namespace holds the second "pod interface". */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(system("ip link add npt-b type veth peer name npt-b-peer"), 0);
	ifindex_b = if_nametoindex("npt-b");
	assert_true(ifindex_b > 1);
	ifc_b.addrs[0] = a_pod_b4;
	assert_int_equal(bpf_map_update_elem(e->dp.map_ifaces, &ifindex_b, &ifc_b, BPF_ANY), 0);

	assert_int_equal(run(e, EG, &syn), TC_ACT_OK);
	len = build(&ack, buf, sizeof(buf));
	assert_int_equal(np_prog_run_on(e->dp.prog_egress, buf, (size_t)len, ifindex_b, &ret), 0);
	assert_int_equal(ret, TC_ACT_SHOT);
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), 1);
	assert_int_equal(run(e, EG, &ack), TC_ACT_OK);
}

static const struct dp_case cases[] = {
	{ "v4 tcp allowed by rule", IN, { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 100, EP_A },
	{ "v4 tcp allowed by port range", IN, { TCP4(PEER_IN4, 40000, POD_A4, 8002, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 102, EP_A },
	{ "v4 tcp just outside the port range", IN, { TCP4(PEER_IN4, 40000, POD_A4, 8004, SYN) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "v4 tcp port not allowed", IN, { TCP4(PEER_IN4, 40000, POD_A4, 81, SYN) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "v4 tcp source not allowed", IN, { TCP4(STRANGER4, 40000, POD_A4, 80, SYN) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "v4 tcp source in an except block", IN, { TCP4(PEER_EXC4, 40000, POD_A4, 80, SYN) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "not isolated pod", IN, { TCP4(STRANGER4, 40000, POD_B4, 81, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_NOT_ISOLATED, 0, EP_B },
	{ "node to pod", IN, { TCP4(NODE4, 33000, POD_A4, 8080, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_NODE, 0, EP_A },
	{ "pod to node", EG, { TCP4(POD_A4, 40001, NODE4, 10250, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_NODE, 0, EP_A },
	{ "v6 node to pod", IN, { TCP4(NODE6, 33000, POD_A6, 8080, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_NODE, 0, EP_A },
	{ "egress allowed by rule", EG, { TCP4(POD_A4, 40002, PEER_EG4, 443, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 200, EP_A },
	{ "egress port not allowed", EG, { TCP4(POD_A4, 40002, PEER_EG4, 80, SYN) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "egress peer not allowed", EG, { TCP4(POD_A4, 40002, PEER_IN4, 443, SYN) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "v4 with 8 bytes of options, allowed port", IN,
	  { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN), .ip_opts_len = 8 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 100, EP_A },
	{ "v4 with 40 bytes of options, allowed port", IN,
	  { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN), .ip_opts_len = 40 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 100, EP_A },
	{ "v4 with 40 bytes of options, denied port", IN,
	  { TCP4(PEER_IN4, 40000, POD_A4, 81, SYN), .ip_opts_len = 40 },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "v6 tcp allowed", IN, { TCP4(PEER_IN6, 40000, POD_A6, 80, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 100, EP_A },
	{ "v6 with 1 extension header", IN, { TCP4(PEER_IN6, 40000, POD_A6, 80, SYN), .n_v6_ext = 1 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 100, EP_A },
	{ "v6 with 2 extension headers", IN, { TCP4(PEER_IN6, 40000, POD_A6, 80, SYN), .n_v6_ext = 2 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 100, EP_A },
	{ "v6 with 3 extension headers", IN, { TCP4(PEER_IN6, 40000, POD_A6, 80, SYN), .n_v6_ext = 3 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 100, EP_A },
	{ "v6 with 3 extension headers, denied port", IN,
	  { TCP4(PEER_IN6, 40000, POD_A6, 81, SYN), .n_v6_ext = 3 },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "v6 egress with 2 extension headers", EG,
	  { TCP4(POD_A6, 40000, PEER_EG6, 443, SYN), .n_v6_ext = 2 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 200, EP_A },
	{ "v6 neighbour solicitation to the pod passes", IN,
	  { .src = LL6(1), .dst = POD_A6, .proto = NP_PROTO_ICMPV6, .icmp_type = 135 },
	  TC_ACT_OK, NOWHERE, 0, 0, 0, 0 },
	{ "v6 neighbour advertisement from link-local passes", EG,
	  { .src = LL6(2), .dst = LL6(1), .proto = NP_PROTO_ICMPV6, .icmp_type = 136 },
	  TC_ACT_OK, NOWHERE, 0, 0, 0, 0 },
	{ "v6 router solicitation passes", EG,
	  { .src = LL6(2), .dst = LL6(1), .proto = NP_PROTO_ICMPV6, .icmp_type = 133, .n_v6_ext = 1 },
	  TC_ACT_OK, NOWHERE, 0, 0, 0, 0 },
	{ "v6 MLDv2 report from :: passes", EG,
	  { .src = { .b = { 0 } }, .dst = { .b = { 0xff, 0x02, [15] = 0x16 } },
	    .proto = NP_PROTO_ICMPV6, .icmp_type = 143, .n_v6_ext = 1 },
	  TC_ACT_OK, NOWHERE, 0, 0, 0, 0 },
	{ "v6 link-local to link-local udp passes both ways", EG,
	  { .src = LL6(2), .dst = LL6(1), .proto = NP_PROTO_UDP, .sport = 546, .dport = 547 },
	  TC_ACT_OK, NOWHERE, 0, 0, 0, 0 },
	{ "v6 link-local to link-local udp passes to the pod", IN,
	  { .src = LL6(1), .dst = LL6(2), .proto = NP_PROTO_UDP, .sport = 547, .dport = 546 },
	  TC_ACT_OK, NOWHERE, 0, 0, 0, 0 },
	{ "v6 link-local source to a routed address is spoofing", EG,
	  { .src = LL6(2), .dst = PEER_EG6, .proto = NP_PROTO_TCP, .sport = 40000, .dport = 443, .tcp_flags = SYN },
	  TC_ACT_SHOT, NOWHERE, 0, 0, 0, 0 },
	{ "udp ingress allowed", IN,
	  { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_UDP, .sport = 5353, .dport = 53 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 101, EP_A },
	{ "udp to a TCP-only port denied", IN,
	  { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_UDP, .sport = 5353, .dport = 80 },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "udp egress allowed", EG,
	  { .src = POD_A4, .dst = PEER_EG4, .proto = NP_PROTO_UDP, .sport = 5353, .dport = 53 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 201, EP_A },
	{ "sctp not matched by a TCP rule", IN,
	  { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_SCTP, .sport = 40000, .dport = 80 },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "sctp egress allowed by an SCTP rule", EG,
	  { .src = POD_A4, .dst = PEER_EG4, .proto = NP_PROTO_SCTP, .sport = 40000, .dport = 9999 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 202, EP_A },
	{ "icmp echo allowed by a rule without ports", EG,
	  { .src = POD_A4, .dst = PEER_ANY4, .proto = NP_PROTO_ICMP, .icmp_type = 8, .sport = 77 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 300, EP_A },
	{ "icmp echo not allowed by port rules", EG,
	  { .src = POD_A4, .dst = PEER_EG4, .proto = NP_PROTO_ICMP, .icmp_type = 8, .sport = 77 },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "icmpv6 echo allowed by a rule without ports", EG,
	  { .src = POD_A6, .dst = PEER_ANY6, .proto = NP_PROTO_ICMPV6, .icmp_type = 128, .sport = 5 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 300, EP_A },
	{ "other protocol (GRE) allowed by a rule without ports", IN,
	  { .src = PEER_ANY4, .dst = POD_A4, .proto = 47, .payload_len = 20 },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_POLICY, 300, EP_A },
	{ "other protocol (GRE) not allowed by port rules", IN,
	  { .src = PEER_IN4, .dst = POD_A4, .proto = 47, .payload_len = 20 },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "spoofed v4 source dropped", EG, { TCP4(POD_B4, 40000, PEER_EG4, 443, SYN) },
	  TC_ACT_SHOT, NOWHERE, 0, 0, 0, 0 },
	{ "spoofed v6 source dropped", EG, { TCP4(V6(0xfd00, 0x99), 40000, PEER_EG6, 443, SYN) },
	  TC_ACT_SHOT, NOWHERE, 0, 0, 0, 0 },
	{ "per-endpoint ingress audit passes a denial", IN, { TCP4(STRANGER4, 40000, POD_C4, 81, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_AUDIT, NP_REASON_NO_RULE, 0, EP_C },
	{ "unknown endpoint passes by default", IN, { TCP4(STRANGER4, 40000, UNKNOWN4, 80, SYN) },
	  TC_ACT_OK, IN_CT, NP_VERDICT_ALLOW, NP_REASON_UNKNOWN_POD, 0, 0 },
	{ "v4 source in an IPv6 block of the same bits: no rule (families apart)", IN,
	  { TCP4(V4(10, 4, 0, 1), 40000, POD_A4, 80, SYN) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
	{ "v6 packet to an IPv4-mapped address: malformed, dropped before any lookup", EG,
	  { TCP4(POD_A6, 40000, PEER_EG4, 443, SYN), .ipv6 = 1 },
	  TC_ACT_SHOT, NOWHERE, 0, 0, 0, 0 },
	{ "v6 packet from an IPv4-mapped address: malformed", IN,
	  { TCP4(PEER_IN4, 40000, POD_A6, 80, SYN), .ipv6 = 1 },
	  TC_ACT_SHOT, NOWHERE, 0, 0, 0, 0 },
	{ "tcp syn-ack without state: not the reply of anything allowed", IN,
	  { TCP4(STRANGER4, 443, POD_A4, 40000, SYN | ACK) },
	  TC_ACT_SHOT, IN_DENY, NP_VERDICT_DENY, NP_REASON_NO_RULE, 0, EP_A },
};

static void test_table(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dp_case *c = &cases[i];
		struct np_ct_val v;
		uint32_t ret;

		clear_state(e);
		print_message("  case: %s\n", c->name);
		ret = run(e, c->dir, &c->pkt);
		if (ret != c->ret)
			fail_msg("case '%s': returned %u, expected %u", c->name, ret, c->ret);
		switch (c->where) {
		case NOWHERE:
			assert_no_state(e);
			break;
		case IN_CT:
			assert_ct(e, &c->pkt, c->dir, c->verdict, c->reason, c->dir, c->cookie);
			assert_int_equal(ct_get(e->dp.map_ct, &c->pkt, c->dir, &v), 0);
			assert_int_equal(v.ep_id, c->ep_id);
			assert_int_equal(map_count(e->dp.map_ct_deny, sizeof(struct np_ct_key)), 0);
			break;
		case IN_DENY:
			assert_denied(e, &c->pkt, c->dir, c->reason);
			assert_int_equal(ct_get(e->dp.map_ct_deny, &c->pkt, c->dir, &v), 0);
			assert_int_equal(v.ep_id, c->ep_id);
			break;
		}
	}
}

/* ---- scenarios ----------------------------------------------------------- */

static void test_reply_both_directions(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec synack = { TCP4(POD_A4, 80, PEER_IN4, 40000, SYN | ACK) };
	struct np_pkt_spec esyn = { TCP4(POD_A4, 40010, PEER_EG4, 443, SYN) };
	struct np_pkt_spec esynack = { TCP4(PEER_EG4, 443, POD_A4, 40010, SYN | ACK) };
	struct np_pkt_spec ureq = { .src = POD_A4, .dst = PEER_EG4, .proto = NP_PROTO_UDP, .sport = 5000, .dport = 53 };
	struct np_pkt_spec urep = { .src = PEER_EG4, .dst = POD_A4, .proto = NP_PROTO_UDP, .sport = 53, .dport = 5000 };
	struct np_pkt_spec uother = urep;
	struct np_ct_val v;

	/* Ingress-opened: the pod's answer passes the egress program. */
	assert_int_equal(run(e, IN, &syn), TC_ACT_OK);
	assert_int_equal(run(e, EG, &synack), TC_ACT_OK);
	assert_ct(e, &syn, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_int_equal(ct_get(e->dp.map_ct, &synack, EG, &v), 0); /* the same entry */
	assert_int_equal(v.state, NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY);

	/* Egress-opened: the peer's answer passes the ingress program. */
	assert_int_equal(run(e, EG, &esyn), TC_ACT_OK);
	assert_int_equal(run(e, IN, &esynack), TC_ACT_OK);
	assert_ct(e, &esyn, EG, NP_VERDICT_ALLOW, NP_REASON_POLICY, EG, 200);
	assert_int_equal(ct_get(e->dp.map_ct, &esyn, EG, &v), 0);
	assert_int_equal(v.state, NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY);

	/* UDP has no pickup: only conntrack lets the reply in. */
	assert_int_equal(run(e, EG, &ureq), TC_ACT_OK);
	assert_int_equal(run(e, IN, &urep), TC_ACT_OK);
	assert_int_equal(ct_get(e->dp.map_ct, &ureq, EG, &v), 0);
	assert_int_equal(v.state, NP_TCP_SEEN_REPLY);
	uother.dport = 5001;
	assert_int_equal(run(e, IN, &uother), TC_ACT_SHOT);
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), 3);
}

static void test_tcp_pickup(void **state)
{
	struct env *e = *state;
	/* Reply of a connection the pod opened to 10.2.0.9:443 (allowed). */
	struct np_pkt_spec in_ack = { TCP4(PEER_EG4, 443, POD_A4, 40000, ACK) };
	struct np_pkt_spec in_ack_bad = { TCP4(PEER_EG4, 444, POD_A4, 40000, ACK) };
	struct np_pkt_spec eg_ack = { TCP4(POD_A4, 40000, PEER_EG4, 443, ACK) };
	/* Reply of a connection 10.1.2.3 opened to the pod's port 80. */
	struct np_pkt_spec eg_reply = { TCP4(POD_A4, 80, PEER_IN4, 40000, ACK | FIN) };
	struct np_pkt_spec eg_reply_bad = { TCP4(POD_A4, 81, PEER_IN4, 40000, ACK) };
	struct np_pkt_spec in_syn = { TCP4(PEER_EG4, 443, POD_A4, 40001, SYN) };
	struct np_pkt_spec in_synack = { TCP4(PEER_EG4, 443, POD_A4, 40005, SYN | ACK) };
	struct np_ct_val v;

	assert_int_equal(run(e, IN, &in_ack), TC_ACT_OK);
	assert_ct(e, &in_ack, IN, NP_VERDICT_ALLOW, NP_REASON_REPLY, EG, 200);
	assert_int_equal(ct_get(e->dp.map_ct, &in_ack, IN, &v), 0);
	assert_true(v.state & NP_TCP_SEEN_REPLY);
	/* ... and the connection goes on both ways. */
	assert_int_equal(run(e, EG, &eg_ack), TC_ACT_OK);
	assert_int_equal(run(e, IN, &in_ack), TC_ACT_OK);

	assert_int_equal(run(e, IN, &in_ack_bad), TC_ACT_SHOT);
	assert_denied(e, &in_ack_bad, IN, NP_REASON_NO_RULE);

	assert_int_equal(run(e, EG, &eg_reply), TC_ACT_OK);
	assert_ct(e, &eg_reply, EG, NP_VERDICT_ALLOW, NP_REASON_REPLY, IN, 100);
	assert_int_equal(ct_get(e->dp.map_ct, &eg_reply, EG, &v), 0);
	assert_int_equal(v.state, NP_TCP_SEEN_REPLY | NP_TCP_FIN_REPLY);
	assert_int_equal(run(e, EG, &eg_reply_bad), TC_ACT_SHOT);

	/* A SYN is never a reply: it would open a connection. */
	assert_int_equal(run(e, IN, &in_syn), TC_ACT_SHOT);
	assert_denied(e, &in_syn, IN, NP_REASON_NO_RULE);
	/* A SYN-ACK is (the answer to our SYN we lost track of). */
	assert_int_equal(run(e, IN, &in_synack), TC_ACT_OK);
	assert_ct(e, &in_synack, IN, NP_VERDICT_ALLOW, NP_REASON_REPLY, EG, 200);
}

static void test_fragments(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec first = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN), .frag = NP_PKT_FRAG_FIRST,
				     .frag_id = 4242, .payload_len = 100 };
	struct np_pkt_spec later = first, orphan, dfirst, dlater, six, six_later, six_orphan;
	uint8_t buf[512];
	int len;

	later.frag = NP_PKT_FRAG_LATER;
	later.payload_len = 60;
	assert_int_equal(run(e, IN, &first), TC_ACT_OK);
	assert_ct(e, &first, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_int_equal(run(e, IN, &later), TC_ACT_OK);
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), 1);

	/* A later fragment whose first fragment was never seen. */
	orphan = later;
	orphan.frag_id = 999;
	assert_int_equal(run(e, IN, &orphan), TC_ACT_SHOT);
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), 1);
	assert_int_equal(map_count(e->dp.map_ct_deny, sizeof(struct np_ct_key)), 0);
	assert_int_equal(drain_events(e), 2); /* NEW for the first fragment, DENY for the orphan */
	assert_int_equal(e->ev[1].kind, NP_EV_DENY);
	assert_int_equal(e->ev[1].reason, NP_REASON_FRAGMENT);

	/* Fragments of a denied flow stay denied. */
	dfirst = first;
	dfirst.dport = 81;
	dfirst.frag_id = 5000;
	dlater = dfirst;
	dlater.frag = NP_PKT_FRAG_LATER;
	assert_int_equal(run(e, IN, &dfirst), TC_ACT_SHOT);
	assert_denied(e, &dfirst, IN, NP_REASON_NO_RULE);
	assert_int_equal(run(e, IN, &dlater), TC_ACT_SHOT);

	/* A first fragment too short to hold the ports is malformed. */
	len = build(&dfirst, buf, sizeof(buf));
	assert_true(len > 14 + 20 + 10);
	assert_int_equal(run_raw(e, IN, buf, 14 + 20 + 10), TC_ACT_SHOT);

	/* IPv6: a fragment header after an extension header. */
	six = (struct np_pkt_spec){ TCP4(PEER_IN6, 40000, POD_A6, 80, SYN), .n_v6_ext = 1,
				    .frag = NP_PKT_FRAG_FIRST, .frag_id = 0x01020304, .payload_len = 64 };
	six_later = six;
	six_later.frag = NP_PKT_FRAG_LATER;
	six_orphan = six_later;
	six_orphan.frag_id = 7;
	assert_int_equal(run(e, IN, &six), TC_ACT_OK);
	assert_ct(e, &six, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_int_equal(run(e, IN, &six_later), TC_ACT_OK);
	assert_int_equal(run(e, IN, &six_orphan), TC_ACT_SHOT);
	six.dport = 81;
	six.frag_id = 8;
	six_later = six;
	six_later.frag = NP_PKT_FRAG_LATER;
	assert_int_equal(run(e, IN, &six), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &six_later), TC_ACT_SHOT);
}

/* Insert an 802.1Q tag (VLAN 100) after the MAC addresses. */
static int vlan_tag(const uint8_t *pkt, int len, uint8_t *out)
{
	memcpy(out, pkt, 12);
	out[12] = 0x81;
	out[13] = 0x00;
	out[14] = 0x00;
	out[15] = 0x64;
	memcpy(out + 16, pkt + 12, (size_t)len - 12);
	return len + 4;
}

static void test_malformed(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec tcp = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec opts = tcp, v6 = { TCP4(PEER_IN6, 40000, POD_A6, 80, SYN), .n_v6_ext = 3 };
	struct np_pkt_spec echo = { .src = PEER_ANY4, .dst = POD_A4, .proto = NP_PROTO_ICMP, .icmp_type = 8, .sport = 1 };
	uint8_t buf[512], tagged[520], arp[42] = { 0 };
	int len;

	len = build(&tcp, buf, sizeof(buf));
	/* test_run refuses untagged IP frames shorter than the IP header, so
	 * the cut IP headers come with a VLAN tag. */
	assert_int_equal(run_raw(e, IN, tagged, vlan_tag(buf, 14 + 10, tagged)), TC_ACT_SHOT);
	assert_int_equal(run_raw(e, IN, buf, 14 + 20 + 10), TC_ACT_SHOT); /* TCP header cut */
	buf[14] = 0x44;                                                  /* ihl 4 */
	assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_SHOT);
	buf[14] = 0x65;                                                  /* version 6 in an IPv4 frame */
	assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_SHOT);

	opts.ip_opts_len = 40;
	len = build(&opts, buf, sizeof(buf));
	assert_int_equal(run_raw(e, IN, buf, 14 + 40), TC_ACT_SHOT);      /* options cut */
	assert_int_equal(run_raw(e, IN, buf, 14 + 60 + 10), TC_ACT_SHOT); /* TCP cut after options */

	len = build(&v6, buf, sizeof(buf));
	assert_int_equal(run_raw(e, IN, tagged, vlan_tag(buf, 14 + 30, tagged)), TC_ACT_SHOT);
	assert_int_equal(run_raw(e, IN, buf, 14 + 40 + 8 + 4), TC_ACT_SHOT);  /* extension header cut */
	assert_int_equal(run_raw(e, IN, buf, 14 + 40 + 48 + 10), TC_ACT_SHOT); /* TCP cut */

	/* Nine extension headers: more than we walk. */
	{
		struct np_pkt_spec plain = { TCP4(PEER_IN6, 40000, POD_A6, 80, SYN) };
		uint8_t big[512];
		int n = build(&plain, buf, sizeof(buf));

		memcpy(big, buf, 54);
		big[14 + 6] = 60;
		for (int i = 0; i < 9; i++) {
			uint8_t *h = big + 54 + 8 * i;

			memset(h, 0, 8);
			h[0] = i == 8 ? NP_PROTO_TCP : 60;
			h[2] = 1;
			h[3] = 4;
		}
		memcpy(big + 54 + 72, buf + 54, (size_t)n - 54);
		big[14 + 5] = (uint8_t)(n - 54 + 72);
		assert_int_equal(run_raw(e, IN, big, n + 72), TC_ACT_SHOT);
		/* The same with eight is fine. */
		big[14 + 6] = 60;
		memmove(big + 54, big + 62, (size_t)n - 54 + 64);
		big[14 + 5] = (uint8_t)(n - 54 + 64);
		assert_int_equal(run_raw(e, IN, big, n + 64), TC_ACT_OK);
	}

	len = build(&echo, buf, sizeof(buf));
	assert_int_equal(run_raw(e, IN, buf, len - 4), TC_ACT_SHOT); /* ICMP header cut */

	/* No IP: ARP and LLDP pass untouched. */
	arp[12] = 0x08;
	arp[13] = 0x06;
	assert_int_equal(run_raw(e, IN, arp, sizeof(arp)), TC_ACT_OK);
	assert_int_equal(run_raw(e, EG, arp, sizeof(arp)), TC_ACT_OK);
	arp[12] = 0x88;
	arp[13] = 0xcc;
	assert_int_equal(run_raw(e, IN, arp, sizeof(arp)), TC_ACT_OK);

	/* Only the unfragmented 8-extension-header packet left state. */
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), 1);
}

static void test_vlan(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec ok = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec bad = { TCP4(PEER_IN4, 40000, POD_A4, 81, SYN) };
	const struct np_pkt_spec *specs[2] = { &ok, &bad };
	uint8_t buf[512], tagged[520];

	for (int i = 0; i < 2; i++) {
		int len = build(specs[i], buf, sizeof(buf));

		assert_int_equal(run_raw(e, IN, tagged, vlan_tag(buf, len, tagged)),
				 i == 0 ? TC_ACT_OK : TC_ACT_SHOT);
	}
	/* A tagged frame with a cut TCP header. */
	assert_int_equal(run_raw(e, IN, tagged, vlan_tag(buf, 14 + 20 + 6, tagged)), TC_ACT_SHOT);
	assert_ct(e, &ok, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_denied(e, &bad, IN, NP_REASON_NO_RULE);
}

static void test_icmp_echo_reply(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec req = { .src = POD_A4, .dst = PEER_ANY4, .proto = NP_PROTO_ICMP, .icmp_type = 8, .sport = 77 };
	struct np_pkt_spec rep = { .src = PEER_ANY4, .dst = POD_A4, .proto = NP_PROTO_ICMP, .icmp_type = 0, .sport = 77 };
	struct np_pkt_spec in_req = { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_ICMP, .icmp_type = 8, .sport = 88 };
	struct np_pkt_spec stray = { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_ICMP, .icmp_type = 0, .sport = 99 };
	struct np_pkt_spec req6 = { .src = POD_A6, .dst = PEER_ANY6, .proto = NP_PROTO_ICMPV6, .icmp_type = 128, .sport = 5 };
	struct np_pkt_spec rep6 = { .src = PEER_ANY6, .dst = POD_A6, .proto = NP_PROTO_ICMPV6, .icmp_type = 129, .sport = 5 };
	struct np_ct_val v;

	assert_int_equal(run(e, EG, &req), TC_ACT_OK);
	assert_int_equal(run(e, IN, &rep), TC_ACT_OK);
	assert_ct(e, &req, EG, NP_VERDICT_ALLOW, NP_REASON_POLICY, EG, 300);
	assert_int_equal(ct_get(e->dp.map_ct, &rep, IN, &v), 0);
	assert_true(v.state & NP_TCP_SEEN_REPLY);

	/* Class 10 has only port rules: no ICMP. */
	assert_int_equal(run(e, IN, &in_req), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &stray), TC_ACT_SHOT);

	assert_int_equal(run(e, EG, &req6), TC_ACT_OK);
	assert_int_equal(run(e, IN, &rep6), TC_ACT_OK);
	assert_ct(e, &req6, EG, NP_VERDICT_ALLOW, NP_REASON_POLICY, EG, 300);
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), 2);
}

static void test_policy_change_cut(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec ack = { TCP4(PEER_IN4, 40000, POD_A4, 80, ACK) };
	struct np_pkt_spec udp = { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_UDP, .sport = 5353, .dport = 53 };
	struct np_pkt_spec esyn = { TCP4(POD_A4, 40010, PEER_EG4, 443, SYN) };
	struct np_pkt_spec ereply = { TCP4(PEER_EG4, 443, POD_A4, 40010, ACK) };
	struct np_port_key k = port_key(10, NP_PROTO_TCP, 80, NP_PORT_KEY_BITS_FULL);
	struct np_ct_val v;
	uint32_t gen;

	assert_int_equal(run(e, IN, &syn), TC_ACT_OK);
	assert_int_equal(run(e, IN, &udp), TC_ACT_OK);
	assert_int_equal(run(e, EG, &esyn), TC_ACT_OK);
	assert_int_equal(drain_events(e), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(e->ev[i].kind, NP_EV_NEW);

	/* Same generation: a changed map alone does not touch conntrack. */
	assert_int_equal(bpf_map_delete_elem(e->dp.map_ports, &k), 0);
	assert_int_equal(run(e, IN, &ack), TC_ACT_OK);

	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(np_datapath_gen(&e->dp, &gen), 0);
	assert_int_equal(gen, 1);

	/* TCP 80 no longer allowed: cut, the entry kept as a tombstone. */
	assert_int_equal(run(e, IN, &ack), TC_ACT_SHOT);
	assert_int_equal(ct_get(e->dp.map_ct, &ack, IN, &v), 0);
	assert_int_equal(v.verdict, NP_VERDICT_DENY);
	assert_int_equal(v.reason, NP_REASON_REVOKED);
	assert_true(v.flow & NP_FLOW_ENDED);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_CUT);
	assert_int_equal(e->ev[0].verdict, NP_VERDICT_DENY);
	assert_int_equal(e->ev[0].reason, NP_REASON_NO_RULE);
	assert_int_equal(e->ev[0].cookie, 100);
	assert_int_equal(e->ev[0].dir, IN);
	/* ... and stays cut, without another cut event. */
	assert_int_equal(run(e, IN, &ack), TC_ACT_SHOT);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_DENY);
	assert_int_equal(e->ev[0].reason, NP_REASON_REVOKED);

	/* Still allowed flows survive, re-stamped with the new generation;
	 * the egress-opened one is re-judged in its own direction even though
	 * this packet comes in through the ingress program. */
	assert_int_equal(run(e, IN, &udp), TC_ACT_OK);
	assert_ct(e, &udp, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 101);
	assert_int_equal(run(e, IN, &ereply), TC_ACT_OK);
	assert_ct(e, &esyn, EG, NP_VERDICT_ALLOW, NP_REASON_POLICY, EG, 200);
	assert_int_equal(ct_get(e->dp.map_ct, &esyn, EG, &v), 0);
	assert_true(v.state & NP_TCP_SEEN_REPLY);
}

/*
 * Address families are separate (Kubernetes semantics): the dual-stack
 * "egress anywhere except the metadata service" policy, an IPv6-only ::/0
 * ingress rule, an IPv6 block written in the mapped form, and an IPv4-only
 * 0.0.0.0/0 rule against IPv6 peers.  The keys are written as the compiler
 * writes them (see test_policy_update.c for the compiler itself).
 */
#define POD_X4 V4(10, 0, 0, 4)
#define POD_X6 V6(0xfd00, 4)
#define IMDS4 V4(169, 254, 169, 254)

static void test_families(void **state)
{
	struct env *e = *state;
	static const struct np_addr x4 = POD_X4, x6 = POD_X6;
	struct np_iface ifc = { .ep_id = 11, .n_addrs = 2 };
	uint32_t ifindex = 1;
	struct np_pkt_spec to_imds = { TCP4(POD_X4, 40000, IMDS4, 80, SYN) };
	struct np_pkt_spec to_web4 = { TCP4(POD_X4, 40001, V4(8, 8, 8, 8), 443, SYN) };
	struct np_pkt_spec to_web6 = { TCP4(POD_X6, 40002, V6(0x2001, 1), 443, SYN) };
	struct np_pkt_spec from_v4 = { TCP4(V4(10, 9, 9, 9), 40003, POD_X4, 8080, SYN) };
	struct np_pkt_spec from_v6 = { TCP4(V6(0xfd09, 1), 40004, POD_X6, 8080, SYN) };
	struct np_pkt_spec y_from_v6 = { TCP4(V6(0xfd09, 1), 40005, POD_A6, 7000, SYN) };
	struct np_pkt_spec y_from_v4 = { TCP4(V4(10, 9, 9, 9), 40006, POD_A4, 7000, SYN) };
	/* IPv6 packets carrying IPv4-mapped addresses: invalid on the wire. */
	struct np_pkt_spec mapped_dst = { TCP4(POD_X6, 40007, IMDS4, 80, SYN), .ipv6 = 1 };
	struct np_pkt_spec mapped_src = { TCP4(V4(10, 9, 9, 9), 40008, POD_X6, 8080, SYN), .ipv6 = 1 };

	/* Pod X: egress set 3 = {0.0.0.0/0 except 169.254.169.254/32, ::/0};
	 * ingress set 4 = {::/0 and ::ffff:0:0/96 as IPv6 blocks}. */
	put_endpoint(e, &x4, 11, 4, 3, 0);
	put_endpoint(e, &x6, 11, 4, 3, 0);
	ifc.addrs[0] = x4;
	ifc.addrs[1] = x6;
	assert_int_equal(bpf_map_update_elem(e->dp.map_ifaces, &ifindex, &ifc, BPF_ANY), 0);
	put_peer_family(e, 3, NP_FAMILY_IPV4, v4(0, 0, 0, 0), 96, 40);
	put_peer_family(e, 3, NP_FAMILY_IPV4, v4(169, 254, 169, 254), 128, 0);
	put_peer_family(e, 3, NP_FAMILY_IPV6, v6(0), 0, 40);
	put_peer_family(e, 4, NP_FAMILY_IPV6, v6(0), 0, 40);
	put_peer_family(e, 4, NP_FAMILY_IPV6, v4(0, 0, 0, 0), 96, 40);
	put_port(e, 40, 0, 0, NP_PORT_KEY_BITS_CLASS, 400);
	/* Pod A's ingress (set 1) gains an IPv4-only 0.0.0.0/0 for TCP 7000. */
	put_peer_family(e, 1, NP_FAMILY_IPV4, v4(0, 0, 0, 0), 96, 41);
	put_port(e, 41, NP_PROTO_TCP, 7000, NP_PORT_KEY_BITS_FULL, 410);

	assert_int_equal(run(e, EG, &to_imds), TC_ACT_SHOT);
	assert_denied(e, &to_imds, EG, NP_REASON_NO_RULE);
	assert_int_equal(run(e, EG, &to_web4), TC_ACT_OK);
	assert_ct(e, &to_web4, EG, NP_VERDICT_ALLOW, NP_REASON_POLICY, EG, 400);
	assert_int_equal(run(e, EG, &to_web6), TC_ACT_OK);
	assert_ct(e, &to_web6, EG, NP_VERDICT_ALLOW, NP_REASON_POLICY, EG, 400);

	/* IPv6-only ingress, including ::ffff:0:0/96: no IPv4 peer. */
	assert_int_equal(run(e, IN, &from_v4), TC_ACT_SHOT);
	assert_denied(e, &from_v4, IN, NP_REASON_NO_RULE);
	assert_int_equal(run(e, IN, &from_v6), TC_ACT_OK);
	assert_ct(e, &from_v6, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 400);

	/* IPv4-only 0.0.0.0/0: no IPv6 peer. */
	assert_int_equal(run(e, IN, &y_from_v4), TC_ACT_OK);
	assert_ct(e, &y_from_v4, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 410);
	assert_int_equal(run(e, IN, &y_from_v6), TC_ACT_SHOT);
	assert_denied(e, &y_from_v6, IN, NP_REASON_NO_RULE);

	/* Mapped addresses in IPv6 headers: dropped before any lookup, in
	 * both programs, leaving no state (the egress one would otherwise be
	 * judged as IPv4 traffic to the metadata service). */
	clear_state(e);
	assert_int_equal(run(e, EG, &mapped_dst), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &mapped_src), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &mapped_dst), TC_ACT_SHOT);
	assert_no_state(e);
	assert_int_equal(drain_events(e), 0);
}

/*
 * Revocation with one direction unrestricted (the mission's kind of policy:
 * the server isolated for ingress only).  Pod D (10.0.0.5) uses set 1 for
 * ingress and set 2 for egress as the test chooses; 0 = not isolated.
 */
#define POD_D4 V4(10, 0, 0, 5)

static void put_pod_d(struct env *e, uint32_t set_in, uint32_t set_eg)
{
	static const struct np_addr d4 = POD_D4;
	struct np_iface ifc = { .ep_id = 12, .n_addrs = 1 };
	uint32_t ifindex = 1;

	put_endpoint(e, &d4, 12, set_in, set_eg, 0);
	ifc.addrs[0] = d4;
	assert_int_equal(bpf_map_update_elem(e->dp.map_ifaces, &ifindex, &ifc, BPF_ANY), 0);
}

static void del_port(struct env *e, uint32_t class_id, uint8_t proto, uint16_t port)
{
	struct np_port_key k = port_key(class_id, proto, port, NP_PORT_KEY_BITS_FULL);

	assert_int_equal(bpf_map_delete_elem(e->dp.map_ports, &k), 0);
}

static void count_kinds(struct env *e, int *cut, int *deny, uint8_t *deny_reason)
{
	drain_events(e);
	*cut = *deny = 0;
	for (int i = 0; i < e->n_ev; i++) {
		if (e->ev[i].kind == NP_EV_CUT)
			(*cut)++;
		if (e->ev[i].kind == NP_EV_DENY) {
			(*deny)++;
			*deny_reason = e->ev[i].reason;
		}
	}
}

static void test_revoked_ingress_only(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40000, POD_D4, 80, SYN) };
	struct np_pkt_spec synack = { TCP4(POD_D4, 80, PEER_IN4, 40000, SYN | ACK) };
	struct np_pkt_spec c_ack = { TCP4(PEER_IN4, 40000, POD_D4, 80, ACK) };
	struct np_pkt_spec s_ack = { TCP4(POD_D4, 80, PEER_IN4, 40000, ACK) };
	struct np_pkt_spec syn2 = { TCP4(PEER_IN4, 40001, POD_D4, 80, SYN) };
	struct np_pkt_spec synack2 = { TCP4(POD_D4, 80, PEER_IN4, 40001, SYN | ACK) };
	struct np_pkt_spec c_ack2 = { TCP4(PEER_IN4, 40001, POD_D4, 80, ACK) };
	struct np_pkt_spec s_ack2 = { TCP4(POD_D4, 80, PEER_IN4, 40001, ACK) };
	struct np_ct_val v;
	uint8_t reason = 0;
	int cut, deny;

	put_pod_d(e, 1, 0);
	/* Two open connections to D:80. */
	assert_int_equal(run(e, IN, &syn), TC_ACT_OK);
	assert_int_equal(run(e, EG, &synack), TC_ACT_OK);
	assert_int_equal(run(e, IN, &c_ack), TC_ACT_OK);
	assert_int_equal(run(e, IN, &syn2), TC_ACT_OK);
	assert_int_equal(run(e, EG, &synack2), TC_ACT_OK);
	assert_int_equal(run(e, IN, &c_ack2), TC_ACT_OK);
	drain_events(e);

	del_port(e, 10, NP_PROTO_TCP, 80);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);

	/* Connection 1, the client's retransmission first, then the
	 * server's own packet (its egress is unrestricted: without the
	 * tombstone it would open a "new" egress flow), then the client. */
	assert_int_equal(run(e, IN, &c_ack), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &c_ack), TC_ACT_SHOT);
	assert_int_equal(run(e, EG, &s_ack), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &c_ack), TC_ACT_SHOT);
	assert_int_equal(ct_get(e->dp.map_ct, &c_ack, IN, &v), 0);
	assert_int_equal(v.verdict, NP_VERDICT_DENY);
	assert_int_equal(v.reason, NP_REASON_REVOKED);
	assert_int_equal(v.origin, IN);
	/* One cut event; the later drops, both directions, in one denial
	 * aggregate (the client's port zeroed) with reason "revoked". */
	count_kinds(e, &cut, &deny, &reason);
	assert_int_equal(cut, 1);
	assert_int_equal(deny, 1);
	assert_int_equal(reason, NP_REASON_REVOKED);
	assert_int_equal(map_count(e->dp.map_flow_deny, sizeof(struct np_ct_key)), 1);

	/* Connection 2, the server's packet first. */
	assert_int_equal(run(e, EG, &s_ack2), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &c_ack2), TC_ACT_SHOT);
	assert_int_equal(run(e, EG, &s_ack2), TC_ACT_SHOT);
	count_kinds(e, &cut, &deny, &reason);
	assert_int_equal(cut, 1);
	assert_int_equal(deny, 0); /* the same aggregate as connection 1 */

	/* An unrelated policy change does not bring TCP back. */
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(run(e, EG, &s_ack), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &c_ack), TC_ACT_SHOT);
	/* Even the rule coming back does not revive the old connection... */
	put_port(e, 10, NP_PROTO_TCP, 80, NP_PORT_KEY_BITS_FULL, 100);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(run(e, IN, &c_ack), TC_ACT_SHOT);
	assert_int_equal(run(e, EG, &s_ack), TC_ACT_SHOT);
	/* ... a fresh SYN, judged under the policy in force, replaces it. */
	assert_int_equal(run(e, IN, &syn), TC_ACT_OK);
	assert_ct(e, &syn, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_int_equal(run(e, EG, &synack), TC_ACT_OK);
	assert_int_equal(run(e, IN, &c_ack), TC_ACT_OK);
	/* A fresh SYN while the policy still denies: denied as new. */
	del_port(e, 10, NP_PROTO_TCP, 80);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(run(e, IN, &c_ack2), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &syn2), TC_ACT_SHOT);
	assert_denied(e, &syn2, IN, NP_REASON_NO_RULE);
}

static void test_revoked_egress_only(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(POD_D4, 40010, PEER_EG4, 443, SYN) };
	struct np_pkt_spec synack = { TCP4(PEER_EG4, 443, POD_D4, 40010, SYN | ACK) };
	struct np_pkt_spec c_ack = { TCP4(POD_D4, 40010, PEER_EG4, 443, ACK) };
	struct np_pkt_spec s_data = { TCP4(PEER_EG4, 443, POD_D4, 40010, ACK) };
	struct np_ct_val v;
	uint8_t reason = 0;
	int cut, deny;

	put_pod_d(e, 0, 2);
	assert_int_equal(run(e, EG, &syn), TC_ACT_OK);
	assert_int_equal(run(e, IN, &synack), TC_ACT_OK);
	assert_int_equal(run(e, EG, &c_ack), TC_ACT_OK);
	drain_events(e);
	del_port(e, 20, NP_PROTO_TCP, 443);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	/* The remote server's packet first: D's ingress is not isolated, so
	 * without the tombstone it would pass as a new ingress flow. */
	assert_int_equal(run(e, IN, &s_data), TC_ACT_SHOT);
	assert_int_equal(run(e, EG, &c_ack), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &s_data), TC_ACT_SHOT);
	assert_int_equal(ct_get(e->dp.map_ct, &c_ack, EG, &v), 0);
	assert_int_equal(v.reason, NP_REASON_REVOKED);
	assert_int_equal(v.origin, EG);
	count_kinds(e, &cut, &deny, &reason);
	assert_int_equal(cut, 1);
	assert_int_equal(deny, 1);
	assert_int_equal(reason, NP_REASON_REVOKED);
}

static void test_revoked_udp(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec req = { .src = PEER_IN4, .dst = POD_D4, .proto = NP_PROTO_UDP, .sport = 5353, .dport = 53 };
	struct np_pkt_spec rep = { .src = POD_D4, .dst = PEER_IN4, .proto = NP_PROTO_UDP, .sport = 53, .dport = 5353 };
	struct np_ct_val v;

	put_pod_d(e, 1, 0);
	assert_int_equal(run(e, IN, &req), TC_ACT_OK);
	assert_int_equal(run(e, EG, &rep), TC_ACT_OK);
	del_port(e, 10, NP_PROTO_UDP, 53);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	/* The server's datagram first: its egress is unrestricted. */
	assert_int_equal(run(e, EG, &rep), TC_ACT_SHOT);
	assert_int_equal(run(e, IN, &req), TC_ACT_SHOT);
	assert_int_equal(run(e, EG, &rep), TC_ACT_SHOT);
	/* An unrelated change: re-judged in its own direction, still denied. */
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(run(e, EG, &rep), TC_ACT_SHOT);
	assert_int_equal(ct_get(e->dp.map_ct, &req, IN, &v), 0);
	assert_int_equal(v.reason, NP_REASON_REVOKED);
	/* Allowed again: UDP has no handshake, the flow resumes. */
	put_port(e, 10, NP_PROTO_UDP, 53, NP_PORT_KEY_BITS_FULL, 101);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(run(e, IN, &req), TC_ACT_OK);
	assert_ct(e, &req, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 101);
	assert_int_equal(run(e, EG, &rep), TC_ACT_OK);
}

/*
 * ICMP errors about allowed connections pass in both directions (path MTU
 * discovery, unreachables, time exceeded) whoever sends them; errors about
 * nothing known, about revoked connections or about another pod's packets
 * are judged as ICMP from their sender (here: no rule, dropped).
 */
#define ROUTER4 V4(192, 0, 2, 1)
#define ROUTER6 V6(0xfd99, 1)

static uint32_t run_icmp_error(struct env *e, int dir, struct np_addr from, uint8_t type,
			       uint8_t code, uint32_t rest, const struct np_pkt_spec *inner,
			       int cut_to)
{
	uint8_t buf[2048];
	int len = np_pkt_build_icmp_error(&from, type, code, rest, inner, buf, sizeof(buf));

	assert_true(len > 0);
	if (cut_to > 0 && cut_to < len)
		len = cut_to;
	return run_raw(e, dir, buf, len);
}

static void test_icmp_related(void **state)
{
	struct env *e = *state;
	/* A's connections: TCP out to 10.2.0.9:443 (IPv4, IPv6), UDP in
	 * from 10.1.2.3 to port 53, a ping to 10.3.0.5. */
	struct np_pkt_spec out4 = { TCP4(POD_A4, 40010, PEER_EG4, 443, SYN) };
	struct np_pkt_spec out4_data = { TCP4(POD_A4, 40010, PEER_EG4, 443, ACK), .payload_len = 1400 };
	struct np_pkt_spec out4_opts = { TCP4(POD_A4, 40010, PEER_EG4, 443, ACK), .ip_opts_len = 8 };
	struct np_pkt_spec out6 = { TCP4(POD_A6, 40020, PEER_EG6, 443, SYN) };
	struct np_pkt_spec out6_ext = { TCP4(POD_A6, 40020, PEER_EG6, 443, ACK), .n_v6_ext = 3, .payload_len = 1200 };
	struct np_pkt_spec other4 = { TCP4(POD_A4, 40011, PEER_EG4, 443, ACK) };
	struct np_pkt_spec udp_in = { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_UDP, .sport = 5353, .dport = 53 };
	struct np_pkt_spec udp_in_other = udp_in;
	struct np_pkt_spec ping = { .src = POD_A4, .dst = PEER_ANY4, .proto = NP_PROTO_ICMP, .icmp_type = 8, .sport = 77 };
	struct np_pkt_spec not_a = { TCP4(POD_B4, 40010, PEER_EG4, 443, ACK) };
	struct np_addr router4 = ROUTER4, router6 = ROUTER6;

	udp_in_other.sport = 5354;
	assert_int_equal(run(e, EG, &out4), TC_ACT_OK);
	assert_int_equal(run(e, EG, &out6), TC_ACT_OK);
	assert_int_equal(run(e, IN, &udp_in), TC_ACT_OK);
	assert_int_equal(run(e, EG, &ping), TC_ACT_OK);
	drain_events(e);
	int before = map_count(e->dp.map_ct, sizeof(struct np_ct_key));

	/* Fragmentation needed from a router no rule mentions, quoting a
	 * full-size segment, and one with IPv4 options in the quote. */
	assert_int_equal(run_icmp_error(e, IN, router4, 3, 4, 1400, &out4_data, 0), TC_ACT_OK);
	assert_int_equal(run_icmp_error(e, IN, router4, 3, 4, 1400, &out4_opts, 0), TC_ACT_OK);
	/* Packet too big, the quote with three extension headers. */
	assert_int_equal(run_icmp_error(e, IN, router6, 2, 0, 1280, &out6_ext, 1280 + 14), TC_ACT_OK);
	/* Destination unreachable from the peer itself; time exceeded about
	 * the ping. */
	assert_int_equal(run_icmp_error(e, IN, a_pod_b4, 3, 1, 0, &out4_data, 0), TC_ACT_OK);
	assert_int_equal(run_icmp_error(e, IN, router4, 11, 0, 0, &ping, 0), TC_ACT_OK);
	/* From the pod: port unreachable about the datagram it received. */
	{
		struct np_pkt_spec q = udp_in;
		uint8_t buf[512];
		struct np_addr a4 = POD_A4;
		int len;

		/* The quote is of the peer's datagram; the error goes to the
		 * peer, from the pod. */
		len = np_pkt_build_icmp_error(&a4, 3, 3, 0, &q, buf, sizeof(buf));
		assert_true(len > 0);
		assert_int_equal(run_raw(e, EG, buf, len), TC_ACT_OK);
		q = udp_in_other; /* no such flow: judged, egress has no rule for ICMP */
		len = np_pkt_build_icmp_error(&a4, 3, 3, 0, &q, buf, sizeof(buf));
		assert_true(len > 0);
		assert_int_equal(run_raw(e, EG, buf, len), TC_ACT_SHOT);
	}
	/* Related errors change no state and send no event. */
	assert_int_equal(map_count(e->dp.map_ct, sizeof(struct np_ct_key)), before);
	assert_int_equal(drain_events(e), 1); /* the denied port unreachable */

	/* Errors about nothing we know, truncated quotes, quotes of another
	 * pod's packet: judged as ICMP from the router, no rule: dropped. */
	assert_int_equal(run_icmp_error(e, IN, router4, 3, 4, 1400, &other4, 0), TC_ACT_SHOT);
	assert_int_equal(run_icmp_error(e, IN, router4, 3, 4, 1400, &out4_data, 14 + 20 + 8 + 20 + 2),
			 TC_ACT_SHOT);
	/* Sent to A, quoting a packet of B's (10.0.0.2) that is otherwise
	 * A's connection: not A's, so judged, and dropped. */
	{
		uint8_t buf[512];
		struct np_pkt_spec q = out4_data;
		int len;

		q.payload_len = 0;
		len = np_pkt_build_icmp_error(&router4, 3, 4, 1400, &q, buf, sizeof(buf));
		assert_true(len > 0);
		assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_OK);
		buf[14 + 20 + 8 + 12 + 3] = 2; /* quoted source 10.0.0.1 -> 10.0.0.2 */
		assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_SHOT);
	}
	/* The same error delivered to B: B is not isolated, any ICMP passes. */
	assert_int_equal(run_icmp_error(e, IN, router4, 3, 4, 1400, &not_a, 0), TC_ACT_OK);
	/* A revoked connection: its errors are no longer related. */
	del_port(e, 20, NP_PROTO_TCP, 443);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(run_icmp_error(e, IN, router4, 3, 4, 1400, &out6_ext, 0), TC_ACT_SHOT);
	assert_int_equal(run(e, EG, &out4_data), TC_ACT_SHOT); /* now a tombstone */
	assert_int_equal(run_icmp_error(e, IN, router4, 3, 4, 1400, &out4_data, 0), TC_ACT_SHOT);
}

static void test_deny_cache(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40000, POD_A4, 81, SYN) };

	assert_int_equal(run(e, IN, &syn), TC_ACT_SHOT);
	assert_denied(e, &syn, IN, NP_REASON_NO_RULE);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_DENY);

	/* Cached: dropped again without another event. */
	assert_int_equal(run(e, IN, &syn), TC_ACT_SHOT);
	assert_int_equal(drain_events(e), 0);

	/* A rule appears but the generation is not bumped yet: still the
	 * cached verdict (the map update is not committed). */
	put_port(e, 10, NP_PROTO_TCP, 81, NP_PORT_KEY_BITS_FULL, 103);
	assert_int_equal(run(e, IN, &syn), TC_ACT_SHOT);

	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(run(e, IN, &syn), TC_ACT_OK);
	assert_ct(e, &syn, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 103);
}

static void test_expired(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec ack = { TCP4(PEER_IN4, 40000, POD_A4, 80, ACK) };
	struct np_pkt_spec dack = { TCP4(PEER_IN4, 40001, POD_A4, 81, ACK) };
	uint64_t hz = e->dp.hz, now;
	struct np_ct_val v, fake;

	assert_int_equal(run(e, IN, &syn), TC_ACT_OK);
	assert_int_equal(ct_get(e->dp.map_ct, &syn, IN, &v), 0);
	now = v.last_seen;

	/* Past the SYN timeout (60 s): the next packet is a new flow, so the
	 * marker cookie is replaced by a fresh verdict. */
	v.last_seen = now - 61 * hz;
	v.created = v.last_seen;
	v.cookie = 999;
	ct_put(e->dp.map_ct, &syn, IN, &v);
	assert_int_equal(run(e, IN, &ack), TC_ACT_OK);
	assert_ct(e, &ack, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_int_equal(ct_get(e->dp.map_ct, &ack, IN, &v), 0);
	assert_true(v.created >= now);

	/* A live entry is honoured even where policy would deny ... */
	memset(&fake, 0, sizeof(fake));
	fake.last_seen = fake.created = now;
	fake.verdict = NP_VERDICT_ALLOW;
	fake.reason = NP_REASON_POLICY;
	fake.cookie = 999;
	fake.origin = IN;
	fake.state = NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY;
	ct_put(e->dp.map_ct, &dack, IN, &fake);
	assert_int_equal(run(e, IN, &dack), TC_ACT_OK);
	/* ... an expired one (established timeout, 6 h) is not. */
	fake.last_seen = now - (6 * 3600 + 1) * hz;
	ct_put(e->dp.map_ct, &dack, IN, &fake);
	assert_int_equal(run(e, IN, &dack), TC_ACT_SHOT);
	assert_int_equal(ct_get(e->dp.map_ct, &dack, IN, &v), -ENOENT);
	assert_denied(e, &dack, IN, NP_REASON_NO_RULE);

	/* An expired deny-cache entry is judged again. */
	{
		struct np_pkt_spec dsyn = { TCP4(PEER_IN4, 40002, POD_A4, 81, SYN) };

		assert_int_equal(run(e, IN, &dsyn), TC_ACT_SHOT);
		put_port(e, 10, NP_PROTO_TCP, 81, NP_PORT_KEY_BITS_FULL, 103);
		assert_int_equal(run(e, IN, &dsyn), TC_ACT_SHOT); /* cached */
		assert_int_equal(ct_get(e->dp.map_ct_deny, &dsyn, IN, &v), 0);
		v.last_seen -= 6 * hz;
		ct_put(e->dp.map_ct_deny, &dsyn, IN, &v);
		assert_int_equal(run(e, IN, &dsyn), TC_ACT_OK);
		assert_ct(e, &dsyn, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 103);
	}
}

static void test_tcp_reopen(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec ack = { TCP4(PEER_IN4, 40002, POD_A4, 81, ACK) };
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40002, POD_A4, 81, SYN) };
	struct np_pkt_spec asyn = { TCP4(PEER_IN4, 40003, POD_A4, 80, SYN) };
	struct np_pkt_spec fin = { TCP4(PEER_IN4, 40003, POD_A4, 80, FIN | ACK) };
	struct np_pkt_spec rfin = { TCP4(POD_A4, 80, PEER_IN4, 40003, FIN | ACK) };
	struct np_ct_val v, fake;

	/* Learn "now" from a real entry. */
	assert_int_equal(run(e, IN, &asyn), TC_ACT_OK);
	assert_int_equal(ct_get(e->dp.map_ct, &asyn, IN, &v), 0);

	memset(&fake, 0, sizeof(fake));
	fake.last_seen = fake.created = v.last_seen;
	fake.verdict = NP_VERDICT_ALLOW;
	fake.reason = NP_REASON_POLICY;
	fake.cookie = 999;
	fake.origin = IN;
	fake.state = NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY | NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY;
	ct_put(e->dp.map_ct, &ack, IN, &fake);
	/* Late packets of the closed connection still pass ... */
	assert_int_equal(run(e, IN, &ack), TC_ACT_OK);
	/* ... a new SYN on the same 5-tuple is a new connection. */
	assert_int_equal(run(e, IN, &syn), TC_ACT_SHOT);
	assert_int_equal(ct_get(e->dp.map_ct, &syn, IN, &v), -ENOENT);

	/* FIN both ways is tracked; a reopening SYN gets a fresh verdict. */
	assert_int_equal(run(e, IN, &fin), TC_ACT_OK);
	assert_int_equal(run(e, EG, &rfin), TC_ACT_OK);
	assert_int_equal(ct_get(e->dp.map_ct, &asyn, IN, &v), 0);
	assert_int_equal(v.state, NP_TCP_SYN_ORIG | NP_TCP_SEEN_REPLY | NP_TCP_FIN_ORIG | NP_TCP_FIN_REPLY);
	v.cookie = 999;
	ct_put(e->dp.map_ct, &asyn, IN, &v);
	assert_int_equal(run(e, IN, &asyn), TC_ACT_OK);
	assert_ct(e, &asyn, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_int_equal(ct_get(e->dp.map_ct, &asyn, IN, &v), 0);
	assert_int_equal(v.state, NP_TCP_SYN_ORIG);
}

static void test_events(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN), .payload_len = 10 };
	struct np_pkt_spec spoof = { TCP4(POD_B4, 40000, PEER_EG4, 443, SYN) };
	const struct np_addr peer = PEER_IN4;
	struct np_flow_event *ev = &e->ev[0];
	uint8_t buf[256];
	int len = build(&syn, buf, sizeof(buf));

	assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_OK);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(ev->kind, NP_EV_NEW);
	assert_true(ev->ts_ns > 0);
	/* The key is the pod's view: local = the pod, remote = the peer. */
	assert_memory_equal(&ev->key.remote, &peer, sizeof(peer));
	assert_memory_equal(&ev->key.local, &a_pod_a4, sizeof(a_pod_a4));
	assert_int_equal(ev->key.remote_port, htons(40000));
	assert_int_equal(ev->key.local_port, htons(80));
	assert_int_equal(ev->key.proto, NP_PROTO_TCP);
	assert_int_equal(ev->key.ifindex, 1);
	assert_int_equal(ev->origin, IN);
	assert_int_equal(ev->dir, IN);
	assert_int_equal(ev->verdict, NP_VERDICT_ALLOW);
	assert_int_equal(ev->reason, NP_REASON_POLICY);
	assert_int_equal(ev->tcp_flags, NP_FLOW_TCP_SYN);
	assert_int_equal(ev->cookie, 100);
	assert_int_equal(ev->ep_id, EP_A);
	assert_int_equal(ev->packets[0], 1);
	assert_int_equal(ev->packets[1], 0);
	assert_int_equal(ev->bytes[0], len);
	assert_int_equal(ev->flow, NP_FLOW_LOGGED);
	assert_int_equal(ev->pad, 0);

	/* The established path is silent: no event per packet. */
	assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_OK);
	assert_int_equal(drain_events(e), 0);

	assert_int_equal(run(e, EG, &spoof), TC_ACT_SHOT);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(ev->kind, NP_EV_DENY);
	assert_int_equal(ev->reason, NP_REASON_SPOOFED);
	assert_int_equal(ev->ep_id, EP_A);
}

/* A whole TCP connection: counters per direction, flags as VPC Flow Logs
 * has them, one NEW and one END event, nothing per packet. */
static void test_flow_counters_and_end(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 40001, POD_A4, 80, SYN) };
	struct np_pkt_spec synack = { TCP4(POD_A4, 80, PEER_IN4, 40001, SYN | ACK) };
	struct np_pkt_spec data = { TCP4(PEER_IN4, 40001, POD_A4, 80, ACK), .payload_len = 100 };
	struct np_pkt_spec reply = { TCP4(POD_A4, 80, PEER_IN4, 40001, ACK), .payload_len = 1000 };
	struct np_pkt_spec fin_c = { TCP4(PEER_IN4, 40001, POD_A4, 80, FIN | ACK) };
	struct np_pkt_spec fin_s = { TCP4(POD_A4, 80, PEER_IN4, 40001, FIN | ACK) };
	uint8_t buf[2048];
	uint64_t fwd_bytes = 0, rev_bytes = 0;
	struct np_flow_event *ev = &e->ev[0];
	int len;

	len = build(&syn, buf, sizeof(buf));
	fwd_bytes += len;
	assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_OK);
	len = build(&synack, buf, sizeof(buf));
	rev_bytes += len;
	assert_int_equal(run_raw(e, EG, buf, len), TC_ACT_OK);
	for (int i = 0; i < 3; i++) {
		len = build(&data, buf, sizeof(buf));
		fwd_bytes += len;
		assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_OK);
		len = build(&reply, buf, sizeof(buf));
		rev_bytes += len;
		assert_int_equal(run_raw(e, EG, buf, len), TC_ACT_OK);
	}
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(ev->kind, NP_EV_NEW);

	len = build(&fin_c, buf, sizeof(buf));
	fwd_bytes += len;
	assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_OK);
	assert_int_equal(drain_events(e), 0); /* half closed */
	len = build(&fin_s, buf, sizeof(buf));
	rev_bytes += len;
	assert_int_equal(run_raw(e, EG, buf, len), TC_ACT_OK);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(ev->kind, NP_EV_END);
	assert_int_equal(ev->end, NP_END_FIN);
	assert_int_equal(ev->origin, IN);
	assert_int_equal(ev->dir, EG); /* seen by the egress program */
	assert_int_equal(ev->packets[0], 5);
	assert_int_equal(ev->packets[1], 5);
	assert_int_equal(ev->bytes[0], fwd_bytes);
	assert_int_equal(ev->bytes[1], rev_bytes);
	assert_int_equal(ev->tcp_flags, NP_FLOW_TCP_SYN | NP_FLOW_TCP_ACK | NP_FLOW_TCP_FIN);
	assert_int_equal(ev->cookie, 100);
	assert_true(ev->flow & NP_FLOW_ENDED);

	/* The last ACK after the close: no second end. */
	len = build(&data, buf, sizeof(buf));
	assert_int_equal(run_raw(e, IN, buf, len), TC_ACT_OK);
	assert_int_equal(drain_events(e), 0);
}

/* A long flow reports once per interval: the first packet after it. */
static void test_flow_update_per_interval(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec udp = { .src = PEER_IN4, .dst = POD_A4, .proto = NP_PROTO_UDP, .sport = 5353, .dport = 53 };
	struct np_ct_val v;

	assert_int_equal(run(e, IN, &udp), TC_ACT_OK);
	assert_int_equal(run(e, IN, &udp), TC_ACT_OK);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_NEW);
	/* Pretend the interval (60 s by default) has passed. */
	assert_int_equal(ct_get(e->dp.map_ct, &udp, IN, &v), 0);
	assert_int_equal(v.packets[0], 2);
	v.last_report -= 61 * e->dp.hz;
	ct_put(e->dp.map_ct, &udp, IN, &v);
	assert_int_equal(run(e, IN, &udp), TC_ACT_OK);
	assert_int_equal(run(e, IN, &udp), TC_ACT_OK);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_UPDATE);
	assert_int_equal(e->ev[0].packets[0], 3); /* cumulative, at the report */
	assert_int_equal(ct_get(e->dp.map_ct, &udp, IN, &v), 0);
	assert_int_equal(v.packets[0], 4);
}

/* Denied SYNs from one source over 50 ports: one aggregate, one event. */
static void test_deny_flood_is_one_aggregate(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 0, POD_A4, 81, SYN) };
	struct np_ct_key k = { .local = POD_A4, .remote = PEER_IN4, .local_port = htons(81),
			       .proto = NP_PROTO_TCP, .ifindex = 1 };
	struct np_ct_val v;

	for (int i = 0; i < 50; i++) {
		syn.sport = (uint16_t)(30000 + i);
		assert_int_equal(run(e, IN, &syn), TC_ACT_SHOT);
		assert_int_equal(run(e, IN, &syn), TC_ACT_SHOT); /* retransmit */
	}
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_DENY);
	assert_int_equal(e->ev[0].key.remote_port, 0);
	assert_int_equal(e->ev[0].eph_port, htons(30000));
	assert_int_equal(e->ev[0].reason, NP_REASON_NO_RULE);
	assert_int_equal(bpf_map_lookup_elem(e->dp.map_flow_deny, &k, &v), 0);
	assert_int_equal(v.packets[0], 100);
	assert_true(v.flow & NP_FLOW_MULTI_PORT);
	assert_int_equal(v.eph_port, 0);
	assert_int_equal(v.tcp_flags, NP_FLOW_TCP_SYN);
}

static uint64_t stat_sum(struct env *e, uint32_t stat)
{
	int n = libbpf_num_possible_cpus();
	uint64_t vals[n > 0 ? n : 1], sum = 0;

	assert_int_equal(bpf_map_lookup_elem(e->dp.map_flow_stats, &stat, vals), 0);
	for (int i = 0; i < n; i++)
		sum += vals[i];
	return sum;
}

/* Denials from 600 sources within a second: at most 500 events (the
 * default budget per CPU), every other one counted as suppressed. */
static void test_deny_event_budget(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(STRANGER4, 40000, POD_A4, 80, SYN) };
	int events = 0;

	for (int i = 0; i < 600; i++) {
		syn.src = v4(10, 9, (uint8_t)(i >> 8), (uint8_t)i);
		assert_int_equal(run(e, IN, &syn), TC_ACT_SHOT);
		if (i % 100 == 99)
			events += drain_events(e);
	}
	assert_int_equal((uint64_t)events + stat_sum(e, NP_STAT_EVENTS_SUPPRESSED), 600);
	assert_true(stat_sum(e, NP_STAT_EVENTS_SUPPRESSED) >= 100);
	assert_int_equal(stat_sum(e, NP_STAT_EVENTS_LOST), 0);
}

/* A full ring buffer loses events, counted; the packets still pass. */
static void test_ringbuf_overflow_counted(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(PEER_IN4, 0, POD_A4, 80, SYN) };
	int events;

	for (int i = 0; i < 100; i++) {
		syn.sport = (uint16_t)(20000 + i);
		assert_int_equal(run(e, IN, &syn), TC_ACT_OK);
	}
	e->n_ev = 0;
	assert_true(ring_buffer__consume(e->rb) >= 0);
	events = e->n_ev; /* e->ev keeps the first 64 only; the count is exact */
	assert_true(events > 0 && events < 100);
	assert_int_equal(stat_sum(e, NP_STAT_EVENTS_LOST), (uint64_t)(100 - events));
}

/* --flow-log rejected: allowed flows are silent (and not counted), denials
 * and audit verdicts are logged. */
static void test_flow_log_rejected(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec ok = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec denied = { TCP4(PEER_IN4, 40000, POD_A4, 81, SYN) };
	struct np_pkt_spec audited = { TCP4(STRANGER4, 40000, POD_C4, 81, SYN) };
	struct np_ct_val v;

	assert_int_equal(run(e, IN, &ok), TC_ACT_OK);
	assert_int_equal(drain_events(e), 0);
	assert_int_equal(ct_get(e->dp.map_ct, &ok, IN, &v), 0);
	assert_int_equal(v.flow, 0);
	assert_int_equal(v.packets[0], 0);
	assert_int_equal(run(e, IN, &denied), TC_ACT_SHOT);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_DENY);
	assert_int_equal(run(e, IN, &audited), TC_ACT_OK);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].kind, NP_EV_NEW);
	assert_int_equal(e->ev[0].verdict, NP_VERDICT_AUDIT);
}

/* --flow-log none: only audit verdicts. */
static void test_flow_log_none(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec ok = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec denied = { TCP4(PEER_IN4, 40000, POD_A4, 81, SYN) };
	struct np_pkt_spec audited = { TCP4(STRANGER4, 40000, POD_C4, 81, SYN) };

	assert_int_equal(run(e, IN, &ok), TC_ACT_OK);
	assert_int_equal(run(e, IN, &denied), TC_ACT_SHOT);
	assert_int_equal(drain_events(e), 0);
	assert_int_equal(map_count(e->dp.map_flow_deny, sizeof(struct np_ct_key)), 0);
	assert_int_equal(run(e, IN, &audited), TC_ACT_OK);
	assert_int_equal(drain_events(e), 1);
	assert_int_equal(e->ev[0].verdict, NP_VERDICT_AUDIT);
}

static void test_unknown_iface_default(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec syn = { TCP4(POD_A4, 40000, STRANGER4, 80, SYN) };
	uint32_t ifindex = 1;

	assert_int_equal(bpf_map_delete_elem(e->dp.map_ifaces, &ifindex), 0);
	assert_int_equal(run(e, EG, &syn), TC_ACT_OK);
	assert_no_state(e);
}

static void test_deny_unknown(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec in = { TCP4(STRANGER4, 40000, UNKNOWN4, 80, SYN) };
	struct np_pkt_spec node = { TCP4(NODE4, 40000, UNKNOWN4, 80, SYN) };
	struct np_pkt_spec eg = { TCP4(POD_A4, 40000, STRANGER4, 80, SYN) };
	struct np_pkt_spec ok = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	uint32_t ifindex = 1;

	assert_int_equal(run(e, IN, &in), TC_ACT_SHOT);
	assert_denied(e, &in, IN, NP_REASON_UNKNOWN_POD);
	assert_int_equal(run(e, IN, &node), TC_ACT_OK);
	assert_ct(e, &node, IN, NP_VERDICT_ALLOW, NP_REASON_NODE, IN, 0);
	assert_int_equal(run(e, IN, &ok), TC_ACT_OK); /* known pods unaffected */

	assert_int_equal(bpf_map_delete_elem(e->dp.map_ifaces, &ifindex), 0);
	assert_int_equal(run(e, EG, &eg), TC_ACT_SHOT);
	assert_int_equal(ct_get(e->dp.map_ct, &eg, EG, &(struct np_ct_val){ 0 }), -ENOENT);
}

static void test_audit_all(void **state)
{
	struct env *e = *state;
	struct np_pkt_spec denied = { TCP4(PEER_IN4, 40000, POD_A4, 81, SYN) };
	struct np_pkt_spec allowed = { TCP4(PEER_IN4, 40000, POD_A4, 80, SYN) };
	struct np_pkt_spec eg = { TCP4(POD_A4, 40000, PEER_EG4, 80, SYN) };

	assert_int_equal(run(e, IN, &denied), TC_ACT_OK);
	assert_ct(e, &denied, IN, NP_VERDICT_AUDIT, NP_REASON_NO_RULE, IN, 0);
	assert_int_equal(run(e, IN, &allowed), TC_ACT_OK);
	assert_ct(e, &allowed, IN, NP_VERDICT_ALLOW, NP_REASON_POLICY, IN, 100);
	assert_int_equal(run(e, EG, &eg), TC_ACT_OK);
	assert_ct(e, &eg, EG, NP_VERDICT_AUDIT, NP_REASON_NO_RULE, EG, 0);
	assert_int_equal(map_count(e->dp.map_ct_deny, sizeof(struct np_ct_key)), 0);
	/* Spoofing is never audited. */
	denied.src = a_pod_b4;
	denied.dst = (struct np_addr)PEER_EG4;
	assert_int_equal(run(e, EG, &denied), TC_ACT_SHOT);
}

static void test_gen_and_hz(void **state)
{
	struct env *e = *state;
	unsigned int hz = 0, measured = 0;
	uint32_t gen;

	assert_int_equal(np_datapath_gen(&e->dp, &gen), 0);
	assert_int_equal(gen, 0);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(np_datapath_bump_gen(&e->dp), 0);
	assert_int_equal(np_datapath_gen(&e->dp, &gen), 0);
	assert_int_equal(gen, 2);

	assert_int_equal(np_kernel_hz(&hz), 0);
	assert_true(hz == 100 || hz == 250 || hz == 300 || hz == 1000);
	assert_int_equal(e->dp.hz, hz);
	assert_int_equal(np_kernel_hz_measure(&measured), 0);
	assert_int_equal(measured, hz);
}

static void test_load_errors(void **state)
{
	struct np_datapath dp;
	struct np_load_opts o;

	(void)state;
	np_load_opts_default(&o);
	o.ringbuf_bytes = 12345; /* not a power of two */
	assert_int_equal(np_datapath_load(&dp, &o), -EINVAL);
	assert_null(dp.skel);
	assert_int_equal(dp.prog_ingress, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spoof_cannot_use_other_pods_entries, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_table, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_reply_both_directions, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_pickup, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_fragments, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_vlan, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_echo_reply, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_policy_change_cut, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_families, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_ingress_only, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_egress_only, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_udp, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_related, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_deny_cache, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_reopen, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_flow_counters_and_end, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_flow_update_per_interval, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_deny_flood_is_one_aggregate, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_deny_event_budget, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_ringbuf_overflow_counted, setup_tiny_ringbuf, teardown),
		cmocka_unit_test_setup_teardown(test_flow_log_rejected, setup_log_rejected, teardown),
		cmocka_unit_test_setup_teardown(test_flow_log_none, setup_log_none, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_iface_default, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_deny_unknown, setup_deny_unknown, teardown),
		cmocka_unit_test_setup_teardown(test_audit_all, setup_audit_all, teardown),
		cmocka_unit_test_setup_teardown(test_gen_and_hz, setup_default, teardown),
		cmocka_unit_test(test_load_errors),
	};

	if (getenv("NP_TEST_DEBUG"))
		np_log_set_level(NP_LOG_DEBUG);
	np_log_hook_libbpf();
	return cmocka_run_group_tests_name("datapath", tests, NULL, NULL);
}
