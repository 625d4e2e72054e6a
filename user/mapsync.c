// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "log.h"
#include "mapsync.h"
#include "vec.h"

static const size_t key_sizes[NP_SYNC_MAPS] = {
	[NP_SYNC_ENDPOINTS] = sizeof(struct np_addr),
	[NP_SYNC_IFACES] = sizeof(uint32_t),
	[NP_SYNC_NODE_ADDRS] = sizeof(struct np_addr),
	[NP_SYNC_PEERS] = sizeof(struct np_peer_key),
	[NP_SYNC_PORTS] = sizeof(struct np_port_key),
};

static const size_t val_sizes[NP_SYNC_MAPS] = {
	[NP_SYNC_ENDPOINTS] = sizeof(struct np_endpoint),
	[NP_SYNC_IFACES] = sizeof(struct np_iface),
	[NP_SYNC_NODE_ADDRS] = sizeof(uint32_t),
	[NP_SYNC_PEERS] = sizeof(struct np_peer_val),
	[NP_SYNC_PORTS] = sizeof(struct np_port_val),
};

static const char *const map_names[NP_SYNC_MAPS] = {
	[NP_SYNC_ENDPOINTS] = "np_endpoints",
	[NP_SYNC_IFACES] = "np_ifaces",
	[NP_SYNC_NODE_ADDRS] = "np_node_addrs",
	[NP_SYNC_PEERS] = "np_peers",
	[NP_SYNC_PORTS] = "np_ports",
};

#define MAX_KEY 40
#define MAX_VAL 40
_Static_assert(sizeof(struct np_iface) <= MAX_VAL, "value buffer");
_Static_assert(sizeof(struct np_peer_key) <= MAX_KEY, "key buffer");

static int bpf_update(void *ctx, int map, const void *key, const void *val);
static int bpf_delete(void *ctx, int map, const void *key);
static int bpf_bump(void *ctx);

const char *np_sync_map_name(enum np_sync_map m)
{
	return m < NP_SYNC_MAPS ? map_names[m] : "?";
}

int np_mapsync_init(struct np_mapsync *s, const struct np_map_fds *fds,
		    const uint32_t limit[NP_SYNC_MAPS])
{
	memset(s, 0, sizeof(*s));
	s->fds = *fds;
	for (int m = 0; m < NP_SYNC_MAPS; m++) {
		s->limit[m] = limit[m];
		np_hashmap_init(&s->mirror[m], key_sizes[m], val_sizes[m]);
	}
	np_hashmap_init(&s->set_digests, sizeof(uint32_t), sizeof(uint64_t));
	np_hashmap_init(&s->classes, sizeof(uint32_t), 0);
	s->writer = (struct np_map_writer){ bpf_update, bpf_delete, bpf_bump, &s->fds };
	return 0;
}

void np_mapsync_free(struct np_mapsync *s)
{
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		np_hashmap_free(&s->mirror[m]);
	np_hashmap_free(&s->set_digests);
	np_hashmap_free(&s->classes);
}

struct op {
	uint8_t map;
	uint8_t del;
	uint8_t plen;   /* peers: for ordering */
	uint8_t had_old;
	unsigned char key[MAX_KEY];
	unsigned char val[MAX_VAL];
	unsigned char old[MAX_VAL];
};

struct oplist {
	struct op *v;
	size_t n, cap;
};

static int cmp_plen_desc(const void *a, const void *b)
{
	const struct op *x = a, *y = b;

	return (int)y->plen - (int)x->plen;
}

static int cmp_plen_asc(const void *a, const void *b)
{
	return -cmp_plen_desc(a, b);
}

