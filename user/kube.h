/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kubernetes API sync: configuration (kubeconfig.c), the watch stream
 * parser (kubestream.c), the object caches (kubecache.c) and the list+watch
 * client on the agent's event loop (kubeclient.c).
 */
#ifndef NP_KUBE_H
#define NP_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "evloop.h"
#include "hashmap.h"
#include "model.h"

/* ---- kubeconfig.c ---- */

#define NP_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where and how to reach the API server.  Strings are owned (malloc). */
struct np_kubeconfig {
	char *server;       /* "https://host:port", no trailing slash */
	char *ca_file;      /* PEM file, or NULL */
	char *ca_data;      /* PEM bytes (decoded), or NULL */
	size_t ca_data_len;
	char *token;        /* static bearer token, or NULL */
	char *token_file;   /* re-read periodically and after a 401, or NULL */
	char *cert_file, *key_file;   /* client certificate (PEM files) */
	char *cert_data, *key_data;   /* or PEM bytes (decoded) */
	size_t cert_data_len, key_data_len;
	char *source;       /* "in-cluster" or the kubeconfig path, for messages */
};

/* In-cluster: KUBERNETES_SERVICE_HOST/_PORT and SA_DIR/{token,ca.crt}
 * (SA_DIR NULL: NP_KUBE_SA_DIR).  0 or -errno with ERR filled. */
int np_kubeconfig_in_cluster(struct np_kubeconfig *kc, const char *sa_dir,
			     struct np_error *err);
/* A kubeconfig file (YAML or JSON): its current-context's cluster and
 * user.  Relative file paths are relative to the kubeconfig's directory. */
int np_kubeconfig_load(struct np_kubeconfig *kc, const char *path,
		       struct np_error *err);
/* Same, from a buffer; DIR resolves relative paths. */
int np_kubeconfig_parse(struct np_kubeconfig *kc, const char *name,
			const char *buf, size_t len, const char *dir,
			struct np_error *err);
void np_kubeconfig_free(struct np_kubeconfig *kc);
/* Read the current token (token_file, else token) into *OUT (malloc'd,
 * trailing whitespace removed).  -ENOENT when neither is configured. */
int np_kubeconfig_read_token(const struct np_kubeconfig *kc, char **out,
			     struct np_error *err);
/* Standard base64 (RFC 4648, padding optional, whitespace ignored) into a
 * malloc'd NUL-terminated buffer.  0 or -EINVAL/-ENOMEM. */
int np_base64_decode(const char *in, char **out, size_t *out_len);

/* ---- kubestream.c ---- */

/* A newline-delimited JSON stream (a watch response body) fed in arbitrary
 * chunks.  Each complete line is parsed and handed to the callback; a line
 * split across chunks waits for its end. */
typedef int (*np_kstream_cb)(void *ctx, json_t *event);

struct np_kstream {
	char *buf;        /* the incomplete last line so far */
	size_t len, cap;
	size_t max_line;  /* longer lines are an error (-EMSGSIZE) */
	uint64_t lines;   /* complete lines parsed */
	uint64_t bytes;   /* bytes fed */
};

/* Parsing JSON may cost at most FACTOR x its size + SLACK of memory
 * (np_json_cost estimates it before parsing). */
#define NP_JSON_COST_FACTOR 16u
#define NP_JSON_COST_SLACK (8u << 20)
size_t np_json_cost(const char *p, size_t n);
bool np_json_cost_ok(const char *p, size_t n);

void np_kstream_init(struct np_kstream *s, size_t max_line);
void np_kstream_reset(struct np_kstream *s);
void np_kstream_free(struct np_kstream *s);
/* Feed N bytes; calls CB(CTX, event) for every complete non-empty line (the
 * event is borrowed: CB must json_incref what it keeps).  Returns 0, a
 * negative value CB returned (feeding stops there), -EBADMSG for a line
 * that is not a JSON object, -EMSGSIZE for a line longer than max_line,
 * -E2BIG for one whose parse would cost more than np_json_cost_ok allows,
 * or -ENOMEM. */
int np_kstream_feed(struct np_kstream *s, const char *data, size_t n,
		    np_kstream_cb cb, void *ctx);
/* The stream ended: bytes of an unterminated last line that were dropped
 * (a truncated event; the caller resumes from the last resourceVersion it
 * saw, so nothing is lost). */
size_t np_kstream_finish(struct np_kstream *s);

/* ---- kubecache.c ---- */

enum np_kind {
	NP_KIND_NAMESPACE,
	NP_KIND_POD,
	NP_KIND_POLICY,
	NP_KIND_MAX,
};

/* One cached object: the parsed model object and the few extra fields that
 * decide whether and how a pod takes part. */
struct np_kentry {
	struct np_objects obj;  /* exactly one object of the entry's kind */
	char *created;          /* metadata.creationTimestamp (RFC 3339) */
	bool terminating;       /* metadata.deletionTimestamp set */
	bool finished;          /* status.phase Succeeded or Failed */
	uint64_t digest;        /* of the fields above as the API sent them */
	/* The API's latest version of the object did not validate here: NULL,
	 * or why.  The entry then holds the last good version, or (a policy
	 * seen only invalid) an isolation-only policy: its podSelector and
	 * policyTypes with no rules. */
	char *invalid;
	bool isolation_only;
};

