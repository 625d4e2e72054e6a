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
#include <unistd.h>
#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_front_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_drops_oldest_and_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loaded_segment_never_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big_alone_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_and_tmp_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
