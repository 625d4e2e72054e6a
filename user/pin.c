// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pinned maps, programs and attachment records (see pin.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "netlink.h"
#include "netpol.h"
#include "pin.h"

/* The maps that carry state across restarts (the read-only configuration
 * is per load).  The flow maps are among them so that a restarted agent
 * reports what its predecessor had not: the ring buffer's unread events,
 * the denial aggregates and the lost-event counters (flowrecover.c). */
static const char *const pinned_maps[] = {
	"np_endpoints", "np_ifaces", "np_node_addrs", "np_peers", "np_ports",
	"np_ct", "np_ct_deny", "np_frags", "np_state",
	"np_events", "np_flow_deny", "np_flow_stats",
};
#define N_PINNED (sizeof(pinned_maps) / sizeof(pinned_maps[0]))

static bool is_pinned_map(const char *name)
{
	for (size_t i = 0; i < N_PINNED; i++)
		if (strcmp(pinned_maps[i], name) == 0)
			return true;
	return false;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

#define ATT_MAP "attached"

static int open_att_map(const char *root, bool create)
{
	char path[PATH_MAX];
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, ATT_MAP);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    info.key_size == sizeof(__u32) &&
		    info.value_size == sizeof(struct np_pin_att))
			return fd;
		close(fd);
		np_err("%s is not an attachment record of this agent version; remove the old installation with: netpol-agent --uninstall --pin-path %s",
		       path, root);
		return -EINVAL;
	}
	if (!create)
		return -errno;
	np_memlock_prepare();
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "np_attached", sizeof(__u32),
			    sizeof(struct np_pin_att), 65536, &mo);
	if (fd < 0) {
		int err = -errno;

		np_err("cannot create the attachment record map: %s%s", strerror(-err),
		       np_memlock_hint(err));
		return err;
	}
	if (bpf_obj_pin(fd, path) < 0) {
		int err = -errno;

		np_err("cannot pin %s: %s; is %s on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)?",
		       path, strerror(-err), root);
		close(fd);
		return err;
	}
	return fd;
}

int np_pin_open(struct np_pin *p, const char *root, unsigned int layout)
{
	DIR *d;
	struct dirent *de;
	int ret;

	memset(p, 0, sizeof(*p));
	p->att_fd = -1;
	if (strlen(root) >= sizeof(p->root) || root[0] != '/') {
		np_err("--pin-path \"%s\": must be an absolute path under a bpf filesystem", root);
		return -EINVAL;
	}
	snprintf(p->root, sizeof(p->root), "%s", root);
	while (strlen(p->root) > 1 && p->root[strlen(p->root) - 1] == '/')
		p->root[strlen(p->root) - 1] = '\0';
	p->layout = layout;
	snprintf(p->dir, sizeof(p->dir), "%s/v%u", p->root, layout);
	ret = mkdir_p(p->dir);
	if (ret) {
		np_err("cannot create the pin directory %s: %s; the pin path must be on a mounted bpf filesystem (mount -t bpf bpf /sys/fs/bpf); note that `ip netns exec` remounts /sys and hides it: use nsenter --net=/run/netns/NAME instead",
		       p->dir, strerror(-ret));
		return ret;
	}
	d = opendir(p->root);
	while (d && (de = readdir(d))) {
		unsigned int v;
		char c;

		if (sscanf(de->d_name, "v%u%c", &v, &c) == 1 && v != layout)
			p->other_versions = true;
	}
	if (d)
		closedir(d);
	p->att_fd = open_att_map(p->root, true);
	if (p->att_fd < 0)
		return p->att_fd;
	for (size_t i = 0; i < NP_PIN_MAX_MAPS; i++)
		p->maps[i].old_fd = -1;
	return 0;
}

void np_pin_close(struct np_pin *p)
{
	if (p->att_fd >= 0)
		close(p->att_fd);
	for (size_t i = 0; i < p->n_maps; i++)
		if (p->maps[i].old_fd >= 0)
			close(p->maps[i].old_fd);
	p->att_fd = -1;
	p->n_maps = 0;
}

