// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The on-disk spool: see spool.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#define NP_SPOOL_MAX_SEGMENT (256u << 20)

static void seg_path(const struct np_spool *sp, const struct np_spool_seg *s, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s/seg-%020" PRIu64 "-%" PRIu32 "-%" PRId64 "-%" PRId64 ".gz", sp->dir,
		 s->seq, s->nrecs, s->first_ts, s->last_ts);
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
		int used = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			/* A segment whose write a crash interrupted: it was
			 * never renamed, so its records are still counted as
			 * the previous run's memory loss, not here. */
			unlink(path);
			continue;
		}
		if (sscanf(de->d_name, "seg-%20" SCNu64 "-%" SCNu32 "-%" SCNd64 "-%" SCNd64 ".gz%n",
			   &s.seq, &s.nrecs, &s.first_ts, &s.last_ts, &used) != 4 ||
		    de->d_name[used] != 0)
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

static void drop_add(struct np_spool_drop *drop, uint64_t nrecs, int64_t first, int64_t last)
{
	if (!drop || !nrecs)
		return;
	if (!drop->records || first < drop->first_ts)
		drop->first_ts = first;
	if (!drop->records || last > drop->last_ts)
		drop->last_ts = last;
	drop->records += nrecs;
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
		cap += recs[i].len + 24;
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

int np_spool_write(struct np_spool *sp, const struct np_rec *recs, size_t n, bool front,
		   struct np_spool_drop *drop)
{
	struct np_spool_seg s = { 0 };
	char tmp[4096], path[4096];
	char *gz = NULL;
	size_t gz_len = 0;
	int fd = -1, ret;

	if (!n)
		return 0;
	ret = encode(recs, n, &gz, &gz_len, &s.first_ts, &s.last_ts);
	if (ret < 0)
		goto cleanup;
	s.nrecs = (uint32_t)n;
	s.bytes = gz_len;
	if (gz_len > sp->max_bytes) {
		np_warn("spool: %zu records (%zu bytes compressed) exceed --spool-max-bytes %" PRIu64
			" by themselves: dropped", n, gz_len, sp->max_bytes);
		drop_add(drop, n, s.first_ts, s.last_ts);
		ret = 0;
		goto cleanup;
	}
	make_room(sp, gz_len, drop);
	if (!sp->n)
		s.seq = NP_SPOOL_SEQ_START;
	else if (front)
		s.seq = sp->segs[0].seq - 1;
	else
		s.seq = sp->segs[sp->n - 1].seq + 1;
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%020" PRIu64, sp->dir, s.seq);
	seg_path(sp, &s, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	ret = write_all(fd, gz, gz_len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	fd = -1;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (!ret)
		ret = fsync_dir(sp->dir);
	if (ret < 0) {
		unlink(tmp);
		goto cleanup;
	}
	if (front) {
		ret = np_vec_push(&sp->segs, &sp->n, &sp->cap, &s);
		if (!ret) {
			memmove(&sp->segs[1], &sp->segs[0], (sp->n - 1) * sizeof(*sp->segs));
			sp->segs[0] = s;
		}
	} else {
		ret = np_vec_push(&sp->segs, &sp->n, &sp->cap, &s);
	}
	if (ret < 0)
		goto cleanup;
	sp->used_bytes += s.bytes;
	sp->records += s.nrecs;
cleanup:
	if (ret < 0)
		np_err("spool: cannot write %zu records to %s: %s (disk full or read-only?)", n,
		       sp->dir, strerror(-ret));
	if (fd >= 0)
		close(fd);
	free(gz);
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
	if (fstat(fd, &st) < 0 || st.st_size > NP_SPOOL_MAX_SEGMENT) {
		ret = st.st_size > NP_SPOOL_MAX_SEGMENT ? -EFBIG : -errno;
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

static int gunzip(const char *in, size_t n, char **out, size_t *out_len)
{
	z_stream zs = { 0 };
	size_t cap = n * 4 + 1024;
	char *buf = NULL;
	int ret = 0, zr;

	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	do {
		char *p;

		if (cap > NP_SPOOL_MAX_SEGMENT * 8u) {
			ret = -EFBIG;
			goto cleanup;
		}
		p = realloc(buf, cap + 1);
		if (!p) {
			ret = -ENOMEM;
			goto cleanup;
		}
		buf = p;
		zs.next_out = (Bytef *)buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			ret = -EBADMSG;
			goto cleanup;
		}
		if (zr == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out) {
			ret = -EBADMSG; /* truncated */
			goto cleanup;
		}
		if (zr != Z_STREAM_END)
			cap *= 2;
	} while (zr != Z_STREAM_END);
	buf[zs.total_out] = 0;
	*out = buf;
	*out_len = zs.total_out;
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

static int decode(const char *raw, size_t len, uint32_t want, struct np_rec **out)
{
	struct np_rec *recs = calloc(want ? want : 1, sizeof(*recs));
	const char *p = raw, *end = raw + len;
	size_t k = 0;
	int ret = -EBADMSG;

	if (!recs)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char *sp;
		long long ts;

		if (!nl || k >= want)
			goto cleanup;
		errno = 0;
		ts = strtoll(p, &sp, 10);
		if (errno || sp == p || *sp != ' ' || sp >= nl)
			goto cleanup;
		sp++;
		recs[k].ts_ms = ts;
		recs[k].len = (uint32_t)(nl - sp);
		recs[k].line = strndup(sp, (size_t)(nl - sp));
		if (!recs[k].line) {
			ret = -ENOMEM;
			goto cleanup;
		}
		k++;
		p = nl + 1;
	}
	if (k != want)
		goto cleanup;
	*out = recs;
	recs = NULL;
	ret = 0;
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
		size_t gz_len = 0, raw_len = 0;
		int ret;

		if (s->loaded)
			continue;
		seg_path(sp, s, path, sizeof(path));
		ret = read_file(path, &gz, &gz_len);
		if (!ret)
			ret = gunzip(gz, gz_len, &raw, &raw_len);
		if (!ret)
			ret = decode(raw, raw_len, s->nrecs, recs);
		free(gz);
		free(raw);
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0) {
			snprintf(bad, sizeof(bad), "%s.bad", path);
			np_err("spool: segment %s is unreadable (%s): kept as %s, its %" PRIu32
			       " records counted as dropped", path, strerror(-ret), bad, s->nrecs);
			if (rename(path, bad) < 0)
				unlink(path);
			drop_add(drop, s->nrecs, s->first_ts, s->last_ts);
			seg_forget(sp, i);
			i--;
			continue;
		}
		s->loaded = true;
		*n = s->nrecs;
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
