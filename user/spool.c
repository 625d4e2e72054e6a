// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The on-disk spool: see spool.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cwbatch.h"
#include "log.h"
#include "spool.h"
#include "vec.h"

/* The first segment of an empty spool; leaves room to put older ones
 * before it (np_spool_write FRONT). */
#define NP_SPOOL_SEQ_START (1ULL << 62)

/* The largest segment this spool writes: np_spool_write cuts a batch into
 * segments of at most 4 MiB of text (plus the record that crosses it, at
 * most NP_CW_MAX_MESSAGE) and 16,384 records. */
#define NP_SPOOL_SEG_RAW (4u << 20)
#define NP_SPOOL_SEG_RECS 16384u
/* What replay accepts: 4 times that, 16 MiB of text and 65,536 records,
 * because agents before the cut wrote a whole memory tail as one segment
 * (--cloudwatch-queue-bytes, 8 MiB by default, plus a timestamp per
 * record: about 9 MiB).  Anything larger is not a segment we wrote (a
 * gzip bomb, a foreign file) and is set aside unread.  Reading one segment
 * then holds at most about 50 MiB (the file, its text, the records),
 * well inside the agent's 256 MiB. */
#define NP_SPOOL_MAX_RAW (4u * NP_SPOOL_SEG_RAW)
#define NP_SPOOL_MAX_RECS (4u * NP_SPOOL_SEG_RECS)
/* Deflate grows incompressible data by about 0.03% at most (zlib's
 * deflateBound), plus header and trailer: a larger file would hold more
 * than NP_SPOOL_MAX_RAW, and is refused before it is read. */
#define NP_SPOOL_MAX_FILE (NP_SPOOL_MAX_RAW + (NP_SPOOL_MAX_RAW >> 10) + 4096)
/* "<ts_ms> " and "\n" around a record: 20 digits, sign, space, newline. */
#define NP_SPOOL_REC_OVERHEAD 23u

static void seg_path(const struct np_spool *sp, const struct np_spool_seg *s, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s/%s", sp->dir, s->name);
}

static void seg_name(struct np_spool_seg *s)
{
	snprintf(s->name, sizeof(s->name), "seg-%020" PRIu64 "-%" PRIu32 "-%" PRId64 "-%" PRId64 ".gz",
		 s->seq, s->nrecs, s->first_ts, s->last_ts);
}

static bool num_at(const char *p, bool sign)
{
	return (*p >= '0' && *p <= '9') || (sign && *p == '-' && p[1] >= '0' && p[1] <= '9');
}

/* Parse NAME as seg-<seq>-<records>-<first ts>-<last ts>.gz into *S.
 * -EINVAL when it is no segment name (other files are left alone). */
static int parse_name(const char *name, struct np_spool_seg *s)
{
	const char *p = name + 4;
	unsigned long long nrecs;
	char *end;

	if (strncmp(name, "seg-", 4) || strlen(name) >= sizeof(s->name) || !num_at(p, false))
		return -EINVAL;
	errno = 0;
	s->seq = strtoull(p, &end, 10);
	if (errno || *end != '-' || !num_at(end + 1, false))
		return -EINVAL;
	/* Saturates on overflow: a huge count stays huge, and is capped. */
	nrecs = strtoull(end + 1, &end, 10);
	if (*end != '-' || !num_at(end + 1, true))
		return -EINVAL;
	s->first_ts = strtoll(end + 1, &end, 10);
	if (*end != '-' || !num_at(end + 1, true))
		return -EINVAL;
	s->last_ts = strtoll(end + 1, &end, 10);
	if (strcmp(end, ".gz"))
		return -EINVAL;
	/* The name's count is only what the writer claimed: it is what the
	 * spool reports until the segment is read, so it is kept to what a
	 * segment may hold, and nothing is ever sized by it. */
	s->nrecs = nrecs > NP_SPOOL_MAX_RECS ? NP_SPOOL_MAX_RECS : (uint32_t)nrecs;
	strcpy(s->name, name);
	return 0;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct np_spool_seg *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir), *s;
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			ret = -errno;
			goto cleanup;
		}
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		ret = -errno;
cleanup:
	free(p);
	return ret;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int np_spool_open(struct np_spool *sp, const char *dir, uint64_t max_bytes)
{
	struct dirent *de;
	DIR *d = NULL;
	int ret;

	memset(sp, 0, sizeof(*sp));
	sp->max_bytes = max_bytes;
	sp->dir = strdup(dir);
	if (!sp->dir)
		return -ENOMEM;
	ret = mkdir_p(dir);
	if (ret < 0) {
		np_err("spool: cannot create directory %s: %s (check --spool-dir and permissions)",
		       dir, strerror(-ret));
		goto cleanup;
	}
	d = opendir(dir);
	if (!d) {
		ret = -errno;
		np_err("spool: cannot read directory %s: %s", dir, strerror(-ret));
		goto cleanup;
	}
	while ((de = readdir(d))) {
		struct np_spool_seg s = { 0 };
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			/* A segment whose write a crash interrupted: it was
			 * never renamed, so its records are still counted as
			 * the previous run's memory loss, not here. */
			unlink(path);
			continue;
		}
		if (parse_name(de->d_name, &s) < 0)
			continue;
		if (stat(path, &st) < 0)
			continue;
		s.bytes = (uint64_t)st.st_size;
		ret = np_vec_push(&sp->segs, &sp->n, &sp->cap, &s);
		if (ret < 0)
			goto cleanup;
		sp->used_bytes += s.bytes;
		sp->records += s.nrecs;
	}
	if (sp->n)
		qsort(sp->segs, sp->n, sizeof(*sp->segs), seg_cmp);
	if (sp->n)
		np_info("spool: %zu segments (%" PRIu64 " records, %" PRIu64 " bytes) in %s to replay",
			sp->n, sp->records, sp->used_bytes, dir);
	ret = 0;
