// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* metav1.LabelSelector semantics: matchLabels AND every matchExpression. */
#include <string.h>

#include "model.h"

bool np_selector_is_empty(const struct np_selector *sel)
{
	return sel->match_labels.n == 0 && sel->n_exprs == 0;
}

const char *np_labels_get(const struct np_labels *labels, const char *key)
{
	if (!labels || !key)
		return NULL;
	for (size_t i = 0; i < labels->n; i++)
		if (labels->items[i].key && strcmp(labels->items[i].key, key) == 0)
			return labels->items[i].value;
	return NULL;
}

static bool value_in(const struct np_sel_expr *e, const char *v)
{
	for (size_t i = 0; i < e->n_values; i++)
		if (e->values[i] && strcmp(e->values[i], v) == 0)
			return true;
	return false;
}

static bool expr_matches(const struct np_sel_expr *e,
			 const struct np_labels *labels)
{
	const char *v = np_labels_get(labels, e->key);

	switch (e->op) {
	case NP_SEL_IN:
		return v && value_in(e, v);
	case NP_SEL_NOT_IN:
		return !v || !value_in(e, v);
	case NP_SEL_EXISTS:
		return v != NULL;
	case NP_SEL_DOES_NOT_EXIST:
		return v == NULL;
	}
	return false; /* unknown operator: select nothing */
}

bool np_selector_matches(const struct np_selector *sel,
			 const struct np_labels *labels)
{
	for (size_t i = 0; i < sel->match_labels.n; i++) {
		const struct np_label *l = &sel->match_labels.items[i];
		const char *v = np_labels_get(labels, l->key);

		if (!v || !l->value || strcmp(v, l->value) != 0)
			return false;
	}
	for (size_t i = 0; i < sel->n_exprs; i++)
		if (!expr_matches(&sel->exprs[i], labels))
			return false;
	return true;
}
