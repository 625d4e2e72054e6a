// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netpol-agent: enforce Kubernetes NetworkPolicy v1 on this node's pods.
 *
 * First version: the objects (Namespaces, Pods, NetworkPolicies) come from
 * files.  The agent compiles them, loads the datapath, and attaches it to the
 * host-side interface of every local pod; the interface is found by asking
 * the kernel how the pod's address is routed (RTM_GETROUTE), not by naming
 * convention.  SIGHUP reloads the files and applies the difference atomically;
 * an invalid edit is logged and the last good policy stays in force.
 *
 * SIGTERM/SIGINT: this version detaches its filters and removes the clsact
 * qdiscs it created, so pods are unfiltered after it exits.  The daemon issue
 * (pinned maps and links) changes this to keep enforcement in place across
 * restarts and upgrades.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "attach.h"
#include "compile.h"
#include "loader.h"
#include "log.h"
#include "mapsize.h"
#include "mapsync.h"
#include "netlink.h"
#include "vec.h"
#include "verdict.h"

#define EXIT_FAILURE_RUNTIME 1
#define EXIT_BAD_INPUT 2
#define MAX_NODE_ADDRS 64
#define MAX_DEFAULT_OIFS 64

struct agent {
	char **paths;
	size_t n_paths, cap_paths;
	struct np_addr node_addrs[MAX_NODE_ADDRS];
	struct np_compile_opts copts;
	struct np_load_opts lopts;

	struct np_objects objs;
	struct np_compiled compiled;
	struct np_ids ids;
	struct np_datapath dp;
	bool dp_loaded;
	struct np_mapsync sync;
	bool sync_ready;

	struct np_attachment *atts; /* interfaces we are attached to */
	size_t n_atts, cap_atts;
	struct ring_buffer *rb;
	int sigfd;
};

struct iface_plan {
	struct np_iface_entry *v;
	size_t n, cap;
	size_t local_pods;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netpol-agent --objects PATH [--objects PATH ...] [--node-ip IP ...]\n"
		"                    [--audit] [--log-level LEVEL] [--log-format FORMAT]\n"
		"                    [--map-size NAME=N ...]\n"
		"\n"
		"Enforces Kubernetes NetworkPolicy v1 on this node's pods with TC BPF programs\n"
		"attached to each local pod's host-side interface (found from the routing table).\n"
		"\n"
		"  --objects PATH      Namespaces, Pods and NetworkPolicies: a YAML/JSON file or a\n"
		"                      directory of them (repeatable)            env NETPOL_OBJECTS (a:b:c)\n"
		"  --node-ip IP        an address of this node, always allowed both ways (kubelet\n"
		"                      probes); repeatable                       env NETPOL_NODE_IPS (a,b)\n"
		"  --audit             report denials but let the packets pass   env NETPOL_AUDIT=1\n"
		"  --log-level LEVEL   error, warn, info (default) or debug      env NETPOL_LOG_LEVEL\n"
		"  --log-format FMT    logfmt (default) or json                  env NETPOL_LOG_FORMAT\n"
		"%s"
		"  -h, --help          this text\n"
		"\n"
		"Flags win over environment variables.\n"
		"Signals: SIGHUP reloads the objects (an invalid edit is logged and the last good\n"
		"policy stays); SIGTERM/SIGINT detach the programs and exit (this version does\n"
		"not keep enforcement in place after exit).\n"
		"Exit status: 0 clean shutdown, 1 runtime failure, 2 bad input or usage.\n",
		np_map_size_help());
}

static int add_path(struct agent *a, const char *p)
{
	char *copy = strdup(p);
	int ret;

	if (!copy)
		return -ENOMEM;
	ret = np_vec_push(&a->paths, &a->n_paths, &a->cap_paths, &copy);
	if (ret)
		free(copy);
	return ret;
}

