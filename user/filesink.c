// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Flow records to stdout or a rotated local file: see filesink.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "filesink.h"
#include "log.h"
#include "strbuf.h"

struct filesink {
	struct np_sink sink;
	struct np_filesink_opts o;
	char *path;
	int fd;
	bool is_stdout;
	uint64_t size;
	struct np_strbuf buf;
	pthread_t gz_thread;
	bool gz_running;
	char gz_src[PATH_MAX], gz_dst[PATH_MAX];
};

int np_gzip_file(const char *src, const char *dst)
{
	char tmp[PATH_MAX], chunk[65536];
	gzFile gz = NULL;
	int in = -1, out = -1, ret = 0;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (in < 0 || out < 0) {
		ret = -errno;
		goto cleanup;
	}
	gz = gzdopen(dup(out), "wb6");
	if (!gz) {
		ret = -ENOMEM;
		goto cleanup;
	}
	while ((n = read(in, chunk, sizeof(chunk))) > 0) {
		if (gzwrite(gz, chunk, (unsigned int)n) != (int)n) {
			ret = -EIO;
			goto cleanup;
		}
	}
	if (n < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (gzclose(gz) != Z_OK) {
		gz = NULL;
		ret = -EIO;
		goto cleanup;
	}
	gz = NULL;
	if (fsync(out) < 0 || rename(tmp, dst) < 0) {
		ret = -errno;
		goto cleanup;
	}
	unlink(src);
cleanup:
	if (gz)
		gzclose(gz);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (ret)
		unlink(tmp);
	return ret;
}

static void *gz_job(void *arg)
{
	struct filesink *s = arg;
	int r = np_gzip_file(s->gz_src, s->gz_dst);

	if (r)
		np_warn("compressing rotated flow log %s into %s failed: %s; the uncompressed file is kept",
			s->gz_src, s->gz_dst, strerror(-r));
	return NULL;
}

static void gz_wait(struct filesink *s)
{
	if (s->gz_running) {
		pthread_join(s->gz_thread, NULL);
		s->gz_running = false;
	}
}

/* Cut a partial last line (a crash or power loss mid-write) so appends
 * start on a line boundary. */
static int repair_tail(int fd, uint64_t *size)
{
	struct stat st;
	char c[4096];
	off_t end;

	if (fstat(fd, &st) < 0)
		return -errno;
	end = st.st_size;
	while (end > 0) {
		off_t from = end > (off_t)sizeof(c) ? end - (off_t)sizeof(c) : 0;
		ssize_t n = pread(fd, c, (size_t)(end - from), from);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (ssize_t i = n - 1; i >= 0; i--) {
			if (c[i] == '\n') {
				off_t keep = from + i + 1;

				if (keep != st.st_size && ftruncate(fd, keep) < 0)
					return -errno;
				*size = (uint64_t)keep;
				return 0;
			}
		}
		end = from;
	}
	if (st.st_size && ftruncate(fd, 0) < 0)
		return -errno;
	*size = 0;
	return 0;
}

static int open_file(struct filesink *s)
{
	int r;

	s->fd = open(s->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (s->fd < 0) {
		r = -errno;
		np_err("opening the flow log %s failed: %s; check the directory exists and is writable",
		       s->path, strerror(errno));
		return r;
	}
	r = repair_tail(s->fd, &s->size);
	if (r)
		np_err("checking the end of the flow log %s failed: %s", s->path, strerror(-r));
	return r;
}

static void rotated_name(const struct filesink *s, unsigned int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%u.gz", s->path, i);
}

/* PATH -> PATH.1.gz (compressed in the background), shifting the others. */
static int rotate(struct filesink *s)
{
	char from[PATH_MAX], to[PATH_MAX];
	int r;

	gz_wait(s);
	close(s->fd);
	s->fd = -1;
	rotated_name(s, s->o.keep, to, sizeof(to));
	unlink(to);
	for (unsigned int i = s->o.keep; i > 1; i--) {
		rotated_name(s, i - 1, from, sizeof(from));
		rotated_name(s, i, to, sizeof(to));
		rename(from, to); /* ENOENT: fewer files so far */
	}
	snprintf(s->gz_src, sizeof(s->gz_src), "%s.rotating", s->path);
	rotated_name(s, 1, s->gz_dst, sizeof(s->gz_dst));
	if (s->o.keep && rename(s->path, s->gz_src) == 0) {
		if (pthread_create(&s->gz_thread, NULL, gz_job, s) == 0)
			s->gz_running = true;
		else
			gz_job(s);
	} else {
		unlink(s->path);
	}
	r = open_file(s);
	return r;
}

static size_t filesink_offer(struct np_sink *sink, struct np_rec *recs, size_t n)
{
	struct filesink *s = (struct filesink *)sink;
	size_t done = 0;
	ssize_t w;

	if (s->fd < 0 && !s->is_stdout && open_file(s))
		return 0;
	np_sb_reset(&s->buf);
	for (size_t i = 0; i < n; i++) {
		np_sb_add(&s->buf, recs[i].line, recs[i].len);
		np_sb_add(&s->buf, "\n", 1);
	}
	if (s->buf.oom)
		return 0;
	while (done < s->buf.len) {
		w = write(s->fd, s->buf.p + done, s->buf.len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			np_err("writing %zu flow records to %s failed: %s; keeping them queued",
			       n, s->is_stdout ? "standard output" : s->path,
			       w < 0 ? strerror(errno) : "short write");
			/* Never leave half a line behind. */
			if (!s->is_stdout && done && ftruncate(s->fd, (off_t)s->size) < 0)
				np_err("cutting the partial write from %s failed: %s", s->path,
				       strerror(errno));
			return 0;
		}
		done += (size_t)w;
	}
	s->size += done;
	for (size_t i = 0; i < n; i++)
		np_rec_free(&recs[i]);
	s->sink.stats.accepted += n;
	s->sink.stats.delivered += n;
	if (!s->is_stdout && s->o.max_bytes && s->size >= s->o.max_bytes && rotate(s))
		np_err("rotating the flow log %s failed; will retry on the next write", s->path);
	return n;
}

static int filesink_flush(struct np_sink *sink, int timeout_ms)
{
	struct filesink *s = (struct filesink *)sink;

	(void)timeout_ms;
	if (s->fd >= 0 && !s->is_stdout && fsync(s->fd) < 0)
		return -errno;
	return 0;
}

static void filesink_destroy(struct np_sink *sink)
{
	struct filesink *s = (struct filesink *)sink;

	if (!s)
		return;
	gz_wait(s);
	if (s->fd >= 0 && !s->is_stdout)
		close(s->fd);
	np_sb_free(&s->buf);
	free(s->path);
	free(s);
}

struct np_sink *np_filesink_new(const struct np_filesink_opts *o, int *err)
{
	struct filesink *s = calloc(1, sizeof(*s));
	int r = -ENOMEM;

	if (!s)
		goto cleanup;
	s->o = *o;
	s->fd = -1;
	s->sink.offer = filesink_offer;
	s->sink.flush = filesink_flush;
	s->sink.destroy = filesink_destroy;
	s->is_stdout = strcmp(o->path, "-") == 0;
	s->sink.name = s->is_stdout ? "stdout" : "file";
	s->path = strdup(o->path);
	if (!s->path)
		goto cleanup;
	if (s->is_stdout) {
		s->fd = STDOUT_FILENO;
		r = 0;
		goto cleanup;
	}
	r = open_file(s);
cleanup:
	if (r && s) {
		filesink_destroy(&s->sink);
		s = NULL;
	}
	*err = r;
	return s ? &s->sink : NULL;
}
