// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* rtnetlink route and link queries (see netlink.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "model.h"
#include "netlink.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* linux/if.h; clashes with net/if.h */
#endif

#define NL_BUF_SIZE 32768

typedef int (*nl_msg_cb)(const struct nlmsghdr *nh, void *ctx);

static int nl_open(void)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 2 };
	int one = 1;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* Errors arrive as NLMSG_ERROR carrying only the header of our
	 * request; a kernel that can't answer within 2 s is treated as an
	 * error rather than hanging the agent. */
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Everything the kernel sends is parsed as untrusted: a message is used only
 * when its header and its whole declared length lie inside what is left of
 * the datagram, a fixed header (rtmsg, ifinfomsg, tcmsg, nlmsgerr) only when
 * the message is long enough to hold it, an attribute's value only when its
 * payload has the size read.  (glibc's NLMSG_NEXT can drive a signed length
 * negative, and NLMSG_OK with a size_t cast then accepts anything.)
 */
static bool nl_msg_ok(const struct nlmsghdr *nh, size_t left)
{
	return left >= sizeof(*nh) && nh->nlmsg_len >= sizeof(*nh) && nh->nlmsg_len <= left;
}

static const struct nlmsghdr *nl_msg_next(const struct nlmsghdr *nh, size_t *left)
{
	size_t step = NLMSG_ALIGN(nh->nlmsg_len);

	if (step > *left)
		step = *left;
	*left -= step;
	return (const struct nlmsghdr *)((const char *)nh + step);
}

/* Does NH carry a whole fixed header of HDR bytes after the netlink one? */
static bool nl_has(const struct nlmsghdr *nh, size_t hdr)
{
	return nh->nlmsg_len >= NLMSG_LENGTH(hdr);
}

/* The attributes after a fixed header of HDR bytes: *LEN their bytes. */
static const struct rtattr *nl_attrs(const struct nlmsghdr *nh, size_t hdr, int *len)
{
	*len = (int)(nh->nlmsg_len - NLMSG_LENGTH(hdr)); /* nl_has() checked it */
	return (const struct rtattr *)((const char *)NLMSG_DATA(nh) + NLMSG_ALIGN(hdr));
}

/* A 32-bit attribute value, only when the payload is that big. */
static bool attr_u32(const struct rtattr *rta, void *out)
{
	if (RTA_PAYLOAD(rta) < sizeof(uint32_t))
		return false;
	memcpy(out, RTA_DATA(rta), sizeof(uint32_t));
	return true;
}

/* Send REQ and feed every answer message to CB until the kernel says it is
 * done (NLMSG_DONE for dumps, the single answer or the ACK otherwise). */
static int cached_fd = -1;

static int nl_transact(struct nlmsghdr *req, nl_msg_cb cb, void *ctx)
{
	static uint32_t seq_counter;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char *buf = NULL;
	bool dump = req->nlmsg_flags & NLM_F_DUMP;
	bool done = false;
	bool sock_err = true; /* until the answer was read to its end */
	int fd, ret = 0;

	/* One socket for the life of the process: the agent asks a route
	 * lookup per pod on every link/route change.  Answers to earlier,
	 * abandoned requests are skipped by sequence number. */
	if (cached_fd < 0)
		cached_fd = nl_open();
	fd = cached_fd;
	if (fd < 0) {
		ret = fd;
		cached_fd = -1;
		goto cleanup;
	}
	buf = malloc(NL_BUF_SIZE);
	if (!buf) {
		ret = -ENOMEM;
		goto cleanup;
	}
	req->nlmsg_seq = ++seq_counter;
	req->nlmsg_flags |= NLM_F_REQUEST;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		ret = -errno;
		goto cleanup;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, NL_BUF_SIZE, 0);
		const struct nlmsghdr *nh;
		size_t left;

		if (len < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto cleanup;
		}
		left = (size_t)len;
		for (nh = (const struct nlmsghdr *)buf; nl_msg_ok(nh, left);
		     nh = nl_msg_next(nh, &left)) {
			if (nh->nlmsg_seq != req->nlmsg_seq)
				continue;
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				/* 0 is the ACK; a short error message is EPROTO */
				ret = nl_has(nh, sizeof(e->error)) ? e->error : -EPROTO;
				done = true;
				break;
			}
			ret = cb(nh, ctx);
			if (ret)
				goto cleanup; /* rest of a dump unread: new socket next time */
			if (!dump)
				done = true;
		}
	}
	sock_err = false;
