// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The on-disk spool (user/spool.c): order, restart, bound, corruption. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "cwbatch.h"
#include "spool.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/netpol-cw-spool.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* N records with ids FIRST.. as lines {"id":ID}, ts = 1000 * id. */
static struct np_rec *recs(uint64_t first, size_t n)
{
	struct np_rec *r = calloc(n, sizeof(*r));

	assert_non_null(r);
	for (size_t i = 0; i < n; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "{\"id\":%" PRIu64 ",\"pad\":\"%040d\"}", first + i, 0);
		r[i].line = strdup(buf);
		r[i].len = (uint32_t)strlen(buf);
		r[i].ts_ms = (int64_t)(first + i) * 1000;
	}
	return r;
}

static void free_recs(struct np_rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		np_rec_free(&r[i]);
	free(r);
}

static void write_ids(struct np_spool *sp, uint64_t first, size_t n, bool front,
		      struct np_spool_drop *d)
{
	struct np_rec *r = recs(first, n);

	assert_int_equal(np_spool_write(sp, r, n, front, d), 0);
	free_recs(r, n);
}

/* Load the oldest segment; check it holds ids FIRST..FIRST+N-1; remove it. */
static void expect_next(struct np_spool *sp, uint64_t first, size_t n)
{
	struct np_spool_drop d = { 0 };
	struct np_rec *r = NULL;
	size_t got = 0;
	uint64_t seq;

	assert_int_equal(np_spool_load_oldest(sp, &r, &got, &seq, &d), 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		char want[64];

		snprintf(want, sizeof(want), "{\"id\":%" PRIu64 ",", first + i);
		assert_int_equal(strncmp(r[i].line, want, strlen(want)), 0);
		assert_int_equal(r[i].ts_ms, (int64_t)(first + i) * 1000);
		assert_int_equal(r[i].len, strlen(r[i].line));
	}
	free_recs(r, got);
	assert_int_equal(np_spool_remove(sp, seq), 0);
}

static void test_order_front_and_restart(void **state)
{
	struct np_spool sp;
	struct np_spool_drop d = { 0 };

	(void)state;
	assert_int_equal(np_spool_open(&sp, dir, 1 << 20), 0);
	write_ids(&sp, 100, 10, false, &d);
	write_ids(&sp, 110, 5, false, &d);
	write_ids(&sp, 50, 7, true, &d); /* older than both: goes first */
	assert_int_equal(sp.records, 22);
	assert_int_equal(d.records, 0);
	np_spool_close(&sp);

	/* A restart finds them again, in the same order. */
	assert_int_equal(np_spool_open(&sp, dir, 1 << 20), 0);
	assert_int_equal(sp.n, 3);
	assert_int_equal(sp.records, 22);
	expect_next(&sp, 50, 7);
	expect_next(&sp, 100, 10);
	expect_next(&sp, 110, 5);
	assert_int_equal(sp.n, 0);
	assert_int_equal(sp.used_bytes, 0);
	np_spool_close(&sp);
}

