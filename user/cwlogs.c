// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The CloudWatch Logs sink: see cwlogs.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cwlogs.h"
#include "emf.h"
#include "httpm.h"
#include "log.h"
#include "spool.h"
#include "vec.h"

/* While the spool is in use, the tail goes to disk at this size or age. */
#define NP_CW_SPILL_BYTES (512u << 10)
#define NP_CW_SPILL_AGE_MS 1000u
#define NP_CW_STATS_LOG_MS 60000u

/* A FIFO of records, contiguous so batches can be cut from it. */
struct recq {
	struct np_rec *v;
	size_t off, n, cap;
	uint64_t bytes;
};

/* A spool segment whose records sit in head. */
struct loaded_seg {
	uint64_t seq;
	size_t left; /* its records not yet delivered */
};

enum put_kind { PUT_EVENTS, CREATE_GROUP, CREATE_STREAM };

enum drop_reason { DROP_SPOOL_FULL, DROP_CLIENT_ERROR, DROP_CORRUPT, DROP_NREASONS };

struct drop_agg {
	uint64_t n;
	int64_t first, last; /* ts_ms */
};

struct np_cw {
	struct np_sink sink;
	struct np_loop *loop;
	char *region, *endpoint, *group, *stream, *node, *sigv4;
	bool create;
	uint32_t flush_delay_ms, retry_base_ms, retry_max_ms, client_error_attempts;
	uint64_t queue_max_bytes;
	long timeout_ms;
	struct np_cwbatch_limits limits;

	struct np_httpm http;
	struct np_awscreds creds;
	char *ca_file;

	struct recq head, tail;
	size_t head_mem;            /* head's leading records that came from memory */
	struct loaded_seg *segs;    /* head's records after head_mem, in order */
	size_t n_segs, cap_segs;
	uint64_t head_since_ms, tail_since_ms;

	bool use_spool;
	struct np_spool spool;

	struct np_http_req *req;
	enum put_kind kind;
	size_t inflight;            /* head records in the running PutLogEvents */
	unsigned attempts, client_errors;
	bool flushing;

	struct drop_agg drops[DROP_NREASONS]; /* not reported yet */
	uint32_t emf_interval_ms;
	struct np_emf_counts emf;
	bool emf_pending;
	int64_t emf_ts;             /* earliest record counted, ms */
	struct np_timer emf_t;
	char *cluster;
	bool started;               /* np_cw_new() completed */
	struct np_timer pump_t, retry_t, stats_t;
	struct np_cw_stats st, st_logged;
};

static struct np_cw *cw_of(struct np_sink *s)
{
	return (struct np_cw *)s;
}

static struct np_rec *recq_at(struct recq *q, size_t i)
{
	return &q->v[q->off + i];
}