/* What identifies a set's peer entries: their prefixes and classes. */
static uint64_t set_digest(const struct np_set *set)
{
	uint64_t h = np_hash_bytes(&set->n_peers, sizeof(set->n_peers));

	for (size_t j = 0; j < set->n_peers; j++) {
		const struct np_peer_entry *pe = &set->peers[j];
		unsigned char buf[NP_ADDR_LEN + 1 + 4];

		memcpy(buf, pe->prefix.addr.b, NP_ADDR_LEN);
		buf[NP_ADDR_LEN] = pe->prefix.plen;
		memcpy(buf + NP_ADDR_LEN + 1, &pe->class_id, 4);
		h = h * 0x100000001b3ull ^ np_hash_bytes(buf, sizeof(buf));
	}
	return h;
}

/* The sets whose peer entries must be diffed: new or changed ones (by
 * digest) go to CHANGED, every set of C with its digest to LIVE.  Unchanged
 * sets are skipped entirely: after one pod's labels change, only the few
 * sets that mention it are looked at. */
static int plan_sets(struct np_mapsync *s, const struct np_compiled *c,
		     struct np_hashmap *live, struct np_hashmap *changed)
{
	int err = 0;

	np_hashmap_init(live, sizeof(uint32_t), sizeof(uint64_t));
	np_hashmap_init(changed, sizeof(uint32_t), 0);
	for (size_t i = 0; i < c->n_sets && !err; i++) {
		uint64_t d = set_digest(&c->sets[i]);
		uint64_t *old = np_hashmap_get(&s->set_digests, &c->sets[i].id);

		err = np_hashmap_put(live, &c->sets[i].id, &d);
		if (!err && (!old || *old != d))
			err = np_hashmap_put(changed, &c->sets[i].id, NULL);
	}
	return err;
}

/* Desired contents of every map, as hashmaps like the mirror; for peers and
 * ports only what may differ (changed sets, classes not yet written). */
static int build_desired(struct np_mapsync *s, const struct np_compiled *c,
			 const struct np_iface_entry *ifaces, size_t n_ifaces,
			 const struct np_hashmap *changed_sets,
			 struct np_hashmap desired[NP_SYNC_MAPS])
{
	int err = 0;

	for (size_t i = 0; i < c->n_eps && !err; i++)
		err = np_hashmap_put(&desired[NP_SYNC_ENDPOINTS], &c->eps[i].addr,
				     &c->eps[i].val);
	for (size_t i = 0; i < n_ifaces && !err; i++)
		err = np_hashmap_put(&desired[NP_SYNC_IFACES], &ifaces[i].ifindex,
				     &ifaces[i].val);
	for (size_t i = 0; i < c->n_node_addrs && !err; i++) {
		uint32_t one = 1;

		err = np_hashmap_put(&desired[NP_SYNC_NODE_ADDRS],
				     &c->node_addrs[i], &one);
	}
	for (size_t i = 0; i < c->n_sets && !err; i++) {
		const struct np_set *set = &c->sets[i];

		if (!np_hashmap_get(changed_sets, &set->id))
			continue;
		for (size_t j = 0; j < set->n_peers && !err; j++) {
			struct np_peer_key k = { 0 };
			struct np_peer_val v = { set->peers[j].class_id };

			k.prefixlen = NP_PEER_KEY_BITS_FIXED + set->peers[j].prefix.plen;
			k.set_id = set->id;
			k.family = set->peers[j].prefix.v4 ? NP_FAMILY_IPV4 : NP_FAMILY_IPV6;
			memcpy(k.addr, set->peers[j].prefix.addr.b, NP_ADDR_LEN);
			err = np_hashmap_put(&desired[NP_SYNC_PEERS], &k, &v);
		}
	}
	for (size_t i = 0; i < c->n_classes && !err; i++) {
		const struct np_class *cls = &c->classes[i];

		/* A class id always names the same content: once written,
		 * its entries never change. */
		if (np_hashmap_get(&s->classes, &cls->id))
			continue;
		for (size_t j = 0; j < cls->n && !err; j++) {
			const struct np_port_entry *e = &cls->entries[j];
			struct np_port_key k = { 0 };
			struct np_port_val v = { e->cookie };

			k.prefixlen = e->plen;
			k.class_id = cls->id;
			k.proto = e->proto;
			k.port[0] = (uint8_t)(e->port >> 8);
			k.port[1] = (uint8_t)(e->port & 0xff);
			err = np_hashmap_put(&desired[NP_SYNC_PORTS], &k, &v);
		}
	}
	return err;
}

