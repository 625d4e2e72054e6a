/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * netpolctl commands against the running agent on this node:
 *
 *   status     attached interfaces, local pods and their isolation, policy
 *              generation, map usage (from the pinned maps), agent health
 *              and readiness (from its HTTP endpoint)
 *   policy     the compiled rules enforced for a pod, with the source
 *              policies and rules (the agent's /debug/policy: the agent has
 *              the objects, whether they came from files or the API)
 *   explain    the verdict the running datapath gives a connection, and why:
 *              the running programs' configuration (their .rodata) and the
 *              pinned policy maps, with private conntrack and event maps, so
 *              the probe neither touches live connections nor shows up in
 *              the flow records
 *   conntrack  the live connection table (the pinned np_ct), filtered
 *
 * Each returns the exit status: 0 ok, 1 the agent's state cannot be read,
 * 2 bad usage.
 */
#ifndef NP_OPSCTL_H
#define NP_OPSCTL_H

int np_status_main(int argc, char **argv);
int np_policy_main(int argc, char **argv);
int np_explain_main(int argc, char **argv);
int np_conntrack_main(int argc, char **argv);

#endif
