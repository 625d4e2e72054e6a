/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes objects netpol-agent reads (Namespace, Pod, NetworkPolicy),
 * reduced to what policy enforcement needs.  Produced by objects.c from
 * YAML/JSON, consumed by compile.c.  All strings are owned by the object set
 * and freed by np_objects_free().
 */
#ifndef NP_MODEL_H
#define NP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netpol.h"

/* A CIDR in the 128-bit IPv4-mapped space: IPv4 a/n is ::ffff:a/(96+n).
 * Always canonical: host bits are zero.  The family is part of the value:
 * the IPv6 block ::ffff:0:0/96 and the IPv4 block 0.0.0.0/0 have the same
 * bits and are different blocks (see addr.c). */
struct np_cidr {
	struct np_addr addr;
	uint8_t plen; /* 0..128 */
	bool v4;      /* an IPv4 block (written as IPv4) */
};

struct np_label {
	char *key;
	char *value;
};

struct np_labels {
	struct np_label *items;
	size_t n;
};

enum np_sel_op {
	NP_SEL_IN,
	NP_SEL_NOT_IN, /* also matches objects without the key */
	NP_SEL_EXISTS,
	NP_SEL_DOES_NOT_EXIST,
};

struct np_sel_expr {
	char *key;
	enum np_sel_op op;
	char **values;
	size_t n_values;
};

/* A metav1.LabelSelector.  Empty (no labels, no expressions) selects all. */
struct np_selector {
	struct np_labels match_labels;
	struct np_sel_expr *exprs;
	size_t n_exprs;
};

struct np_namespace {
	char *name;
	struct np_labels labels; /* kubernetes.io/metadata.name is always present */
	char *source;            /* file it came from, for messages */
};

struct np_container_port {
	char *name; /* NULL when unnamed */
	uint16_t port;
	uint8_t proto; /* NP_PROTO_TCP/UDP/SCTP, default TCP */
};

struct np_pod {
	char *ns;
	char *name;
	struct np_labels labels;
	struct np_addr ips[2]; /* status.podIPs (or podIP), at most one per family */
	size_t n_ips;
	bool host_network;
	struct np_container_port *ports; /* spec.containers[*].ports */
	size_t n_ports;
	char *node_name; /* spec.nodeName; NULL when absent (files, unscheduled) */
	char *source;
};

struct np_port_spec {
	uint8_t proto;   /* NP_PROTO_TCP (default), UDP or SCTP */
	bool has_port;   /* false: every port of proto */
	char *name;      /* named port (has_port true, port 0), else NULL */
	uint16_t port;   /* numeric port */
	uint16_t end_port; /* inclusive; == port when no endPort */
};

struct np_peer {
	bool has_pod_sel;
	struct np_selector pod_sel;
	bool has_ns_sel;
	struct np_selector ns_sel;
	bool has_ip_block;
	struct np_cidr cidr;
	struct np_cidr *except;
	size_t n_except;
};

struct np_rule {
	/* from/to: n_peers == 0 means every peer (missing or empty list) */
	struct np_peer *peers;
	size_t n_peers;
	/* ports: n_ports == 0 means every port and protocol */
	struct np_port_spec *ports;
	size_t n_ports;
};

/* Annotation that puts one policy in audit mode: denials it causes pass
 * and are reported as AUDIT.  Value "true" (case-insensitive). */
#define NP_AUDIT_ANNOTATION "netpol-agent.io/audit"

struct np_policy {
	char *ns;
	char *name;
	struct np_selector pod_sel;
	bool types[NP_DIR_MAX]; /* policyTypes after API-server defaulting */
	/* [NP_DIR_INGRESS] = ingress rules.  Rules are kept (and validated)
	 * even when types[dir] is false; they then have no effect. */
	struct np_rule *rules[NP_DIR_MAX];
	size_t n_rules[NP_DIR_MAX];
	bool audit;
	char *source;
};

struct np_objects {
	struct np_namespace *namespaces;
	size_t n_namespaces;
	struct np_pod *pods;
	size_t n_pods;
	struct np_policy *policies;
	size_t n_policies;
};

