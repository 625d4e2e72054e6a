// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Addresses, CIDRs and protocol names (user/addr.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"

static const char *str(const struct np_addr *a)
{
	static char buf[64];

	return np_addr_str(a, buf, sizeof(buf));
}

static const char *cidr_str(const struct np_cidr *c)
{
	static char buf[80];
	char a[64];

	np_addr_str(&c->addr, a, sizeof(a));
	snprintf(buf, sizeof(buf), "%s/%u", a, (unsigned int)c->plen);
	return buf;
}

static void test_addr_parse_v4(void **state)
{
	struct np_addr a;
	static const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0,
					  0, 0, 0xff, 0xff, 10, 1, 2, 3 };

	(void)state;
	assert_int_equal(np_addr_parse("10.1.2.3", &a), 0);
	assert_memory_equal(a.b, want, 16);
	assert_true(np_addr_is_v4(&a));
	assert_string_equal(str(&a), "10.1.2.3");
}

static void test_addr_parse_v6(void **state)
{
	struct np_addr a;

	(void)state;
	assert_int_equal(np_addr_parse("fd00::1", &a), 0);
	assert_false(np_addr_is_v4(&a));
	assert_int_equal(a.b[0], 0xfd);
	assert_int_equal(a.b[15], 1);
	assert_string_equal(str(&a), "fd00::1");
	/* IPv6 text of the IPv4-mapped form is neither family: refused
	 * (the datapath drops such packets), unless asked for explicitly */
	assert_int_equal(np_addr_parse("::ffff:192.168.0.1", &a), -EAFNOSUPPORT);
	assert_int_equal(np_addr_parse("::ffff:c0a8:1", &a), -EAFNOSUPPORT);
	{
		bool v4 = true;

		assert_int_equal(np_addr_parse_any("::ffff:192.168.0.1", &a, &v4), 0);
		assert_false(v4);
		assert_int_equal(np_addr_parse_any("192.168.0.1", &a, &v4), 0);
		assert_true(v4);
	}
	/* other IPv6 forms near the mapped range stay IPv6 */
	assert_int_equal(np_addr_parse("::192.168.0.1", &a), 0);
	assert_false(np_addr_is_v4(&a));
	assert_int_equal(np_addr_parse("::fffe:192.168.0.1", &a), 0);
	assert_false(np_addr_is_v4(&a));
}

static void test_addr_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "10.1.2", "10.1.2.3.4", "256.1.1.1", "10.1.2.3/32", " 10.1.2.3",
		"10.1.2.3 ", "fd00:::1", "g::1", "abc", "010.1.2.3",
	};
	struct np_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0xaa, sizeof(a));
		assert_int_equal(np_addr_parse(bad[i], &a), -EINVAL);
	}
	assert_int_equal(np_addr_parse(NULL, &a), -EINVAL);
}

static void test_cidr_v4(void **state)
{
	struct np_cidr c;

	(void)state;
	assert_int_equal(np_cidr_parse("10.0.0.0/8", &c), 0);
	assert_true(c.v4);
	assert_int_equal(c.plen, 104);
	assert_string_equal(cidr_str(&c), "10.0.0.0/104");
	assert_int_equal(np_cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(c.plen, 96);
	assert_int_equal(np_cidr_parse("1.2.3.4/32", &c), 0);
	assert_int_equal(c.plen, 128);
	assert_string_equal(cidr_str(&c), "1.2.3.4/128");
}

static void test_cidr_canonical(void **state)
{
	struct np_cidr c;

	(void)state;
	/* host bits are cleared: 10.10.1.12/24 means 10.10.1.0/24 */
	assert_int_equal(np_cidr_parse("10.10.1.12/24", &c), 0);
	assert_string_equal(cidr_str(&c), "10.10.1.0/120");
	assert_int_equal(np_cidr_parse("10.10.1.255/23", &c), 0);
	assert_string_equal(cidr_str(&c), "10.10.0.0/119");
	assert_int_equal(np_cidr_parse("10.255.255.255/1", &c), 0);
	assert_string_equal(cidr_str(&c), "0.0.0.0/97");
	assert_int_equal(np_cidr_parse("1.2.3.4/0", &c), 0);
	assert_string_equal(cidr_str(&c), "0.0.0.0/96");
	assert_true(c.v4);
	/* IPv6 */
	assert_int_equal(np_cidr_parse("fd00:1:2:3::5/64", &c), 0);
	assert_false(c.v4);
	assert_int_equal(c.plen, 64);
	assert_string_equal(cidr_str(&c), "fd00:1:2:3::/64");
	assert_int_equal(np_cidr_parse("fd00:ffff::/13", &c), 0);
	assert_string_equal(cidr_str(&c), "fd00::/13");
	assert_int_equal(np_cidr_parse("::1/0", &c), 0);
	assert_string_equal(cidr_str(&c), "::/0");
	assert_int_equal(np_cidr_parse("2001:db8::1/128", &c), 0);
	assert_string_equal(cidr_str(&c), "2001:db8::1/128");
}

static void test_cidr_bad(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/8",
		"10.0.0.0/8/8", "10.0.0/8", "fd00::/129", "fd00::/1000",
		"10.0.0.0/08", "10.0.0.0/ 8", "10.0.0.0/+8", "10.0.0.0/8 ",
		"x/8", "",
	};
	struct np_cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(np_cidr_parse(bad[i], &c), -EINVAL);
	assert_int_equal(np_cidr_parse(NULL, &c), -EINVAL);
}