cleanup:
	free(buf);
	if (sock_err && fd >= 0) {
		close(fd);
		cached_fd = -1;
	}
	return ret;
}

static void add_attr(struct nlmsghdr *nh, size_t cap, unsigned short type,
		     const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	if (NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len) > cap)
		return; /* callers size their buffers; never reached */
	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len);
}

struct route_answer {
	int oif;
	unsigned char type;
};

static int route_answer_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct route_answer *ans = ctx;
	const struct rtmsg *rt = NLMSG_DATA(nh);
	const struct rtattr *rta;
	int len;

	if (nh->nlmsg_type != RTM_NEWROUTE || !nl_has(nh, sizeof(*rt)))
		return 0;
	ans->type = rt->rtm_type;
	for (rta = nl_attrs(nh, sizeof(*rt), &len); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == RTA_OIF)
			attr_u32(rta, &ans->oif);
	return 0;
}

int np_route_oif(const struct np_addr *a, int *ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	struct route_answer ans = { 0 };
	bool v4 = np_addr_is_v4(a);
	int ret;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.rt.rtm_family = v4 ? AF_INET : AF_INET6;
	req.rt.rtm_dst_len = v4 ? 32 : 128;
	add_attr(&req.nh, sizeof(req), RTA_DST, v4 ? &a->b[12] : a->b,
		 v4 ? 4 : 16);
	ret = nl_transact(&req.nh, route_answer_cb, &ans);
	if (ret)
		goto cleanup;
	if (ans.type != RTN_UNICAST || ans.oif <= 0) {
		ret = ans.type == RTN_LOCAL ? -EHOSTUNREACH : -ENETUNREACH;
		goto cleanup;
	}
	*ifindex = ans.oif;
cleanup:
	return ret;
}

struct default_oifs {
	int *out;
	size_t max, n;
};

static void default_add(struct default_oifs *d, int ifindex)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->out[i] == ifindex)
			return;
	if (d->n < d->max)
		d->out[d->n++] = ifindex;
}

static int default_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct default_oifs *d = ctx;
	const struct rtmsg *rt = NLMSG_DATA(nh);
	const struct rtattr *rta;
	uint32_t table;
	int len, oif = 0;

	if (nh->nlmsg_type != RTM_NEWROUTE || !nl_has(nh, sizeof(*rt)) ||
	    rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST)
		return 0;
	table = rt->rtm_table;
	for (rta = nl_attrs(nh, sizeof(*rt), &len); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == RTA_TABLE) {
			attr_u32(rta, &table);
		} else if (rta->rta_type == RTA_OIF) {
			attr_u32(rta, &oif);
		} else if (rta->rta_type == RTA_MULTIPATH) {
			const struct rtnexthop *nhp = RTA_DATA(rta);
			int left = (int)RTA_PAYLOAD(rta);

			while (left >= (int)sizeof(*nhp) && nhp->rtnh_len >= sizeof(*nhp) &&
			       nhp->rtnh_len <= left) {
				if (table == RT_TABLE_MAIN)
					default_add(d, nhp->rtnh_ifindex);
				left -= RTNH_ALIGN(nhp->rtnh_len);
				nhp = RTNH_NEXT(nhp);
			}
		}
	}
	if (table == RT_TABLE_MAIN && oif > 0)
		default_add(d, oif);
	return 0;
}

/* Dump every IPv4 and IPv6 route through CB. */
static int route_dump(nl_msg_cb cb, void *ctx)
{
	static const unsigned char families[] = { AF_INET, AF_INET6 };
	int ret = 0;

	for (size_t i = 0; i < sizeof(families) && !ret; i++) {
		struct {
			struct nlmsghdr nh;
			struct rtmsg rt;
		} req;

		memset(&req, 0, sizeof(req));
		req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
		req.nh.nlmsg_type = RTM_GETROUTE;
		req.nh.nlmsg_flags = NLM_F_DUMP;
		req.rt.rtm_family = families[i];
		ret = nl_transact(&req.nh, cb, ctx);
	}
	return ret;
}