int np_pin_before_load(struct bpf_object *obj, void *ctx)
{
	struct np_pin *p = ctx;
	struct bpf_map *map;

	p->n_maps = p->n_reused = p->n_replaced = 0;
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		char path[PATH_MAX + 64];
		size_t i;
		int fd;

		if (!is_pinned_map(name) || p->n_maps >= NP_PIN_MAX_MAPS)
			continue;
		i = p->n_maps++;
		snprintf(p->maps[i].name, sizeof(p->maps[i].name), "%s", name);
		p->maps[i].reused = false;
		p->maps[i].old_fd = -1;
		snprintf(path, sizeof(path), "%s/%s", p->dir, name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue; /* first start, or a new map: created fresh */
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    info.type == bpf_map__type(map) &&
		    info.key_size == bpf_map__key_size(map) &&
		    info.value_size == bpf_map__value_size(map) &&
		    info.max_entries == bpf_map__max_entries(map) &&
		    info.map_flags == bpf_map__map_flags(map)) {
			int err = bpf_map__reuse_fd(map, fd);

			close(fd);
			if (err) {
				np_err("cannot reuse the pinned map %s: %s", path, strerror(-err));
				return err;
			}
			p->maps[i].reused = true;
			p->n_reused++;
			continue;
		}
		np_info("pinned map %s has other parameters (max_entries %u, now %u): replacing it without a gap",
			path, info.max_entries, bpf_map__max_entries(map));
		p->maps[i].old_fd = fd;
		p->n_replaced++;
	}
	return 0;
}

void np_pin_copy_state(struct np_pin *p, struct bpf_object *obj)
{
	for (size_t i = 0; i < p->n_maps; i++) {
		unsigned char key[64], next[64], val[64];
		struct bpf_map *map;
		void *prev = NULL;
		size_t n = 0;
		int fd;

		if (p->maps[i].old_fd < 0 || (strcmp(p->maps[i].name, "np_ct") != 0 &&
					      strcmp(p->maps[i].name, "np_ct_deny") != 0))
			continue;
		map = bpf_object__find_map_by_name(obj, p->maps[i].name);
		if (!map || bpf_map__key_size(map) > sizeof(key) ||
		    bpf_map__value_size(map) > sizeof(val))
			continue;
		fd = bpf_map__fd(map);
		while (bpf_map_get_next_key(p->maps[i].old_fd, prev, next) == 0) {
			memcpy(key, next, bpf_map__key_size(map));
			prev = key;
			if (bpf_map_lookup_elem(p->maps[i].old_fd, key, val) == 0 &&
			    bpf_map_update_elem(fd, key, val, BPF_ANY) == 0)
				n++;
		}
		np_info("copied %zu entries of %s into the resized map", n, p->maps[i].name);
	}
}

/* Pin FD at DIR/NAME, replacing what is there without a moment where the
 * name is missing (pin under a temporary name, then rename over it). */
static int pin_replace(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 80];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* bpffs refuses names with a dot */
	snprintf(tmp, sizeof(tmp), "%s/%s__new", dir, name);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp) < 0)
		return -errno;
	if (rename(tmp, path) < 0) {
		unlink(path);
		unlink(tmp);
		if (bpf_obj_pin(fd, path) < 0)
			return -errno;
	}
	return 0;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX + 300];

	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) < 0)
			np_warn("cannot remove the pin %s: %s", path, strerror(errno));
	}
	if (d)
		closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		np_warn("cannot remove the pin directory %s: %s", dir, strerror(errno));
}

/* Remove v<M> directories of every layout but KEEP (0: none kept). */
static void remove_versions(const char *root, unsigned int keep, bool any)
{
	DIR *d = opendir(root);
	struct dirent *de;
	char path[PATH_MAX + 300];

	while (d && (de = readdir(d))) {
		unsigned int v;
		char c;

		if (sscanf(de->d_name, "v%u%c", &v, &c) != 1 || (!any && v == keep))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", root, de->d_name) >= (int)sizeof(path))
			continue;
		remove_dir(path);
		if (!any)
			np_info("removed the pins of map layout v%u (%s)", v, path);
	}
	if (d)
		closedir(d);
}

int np_pin_commit(struct np_pin *p, struct bpf_object *obj)
{
	struct bpf_program *prog;
	int ret = 0;

	for (size_t i = 0; i < p->n_maps && !ret; i++) {
		struct bpf_map *map;

		if (p->maps[i].reused)
			continue;
		map = bpf_object__find_map_by_name(obj, p->maps[i].name);
		if (!map)
			continue;
		ret = pin_replace(bpf_map__fd(map), p->dir, p->maps[i].name);
		if (ret)
			np_err("cannot pin map %s under %s: %s", p->maps[i].name, p->dir,
			       strerror(-ret));
		if (p->maps[i].old_fd >= 0) {
			close(p->maps[i].old_fd);
			p->maps[i].old_fd = -1;
		}
		p->maps[i].reused = true; /* pinned now */
	}
	bpf_object__for_each_program(prog, obj) {
		int r;

		if (ret)
			break;
		r = pin_replace(bpf_program__fd(prog), p->dir, bpf_program__name(prog));
		if (r) {
			np_err("cannot pin program %s under %s: %s",
			       bpf_program__name(prog), p->dir, strerror(-r));
			ret = r;
		}
	}
	if (!ret && p->other_versions) {
		remove_versions(p->root, p->layout, false);
		p->other_versions = false;
	}
	return ret;
}

static void max_u32(__u32 *m, __u32 v)
{
	if (v > *m)
		*m = v;
}