static uint8_t op_plen(int map, const void *key)
{
	if (map == NP_SYNC_PEERS)
		return (uint8_t)(((const struct np_peer_key *)key)->prefixlen -
				 NP_PEER_KEY_BITS_FIXED);
	return 0;
}

/* For peers and ports, which mirror entries desired[] speaks for: entries
 * of changed sets (and of sets that are gone), entries of classes no longer
 * used.  Entries of unchanged sets and of live classes are kept as they are. */
struct scope {
	const struct np_hashmap *live_sets, *changed_sets, *live_classes;
};

static bool in_scope(int m, const void *key, const struct scope *sc)
{
	if (m == NP_SYNC_PEERS) {
		uint32_t set = ((const struct np_peer_key *)key)->set_id;

		return np_hashmap_get(sc->changed_sets, &set) ||
		       !np_hashmap_get(sc->live_sets, &set);
	}
	if (m == NP_SYNC_PORTS) {
		uint32_t cls = ((const struct np_port_key *)key)->class_id;

		return !np_hashmap_get(sc->live_classes, &cls);
	}
	return true;
}

/* Upserts go to UPS[map], deletes to DELS[map]. */
static int diff_map(struct np_mapsync *s, int m, struct np_hashmap *desired,
		    const struct scope *sc, bool scan_deletes,
		    struct oplist *ups, struct oplist *dels, size_t *new_keys)
{
	const void *k;
	void *v;
	int err = 0;

	*new_keys = 0;
	for (size_t it = 0; !err && np_hashmap_next(desired, &it, &k, &v);) {
		void *cur = np_hashmap_get(&s->mirror[m], k);
		struct op op = { 0 };

		if (cur && memcmp(cur, v, val_sizes[m]) == 0)
			continue;
		op.map = (uint8_t)m;
		op.plen = op_plen(m, k);
		memcpy(op.key, k, key_sizes[m]);
		memcpy(op.val, v, val_sizes[m]);
		if (cur) {
			op.had_old = 1;
			memcpy(op.old, cur, val_sizes[m]);
		} else {
			(*new_keys)++;
		}
		err = np_vec_push(&ups->v, &ups->n, &ups->cap, &op);
	}
	for (size_t it = 0; scan_deletes && !err &&
			    np_hashmap_next(&s->mirror[m], &it, &k, &v);) {
		struct op op = { 0 };

		if (np_hashmap_get(desired, k) || !in_scope(m, k, sc))
			continue;
		op.map = (uint8_t)m;
		op.del = 1;
		op.had_old = 1;
		op.plen = op_plen(m, k);
		memcpy(op.key, k, key_sizes[m]);
		memcpy(op.old, v, val_sizes[m]);
		err = np_vec_push(&dels->v, &dels->n, &dels->cap, &op);
	}
	return err;
}

/* The default writer: the BPF maps themselves. */
static int bpf_update(void *ctx, int map, const void *key, const void *val)
{
	const struct np_map_fds *fds = ctx;

	return bpf_map_update_elem(fds->fd[map], key, val, BPF_ANY) ? -errno : 0;
}

static int bpf_delete(void *ctx, int map, const void *key)
{
	const struct np_map_fds *fds = ctx;

	if (bpf_map_delete_elem(fds->fd[map], key) && errno != ENOENT)
		return -errno;
	return 0;
}

static int bpf_bump(void *ctx)
{
	const struct np_map_fds *fds = ctx;

	return np_state_bump_gen(fds->state);
}

void np_mapsync_set_writer(struct np_mapsync *s, const struct np_map_writer *w)
{
	s->writer = *w;
}