/* Room for EXTRA more records without another allocation. */
static int recq_reserve(struct recq *q, size_t extra)
{
	if (q->off && q->off + q->n + extra > q->cap) {
		memmove(q->v, q->v + q->off, q->n * sizeof(*q->v));
		q->off = 0;
	}
	if (q->n + extra > q->cap) {
		size_t nc = q->cap ? q->cap : 1024;
		struct np_rec *p;

		while (nc < q->n + extra)
			nc *= 2;
		p = realloc(q->v, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		q->v = p;
		q->cap = nc;
	}
	return 0;
}

static int recq_push(struct recq *q, const struct np_rec *r)
{
	if (recq_reserve(q, 1) < 0)
		return -ENOMEM;
	q->v[q->off + q->n++] = *r;
	q->bytes += r->len;
	return 0;
}

/* Remove K records from the front, freeing them. */
static void recq_drop_front(struct recq *q, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		q->bytes -= recq_at(q, i)->len;
		np_rec_free(recq_at(q, i));
	}
	q->off += k;
	q->n -= k;
	if (!q->n)
		q->off = 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void update_gauges(struct np_cw *cw)
{
	cw->st.in_memory = cw->head.n + cw->tail.n;
	cw->st.in_spool = 0;
	cw->st.spool_bytes = cw->use_spool ? cw->spool.used_bytes : 0;
	if (cw->use_spool)
		for (size_t i = 0; i < cw->spool.n; i++)
			if (!cw->spool.segs[i].loaded)
				cw->st.in_spool += cw->spool.segs[i].nrecs;
	cw->st.cred_refreshes = cw->creds.refreshes;
	cw->sink.stats.accepted = cw->st.produced;
	cw->sink.stats.delivered = cw->st.shipped;
	cw->sink.stats.dropped = cw->st.rejected + cw->st.dropped_spool + cw->st.dropped_failed +
				 cw->st.dropped_oversize + cw->st.dropped_shutdown +
				 cw->st.dropped_corrupt;
}

static void kick(struct np_cw *cw)
{
	np_timer_arm(cw->loop, &cw->pump_t, 0);
}

/* Losses are summed per reason and reported, once the shipper can take
 * them, by records in head (never in the spool, whose bound could drop the
 * report too) shipped like any other (VPC Flow Logs' SKIPDATA). */
static void note_drop(struct np_cw *cw, enum drop_reason why, uint64_t n, int64_t first, int64_t last)
{
	struct drop_agg *d = &cw->drops[why];

	if (!n)
		return;
	if (!d->n || first < d->first)
		d->first = first;
	if (!d->n || last > d->last)
		d->last = last;
	d->n += n;
}

static void account_drop(struct np_cw *cw, const struct np_spool_drop *d, enum drop_reason why)
{
	if (!d->records)
		return;
	if (why == DROP_SPOOL_FULL)
		cw->st.dropped_spool += d->records;
	else
		cw->st.dropped_corrupt += d->records;
	note_drop(cw, why, d->records, d->first_ts, d->last_ts);
}

static bool drops_pending(const struct np_cw *cw)
{
	for (int i = 0; i < DROP_NREASONS; i++)
		if (cw->drops[i].n)
			return true;
	return false;
}

static int recq_push_front(struct recq *q, const struct np_rec *r)
{
	if (!q->off) {
		if (recq_reserve(q, 1) < 0)
			return -ENOMEM;
		memmove(q->v + 1, q->v, q->n * sizeof(*q->v));
		q->off = 1;
	}
	q->v[--q->off] = *r;
	q->n++;
	q->bytes += r->len;
	return 0;
}

/* Put the pending loss reports at the front of head (the batch sort puts
 * them in time order). */
static void inject_reports(struct np_cw *cw)
{
	static const char *const reason[DROP_NREASONS] = {
		[DROP_SPOOL_FULL] = "spool full",
		[DROP_CLIENT_ERROR] = "client error",
		[DROP_CORRUPT] = "spool segment unreadable",
	};

	for (int i = 0; i < DROP_NREASONS; i++) {
		struct drop_agg *d = &cw->drops[i];
		struct np_rec r = { 0 };
		char *node = NULL, *line = NULL;
		size_t nl = 0, nc = 0;
		int k;

		if (!d->n)
			continue;
		if (np_json_str_append(&node, &nl, &nc, cw->node ? cw->node : "",
				       cw->node ? strlen(cw->node) : 0) < 0)
			return;
		k = asprintf(&line,
			     "{\"version\":2,\"logStatus\":\"SKIPDATA\",\"start\":%" PRId64
			     ",\"end\":%" PRId64 ",\"droppedRecords\":%" PRIu64
			     ",\"reason\":\"%s\",\"node\":%s}",
			     d->first / 1000, (d->last + 999) / 1000, d->n, reason[i], node);
		free(node);
		if (k < 0)
			return;
		r.line = line;
		r.len = (uint32_t)k;
		r.ts_ms = wall_ms();
		if (recq_push_front(&cw->head, &r) < 0) {
			free(line);
			return;
		}
		if (cw->head.n == 1)
			cw->head_since_ms = np_now_ms();
		cw->head_mem++;
		cw->st.reports++;
		np_warn("cloudwatch: %" PRIu64 " records of %" PRId64 "..%" PRId64 " lost (%s); "
			"a SKIPDATA record reports it", d->n, d->first / 1000, (d->last + 999) / 1000,
			reason[i]);
		memset(d, 0, sizeof(*d));
	}
}

/* Write the whole tail as one segment at the end of the spool. */
static void spill_tail(struct np_cw *cw)
{
	struct np_spool_drop d = { 0 };
	int ret;

	if (!cw->tail.n)
		return;
	ret = np_spool_write(&cw->spool, recq_at(&cw->tail, 0), cw->tail.n, false, &d);
	if (ret < 0)
		return; /* logged; stays in memory, offer() pushes back */
	cw->st.spooled += cw->tail.n;
	recq_drop_front(&cw->tail, cw->tail.n);
	account_drop(cw, &d, DROP_SPOOL_FULL);
}

static bool head_has_room(const struct np_cw *cw)
{
	uint32_t ev = cw->limits.max_events ? cw->limits.max_events : NP_CW_MAX_EVENTS;
	uint32_t by = cw->limits.max_bytes ? cw->limits.max_bytes : NP_CW_MAX_BYTES;

	return cw->head.n < 2u * ev && cw->head.bytes < 2ull * by;
}

static int head_append(struct np_cw *cw, struct np_rec *r)
{
	int ret = recq_push(&cw->head, r);

	if (!ret && cw->head.n == 1)
		cw->head_since_ms = np_now_ms();
	return ret;
}

/* Fill head from the spool (oldest first), then from the tail. */
static void refill(struct np_cw *cw)
{
	while (head_has_room(cw) && cw->use_spool && np_spool_pending(&cw->spool)) {
		struct np_spool_drop d = { 0 };
		struct loaded_seg ls;
		struct np_rec *recs = NULL;
		size_t n = 0, i;
		int64_t misnamed = cw->spool.misnamed;
		uint64_t seq;
		int ret;

		ret = np_spool_load_oldest(&cw->spool, &recs, &n, &seq, &d);
		account_drop(cw, &d, DROP_CORRUPT);
		/* What a previous run left is known once read, not from the
		 * segment names: keeps the counters' equation exact. */
		cw->st.from_spool_at_start -= (uint64_t)(cw->spool.misnamed - misnamed);
		if (ret < 0)
			break;
		ls = (struct loaded_seg){ seq, n };
		if (np_vec_push(&cw->segs, &cw->n_segs, &cw->cap_segs, &ls) < 0) {
			for (i = 0; i < n; i++)
				np_rec_free(&recs[i]);
			free(recs);
			np_spool_unload(&cw->spool, seq);
			break;
		}
		if (recq_reserve(&cw->head, n) < 0) {
			for (i = 0; i < n; i++)
				np_rec_free(&recs[i]);
			free(recs);
			cw->n_segs--;
			np_spool_unload(&cw->spool, seq);
			break;
		}
		for (i = 0; i < n; i++)
			head_append(cw, &recs[i]); /* cannot fail: reserved */
		free(recs);
	}
	/* The tail may only pass the spool when the spool is empty; and
	 * while CloudWatch fails, new records go to disk (they survive a
	 * crash there) rather than wait in memory. */
	if (cw->use_spool && (cw->spool.n || cw->attempts))
		return;
	while (cw->tail.n && head_has_room(cw) && !cw->n_segs) {
		struct np_rec *r = recq_at(&cw->tail, 0);
		struct np_rec copy = *r;

		if (head_append(cw, &copy) < 0)
			break;
		cw->head_mem++;
		cw->tail.bytes -= r->len;
		r->line = NULL;
		cw->tail.off++;
		cw->tail.n--;
		if (!cw->tail.n)
			cw->tail.off = 0;
	}
}

/* K records at head's front were delivered (or given up on). */
static void head_done(struct np_cw *cw, size_t k)
{
	size_t left = k, m = k < cw->head_mem ? k : cw->head_mem;

	recq_drop_front(&cw->head, k);
	cw->head_mem -= m;
	left -= m;
	while (left && cw->n_segs) {
		struct loaded_seg *s = &cw->segs[0];
		size_t take = left < s->left ? left : s->left;

		s->left -= take;
		left -= take;
		if (!s->left) {
			np_spool_remove(&cw->spool, s->seq);
			memmove(cw->segs, cw->segs + 1, (cw->n_segs - 1) * sizeof(*cw->segs));
			cw->n_segs--;
		}
	}
	if (cw->head.n)
		cw->head_since_ms = np_now_ms();
}

static void try_send(struct np_cw *cw);

static void pump(struct np_cw *cw)
{
	refill(cw);
	if (!cw->req)
		inject_reports(cw);
	if (cw->use_spool && cw->tail.n) {
		uint64_t age = np_now_ms() - cw->tail_since_ms;

		if (cw->tail.bytes >= NP_CW_SPILL_BYTES || age >= NP_CW_SPILL_AGE_MS)
			spill_tail(cw);
		else
			np_timer_arm(cw->loop, &cw->pump_t, NP_CW_SPILL_AGE_MS - age);
	}
	try_send(cw);
	update_gauges(cw);
}

static void on_pump(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	pump(ctx);
}

static void on_creds_ready(void *ctx)
{
	kick(ctx);
}

static uint64_t jitter(uint64_t d)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)np_now_ms();
	/* "Equal jitter": half fixed, half random, so retries of many
	 * agents spread out yet none retries at once. */
	return d / 2 + (d / 2 ? r % (d / 2 + 1) : 0);
}

