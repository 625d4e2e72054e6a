/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef NP_VERDICT_H
#define NP_VERDICT_H

#include <stdbool.h>

#include "compile.h"
#include "loader.h"
#include "mapsync.h"

const char *np_reason_name(unsigned int reason);
const char *np_verdict_name(unsigned int verdict);

/* Compile OBJS, load the datapath with LOPTS and fill its maps.
 * -EINVAL for bad input (logged), other -errno for failures. */
int np_setup_datapath_from_objects(struct np_datapath *dp, struct np_mapsync *sync,
				   const struct np_objects *objs,
				   const struct np_compile_opts *copts,
				   struct np_ids *ids, struct np_compiled *compiled,
				   const struct np_load_opts *lopts, bool *dp_loaded,
				   bool *sync_ready);

/* `netpolctl verdict ...`; returns the exit status. */
int np_verdict_main(int argc, char **argv);

#endif
