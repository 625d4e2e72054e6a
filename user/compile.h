/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy compiler: Kubernetes objects -> the contents the BPF maps must have.
 *
 * A pod's policy in one direction is a "set": the union of the rules of every
 * policy selecting it, with named ports resolved.  Pods with the same
 * selecting policies (and the same own named ports) share a set.  A set maps
 * peer address prefixes to "classes"; a class is the exact list of
 * (rule, ports) that apply to those peers.  Classes are interned by content,
 * so a class id always means the same thing (the datapath relies on that for
 * atomic updates, see mapsync.c).
 *
 * Ids (sets, classes, rule cookies, endpoints) are stable across compiles
 * through struct np_ids, so recompiling after a small change yields a small
 * diff of map entries.
 */
#ifndef NP_COMPILE_H
#define NP_COMPILE_H

#include "hashmap.h"
#include "model.h"

/* Stable id allocation by canonical key.  Ids are never reused while the
 * process lives, so a freed id can't be confused with a new one mid-update. */
struct np_ids {
	struct np_hashmap map; /* key string -> struct np_id_slot */
	uint32_t next;
	uint64_t epoch;
};

void np_ids_init(struct np_ids *ids);
void np_ids_free(struct np_ids *ids);
/* Id for KEY, allocating one if new; marks it used in the current epoch. */
int np_ids_get(struct np_ids *ids, const char *key, uint32_t *id);
/* Forget every key not used since the previous call. */
void np_ids_gc(struct np_ids *ids);

/* What a rule cookie stands for. */
struct np_rule_ref {
	char *ns;
	char *name;
	enum np_dir dir;
	uint32_t index; /* position in spec.ingress / spec.egress */
	bool audit;
};

struct np_port_entry {
	uint8_t plen;   /* 32 (all), 40 (all ports of proto), up to 56 */
	uint8_t proto;
	uint16_t port;  /* host order, first port of the aligned block */
	uint32_t cookie;
};

struct np_class {
	uint32_t id;
	struct np_port_entry *entries;
	size_t n;
};

struct np_peer_entry {
	struct np_cidr prefix;
	uint32_t class_id; /* 0: no rule (shadows a shorter prefix) */
};

struct np_set {
	uint32_t id;
	enum np_dir dir;
	bool audit; /* every policy in the set is in audit mode */
	char **policies; /* "ns/name" of the selecting policies, sorted */
	size_t n_policies;
	struct np_peer_entry *peers;
	size_t n_peers;
};

struct np_compiled_ep {
	struct np_addr addr;
	struct np_endpoint val;
	const struct np_pod *pod; /* points into the objects compiled */
};

struct np_compile_opts {
	/* Addresses of this node: always allowed both ways. */
	struct np_addr *node_addrs;
	size_t n_node_addrs;
	/* Treat hostNetwork pods' addresses as node addresses (the verdict
	 * tool simulates every pod on one node). */
	bool host_network_is_node;
};

struct np_compiled {
	struct np_compiled_ep *eps;
	size_t n_eps;
	struct np_set *sets;
	size_t n_sets;
	struct np_class *classes;
	size_t n_classes;
	struct np_addr *node_addrs;
	size_t n_node_addrs;
	/* cookie -> rule; a hashmap keyed by the u32 cookie */
	struct np_hashmap rules; /* uint32_t -> struct np_rule_ref */
	/* ep_id -> "ns/name" */
	struct np_hashmap ep_names; /* uint32_t -> char * (owned) */
};

/* Compile OBJS.  IDS keeps ids stable across calls.  0 or -errno (with ERR
 * filled for input problems such as duplicate pod addresses). */
int np_compile(const struct np_objects *objs, const struct np_compile_opts *opts,
	       struct np_ids *ids, struct np_compiled *out, struct np_error *err);
void np_compiled_free(struct np_compiled *c);

const struct np_rule_ref *np_compiled_rule(const struct np_compiled *c,
					   uint32_t cookie);
const struct np_set *np_compiled_set(const struct np_compiled *c, uint32_t id);

/* ---- flatten.c ---- */

/* One ipBlock-like region contributing ITEM: cidr minus excepts. */
struct np_block {
	struct np_cidr cidr;
	const struct np_cidr *except;
	size_t n_except;
	uint32_t item;
};

/* Longest-prefix entries such that every address gets exactly the items of
 * the blocks that cover it and do not except it.  Each output entry carries a
 * sorted, duplicate-free item list (items[off .. off+n)).  Entries whose item
 * list equals that of the enclosing entry are omitted; entries with an empty
 * list are kept only where they shadow a non-empty enclosing entry. */
struct np_flat_entry {
	struct np_cidr prefix;
	size_t off;
	size_t n;
};

struct np_flat {
	struct np_flat_entry *entries;
	size_t n;
	uint32_t *items;
	size_t n_items;
};

int np_flatten(const struct np_block *blocks, size_t n_blocks,
	       struct np_flat *out);
void np_flat_free(struct np_flat *f);

/* Decompose [lo, hi] into aligned prefixes; calls EMIT(port, bits, ctx)
 * where bits is how many leading port bits are fixed (0..16). */
void np_port_range_prefixes(uint16_t lo, uint16_t hi,
			    void (*emit)(uint16_t port, uint8_t bits, void *ctx),
			    void *ctx);

#endif