static int apply_op(struct np_mapsync *s, const struct op *op)
{
	const struct np_map_writer *w = &s->writer;
	int err;

	if (op->del) {
		err = w->del(w->ctx, op->map, op->key);
		if (!err)
			np_hashmap_del(&s->mirror[op->map], op->key);
	} else {
		err = w->update(w->ctx, op->map, op->key, op->val);
		if (!err)
			err = np_hashmap_put(&s->mirror[op->map], op->key, op->val);
	}
	return err;
}

static void undo_op(struct np_mapsync *s, const struct op *op)
{
	const struct np_map_writer *w = &s->writer;

	if (op->had_old) {
		if (w->update(w->ctx, op->map, op->key, op->old) == 0)
			np_hashmap_put(&s->mirror[op->map], op->key, op->old);
	} else {
		w->del(w->ctx, op->map, op->key);
		np_hashmap_del(&s->mirror[op->map], op->key);
	}
}

int np_state_bump_gen(int state_fd)
{
	struct np_state st = { 0 };
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(state_fd, &zero, &st))
		return -errno;
	st.gen++;
	if (bpf_map_update_elem(state_fd, &zero, &st, BPF_ANY))
		return -errno;
	return 0;
}

int np_mapsync_apply(struct np_mapsync *s, const struct np_compiled *c,
		     const struct np_iface_entry *ifaces, size_t n_ifaces,
		     struct np_sync_stats *stats, struct np_error *err)
{
	struct np_hashmap desired[NP_SYNC_MAPS];
	struct np_hashmap live_sets, changed_sets, live_classes;
	struct scope sc = { &live_sets, &changed_sets, &live_classes };
	bool sets_gone = false, classes_gone = false;
	struct oplist ups[NP_SYNC_MAPS] = { 0 }, dels[NP_SYNC_MAPS] = { 0 };
	struct oplist plan = { 0 };
	size_t applied = 0;
	int ret;

