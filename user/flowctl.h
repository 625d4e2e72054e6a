/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef NP_FLOWCTL_H
#define NP_FLOWCTL_H

/* `netpolctl flows ...`; returns the exit status. */
int np_flows_main(int argc, char **argv);

#endif