static int add_node_ip(struct agent *a, const char *s, const char *from)
{
	if (a->copts.n_node_addrs >= MAX_NODE_ADDRS) {
		np_err("%s: more than %d node addresses; give fewer", from, MAX_NODE_ADDRS);
		return -E2BIG;
	}
	if (np_addr_parse(s, &a->node_addrs[a->copts.n_node_addrs])) {
		np_err("%s: \"%s\" is not an IPv4 or IPv6 address", from, s);
		return -EINVAL;
	}
	a->copts.n_node_addrs++;
	return 0;
}

/* Split S at SEP and call FN on every non-empty piece. */
static int split_env(struct agent *a, const char *s, char sep, const char *name,
		     int (*fn)(struct agent *, const char *, const char *))
{
	char *copy = strdup(s), *p, *next;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (p = copy; p && !ret; p = next) {
		next = strchr(p, sep);
		if (next)
			*next++ = '\0';
		if (*p)
			ret = fn(a, p, name);
	}
	free(copy);
	return ret;
}

static int env_path(struct agent *a, const char *p, const char *name)
{
	(void)name;
	return add_path(a, p);
}

static int set_log_level(const char *s, const char *from)
{
	int level = np_log_level_parse(s);

	if (level < 0) {
		np_err("%s: \"%s\" is not error, warn, info or debug", from, s);
		return -EINVAL;
	}
	np_log_set_level(level);
	return 0;
}

static int set_log_format(const char *s, const char *from)
{
	if (strcmp(s, "logfmt") == 0) {
		np_log_set_format(NP_LOG_LOGFMT);
	} else if (strcmp(s, "json") == 0) {
		np_log_set_format(NP_LOG_JSON);
	} else {
		np_err("%s: \"%s\" is not logfmt or json", from, s);
		return -EINVAL;
	}
	return 0;
}

/* Flags first into temporaries, then environment for what flags left unset.
 * 1 = --help shown, 0 = run, -EINVAL = usage error (reported). */
