// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TC attachment of the pod programs (see attach.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "attach.h"
#include "log.h"
#include "netlink.h"

static int attach_one(int ifindex, enum bpf_tc_attach_point where, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NP_TC_HANDLE,
			    .priority = NP_TC_PRIORITY, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);

	return bpf_tc_attach(&hook, &opts);
}

static int detach_one(int ifindex, enum bpf_tc_attach_point where)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NP_TC_HANDLE,
			    .priority = NP_TC_PRIORITY);
	int ret = bpf_tc_detach(&hook, &opts);

	/* Interface or filter already gone: nothing left to remove. */
	if (ret == -ENODEV || ret == -ENOENT || ret == -EINVAL)
		ret = 0;
	return ret;
}

static bool present(int ifindex, enum bpf_tc_attach_point where)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NP_TC_HANDLE,
			    .priority = NP_TC_PRIORITY);

	return bpf_tc_query(&hook, &opts) == 0;
}

bool np_attach_intact(const struct np_attachment *att)
{
	return att->ingress_hook && att->egress_hook &&
	       present(att->ifindex, BPF_TC_INGRESS) &&
	       present(att->ifindex, BPF_TC_EGRESS);
}

int np_attach(int ifindex, int prog_ingress, int prog_egress,
	      struct np_attachment *att)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	bool have = false;
	int ret;

	memset(att, 0, sizeof(*att));
	att->ifindex = ifindex;
	if (!if_indextoname((unsigned int)ifindex, att->ifname))
		snprintf(att->ifname, sizeof(att->ifname), "ifindex %d", ifindex);
	/* A clsact qdisc is there when its egress hook can be listed; only
	 * create one (and own it) when it is not, which also spares libbpf's
	 * "Exclusivity flag on" warning on every restart. */
	ret = np_tc_has_clsact(ifindex, &have) == 0 && have ? -EEXIST
							    : bpf_tc_hook_create(&hook);
	if (ret == 0) {
		att->created_qdisc = true;
	} else if (ret != -EEXIST) {
		np_err("creating the clsact qdisc on %s (ifindex %d) failed: %s; check that the interface exists and the kernel has sch_clsact",
		       att->ifname, ifindex, strerror(-ret));
		goto cleanup;
	}
	ret = attach_one(ifindex, BPF_TC_INGRESS, prog_egress);
	if (ret) {
		np_err("attaching np_pod_egress to the TC ingress hook of %s failed: %s",
		       att->ifname, strerror(-ret));
		goto cleanup;
	}
	att->ingress_hook = true;
	ret = attach_one(ifindex, BPF_TC_EGRESS, prog_ingress);
	if (ret) {
		np_err("attaching np_pod_ingress to the TC egress hook of %s failed: %s",
		       att->ifname, strerror(-ret));
		goto cleanup;
	}
	att->egress_hook = true;
	np_dbg("attached to %s (ifindex %d)%s", att->ifname, ifindex,
	       att->created_qdisc ? ", created clsact" : "");
cleanup:
	if (ret)
		np_detach(att);
	return ret;
}

int np_detach(struct np_attachment *att)
{
	int ret = 0, r;

	if (att->egress_hook) {
		r = detach_one(att->ifindex, BPF_TC_EGRESS);
		if (r) {
			np_warn("detaching np_pod_ingress from %s failed: %s",
				att->ifname, strerror(-r));
			ret = ret ?: r;
		}
		att->egress_hook = false;
	}
	if (att->ingress_hook) {
		r = detach_one(att->ifindex, BPF_TC_INGRESS);
		if (r) {
			np_warn("detaching np_pod_egress from %s failed: %s",
				att->ifname, strerror(-r));
			ret = ret ?: r;
		}
		att->ingress_hook = false;
	}
	if (att->created_qdisc) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = att->ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		r = bpf_tc_hook_destroy(&hook);
		if (r && r != -ENODEV && r != -ENOENT && r != -EINVAL) {
			np_warn("removing the clsact qdisc from %s failed: %s; remove it with: tc qdisc del dev %s clsact",
				att->ifname, strerror(-r), att->ifname);
			ret = ret ?: r;
		}
		att->created_qdisc = false;
	}
	return ret;
}
