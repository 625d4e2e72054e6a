// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Flow records as JSON lines: see flowrec.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "flowrec.h"
#include "model.h"
#include "verdict.h"

#define NS_PER_S 1000000000ull

const char *np_flow_action_name(uint8_t verdict)
{
	switch (verdict) {
	case NP_VERDICT_ALLOW:
		return "ACCEPT";
	case NP_VERDICT_AUDIT:
		return "AUDIT";
	default:
		return "REJECT";
	}
}

const char *np_flow_end_name(uint8_t end)
{
	switch (end) {
	case NP_FLOW_END_FIN:
		return "fin";
	case NP_FLOW_END_RST:
		return "rst";
	case NP_FLOW_END_TIMEOUT:
		return "timeout";
	case NP_FLOW_END_CUT:
		return "cut";
	case NP_FLOW_END_GONE:
		return "evicted";
	case NP_FLOW_END_REPLACED:
		return "replaced";
	default:
		return NULL;
	}
}

/* ,"KEY": with KEY a string literal: no strlen, one copy. */
#define KEY(b, lit) np_sb_add((b), ",\"" lit "\":", sizeof(",\"" lit "\":") - 1)
#define key_str(b, lit, val) do { KEY(b, lit); np_sb_json_str((b), (val)); } while (0)
#define key_u64(b, lit, val) do { KEY(b, lit); np_sb_u64((b), (val)); } while (0)