cleanup:
	if (d)
		closedir(d);
	if (ret < 0)
		np_spool_close(sp);
	return ret;
}

void np_spool_close(struct np_spool *sp)
{
	free(sp->dir);
	free(sp->segs);
	memset(sp, 0, sizeof(*sp));
}

size_t np_spool_pending(const struct np_spool *sp)
{
	size_t k = 0;

	for (size_t i = 0; i < sp->n; i++)
		k += !sp->segs[i].loaded;
	return k;
}

/* Records given up, not whole segments (bad records of a readable one). */
static void drop_records(struct np_spool_drop *drop, uint64_t nrecs, int64_t first, int64_t last)
{
	if (!drop || !nrecs)
		return;
	if (!drop->records || first < drop->first_ts)
		drop->first_ts = first;
	if (!drop->records || last > drop->last_ts)
		drop->last_ts = last;
	drop->records += nrecs;
}

static void drop_add(struct np_spool_drop *drop, uint64_t nrecs, int64_t first, int64_t last)
{
	if (!drop || !nrecs)
		return;
	drop_records(drop, nrecs, first, last);
	drop->segments++;
}

static void seg_forget(struct np_spool *sp, size_t i)
{
	sp->used_bytes -= sp->segs[i].bytes;
	sp->records -= sp->segs[i].nrecs;
	memmove(&sp->segs[i], &sp->segs[i + 1], (sp->n - i - 1) * sizeof(*sp->segs));
	sp->n--;
}