static void backoff(struct np_cw *cw, uint32_t base_ms)
{
	unsigned sh = cw->attempts < 16 ? cw->attempts : 16;
	uint64_t d = (uint64_t)base_ms << sh;

	if (d > cw->retry_max_ms)
		d = cw->retry_max_ms;
	cw->attempts++;
	cw->st.retries++;
	np_timer_arm(cw->loop, &cw->retry_t, jitter(d));
}

static void on_retry(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	pump(ctx);
}

/* Service messages can quote the canonical request (with the session
 * token): keep only their first line. */
static void first_line(char *s)
{
	s[strcspn(s, "\r\n")] = 0;
}

static void put_done(struct np_http_req *req, CURLcode res, long status, void *ctx);

static int start_request(struct np_cw *cw, enum put_kind kind, char *body, size_t len,
			 const struct np_aws_creds *cr)
{
	static const char *const target[] = {
		[PUT_EVENTS] = "X-Amz-Target: Logs_20140328.PutLogEvents",
		[CREATE_GROUP] = "X-Amz-Target: Logs_20140328.CreateLogGroup",
		[CREATE_STREAM] = "X-Amz-Target: Logs_20140328.CreateLogStream",
	};
	struct np_http_req *r;
	char *tok = NULL;
	int ret = -ENOMEM;

	r = np_http_req_new(cw->ca_file, cw->timeout_ms);
	if (!r) {
		free(body);
		return -ENOMEM;
	}
	np_http_req_post(r, body, len);
	curl_easy_setopt(r->easy, CURLOPT_URL, cw->endpoint);
	curl_easy_setopt(r->easy, CURLOPT_AWS_SIGV4, cw->sigv4);
	curl_easy_setopt(r->easy, CURLOPT_USERNAME, cr->akid);
	curl_easy_setopt(r->easy, CURLOPT_PASSWORD, cr->secret);
	if (np_http_req_header(r, "Content-Type: application/x-amz-json-1.1") ||
	    np_http_req_header(r, target[kind]))
		goto cleanup;
	if (kind == PUT_EVENTS && np_http_req_header(r, "Content-Encoding: gzip"))
		goto cleanup;
	if (cr->token) {
		if (asprintf(&tok, "X-Amz-Security-Token: %s", cr->token) < 0) {
			tok = NULL;
			goto cleanup;
		}
		if (np_http_req_header(r, tok))
			goto cleanup;
	}
	ret = np_httpm_start(&cw->http, r, put_done, cw);
	if (ret < 0)
		goto cleanup;
	cw->req = r;
	cw->kind = kind;
	cw->st.requests++;
	cw->st.bytes_sent += len;
	r = NULL;
cleanup:
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	np_http_req_free(r);
	return ret;
}

