// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cw-feed: drive the CloudWatch Logs sink with synthetic flow records, the
 * way the flow pipeline does (offer batches, keep what is refused, offer it
 * again), for the CloudWatch tests and `make bench`.
 *
 *   cw-feed [CloudWatch flags of netpol-agent] [--rate N] [--count N]
 *           [--start-id N] [--pad N] [--ts-offset S] [--emf-every SECONDS]
 *           [--flush-timeout S] [--stats-file PATH] [--tiny]
 *
 * Every record carries "id": start-id, start-id+1, ... so a test can check
 * that each arrived.  Produces COUNT records (0: until SIGTERM) at RATE per
 * second (0: as fast as the sink takes them), then flushes and exits; on
 * SIGTERM/SIGINT it stops producing, flushes (what is not delivered within
 * the flush timeout goes to the spool) and exits 0.  The sink's counters
 * are printed (and written to the stats file) as "key=value ...".
 * --emf-every: the sink's EMF records, as if the flow interval were that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cwlogs.h"
#include "cwopts.h"
#include "evloop.h"
#include "log.h"

enum { OPT_TINY = 999, OPT_RATE = 1000, OPT_COUNT, OPT_START, OPT_PAD, OPT_TS_OFF, OPT_EMF, OPT_FLUSH, OPT_STATS };