/* Delete the oldest segments (never a loaded one) until NEED more bytes fit. */
static void make_room(struct np_spool *sp, uint64_t need, struct np_spool_drop *drop)
{
	size_t i = 0;

	while (sp->used_bytes + need > sp->max_bytes && i < sp->n) {
		struct np_spool_seg *s = &sp->segs[i];
		char path[4096];

		if (s->loaded) {
			i++;
			continue;
		}
		seg_path(sp, s, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			np_warn("spool: cannot delete %s: %s", path, strerror(errno));
		np_warn("spool: full (--spool-max-bytes %" PRIu64 "): dropped %" PRIu32
			" oldest records (ts %" PRId64 "..%" PRId64 ")",
			sp->max_bytes, s->nrecs, s->first_ts, s->last_ts);
		drop_add(drop, s->nrecs, s->first_ts, s->last_ts);
		seg_forget(sp, i);
	}
}

static int encode(const struct np_rec *recs, size_t n, char **out, size_t *out_len,
		  int64_t *first, int64_t *last)
{
	char *raw = NULL;
	size_t len = 0, cap = 0;
	int ret = -ENOMEM;

	for (size_t i = 0; i < n; i++)
		cap += recs[i].len + NP_SPOOL_REC_OVERHEAD;
	raw = malloc(cap + 1);
	if (!raw)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		len += (size_t)sprintf(raw + len, "%" PRId64 " ", recs[i].ts_ms);
		memcpy(raw + len, recs[i].line, recs[i].len);
		len += recs[i].len;
		raw[len++] = '\n';
		if (!i || recs[i].ts_ms < *first)
			*first = recs[i].ts_ms;
		if (!i || recs[i].ts_ms > *last)
			*last = recs[i].ts_ms;
	}
	ret = np_gzip(raw, len, out, out_len);
cleanup:
	free(raw);
	return ret;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_tmp(const char *tmp, const char *gz, size_t gz_len)
{
	int fd, ret;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, gz, gz_len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

/* One segment of a write: RECS[FROM..FROM+S.nrecs), compressed. */
struct chunk {
	size_t from;
	struct np_spool_seg s;
	char *gz;
	int state; /* 0 nothing on disk, 1 temporary file, 2 renamed */
};

/* Cut RECS[0..N) into segments no larger than replay accepts from us
 * (NP_SPOOL_SEG_RAW, NP_SPOOL_SEG_RECS); each holds at least one record. */
static size_t cut(const struct np_rec *recs, size_t n, struct chunk *c)
{
	size_t k = 0, raw = 0, in = 0;

	for (size_t i = 0; i < n; i++) {
		size_t sz = recs[i].len + NP_SPOOL_REC_OVERHEAD;

		if (!k || in >= NP_SPOOL_SEG_RECS || raw + sz > NP_SPOOL_SEG_RAW) {
			if (c)
				c[k].from = i;
			k++;
			raw = in = 0;
		}
		if (c)
			c[k - 1].s.nrecs++;
		raw += sz;
		in++;
	}
	return k;
}

int np_spool_write(struct np_spool *sp, const struct np_rec *recs, size_t n, bool front,
		   struct np_spool_drop *drop)
{
	struct chunk *c = NULL;
	char tmp[4096], path[4096];
	int64_t first = 0, last = 0;
	uint64_t total = 0, base;
	size_t k = 0;
	int ret = 0;

	if (!n)
		return 0;
	/* Count the segments first (nothing written), then fill them. */
	k = cut(recs, n, NULL);
	c = calloc(k, sizeof(*c));
	if (!c) {
		ret = -ENOMEM;
		goto cleanup;
	}
	cut(recs, n, c);
	for (size_t j = 0; j < k; j++) {
		size_t gz_len = 0;

		ret = encode(recs + c[j].from, c[j].s.nrecs, &c[j].gz, &gz_len, &c[j].s.first_ts,
			     &c[j].s.last_ts);
		if (ret < 0)
			goto cleanup;
		c[j].s.bytes = gz_len;
		total += c[j].s.bytes;
		if (!j || c[j].s.first_ts < first)
			first = c[j].s.first_ts;
		if (!j || c[j].s.last_ts > last)
			last = c[j].s.last_ts;
	}
	if (total > sp->max_bytes) {
		np_warn("spool: %zu records (%" PRIu64 " bytes compressed) exceed --spool-max-bytes %"
			PRIu64 " by themselves: dropped", n, total, sp->max_bytes);
		drop_add(drop, n, first, last);
		ret = 0;
		goto cleanup;
	}
	make_room(sp, total, drop);
	/* Room in the index first: once the files are renamed, nothing may fail. */
	while (sp->cap < sp->n + k) {
		ret = np_vec_grow((void **)&sp->segs, sp->cap, &sp->cap, sizeof(*sp->segs));
		if (ret < 0)
			goto cleanup;
	}
	if (!sp->n)
		base = NP_SPOOL_SEQ_START;
	else if (front)
		base = sp->segs[0].seq - k;
	else
		base = sp->segs[sp->n - 1].seq + 1;
	for (size_t j = 0; j < k; j++) {
		c[j].s.seq = base + j;
		seg_name(&c[j].s);
		snprintf(tmp, sizeof(tmp), "%s/.tmp-%020" PRIu64, sp->dir, c[j].s.seq);
		c[j].state = 1;
		ret = write_tmp(tmp, c[j].gz, c[j].s.bytes);
		if (ret < 0)
			goto cleanup;
	}
	/* All or none: a batch only partly on disk would be both spooled and
	 * still the caller's (sent twice, counted twice). */
	for (size_t j = 0; j < k; j++) {
		snprintf(tmp, sizeof(tmp), "%s/.tmp-%020" PRIu64, sp->dir, c[j].s.seq);
		seg_path(sp, &c[j].s, path, sizeof(path));
		if (rename(tmp, path) < 0) {
			ret = -errno;
			goto cleanup;
		}
		c[j].state = 2;
	}
	ret = fsync_dir(sp->dir);
	if (ret < 0)
		goto cleanup;
	if (front)
		memmove(&sp->segs[k], &sp->segs[0], sp->n * sizeof(*sp->segs));
	for (size_t j = 0; j < k; j++) {
		sp->segs[front ? j : sp->n + j] = c[j].s;
		sp->used_bytes += c[j].s.bytes;
		sp->records += c[j].s.nrecs;
	}
	sp->n += k;
cleanup:
	if (ret < 0)
		np_err("spool: cannot write %zu records to %s: %s (disk full or read-only?)", n,
		       sp->dir, strerror(-ret));
	for (size_t j = 0; c && j < k; j++) {
		if (ret < 0 && c[j].state == 1) {
			snprintf(tmp, sizeof(tmp), "%s/.tmp-%020" PRIu64, sp->dir, c[j].s.seq);
			unlink(tmp);
		} else if (ret < 0 && c[j].state == 2) {
			seg_path(sp, &c[j].s, path, sizeof(path));
			unlink(path);
		}
		free(c[j].gz);
	}
	free(c);
	return ret;
}

static int read_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (st.st_size > NP_SPOOL_MAX_FILE) {
		ret = -EFBIG;
		goto cleanup;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto cleanup;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			goto cleanup;
		}
		got += (size_t)r;
	}
	*out = buf;
	*len = got;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return ret;
}

