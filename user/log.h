/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Three-level logging to stderr (logfmt or JSON), bridged to libbpf's print
 * callback so verifier and loader messages come out the same way. */
#ifndef NP_LOG_H
#define NP_LOG_H

enum np_log_level {
	NP_LOG_ERROR = 0,
	NP_LOG_WARN = 1,
	NP_LOG_INFO = 2,
	NP_LOG_DEBUG = 3,
};

enum np_log_format {
	NP_LOG_LOGFMT = 0,
	NP_LOG_JSON = 1,
};

void np_log_set_level(enum np_log_level level);
enum np_log_level np_log_get_level(void);
void np_log_set_format(enum np_log_format format);
/* "error", "warn", "info", "debug" -> level; -EINVAL when unknown. */
int np_log_level_parse(const char *s);
/* Route libbpf's messages through np_log (warn -> WARN, info -> DEBUG). */
void np_log_hook_libbpf(void);

void np_log(enum np_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define np_err(...) np_log(NP_LOG_ERROR, __VA_ARGS__)
#define np_warn(...) np_log(NP_LOG_WARN, __VA_ARGS__)
#define np_info(...) np_log(NP_LOG_INFO, __VA_ARGS__)
#define np_dbg(...) np_log(NP_LOG_DEBUG, __VA_ARGS__)

#endif
