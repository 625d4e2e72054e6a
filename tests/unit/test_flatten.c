// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* CIDR flattening: every address must get exactly the union of the items of
 * the blocks that cover it and do not except it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compile.h"

static struct np_cidr cidr(const char *s)
{
	struct np_cidr c;

	assert_int_equal(np_cidr_parse(s, &c), 0);
	return c;
}

/* Longest-prefix lookup over the flattened entries, like the kernel's trie. */
static const struct np_flat_entry *lpm(const struct np_flat *f,
				       const struct np_addr *a)
{
	const struct np_flat_entry *best = NULL;

	for (size_t i = 0; i < f->n; i++)
		if (np_cidr_contains_addr(&f->entries[i].prefix, a) &&
		    (!best || f->entries[i].prefix.plen > best->prefix.plen))
			best = &f->entries[i];
	return best;
}

static void items_at(const struct np_flat *f, const char *addr,
		     uint32_t *items, size_t *n)
{
	struct np_addr a;
	const struct np_flat_entry *e;

	assert_int_equal(np_addr_parse(addr, &a), 0);
	e = lpm(f, &a);
	*n = e ? e->n : 0;
	if (e)
		memcpy(items, f->items + e->off, e->n * sizeof(uint32_t));
}

#define EXPECT_ITEMS(f, addr, ...)                                            \
	do {                                                                  \
		uint32_t want[] = { __VA_ARGS__ };                            \
		uint32_t got[16];                                             \
		size_t n;                                                     \
		items_at(f, addr, got, &n);                                   \
		assert_int_equal(n, sizeof(want) / sizeof(want[0]) - 1);     \
		for (size_t i = 0; i + 1 < sizeof(want) / sizeof(want[0]); i++) \
			assert_int_equal(got[i], want[i + 1]);               \
	} while (0)
/* EXPECT_ITEMS(f, "1.2.3.4", 0, items...) - the leading 0 is a placeholder. */

static void test_except_and_more_specific_allow(void **state)
{
	struct np_cidr ex[] = { cidr("10.1.0.0/16") };
	struct np_block b[] = {
		{ cidr("10.0.0.0/8"), ex, 1, 1 },
		{ cidr("10.1.0.0/16"), NULL, 0, 2 },
	};
	struct np_flat f;

	(void)state;
	assert_int_equal(np_flatten(b, 2, &f), 0);
	EXPECT_ITEMS(&f, "10.2.0.1", 0, 1);
	EXPECT_ITEMS(&f, "10.1.2.3", 0, 2);
	EXPECT_ITEMS(&f, "11.0.0.1", 0);
	np_flat_free(&f);
}

static void test_overlap_union(void **state)
{
	struct np_block b[] = {
		{ cidr("10.0.0.0/8"), NULL, 0, 1 },
		{ cidr("10.0.0.0/16"), NULL, 0, 2 },
		{ cidr("10.0.0.0/16"), NULL, 0, 3 },
	};
	struct np_flat f;

	(void)state;
	assert_int_equal(np_flatten(b, 3, &f), 0);
	EXPECT_ITEMS(&f, "10.0.5.5", 0, 1, 2, 3);
	EXPECT_ITEMS(&f, "10.9.5.5", 0, 1);
	assert_int_equal(f.n, 2);
	np_flat_free(&f);
}

/* An except of one block must not shadow another block covering the same
 * range (the AWS agent's "deny all" entries do exactly that). */
static void test_except_does_not_shadow_other_rule(void **state)
{
	struct np_cidr ex[] = { cidr("10.1.0.0/16") };
	struct np_block b[] = {
		{ cidr("0.0.0.0/0"), ex, 1, 1 },
		{ cidr("10.0.0.0/8"), NULL, 0, 2 },
	};
	struct np_flat f;

	(void)state;
	assert_int_equal(np_flatten(b, 2, &f), 0);
	EXPECT_ITEMS(&f, "10.1.0.1", 0, 2);
	EXPECT_ITEMS(&f, "10.2.0.1", 0, 1, 2);
	EXPECT_ITEMS(&f, "192.168.0.1", 0, 1);
	np_flat_free(&f);
}