static size_t count_files(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void test_full_drops_oldest_and_accounts(void **state)
{
	struct np_spool sp;
	struct np_spool_drop d = { 0 };
	uint64_t seg_bytes;

	(void)state;
	/* Measure one segment of 100 records, then bound the spool to 3. */
	assert_int_equal(np_spool_open(&sp, dir, 1 << 30), 0);
	write_ids(&sp, 0, 100, false, &d);
	seg_bytes = sp.used_bytes;
	expect_next(&sp, 0, 100);
	np_spool_close(&sp);

	assert_int_equal(np_spool_open(&sp, dir, seg_bytes * 3 + seg_bytes / 2), 0);
	for (uint64_t i = 0; i < 5; i++)
		write_ids(&sp, 1000 + i * 100, 100, false, &d);
	/* Two oldest segments (ids 1000..1199) deleted and accounted. */
	assert_int_equal(d.records, 200);
	assert_int_equal(d.segments, 2);
	assert_int_equal(d.first_ts, 1000 * 1000);
	assert_int_equal(d.last_ts, 1199 * 1000);
	assert_true(sp.used_bytes <= sp.max_bytes);
	assert_int_equal(count_files("seg-"), 3);
	expect_next(&sp, 1200, 100);
	expect_next(&sp, 1300, 100);
	expect_next(&sp, 1400, 100);
	np_spool_close(&sp);
}

static void test_loaded_segment_never_dropped(void **state)
{
	struct np_spool sp;
	struct np_spool_drop d = { 0 };
	struct np_rec *r = NULL;
	size_t n = 0;
	uint64_t seq, seg_bytes;

	(void)state;
	assert_int_equal(np_spool_open(&sp, dir, 1 << 30), 0);
	write_ids(&sp, 0, 100, false, &d);
	seg_bytes = sp.used_bytes;
	sp.max_bytes = seg_bytes * 2 + seg_bytes / 2;
	/* The oldest is being replayed: the bound deletes the next one. */
	assert_int_equal(np_spool_load_oldest(&sp, &r, &n, &seq, &d), 0);
	free_recs(r, n);
	write_ids(&sp, 100, 100, false, &d);
	write_ids(&sp, 200, 100, false, &d);
	assert_int_equal(d.records, 100);
	assert_int_equal(d.first_ts, 100 * 1000);
	assert_int_equal(np_spool_remove(&sp, seq), 0);
	expect_next(&sp, 200, 100);
	np_spool_close(&sp);
}

static void test_too_big_alone_is_dropped(void **state)
{
	struct np_spool sp;
	struct np_spool_drop d = { 0 };

	(void)state;
	assert_int_equal(np_spool_open(&sp, dir, 64), 0);
	write_ids(&sp, 0, 100, false, &d);
	assert_int_equal(d.records, 100);
	assert_int_equal(sp.n, 0);
	np_spool_close(&sp);
}

static void test_corrupt_and_tmp_files(void **state)
{
	struct np_spool sp;
	struct np_spool_drop d = { 0 };
	char path[256];
	FILE *f;

	(void)state;
	assert_int_equal(np_spool_open(&sp, dir, 1 << 20), 0);
	write_ids(&sp, 0, 10, false, &d);
	write_ids(&sp, 10, 10, false, &d);
	/* Damage the first segment; leave a half-written temporary file. */
	snprintf(path, sizeof(path), "%s/seg-%020" PRIu64 "-10-0-9000.gz", dir, sp.segs[0].seq);
	f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, 20, SEEK_SET);
	fputs("garbage garbage garbage", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.tmp-00000000000000000001", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	np_spool_close(&sp);

	assert_int_equal(np_spool_open(&sp, dir, 1 << 20), 0);
	assert_int_equal(count_files(".tmp-"), 0);
	{
		struct np_rec *r = NULL;
		size_t n = 0;
		uint64_t seq;

		/* The damaged one is set aside and counted; the next is read. */
		assert_int_equal(np_spool_load_oldest(&sp, &r, &n, &seq, &d), 0);
		assert_int_equal(d.records, 10);
		assert_int_equal(n, 10);
		assert_int_equal(r[0].ts_ms, 10 * 1000);
		free_recs(r, n);
		assert_int_equal(np_spool_remove(&sp, seq), 0);
	}
	assert_int_equal(count_files("seg-"), 1); /* the .bad one */
	np_spool_close(&sp);
}

static size_t count_suffix(const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, sl = strlen(suffix);

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		n += l >= sl && !strcmp(de->d_name + l - sl, suffix);
	}
	closedir(d);
	return n;
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A segment file NAME (written by hand, as a damaged or foreign one would
 * be) whose text is RAW[0..LEN), gzip'ed as the spool does. */
static void write_raw_seg(const char *name, const char *raw, size_t len)
{
	char *gz = NULL;
	size_t gz_len = 0;

	assert_int_equal(np_gzip(raw, len, &gz, &gz_len), 0);
	write_file(name, gz, gz_len);
	free(gz);
}

/* The text the spool writes for ids FIRST..FIRST+N-1 (see recs()). */
static char *raw_ids(uint64_t first, size_t n, size_t *len)
{
	struct np_rec *r = recs(first, n);
	char *raw = malloc(n * 128 + 1);
	size_t l = 0;

	assert_non_null(raw);
	for (size_t i = 0; i < n; i++)
		l += (size_t)sprintf(raw + l, "%" PRId64 " %s\n", r[i].ts_ms, r[i].line);
	free_recs(r, n);
	*len = l;
	return raw;
}

static void test_nul_record_skipped_and_counted(void **state)
{
	/* The second record hides heap-looking bytes behind a NUL; the third
	 * has none after its timestamp; the fourth is empty. */
	static const char raw[] = "1000 {\"id\":1}\n"
				  "2000 {\"id\":2,\0\"secret\":\"heap heap heap heap\"}\n"
				  "3000 {\"id\":3}\n"
				  "3500 \n"
				  "4000 {\"id\":4}\n";
	static const char *const want[] = { "{\"id\":1}", "{\"id\":3}", "{\"id\":4}" };
	struct np_spool sp;
	struct np_spool_drop d = { 0 };
	struct np_rec *r = NULL;
	char name[128], *body = NULL;
	size_t n = 0, body_len = 0;
	uint64_t seq;

	(void)state;
	snprintf(name, sizeof(name), "seg-%020" PRIu64 "-5-1000-4000.gz", (uint64_t)1 << 62);
	write_raw_seg(name, raw, sizeof(raw) - 1);
	assert_int_equal(np_spool_open(&sp, dir, 1 << 20), 0);
	write_ids(&sp, 100, 10, false, &d); /* the segment after it */
	assert_int_equal(np_spool_load_oldest(&sp, &r, &n, &seq, &d), 0);
	/* The two bad records skipped and counted, the others intact. */
	assert_int_equal(n, 3);
	assert_int_equal(d.records, 2);
	assert_int_equal(d.segments, 0);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(r[i].line, want[i]);
		assert_int_equal(r[i].len, strlen(want[i]));
	}
	assert_int_equal(r[1].ts_ms, 3000);
	/* What is shipped holds no byte of the skipped record: under ASan a
	 * read past a line fails here. */
	assert_int_equal(np_cwbatch_body("g", "s", r, n, &body, &body_len), 0);
	assert_int_equal(body_len, strlen(body));
	assert_null(strstr(body, "secret"));
	assert_null(strstr(body, "\\u0000"));
	free(body);
	free_recs(r, n);
	/* The spool counts what it held, not what the name said. */
	assert_int_equal(sp.records, 3 + 10);
	assert_int_equal(np_spool_remove(&sp, seq), 0);
	expect_next(&sp, 100, 10);
	assert_int_equal(sp.records, 0);
	np_spool_close(&sp);
}