struct np_kubecache {
	/* "ns/name" (or "name") -> struct np_kentry *, per kind */
	struct np_hashmap map[NP_KIND_MAX];
	uint64_t generation;    /* bumped on every change */
	uint64_t wrong_kind;    /* objects refused: not of the resource's kind */
	uint64_t invalid;       /* object versions that did not validate here */
	/* A re-list's staging cache starts empty: the last good version of an
	 * object that arrives invalid is then looked up here (the live cache). */
	const struct np_kubecache *fallback;
};

int np_kubecache_init(struct np_kubecache *c);
void np_kubecache_free(struct np_kubecache *c);
/* Added or modified: parse OBJ (API JSON) and replace the entry.  An
 * object the API server accepted but that does not validate here never
 * widens access: the last good version stays in force; a policy with no
 * good version isolates what its podSelector selects in the directions of
 * its policyTypes (when those can be read), with no rules.  Either way it
 * is logged, counted (c->invalid) and listed by np_kubecache_invalid.
 * An update that leaves every field the agent uses as it was (a pod's
 * conditions or container statuses, a policy's annotations) is not a
 * change: nothing is recompiled for it.
 * 1 when the cache changed, 0 when not, -ENOMEM. */
int np_kubecache_upsert(struct np_kubecache *c, enum np_kind kind,
			const json_t *obj);
/* NULL when OBJ can be a KIND object (its "kind" absent, as in list items,
 * or KIND with KIND's apiVersion); else what it claims to be ("Pod",
 * "PodList", "?" when kind is not a string): such an object (a Pod on the
 * namespaces watch, a *List, an unknown kind) is never stored. */
const char *np_kubecache_wrong_kind(enum np_kind kind, const json_t *obj);
/* Deleted (OBJ: its last state; only the name matters).  1/0 as above. */
int np_kubecache_delete(struct np_kubecache *c, enum np_kind kind,
			const json_t *obj);
/* Drop every entry of KIND (before a re-list replaces it). */
void np_kubecache_clear(struct np_kubecache *c, enum np_kind kind);
/* Move every entry of KIND from SRC into DST, replacing DST's. */
void np_kubecache_replace(struct np_kubecache *dst, struct np_kubecache *src,
			  enum np_kind kind);
size_t np_kubecache_count(const struct np_kubecache *c, enum np_kind kind);
/* Call FN for each entry whose latest API version did not validate, with
 * "Kind ns/name", what is in force instead and why; returns how many. */
size_t np_kubecache_invalid(const struct np_kubecache *c,
			    void (*fn)(void *ctx, const char *object, const char *in_force,
				       const char *why),
			    void *ctx);

/*
 * Build OUT (owned, free with np_objects_free) from the cache and FILES
 * (may be NULL).  Precedence: an API object replaces a file object of the
 * same kind, namespace and name.  Pods that take no part are left out:
 * Succeeded/Failed pods; their addresses are free for reuse.  An address
 * claimed by several live pods goes to one only: a pod that is not
 * terminating beats a terminating one, then the most recently created one
 * wins (then the larger namespace/name, so the result is deterministic);
 * the losers keep their other addresses.  An API pod beats a file pod
 * with the same address.  hostNetwork pods share the node's address
 * legitimately and are exempt.
 */
int np_kubecache_snapshot(const struct np_kubecache *c,
			  const struct np_objects *files,
			  struct np_objects *out);

/* ---- kubeclient.c ---- */

struct np_kube;

struct np_kube_stats {
	uint64_t requests;       /* HTTP requests started (lists, pages, watches) */
	uint64_t list_requests;
	uint64_t watch_requests;
	uint64_t events;         /* watch events received (bookmarks included) */
	uint64_t bytes;          /* response body bytes received */
	uint64_t relists;        /* re-lists after 410 */
	uint64_t errors;         /* failed requests (connection or HTTP) */
	uint64_t wrong_kind;     /* list items / watch objects of another kind, refused */
	unsigned watches_open;   /* watch connections open now */
};

struct np_kube_opts {
	struct np_loop *loop;
	const struct np_kubeconfig *cfg;
	/* Called (from the loop) after the cache changed; ARRIVAL_MS is the
	 * np_now_ms() at which the first not yet reported change arrived. */
	void (*on_change)(void *ctx, uint64_t arrival_ms);
	void *ctx;
	unsigned page_limit;     /* list page size (0: 500) */
	unsigned backoff_min_ms; /* 0: 500 */
	unsigned backoff_max_ms; /* 0: 30000 */
	unsigned token_reread_ms; /* 0: 60000 */
	unsigned watch_timeout_min_s, watch_timeout_max_s; /* 0: 300, 600 */
};

/* Start listing and watching; everything then happens on OPTS->loop. */
int np_kube_start(struct np_kube **out, const struct np_kube_opts *opts);
void np_kube_stop(struct np_kube *k);
/* Every resource has been listed once (the cache is complete). */
bool np_kube_synced(const struct np_kube *k);
const struct np_kubecache *np_kube_cache(const struct np_kube *k);
void np_kube_get_stats(const struct np_kube *k, struct np_kube_stats *out);

#endif