static int parse_args(struct agent *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "objects", required_argument, NULL, 'o' },
		{ "node-ip", required_argument, NULL, 'n' },
		{ "audit", no_argument, NULL, 'a' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "map-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *level = NULL, *format = NULL, *env;
	bool audit = false, node_flag = false;
	int opt, ret = 0;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1 && !ret) {
		switch (opt) {
		case 'o':
			ret = add_path(a, optarg);
			break;
		case 'n':
			node_flag = true;
			ret = add_node_ip(a, optarg, "--node-ip");
			break;
		case 'a':
			audit = true;
			break;
		case 'l':
			level = optarg;
			break;
		case 'F':
			format = optarg;
			break;
		case 'm': {
			char msg[256];

			ret = np_map_size_parse(&a->lopts, optarg, msg, sizeof(msg));
			if (ret)
				np_err("%s", msg);
			break;
		}
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (ret)
		goto cleanup;
	if (optind < argc) {
		np_err("unexpected argument \"%s\"; objects are given with --objects PATH (see --help)",
		       argv[optind]);
		ret = -EINVAL;
		goto cleanup;
	}
	if (!format && (env = getenv("NETPOL_LOG_FORMAT")) && *env)
		ret = set_log_format(env, "NETPOL_LOG_FORMAT");
	else if (format)
		ret = set_log_format(format, "--log-format");
	if (ret)
		goto cleanup;
	np_log_set_level(NP_LOG_INFO);
	if (!level && (env = getenv("NETPOL_LOG_LEVEL")) && *env)
		ret = set_log_level(env, "NETPOL_LOG_LEVEL");
	else if (level)
		ret = set_log_level(level, "--log-level");
	if (ret)
		goto cleanup;
	if (a->n_paths == 0 && (env = getenv("NETPOL_OBJECTS")) && *env)
		ret = split_env(a, env, ':', "NETPOL_OBJECTS", env_path);
	if (ret)
		goto cleanup;
	if (!node_flag && (env = getenv("NETPOL_NODE_IPS")) && *env)
		ret = split_env(a, env, ',', "NETPOL_NODE_IPS", add_node_ip);
	if (ret)
		goto cleanup;
	if (!audit && (env = getenv("NETPOL_AUDIT")) &&
	    (strcmp(env, "1") == 0 || strcasecmp(env, "true") == 0))
		audit = true;
	a->lopts.audit_all = audit;
	if (a->n_paths == 0) {
		np_err("no objects given: use --objects PATH (a file or directory of Namespaces, Pods and NetworkPolicies) or NETPOL_OBJECTS");
		ret = -EINVAL;
	}
cleanup:
	return ret;
}

/* Load every configured path into a fresh object set.  -EINVAL (logged,
 * naming file/object/field) or -errno. */
static int load_objects(struct agent *a, struct np_objects *objs)
{
	struct np_error err;
	int ret = 0;

	memset(objs, 0, sizeof(*objs));
	for (size_t i = 0; i < a->n_paths && !ret; i++) {
		ret = np_objects_load_path(objs, a->paths[i], &err);
		if (ret)
			np_err("%s", err.msg);
	}
	if (ret)
		np_objects_free(objs);
	return ret;
}

static const char *pod_label(const struct np_compiled_ep *ep, char *buf, size_t len)
{
	if (ep->pod)
		snprintf(buf, len, "%s/%s", ep->pod->ns, ep->pod->name);
	else
		snprintf(buf, len, "endpoint %u", ep->val.ep_id);
	return buf;
}

/* Which local interface serves each pod address: the np_ifaces contents. */
static int plan_ifaces(const struct np_compiled *c, struct iface_plan *plan)
{
	int defaults[MAX_DEFAULT_OIFS];
	size_t n_defaults = 0;
	uint32_t last_ep = 0;
	int ret;

	memset(plan, 0, sizeof(*plan));
	ret = np_route_default_oifs(defaults, MAX_DEFAULT_OIFS, &n_defaults);
	if (ret) {
		np_err("listing default routes over rtnetlink failed: %s", strerror(-ret));
		goto cleanup;
	}
	for (size_t i = 0; i < c->n_eps; i++) {
		const struct np_compiled_ep *ep = &c->eps[i];
		struct np_iface_entry *e = NULL;
		char addr[INET6_ADDRSTRLEN + 8], pod[300], ifname[IF_NAMESIZE];
		bool loopback = false, is_default = false;
		int ifindex = 0, r;

		np_addr_str(&ep->addr, addr, sizeof(addr));
		pod_label(ep, pod, sizeof(pod));
		r = np_route_oif(&ep->addr, &ifindex);
		if (r) {
			np_dbg("pod %s (%s): no unicast route (%s); not local", pod,
			       addr, strerror(-r));
			continue;
		}
		r = np_link_info(ifindex, ifname, sizeof(ifname), &loopback);
		if (r) {
			np_dbg("pod %s (%s): route via ifindex %d which vanished (%s); not local",
			       pod, addr, ifindex, strerror(-r));
			continue;
		}
		for (size_t k = 0; k < n_defaults; k++)
			if (defaults[k] == ifindex)
				is_default = true;
		if (loopback || is_default) {
			np_dbg("pod %s (%s): routed via %s, %s; not local", pod, addr,
			       ifname, loopback ? "a loopback interface" : "the default route's interface");
			continue;
		}
		for (size_t k = 0; k < plan->n; k++)
			if ((int)plan->v[k].ifindex == ifindex)
				e = &plan->v[k];
		if (e && e->val.ep_id != ep->val.ep_id) {
			np_warn("pod %s (%s) is routed via %s, which already serves another pod; anti-spoofing on %s allows only the first pod's addresses",
				pod, addr, ifname, ifname);
			continue;
		}
		if (!e) {
			struct np_iface_entry fresh = { .ifindex = (uint32_t)ifindex };

			fresh.val.ep_id = ep->val.ep_id;
			ret = np_vec_push(&plan->v, &plan->n, &plan->cap, &fresh);
			if (ret)
				goto cleanup;
			e = &plan->v[plan->n - 1];
		}
		if (e->val.n_addrs >= 2) {
			np_warn("pod %s: more than two addresses routed via %s; %s ignored for anti-spoofing",
				pod, ifname, addr);
			continue;
		}
		e->val.addrs[e->val.n_addrs++] = ep->addr;
		if (ep->val.ep_id != last_ep)
			plan->local_pods++;
		last_ep = ep->val.ep_id;
		np_dbg("pod %s (%s): local, host-side interface %s (ifindex %d)", pod,
		       addr, ifname, ifindex);
	}
cleanup:
	if (ret) {
		free(plan->v);
		memset(plan, 0, sizeof(*plan));
	}
	return ret;
}

/* Attach to every planned interface (again where our filters went missing:
 * BPF_TC_F_REPLACE makes that idempotent), detach from the others.
 * Returns the number of interfaces that could not be attached. */
static size_t reconcile_attachments(struct agent *a, const struct iface_plan *plan)
{
	size_t failed = 0;

	for (size_t i = 0; i < plan->n; i++) {
		struct np_attachment fresh, *old = NULL;
		int ifindex = (int)plan->v[i].ifindex;

		for (size_t k = 0; k < a->n_atts; k++)
			if (a->atts[k].ifindex == ifindex)
				old = &a->atts[k];
		if (old && np_attach_intact(old))
			continue;
		if (np_attach(ifindex, a->dp.prog_ingress, a->dp.prog_egress, &fresh)) {
			/* np_attach undid its own part; undo the earlier one too
			 * so nothing half-attached stays behind untracked.  The
			 * loop below drops the entry. */
			failed++;
			if (old)
				np_detach(old);
			continue;
		}
		if (old) {
			np_warn("our filters on %s (ifindex %d) had been removed by someone else; re-attached",
				fresh.ifname, ifindex);
			fresh.created_qdisc = fresh.created_qdisc || old->created_qdisc;
			*old = fresh;
		} else if (np_vec_push(&a->atts, &a->n_atts, &a->cap_atts, &fresh)) {
			np_err("out of memory tracking the attachment to %s; detaching it",
			       fresh.ifname);
			np_detach(&fresh);
			failed++;
		} else {
			np_info("attached to %s (ifindex %d)%s", fresh.ifname, ifindex,
				fresh.created_qdisc ? ", created clsact qdisc" : "");
		}
	}
	for (size_t k = 0; k < a->n_atts;) {
		bool wanted = false;

		for (size_t i = 0; i < plan->n; i++)
			if ((int)plan->v[i].ifindex == a->atts[k].ifindex)
				wanted = true;
		if (wanted && (a->atts[k].ingress_hook || a->atts[k].egress_hook)) {
			k++;
			continue;
		}
		if (!wanted)
			np_info("detaching from %s (ifindex %d): no local pod routed there any more",
				a->atts[k].ifname, a->atts[k].ifindex);
		np_detach(&a->atts[k]);
		a->atts[k] = a->atts[--a->n_atts];
	}
	return failed;
}

static void detach_all(struct agent *a)
{
	for (size_t k = 0; k < a->n_atts; k++) {
		np_detach(&a->atts[k]);
		np_info("detached from %s (ifindex %d)", a->atts[k].ifname,
			a->atts[k].ifindex);
	}
	a->n_atts = 0;
}

/* Make maps and attachments match COMPILED and the routing table. */
static int apply(struct agent *a, const struct np_compiled *compiled,
		 struct np_sync_stats *stats, struct iface_plan *plan,
		 size_t *attach_failed)
{
	struct np_error err;
	int ret;

	ret = plan_ifaces(compiled, plan);
	if (ret)
		goto cleanup;
	ret = np_mapsync_apply(&a->sync, compiled, plan->v, plan->n, stats, &err);
	if (ret) {
		np_err("%s", err.msg);
		goto cleanup;
	}
	*attach_failed = reconcile_attachments(a, plan);
cleanup:
	return ret;
}

static size_t count_local(const struct agent *a)
{
	return a->n_atts;
}

static void reload(struct agent *a)
{
	struct np_objects objs;
	struct np_compiled compiled;
	struct np_sync_stats stats;
	struct iface_plan plan = { 0 };
	struct np_error err;
	size_t failed = 0;
	bool have_objs = false, have_compiled = false;
	int ret;

	np_info("SIGHUP: reloading objects from %zu path(s)", a->n_paths);
	ret = load_objects(a, &objs);
	if (ret)
		goto cleanup;
	have_objs = true;
	ret = np_compile(&objs, &a->copts, &a->ids, &compiled, &err);
	if (ret) {
		np_err("%s", err.msg);
		goto cleanup;
	}
	have_compiled = true;
	ret = apply(a, &compiled, &stats, &plan, &failed);
	if (ret)
		goto cleanup;
	/* Committed: the new objects are the last good policy. */
	np_compiled_free(&a->compiled);
	np_objects_free(&a->objs);
	a->compiled = compiled;
	a->objs = objs;
	have_compiled = have_objs = false;
	np_ids_gc(&a->ids);
	np_info("reloaded: %zu policies, %zu pods (%zu local on %zu interfaces, %zu failed to attach); map changes: endpoints +%zu/-%zu, interfaces +%zu/-%zu, peers +%zu/-%zu, ports +%zu/-%zu",
		a->objs.n_policies, a->objs.n_pods, plan.local_pods, count_local(a), failed,
		stats.upserts[NP_SYNC_ENDPOINTS], stats.deletes[NP_SYNC_ENDPOINTS],
		stats.upserts[NP_SYNC_IFACES], stats.deletes[NP_SYNC_IFACES],
		stats.upserts[NP_SYNC_PEERS], stats.deletes[NP_SYNC_PEERS],
		stats.upserts[NP_SYNC_PORTS], stats.deletes[NP_SYNC_PORTS]);
cleanup:
	if (ret)
		np_err("reload failed (%s); the last good policy stays in force: fix the objects and send SIGHUP again",
		       strerror(-ret));
	free(plan.v);
	if (have_compiled)
		np_compiled_free(&compiled);
	if (have_objs)
		np_objects_free(&objs);
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct agent *a = ctx;
	const struct np_flow_event *ev = data;
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8];
	const char *kind;
	char *const *pod;

	if (size < sizeof(*ev))
		return 0;
	kind = ev->kind == NP_EV_NEW ? "new" : ev->kind == NP_EV_DENY ? "deny"
				     : ev->kind == NP_EV_CUT ? "cut" : "unknown";
	pod = np_hashmap_get(&a->compiled.ep_names, &ev->ep_id);
	bool v6 = !np_addr_is_v4(&ev->src);

	np_addr_str(&ev->src, src, sizeof(src));
	np_addr_str(&ev->dst, dst, sizeof(dst));
	np_dbg("flow %s: %s %s %s%s%s:%u -> %s%s%s:%u pod=%s verdict=%s reason=%s cookie=%u",
	       kind, ev->dir == NP_DIR_INGRESS ? "ingress" : "egress",
	       np_proto_name(ev->proto), v6 ? "[" : "", src, v6 ? "]" : "",
	       ntohs(ev->sport), v6 ? "[" : "", dst, v6 ? "]" : "",
	       ntohs(ev->dport), pod ? *pod : "-", np_verdict_name(ev->verdict),
	       np_reason_name(ev->reason), ev->cookie);
	return 0;
}

