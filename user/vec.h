/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Growable arrays: np_vec_push(&arr, &n, &cap, &item) with a typed pointer. */
#ifndef NP_VEC_H
#define NP_VEC_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline int np_vec_grow(void **arr, size_t n, size_t *cap, size_t elem)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 8;
	p = realloc(*arr, nc * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

/* Append *ITEM to the array *ARR of *N elements (capacity *CAP). */
#define np_vec_push(arr, n, cap, item)                                        \
	(np_vec_grow((void **)(arr), *(n), (cap), sizeof(**(arr))) ?: \
	 (memcpy(&(*(arr))[(*(n))++], (item), sizeof(**(arr))), 0))

#endif