/* Error detail for bad input: everything a user needs to fix it. */
struct np_error {
	char msg[1024]; /* "FILE: Kind ns/name: field.path: what is wrong" */
};

/* ---- objects.c ---- */

/* Load every object from PATH (a file, or a directory: *.yaml, *.yml and
 * *.json in it, sorted by name, not recursive) and append them to OBJS.
 * Accepts multi-document YAML, kind: List, and JSON.  Objects of other kinds
 * are ignored.  Unknown fields in the parts we read are an error, named with
 * their path.  Two objects of the same kind, namespace and name (in this load,
 * or one in this load and one already in OBJS) are an error naming both.
 * On error returns -EINVAL (or -errno for I/O) with ERR filled,
 * and OBJS is left exactly as it was. */
int np_objects_load_path(struct np_objects *objs, const char *path,
			 struct np_error *err);

/* Same, from a buffer (NAME is used in messages). */
int np_objects_load_buffer(struct np_objects *objs, const char *name,
			   const char *buf, size_t len, struct np_error *err);

/* Same, from one parsed JSON object as the API server sends it (a list
 * item or a watch event's object).  DEF_KIND/DEF_API ("Pod", "v1") are used
 * when the object carries no kind/apiVersion (items of a typed list). */
struct json_t;
int np_objects_load_json(struct np_objects *objs, const char *name,
			 const struct json_t *doc, const char *def_kind,
			 const char *def_api, struct np_error *err);

void np_objects_free(struct np_objects *objs);

/* Lookups; NULL when absent. */
const struct np_namespace *np_objects_namespace(const struct np_objects *objs,
						const char *name);
const struct np_pod *np_objects_pod(const struct np_objects *objs,
				    const char *ns, const char *name);

/* ---- selector.c ---- */

bool np_selector_is_empty(const struct np_selector *sel);
bool np_selector_matches(const struct np_selector *sel,
			 const struct np_labels *labels);
const char *np_labels_get(const struct np_labels *labels, const char *key);

/* ---- addr.c ---- */

/* Parse "10.1.2.3" or "fd00::1" into the mapped form.  0, -EINVAL, or
 * -EAFNOSUPPORT for IPv6 text of the IPv4-mapped form (::ffff:10.1.2.3):
 * no IPv4 address, and an IPv6 address the datapath drops (see addr.c). */
int np_addr_parse(const char *s, struct np_addr *out);
/* Like np_addr_parse, also accepting the IPv4-mapped IPv6 form; *V4 says
 * which family the text was (false for ::ffff:10.1.2.3).  For tools that
 * show what the datapath does with such a packet. */
int np_addr_parse_any(const char *s, struct np_addr *out, bool *v4);
/* The /128 (or IPv4 /32) block of one address. */
void np_cidr_host(const struct np_addr *a, struct np_cidr *out);
/* "10.0.0.0/8", "fd00::/64", "::ffff:0.0.0.0/96" (an IPv6 block). */
const char *np_cidr_str(const struct np_cidr *c, char *buf, size_t len);
/* Parse a CIDR; host bits are cleared (10.10.1.12/24 means 10.10.1.0/24). */
int np_cidr_parse(const char *s, struct np_cidr *out);
bool np_addr_is_v4(const struct np_addr *a);
/* Format an address the usual way (dotted quad for IPv4). */
const char *np_addr_str(const struct np_addr *a, char *buf, size_t len);
/* Does the CIDR contain the address / the other CIDR? */
bool np_cidr_contains_addr(const struct np_cidr *c, const struct np_addr *a);
bool np_cidr_contains(const struct np_cidr *outer, const struct np_cidr *inner);
bool np_cidr_equal(const struct np_cidr *a, const struct np_cidr *b);

/* "TCP" -> NP_PROTO_TCP etc.; 0 when unknown. */
uint8_t np_proto_parse(const char *s);
const char *np_proto_name(uint8_t proto);

#endif /* NP_MODEL_H */