static int start_create(struct np_cw *cw, enum put_kind kind, const struct np_aws_creds *cr)
{
	char *body = NULL;
	size_t len = 0;
	int ret;

	ret = np_cw_simple_body(cw->group, kind == CREATE_STREAM ? cw->stream : NULL, &body, &len);
	if (ret < 0)
		return ret;
	np_info("cloudwatch: creating log %s %s%s%s", kind == CREATE_STREAM ? "stream" : "group",
		cw->group, kind == CREATE_STREAM ? " / " : "", kind == CREATE_STREAM ? cw->stream : "");
	return start_request(cw, kind, body, len, cr);
}

static void try_send(struct np_cw *cw)
{
	const struct np_aws_creds *cr;
	uint64_t bytes = 0, now = np_now_ms();
	char *json = NULL, *gz = NULL;
	size_t k, json_len = 0, gz_len = 0;
	bool full, backlog;
	int ret;

	if (cw->req || cw->retry_t.armed || !cw->head.n)
		return;
	k = np_cwbatch_take(recq_at(&cw->head, 0), cw->head.n, &cw->limits, &bytes);
	if (!k)
		return; /* offer() keeps oversized records out */
	full = k < cw->head.n ||
	       k >= (cw->limits.max_events ? cw->limits.max_events : NP_CW_MAX_EVENTS);
	backlog = cw->tail.n || (cw->use_spool && np_spool_pending(&cw->spool));
	if (!full && !backlog && !cw->flushing && now < cw->head_since_ms + cw->flush_delay_ms) {
		np_timer_arm(cw->loop, &cw->pump_t, cw->head_since_ms + cw->flush_delay_ms - now);
		return;
	}
	cr = np_awscreds_get(&cw->creds, (int64_t)time(NULL));
	if (!cr)
		return; /* on_creds_ready kicks us */
	ret = np_cwbatch_body(cw->group, cw->stream, recq_at(&cw->head, 0), k, &json, &json_len);
	if (!ret)
		ret = np_gzip(json, json_len, &gz, &gz_len);
	free(json);
	if (!ret) {
		cw->st.bytes_uncompressed += json_len;
		ret = start_request(cw, PUT_EVENTS, gz, gz_len, cr);
	} else {
		free(gz);
	}
	if (ret < 0) {
		np_err("cloudwatch: cannot start PutLogEvents (%zu events): %s; retrying", k,
		       strerror(-ret));
		backoff(cw, cw->retry_base_ms);
		return;
	}
	cw->inflight = k;
}

static bool is_cred_error(const char *type)
{
	return !strcmp(type, "ExpiredTokenException") || !strcmp(type, "UnrecognizedClientException") ||
	       !strcmp(type, "InvalidSignatureException") ||
	       !strcmp(type, "IncompleteSignatureException") || !strcmp(type, "ExpiredToken");
}

static void accepted(struct np_cw *cw, const char *resp)
{
	struct np_cw_rejected rej;
	long n_rej = np_cw_parse_accepted(resp, cw->inflight, &rej);

	if (n_rej < 0) {
		np_warn("cloudwatch: PutLogEvents answered 200 with a body that is not JSON; "
			"counting the batch as delivered");
		n_rej = 0;
	}
	if (n_rej > 0)
		np_warn("cloudwatch: %ld of %zu events rejected by CloudWatch Logs (tooOld before %"
			PRId64 ", expired before %" PRId64 ", tooNew from %" PRId64 "; check the node's "
			"clock and the log group's retention)", n_rej, cw->inflight, rej.too_old_end,
			rej.expired_end, rej.too_new_start);
	cw->st.rejected += (uint64_t)n_rej;
	cw->st.shipped += cw->inflight - (size_t)n_rej;
	head_done(cw, cw->inflight);
	cw->inflight = 0;
	cw->attempts = 0;
	cw->client_errors = 0;
}

