/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the netpolctl commands against a running agent share (opsctl.c):
 * options, the agent's HTTP endpoint, the pinned maps.  Private to
 * ctl_*.c. */
#ifndef NP_OPSCTL_INT_H
#define NP_OPSCTL_INT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "agentops.h"
#include "model.h"
#include "pin.h"
#include "strbuf.h"

#define EXIT_UNREADABLE 1
#define EXIT_USAGE 2

struct ctl {
	const char *pin_root;
	char agent[256]; /* base URL, no trailing slash */
	bool json;
};

enum { OPT_PIN = 2000, OPT_AGENT, OPT_OUTPUT };

#define COMMON_LONGOPTS                                              \
	{ "pin-path", required_argument, NULL, OPT_PIN },            \
	{ "agent", required_argument, NULL, OPT_AGENT },             \
	{ "output", required_argument, NULL, OPT_OUTPUT },           \
	{ "help", no_argument, NULL, 'h' }

#define COMMON_HELP                                                                           \
	"  --pin-path DIR      the agent's pin path (default env NETPOL_PIN_PATH, else\n"        \
	"                      " NP_PIN_DEFAULT ")\n"                                           \
	"  --agent URL         the agent's HTTP endpoint (default http:// + env\n"              \
	"                      NETPOL_METRICS_ADDRESS, else http://" NP_METRICS_DEFAULT_ADDRESS ")\n" \
	"  --output FORMAT     table (default) or json\n"

void np_ctl_defaults(struct ctl *c);
/* 1: handled (a common option), 0: not ours, -EINVAL: bad value (told). */
int np_ctl_opt(struct ctl *c, int opt, const char *cmd);
/* GET BASE+PATH.  0 with *STATUS and BODY filled, or -EIO with ERRBUF. */
int np_ctl_get(const struct ctl *c, const char *path, long *status, struct np_strbuf *body,
	       char *errbuf, size_t errlen);
/* GET PATH as JSON; NULL with ERRBUF on failure or a non-200 answer. */
json_t *np_ctl_json(const struct ctl *c, const char *path, long *status, char *errbuf,
		    size_t errlen);
/* A pinned object under the pin path (VERSIONED: in v<layout>/); -1 + errno. */
int np_ctl_pinned_fd(const struct ctl *c, const char *name, bool versioned);
void np_ctl_print_json(json_t *j);
const char *np_ctl_addr(const struct np_addr *a, char *buf, size_t len);

#endif
