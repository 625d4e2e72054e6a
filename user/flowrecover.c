// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Taking the flows over after a restart (flowlog.h np_flowlog_recover).
 *
 * The previous agent may have been killed (kill -9, OOM) with records in
 * memory.  What it had not yet reported for good is still in the kernel:
 * the ring buffer (pinned) holds the events it had not read, each logged
 * conntrack entry and denial aggregate (pinned) its cumulative counters,
 * and np_flow_mark how far durable records covered each flow.  So: read
 * the leftover events, then adopt every logged entry from its mark on;
 * marked flows whose entry vanished while no agent ran (LRU eviction) are
 * counted and reported in SKIPDATA (evictedFlows).
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowlog.h"
#include "loader.h"
#include "log.h"
#include "vec.h"

#define NS_PER_S 1000000000ull

struct clocks {
	uint64_t unix_ns;
	__u64 jiffies; /* 0: unknown */
	unsigned int hz;
};

/* Unix ns of the kernel time J (jiffies64). */
static uint64_t unix_of(const struct clocks *c, __u64 j)
{
	uint64_t ago;

	if (!c->jiffies || !c->hz || j > c->jiffies)
		return c->unix_ns;
	ago = (c->jiffies - j) * (NS_PER_S / c->hz);
	return ago < c->unix_ns ? c->unix_ns - ago : c->unix_ns;
}

/* Adopt every logged entry of the kernel map FD (DENY: np_flow_deny). */
static int adopt_map(struct np_flowlog *fl, int fd, bool deny, const struct clocks *c,
		     uint64_t *oldest_ns, struct np_flowlog_recovery *out)
{
	struct np_ct_key key, next, *prev = NULL;
	struct np_ct_val v;
	int ret = 0;

	while (!ret && bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct np_flow_key k;
		struct np_flow_mark mk;
		struct np_flow_counts rep;
		bool marked;
		uint64_t first;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) || !(v.flow & NP_FLOW_LOGGED))
			continue;
		memset(&k, 0, sizeof(k));
		k.ct = key;
		k.deny = deny;
		marked = np_flow_marks_get(&fl->marks, &k, &mk) == 0 && mk.created == v.created;
		if (marked && (mk.flags & NP_FLOW_MARK_ENDED)) {
			out->done++; /* its last record is durable */
			continue;
		}
		if (marked) {
			memcpy(rep.bytes, mk.bytes, sizeof(rep.bytes));
			memcpy(rep.packets, mk.packets, sizeof(rep.packets));
			first = mk.end_ns;
			out->marked++;
		} else {
			first = unix_of(c, v.created);
		}
		ret = np_flow_agg_adopt(&fl->agg, &k, &v, marked ? &rep : NULL, first,
					unix_of(c, v.last_seen), fl->now_ms);
		if (!ret) {
			out->flows++;
			if (first < *oldest_ns)
				*oldest_ns = first;
		}
	}
	return ret;
}

/* Marks whose flow is no longer in the kernel: evicted (or deleted by the
 * datapath, whose end event the ring buffer may still have had). */
static int settle_orphans(struct np_flowlog *fl, struct np_flowlog_recovery *out)
{
	struct np_flow_key key, next, *prev = NULL;
	struct np_flow_mark mk;
	struct np_ct_val v;
	int ret = 0;

	while (!ret && bpf_map_get_next_key(fl->marks.fd, prev, &next) == 0) {
		struct np_flow *f;
		int fd;

		key = next;
		prev = &key;
		if (key.deny > 1 || bpf_map_lookup_elem(fl->marks.fd, &key, &mk))
			continue;
		fd = key.deny ? fl->map_flow_deny : fl->map_ct;
		if (bpf_map_lookup_elem(fd, &key.ct, &v) == 0 && v.created == mk.created)
			continue; /* adopted above */
		f = np_flow_agg_find(&fl->agg, &key);
		if (f && !f->created) {
			/* Known from leftover events only (its end, say): report
			 * what the mark does not cover. */
			memcpy(f->rep.bytes, mk.bytes, sizeof(f->rep.bytes));
			memcpy(f->rep.packets, mk.packets, sizeof(f->rep.packets));
			f->created = mk.created;
			f->fresh = false;
			f->recovered = true;
		} else if (!(mk.flags & NP_FLOW_MARK_ENDED) && (!f || f->created != mk.created)) {
			/* Gone, or its key now another flow's: the counters
			 * after the mark are lost. */
			out->evicted++;
		}
		/* The mark stays until the records made from it (or the
		 * SKIPDATA counting it) are durable: the sweep after the
		 * first interval removes it (np_flowlog_settle). */
	}
	return ret;
}

static void load_meta(struct np_flowlog *fl)
{
	struct np_flow_key k;
	struct np_flow_mark mk;

	np_flow_marks_meta_key(&k);
	if (np_flow_marks_get(&fl->marks, &k, &mk))
		return;
	fl->reported_lost = mk.bytes[0];
	fl->reported_suppressed = mk.bytes[1];
}

int np_flowlog_recover(struct np_flowlog *fl, int mark_fd, struct np_flowlog_recovery *out)
{
	struct clocks c = { 0 };
	struct timespec ts;
	uint64_t oldest = UINT64_MAX, events_before = fl->st.events;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (mark_fd < 0 || fl->map_ct < 0 || !fl->n_sinks) {
		/* nothing to recover into, or nowhere to report */
		if (mark_fd >= 0)
			close(mark_fd);
		goto cleanup;
	}
	np_flow_marks_init(&fl->marks, mark_fd, fl->map_ct, fl->map_flow_deny);
	/* 1. what the previous agent had not read */
	np_flowlog_read_events(fl);
	out->events = fl->st.events - events_before;
	clock_gettime(CLOCK_REALTIME, &ts);
	c.unix_ns = (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
	c.hz = fl->hz;
	if (np_kernel_jiffies(&c.jiffies))
		c.jiffies = 0; /* times then read as "now" */
	/* 2. every logged flow the kernel holds, from its mark on */
	ret = adopt_map(fl, fl->map_ct, false, &c, &oldest, out);
	if (!ret && fl->map_flow_deny >= 0)
		ret = adopt_map(fl, fl->map_flow_deny, true, &c, &oldest, out);
	/* 3. marked flows the kernel lost */
	if (!ret)
		ret = settle_orphans(fl, out);
	if (ret) {
		np_err("taking over the flows of the previous agent failed: %s; records of the flows it had not reported may be missing",
		       strerror(-ret));
		goto cleanup;
	}
	load_meta(fl);
	fl->st.evicted_flows += out->evicted;
	/* The first interval reaches back to the oldest unreported packet. */
	if (oldest < fl->interval_start_ns)
		fl->interval_start_ns = oldest;
	if (out->flows || out->events || out->evicted)
		np_info("flow logs: took over %llu flows from the kernel (%llu reported in part before), %llu unread events; %llu flows were evicted with counters unreported (reported as SKIPDATA evictedFlows)",
			(unsigned long long)out->flows, (unsigned long long)out->marked,
			(unsigned long long)out->events, (unsigned long long)out->evicted);
cleanup:
	return ret;
}
