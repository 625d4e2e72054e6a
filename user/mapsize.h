/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* `--map-size NAME=N`: load-time sizes of the BPF maps. */
#ifndef NP_MAPSIZE_H
#define NP_MAPSIZE_H

#include <stddef.h>

#include "loader.h"
#include "mapsync.h"

/* Apply "NAME=N" to O.  0, or -EINVAL with ERR filled. */
int np_map_size_parse(struct np_load_opts *o, const char *spec, char *err,
		      size_t errlen);
/* One line per map: name, default, meaning; for --help texts. */
const char *np_map_size_help(void);
/* Sizes of the maps mapsync writes, and the flag that raises each. */
void np_map_size_limits(const struct np_load_opts *o,
			uint32_t limits[NP_SYNC_MAPS],
			const char *options[NP_SYNC_MAPS]);

/* Map sync over a loaded datapath's maps, with their sizes as limits and the
 * --map-size flag that raises each named in capacity errors. */
int np_mapsync_open(struct np_mapsync *s, const struct np_datapath *dp,
		    const struct np_load_opts *o);

#endif