static void put_done(struct np_http_req *req, CURLcode res, long status, void *ctx)
{
	struct np_cw *cw = ctx;
	enum put_kind kind = cw->kind;
	char type[128], msg[512];
	const char *what = kind == PUT_EVENTS ? "PutLogEvents" :
			   kind == CREATE_GROUP ? "CreateLogGroup" : "CreateLogStream";

	cw->req = NULL;
	if (res != CURLE_OK) {
		if (!(cw->attempts & (cw->attempts - 1)) || cw->attempts < 2)
			np_warn("cloudwatch: %s to %s failed: %s (attempt %u); retrying with backoff",
				what, cw->endpoint, req->errbuf[0] ? req->errbuf : curl_easy_strerror(res),
				cw->attempts + 1);
		np_http_req_free(req);
		backoff(cw, cw->retry_base_ms);
		goto out;
	}
	np_cw_parse_error(status == 200 ? NULL : req->resp, type, sizeof(type), msg, sizeof(msg));
	first_line(msg);
	if (status == 200 && kind == PUT_EVENTS) {
		accepted(cw, req->resp);
		np_http_req_free(req);
		goto out;
	}
	np_http_req_free(req);
	if (kind != PUT_EVENTS && (status == 200 || !strcmp(type, "ResourceAlreadyExistsException"))) {
		if (kind == CREATE_GROUP) {
			const struct np_aws_creds *cr = np_awscreds_get(&cw->creds, (int64_t)time(NULL));

			if (cr && !start_create(cw, CREATE_STREAM, cr))
				goto out;
			backoff(cw, cw->retry_base_ms);
		}
		goto out; /* stream exists: the batch goes again now */
	}
	if (kind == CREATE_GROUP && status >= 400 && status < 500 && status != 429 &&
	    strcmp(type, "ThrottlingException")) {
		/* Often only CreateLogStream is allowed, on a group made by
		 * the operator: try the stream before giving up. */
		const struct np_aws_creds *cr = np_awscreds_get(&cw->creds, (int64_t)time(NULL));

		np_warn("cloudwatch: CreateLogGroup %s refused: HTTP %ld %s%s%s; trying "
			"CreateLogStream in case the group exists", cw->group, status, type,
			*msg ? ": " : "", msg);
		if (cr && !start_create(cw, CREATE_STREAM, cr))
			goto out;
		backoff(cw, cw->retry_base_ms);
		goto out;
	}
	if (!strcmp(type, "ResourceNotFoundException") && kind == PUT_EVENTS && cw->create &&
	    cw->client_errors < cw->client_error_attempts) {
		const struct np_aws_creds *cr = np_awscreds_get(&cw->creds, (int64_t)time(NULL));

		cw->client_errors++;
		if (cr && !start_create(cw, CREATE_GROUP, cr))
			goto out;
		backoff(cw, cw->retry_base_ms);
		goto out;
	}
	if (status == 429 || status >= 500 || !strcmp(type, "ThrottlingException") ||
	    !strcmp(type, "ServiceUnavailableException")) {
		if (!(cw->attempts & (cw->attempts - 1)) || cw->attempts < 2)
			np_warn("cloudwatch: %s: HTTP %ld %s%s%s (attempt %u); retrying with backoff",
				what, status, type, *msg ? ": " : "", msg, cw->attempts + 1);
		backoff(cw, cw->retry_base_ms);
		goto out;
	}
	/* A client error: the request itself (or our identity) is wrong. */
	cw->client_errors++;
	np_err("cloudwatch: %s to log group %s stream %s refused: HTTP %ld %s%s%s%s", what,
	       cw->group, cw->stream, status, type, *msg ? ": " : "", msg,
	       !strcmp(type, "ResourceNotFoundException") && !cw->create ?
		       " (create them, or run with --cloudwatch-create)" : "");
	if (is_cred_error(type))
		np_awscreds_invalidate(&cw->creds);
	if (cw->client_errors >= cw->client_error_attempts && kind == PUT_EVENTS) {
		np_err("cloudwatch: giving up on a batch of %zu records after %u client errors; "
		       "they are counted as dropped", cw->inflight, cw->client_errors);
		note_drop(cw, DROP_CLIENT_ERROR, cw->inflight, recq_at(&cw->head, 0)->ts_ms,
			  recq_at(&cw->head, cw->inflight - 1)->ts_ms);
		cw->st.dropped_failed += cw->inflight;
		head_done(cw, cw->inflight);
		cw->inflight = 0;
		cw->client_errors = 0;
		cw->attempts = 0;
		goto out;
	}
	/* Client errors back off ten times slower: an operator has to act. */
	backoff(cw, cw->retry_base_ms * 10);
out:
	/* The next PutLogEvents cuts its batch afresh from head. */
	if (!cw->req || cw->kind != PUT_EVENTS)
		cw->inflight = 0;
	kick(cw);
}