static void test_huge_count_in_name(void **state)
{
	struct np_spool sp;
	struct np_spool_drop d = { 0 };
	char name[160], *raw;
	size_t len;

	(void)state;
	/* 2^60 and 2^32 - 1 records claimed, 3 and 2 held. */
	raw = raw_ids(1, 3, &len);
	snprintf(name, sizeof(name), "seg-%020" PRIu64 "-1152921504606846976-1000-3000.gz",
		 (uint64_t)1 << 62);
	write_raw_seg(name, raw, len);
	free(raw);
	raw = raw_ids(4, 2, &len);
	snprintf(name, sizeof(name), "seg-%020" PRIu64 "-4294967295-4000-5000.gz",
		 ((uint64_t)1 << 62) + 1);
	write_raw_seg(name, raw, len);
	free(raw);
	assert_int_equal(np_spool_open(&sp, dir, 1 << 20), 0);
	assert_int_equal(sp.n, 2);
	/* Nothing taken from the names beyond what a segment may hold. */
	assert_true(sp.records <= 2 * 65536);
	write_ids(&sp, 10, 5, false, &d);
	expect_next(&sp, 1, 3);
	expect_next(&sp, 4, 2);
	expect_next(&sp, 10, 5);
	assert_int_equal(d.records, 0);
	/* The names' over-claim is told, to correct counts taken at open. */
	assert_int_equal(sp.misnamed, (65536 - 3) + (65536 - 2));
	assert_int_equal(sp.records, 0);
	assert_int_equal(count_suffix(".bad"), 0);
	assert_int_equal(count_files("seg-"), 0);
	np_spool_close(&sp);
}