__u32 np_pin_max_id(struct bpf_object *obj)
{
	static const char *const names[] = { "np_endpoints", "np_ifaces", "np_peers", "np_ports" };
	__u32 max = 0;

	for (size_t m = 0; m < sizeof(names) / sizeof(names[0]); m++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, names[m]);
		unsigned char key[64], next[64], val[64];
		void *prev = NULL;
		int fd;

		if (!map || bpf_map__key_size(map) > sizeof(key) ||
		    bpf_map__value_size(map) > sizeof(val))
			continue;
		fd = bpf_map__fd(map);
		while (bpf_map_get_next_key(fd, prev, next) == 0) {
			memcpy(key, next, bpf_map__key_size(map));
			prev = key;
			if (bpf_map_lookup_elem(fd, key, val))
				continue;
			if (m == 0) {
				const struct np_endpoint *e = (const void *)val;

				max_u32(&max, e->ep_id);
				max_u32(&max, e->set_id[0]);
				max_u32(&max, e->set_id[1]);
			} else if (m == 1) {
				max_u32(&max, ((const struct np_iface *)(const void *)val)->ep_id);
			} else if (m == 2) {
				max_u32(&max, ((const struct np_peer_key *)(const void *)key)->set_id);
				max_u32(&max, ((const struct np_peer_val *)(const void *)val)->class_id);
			} else {
				max_u32(&max, ((const struct np_port_key *)(const void *)key)->class_id);
				max_u32(&max, ((const struct np_port_val *)(const void *)val)->cookie);
			}
		}
	}
	return max;
}

int np_pin_record(struct np_pin *p, const struct np_attachment *att)
{
	struct np_pin_att v = { .ifindex = (__u32)att->ifindex,
				.created_qdisc = att->created_qdisc };
	__u32 k = (__u32)att->ifindex;

	snprintf(v.ifname, sizeof(v.ifname), "%s", att->ifname);
	if (bpf_map_update_elem(p->att_fd, &k, &v, BPF_ANY) < 0) {
		int err = -errno;

		np_warn("cannot record the attachment to %s in %s/%s: %s; --uninstall will not know about it",
			att->ifname, p->root, ATT_MAP, strerror(-err));
		return err;
	}
	return 0;
}

int np_pin_forget(struct np_pin *p, int ifindex)
{
	__u32 k = (__u32)ifindex;

	if (bpf_map_delete_elem(p->att_fd, &k) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Does the interface IFINDEX exist, named NAME? */
static bool same_iface(__u32 ifindex, const char *name)
{
	char now[IF_NAMESIZE];

	return if_indextoname(ifindex, now) && strncmp(now, name, IF_NAMESIZE) == 0;
}

static int read_records(int fd, struct np_pin_att **out, size_t *n)
{
	__u32 key, next, *prev = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct np_pin_att *nv = realloc(*out, ncap * sizeof(**out));

			if (!nv)
				return -ENOMEM;
			*out = nv;
			cap = ncap;
		}
		if (bpf_map_lookup_elem(fd, &key, &(*out)[*n]) == 0)
			(*out)[*n].ifname[sizeof((*out)[*n].ifname) - 1] = '\0', (*n)++;
	}
	return 0;
}

int np_pin_records(struct np_pin *p, struct np_attachment **out, size_t *n)
{
	struct np_pin_att *recs = NULL;
	size_t n_recs = 0;
	int ret;

	*out = NULL;
	*n = 0;
	ret = read_records(p->att_fd, &recs, &n_recs);
	if (ret)
		goto cleanup;
	if (n_recs) {
		*out = calloc(n_recs, sizeof(**out));
		if (!*out) {
			ret = -ENOMEM;
			goto cleanup;
		}
	}
	for (size_t i = 0; i < n_recs; i++) {
		struct np_attachment *a;

		if (!same_iface(recs[i].ifindex, recs[i].ifname)) {
			np_dbg("forgetting %s (ifindex %u): the interface is gone", recs[i].ifname,
			       recs[i].ifindex);
			np_pin_forget(p, (int)recs[i].ifindex);
			continue;
		}
		a = &(*out)[(*n)++];
		a->ifindex = (int)recs[i].ifindex;
		snprintf(a->ifname, sizeof(a->ifname), "%s", recs[i].ifname);
		a->created_qdisc = recs[i].created_qdisc;
		a->ingress_hook = a->egress_hook = true;
	}
cleanup:
	free(recs);
	return ret;
}

/* Is PROG_ID one of the programs pinned under ROOT (any layout version)?
 * Needs no CAP_SYS_ADMIN, unlike opening a program by id. */
