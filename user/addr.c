// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Addresses and CIDRs in the 128-bit IPv4-mapped space: IPv4 a.b.c.d is
 * ::ffff:a.b.c.d and an IPv4 CIDR a/n is ::ffff:a/(96+n).
 *
 * The family is part of every value, never inferred from the bits of a
 * prefix: Kubernetes says an IPv4 block never matches an IPv6 address and an
 * IPv6 block (::/0, ::ffff:0:0/96, ::ffff:10.0.0.0/104 included) never
 * matches an IPv4 address.  For a single address the mapped range means
 * IPv4: an IPv6 address of the form ::ffff:a.b.c.d is refused by the
 * parsers here and dropped as malformed by the datapath (as Linux drops
 * it), so it can never stand for either family.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0,
					      0, 0, 0, 0, 0xff, 0xff };

/* Parse S as an address of either family; *V4 tells which one it was. */
static int parse_addr(const char *s, struct np_addr *out, bool *v4)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(out->b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
		memcpy(out->b + 12, &a4, 4);
		*v4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		memcpy(out->b, &a6, 16);
		*v4 = false;
		return 0;
	}
	return -EINVAL;
}

int np_addr_parse_any(const char *s, struct np_addr *out, bool *v4)
{
	struct np_addr a;
	bool is_v4;
	int ret;

	ret = parse_addr(s, &a, &is_v4);
	if (ret == 0) {
		*out = a;
		*v4 = is_v4;
	}
	return ret;
}

int np_addr_parse(const char *s, struct np_addr *out)
{
	struct np_addr a;
	bool v4;
	int ret;

	ret = parse_addr(s, &a, &v4);
	if (ret == 0 && !v4 && np_addr_is_v4(&a))
		return -EAFNOSUPPORT; /* ::ffff:a.b.c.d written as IPv6 */
	if (ret == 0)
		*out = a;
	return ret;
}

void np_cidr_host(const struct np_addr *a, struct np_cidr *out)
{
	out->addr = *a;
	out->plen = 128;
	out->v4 = np_addr_is_v4(a);
}

/* Clear every bit after the first PLEN. */
static void mask_addr(struct np_addr *a, unsigned int plen)
{
	for (unsigned int i = 0; i < NP_ADDR_LEN; i++) {
		unsigned int bit = i * 8;

		if (bit >= plen)
			a->b[i] = 0;
		else if (plen - bit < 8)
			a->b[i] &= (uint8_t)(0xff00u >> (plen - bit));
	}
}

int np_cidr_parse(const char *s, struct np_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct np_cidr c;
	const char *slash, *p;
	unsigned int plen = 0, max;
	size_t alen;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash)
		return -EINVAL;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (parse_addr(buf, &c.addr, &c.v4) < 0)
		return -EINVAL;
	/* Prefix length: 1-3 decimal digits, no sign, no leading zeros. */
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		plen = plen * 10 + (unsigned int)(*p - '0');
	}
	max = c.v4 ? 32 : 128;
	if (plen > max)
		return -EINVAL;
	if (c.v4)
		plen += 96;
	c.plen = (uint8_t)plen;
	mask_addr(&c.addr, plen);
	*out = c;
	return 0;
}

bool np_addr_is_v4(const struct np_addr *a)
{
	return memcmp(a->b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

const char *np_addr_str(const struct np_addr *a, char *buf, size_t len)
{
	const char *r;

	if (!buf || len == 0)
		return "";
	if (np_addr_is_v4(a))
		r = inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
	else
		r = inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
	if (!r)
		snprintf(buf, len, "?");
	return buf;
}

const char *np_cidr_str(const struct np_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	const char *r;

	if (!buf || len == 0)
		return "";
	if (c->v4)
		r = inet_ntop(AF_INET, c->addr.b + 12, a, sizeof(a));
	else
		r = inet_ntop(AF_INET6, c->addr.b, a, sizeof(a));
	if (!r)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a,
		 c->v4 && c->plen >= 96 ? c->plen - 96u : c->plen);
	return buf;
}

/* Do A and B agree on their first PLEN bits? */
static bool prefix_equal(const struct np_addr *a, const struct np_addr *b,
			 unsigned int plen)
{
	unsigned int full = plen / 8, rest = plen % 8;

	if (plen > 128)
		return false;
	if (memcmp(a->b, b->b, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff00u >> rest);

		if ((a->b[full] & mask) != (b->b[full] & mask))
			return false;
	}
	return true;
}

bool np_cidr_contains_addr(const struct np_cidr *c, const struct np_addr *a)
{
	return c->v4 == np_addr_is_v4(a) && prefix_equal(&c->addr, a, c->plen);
}

bool np_cidr_contains(const struct np_cidr *outer, const struct np_cidr *inner)
{
	return outer->v4 == inner->v4 && outer->plen <= inner->plen &&
	       prefix_equal(&outer->addr, &inner->addr, outer->plen);
}

bool np_cidr_equal(const struct np_cidr *a, const struct np_cidr *b)
{
	return a->v4 == b->v4 && a->plen == b->plen &&
	       prefix_equal(&a->addr, &b->addr, a->plen);
}

uint8_t np_proto_parse(const char *s)
{
	if (!s)
		return 0;
	if (strcmp(s, "TCP") == 0)
		return NP_PROTO_TCP;
	if (strcmp(s, "UDP") == 0)
		return NP_PROTO_UDP;
	if (strcmp(s, "SCTP") == 0)
		return NP_PROTO_SCTP;
	return 0;
}

const char *np_proto_name(uint8_t proto)
{
	switch (proto) {
	case NP_PROTO_TCP:
		return "TCP";
	case NP_PROTO_UDP:
		return "UDP";
	case NP_PROTO_SCTP:
		return "SCTP";
	case NP_PROTO_ICMP:
		return "ICMP";
	case NP_PROTO_ICMPV6:
		return "ICMPv6";
	default:
		return "?";
	}
}