/* The gzip of SIZE zero bytes (a multiple of 1 MiB), about SIZE / 1000 of
 * it.  zlib's streaming deflate compresses two 1 MiB blocks, each after a
 * full flush (no history), so every block after the first is the same
 * bytes: they are repeated rather than compressing SIZE bytes (seconds),
 * and the trailer's CRC is combined from the block's. */
static unsigned char *gzip_zeros(uint64_t size, size_t *out_len)
{
	const size_t blk = 1 << 20;
	uint64_t nblk = size / blk;
	unsigned char *zeros = calloc(1, blk), *first = malloc(blk), *rep = malloc(blk),
		      *fin = malloc(64), *out;
	size_t first_len, rep_len, fin_len, len = 0;
	uLong crc1, crc;
	z_stream zs = { 0 };

	assert_non_null(zeros);
	assert_non_null(first);
	assert_non_null(rep);
	assert_non_null(fin);
	assert_true(nblk >= 2);
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = zeros;
	zs.avail_in = (uInt)blk;
	zs.next_out = first;
	zs.avail_out = (uInt)blk;
	assert_int_equal(deflate(&zs, Z_FULL_FLUSH), Z_OK);
	assert_int_equal(zs.avail_in, 0);
	first_len = blk - zs.avail_out;
	zs.next_in = zeros;
	zs.avail_in = (uInt)blk;
	zs.next_out = rep;
	zs.avail_out = (uInt)blk;
	assert_int_equal(deflate(&zs, Z_FULL_FLUSH), Z_OK);
	rep_len = blk - zs.avail_out;
	zs.next_out = fin;
	zs.avail_out = 64;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	fin_len = 64 - zs.avail_out - 8; /* the final block, without zlib's trailer */
	deflateEnd(&zs);
	crc1 = crc32(0, zeros, (uInt)blk);
	crc = crc1;
	for (uint64_t i = 1; i < nblk; i++)
		crc = crc32_combine(crc, crc1, (z_off_t)blk);
	out = malloc(first_len + (nblk - 1) * rep_len + fin_len + 8);
	assert_non_null(out);
	memcpy(out, first, first_len);
	len = first_len;
	for (uint64_t i = 1; i < nblk; i++, len += rep_len)
		memcpy(out + len, rep, rep_len);
	memcpy(out + len, fin, fin_len);
	len += fin_len;
	for (int i = 0; i < 4; i++)
		out[len++] = (unsigned char)(crc >> (8 * i));
	for (int i = 0; i < 4; i++)
		out[len++] = (unsigned char)(size >> (8 * i));
	free(zeros);
	free(first);
	free(rep);
	free(fin);
	*out_len = len;
	return out;
}

/* The peak resident memory since the last reset_peak_rss(), in KiB: the
 * kernel's VmHWM, which "5" in clear_refs resets (a high-water mark alone
 * would still hold an earlier test's peak). */
