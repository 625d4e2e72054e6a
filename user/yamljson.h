/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * YAML (and therefore JSON, a subset of it) -> jansson trees, with libyaml.
 * Private to objects.c and its tests.
 */
#ifndef NP_YAMLJSON_H
#define NP_YAMLJSON_H

#include <stddef.h>

#include <jansson.h>

/* Maximum nesting of mappings and sequences. */
#define NP_YAML_MAX_DEPTH 128

/*
 * Parse every document of BUF into a new JSON array (one element per
 * document; an empty document is JSON null).  Scalars are resolved like
 * Kubernetes' YAML reader does: quoted scalars are strings; plain scalars
 * that look like integers become integers, like floats reals,
 * true/false (and YAML 1.1 yes/no/on/off/y/n) booleans, null/~/empty null.
 * Anchors, aliases and complex keys are rejected; duplicate keys too.
 * On error returns NULL and writes "line L, column C: what" into ERR.
 */
json_t *np_yaml_parse(const char *buf, size_t len, char *err, size_t err_len);

/* The same, one document at a time: CB gets each document (borrowed: it is
 * freed when CB returns, before the next one is parsed, so memory follows
 * one document, not the file) and its 0-based index; a negative return
 * stops parsing and is returned (-EINVAL becomes NP_YAML_CB_FAILED, to
 * tell it from a YAML error, which returns -EINVAL with ERR written). */
#define NP_YAML_CB_FAILED (-1000)
typedef int (*np_yaml_doc_cb)(void *ctx, json_t *doc, size_t index);
int np_yaml_parse_each(const char *buf, size_t len, np_yaml_doc_cb cb, void *ctx,
		       char *err, size_t err_len);

#endif
