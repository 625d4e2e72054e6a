// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The rtnetlink parsers (user/netlink.c) on hostile datagrams: lengths that
 * lie, short headers, short attributes, strings without their NUL.  Every
 * datagram sits in an allocation of exactly its size, so the ASan build
 * catches any read past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "netlink.h"

/* A datagram under construction. */
struct dgram {
	unsigned char b[512];
	size_t len;
};

/* Append a message of TYPE with a fixed header of HDR bytes (zeroed, then
 * FILL) and return it; nlmsg_len covers what is appended after it. */
static struct nlmsghdr *msg(struct dgram *d, uint16_t type, size_t hdr, const void *fill)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(d->b + d->len);

	memset(nh, 0, NLMSG_SPACE(hdr));
	nh->nlmsg_type = type;
	nh->nlmsg_len = (uint32_t)NLMSG_LENGTH(hdr);
	if (fill)
		memcpy(NLMSG_DATA(nh), fill, hdr);
	d->len += NLMSG_SPACE(hdr);
	return nh;
}

static void attr(struct dgram *d, struct nlmsghdr *nh, uint16_t type, const void *v, size_t n)
{
	struct rtattr *rta = (struct rtattr *)(d->b + d->len);

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(n);
	memcpy(RTA_DATA(rta), v, n);
	d->len += RTA_SPACE(n);
	nh->nlmsg_len = (uint32_t)(d->len - ((unsigned char *)nh - d->b));
}

/* A copy of the first LEN bytes in an allocation of exactly LEN. */
static void *exact(const struct dgram *d, size_t len)
{
	void *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, d->b, len);
	return p;
}

static void test_monitor_lengths(void **state)
{
	struct ifinfomsg ifi = { .ifi_index = 7 };
	struct np_nl_changes ch;
	struct dgram d = { .len = 0 };
	struct nlmsghdr *nh;
	void *p;

	(void)state;
	msg(&d, RTM_DELLINK, sizeof(ifi), &ifi);
	/* a second message claiming more bytes than the datagram holds */
	nh = msg(&d, RTM_DELLINK, sizeof(ifi), &ifi);
	nh->nlmsg_len = 400;
	memset(&ch, 0, sizeof(ch));
	p = exact(&d, d.len);
	np_nl_monitor_parse(p, d.len, &ch);
	free(p);
	assert_int_equal(ch.links, 1);
	assert_int_equal(ch.n_gone, 1);
	assert_int_equal(ch.gone[0], 7);

	/* an unaligned last message: NLMSG_NEXT would take the remaining
	 * length below zero (and NLMSG_OK with a size_t cast accept it) */
	d.len = 0;
	nh = msg(&d, RTM_NEWROUTE, 1, NULL);
	nh->nlmsg_len = NLMSG_HDRLEN + 1;
	memset(&ch, 0, sizeof(ch));
	p = exact(&d, NLMSG_HDRLEN + 1);
	np_nl_monitor_parse(p, NLMSG_HDRLEN + 1, &ch);
	free(p);
	assert_int_equal(ch.routes, 0);

	/* a link message too short for its ifinfomsg; a route message too
	 * short for its rtmsg; a header alone; nothing at all */
	d.len = 0;
	nh = msg(&d, RTM_DELLINK, 4, NULL);
	memset(&ch, 0, sizeof(ch));
	p = exact(&d, d.len);
	np_nl_monitor_parse(p, d.len, &ch);
	free(p);
	assert_int_equal(ch.links + ch.n_gone, 0);
	d.len = 0;
	msg(&d, RTM_NEWROUTE, 2, NULL);
	p = exact(&d, d.len);
	np_nl_monitor_parse(p, d.len, &ch);
	free(p);
	assert_int_equal(ch.routes, 0);
	p = exact(&d, 10);
	np_nl_monitor_parse(p, 10, &ch);
	free(p);
	np_nl_monitor_parse(NULL, 0, &ch);
	assert_int_equal(ch.routes + ch.links, 0);
}

static void test_route_answer(void **state)
{
	struct rtmsg rt = { .rtm_family = 2, .rtm_type = RTN_UNICAST, .rtm_table = RT_TABLE_MAIN };
	struct dgram d = { .len = 0 };
	struct nlmsghdr *nh;
	uint32_t oif = 5;
	uint16_t half = 9;
	int got = -1;
	void *p;

	(void)state;
	nh = msg(&d, RTM_NEWROUTE, sizeof(rt), &rt);
	attr(&d, nh, RTA_OIF, &oif, sizeof(oif));
	p = exact(&d, d.len);
	assert_int_equal(np_nl_route_answer_parse(p, d.len, &got), RTN_UNICAST);
	free(p);
	assert_int_equal(got, 5);

	/* RTA_OIF with a 2-byte payload at the very end: not read */
	d.len = 0;
	nh = msg(&d, RTM_NEWROUTE, sizeof(rt), &rt);
	attr(&d, nh, RTA_OIF, &half, sizeof(half));
	p = exact(&d, d.len - 2); /* the attribute's padding is not there either */
	nh = p;
	nh->nlmsg_len -= 2;
	got = -1;
	np_nl_route_answer_parse(p, d.len - 2, &got);
	free(p);
	assert_int_equal(got, 0);

	/* a route message without room for its rtmsg */
	d.len = 0;
	msg(&d, RTM_NEWROUTE, 4, NULL);
	p = exact(&d, d.len);
	assert_int_equal(np_nl_route_answer_parse(p, d.len, &got), 0);
	free(p);
	assert_int_equal(got, 0);
}

static void test_clsact_kind(void **state)
{
	struct tcmsg tc = { .tcm_ifindex = 3 };
	struct dgram d = { .len = 0 };
	struct nlmsghdr *nh;
	void *p;

	(void)state;
	nh = msg(&d, RTM_NEWQDISC, sizeof(tc), &tc);
	attr(&d, nh, TCA_KIND, "clsact", sizeof("clsact"));
	p = exact(&d, d.len);
	assert_true(np_nl_clsact_parse(p, d.len, 3));
	assert_false(np_nl_clsact_parse(p, d.len, 4));
	free(p);

	/* no terminating NUL, at the end of the datagram: strcmp would read on */
	d.len = 0;
	nh = msg(&d, RTM_NEWQDISC, sizeof(tc), &tc);
	attr(&d, nh, TCA_KIND, "clsact", 6);
	p = exact(&d, d.len - 2);
	((struct nlmsghdr *)p)->nlmsg_len -= 2;
	assert_false(np_nl_clsact_parse(p, d.len - 2, 3));
	free(p);

	/* a longer kind that starts the same */
	d.len = 0;
	nh = msg(&d, RTM_NEWQDISC, sizeof(tc), &tc);
	attr(&d, nh, TCA_KIND, "clsactx", sizeof("clsactx"));
	p = exact(&d, d.len);
	assert_false(np_nl_clsact_parse(p, d.len, 3));
	free(p);

	/* a qdisc message too short for its tcmsg */
	d.len = 0;
	msg(&d, RTM_NEWQDISC, 2, NULL);
	p = exact(&d, d.len);
	assert_false(np_nl_clsact_parse(p, d.len, 0));
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_monitor_lengths),
		cmocka_unit_test(test_route_answer),
		cmocka_unit_test(test_clsact_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