int np_route_default_oifs(int *out, size_t max, size_t *n)
{
	struct default_oifs d = { .out = out, .max = max };
	int ret = route_dump(default_cb, &d);

	*n = d.n;
	return ret;
}

int np_link_info(int ifindex, char *name, size_t name_len, bool *loopback)
{
	char ifname[IF_NAMESIZE] = "";
	struct ifreq ifr;
	int fd = -1, ret = 0;

	if (!if_indextoname((unsigned int)ifindex, ifname)) {
		ret = errno == ENXIO ? -ENODEV : -errno;
		goto cleanup;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		ret = -errno;
		goto cleanup;
	}
	*loopback = ifr.ifr_flags & IFF_LOOPBACK;
	snprintf(name, name_len, "%s", ifname);
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- tc filters ---------------------------------------------------------- */

static int count_cb(const struct nlmsghdr *nh, void *ctx)
{
	if (nh->nlmsg_type == RTM_NEWTFILTER)
		(*(size_t *)ctx)++;
	return 0;
}

int np_tc_filter_count(int ifindex, bool ingress, size_t *n)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req;

	memset(&req, 0, sizeof(req));
	*n = 0;
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
	req.nh.nlmsg_type = RTM_GETTFILTER;
	req.nh.nlmsg_flags = NLM_F_DUMP;
	req.tc.tcm_family = AF_UNSPEC;
	req.tc.tcm_ifindex = ifindex;
	req.tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT,
				      ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	return nl_transact(&req.nh, count_cb, n);
}

/* ---- host routes (strict mode) ------------------------------------------ */

struct host_oifs {
	int *out;
	size_t max, n;
};

static int host_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct host_oifs *d = ctx;
	const struct rtmsg *rt = NLMSG_DATA(nh);
	const struct rtattr *rta;
	uint32_t table;
	int len, oif = 0;

	if (nh->nlmsg_type != RTM_NEWROUTE || !nl_has(nh, sizeof(*rt)) ||
	    rt->rtm_type != RTN_UNICAST ||
	    rt->rtm_dst_len != (rt->rtm_family == AF_INET ? 32 : 128))
		return 0;
	table = rt->rtm_table;
	for (rta = nl_attrs(nh, sizeof(*rt), &len); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == RTA_TABLE)
			attr_u32(rta, &table);
		else if (rta->rta_type == RTA_OIF)
			attr_u32(rta, &oif);
	}
	if (table == RT_TABLE_MAIN && oif > 0) {
		for (size_t i = 0; i < d->n; i++)
			if (d->out[i] == oif)
				return 0;
		if (d->n < d->max)
			d->out[d->n++] = oif;
	}
	return 0;
}

int np_route_host_oifs(int *out, size_t max, size_t *n)
{
	struct host_oifs d = { .out = out, .max = max };
	int ret = route_dump(host_cb, &d);

	*n = d.n;
	return ret;
}

/* ---- monitoring ----------------------------------------------------------- */

int np_nl_monitor_open(void)
{
	struct sockaddr_nl local = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
	};
	int size = 1 << 20;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* Bursts of pod churn: a big buffer; overflow is still handled
	 * (ENOBUFS: the caller resyncs everything). */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* Routes that can change which pods are local: main-table host routes
 * (/32, /128) and default routes.  Link-local, multicast and local-table
 * routes come and go with every interface and are ignored. */
static bool route_matters(const struct nlmsghdr *nh)
{
	const struct rtmsg *rt = NLMSG_DATA(nh);
	const struct rtattr *rta;
	uint32_t table;
	int len;

	if (!nl_has(nh, sizeof(*rt)))
		return false;
	table = rt->rtm_table;
	for (rta = nl_attrs(nh, sizeof(*rt), &len); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == RTA_TABLE)
			attr_u32(rta, &table);
	if (table != RT_TABLE_MAIN)
		return false;
	return rt->rtm_dst_len == 0 ||
	       rt->rtm_dst_len == (rt->rtm_family == AF_INET ? 32 : 128);
}

