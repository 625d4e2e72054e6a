// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The agent's CloudWatch flags: see cwopts.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awscreds.h"
#include "cwopts.h"
#include "log.h"

static const struct option cw_longopts[] = {
	{ "cloudwatch", no_argument, NULL, NP_CWOPT_ENABLE },
	{ "cloudwatch-log-group", required_argument, NULL, NP_CWOPT_GROUP },
	{ "cloudwatch-log-stream", required_argument, NULL, NP_CWOPT_STREAM },
	{ "aws-region", required_argument, NULL, NP_CWOPT_REGION },
	{ "cloudwatch-endpoint", required_argument, NULL, NP_CWOPT_ENDPOINT },
	{ "cloudwatch-create", no_argument, NULL, NP_CWOPT_CREATE },
	{ "spool-dir", required_argument, NULL, NP_CWOPT_SPOOL_DIR },
	{ "spool-max-bytes", required_argument, NULL, NP_CWOPT_SPOOL_MAX },
	{ "cloudwatch-flush-delay", required_argument, NULL, NP_CWOPT_FLUSH_DELAY },
	{ "cluster-name", required_argument, NULL, NP_CWOPT_CLUSTER },
	{ "cloudwatch-queue-bytes", required_argument, NULL, NP_CWOPT_QUEUE_MAX },
	{ "cloudwatch-timeout", required_argument, NULL, NP_CWOPT_TIMEOUT },
	{ "cloudwatch-retry-base", required_argument, NULL, NP_CWOPT_RETRY_BASE },
	{ "cloudwatch-no-metrics", no_argument, NULL, NP_CWOPT_NO_EMF },
};

#define N_CW_OPTS (sizeof(cw_longopts) / sizeof(cw_longopts[0]))

struct option *np_cwopts_longopts(const struct option *base)
{
	size_t n = 0;
	struct option *all;

	while (base[n].name)
		n++;
	all = calloc(n + N_CW_OPTS + 1, sizeof(*all));
	if (!all)
		return NULL;
	memcpy(all, base, n * sizeof(*all));
	memcpy(all + n, cw_longopts, sizeof(cw_longopts));
	return all;
}

/* "N", "Nk", "NM", "NG" (powers of 1024) -> bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned sh = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		sh = 10, end++;
	else if (*end == 'M')
		sh = 20, end++;
	else if (*end == 'G')
		sh = 30, end++;
	if (*end || (sh && v > (UINT64_MAX >> sh)))
		return -EINVAL;
	*out = (uint64_t)v << sh;
	return 0;
}

/* Seconds with an optional fraction ("5", "0.2") -> ms. */
static int parse_seconds_ms(const char *s, uint64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0.001 || v > 86400)
		return -EINVAL;
	*out = (uint64_t)(v * 1000 + 0.5);
	return 0;
}

int np_cwopts_parse(struct np_cwopts *o, int opt, const char *arg)
{
	uint64_t v;

	if (opt < NP_CWOPT_BASE || opt >= NP_CWOPT_END)
		return 0;
	if (opt != NP_CWOPT_CLUSTER && opt != NP_CWOPT_REGION && opt != NP_CWOPT_SPOOL_DIR &&
	    opt != NP_CWOPT_SPOOL_MAX)
		o->enabled = true;
	switch (opt) {
	case NP_CWOPT_GROUP:
		o->group = arg;
		break;
	case NP_CWOPT_STREAM:
		o->stream = arg;
		break;
	case NP_CWOPT_REGION:
		o->region = arg;
		break;
	case NP_CWOPT_ENDPOINT:
		o->endpoint = arg;
		break;
	case NP_CWOPT_CREATE:
		o->create = true;
		break;
	case NP_CWOPT_NO_EMF:
		o->no_emf = true;
		break;
	case NP_CWOPT_SPOOL_DIR:
		o->spool_dir = arg;
		break;
	case NP_CWOPT_CLUSTER:
		o->cluster = arg;
		break;
	case NP_CWOPT_SPOOL_MAX:
	case NP_CWOPT_QUEUE_MAX:
		if (parse_size(arg, &v) < 0 || v < 4096) {
			np_err("--%s %s: expected a size in bytes of at least 4096 (suffixes k, M, G)",
			       opt == NP_CWOPT_SPOOL_MAX ? "spool-max-bytes" : "cloudwatch-queue-bytes", arg);
			return -EINVAL;
		}
		if (opt == NP_CWOPT_SPOOL_MAX)
			o->spool_max_bytes = v;
		else
			o->queue_max_bytes = v;
		break;
	case NP_CWOPT_FLUSH_DELAY:
	case NP_CWOPT_TIMEOUT:
	case NP_CWOPT_RETRY_BASE:
		if (parse_seconds_ms(arg, &v) < 0) {
			np_err("--%s %s: expected seconds, e.g. 5 or 0.5",
			       opt == NP_CWOPT_TIMEOUT ? "cloudwatch-timeout" :
			       opt == NP_CWOPT_RETRY_BASE ? "cloudwatch-retry-base" : "cloudwatch-flush-delay",
			       arg);
			return -EINVAL;
		}
		if (opt == NP_CWOPT_TIMEOUT)
			o->request_timeout_ms = (long)v;
		else if (opt == NP_CWOPT_RETRY_BASE)
			o->retry_base_ms = (uint32_t)v;
		else
			o->flush_delay_ms = (uint32_t)v;
		break;
	default:
		break;
	}
	return 1;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int np_cwopts_finish(struct np_cwopts *o, const char *node)
{
	const char *v;
	char host[HOST_NAME_MAX + 1];

	if ((v = env("NETPOL_CLOUDWATCH")) && !strcmp(v, "1"))
		o->enabled = true;
	if (!o->group && (o->group = env("NETPOL_CLOUDWATCH_LOG_GROUP")))
		o->enabled = true;
	if (!o->stream)
		o->stream = env("NETPOL_CLOUDWATCH_LOG_STREAM");
	if (!o->spool_dir)
		o->spool_dir = env("NETPOL_SPOOL_DIR");
	if (!o->cluster)
		o->cluster = env("CLUSTER_NAME");
	if (!o->region)
		o->region = env("AWS_REGION");
	if (!o->region)
		o->region = env("AWS_DEFAULT_REGION");
	if (!o->endpoint)
		o->endpoint = env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS");
	if (!o->spool_max_bytes && (v = env("NETPOL_SPOOL_MAX_BYTES")) &&
	    parse_size(v, &o->spool_max_bytes) < 0) {
		np_err("NETPOL_SPOOL_MAX_BYTES=%s: expected a size in bytes", v);
		return -EINVAL;
	}
	if (!o->enabled)
		return 0;
	if (!o->region) {
		np_err("CloudWatch Logs: no region; pass --aws-region or set AWS_REGION");
		return -EINVAL;
	}
	if (o->endpoint) {
		char why[600];

		if (np_aws_url_check(o->endpoint, false, why, sizeof(why)) < 0) {
			np_err("--cloudwatch-endpoint %s", why);
			return -EINVAL;
		}
	}
	o->node = node ? node : env("NODE_NAME");
	if (!o->node) {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "unknown-node");
		host[sizeof(host) - 1] = 0;
		o->node_buf = strdup(host);
		if (!o->node_buf)
			return -ENOMEM;
		o->node = o->node_buf;
	}
	if (!o->stream)
		o->stream = o->node;
	if (!o->group) {
		if (!o->cluster) {
			np_err("CloudWatch Logs: no log group; pass --cloudwatch-log-group, or "
			       "--cluster-name (or CLUSTER_NAME) for /aws/eks/<cluster>/netpol-flows");
			return -EINVAL;
		}
		if (asprintf(&o->group_buf, "/aws/eks/%s/netpol-flows", o->cluster) < 0) {
			o->group_buf = NULL;
			return -ENOMEM;
		}
		o->group = o->group_buf;
	}
	return 0;
}

