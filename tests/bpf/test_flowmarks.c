// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Durable marks (flowmark.c) through the flow pipeline (flowlog.c,
 * flowrecover.c) on real BPF maps: the datapath's own conntrack maps and a
 * np_flow_mark map made here.  Needs root (maps), no program is run.
 *
 * The rule under test: a mark goes only once every record made before is
 * durable.  A mark whose flow vanished while no agent ran is what lets the
 * next agent report the loss (SKIPDATA evictedFlows); deleting it before
 * that report is durable made a second kill -9 lose it without a trace.
 */
#define _GNU_SOURCE
#include <errno.h>
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

#include "model.h"
#include "flowlog.h"
#include "flowmark.h"
#include "loader.h"
#include "sink.h"

/* A sink that takes everything and says how far it is durable. */
struct held_sink {
	struct np_sink sink;
	uint64_t pending;  /* pending_seq's answer */
	size_t n;
	char *lines[16];
};

static size_t held_offer(struct np_sink *s, struct np_rec *recs, size_t n)
{
	struct held_sink *h = (struct held_sink *)s;

	for (size_t i = 0; i < n; i++) {
		assert_true(h->n < 16);
		if (h->pending == UINT64_MAX)
			h->pending = recs[i].seq; /* in memory until told */
		h->lines[h->n++] = recs[i].line;
		recs[i].line = NULL;
	}
	s->stats.accepted += n;
	return n;
}

static uint64_t held_pending(struct np_sink *s)
{
	return ((struct held_sink *)s)->pending;
}

static void held_destroy(struct np_sink *s)
{
	struct held_sink *h = (struct held_sink *)s;

	for (size_t i = 0; i < h->n; i++)
		free(h->lines[i]);
}

static struct np_flow_key flow_key(uint16_t rport)
{
	struct np_flow_key k;

	memset(&k, 0, sizeof(k));
	k.ct.local_port = htons(443);
	k.ct.remote_port = htons(rport);
	k.ct.proto = NP_PROTO_TCP;
	k.ct.ifindex = 5;
	np_addr_parse("10.244.1.10", &k.ct.local);
	np_addr_parse("10.250.0.5", &k.ct.remote);
	return k;
}

static void test_orphan_mark_kept_until_its_report_is_durable(void **state)
{
	struct held_sink hs = { .sink = { .name = "held", .offer = held_offer,
					  .pending_seq = held_pending, .destroy = held_destroy },
				.pending = UINT64_MAX };
	struct np_sink *sinks[1] = { &hs.sink };
	struct np_flowlog_opts fo = { .node = "n1", .interval_s = 60, .queue_max = 100 };
	struct np_flow_mark mk = { .created = 5, .end_ns = 1, .packets = { 3, 2 } }, got;
	struct np_flow_key k = flow_key(47001);
	struct np_flowlog_recovery rec;
	struct np_datapath dp;
	struct np_load_opts o;
	struct np_flowlog fl;
	int mark_fd;

	(void)state;
	np_load_opts_default(&o);
	o.flow_log = NP_FLOW_LOG_ALL;
	o.max_endpoints = o.max_ifaces = o.max_node_addrs = 64;
	o.max_peers = o.max_ports = 64;
	o.max_ct = o.max_ct_deny = o.max_frags = o.max_flow_deny = 256;
	assert_int_equal(np_datapath_load(&dp, &o), 0);
	mark_fd = bpf_map_create(BPF_MAP_TYPE_HASH, NP_FLOW_MARK_MAP, sizeof(struct np_flow_key),
				 sizeof(struct np_flow_mark), 256, NULL);
	assert_true(mark_fd >= 0);
	/* A flow the previous agent had reported in part, whose kernel entry
	 * is gone (evicted while no agent ran). */
	assert_int_equal(bpf_map_update_elem(mark_fd, &k, &mk, BPF_ANY), 0);

	assert_int_equal(np_flowlog_init(&fl, &fo, &dp, sinks, 1), 0);
	assert_int_equal(np_flowlog_recover(&fl, dup(mark_fd), &rec), 0);
	assert_int_equal(rec.evicted, 1);
	assert_int_equal(bpf_map_lookup_elem(mark_fd, &k, &got), 0); /* kept */

	/* The first interval reports it; the report is only in memory. */
	np_flowlog_flush(&fl, false);
	assert_int_equal(hs.n, 1);
	assert_non_null(strstr(hs.lines[0], "\"evictedFlows\":1"));
	np_flowlog_settle(&fl);
	assert_int_equal(bpf_map_lookup_elem(mark_fd, &k, &got), 0); /* still kept */

	/* Durable now: the mark goes. */
	hs.pending = UINT64_MAX - 1;
	np_flowlog_settle(&fl);
	assert_int_not_equal(bpf_map_lookup_elem(mark_fd, &k, &got), 0);

	np_flowlog_close(&fl, 0);
	close(mark_fd);
	np_datapath_close(&dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orphan_mark_kept_until_its_report_is_durable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