#define NP_EVENTS_DRAIN_MS 250

/* Block until SIGTERM/SIGINT; SIGHUP reloads. */
static int run(struct agent *a)
{
	struct pollfd pfd[2] = { { .fd = a->sigfd, .events = POLLIN } };
	nfds_t n = 1;
	int ret = 0;

	if (a->rb) {
		pfd[1].fd = ring_buffer__epoll_fd(a->rb);
		pfd[1].events = POLLIN;
		n = 2;
	}
	for (;;) {
		struct signalfd_siginfo si;

		/* The datapath wakes us only once a batch of flow events
		 * is waiting; drain what trickles in at least 4 times a
		 * second. */
		if (poll(pfd, n, n > 1 ? NP_EVENTS_DRAIN_MS : -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			np_err("waiting for signals failed: %s", strerror(errno));
			goto cleanup;
		}
		if (n > 1)
			ring_buffer__consume(a->rb);
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(a->sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			reload(a);
			continue;
		}
		np_info("%s: shutting down", strsignal((int)si.ssi_signo));
		goto cleanup;
	}
cleanup:
	return ret;
}

int main(int argc, char **argv)
{
	struct agent a = { .sigfd = -1 };
	struct np_sync_stats stats;
	struct iface_plan plan = { 0 };
	size_t failed = 0;
	sigset_t sigs;
	int ret = EXIT_BAD_INPUT, r;

	np_log_hook_libbpf();
	np_log_set_level(NP_LOG_INFO);
	np_ids_init(&a.ids);
	np_load_opts_default(&a.lopts);
	a.copts.node_addrs = a.node_addrs;
	a.copts.host_network_is_node = false;
	r = parse_args(&a, argc, argv);
	if (r) {
		ret = r > 0 ? 0 : EXIT_BAD_INPUT;
		goto cleanup;
	}
	/* Signals are taken synchronously from a signalfd; block them first
	 * so none is lost between loading and the main loop. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0 ||
	    (a.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
		np_err("setting up signal handling failed: %s", strerror(errno));
		ret = EXIT_FAILURE_RUNTIME;
		goto cleanup;
	}
	if (load_objects(&a, &a.objs)) {
		ret = EXIT_BAD_INPUT;
		goto cleanup;
	}
	r = np_setup_datapath_from_objects(&a.dp, &a.sync, &a.objs, &a.copts,
					   &a.ids, &a.compiled, &a.lopts,
					   &a.dp_loaded, &a.sync_ready);
	if (r) {
		if (r != -EINVAL)
			np_err("loading the datapath failed: %s; run as root on a kernel with BPF and BTF (see the messages above)",
			       strerror(-r));
		ret = r == -EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_RUNTIME;
		goto cleanup;
	}
	np_ids_gc(&a.ids);
	/* Capacity errors name the flag that raises the map. */
	np_map_size_limits(&a.lopts, a.sync.limit, a.sync.limit_option);
	/* Flow events are only logged at debug level; nobody reads them
	 * otherwise (the programs drop them when the ring is full). */
	if (a.lopts.emit_events && np_log_get_level() >= NP_LOG_DEBUG) {
		a.rb = ring_buffer__new(a.dp.map_events, on_event, &a, NULL);
		if (!a.rb)
			np_warn("reading flow events failed (%s); continuing without them",
				strerror(errno));
	}
	if (apply(&a, &a.compiled, &stats, &plan, &failed)) {
		ret = EXIT_FAILURE_RUNTIME;
		detach_all(&a);
		goto cleanup;
	}
	np_info("ready: %zu policies, %zu pods, %zu local pods on %zu interfaces (%zu failed to attach), %zu node addresses, %zu sets, %zu classes, audit=%s",
		a.objs.n_policies, a.objs.n_pods, plan.local_pods, count_local(&a),
		failed, a.copts.n_node_addrs, a.compiled.n_sets, a.compiled.n_classes,
		a.lopts.audit_all ? "on" : "off");
	r = run(&a);
	detach_all(&a);
	ret = r ? EXIT_FAILURE_RUNTIME : 0;
	np_info("stopped; filters detached (enforcement ends with this version of the agent)");
cleanup:
	free(plan.v);
	ring_buffer__free(a.rb);
	if (a.sync_ready)
		np_mapsync_free(&a.sync);
	if (a.dp_loaded)
		np_datapath_close(&a.dp);
	np_compiled_free(&a.compiled);
	np_ids_free(&a.ids);
	np_objects_free(&a.objs);
	for (size_t i = 0; i < a.n_paths; i++)
		free(a.paths[i]);
	free(a.paths);
	free(a.atts);
	if (a.sigfd >= 0)
		close(a.sigfd);
	return ret;
}
