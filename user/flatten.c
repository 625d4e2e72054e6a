// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * CIDR flattening for longest-prefix lookup.
 *
 * Every prefix that is mentioned (a block's cidr or one of its excepts)
 * becomes a candidate entry.  For an address X whose longest mentioned prefix
 * is P, a block covers X exactly when its cidr contains P and none of its
 * excepts contains P (all of them are mentioned prefixes on X's chain).  So
 * the item list of P is computed from P's chain of enclosing prefixes, and
 * every address inside P that no longer prefix claims gets that list.
 *
 * Sorting prefixes by (address, length) gives a pre-order walk, so the chain
 * of enclosing prefixes is a stack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

struct mention {
	struct np_cidr prefix;
	uint32_t block;
	bool is_except;
};

static int cmp_mention(const void *a, const void *b)
{
	const struct mention *x = a, *y = b;
	int c;

	/* Family first: the two families are two separate trees, and the
	 * IPv6 block ::ffff:0:0/96 must not enclose IPv4 prefixes. */
	if (x->prefix.v4 != y->prefix.v4)
		return x->prefix.v4 ? -1 : 1;
	c = memcmp(x->prefix.addr.b, y->prefix.addr.b, NP_ADDR_LEN);
	if (c)
		return c;
	if (x->prefix.plen != y->prefix.plen)
		return x->prefix.plen < y->prefix.plen ? -1 : 1;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* A distinct prefix on the walk, with its mentions mentions[first .. end). */
struct frame {
	size_t first;
	size_t end;
	size_t off; /* its item list in out->items */
	size_t n;
};

static int push_items(struct np_flat *out, size_t *cap, const uint32_t *items,
		      size_t n)
{
	if (out->n_items + n > *cap) {
		size_t nc = *cap ? *cap : 64;
		uint32_t *p;

		while (nc < out->n_items + n)
			nc *= 2;
		p = realloc(out->items, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		out->items = p;
		*cap = nc;
	}
	memcpy(out->items + out->n_items, items, n * sizeof(*items));
	out->n_items += n;
	return 0;
}

int np_flatten(const struct np_block *blocks, size_t n_blocks,
	       struct np_flat *out)
{
	struct mention *m = NULL;
	struct frame *stack = NULL;
	uint32_t *open = NULL;    /* per block: depth+1 where opened, 0 closed */
	uint32_t *scratch = NULL;
	size_t n_m = 0, cap_items = 0, cap_entries = 0, depth = 0;
	size_t total = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_blocks; i++)
		total += 1 + blocks[i].n_except;
	if (total == 0)
		return 0;
	m = calloc(total, sizeof(*m));
	stack = calloc(130, sizeof(*stack));
	open = calloc(n_blocks, sizeof(*open));
	scratch = calloc(n_blocks, sizeof(*scratch));
	if (!m || !stack || !open || !scratch)
		goto cleanup;
	for (size_t i = 0; i < n_blocks; i++) {
		m[n_m++] = (struct mention){ blocks[i].cidr, (uint32_t)i, false };
		for (size_t j = 0; j < blocks[i].n_except; j++)
			m[n_m++] = (struct mention){ blocks[i].except[j],
						     (uint32_t)i, true };
	}
	qsort(m, n_m, sizeof(*m), cmp_mention);

	for (size_t i = 0; i < n_m;) {
		size_t j = i;
		struct frame *f;
		size_t n_sc = 0;

		while (j < n_m && cmp_mention(&m[i], &m[j]) == 0)
			j++;
		/* Pop frames that do not enclose this prefix. */
		while (depth > 0 &&
		       !np_cidr_contains(&m[stack[depth - 1].first].prefix,
					 &m[i].prefix))
			depth--;
		f = &stack[depth];
		f->first = i;
		f->end = j;
		depth++;
		/* Blocks open on the chain: opened at some frame, not excepted
		 * at a frame.  Recomputed per prefix; chains are short. */
		for (size_t d = 0; d < depth; d++)
			for (size_t k = stack[d].first; k < stack[d].end; k++)
				open[m[k].block] = 0;
		for (size_t d = 0; d < depth; d++)
			for (size_t k = stack[d].first; k < stack[d].end; k++)
				if (!m[k].is_except && open[m[k].block] == 0)
					open[m[k].block] = 1;
		for (size_t d = 0; d < depth; d++)
			for (size_t k = stack[d].first; k < stack[d].end; k++)
				if (m[k].is_except)
					open[m[k].block] = 2;
		for (size_t d = 0; d < depth; d++)
			for (size_t k = stack[d].first; k < stack[d].end; k++)
				if (open[m[k].block] == 1) {
					scratch[n_sc++] = blocks[m[k].block].item;
					open[m[k].block] = 3; /* counted */
				}
		qsort(scratch, n_sc, sizeof(*scratch), cmp_u32);
		{
			size_t w = 0;

			for (size_t k = 0; k < n_sc; k++)
				if (w == 0 || scratch[w - 1] != scratch[k])
					scratch[w++] = scratch[k];
			n_sc = w;
		}
		f->off = out->n_items;
		f->n = n_sc;
		if (push_items(out, &cap_items, scratch, n_sc))
			goto cleanup;
		/* Omit entries that change nothing compared to the enclosing
		 * prefix (or to "no entry" at the top). */
		{
			bool same;

			if (depth >= 2) {
				struct frame *p = &stack[depth - 2];

				same = p->n == n_sc &&
				       memcmp(out->items + p->off,
					      out->items + f->off,
					      n_sc * sizeof(uint32_t)) == 0;
			} else {
				same = n_sc == 0;
			}
			if (!same) {
				if (out->n >= cap_entries) {
					size_t nc = cap_entries ? cap_entries * 2 : 64;
					struct np_flat_entry *p = realloc(
						out->entries, nc * sizeof(*p));

					if (!p)
						goto cleanup;
					out->entries = p;
					cap_entries = nc;
				}
				out->entries[out->n++] = (struct np_flat_entry){
					m[i].prefix, f->off, n_sc
				};
			}
		}
		i = j;
	}
	err = 0;
cleanup:
	free(m);
	free(stack);
	free(open);
	free(scratch);
	if (err)
		np_flat_free(out);
	return err;
}

void np_flat_free(struct np_flat *f)
{
	free(f->entries);
	free(f->items);
	memset(f, 0, sizeof(*f));
}

void np_port_range_prefixes(uint16_t lo, uint16_t hi,
			    void (*emit)(uint16_t port, uint8_t bits, void *ctx),
			    void *ctx)
{
	uint32_t cur = lo;

	while (cur <= hi) {
		uint8_t size_bits = 0;

		/* Largest aligned block starting at cur that fits in [cur, hi]. */
		while (size_bits < 16) {
			uint32_t next = size_bits + 1;
			uint32_t span = 1u << next;

			if ((cur & (span - 1)) != 0 || cur + span - 1 > hi)
				break;
			size_bits = next;
		}
		emit((uint16_t)cur, (uint8_t)(16 - size_bits), ctx);
		cur += 1u << size_bits;
	}
}