/* The EMF records of what was counted since the last ones. */
static void emit_emf(struct np_cw *cw)
{
	struct np_rec *recs = NULL;
	size_t n = 0, i;

	np_timer_cancel(cw->loop, &cw->emf_t);
	if (!cw->emf_pending)
		return;
	cw->emf_pending = false;
	if (np_emf_records(&cw->emf, cw->emf_ts, &recs, &n) < 0) {
		np_err("cloudwatch: out of memory making the interval's EMF records");
		np_emf_reset(&cw->emf);
		return;
	}
	np_emf_reset(&cw->emf);
	for (i = 0; i < n; i++) {
		if (recq_push(&cw->tail, &recs[i]) < 0)
			break;
		if (cw->tail.n == 1)
			cw->tail_since_ms = np_now_ms();
		cw->st.reports++;
	}
	for (; i < n; i++)
		np_rec_free(&recs[i]);
	free(recs);
	kick(cw);
}

static void on_emf(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	emit_emf(ctx);
}

static void count_emf(struct np_cw *cw, const struct np_rec *r)
{
	if (np_emf_count_record(&cw->emf, r->line, r->len) <= 0)
		return;
	if (!cw->emf_pending) {
		uint32_t d = cw->emf_interval_ms / 2;

		cw->emf_pending = true;
		cw->emf_ts = r->ts_ms;
		np_timer_arm(cw->loop, &cw->emf_t, d < 200 ? 200 : d);
	} else if (r->ts_ms < cw->emf_ts) {
		cw->emf_ts = r->ts_ms;
	}
}

static size_t cw_offer(struct np_sink *s, struct np_rec *recs, size_t n)
{
	struct np_cw *cw = cw_of(s);
	size_t i;

	for (i = 0; i < n; i++) {
		struct np_rec *r = &recs[i];

		if (r->len > NP_CW_MAX_MESSAGE) {
			if (!cw->st.dropped_oversize)
				np_warn("cloudwatch: a record of %" PRIu32 " bytes is longer than a "
					"CloudWatch Logs event may be (%u): dropped (counted)",
					r->len, NP_CW_MAX_MESSAGE);
			cw->st.produced++;
			cw->st.dropped_oversize++;
			np_rec_free(r);
			continue;
		}
		/* Memory is bounded: past it the pipeline keeps the records
		 * (back-pressure) until the spool or CloudWatch takes some. */
		if (cw->tail.bytes + (cw->use_spool ? 0 : cw->head.bytes) >= cw->queue_max_bytes)
			break;
		if (recq_push(&cw->tail, r) < 0)
			break;
		if (cw->tail.n == 1)
			cw->tail_since_ms = np_now_ms();
		if (cw->emf_interval_ms)
			count_emf(cw, r);
		r->line = NULL;
		r->len = 0;
		cw->st.produced++;
	}
	if (i)
		kick(cw);
	update_gauges(cw);
	return i;
}

/* The oldest pipeline record only memory holds: head's leading records
 * from memory (the batch in flight among them), then the tail.  What the
 * spool holds is durable, and so is what CloudWatch acknowledged. */
static uint64_t first_seq(struct recq *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (recq_at(q, i)->seq)
			return recq_at(q, i)->seq;
	return UINT64_MAX;
}

static uint64_t cw_pending_seq(struct np_sink *s)
{
	struct np_cw *cw = cw_of(s);
	uint64_t seq = first_seq(&cw->head, cw->head_mem);

	return seq != UINT64_MAX ? seq : first_seq(&cw->tail, cw->tail.n);
}

/* Shutdown with a spool: what is in memory goes to disk, in order. */
static void spill_all(struct np_cw *cw)
{
	struct np_spool_drop d = { 0 };

	if (cw->req) {
		np_http_req_free(cw->req); /* its batch is still in head */
		cw->req = NULL;
		cw->inflight = 0;
	}
	np_timer_cancel(cw->loop, &cw->retry_t);
	inject_reports(cw);
	if (cw->head_mem &&
	    !np_spool_write(&cw->spool, recq_at(&cw->head, 0), cw->head_mem, true, &d)) {
		cw->st.spooled += cw->head_mem;
		recq_drop_front(&cw->head, cw->head_mem);
		cw->head_mem = 0;
	}
	account_drop(cw, &d, DROP_SPOOL_FULL);
	if (!cw->head_mem) {
		/* The rest of head is loaded segments, still on disk. */
		for (size_t i = 0; i < cw->n_segs; i++)
			np_spool_unload(&cw->spool, cw->segs[i].seq);
		cw->n_segs = 0;
		recq_drop_front(&cw->head, cw->head.n);
	}
	spill_tail(cw);
	/* Losses the last writes caused: reported after the restart. */
	inject_reports(cw);
	if (cw->head_mem &&
	    !np_spool_write(&cw->spool, recq_at(&cw->head, 0), cw->head_mem, true, &d)) {
		cw->st.spooled += cw->head_mem;
		recq_drop_front(&cw->head, cw->head_mem);
		cw->head_mem = 0;
	}
	update_gauges(cw);
}