/* Inflate the one gzip member IN[0..N) into a malloc'ed, NUL-terminated
 * *OUT.  The member's trailer declares its size (mod 2^32): a declared
 * size above NP_SPOOL_MAX_RAW is refused before inflating anything, and the
 * buffer is exactly the declared size, so a stream that inflates to more
 * (a bomb with a forged trailer) stops at one byte past it.  -EFBIG for
 * too big, -EBADMSG for damaged or truncated. */
static int gunzip(const char *in, size_t n, char **out, size_t *out_len)
{
	const unsigned char *t = (const unsigned char *)in + n - 4;
	z_stream zs = { 0 };
	char *buf = NULL;
	uint32_t isize;
	int ret = 0, zr;

	if (n < 18) /* a 10-byte header and an 8-byte trailer at least */
		return -EBADMSG;
	isize = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
	if (isize > NP_SPOOL_MAX_RAW)
		return -EFBIG;
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	/* One byte of room past the declared size tells "more than declared"
	 * apart from "exactly". */
	buf = malloc((size_t)isize + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto cleanup;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = (Bytef *)buf;
	zs.avail_out = isize + 1;
	zr = inflate(&zs, Z_FINISH);
	if (zr == Z_STREAM_END) {
		/* zlib checked the CRC and the length; what follows the member
		 * is not something the spool writes. */
		if (zs.total_out != isize || zs.avail_in)
			ret = -EBADMSG;
	} else if ((zr == Z_BUF_ERROR || zr == Z_OK) && !zs.avail_out) {
		ret = -EFBIG;
	} else {
		ret = -EBADMSG; /* damaged, or truncated (input ran out) */
	}
	if (ret < 0)
		goto cleanup;
	buf[isize] = 0;
	*out = buf;
	*out_len = isize;
	buf = NULL;
cleanup:
	inflateEnd(&zs);
	free(buf);
	return ret;
}

static void free_recs(struct np_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		np_rec_free(&recs[i]);
	free(recs);
}

/* One line "<ts_ms> <record>" (newline excluded) into *R; false when it is
 * no valid record: no timestamp, or a record that is empty, has a NUL byte
 * (its length would then disagree with its string) or is longer than a
 * CloudWatch Logs event may be (it could never be shipped, and it would
 * stop the batches behind it). */
static bool parse_line(const char *p, const char *nl, struct np_rec *r, int *err)
{
	size_t len;
	char *sp;
	long long ts;

	if (!num_at(p, true))
		return false;
	errno = 0;
	ts = strtoll(p, &sp, 10);
	if (errno || sp >= nl || *sp != ' ')
		return false;
	sp++;
	len = (size_t)(nl - sp);
	if (!len || len > NP_CW_MAX_MESSAGE || memchr(sp, 0, len))
		return false;
	r->line = malloc(len + 1);
	if (!r->line) {
		*err = -ENOMEM;
		return false;
	}
	memcpy(r->line, sp, len);
	r->line[len] = 0;
	r->len = (uint32_t)len;
	r->ts_ms = ts;
	r->seq = 0; /* on disk: durable already */
	return true;
}

/* The records of RAW[0..LEN) into *OUT[0..*N); *BAD gets how many lines
 * were skipped.  The count comes from the contents: -E2BIG when there are
 * more lines than a segment may hold. */
static int decode(const char *raw, size_t len, struct np_rec **out, size_t *n, uint64_t *bad)
{
	const char *p = raw, *end = raw + len;
	struct np_rec *recs = NULL;
	size_t lines = 0, k = 0;
	int ret = 0;

	*bad = 0;
	for (const char *q = raw; q < end; lines++) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));

		q = nl ? nl + 1 : end;
	}
	if (lines > NP_SPOOL_MAX_RECS)
		return -E2BIG;
	recs = calloc(lines ? lines : 1, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		/* The spool ends every line: one without its newline was cut. */
		if (nl && parse_line(p, nl, &recs[k], &ret))
			k++;
		else if (ret < 0)
			goto cleanup;
		else
			(*bad)++;
		p = nl ? nl + 1 : end;
	}
	*out = recs;
	*n = k;
	recs = NULL;