int np_nl_monitor_read(int fd, struct np_nl_changes *ch)
{
	char buf[NL_BUF_SIZE];

	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);

		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) {
				ch->overflow = true;
				continue;
			}
			return -errno;
		}
		np_nl_monitor_parse(buf, (size_t)len, ch);
	}
}

void np_nl_monitor_parse(const void *buf, size_t len, struct np_nl_changes *ch)
{
	const struct nlmsghdr *nh;
	size_t left = len;

	for (nh = buf; nl_msg_ok(nh, left); nh = nl_msg_next(nh, &left)) {
		if ((nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK) &&
		    !nl_has(nh, sizeof(struct ifinfomsg)))
			continue;
		switch (nh->nlmsg_type) {
		case RTM_NEWLINK: {
			const struct ifinfomsg *ifi = NLMSG_DATA(nh);

			/* New, or up/down: routes through it may
			 * start or stop counting.  Other attribute
			 * changes (addresses, MTU, ...) do not. */
			if (ifi->ifi_change == 0xffffffffu ||
			    (ifi->ifi_change & (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)))
				ch->links++;
			break;
		}
		case RTM_DELLINK: {
			const struct ifinfomsg *ifi = NLMSG_DATA(nh);

			ch->links++;
			if (ch->n_gone < sizeof(ch->gone) / sizeof(ch->gone[0]))
				ch->gone[ch->n_gone++] = ifi->ifi_index;
			else
				ch->overflow = true;
			break;
		}
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			if (route_matters(nh))
				ch->routes++;
			break;
		default:
			break;
		}
	}
}

struct clsact_q {
	int ifindex;
	bool found;
};

static int clsact_cb(const struct nlmsghdr *nh, void *ctx);

/* Every message of one datagram through CB (the parsers' test seam). */
static void nl_walk(const void *buf, size_t len, nl_msg_cb cb, void *ctx)
{
	const struct nlmsghdr *nh;
	size_t left = len;

	for (nh = buf; nl_msg_ok(nh, left); nh = nl_msg_next(nh, &left))
		if (cb(nh, ctx))
			break;
}

int np_nl_route_answer_parse(const void *buf, size_t len, int *oif)
{
	struct route_answer ans = { 0 };

	nl_walk(buf, len, route_answer_cb, &ans);
	*oif = ans.oif;
	return ans.type;
}

bool np_nl_clsact_parse(const void *buf, size_t len, int ifindex)
{
	struct clsact_q q = { .ifindex = ifindex };

	nl_walk(buf, len, clsact_cb, &q);
	return q.found;
}

static int clsact_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct clsact_q *q = ctx;
	const struct tcmsg *tc = NLMSG_DATA(nh);
	const struct rtattr *rta;
	int len;

	if (nh->nlmsg_type != RTM_NEWQDISC || !nl_has(nh, sizeof(*tc)) ||
	    tc->tcm_ifindex != q->ifindex)
		return 0;
	/* TCA_KIND is a NUL-terminated string: compare its whole payload. */
	for (rta = nl_attrs(nh, sizeof(*tc), &len); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == TCA_KIND && RTA_PAYLOAD(rta) >= sizeof("clsact") &&
		    memcmp(RTA_DATA(rta), "clsact", sizeof("clsact")) == 0)
			q->found = true;
	return 0;
}

int np_tc_has_clsact(int ifindex, bool *yes)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req;
	struct clsact_q q = { .ifindex = ifindex };
	int ret;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
	req.nh.nlmsg_type = RTM_GETQDISC;
	req.nh.nlmsg_flags = NLM_F_DUMP;
	req.tc.tcm_family = AF_UNSPEC;
	req.tc.tcm_ifindex = ifindex;
	ret = nl_transact(&req.nh, clsact_cb, &q);
	*yes = q.found;
	return ret;
}
