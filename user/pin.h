/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pinning: what keeps enforcement in place while the agent is not running,
 * and what a restarted agent picks up again.
 *
 * Layout under the pin path (default /sys/fs/bpf/netpol-agent):
 *   attached            hash ifindex -> struct np_pin_att: every interface the
 *                       agent attached to, and whether it created the clsact
 *                       qdisc there (so uninstall removes exactly that)
 *   v<N>/np_endpoints   the datapath maps of map layout version N
 *   v<N>/np_ifaces ... np_ct np_ct_deny np_frags np_state
 *   v<N>/np_events np_flow_deny np_flow_stats   the flow maps
 *   v<N>/np_flow_mark   the agent's own: how far durable flow records
 *                       covered each flow (flowmark.h)
 *   v<N>/np_pod_ingress, v<N>/np_pod_egress   the programs the filters run
 *
 * N is NP_PIN_LAYOUT_VERSION: bumped whenever a map's key or value layout
 * (include/netpol.h) or meaning changes.  An agent that finds another
 * version's directory creates fresh maps in its own, fills them, switches
 * every filter to programs using them (BPF_TC_F_REPLACE: atomic per hook),
 * and only then removes the old directory; packets see the old programs with
 * the old maps or the new ones with the new maps, never nothing.  Within one
 * version, a map whose parameters changed (a --map-size change) is replaced
 * the same way; conntrack entries are copied across.
 */
#ifndef NP_PIN_H
#define NP_PIN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "attach.h"

#define NP_PIN_DEFAULT "/sys/fs/bpf/netpol-agent"
#define NP_PIN_LAYOUT_VERSION 3u
#define NP_PIN_MAX_MAPS 16

struct bpf_object;

/* Value of the `attached` map (key: __u32 ifindex). */
struct np_pin_att {
	__u32 ifindex;
	__u8 created_qdisc;
	__u8 pad[3];
	char ifname[16];
};

struct np_pin {
	char root[PATH_MAX - 32];
	char dir[PATH_MAX];   /* root/v<layout> */
	unsigned int layout;
	int att_fd;           /* the `attached` map */
	size_t n_maps, n_reused, n_replaced;
	struct {
		char name[32];
		bool reused;  /* the pinned map is in use (kept its contents) */
		int old_fd;   /* pinned but incompatible: replaced after the switch */
	} maps[NP_PIN_MAX_MAPS];
	bool other_versions; /* v<M> directories of other layouts exist */
};

/* Create ROOT and ROOT/v<LAYOUT> as needed and open (or create) the
 * `attached` map.  0 or -errno (logged: what failed and what to do). */
int np_pin_open(struct np_pin *p, const char *root, unsigned int layout);
void np_pin_close(struct np_pin *p);

/* np_load_opts.before_load hook (CTX: struct np_pin): make OBJ reuse every
 * compatible pinned map of this layout version. */
int np_pin_before_load(struct bpf_object *obj, void *ctx);

/* After loading: copy conntrack entries from replaced (resized) maps into
 * the fresh ones.  Call before switching the filters. */
void np_pin_copy_state(struct np_pin *p, struct bpf_object *obj);

/* After the filters run the new programs: pin the maps that are new and the
 * programs (atomically replacing the old pins), then remove the pins of
 * other layout versions.  0 or -errno (logged). */
int np_pin_commit(struct np_pin *p, struct bpf_object *obj);

/* Highest id (endpoint, set, class, rule cookie) present in the maps of OBJ,
 * so a restarted agent allocates only ids the maps have never seen: classes
 * stay immutable across restarts. */
__u32 np_pin_max_id(struct bpf_object *obj);

/* The attachment records. */
int np_pin_record(struct np_pin *p, const struct np_attachment *att);
int np_pin_forget(struct np_pin *p, int ifindex);
/* Records whose interface still exists under the same name, as attachments
 * with both hooks marked present; stale records are deleted.  *OUT is
 * malloc'ed. */
int np_pin_records(struct np_pin *p, struct np_attachment **out, size_t *n);

/* `netpol-agent --uninstall`: remove the filters, the clsact qdiscs the
 * agent created (when nobody else's filters are on them) and every pin
 * under ROOT.  0 (also when there is nothing) or -errno. */
int np_pin_uninstall(const char *root);

/* Open the agent's own pinned hash map DIR/NAME (not used by the
 * programs), creating it when missing or of another layout.  An fd or
 * -errno (logged). */
int np_pin_agent_map(const struct np_pin *p, const char *name, __u32 key_size, __u32 value_size,
		     __u32 max_entries);

#endif