static void reset_peak_rss(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	assert_non_null(f);
	assert_true(fputs("5", f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static long peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	assert_true(kib > 0);
	return kib;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Load the oldest segment: it must be ids FIRST..FIRST+N-1, reached while
 * DROPPED segments before it were set aside, with at most 64 MiB more
 * memory and within 2 s. */
static void expect_next_bounded(struct np_spool *sp, uint64_t first, size_t n, uint32_t dropped)
{
	struct np_spool_drop d = { 0 };
	struct np_rec *r = NULL;
	size_t got = 0;
	uint64_t seq;
	long rss0;
	double t0;

	reset_peak_rss();
	rss0 = peak_rss_kib();
	t0 = now_s();
	assert_int_equal(np_spool_load_oldest(sp, &r, &got, &seq, &d), 0);
	assert_true(now_s() - t0 < 2.0);
	assert_true(peak_rss_kib() - rss0 < 64 * 1024);
	assert_int_equal(d.segments, dropped);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r[i].ts_ms, (int64_t)(first + i) * 1000);
	free_recs(r, got);
	assert_int_equal(np_spool_remove(sp, seq), 0);
}

static void test_gzip_bomb_quarantined(void **state)
{
	uint64_t seq = (uint64_t)1 << 62;
	struct np_spool sp;
	struct np_spool_drop d = { 0 };
	unsigned char *gz;
	char name[128];
	size_t gz_len;

	(void)state;
	/* 2 GiB of zeros in about 2 MiB: once as it is, once with the trailer
	 * claiming 100 bytes, so that only the bound stops it. */
	gz = gzip_zeros((uint64_t)2 << 30, &gz_len);
	assert_true(gz_len < (4u << 20));
	snprintf(name, sizeof(name), "seg-%020" PRIu64 "-1000-0-0.gz", seq);
	write_file(name, gz, gz_len);
	gz[gz_len - 4] = 100;
	gz[gz_len - 3] = gz[gz_len - 2] = gz[gz_len - 1] = 0;
	snprintf(name, sizeof(name), "seg-%020" PRIu64 "-1000-0-0.gz", seq + 1);
	write_file(name, gz, gz_len);
	free(gz);
	assert_int_equal(np_spool_open(&sp, dir, 64 << 20), 0);
	write_ids(&sp, 1, 10, false, &d);
	expect_next_bounded(&sp, 1, 10, 2);
	assert_int_equal(count_suffix(".gz.bad"), 2);
	assert_int_equal(sp.n, 0);
	np_spool_close(&sp);
}

static void test_truncated_gzip_quarantined(void **state)
{
	uint64_t seq = (uint64_t)1 << 62;
	struct np_spool sp;
	struct np_spool_drop d = { 0 };
	unsigned char *gz;
	char name[128], *raw, *z = NULL;
	size_t len, z_len = 0, ncut = 0;

	(void)state;
	/* A segment cut anywhere: in the header, in the data, in the trailer. */
	raw = raw_ids(1, 200, &len);
	assert_int_equal(np_gzip(raw, len, &z, &z_len), 0);
	free(raw);
	{
		const size_t cut[] = { 0, 5, 10, z_len / 2, z_len - 8, z_len - 4, z_len - 1 };

		for (; ncut < sizeof(cut) / sizeof(cut[0]); ncut++) {
			snprintf(name, sizeof(name), "seg-%020" PRIu64 "-200-1000-200000.gz", seq++);
			write_file(name, z, cut[ncut]);
		}
	}
	free(z);
	/* A bomb cut in half: no trailer to tell its size. */
	gz = gzip_zeros((uint64_t)2 << 30, &len);
	snprintf(name, sizeof(name), "seg-%020" PRIu64 "-200-1000-200000.gz", seq++);
	write_file(name, gz, len / 2);
	free(gz);
	assert_int_equal(np_spool_open(&sp, dir, 64 << 20), 0);
	write_ids(&sp, 1000, 10, false, &d);
	expect_next_bounded(&sp, 1000, 10, (uint32_t)ncut + 1);
	assert_int_equal(count_suffix(".gz.bad"), ncut + 1);
	assert_int_equal(sp.n, 0);
	np_spool_close(&sp);
}

static void test_big_write_cut_into_segments(void **state)
{
	struct np_spool sp;
	struct np_spool_drop d = { 0 };

	(void)state;
	/* 40,000 records: more than a segment holds, cut in three (16,384
	 * each at most), in order, at the back and at the front. */
	assert_int_equal(np_spool_open(&sp, dir, 1 << 30), 0);
	write_ids(&sp, 100000, 40000, false, &d);
	assert_int_equal(sp.n, 3);
	write_ids(&sp, 0, 40000, true, &d);
	assert_int_equal(sp.n, 6);
	assert_int_equal(sp.records, 80000);
	np_spool_close(&sp);
	assert_int_equal(np_spool_open(&sp, dir, 1 << 30), 0);
	expect_next(&sp, 0, 16384);
	expect_next(&sp, 16384, 16384);
	expect_next(&sp, 32768, 40000 - 32768);
	expect_next(&sp, 100000, 16384);
	expect_next(&sp, 116384, 16384);
	expect_next(&sp, 132768, 40000 - 32768);
	assert_int_equal(d.records, 0);
	assert_int_equal(sp.n, 0);
	np_spool_close(&sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_front_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_drops_oldest_and_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loaded_segment_never_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big_alone_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_and_tmp_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_record_skipped_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_count_in_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_bomb_quarantined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_gzip_quarantined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_write_cut_into_segments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