void np_cwopts_usage(FILE *f)
{
	fputs("CloudWatch Logs (flow records shipped with PutLogEvents; credentials from the\n"
	      "AWS chain: env keys, IRSA, EKS Pod Identity, IMDSv2):\n"
	      "  --cloudwatch        ship with the defaults below           env NETPOL_CLOUDWATCH=1\n"
	      "  --cloudwatch-log-group NAME  (default /aws/eks/<cluster>/netpol-flows)\n"
	      "                                                  env NETPOL_CLOUDWATCH_LOG_GROUP\n"
	      "  --cloudwatch-log-stream NAME (default the node name) env NETPOL_CLOUDWATCH_LOG_STREAM\n"
	      "  --cluster-name NAME for the default group          env CLUSTER_NAME\n"
	      "  --aws-region REGION (default AWS_REGION, then AWS_DEFAULT_REGION)\n"
	      "  --cloudwatch-endpoint URL  http:// or https:// (default\n"
	      "                      https://logs.<region>.amazonaws.com)  env AWS_ENDPOINT_URL_CLOUDWATCH_LOGS\n"
	      "  --cloudwatch-create create the log group and stream when missing\n"
	      "  --cloudwatch-flush-delay SECONDS  longest wait before a partial batch is sent\n"
	      "                      (default 5)\n"
	      "  --cloudwatch-queue-bytes N  memory for records waiting (default 8M)\n"
	      "  --cloudwatch-timeout SECONDS  per request (default 30)\n"
	      "  --cloudwatch-retry-base SECONDS  first retry delay, doubled per attempt up to\n"
	      "                      30 s, jittered (default 0.5; client errors x10)\n"
	      "  --cloudwatch-no-metrics  no Embedded Metric Format records (flow counts per\n"
	      "                      direction and policy, every flow interval)\n"
	      "  --spool-dir DIR     keep records on disk while CloudWatch is unreachable or\n"
	      "                      slow, and across restarts            env NETPOL_SPOOL_DIR\n"
	      "  --spool-max-bytes N bound of the spool; the oldest records go first and the\n"
	      "                      loss is reported (default 256M)      env NETPOL_SPOOL_MAX_BYTES\n",
	      f);
}

struct np_sink *np_cwopts_sink(const struct np_cwopts *o, struct np_loop *loop)
{
	struct np_cw_cfg cfg = {
		.region = o->region,
		.endpoint = o->endpoint,
		.group = o->group,
		.stream = o->stream,
		.node = o->node,
		.create = o->create,
		.spool_dir = o->spool_dir,
		.spool_max_bytes = o->spool_max_bytes,
		.flush_delay_ms = o->flush_delay_ms,
		.queue_max_bytes = o->queue_max_bytes,
		.request_timeout_ms = o->request_timeout_ms,
		.retry_base_ms = o->retry_base_ms,
		.emf_interval_ms = o->no_emf ? 0 : o->emf_interval_s * 1000,
		.cluster = o->cluster,
	};

	return np_cw_new(loop, &cfg);
}

void np_cwopts_free(struct np_cwopts *o)
{
	free(o->group_buf);
	free(o->node_buf);
	o->group_buf = o->node_buf = NULL;
}