static bool pinned_prog_id(const char *root, __u32 prog_id)
{
	static const char *const progs[] = { "np_pod_ingress", "np_pod_egress" };
	char path[PATH_MAX + 64];
	bool yes = false;

	for (unsigned int v = 1; v <= NP_PIN_LAYOUT_VERSION + 8 && !yes; v++)
		for (size_t i = 0; i < 2 && !yes; i++) {
			struct bpf_prog_info info = { 0 };
			__u32 len = sizeof(info);
			int fd;

			snprintf(path, sizeof(path), "%s/v%u/%s", root, v, progs[i]);
			fd = bpf_obj_get(path);
			if (fd < 0)
				continue;
			yes = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.id == prog_id;
			close(fd);
		}
	return yes;
}

/* Is the filter at our handle/priority on that hook running one of our
 * programs?  Yes when the program is called np_pod_*, or, without the
 * CAP_SYS_ADMIN that opening a program by id takes (the DaemonSet does not
 * grant it), when it is one of the programs pinned under ROOT. */
static bool ours(const char *root, int ifindex, enum bpf_tc_attach_point where)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NP_TC_HANDLE,
			    .priority = NP_TC_PRIORITY);
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	bool yes = false;
	int fd;

	if (bpf_tc_query(&hook, &opts) != 0)
		return false;
	fd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (fd < 0)
		return errno == EPERM && pinned_prog_id(root, opts.prog_id);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		yes = strncmp(info.name, "np_pod_", 7) == 0;
	close(fd);
	return yes;
}

int np_pin_uninstall(const char *root)
{
	struct np_pin_att *recs = NULL;
	size_t n_recs = 0, n_filters = 0, n_qdiscs = 0;
	char path[PATH_MAX + 64];
	struct stat st;
	int fd = -1, ret = 0;

	if (stat(root, &st) < 0 && errno == ENOENT) {
		np_info("nothing to uninstall: %s does not exist", root);
		return 0;
	}
	fd = open_att_map(root, false);
	if (fd >= 0)
		ret = read_records(fd, &recs, &n_recs);
	if (ret)
		goto cleanup;
	for (size_t i = 0; i < n_recs; i++) {
		struct np_attachment att = { .ifindex = (int)recs[i].ifindex };
		size_t left_in = 0, left_eg = 0;

		if (!same_iface(recs[i].ifindex, recs[i].ifname))
			continue; /* gone, with its qdisc and filters */
		snprintf(att.ifname, sizeof(att.ifname), "%s", recs[i].ifname);
		att.ingress_hook = ours(root, att.ifindex, BPF_TC_INGRESS);
		att.egress_hook = ours(root, att.ifindex, BPF_TC_EGRESS);
		n_filters += att.ingress_hook + att.egress_hook;
		np_detach(&att); /* created_qdisc false: filters only */
		if (recs[i].created_qdisc) {
			if (np_tc_filter_count(att.ifindex, true, &left_in) == 0 &&
			    np_tc_filter_count(att.ifindex, false, &left_eg) == 0 &&
			    left_in + left_eg == 0) {
				att.created_qdisc = true;
				np_detach(&att);
				n_qdiscs++;
			} else {
				np_warn("leaving the clsact qdisc on %s: it carries filters that are not ours",
					att.ifname);
			}
		}
		np_info("uninstalled from %s (ifindex %d)", att.ifname, att.ifindex);
	}
	if (fd >= 0) {
		close(fd);
		fd = -1;
	}
	remove_versions(root, 0, true);
	snprintf(path, sizeof(path), "%s/%s", root, ATT_MAP);
	if (unlink(path) < 0 && errno != ENOENT)
		np_warn("cannot remove %s: %s", path, strerror(errno));
	if (rmdir(root) < 0 && errno != ENOENT) {
		ret = -errno;
		np_err("cannot remove %s: %s (something else is pinned there; remove it by hand)",
		       root, strerror(-ret));
		goto cleanup;
	}
	np_info("uninstalled: %zu filters and %zu clsact qdiscs removed, pins under %s removed",
		n_filters, n_qdiscs, root);
cleanup:
	if (fd >= 0)
		close(fd);
	free(recs);
	return ret;
}

int np_pin_agent_map(const struct np_pin *p, const char *name, __u32 key_size, __u32 value_size,
		     __u32 max_entries)
{
	char path[PATH_MAX + 64];
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", p->dir, name);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_MAP_TYPE_HASH &&
		    info.key_size == key_size && info.value_size == value_size)
			return fd;
		np_info("pinned map %s has another layout: replacing it", path);
		close(fd);
	}
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, name, key_size, value_size, max_entries, &mo);
	if (fd < 0) {
		err = -errno;
		np_err("cannot create the map %s: %s", name, strerror(-err));
		return err;
	}
	err = pin_replace(fd, p->dir, name);
	if (err) {
		np_err("cannot pin %s: %s; is %s on a bpffs mount?", path, strerror(-err), p->root);
		close(fd);
		return err;
	}
	return fd;
}