static int cw_flush(struct np_sink *s, int timeout_ms)
{
	struct np_cw *cw = cw_of(s);
	uint64_t end = np_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	bool stopped = cw->loop->stop;
	int ret = 0;

	/* Usually called after np_loop_run() returned (stop set): run the
	 * loop again until delivered, the timeout, or another stop (a second
	 * SIGTERM) cuts it short. */
	cw->loop->stop = false;
	cw->flushing = true;
	emit_emf(cw);
	pump(cw);
	while (cw->head.n || cw->tail.n || cw->req || drops_pending(cw)) {
		uint64_t now = np_now_ms();

		if (now >= end || cw->loop->stop)
			break;
		ret = np_loop_once(cw->loop, (int)(end - now));
		if (ret < 0)
			break;
	}
	cw->flushing = false;
	cw->loop->stop = cw->loop->stop || stopped;
	if (cw->use_spool)
		spill_all(cw);
	update_gauges(cw);
	if (cw->head.n || cw->tail.n)
		ret = -ETIMEDOUT;
	return ret < 0 ? ret : 0;
}

void np_cw_stats_str(const struct np_cw_stats *st, char *buf, size_t sz)
{
	snprintf(buf, sz,
		 "produced=%" PRIu64 " reports=%" PRIu64 " from_spool_at_start=%" PRIu64
		 " shipped=%" PRIu64 " rejected=%" PRIu64 " dropped_spool=%" PRIu64
		 " dropped_failed=%" PRIu64 " dropped_corrupt=%" PRIu64 " dropped_oversize=%" PRIu64 " dropped_shutdown=%" PRIu64
		 " in_memory=%" PRIu64 " in_spool=%" PRIu64 " spooled=%" PRIu64 " requests=%" PRIu64
		 " retries=%" PRIu64 " bytes_sent=%" PRIu64 " bytes_uncompressed=%" PRIu64
		 " cred_refreshes=%" PRIu64,
		 st->produced, st->reports, st->from_spool_at_start, st->shipped, st->rejected,
		 st->dropped_spool, st->dropped_failed, st->dropped_corrupt, st->dropped_oversize, st->dropped_shutdown,
		 st->in_memory, st->in_spool, st->spooled, st->requests, st->retries, st->bytes_sent,
		 st->bytes_uncompressed, st->cred_refreshes);
}

void np_cw_get_stats(struct np_sink *s, struct np_cw_stats *out)
{
	struct np_cw *cw = cw_of(s);

	update_gauges(cw);
	*out = cw->st;
}

static void on_stats(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	struct np_cw *cw = ctx;
	char buf[1024];

	update_gauges(cw);
	if (memcmp(&cw->st, &cw->st_logged, sizeof(cw->st))) {
		np_cw_stats_str(&cw->st, buf, sizeof(buf));
		np_info("cloudwatch: %s", buf);
		cw->st_logged = cw->st;
	}
	np_timer_arm(loop, t, NP_CW_STATS_LOG_MS);
}

