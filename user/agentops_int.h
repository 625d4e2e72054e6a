/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by agentops.c and agentdebug.c only. */
#ifndef NP_AGENTOPS_INT_H
#define NP_AGENTOPS_INT_H

#include <stddef.h>

#include "agentops.h"

extern const char *const np_ops_ready_names[NP_READY_MAX];

/* The datapath's maps by name (fds), for sampling and /debug/status. */
size_t np_ops_dp_maps(const struct np_datapath *dp, const char **names, int *fds);

/* The /debug handlers (CTX: struct np_ops). */
int np_ops_h_status(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type);
int np_ops_h_policy(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type);
int np_ops_h_names(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type);

#endif
