// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "log.h"

static enum np_log_level current_level = NP_LOG_WARN;
static enum np_log_format current_format = NP_LOG_LOGFMT;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void np_log_set_level(enum np_log_level level) { current_level = level; }
enum np_log_level np_log_get_level(void) { return current_level; }
void np_log_set_format(enum np_log_format format) { current_format = format; }

int np_log_level_parse(const char *s)
{
	for (int i = 0; i <= NP_LOG_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* Escape MSG for a quoted logfmt or JSON string. */
static void put_escaped(FILE *f, const char *msg)
{
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
}

static void vlog(enum np_log_level level, const char *fmt, va_list ap)
{
	char msg[4096];
	char ts[96];
	struct timespec now;
	struct tm tm;
	size_t len;

	if (level > current_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	flockfile(stderr);
	if (current_format == NP_LOG_JSON) {
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
			level_names[level]);
		put_escaped(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "ts=%s level=%s msg=\"", ts, level_names[level]);
		put_escaped(stderr, msg);
		fputs("\"\n", stderr);
	}
	funlockfile(stderr);
}

void np_log(enum np_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	enum np_log_level mapped = level == LIBBPF_WARN ? NP_LOG_WARN
						       : NP_LOG_DEBUG;

	vlog(mapped, fmt, ap);
	return 0;
}

void np_log_hook_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