	err->msg[0] = '\0';
	memset(stats, 0, sizeof(*stats));
	np_hashmap_init(&live_classes, sizeof(uint32_t), 0);
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		np_hashmap_init(&desired[m], key_sizes[m], val_sizes[m]);
	ret = plan_sets(s, c, &live_sets, &changed_sets);
	for (size_t i = 0; !ret && i < c->n_classes; i++)
		ret = np_hashmap_put(&live_classes, &c->classes[i].id, NULL);
	if (!ret)
		ret = build_desired(s, c, ifaces, n_ifaces, &changed_sets, desired);
	if (ret)
		goto cleanup;
	{
		const void *k;

		for (size_t it = 0; np_hashmap_next(&s->set_digests, &it, &k, NULL);)
			if (!np_hashmap_get(&live_sets, k))
				sets_gone = true;
		for (size_t it = 0; np_hashmap_next(&s->classes, &it, &k, NULL);)
			if (!np_hashmap_get(&live_classes, k))
				classes_gone = true;
	}
	for (int m = 0; m < NP_SYNC_MAPS; m++) {
		size_t new_keys;

		if (m == NP_SYNC_IFACES && !ifaces)
			continue;
		/* Deletes need a scan of the mirror only when something
		 * can have gone: always for the small maps. */
		bool scan = m == NP_SYNC_PEERS   ? sets_gone || changed_sets.count > 0
			    : m == NP_SYNC_PORTS ? classes_gone
						 : true;

		ret = diff_map(s, m, &desired[m], &sc, scan, &ups[m], &dels[m],
			       &new_keys);
		if (ret)
			goto cleanup;
		/* Deletes happen after upserts, so the peak is the current
		 * count plus every new key. */
		if (s->limit[m] &&
		    s->mirror[m].count + new_keys > s->limit[m]) {
			snprintf(err->msg, sizeof(err->msg),
				 "map %s is too small for this policy: it would need %zu entries during the update (%zu after it) but holds at most %u; nothing was changed and the previous policy stays in force; raise %s",
				 map_names[m], s->mirror[m].count + new_keys,
				 s->mirror[m].count + new_keys - dels[m].n,
				 s->limit[m],
				 s->limit_option[m] ? s->limit_option[m]
						    : "the map size");
			ret = -E2BIG;
			goto cleanup;
		}
		stats->upserts[m] = ups[m].n;
		stats->deletes[m] = dels[m].n;
	}
	if (ups[NP_SYNC_PEERS].n)
		qsort(ups[NP_SYNC_PEERS].v, ups[NP_SYNC_PEERS].n, sizeof(struct op),
		      cmp_plen_desc);
	if (dels[NP_SYNC_PEERS].n)
		qsort(dels[NP_SYNC_PEERS].v, dels[NP_SYNC_PEERS].n, sizeof(struct op),
		      cmp_plen_asc);
	/* The order that keeps every packet's view consistent. */
	{
		struct oplist *order[] = {
			&ups[NP_SYNC_PORTS],      &ups[NP_SYNC_PEERS],
			&ups[NP_SYNC_NODE_ADDRS], &ups[NP_SYNC_ENDPOINTS],
			&ups[NP_SYNC_IFACES],     &dels[NP_SYNC_IFACES],
			&dels[NP_SYNC_ENDPOINTS], &dels[NP_SYNC_NODE_ADDRS],
			&dels[NP_SYNC_PEERS],     &dels[NP_SYNC_PORTS],
		};

		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			for (size_t j = 0; j < order[i]->n; j++) {
				ret = np_vec_push(&plan.v, &plan.n, &plan.cap,
						  &order[i]->v[j]);
				if (ret)
					goto cleanup;
			}
	}
	for (applied = 0; applied < plan.n; applied++) {
		const struct op *op = &plan.v[applied];

		ret = apply_op(s, op);
		if (ret) {
			snprintf(err->msg, sizeof(err->msg),
				 "writing map %s failed (%s) after %zu of %zu changes; rolled back to the previous policy",
				 map_names[op->map], strerror(-ret), applied,
				 plan.n);
			while (applied-- > 0)
				undo_op(s, &plan.v[applied]);
			goto cleanup;
		}
	}
	/* Committed: remember what the maps now hold. */
	np_hashmap_free(&s->set_digests);
	s->set_digests = live_sets;
	np_hashmap_init(&live_sets, sizeof(uint32_t), sizeof(uint64_t));
	np_hashmap_free(&s->classes);
	s->classes = live_classes;
	np_hashmap_init(&live_classes, sizeof(uint32_t), 0);
	ret = s->writer.bump_gen(s->writer.ctx);
	if (ret)
		snprintf(err->msg, sizeof(err->msg),
			 "bumping the policy generation failed (%s): established connections keep their old verdict until it succeeds",
			 strerror(-ret));
	for (int m = 0; m < NP_SYNC_MAPS; m++)
		stats->entries[m] = s->mirror[m].count;
cleanup:
	if (ret && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "updating maps failed: %s",
			 strerror(-ret));
	np_hashmap_free(&live_sets);
	np_hashmap_free(&changed_sets);
	np_hashmap_free(&live_classes);
	for (int m = 0; m < NP_SYNC_MAPS; m++) {
		np_hashmap_free(&desired[m]);
		free(ups[m].v);
		free(dels[m].v);
	}
	free(plan.v);
	return ret;
}

int np_mapsync_load_existing(struct np_mapsync *s)
{
	unsigned char key[MAX_KEY], next[MAX_KEY], val[MAX_VAL];
	int ret = 0;

	for (int m = 0; m < NP_SYNC_MAPS && !ret; m++) {
		void *prev = NULL;

		np_hashmap_clear(&s->mirror[m]);
		/* Unknown provenance: the next apply diffs everything. */
		np_hashmap_clear(&s->set_digests);
		np_hashmap_clear(&s->classes);
		while (bpf_map_get_next_key(s->fds.fd[m], prev, next) == 0) {
			memcpy(key, next, key_sizes[m]);
			prev = key;
			if (bpf_map_lookup_elem(s->fds.fd[m], key, val))
				continue; /* deleted meanwhile */
			ret = np_hashmap_put(&s->mirror[m], key, val);
			if (ret)
				break;
		}
	}
	return ret;
}