/* a.b.c.d without printf (this runs for every record). */
static size_t v4_str(const struct np_addr *a, char *out)
{
	char *p = out;

	for (int i = 12; i < 16; i++) {
		unsigned int v = a->b[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = '.';
	}
	p[-1] = '\0';
	return (size_t)(p - 1 - out);
}

static void addr_value(struct np_strbuf *b, const struct np_addr *a)
{
	char s[INET6_ADDRSTRLEN + 2];
	size_t n;

	s[0] = '"';
	if (np_addr_is_v4(a)) {
		n = v4_str(a, s + 1);
	} else {
		np_addr_str(a, s + 1, sizeof(s) - 2);
		n = strlen(s + 1);
	}
	s[n + 1] = '"';
	np_sb_add(b, s, n + 2);
}

#define key_addr(b, lit, a) do { KEY(b, lit); addr_value((b), (a)); } while (0)

static void head(struct np_strbuf *b, const struct np_flow_rec_ctx *c)
{
	np_sb_reserve(b, 512);
	np_sb_add(b, "{\"version\":", 11);
	np_sb_u64(b, NP_FLOW_RECORD_VERSION);
	if (c->node)
		key_str(b, "node", c->node);
}

/* srcPod/srcNamespace (SRC) or dstPod/dstNamespace of the pod owning A. */
static void pod_fields(struct np_strbuf *b, const struct np_flow_rec_ctx *c,
		       const struct np_addr *a, bool src)
{
	const struct np_meta_pod *p = c->meta ? np_flow_meta_pod(c->meta, a) : NULL;

	if (!p)
		return;
	if (src) {
		key_str(b, "srcPod", p->name);
		key_str(b, "srcNamespace", p->ns);
	} else {
		key_str(b, "dstPod", p->name);
		key_str(b, "dstNamespace", p->ns);
	}
}

/* ACCEPT: the rule that allowed it.  REJECT/AUDIT: the policies that
 * isolate the pod in the flow's direction (none may allow it). */
static void policy_fields(struct np_strbuf *b, const struct np_flow_rec_ctx *c,
			  const struct np_flow *f)
{
	if (!c->meta)
		return;
	if (f->verdict == NP_VERDICT_ALLOW) {
		const struct np_meta_rule *r = f->cookie ? np_flow_meta_rule(c->meta, f->cookie) : NULL;

		if (r) {
			key_str(b, "policy", r->policy);
			key_str(b, "policyRule", r->rule);
		}
	} else {
		const struct np_meta_ep *ep = np_flow_meta_ep(c->meta, f->ep_id);

		if (ep && ep->isolating[f->origin & 1])
			key_str(b, "policy", ep->isolating[f->origin & 1]);
	}
}

void np_flow_rec_json(struct np_strbuf *b, const struct np_flow_rec_ctx *c,
		      const struct np_flow_result *r)
{
	const struct np_flow *f = r->flow;
	const struct np_ct_key *k = &f->key.ct;
	bool egress = (f->origin & 1) == NP_DIR_EGRESS;
	const struct np_addr *src = egress ? &k->local : &k->remote;
	const struct np_addr *dst = egress ? &k->remote : &k->local;
	uint16_t sport = egress ? k->local_port : k->remote_port;
	uint16_t dport = egress ? k->remote_port : k->local_port;
	const char *ifn = c->ifname ? c->ifname(c->ifname_ctx, k->ifindex) : "";
	const char *end = f->ended ? np_flow_end_name(f->end) : NULL;
	char id[17];

	if (f->key.deny && !(f->flow_bits & NP_FLOW_MULTI_PORT))
		sport = f->eph_port; /* the aggregate's only client port */
	head(b, c);
	if (ifn && *ifn)
		key_str(b, "interfaceId", ifn);
	key_str(b, "flowDirection", egress ? "egress" : "ingress");
	key_addr(b, "srcAddr", src);
	key_u64(b, "srcPort", ntohs(sport));
	key_addr(b, "dstAddr", dst);
	key_u64(b, "dstPort", ntohs(dport));
	key_u64(b, "protocol", k->proto);
	key_u64(b, "packets", (uint64_t)r->delta.packets[0] + r->delta.packets[1]);
	key_u64(b, "bytes", r->delta.bytes[0] + r->delta.bytes[1]);
	key_u64(b, "replyPackets", r->delta.packets[1]);
	key_u64(b, "replyBytes", r->delta.bytes[1]);
	key_u64(b, "start", r->start_ns / NS_PER_S);
	key_u64(b, "end", (r->end_ns + NS_PER_S - 1) / NS_PER_S);
	key_str(b, "action", np_flow_action_name(f->verdict));
	key_str(b, "logStatus", "OK");
	key_u64(b, "tcpFlags", k->proto == NP_PROTO_TCP ? r->tcp_flags : 0);
	pod_fields(b, c, src, true);
	pod_fields(b, c, dst, false);
	policy_fields(b, c, f);
	key_str(b, "reason", np_reason_name(f->reason));
	if (f->key.deny && (f->flow_bits & NP_FLOW_MULTI_PORT))
		key_str(b, "srcPorts", "many");
	if (end)
		key_str(b, "flowEnd", end);
	np_flow_rec_id(c, f, id);
	key_str(b, "recordId", id);
	if (f->recovered)
		np_sb_add(b, ",\"recovered\":true", 17);
	np_sb_add(b, "}", 1);
}

/* FNV-1a, 64 bits: stable across builds and machines, which is all an id
 * for deduplication needs (it is no defence against forgery). */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void np_flow_rec_id(const struct np_flow_rec_ctx *c, const struct np_flow *f, char *out)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint64_t at[4] = { f->rep.bytes[0], f->rep.bytes[1], f->rep.packets[0], f->rep.packets[1] };

	if (c->node)
		h = fnv1a(h, c->node, strlen(c->node) + 1);
	h = fnv1a(h, &f->key, sizeof(f->key));
	h = fnv1a(h, &f->created, sizeof(f->created));
	h = fnv1a(h, at, sizeof(at));
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

void np_flow_rec_skipdata(struct np_strbuf *b, const struct np_flow_rec_ctx *c,
			  uint64_t start_ns, uint64_t end_ns, uint64_t lost_events,
			  uint64_t suppressed_events, uint64_t dropped_records,
			  uint64_t evicted_flows)
{
	head(b, c);
	key_u64(b, "start", start_ns / NS_PER_S);
	key_u64(b, "end", (end_ns + NS_PER_S - 1) / NS_PER_S);
	key_str(b, "logStatus", "SKIPDATA");
	key_u64(b, "skippedEvents", lost_events + suppressed_events);
	key_u64(b, "lostEvents", lost_events);
	key_u64(b, "suppressedEvents", suppressed_events);
	key_u64(b, "droppedRecords", dropped_records);
	key_u64(b, "evictedFlows", evicted_flows);
	np_sb_add(b, "}", 1);
}