static void test_cidr_contains(void **state)
{
	struct np_cidr a, b, any6;
	struct np_addr x;

	(void)state;
	assert_int_equal(np_cidr_parse("10.1.0.0/16", &a), 0);
	assert_int_equal(np_cidr_parse("10.1.2.0/24", &b), 0);
	assert_true(np_cidr_contains(&a, &b));
	assert_false(np_cidr_contains(&b, &a));
	assert_true(np_cidr_contains(&a, &a));
	assert_int_equal(np_addr_parse("10.1.200.3", &x), 0);
	assert_true(np_cidr_contains_addr(&a, &x));
	assert_false(np_cidr_contains_addr(&b, &x));
	assert_int_equal(np_addr_parse("10.2.0.1", &x), 0);
	assert_false(np_cidr_contains_addr(&a, &x));
	/* 0.0.0.0/0 covers IPv4 only; ::/0 covers IPv6 only */
	assert_int_equal(np_cidr_parse("0.0.0.0/0", &a), 0);
	assert_int_equal(np_addr_parse("fd00::1", &x), 0);
	assert_false(np_cidr_contains_addr(&a, &x));
	assert_int_equal(np_cidr_parse("::/0", &any6), 0);
	assert_true(np_cidr_contains_addr(&any6, &x));
	assert_int_equal(np_addr_parse("1.1.1.1", &x), 0);
	assert_true(np_cidr_contains_addr(&a, &x));
	assert_false(np_cidr_contains_addr(&any6, &x));
	assert_false(np_cidr_contains(&any6, &a));
	assert_false(np_cidr_contains(&a, &any6));
	/* IPv6 blocks in the mapped range have IPv4's bits, not its family */
	assert_int_equal(np_cidr_parse("::ffff:0:0/96", &b), 0);
	assert_false(b.v4);
	assert_false(np_cidr_contains_addr(&b, &x));
	assert_false(np_cidr_contains(&b, &a));
	assert_false(np_cidr_contains(&a, &b));
	assert_true(np_cidr_contains(&any6, &b));
	assert_false(np_cidr_equal(&a, &b));
	assert_memory_equal(a.addr.b, b.addr.b, 16);
	assert_int_equal(a.plen, b.plen);
	assert_int_equal(np_cidr_parse("::ffff:1.1.1.0/120", &b), 0);
	assert_false(np_cidr_contains_addr(&b, &x));
	assert_int_equal(np_cidr_parse("1.1.1.0/24", &b), 0);
	assert_true(np_cidr_contains_addr(&b, &x));
	{
		char buf[64];

		assert_int_equal(np_cidr_parse("::ffff:10.0.0.0/104", &b), 0);
		assert_string_equal(np_cidr_str(&b, buf, sizeof(buf)), "::ffff:10.0.0.0/104");
		assert_int_equal(np_cidr_parse("10.0.0.0/8", &b), 0);
		assert_string_equal(np_cidr_str(&b, buf, sizeof(buf)), "10.0.0.0/8");
		np_cidr_host(&x, &b);
		assert_true(b.v4);
		assert_string_equal(np_cidr_str(&b, buf, sizeof(buf)), "1.1.1.1/32");
	}
	/* odd prefix lengths */
	assert_int_equal(np_cidr_parse("10.0.0.128/25", &a), 0);
	assert_int_equal(np_addr_parse("10.0.0.127", &x), 0);
	assert_false(np_cidr_contains_addr(&a, &x));
	assert_int_equal(np_addr_parse("10.0.0.129", &x), 0);
	assert_true(np_cidr_contains_addr(&a, &x));
	assert_int_equal(np_cidr_parse("fd00::/9", &a), 0);
	assert_int_equal(np_cidr_parse("fd80::/9", &b), 0);
	assert_false(np_cidr_contains(&a, &b));
	assert_int_equal(np_cidr_parse("fd00::/8", &a), 0);
	assert_true(np_cidr_contains(&a, &b));
}

static void test_proto(void **state)
{
	(void)state;
	assert_int_equal(np_proto_parse("TCP"), NP_PROTO_TCP);
	assert_int_equal(np_proto_parse("UDP"), NP_PROTO_UDP);
	assert_int_equal(np_proto_parse("SCTP"), NP_PROTO_SCTP);
	assert_int_equal(np_proto_parse("tcp"), 0);
	assert_int_equal(np_proto_parse("Tcp"), 0);
	assert_int_equal(np_proto_parse("ICMP"), 0);
	assert_int_equal(np_proto_parse(""), 0);
	assert_int_equal(np_proto_parse(NULL), 0);
	assert_string_equal(np_proto_name(NP_PROTO_TCP), "TCP");
	assert_string_equal(np_proto_name(NP_PROTO_UDP), "UDP");
	assert_string_equal(np_proto_name(NP_PROTO_SCTP), "SCTP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse_v4),
		cmocka_unit_test(test_addr_parse_v6),
		cmocka_unit_test(test_addr_parse_bad),
		cmocka_unit_test(test_cidr_v4),
		cmocka_unit_test(test_cidr_canonical),
		cmocka_unit_test(test_cidr_bad),
		cmocka_unit_test(test_cidr_contains),
		cmocka_unit_test(test_proto),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
