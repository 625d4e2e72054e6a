// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: a spool segment as found on disk after a crash, a bad disk or
 * tampering: the input is the file (first byte 0: as is; else gzip-wrapped
 * first, so the fuzzer reaches the record parser), under a name that
 * claims a record count taken from the input too. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cwbatch.h"
#include "log.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64];

static void empty_dir(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", g_dir, e->d_name);
			unlink(path);
		}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const counts[] = { "3", "0", "1152921504606846976", "4294967295", "99999999999999999999999" };
	struct np_spool sp;
	struct np_spool_drop drop = { 0 };
	struct np_rec *recs = NULL;
	size_t n = 0;
	uint64_t seq;
	char path[256], *gz = NULL;
	size_t gz_len = 0;
	FILE *f;

	if (size < 1)
		return 0;
	np_log_set_level(NP_LOG_ERROR);
	if (!g_dir[0]) {
		snprintf(g_dir, sizeof(g_dir), "/tmp/np-fuzz-spool.XXXXXX");
		if (!mkdtemp(g_dir))
			abort();
	}
	empty_dir();
	snprintf(path, sizeof(path), "%s/seg-%020llu-%s-1-2.gz", g_dir, 7ull,
		 counts[data[0] % (sizeof(counts) / sizeof(counts[0]))]);
	f = fopen(path, "wb");
	if (!f)
		return 0;
	if (data[0] >= 128 && np_gzip(data + 1, size - 1, &gz, &gz_len) == 0)
		fwrite(gz, 1, gz_len, f);
	else
		fwrite(data + 1, 1, size - 1, f);
	fclose(f);
	free(gz);
	if (np_spool_open(&sp, g_dir, 1ull << 30) == 0) {
		while (np_spool_load_oldest(&sp, &recs, &n, &seq, &drop) == 0) {
			for (size_t i = 0; i < n; i++) {
				if (strlen(recs[i].line) != recs[i].len)
					abort(); /* the length is always the bytes held */
				free(recs[i].line);
			}
			free(recs);
			np_spool_remove(&sp, seq);
		}
		np_spool_close(&sp);
	}
	return 0;
}
