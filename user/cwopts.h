/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's CloudWatch Logs flags, their environment variables and the
 * sink they describe, kept here so the daemon only forwards options:
 *
 *   struct option *all = np_cwopts_longopts(agent_longopts);   (merged table)
 *   default: r = np_cwopts_parse(&cwo, opt, optarg); (1 handled, 0 not ours)
 *   after parsing: np_cwopts_finish(&cwo);   (environment, defaults, checks)
 *   if (cwo.enabled) sink = np_cwopts_sink(&cwo, loop);
 */
#ifndef NP_CWOPTS_H
#define NP_CWOPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cwlogs.h"
#include "evloop.h"
#include "sink.h"

/* getopt_long values of our options (outside the ASCII range). */
enum {
	NP_CWOPT_BASE = 0x4300,
	NP_CWOPT_ENABLE = NP_CWOPT_BASE,
	NP_CWOPT_GROUP,
	NP_CWOPT_STREAM,
	NP_CWOPT_REGION,
	NP_CWOPT_ENDPOINT,
	NP_CWOPT_CREATE,
	NP_CWOPT_SPOOL_DIR,
	NP_CWOPT_SPOOL_MAX,
	NP_CWOPT_FLUSH_DELAY,
	NP_CWOPT_CLUSTER,
	NP_CWOPT_QUEUE_MAX,
	NP_CWOPT_TIMEOUT,
	NP_CWOPT_RETRY_BASE,
	NP_CWOPT_NO_EMF,
	NP_CWOPT_END,
};

struct np_cwopts {
	bool enabled;  /* any CloudWatch flag, or --cloudwatch */
	bool create;
	const char *group, *stream, *region, *endpoint, *spool_dir, *cluster, *node;
	uint64_t spool_max_bytes, queue_max_bytes;
	uint32_t flush_delay_ms;
	long request_timeout_ms;
	uint32_t retry_base_ms;
	uint32_t emf_interval_s;    /* set by the agent: --flow-interval; 0: no EMF */
	bool no_emf;                /* --cloudwatch-no-metrics */
	char *group_buf, *node_buf; /* defaults we built */
};

/* BASE (terminated by a zero entry) followed by our options; malloc'ed. */
struct option *np_cwopts_longopts(const struct option *base);
/* 1: OPT was ours and is stored; 0: not ours; -EINVAL: bad value (logged). */
int np_cwopts_parse(struct np_cwopts *o, int opt, const char *arg);
/* Environment for what flags left unset, then defaults: region from
 * AWS_REGION/AWS_DEFAULT_REGION, endpoint from
 * AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, group /aws/eks/<cluster>/netpol-flows,
 * stream = NODE (or NODE_NAME, or the host name).  0 or -EINVAL (logged). */
int np_cwopts_finish(struct np_cwopts *o, const char *node);
void np_cwopts_usage(FILE *f);
struct np_sink *np_cwopts_sink(const struct np_cwopts *o, struct np_loop *loop);
void np_cwopts_free(struct np_cwopts *o);

#endif
