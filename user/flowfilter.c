// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Flow record filters: see flowfilter.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowfilter.h"

void np_flow_filter_init(struct np_flow_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->port = -1;
	f->proto = -1;
}

int np_parse_duration(const char *s, int64_t *seconds)
{
	char *end = NULL;
	long long v;
	int64_t mult;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0 || !end)
		return -EINVAL;
	if (!strcmp(end, "s") || !*end)
		mult = 1;
	else if (!strcmp(end, "m"))
		mult = 60;
	else if (!strcmp(end, "h"))
		mult = 3600;
	else if (!strcmp(end, "d"))
		mult = 86400;
	else
		return -EINVAL;
	if (v > INT64_MAX / mult)
		return -EINVAL;
	*seconds = (int64_t)v * mult;
	return 0;
}

static int parse_proto(const char *s)
{
	static const struct {
		const char *name;
		int num;
	} names[] = { { "tcp", NP_PROTO_TCP }, { "udp", NP_PROTO_UDP }, { "sctp", NP_PROTO_SCTP },
		      { "icmp", NP_PROTO_ICMP }, { "icmpv6", NP_PROTO_ICMPV6 } };
	char *end = NULL;
	long v;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].num;
	v = strtol(s, &end, 10);
	return end && !*end && end != s && v >= 0 && v <= 255 ? (int)v : -1;
}

int np_flow_filter_set(struct np_flow_filter *f, const char *name, const char *value,
		       int64_t now, char *msg, size_t msglen)
{
	if (!strcmp(name, "pod")) {
		const char *slash = strchr(value, '/');

		if (slash) {
			snprintf(f->pod_ns_buf, sizeof(f->pod_ns_buf), "%.*s", (int)(slash - value),
				 value);
			f->pod_ns = f->pod_ns_buf;
			f->pod_name = slash + 1;
		} else {
			f->pod_name = value;
		}
		if (!*f->pod_name)
			goto bad;
	} else if (!strcmp(name, "namespace")) {
		f->ns = value;
	} else if (!strcmp(name, "ip")) {
		if (np_cidr_parse(value, &f->cidr)) {
			struct np_addr a;

			if (np_addr_parse(value, &a))
				goto bad;
			np_cidr_host(&a, &f->cidr);
		}
		f->has_cidr = true;
	} else if (!strcmp(name, "port")) {
		char *end = NULL;
		long v = strtol(value, &end, 10);

		if (!end || *end || end == value || v < 0 || v > 65535)
			goto bad;
		f->port = (int)v;
	} else if (!strcmp(name, "protocol")) {
		f->proto = parse_proto(value);
		if (f->proto < 0)
			goto bad;
	} else if (!strcmp(name, "action")) {
		if (!strcasecmp(value, "accept"))
			f->action = "ACCEPT";
		else if (!strcasecmp(value, "reject"))
			f->action = "REJECT";
		else if (!strcasecmp(value, "audit"))
			f->action = "AUDIT";
		else
			goto bad;
	} else if (!strcmp(name, "direction")) {
		if (!strcasecmp(value, "ingress"))
			f->direction = "ingress";
		else if (!strcasecmp(value, "egress"))
			f->direction = "egress";
		else
			goto bad;
	} else if (!strcmp(name, "policy")) {
		f->policy = value;
	} else if (!strcmp(name, "since")) {
		int64_t d;

		if (np_parse_duration(value, &d))
			goto bad;
		f->since = now - d;
	} else {
		snprintf(msg, msglen, "--%s: not a filter", name);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(msg, msglen, "--%s: \"%s\" is not valid (%s)", name, value,
		 !strcmp(name, "pod") ? "NAME or NAMESPACE/NAME"
		 : !strcmp(name, "ip") ? "an IPv4/IPv6 address or CIDR"
		 : !strcmp(name, "port") ? "0..65535"
		 : !strcmp(name, "protocol") ? "tcp, udp, sctp, icmp, icmpv6 or 0..255"
		 : !strcmp(name, "action") ? "ACCEPT, REJECT or AUDIT"
		 : !strcmp(name, "direction") ? "ingress or egress"
		 : "a duration such as 30s, 10m, 2h, 1d");
	return -EINVAL;
}

static const char *str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s ? s : "";
}

static bool str_eq(const json_t *rec, const char *key, const char *want)
{
	return !strcmp(str(rec, key), want);
}

static bool pod_is(const json_t *rec, const char *pod_key, const char *ns_key,
		   const struct np_flow_filter *f)
{
	return str_eq(rec, pod_key, f->pod_name) && (!f->pod_ns || str_eq(rec, ns_key, f->pod_ns));
}

static bool addr_in(const json_t *rec, const char *key, const struct np_cidr *c)
{
	struct np_addr a;

	return !np_addr_parse(str(rec, key), &a) && np_cidr_contains_addr(c, &a);
}

/* POLICY is one of the comma-separated names in the record's policy. */
static bool policy_has(const json_t *rec, const char *policy)
{
	const char *p = str(rec, "policy");
	size_t n = strlen(policy);

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && !strncmp(p, policy, n))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

bool np_flow_filter_match(const struct np_flow_filter *f, const json_t *rec)
{
	if (!json_is_object(rec))
		return false;
	if (f->since && json_integer_value(json_object_get(rec, "end")) < f->since)
		return false;
	if (f->action && !str_eq(rec, "action", f->action))
		return false;
	if (f->direction && !str_eq(rec, "flowDirection", f->direction))
		return false;
	if (f->policy && !policy_has(rec, f->policy))
		return false;
	if (f->proto >= 0 && json_integer_value(json_object_get(rec, "protocol")) != f->proto)
		return false;
	if (f->port >= 0 && json_integer_value(json_object_get(rec, "srcPort")) != f->port &&
	    json_integer_value(json_object_get(rec, "dstPort")) != f->port)
		return false;
	if (f->ns && !str_eq(rec, "srcNamespace", f->ns) && !str_eq(rec, "dstNamespace", f->ns))
		return false;
	if (f->pod_name && !pod_is(rec, "srcPod", "srcNamespace", f) &&
	    !pod_is(rec, "dstPod", "dstNamespace", f))
		return false;
	if (f->has_cidr && !addr_in(rec, "srcAddr", &f->cidr) && !addr_in(rec, "dstAddr", &f->cidr))
		return false;
	return true;
}