struct feed {
	struct np_loop loop;
	struct np_sink *sink;
	struct np_timer tick;
	uint64_t rate, count, next_id, made, start_id, t0_ms;
	int64_t ts_offset_ms;
	unsigned pad;
	struct np_rec *pending; /* refused by offer(), offered again first */
	size_t n_pending, cap_pending;
	bool stop, tiny;
	uint32_t rng;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift32: varied field values, so gzip sees realistic records (fixed
 * seed: every run sends the same bytes). */
static unsigned rnd(struct feed *f)
{
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 17;
	f->rng ^= f->rng << 5;
	return f->rng;
}

static int make_record(struct feed *f, struct np_rec *r)
{
	static const char *const acts[] = { "ACCEPT", "ACCEPT", "ACCEPT", "REJECT", "AUDIT" };
	uint64_t id = f->next_id++;
	int64_t ts = wall_ms() + f->ts_offset_ms;
	const char *act = acts[id % 5], *dir = id & 1 ? "egress" : "ingress";
	char *line;
	int n;

	if (f->tiny) /* to reach the 10,000-event limit before the byte limit */
		n = asprintf(&line, "{\"id\":%" PRIu64 ",\"action\":\"%s\",\"flowDirection\":\"%s\"}",
			     id, act, dir);
	else
		n = asprintf(&line,
			     "{\"version\":2,\"id\":%" PRIu64 ",\"srcAddr\":\"10.%u.%u.%u\",\"dstAddr\":"
			     "\"10.2.%u.%u\",\"srcPort\":%u,\"dstPort\":%u,\"protocol\":6,\"packets\":%u,"
			     "\"bytes\":%u,\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"action\":\"%s\","
			     "\"logStatus\":\"OK\",\"tcpFlags\":19,\"flowDirection\":\"%s\",\"interfaceId\":"
			     "\"eni%08x\",\"srcPod\":\"client-%05x\",\"srcNamespace\":\"ns-%u\",\"dstPod\":"
			     "\"relay-%u\",\"dstNamespace\":\"relay\",\"policy\":\"relay/allow-%u\",\"policyRule\":"
			     "\"ingress[0]\",\"node\":\"ip-10-0-1-17\",\"pad\":\"%*s\"}",
			     id, rnd(f) & 255, rnd(f) & 255, rnd(f) & 255, rnd(f) & 255, rnd(f) & 255,
			     32768 + rnd(f) % 28000, (unsigned[]){ 443, 80, 8080, 53 }[rnd(f) & 3],
			     1 + rnd(f) % 500, 60 + rnd(f) % 400000, ts / 1000, ts / 1000 + 60, act, dir,
			     rnd(f), rnd(f) & 0xfffff, rnd(f) % 40, rnd(f) % 3, (unsigned)(id % 3), f->pad, "");
	if (n < 0)
		return -ENOMEM;
	r->line = line;
	r->len = (uint32_t)n;
	r->ts_ms = ts;
	r->seq = 0;
	f->made++;
	return 0;
}

/* Offer what is pending; keep the refused rest, in order. */
static void offer_pending(struct feed *f)
{
	size_t k;

	if (!f->n_pending)
		return;
	k = f->sink->offer(f->sink, f->pending, f->n_pending);
	memmove(f->pending, f->pending + k, (f->n_pending - k) * sizeof(*f->pending));
	f->n_pending -= k;
}

static void on_tick(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct feed *f = ctx;
	uint64_t due, elapsed = np_now_ms() - f->t0_ms;

	offer_pending(f);
	if (f->stop)
		return;
	due = f->rate ? f->rate * elapsed / 1000 + 1 : f->made + 2000;
	if (f->count && due > f->count)
		due = f->count;
	/* Without a rate, produce only what the sink took (like the pipeline
	 * under back-pressure): pending stays bounded. */
	while (f->made < due && f->n_pending < 20000) {
		struct np_rec r;

		if (f->n_pending == f->cap_pending) {
			size_t nc = f->cap_pending ? f->cap_pending * 2 : 1024;
			struct np_rec *p = realloc(f->pending, nc * sizeof(*p));

			if (!p)
				break;
			f->pending = p;
			f->cap_pending = nc;
		}
		if (make_record(f, &r) < 0)
			break;
		f->pending[f->n_pending++] = r;
	}
	offer_pending(f);
	if (f->count && f->made >= f->count && !f->n_pending) {
		np_loop_stop(loop, 0);
		return;
	}
	np_timer_arm(loop, t, f->rate ? 10 : (f->n_pending ? 1 : 0));
}

static void on_signal(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;
	struct feed *f = ctx;

	(void)events;
	if (read(fd, &si, sizeof(si)) == sizeof(si)) {
		f->stop = true;
		np_loop_stop(loop, 0);
	}
}

int main(int argc, char **argv)
{
	static const struct option own[] = {
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "tiny", no_argument, NULL, OPT_TINY },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "start-id", required_argument, NULL, OPT_START },
		{ "pad", required_argument, NULL, OPT_PAD },
		{ "ts-offset", required_argument, NULL, OPT_TS_OFF },
		{ "emf-every", required_argument, NULL, OPT_EMF },
		{ "flush-timeout", required_argument, NULL, OPT_FLUSH },
		{ "stats-file", required_argument, NULL, OPT_STATS },
		{ "log-level", required_argument, NULL, 'l' },
		{ 0 },
	};
	struct np_cwopts cwo = { 0 };
	struct option *longopts = np_cwopts_longopts(own);
	struct feed f = { 0 };
	struct np_cw_stats st;
	const char *stats_file = NULL;
	double flush_s = 10, t, cpu;
	struct rusage ru;
	char line[1024];
	sigset_t mask;
	int opt, sfd = -1, ret = 2, r;
	uint64_t t_start;

	np_log_set_level(NP_LOG_INFO);
	if (!longopts)
		return 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_TINY: f.tiny = true; break;
		case OPT_RATE: f.rate = strtoull(optarg, NULL, 10); break;
		case OPT_COUNT: f.count = strtoull(optarg, NULL, 10); break;
		case OPT_START: f.start_id = strtoull(optarg, NULL, 10); break;
		case OPT_PAD: f.pad = (unsigned)strtoul(optarg, NULL, 10); break;
		case OPT_TS_OFF: f.ts_offset_ms = (int64_t)(strtod(optarg, NULL) * 1000); break;
		case OPT_EMF: cwo.emf_interval_s = (uint32_t)strtoul(optarg, NULL, 10); break;
		case OPT_FLUSH: flush_s = strtod(optarg, NULL); break;
		case OPT_STATS: stats_file = optarg; break;
		case 'l':
			r = np_log_level_parse(optarg);
			if (r < 0)
				goto cleanup;
			np_log_set_level((enum np_log_level)r);
			break;
		default:
			r = np_cwopts_parse(&cwo, opt, optarg);
			if (r <= 0) {
				fprintf(stderr, "usage: cw-feed [CloudWatch flags] [--rate N] [--count N] ...\n");
				np_cwopts_usage(stderr);
				goto cleanup;
			}
		}
	}
	cwo.enabled = true;
	if (np_cwopts_finish(&cwo, "feed") < 0)
		goto cleanup;
	ret = 1;
	f.next_id = f.start_id;
	f.rng = 2463534242u ^ (uint32_t)f.start_id;
	if (np_loop_init(&f.loop) < 0)
		goto cleanup;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || np_loop_fd_add(&f.loop, sfd, EPOLLIN, on_signal, &f) < 0)
		goto cleanup;
	f.sink = np_cwopts_sink(&cwo, &f.loop);
	if (!f.sink)
		goto cleanup;
	np_timer_init(&f.tick, on_tick, &f);
	f.t0_ms = t_start = np_now_ms();
	np_timer_arm(&f.loop, &f.tick, 0);
	np_loop_run(&f.loop);
	np_timer_cancel(&f.loop, &f.tick);
	offer_pending(&f);
	r = f.sink->flush(f.sink, (int)(flush_s * 1000));
	t = (double)(np_now_ms() - t_start) / 1000;
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
	np_cw_get_stats(f.sink, &st);
	np_cw_stats_str(&st, line, sizeof(line));
	printf("cw-feed: made=%" PRIu64 " unoffered=%zu seconds=%.3f cpu=%.3f flush=%s %s\n", f.made,
	       f.n_pending, t, cpu, r ? strerror(-r) : "ok", line);
	if (stats_file) {
		FILE *sf = fopen(stats_file, "w");

		if (sf) {
			fprintf(sf, "made=%" PRIu64 " unoffered=%zu seconds=%.3f cpu=%.3f %s\n", f.made,
				f.n_pending, t, cpu, line);
			fclose(sf);
		}
	}
	f.sink->destroy(f.sink);
	f.sink = NULL;
	ret = 0;
cleanup:
	for (size_t i = 0; i < f.n_pending; i++)
		np_rec_free(&f.pending[i]);
	free(f.pending);
	if (f.sink)
		f.sink->destroy(f.sink);
	if (sfd >= 0)
		close(sfd);
	if (f.loop.epfd > 0)
		np_loop_free(&f.loop);
	np_cwopts_free(&cwo);
	free(longopts);
	return ret;
}