cleanup:
	if (recs)
		free_recs(recs, k);
	return ret;
}

int np_spool_load_oldest(struct np_spool *sp, struct np_rec **recs, size_t *n, uint64_t *seq,
			 struct np_spool_drop *drop)
{
	for (size_t i = 0; i < sp->n; i++) {
		struct np_spool_seg *s = &sp->segs[i];
		char path[4096], bad[4200], *gz = NULL, *raw = NULL;
		size_t gz_len = 0, raw_len = 0, k = 0;
		struct np_rec *got = NULL;
		uint64_t skipped = 0;
		int ret;

		if (s->loaded)
			continue;
		seg_path(sp, s, path, sizeof(path));
		ret = read_file(path, &gz, &gz_len);
		if (!ret)
			ret = gunzip(gz, gz_len, &raw, &raw_len);
		free(gz);
		if (!ret)
			ret = decode(raw, raw_len, &got, &k, &skipped);
		free(raw);
		if (!ret && !k) {
			free(got);
			ret = -ENODATA; /* nothing in it could be shipped */
		}
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0) {
			snprintf(bad, sizeof(bad), "%s.bad", path);
			np_err("spool: segment %s is unreadable (%s): kept as %s, its %" PRIu32
			       " records counted as dropped; remove it once inspected", path,
			       ret == -EFBIG || ret == -E2BIG ? "larger than a spool segment may be" :
			       strerror(-ret), bad, s->nrecs);
			if (rename(path, bad) < 0)
				unlink(path);
			drop_add(drop, s->nrecs, s->first_ts, s->last_ts);
			seg_forget(sp, i);
			i--;
			continue;
		}
		if (skipped) {
			np_err("spool: segment %s: %" PRIu64 " damaged records (NUL byte, empty, longer "
			       "than %u bytes or no timestamp) skipped and counted as dropped; the "
			       "other %zu are replayed", path, skipped, NP_CW_MAX_MESSAGE, k);
			drop_records(drop, skipped, s->first_ts, s->last_ts);
		}
		/* From here on the spool counts what the segment holds. */
		sp->misnamed += (int64_t)s->nrecs - (int64_t)(k + skipped);
		sp->records = sp->records - s->nrecs + k;
		s->nrecs = (uint32_t)k;
		s->loaded = true;
		*recs = got;
		*n = k;
		*seq = s->seq;
		return 0;
	}
	return -ENOENT;
}

int np_spool_remove(struct np_spool *sp, uint64_t seq)
{
	for (size_t i = 0; i < sp->n; i++) {
		char path[4096];

		if (sp->segs[i].seq != seq)
			continue;
		seg_path(sp, &sp->segs[i], path, sizeof(path));
		seg_forget(sp, i);
		if (unlink(path) < 0 && errno != ENOENT) {
			int err = errno;

			np_warn("spool: cannot delete delivered segment %s: %s (it would be sent again"
				" after a restart)", path, strerror(err));
			return -err;
		}
		return 0;
	}
	return -ENOENT;
}

void np_spool_unload(struct np_spool *sp, uint64_t seq)
{
	for (size_t i = 0; i < sp->n; i++)
		if (sp->segs[i].seq == seq)
			sp->segs[i].loaded = false;
}