/* Same item twice: one block excepts a range the other covers. */
static void test_same_item_two_blocks(void **state)
{
	struct np_cidr ex[] = { cidr("10.1.0.0/16") };
	struct np_block b[] = {
		{ cidr("10.0.0.0/8"), ex, 1, 7 },
		{ cidr("10.1.2.0/24"), NULL, 0, 7 },
	};
	struct np_flat f;

	(void)state;
	assert_int_equal(np_flatten(b, 2, &f), 0);
	EXPECT_ITEMS(&f, "10.1.2.9", 0, 7);
	EXPECT_ITEMS(&f, "10.1.3.9", 0);
	EXPECT_ITEMS(&f, "10.3.3.9", 0, 7);
	np_flat_free(&f);
}

/* IPv4 blocks never cover IPv6 and IPv6 blocks never cover IPv4: not even
 * ::/0 or ::ffff:0:0/96, whose bits contain every mapped IPv4 address. */
static void test_families(void **state)
{
	struct np_block b[] = {
		{ cidr("0.0.0.0/0"), NULL, 0, 1 },
		{ cidr("fd00::/8"), NULL, 0, 2 },
	};
	struct np_flat f;

	(void)state;
	assert_int_equal(np_flatten(b, 2, &f), 0);
	EXPECT_ITEMS(&f, "1.2.3.4", 0, 1);
	EXPECT_ITEMS(&f, "fd00::1", 0, 2);
	EXPECT_ITEMS(&f, "2001:db8::1", 0);
	np_flat_free(&f);
	{
		struct np_block all = { .cidr = { .plen = 0 }, .item = 9 };

		assert_int_equal(np_flatten(&all, 1, &f), 0);
		EXPECT_ITEMS(&f, "1.2.3.4", 0);
		EXPECT_ITEMS(&f, "2001:db8::1", 0, 9);
		np_flat_free(&f);
	}
	{
		/* An IPv6 block written in the mapped form is still IPv6. */
		struct np_block m[] = {
			{ cidr("::ffff:0:0/96"), NULL, 0, 3 },
			{ cidr("::ffff:10.0.0.0/104"), NULL, 0, 4 },
		};

		assert_int_equal(np_flatten(m, 2, &f), 0);
		EXPECT_ITEMS(&f, "10.1.2.3", 0);
		EXPECT_ITEMS(&f, "169.254.169.254", 0);
		np_flat_free(&f);
	}
}

/* The dual-stack "egress anywhere except the metadata service" policy: the
 * ::/0 peer must not re-allow 169.254.169.254. */
static void test_imds_dual_stack(void **state)
{
	struct np_cidr imds = cidr("169.254.169.254/32");
	struct np_block b[] = {
		{ cidr("0.0.0.0/0"), &imds, 1, 1 },
		{ cidr("::/0"), NULL, 0, 2 },
	};
	struct np_flat f;

	(void)state;
	assert_int_equal(np_flatten(b, 2, &f), 0);
	EXPECT_ITEMS(&f, "169.254.169.254", 0);
	EXPECT_ITEMS(&f, "169.254.169.253", 0, 1);
	EXPECT_ITEMS(&f, "8.8.8.8", 0, 1);
	EXPECT_ITEMS(&f, "2001:db8::1", 0, 2);
	EXPECT_ITEMS(&f, "fd00:ec2::254", 0, 2);
	np_flat_free(&f);
	/* The same with the peers the other way round, and the except of the
	 * other family's block nowhere near. */
	{
		struct np_block r[] = {
			{ cidr("::/0"), NULL, 0, 2 },
			{ cidr("0.0.0.0/0"), &imds, 1, 1 },
		};

		assert_int_equal(np_flatten(r, 2, &f), 0);
		EXPECT_ITEMS(&f, "169.254.169.254", 0);
		EXPECT_ITEMS(&f, "2001:db8::1", 0, 2);
		np_flat_free(&f);
	}
}

/* Brute force: random blocks inside 10.0.0.0/24, every one of the 256
 * addresses checked against the definition. */