static void cw_destroy(struct np_sink *s)
{
	struct np_cw *cw = cw_of(s);
	char buf[1024];
	uint64_t left;

	if (!cw)
		return;
	np_timer_cancel(cw->loop, &cw->pump_t);
	np_timer_cancel(cw->loop, &cw->retry_t);
	np_timer_cancel(cw->loop, &cw->stats_t);
	np_timer_cancel(cw->loop, &cw->emf_t);
	np_emf_reset(&cw->emf);
	np_http_req_free(cw->req);
	cw->req = NULL;
	left = cw->head_mem + cw->tail.n;
	if (left) {
		np_err("cloudwatch: %" PRIu64 " records still in memory at exit are lost (use "
		       "--spool-dir to keep them across restarts)", left);
		cw->st.dropped_shutdown += left;
	}
	recq_drop_front(&cw->head, cw->head.n);
	recq_drop_front(&cw->tail, cw->tail.n);
	cw->head_mem = 0;
	cw->n_segs = 0;
	update_gauges(cw);
	if (cw->started) {
		np_cw_stats_str(&cw->st, buf, sizeof(buf));
		np_info("cloudwatch: final counters: %s", buf);
	}
	np_awscreds_free(&cw->creds);
	np_httpm_free(&cw->http);
	if (cw->use_spool)
		np_spool_close(&cw->spool);
	free(cw->head.v);
	free(cw->tail.v);
	free(cw->segs);
	free(cw->region);
	free(cw->endpoint);
	free(cw->group);
	free(cw->stream);
	free(cw->node);
	free(cw->sigv4);
	free(cw->ca_file);
	free(cw->cluster);
	free(cw);
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct np_sink *np_cw_new(struct np_loop *loop, const struct np_cw_cfg *cfg)
{
	struct np_awscreds_cfg env_creds;
	struct np_cw *cw = NULL;
	bool oom = false;
	int ret = -EINVAL;

	if (!cfg->region || !*cfg->region) {
		np_err("cloudwatch: no region: pass --aws-region or set AWS_REGION");
		goto cleanup;
	}
	if (!cfg->group || !*cfg->group || !cfg->stream || !*cfg->stream) {
		np_err("cloudwatch: log group and stream names must not be empty");
		goto cleanup;
	}
	if (cfg->endpoint && strncmp(cfg->endpoint, "http://", 7) &&
	    strncmp(cfg->endpoint, "https://", 8)) {
		np_err("cloudwatch: endpoint %s: must start with http:// or https://", cfg->endpoint);
		goto cleanup;
	}
	cw = calloc(1, sizeof(*cw));
	if (!cw) {
		ret = -ENOMEM;
		goto cleanup;
	}
	cw->sink.name = "cloudwatch";
	cw->sink.offer = cw_offer;
	cw->sink.pending_seq = cw_pending_seq;
	cw->sink.flush = cw_flush;
	cw->sink.destroy = cw_destroy;
	cw->loop = loop;
	cw->region = dup_or_null(cfg->region, &oom);
	cw->group = dup_or_null(cfg->group, &oom);
	cw->stream = dup_or_null(cfg->stream, &oom);
	cw->node = dup_or_null(cfg->node, &oom);
	cw->cluster = dup_or_null(cfg->cluster, &oom);
	if (cfg->endpoint)
		cw->endpoint = dup_or_null(cfg->endpoint, &oom);
	else if (asprintf(&cw->endpoint, "https://logs.%s.amazonaws.com/", cfg->region) < 0)
		cw->endpoint = NULL, oom = true;
	if (asprintf(&cw->sigv4, "aws:amz:%s:logs", cfg->region) < 0)
		cw->sigv4 = NULL, oom = true;
	if (oom) {
		ret = -ENOMEM;
		goto cleanup;
	}
	cw->create = cfg->create;
	cw->flush_delay_ms = cfg->flush_delay_ms ? cfg->flush_delay_ms : NP_CW_FLUSH_DELAY_MS_DEFAULT;
	cw->queue_max_bytes = cfg->queue_max_bytes ? cfg->queue_max_bytes : NP_CW_QUEUE_MAX_BYTES_DEFAULT;
	cw->timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : 30000;
	cw->retry_base_ms = cfg->retry_base_ms ? cfg->retry_base_ms : 500;
	cw->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : 30000;
	cw->client_error_attempts = cfg->client_error_attempts ? cfg->client_error_attempts : 5;
	cw->limits = cfg->limits;
	np_timer_init(&cw->pump_t, on_pump, cw);
	np_timer_init(&cw->retry_t, on_retry, cw);
	np_timer_init(&cw->stats_t, on_stats, cw);
	np_timer_init(&cw->emf_t, on_emf, cw);
	cw->emf_interval_ms = cfg->emf_interval_ms;
	cw->emf.cluster = cw->cluster;
	cw->emf.node = cw->node;
	ret = np_httpm_init(&cw->http, loop);
	if (ret < 0)
		goto cleanup;
	if (!cfg->creds) {
		np_awscreds_cfg_from_env(&env_creds, cfg->region);
	}
	ret = np_awscreds_init(&cw->creds, cfg->creds ? cfg->creds : &env_creds, &cw->http,
			       on_creds_ready, cw);
	if (ret < 0)
		goto cleanup;
	if (cw->creds.cfg.ca_file) {
		cw->ca_file = strdup(cw->creds.cfg.ca_file);
		if (!cw->ca_file) {
			ret = -ENOMEM;
			goto cleanup;
		}
	}
	if (cfg->spool_dir) {
		ret = np_spool_open(&cw->spool, cfg->spool_dir,
				    cfg->spool_max_bytes ? cfg->spool_max_bytes : NP_CW_SPOOL_MAX_BYTES_DEFAULT);
		if (ret < 0)
			goto cleanup;
		cw->use_spool = true;
		cw->st.from_spool_at_start = cw->spool.records;
	}
	np_info("cloudwatch: shipping to %s, log group %s, stream %s, flush delay %u ms, spool %s",
		cw->endpoint, cw->group, cw->stream, cw->flush_delay_ms,
		cfg->spool_dir ? cfg->spool_dir : "off (memory only)");
	np_timer_arm(loop, &cw->stats_t, NP_CW_STATS_LOG_MS);
	cw->started = true;
	kick(cw);
	update_gauges(cw);
	ret = 0;
cleanup:
	if (ret < 0 && cw) {
		cw_destroy(&cw->sink);
		cw = NULL;
	}
	return cw ? &cw->sink : NULL;
}