static void test_random_against_definition(void **state)
{
	unsigned int seed = 12345;

	(void)state;
	for (int round = 0; round < 300; round++) {
		struct np_block blocks[8];
		struct np_cidr excepts[8][3];
		size_t nb = 1 + (size_t)(rand_r(&seed) % 8);
		struct np_flat f;

		for (size_t i = 0; i < nb; i++) {
			char buf[40];
			int plen = 24 + rand_r(&seed) % 7;
			int host = rand_r(&seed) % 256;

			/* One block in four is the same prefix written as an
			 * IPv6 block (::ffff:10.0.0.x/(96+n)): it has the
			 * same bits and must cover none of the addresses. */
			bool v6 = rand_r(&seed) % 4 == 0;

			if (v6)
				snprintf(buf, sizeof(buf), "::ffff:10.0.0.%d/%d", host, 96 + plen);
			else
				snprintf(buf, sizeof(buf), "10.0.0.%d/%d", host, plen);
			blocks[i].cidr = cidr(buf);
			blocks[i].item = (uint32_t)(rand_r(&seed) % 4);
			blocks[i].n_except = 0;
			blocks[i].except = excepts[i];
			for (int e = rand_r(&seed) % 4; e > 0; e--) {
				int eplen = plen + 1 + rand_r(&seed) % (32 - plen);
				int base = blocks[i].cidr.addr.b[15];
				int span = 1 << (32 - plen);
				int eh = base + rand_r(&seed) % span;

				if (eplen > 32)
					continue;
				if (v6)
					snprintf(buf, sizeof(buf), "::ffff:10.0.0.%d/%d", eh, 96 + eplen);
				else
					snprintf(buf, sizeof(buf), "10.0.0.%d/%d", eh, eplen);
				excepts[i][blocks[i].n_except++] = cidr(buf);
			}
		}
		assert_int_equal(np_flatten(blocks, nb, &f), 0);
		for (int host = 0; host < 256; host++) {
			char addr[32];
			struct np_addr a;
			uint32_t want[8];
			size_t nw = 0;
			const struct np_flat_entry *e;

			snprintf(addr, sizeof(addr), "10.0.0.%d", host);
			assert_int_equal(np_addr_parse(addr, &a), 0);
			for (uint32_t item = 0; item < 4; item++) {
				bool in = false;

				for (size_t i = 0; i < nb && !in; i++) {
					bool ex = false;

					if (!blocks[i].cidr.v4)
						continue; /* IPv6: never an IPv4 address */
					if (blocks[i].item != item ||
					    !np_cidr_contains_addr(&blocks[i].cidr, &a))
						continue;
					for (size_t k = 0; k < blocks[i].n_except; k++)
						if (np_cidr_contains_addr(&blocks[i].except[k], &a))
							ex = true;
					in = !ex;
				}
				if (in)
					want[nw++] = item;
			}
			e = lpm(&f, &a);
			assert_int_equal(e ? e->n : 0, nw);
			for (size_t k = 0; k < nw; k++)
				assert_int_equal(f.items[e->off + k], want[k]);
		}
		np_flat_free(&f);
	}
}

struct range_ctx {
	uint32_t covered[65536 / 32];
	int count;
};

static void mark(uint16_t port, uint8_t bits, void *p)
{
	struct range_ctx *c = p;
	uint32_t size = 1u << (16 - bits);

	assert_int_equal(port & (size - 1), 0); /* aligned */
	for (uint32_t i = 0; i < size; i++) {
		uint32_t x = port + i;

		assert_false(c->covered[x / 32] & (1u << (x % 32))); /* no overlap */
		c->covered[x / 32] |= 1u << (x % 32);
	}
	c->count++;
}

static void test_port_ranges(void **state)
{
	static const uint16_t cases[][2] = {
		{ 80, 80 }, { 0, 65535 }, { 1, 65535 }, { 8000, 8080 },
		{ 1024, 2047 }, { 65535, 65535 }, { 32000, 32767 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct range_ctx *c = calloc(1, sizeof(*c));

		np_port_range_prefixes(cases[i][0], cases[i][1], mark, c);
		for (uint32_t p = 0; p < 65536; p++) {
			bool want = p >= cases[i][0] && p <= cases[i][1];

			assert_int_equal(!!(c->covered[p / 32] & (1u << (p % 32))), want);
		}
		assert_true(c->count <= 30);
		free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_except_and_more_specific_allow),
		cmocka_unit_test(test_overlap_union),
		cmocka_unit_test(test_except_does_not_shadow_other_rule),
		cmocka_unit_test(test_same_item_two_blocks),
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_imds_dual_stack),
		cmocka_unit_test(test_random_against_definition),
		cmocka_unit_test(test_port_ranges),
	};

	return cmocka_run_group_tests_name("flatten", tests, NULL, NULL);
}
