// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netpol-agent: enforce Kubernetes NetworkPolicy v1 on this node's pods.
 *
 * The objects (Namespaces, Pods, NetworkPolicies) come from files, watched
 * with inotify.  The agent compiles them into the BPF maps and attaches the
 * datapath to the host-side interface of every local pod; the interface is
 * found by asking the kernel how the pod's address is routed (RTM_GETROUTE),
 * not by naming convention, and link/route changes (rtnetlink multicast) are
 * acted on as they happen.
 *
 * Maps and programs are pinned (pin.h): SIGTERM, SIGKILL or a crash leave
 * enforcement in place; a restarted agent reuses the maps (conntrack
 * included), reconciles them with the current objects and atomically
 * replaces the filters.  `--uninstall` removes everything it created.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agentops.h"
#include "attach.h"
#include "compile.h"
#include "evloop.h"
#include "cwopts.h"
#include "filesink.h"
#include "flowlog.h"
#include "kubesync.h"
#include "loader.h"
#include "log.h"
#include "mapsize.h"
#include "mapsync.h"
#include "netlink.h"
#include "netpol.skel.h"
#include "pin.h"
#include "vec.h"
#include "verdict.h"

#define EXIT_FAILURE_RUNTIME 1
#define EXIT_BAD_INPUT 2
#define MAX_NODE_ADDRS 64
#define MAX_DEFAULT_OIFS 64
#define MAX_HOST_OIFS 4096
#define NP_WATCH_DEBOUNCE_MS 100
#define NP_WATCH_MISSING_MS 1000

struct watch {
	int wd;
	bool parent;   /* watching the directory that holds PATH */
	char name[NAME_MAX + 1]; /* parent watches: PATH's own name */
};

struct agent {
	char **paths;
	size_t n_paths, cap_paths;
	struct np_addr node_addrs[MAX_NODE_ADDRS];
	struct np_compile_opts copts;
	struct np_load_opts lopts;
	const char *pin_path;
	unsigned int layout;
	bool uninstall, strict, watch_files, watch_netlink;

	struct np_objects objs;
	struct np_compiled compiled;
	struct np_ids ids;
	struct np_datapath dp;
	bool dp_loaded;
	struct np_mapsync sync;
	bool sync_ready;
	struct np_pin pin;
	bool pin_open;

	struct np_attachment *atts; /* interfaces we are attached to */
	size_t n_atts, cap_atts;
	bool force_reattach;        /* next reconcile replaces every filter */
	struct np_iface_entry *last_plan; /* what np_ifaces holds */
	size_t n_last_plan;
	/* flow logs */
	const char *node_name;
	const char *flow_file;     /* --flow-log-file; NULL: none */
	struct np_filesink_opts file_opts;
	struct np_flowlog_opts flow_opts;
	struct np_sink *sinks[NP_FLOWLOG_MAX_SINKS];
	size_t n_sinks;
	struct np_flowlog flows;
	bool flows_on;
	struct np_cwopts cwo;      /* CloudWatch Logs shipping (cwopts.h) */
	/* health, readiness, metrics (agentops.h) */
	const char *metrics_addr;  /* NULL: off */
	uint32_t map_interval_s;   /* --metrics-map-interval */
	struct np_ops ops;
	bool ops_on;
	char hostname[256];
	int sigfd, inofd, nlfd;
	struct np_loop loop;
	struct np_timer watch_timer;
	struct watch *watches;
	size_t n_watches, cap_watches;
	bool reload_pending, missing_paths;

	/* Kubernetes API sync (kubesync.c) */
	bool use_kube;
	const char *kubeconfig;
	const char *local_node; /* --node-name/NODE_NAME: pods with this spec.nodeName */
	struct np_kube_sync kube;
	bool kube_running;
};

struct iface_plan {
	struct np_iface_entry *v;
	size_t n, cap;
	size_t local_pods;
	int *extra;   /* strict mode: interfaces with host routes, no known pod */
	size_t n_extra;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netpol-agent --objects PATH [--objects PATH ...] [--node-ip IP ...]\n"
		"       netpol-agent --kubernetes [--kubeconfig PATH] [--node-name NAME] [--objects PATH ...]\n"
		"                    [--pin-path DIR] [--default-enforcement strict|standard]\n"
		"                    [--audit] [--log-level LEVEL] [--log-format FORMAT]\n"
		"                    [--map-size NAME=N ...]\n"
		"       netpol-agent --uninstall [--pin-path DIR]\n"
		"\n"
		"Enforces Kubernetes NetworkPolicy v1 on this node's pods with TC BPF programs\n"
		"attached to each local pod's host-side interface (found from the routing table,\n"
		"followed live through rtnetlink).  The objects are watched (inotify): an edit is\n"
		"applied within a second, an invalid one is logged and ignored.\n"
		"\n"
		"  --objects PATH      Namespaces, Pods and NetworkPolicies: a YAML/JSON file or a\n"
		"                      directory of them (repeatable)            env NETPOL_OBJECTS (a:b:c)\n"
		"  --kubernetes        follow Namespaces, Pods and NetworkPolicies through the\n"
		"                      Kubernetes API (list+watch; in-cluster service account\n"
		"                      unless --kubeconfig); with --objects too, an API object\n"
		"                      replaces a file object of the same kind/namespace/name\n"
		"                                                                env NETPOL_KUBERNETES=1\n"
		"  --kubeconfig PATH   reach the API with this kubeconfig's current context\n"
		"                      (implies --kubernetes)                    env KUBECONFIG\n"
		"  --node-ip IP        an address of this node, always allowed both ways (kubelet\n"
		"                      probes); repeatable                       env NETPOL_NODE_IPS (a,b)\n"
		"  --pin-path DIR      where maps, programs and the record of what was attached are\n"
		"                      pinned (a bpf filesystem); one per agent instance\n"
		"                      (default " NP_PIN_DEFAULT ")  env NETPOL_PIN_PATH\n"
		"  --default-enforcement MODE\n"
		"                      standard (default): traffic of a local address whose pod is\n"
		"                      not known yet passes; strict: it is dropped, and every\n"
		"                      interface with a /32 or /128 host route is covered as soon\n"
		"                      as the route appears                      env NETPOL_DEFAULT_ENFORCEMENT\n"
		"  --uninstall         remove every filter, clsact qdisc and pin the agent with this\n"
		"                      --pin-path created, then exit 0 (also when there is nothing)\n"
		"  --no-watch          do not watch the objects (SIGHUP still reloads)\n"
		"                                                                env NETPOL_WATCH=0\n"
		"  --audit             report denials but let the packets pass   env NETPOL_AUDIT=1\n"
		"  --node-name NAME    this node's name, in flow records (default: env NODE_NAME,\n"
		"                      else the host name); when given (flag or NODE_NAME), pods\n"
		"                      whose spec.nodeName is another node are peers only, never\n"
		"                      enforced on here\n"
		"  --flow-log-file PATH  write flow records (JSON lines) to PATH, or - for standard\n"
		"                      output; no flow records without it      env NETPOL_FLOW_LOG_FILE\n"
		"  --flow-log LEVEL    all (default), rejected or none: which flows are logged;\n"
		"                      audit verdicts always are (load-time)   env NETPOL_FLOW_LOG\n"
		"  --flow-interval SECONDS  aggregation interval, 1..3600 (default 60)\n"
		"                                                                env NETPOL_FLOW_INTERVAL\n"
		"  --flow-log-max-bytes N  rotate the flow log file at N bytes (default 104857600;\n"
		"                      0: never)                                env NETPOL_FLOW_LOG_MAX_BYTES\n"
		"  --flow-log-keep N   rotated files kept, gzip-compressed (default 5)\n"
		"                                                                env NETPOL_FLOW_LOG_KEEP\n"
		"  --flow-queue N      records queued per sink before the oldest are dropped and\n"
		"                      reported (default 100000)               env NETPOL_FLOW_QUEUE\n"
		"  --flow-deny-events N  denial events per CPU and second the kernel may send\n"
		"                      (default 500; the rest are counted as skipped)\n"
		"                                                                env NETPOL_FLOW_DENY_EVENTS\n"
		"  --metrics-address ADDR:PORT  serve /healthz, /readyz, /metrics (and /debug/* to\n"
		"                      loopback clients) there; off: none (default " NP_METRICS_DEFAULT_ADDRESS ")\n"
		"                                                                env NETPOL_METRICS_ADDRESS\n"
		"  --metrics-map-interval SECONDS  count the BPF maps' entries for /metrics every\n"
		"                      SECONDS, 1..3600 (default 30)        env NETPOL_METRICS_MAP_INTERVAL\n"
		"  --log-level LEVEL   error, warn, info (default) or debug      env NETPOL_LOG_LEVEL\n"
		"  --log-format FMT    logfmt (default) or json                  env NETPOL_LOG_FORMAT\n"
		"%s"
		"  -h, --help          this text\n"
		"\n"
		"Flags win over environment variables.\n"
		"Signals: SIGHUP reloads the objects; SIGTERM/SIGINT exit 0 and leave enforcement\n"
		"in place (filters and pinned maps stay; a restarted agent takes over without\n"
		"dropping established connections).  Only --uninstall removes it.\n"
		"Exit status: 0 clean shutdown, 1 runtime failure, 2 bad input or usage.\n",
		np_map_size_help());
	np_cwopts_usage(f);
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

static bool env_true(const char *name)
{
	const char *v = getenv(name);

	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

static bool env_false(const char *name)
{
	const char *v = getenv(name);

	return v && (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0);
}

static int set_enforcement(struct agent *a, const char *s, const char *from)
{
	if (strcmp(s, "strict") == 0) {
		a->strict = true;
	} else if (strcmp(s, "standard") == 0) {
		a->strict = false;
	} else {
		np_err("%s: \"%s\" is not strict or standard", from, s);
		return -EINVAL;
	}
	return 0;
}

enum { FLOW_FILE, FLOW_LEVEL, FLOW_INTERVAL, FLOW_MAX_BYTES, FLOW_KEEP, FLOW_QUEUE,
       FLOW_DENY_EVENTS, FLOW_OPT_N };

/* Parse S as an integer in [MIN, MAX]; FROM names the flag or variable. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      const char *from, unsigned long long *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || !end || *end || end == s || *s == '-' || v < min || v > max) {
		np_err("%s: \"%s\" is not a number from %llu to %llu", from, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* The flow log flags (FLOW[i] from the command line, else env). */
static int parse_flow_opts(struct agent *a, const char **flow)
{
	static const struct {
		const char *flag, *env;
		unsigned long long min, max;
	} spec[FLOW_OPT_N] = {
		[FLOW_FILE] = { "--flow-log-file", "NETPOL_FLOW_LOG_FILE", 0, 0 },
		[FLOW_LEVEL] = { "--flow-log", "NETPOL_FLOW_LOG", 0, 0 },
		[FLOW_INTERVAL] = { "--flow-interval", "NETPOL_FLOW_INTERVAL", 1, 3600 },
		[FLOW_MAX_BYTES] = { "--flow-log-max-bytes", "NETPOL_FLOW_LOG_MAX_BYTES", 0, 1ull << 50 },
		[FLOW_KEEP] = { "--flow-log-keep", "NETPOL_FLOW_LOG_KEEP", 0, 1000 },
		[FLOW_QUEUE] = { "--flow-queue", "NETPOL_FLOW_QUEUE", 1, 100000000 },
		[FLOW_DENY_EVENTS] = { "--flow-deny-events", "NETPOL_FLOW_DENY_EVENTS", 1, 10000000 },
	};
	unsigned long long v[FLOW_OPT_N] = { [FLOW_INTERVAL] = 60, [FLOW_MAX_BYTES] = 100ull << 20,
					     [FLOW_KEEP] = 5, [FLOW_QUEUE] = 100000,
					     [FLOW_DENY_EVENTS] = 500 };
	const char *from[FLOW_OPT_N];
	const char *env;
	int ret = 0;

	for (int i = 0; i < FLOW_OPT_N; i++) {
		from[i] = spec[i].flag;
		if (!flow[i] && (env = getenv(spec[i].env)) && *env) {
			flow[i] = env;
			from[i] = spec[i].env;
		}
		if (flow[i] && spec[i].max && (ret = parse_uint(flow[i], spec[i].min, spec[i].max, from[i], &v[i])))
			goto cleanup;
	}
	a->lopts.flow_log = NP_FLOW_LOG_ALL;
	if (flow[FLOW_LEVEL]) {
		if (strcmp(flow[FLOW_LEVEL], "all") == 0) {
			a->lopts.flow_log = NP_FLOW_LOG_ALL;
		} else if (strcmp(flow[FLOW_LEVEL], "rejected") == 0) {
			a->lopts.flow_log = NP_FLOW_LOG_REJECTED;
		} else if (strcmp(flow[FLOW_LEVEL], "none") == 0) {
			a->lopts.flow_log = NP_FLOW_LOG_NONE;
		} else {
			np_err("%s: \"%s\" is not all, rejected or none", from[FLOW_LEVEL], flow[FLOW_LEVEL]);
			ret = -EINVAL;
			goto cleanup;
		}
	}
	a->flow_file = flow[FLOW_FILE];
	a->file_opts.path = a->flow_file;
	a->file_opts.max_bytes = v[FLOW_MAX_BYTES];
	a->file_opts.keep = (unsigned int)v[FLOW_KEEP];
	a->lopts.flow_interval_s = (__u32)v[FLOW_INTERVAL];
	a->lopts.deny_events_per_s = (__u32)v[FLOW_DENY_EVENTS];
	a->flow_opts.interval_s = (uint32_t)v[FLOW_INTERVAL];
	a->flow_opts.queue_max = (size_t)v[FLOW_QUEUE];
	if (!a->node_name && (env = getenv("NODE_NAME")) && *env)
		a->node_name = env;
	/* Only a name given explicitly decides which pods are local. */
	a->local_node = a->node_name;
	if (!a->node_name && gethostname(a->hostname, sizeof(a->hostname) - 1) == 0)
		a->node_name = a->hostname;
	a->flow_opts.node = a->node_name;
cleanup:
	return ret;
}

/* The sinks the flags ask for; the datapath emits events only if any. */
static int open_sinks(struct agent *a)
{
	int err = 0;

	if (a->flow_file) {
		a->sinks[a->n_sinks] = np_filesink_new(&a->file_opts, &err);
		if (!a->sinks[a->n_sinks])
			return err;
		a->n_sinks++;
	}
	/* Flow events feed the records and the traffic metrics. */
	a->lopts.emit_events = a->n_sinks > 0 || a->metrics_addr;
	a->flow_opts.agg.to_tcp_syn_s = a->lopts.to_tcp_syn_s;
	a->flow_opts.agg.to_tcp_est_s = a->lopts.to_tcp_est_s;
	a->flow_opts.agg.to_tcp_close_s = a->lopts.to_tcp_close_s;
	a->flow_opts.agg.to_other_s = a->lopts.to_other_s;
	a->flow_opts.agg.to_icmp_s = a->lopts.to_icmp_s;
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
		{ "pin-path", required_argument, NULL, 'P' },
		{ "default-enforcement", required_argument, NULL, 'E' },
		{ "uninstall", no_argument, NULL, 'U' },
		{ "no-watch", no_argument, NULL, 'W' },
		{ "kubernetes", no_argument, NULL, 'K' },
		{ "kubeconfig", required_argument, NULL, 'C' },
		{ "node-name", required_argument, NULL, 'N' },
		{ "flow-log-file", required_argument, NULL, 1001 },
		{ "flow-log", required_argument, NULL, 1002 },
		{ "flow-interval", required_argument, NULL, 1003 },
		{ "flow-log-max-bytes", required_argument, NULL, 1004 },
		{ "flow-log-keep", required_argument, NULL, 1005 },
		{ "flow-queue", required_argument, NULL, 1006 },
		{ "flow-deny-events", required_argument, NULL, 1007 },
		{ "metrics-address", required_argument, NULL, 1100 },
		{ "metrics-map-interval", required_argument, NULL, 1101 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *level = NULL, *format = NULL, *enforcement = NULL, *env, *map_interval = NULL;
	const char *flow[FLOW_OPT_N] = { 0 };
	bool audit = false, node_flag = false, no_watch = false;
	int opt, ret = 0;

	struct option *all = np_cwopts_longopts(longopts);

	if (!all)
		return -ENOMEM;
	while ((opt = getopt_long(argc, argv, "h", all, NULL)) != -1 && !ret) {
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
		case 'P':
			a->pin_path = optarg;
			break;
		case 'E':
			enforcement = optarg;
			break;
		case 'U':
			a->uninstall = true;
			break;
		case 'W':
			no_watch = true;
			break;
		case 'K':
			a->use_kube = true;
			break;
		case 'C':
			a->use_kube = true;
			a->kubeconfig = optarg;
			break;
		case 'N':
			a->node_name = optarg;
			break;
		case 1001 ... 1007:
			flow[opt - 1001] = optarg;
			break;
		case 1100:
			a->metrics_addr = optarg;
			break;
		case 1101:
			map_interval = optarg;
			break;
		case 'h':
			usage(stdout);
			ret = 1;
			goto cleanup;
		default:
			ret = np_cwopts_parse(&a->cwo, opt, optarg);
			if (ret > 0) {
				ret = 0;
				break;
			}
			if (!ret)
				usage(stderr);
			ret = -EINVAL;
			goto cleanup;
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
	if (!a->pin_path && (env = getenv("NETPOL_PIN_PATH")) && *env)
		a->pin_path = env;
	if (!a->pin_path)
		a->pin_path = NP_PIN_DEFAULT;
	/* For tests of the layout migration only: pretend to be an agent
	 * whose maps have another layout version. */
	a->layout = NP_PIN_LAYOUT_VERSION;
	if ((env = getenv("NETPOL_PIN_LAYOUT")) && *env)
		a->layout = (unsigned int)strtoul(env, NULL, 10);
	if (a->uninstall)
		goto cleanup; /* needs nothing else */
	if (!a->metrics_addr && (env = getenv("NETPOL_METRICS_ADDRESS")) && *env)
		a->metrics_addr = env;
	if (!a->metrics_addr)
		a->metrics_addr = NP_METRICS_DEFAULT_ADDRESS;
	if (!map_interval && (env = getenv("NETPOL_METRICS_MAP_INTERVAL")) && *env)
		map_interval = env;
	if (map_interval) {
		unsigned long long v;

		ret = parse_uint(map_interval, 1, 3600, "--metrics-map-interval", &v);
		if (ret)
			goto cleanup;
		a->map_interval_s = (uint32_t)v;
	}
	if (strcmp(a->metrics_addr, "off") == 0) {
		a->metrics_addr = NULL;
	} else {
		struct sockaddr_storage ss;
		socklen_t sl;

		if (np_httpd_parse_addr(a->metrics_addr, &ss, &sl)) {
			np_err("--metrics-address/NETPOL_METRICS_ADDRESS: \"%s\" is not HOST:PORT, [IPV6]:PORT, :PORT or off",
			       a->metrics_addr);
			ret = -EINVAL;
			goto cleanup;
		}
	}
	if (!enforcement && (env = getenv("NETPOL_DEFAULT_ENFORCEMENT")) && *env)
		ret = set_enforcement(a, env, "NETPOL_DEFAULT_ENFORCEMENT");
	else if (enforcement)
		ret = set_enforcement(a, enforcement, "--default-enforcement");
	if (ret)
		goto cleanup;
	a->lopts.deny_unknown = a->strict;
	a->watch_files = !no_watch && !env_false("NETPOL_WATCH");
	a->watch_netlink = true;
	if (a->n_paths == 0 && (env = getenv("NETPOL_OBJECTS")) && *env)
		ret = split_env(a, env, ':', "NETPOL_OBJECTS", env_path);
	if (ret)
		goto cleanup;
	if (!node_flag && (env = getenv("NETPOL_NODE_IPS")) && *env)
		ret = split_env(a, env, ',', "NETPOL_NODE_IPS", add_node_ip);
	if (ret)
		goto cleanup;
	if (!audit && env_true("NETPOL_AUDIT"))
		audit = true;
	ret = parse_flow_opts(a, flow);
	if (ret)
		goto cleanup;
	a->lopts.audit_all = audit;
	if (!a->use_kube && env_true("NETPOL_KUBERNETES"))
		a->use_kube = true;
	if (a->use_kube && !a->kubeconfig && (env = getenv("KUBECONFIG")) && *env)
		a->kubeconfig = env;
	if (a->n_paths == 0 && !a->use_kube) {
		np_err("no objects given: use --objects PATH (a file or directory of Namespaces, Pods and NetworkPolicies) or NETPOL_OBJECTS");
		ret = -EINVAL;
	}
	if (!ret)
		ret = np_cwopts_finish(&a->cwo, a->node_name);
	a->cwo.emf_interval_s = a->flow_opts.interval_s;
cleanup:
	free(all);
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
	if (!ret && a->kube_running) {
		struct np_objects files = *objs;

		ret = np_kube_sync_objects(&a->kube, &files, objs);
		np_objects_free(&files);
		if (ret)
			memset(objs, 0, sizeof(*objs));
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
static int plan_ifaces(const struct agent *a, const struct np_compiled *c,
		       struct iface_plan *plan)
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
		if (a->local_node && ep->pod && ep->pod->node_name &&
		    strcmp(ep->pod->node_name, a->local_node) != 0) {
			np_dbg("pod %s (%s): on node %s; not local", pod, addr,
			       ep->pod->node_name);
			continue;
		}
		r = np_route_oif(&ep->addr, &ifindex);
		if (r) {
			np_dbg("pod %s (%s): no unicast route (%s); not local", pod,
			       addr, strerror(-r));
			continue;
		}
		/* Most pods of a cluster are remote, routed via the default
		 * route's interface: settle those before asking for names. */
		for (size_t k = 0; k < n_defaults; k++)
			if (defaults[k] == ifindex)
				is_default = true;
		if (is_default && np_log_get_level() < NP_LOG_DEBUG)
			continue;
		r = np_link_info(ifindex, ifname, sizeof(ifname), &loopback);
		if (r) {
			np_dbg("pod %s (%s): route via ifindex %d which vanished (%s); not local",
			       pod, addr, ifindex, strerror(-r));
			continue;
		}
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

/* Strict mode: every interface carrying a host route (a CNI's route to a
 * pod), known pod or not, gets the programs; without an np_ifaces entry
 * the programs drop its traffic (cfg_deny_unknown). */
static int plan_strict_extra(struct iface_plan *plan)
{
	int defaults[MAX_DEFAULT_OIFS], *hosts = NULL;
	size_t n_defaults = 0, n_hosts = 0;
	int ret;

	hosts = calloc(MAX_HOST_OIFS, sizeof(*hosts));
	plan->extra = calloc(MAX_HOST_OIFS, sizeof(*plan->extra));
	if (!hosts || !plan->extra) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = np_route_default_oifs(defaults, MAX_DEFAULT_OIFS, &n_defaults);
	if (!ret)
		ret = np_route_host_oifs(hosts, MAX_HOST_OIFS, &n_hosts);
	if (ret) {
		np_err("listing routes over rtnetlink failed: %s", strerror(-ret));
		goto cleanup;
	}
	for (size_t i = 0; i < n_hosts; i++) {
		char ifname[IF_NAMESIZE];
		bool skip = false, loopback = false;

		for (size_t k = 0; k < n_defaults; k++)
			skip = skip || defaults[k] == hosts[i];
		for (size_t k = 0; k < plan->n; k++)
			skip = skip || (int)plan->v[k].ifindex == hosts[i];
		if (skip || np_link_info(hosts[i], ifname, sizeof(ifname), &loopback) || loopback)
			continue;
		np_dbg("strict: %s (ifindex %d) carries a host route but no known pod: covered, its traffic is dropped",
		       ifname, hosts[i]);
		plan->extra[plan->n_extra++] = hosts[i];
	}
cleanup:
	free(hosts);
	return ret;
}

static bool planned(const struct iface_plan *plan, int ifindex)
{
	for (size_t i = 0; i < plan->n; i++)
		if ((int)plan->v[i].ifindex == ifindex)
			return true;
	for (size_t i = 0; i < plan->n_extra; i++)
		if (plan->extra[i] == ifindex)
			return true;
	return false;
}

static void plan_free(struct iface_plan *plan)
{
	free(plan->v);
	free(plan->extra);
	memset(plan, 0, sizeof(*plan));
}

static int attach_one_iface(struct agent *a, int ifindex, size_t *failed)
{
	struct np_attachment fresh, *old = NULL;

	for (size_t k = 0; k < a->n_atts; k++)
		if (a->atts[k].ifindex == ifindex)
			old = &a->atts[k];
	if (old && !a->force_reattach && np_attach_intact(old))
		return 0;
	/* BPF_TC_F_REPLACE on our handle/priority: an existing filter
	 * (ours from before a restart) is swapped atomically. */
	if (np_attach(ifindex, a->dp.prog_ingress, a->dp.prog_egress, &fresh)) {
		(*failed)++;
		return -EIO;
	}
	if (old) {
		if (!a->force_reattach)
			np_warn("our filters on %s (ifindex %d) had been removed by someone else; re-attached",
				fresh.ifname, ifindex);
		else
			np_info("took over %s (ifindex %d): filters replaced atomically",
				fresh.ifname, ifindex);
		fresh.created_qdisc = fresh.created_qdisc || old->created_qdisc;
		*old = fresh;
	} else if (np_vec_push(&a->atts, &a->n_atts, &a->cap_atts, &fresh)) {
		np_err("out of memory tracking the attachment to %s; detaching it", fresh.ifname);
		np_detach(&fresh);
		(*failed)++;
		return -ENOMEM;
	} else {
		np_info("attached to %s (ifindex %d)%s", fresh.ifname, ifindex,
			fresh.created_qdisc ? ", created clsact qdisc" : "");
	}
	np_pin_record(&a->pin, &fresh);
	return 0;
}

/* Attach to every planned interface (again where our filters went missing:
 * BPF_TC_F_REPLACE makes that idempotent), detach from the others.
 * Returns the number of interfaces that could not be attached. */
static size_t reconcile_attachments(struct agent *a, const struct iface_plan *plan)
{
	size_t failed = 0;

	for (size_t i = 0; i < plan->n; i++)
		attach_one_iface(a, (int)plan->v[i].ifindex, &failed);
	for (size_t i = 0; i < plan->n_extra; i++)
		attach_one_iface(a, plan->extra[i], &failed);
	a->force_reattach = false;
	for (size_t k = 0; k < a->n_atts;) {
		bool wanted = planned(plan, a->atts[k].ifindex);
		char name[IF_NAMESIZE];

		if (wanted && a->atts[k].ingress_hook && a->atts[k].egress_hook) {
			k++;
			continue;
		}
		if (!wanted && !if_indextoname((unsigned int)a->atts[k].ifindex, name)) {
			/* Deleted: its qdisc and filters went with it. */
			np_info("%s (ifindex %d) is gone; forgetting it", a->atts[k].ifname,
				a->atts[k].ifindex);
		} else {
			if (!wanted)
				np_info("detaching from %s (ifindex %d): no local pod routed there any more",
					a->atts[k].ifname, a->atts[k].ifindex);
			np_detach(&a->atts[k]);
		}
		np_pin_forget(&a->pin, a->atts[k].ifindex);
		a->atts[k] = a->atts[--a->n_atts];
	}
	return failed;
}

static bool same_plan(const struct agent *a, const struct iface_plan *plan)
{
	if (a->n_last_plan != plan->n)
		return false;
	for (size_t i = 0; i < plan->n; i++) {
		bool found = false;

		for (size_t k = 0; k < a->n_last_plan && !found; k++)
			found = memcmp(&a->last_plan[k], &plan->v[i], sizeof(plan->v[i])) == 0;
		if (!found)
			return false;
	}
	return true;
}

static int remember_plan(struct agent *a, const struct iface_plan *plan)
{
	struct np_iface_entry *copy = NULL;

	if (plan->n) {
		copy = malloc(plan->n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, plan->v, plan->n * sizeof(*copy));
	}
	free(a->last_plan);
	a->last_plan = copy;
	a->n_last_plan = plan->n;
	return 0;
}

/* Make maps and attachments match COMPILED and the routing table.  With
 * MAPS_IF_CHANGED, the maps are only written when the interface plan
 * changed (a netlink event with the same objects). */
static int apply(struct agent *a, const struct np_compiled *compiled,
		 struct np_sync_stats *stats, struct iface_plan *plan,
		 size_t *attach_failed, bool maps_if_changed)
{
	struct np_error err;
	int ret;

	memset(stats, 0, sizeof(*stats));
	ret = plan_ifaces(a, compiled, plan);
	if (!ret && a->strict)
		ret = plan_strict_extra(plan);
	if (ret)
		goto cleanup;
	if (!maps_if_changed || !same_plan(a, plan)) {
		ret = np_mapsync_apply(&a->sync, compiled, plan->v, plan->n, stats, &err);
		if (ret) {
			np_err("%s", err.msg);
			goto cleanup;
		}
		remember_plan(a, plan);
	}
	*attach_failed = reconcile_attachments(a, plan);
cleanup:
	return ret;
}

/* Flow records name pods and policies as of the last good policy. */
static void update_flow_meta(struct agent *a)
{
	struct np_flow_meta meta;

	if (!a->flows_on)
		return;
	if (np_flow_meta_build(&meta, &a->objs, &a->compiled)) {
		np_warn("flow logs: out of memory updating pod and policy names; records keep the previous ones");
		return;
	}
	np_flowlog_set_meta(&a->flows, &meta);
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The metrics' low-cardinality name for what asked for a reload. */
static const char *reload_trigger(const char *why)
{
	if (strstr(why, "SIGHUP"))
		return "signal";
	if (strstr(why, "kube") || strstr(why, "API") || strstr(why, "watch event"))
		return "kubernetes";
	return "files";
}

static int reload(struct agent *a, const char *why)
{
	struct np_objects objs;
	struct np_compiled compiled;
	struct np_sync_stats stats;
	struct iface_plan plan = { 0 };
	struct np_error err;
	size_t failed = 0;
	bool have_objs = false, have_compiled = false;
	int ret;

	double t0 = mono_ms();

	np_info("%s: reloading objects from %zu path(s)", why, a->n_paths);
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
	ret = apply(a, &compiled, &stats, &plan, &failed, false);
	if (ret)
		goto cleanup;
	/* Committed: the new objects are the last good policy. */
	np_compiled_free(&a->compiled);
	np_objects_free(&a->objs);
	a->compiled = compiled;
	a->objs = objs;
	have_compiled = have_objs = false;
	np_ids_gc(&a->ids);
	update_flow_meta(a);
	np_info("reloaded: %zu policies, %zu pods (%zu local on %zu interfaces, %zu failed to attach); map changes: endpoints +%zu/-%zu, interfaces +%zu/-%zu, peers +%zu/-%zu, ports +%zu/-%zu",
		a->objs.n_policies, a->objs.n_pods, plan.local_pods, a->n_atts, failed,
		stats.upserts[NP_SYNC_ENDPOINTS], stats.deletes[NP_SYNC_ENDPOINTS],
		stats.upserts[NP_SYNC_IFACES], stats.deletes[NP_SYNC_IFACES],
		stats.upserts[NP_SYNC_PEERS], stats.deletes[NP_SYNC_PEERS],
		stats.upserts[NP_SYNC_PORTS], stats.deletes[NP_SYNC_PORTS]);
cleanup:
	np_ops_reload(reload_trigger(why), ret == 0, (mono_ms() - t0) / 1e3);
	if (ret)
		np_err("reload failed (%s); the last good policy stays in force: fix the objects (they are watched; SIGHUP also reloads)",
		       strerror(-ret));
	plan_free(&plan);
	if (have_compiled)
		np_compiled_free(&compiled);
	if (have_objs)
		np_objects_free(&objs);
	return ret;
}

static int kube_apply(void *ctx, const char *why)
{
	return reload(ctx, why);
}

/* Links or routes changed: re-plan with the objects we have. */
static void netlink_changed(struct agent *a)
{
	struct np_nl_changes ch = { 0 };
	struct np_sync_stats stats;
	struct iface_plan plan = { 0 };
	size_t failed = 0, before = a->n_atts;
	double t0 = mono_ms();
	int ret;

	ret = np_nl_monitor_read(a->nlfd, &ch);
	if (ret) {
		np_warn("reading rtnetlink notifications failed: %s; resyncing", strerror(-ret));
		ch.overflow = true;
	}
	if (!ch.links && !ch.routes && !ch.overflow)
		return;
	if (ch.overflow)
		np_warn("rtnetlink notifications were lost (buffer full); resyncing every interface");
	/* Interfaces that vanished took their qdisc and filters with them. */
	for (size_t i = 0; i < ch.n_gone; i++) {
		for (size_t k = 0; k < a->n_atts; k++) {
			if (a->atts[k].ifindex != ch.gone[i])
				continue;
			np_info("%s (ifindex %d) is gone; forgetting it", a->atts[k].ifname,
				a->atts[k].ifindex);
			np_pin_forget(&a->pin, a->atts[k].ifindex);
			a->atts[k] = a->atts[--a->n_atts];
			break;
		}
	}
	ret = apply(a, &a->compiled, &stats, &plan, &failed, !ch.overflow);
	if (ret)
		np_err("resync after a link/route change failed (%s); retrying on the next change",
		       strerror(-ret));
	else if (a->n_atts != before || stats.upserts[NP_SYNC_IFACES] || stats.deletes[NP_SYNC_IFACES])
		np_info("link/route change applied in %.1f ms: %zu local pods on %zu interfaces (%zu failed to attach)",
			mono_ms() - t0, plan.local_pods, a->n_atts, failed);
	plan_free(&plan);
}

/* ---- watching the objects ------------------------------------------------- */

static bool is_manifest(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static void add_watch(struct agent *a, const char *path, bool parent, const char *name)
{
	const uint32_t mask = IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE |
			      IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
			      IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
	struct watch w = { .parent = parent };
	int wd;

	wd = inotify_add_watch(a->inofd, path, mask);
	if (wd < 0) {
		np_dbg("cannot watch %s: %s", path, strerror(errno));
		return;
	}
	for (size_t i = 0; i < a->n_watches; i++)
		if (a->watches[i].wd == wd && a->watches[i].parent == parent &&
		    strcmp(a->watches[i].name, name) == 0)
			return;
	w.wd = wd;
	snprintf(w.name, sizeof(w.name), "%s", name);
	np_vec_push(&a->watches, &a->n_watches, &a->cap_watches, &w);
}

/* (Re-)establish the watches: each path if it is a directory, and the
 * directory holding it (a file replaced by rename, a directory recreated).
 * Returns how many paths (or their directories) are missing right now. */
static size_t setup_watches(struct agent *a)
{
	size_t missing = 0;

	for (size_t i = 0; i < a->n_paths; i++) {
		char *c1 = strdup(a->paths[i]), *c2 = strdup(a->paths[i]);
		struct stat st;

		if (stat(a->paths[i], &st) < 0)
			missing++;
		if (c1 && c2) {
			if (stat(a->paths[i], &st) == 0 && S_ISDIR(st.st_mode))
				add_watch(a, a->paths[i], false, "");
			add_watch(a, dirname(c1), true, basename(c2));
		}
		free(c1);
		free(c2);
	}
	return missing;
}

/* Drain inotify; true when something we read changed. */
static bool watch_events(struct agent *a)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t len;

	while ((len = read(a->inofd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const void *)p;
			const char *name = ev->len ? ev->name : "";

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				relevant = true;
				continue;
			}
			for (size_t i = 0; i < a->n_watches; i++) {
				const struct watch *w = &a->watches[i];

				if (w->wd != ev->wd)
					continue;
				if (ev->mask & IN_IGNORED) {
					a->watches[i] = a->watches[--a->n_watches];
					break;
				}
				if ((ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF)) ||
				    (w->parent ? strcmp(w->name, name) == 0
					       : (!*name || is_manifest(name))))
					relevant = true;
			}
		}
	}
	return relevant;
}

static void arm_timer(struct agent *a, int ms)
{
	np_timer_arm(&a->loop, &a->watch_timer, (uint64_t)ms);
}

/* The debounce timer fired: reload after edits.  While a watched path is
 * missing (a directory being replaced), look again every second and reload
 * once it is back. */
static void watch_timer(struct agent *a)
{
	size_t missing;

	if (a->reload_pending) {
		a->reload_pending = false;
		reload(a, "objects changed");
		missing = setup_watches(a);
		a->missing_paths = missing > 0;
	} else {
		missing = setup_watches(a);
		if (a->missing_paths && !missing) {
			a->missing_paths = false;
			reload(a, "watched path is back");
		}
	}
	if (missing)
		arm_timer(a, NP_WATCH_MISSING_MS);
}

static void on_signal(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct agent *a = ctx;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		reload(a, "SIGHUP");
		if (a->inofd >= 0 && setup_watches(a))
			arm_timer(a, NP_WATCH_MISSING_MS);
		return;
	}
	np_info("%s: shutting down", strsignal((int)si.ssi_signo));
	np_loop_stop(loop, 0);
}

static void on_inotify(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct agent *a = ctx;

	(void)loop, (void)fd, (void)events;
	if (watch_events(a)) {
		a->reload_pending = true;
		arm_timer(a, NP_WATCH_DEBOUNCE_MS); /* restarts the wait */
	}
}

static void on_watch_timer(struct np_loop *loop, struct np_timer *t, void *ctx)
{
	(void)loop, (void)t;
	watch_timer(ctx);
}

static void on_netlink(struct np_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop, (void)fd, (void)events;
	netlink_changed(ctx);
}

/* Wait for events until SIGTERM/SIGINT: signals, object edits (debounced),
 * link/route changes, flow events (flowlog.h).  Never polls otherwise. */
static int run(struct agent *a)
{
	int ret;

	ret = np_loop_fd_add(&a->loop, a->sigfd, EPOLLIN, on_signal, a);
	if (!ret && a->inofd >= 0)
		ret = np_loop_fd_add(&a->loop, a->inofd, EPOLLIN, on_inotify, a);
	if (!ret)
		ret = np_loop_fd_add(&a->loop, a->nlfd, EPOLLIN, on_netlink, a);
	if (!ret && a->flows_on)
		ret = np_flowlog_start(&a->flows, &a->loop);
	if (ret) {
		np_err("setting up the event loop failed: %s", strerror(-ret));
		goto cleanup;
	}
	ret = np_loop_run(&a->loop);
	if (ret)
		np_err("waiting for events failed: %s", strerror(-ret));
cleanup:
	return ret;
}

/* Load (reusing pinned maps), reconcile the maps with the objects, take
 * over the filters, then pin what is new.  Exit status on failure. */
static int start(struct agent *a, struct iface_plan *plan, size_t *failed)
{
	struct np_sync_stats stats;
	struct np_error err;
	struct np_attachment *recs = NULL;
	size_t n_recs = 0;
	__u32 id_base;
	int r;

	r = np_pin_open(&a->pin, a->pin_path, a->layout);
	if (r)
		return EXIT_FAILURE_RUNTIME;
	a->pin_open = true;
	a->lopts.before_load = np_pin_before_load;
	a->lopts.before_load_ctx = &a->pin;
	r = np_datapath_load(&a->dp, &a->lopts);
	if (r) {
		np_err("loading the datapath failed: %s; run as root on a kernel with BPF and BTF (see the messages above)",
		       strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	a->dp_loaded = true;
	if (a->pin.n_reused)
		np_info("reusing %zu pinned maps under %s (conntrack included)%s", a->pin.n_reused,
			a->pin.dir, a->pin.n_replaced ? "; replacing resized ones" : "");
	else if (a->pin.other_versions)
		np_info("pinned maps of another layout version found under %s: creating layout v%u maps, switching the filters, then removing the old pins",
			a->pin.root, a->layout);
	np_pin_copy_state(&a->pin, a->dp.skel->obj);
	/* Ids above everything the maps hold: a class id never changes
	 * meaning, not even across a restart. */
	id_base = np_pin_max_id(a->dp.skel->obj) + 1;
	a->ids.next = id_base;
	r = np_compile(&a->objs, &a->copts, &a->ids, &a->compiled, &err);
	if (r) {
		np_err("%s", err.msg);
		return EXIT_BAD_INPUT;
	}
	np_ids_gc(&a->ids);
	np_mapsync_open(&a->sync, &a->dp, &a->lopts);
	a->sync_ready = true;
	r = np_mapsync_load_existing(&a->sync);
	if (r) {
		np_err("reading the pinned maps failed: %s", strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	/* What a previous instance attached to: replaced atomically if
	 * still wanted, detached (and its clsact removed if it created it)
	 * if not. */
	r = np_pin_records(&a->pin, &recs, &n_recs);
	for (size_t i = 0; !r && i < n_recs; i++)
		r = np_vec_push(&a->atts, &a->n_atts, &a->cap_atts, &recs[i]);
	free(recs);
	if (r) {
		np_err("reading the attachment records failed: %s", strerror(-r));
		return EXIT_FAILURE_RUNTIME;
	}
	if (n_recs)
		np_info("taking over from a previous instance: %zu interfaces attached", n_recs);
	a->force_reattach = true;
	if (apply(a, &a->compiled, &stats, plan, failed, false)) {
		/* Fresh ids rewrite every set and class, which needs room for
		 * old and new entries at once.  When that does not fit, the
		 * ids the previous instance used (same objects -> same ids)
		 * give a small diff instead; only classes whose rules changed
		 * while no agent ran may then be judged by a mix of old and
		 * new entries for the instant of the update. */
		if (id_base <= 1)
			return EXIT_FAILURE_RUNTIME;
		np_warn("retrying the takeover with the previous instance's ids (smaller diff)");
		plan_free(plan);
		np_compiled_free(&a->compiled);
		np_ids_free(&a->ids);
		np_ids_init(&a->ids);
		r = np_compile(&a->objs, &a->copts, &a->ids, &a->compiled, &err);
		if (r) {
			np_err("%s", err.msg);
			return EXIT_BAD_INPUT;
		}
		if (apply(a, &a->compiled, &stats, plan, failed, false))
			return EXIT_FAILURE_RUNTIME;
	}
	if (np_pin_commit(&a->pin, a->dp.skel->obj))
		return EXIT_FAILURE_RUNTIME;
	return 0;
}

/* Report what a killed predecessor had not (flowrecover.c).  Failing to
 * is logged and costs at most repeated or missing records, never
 * enforcement. */
static void recover_flows(struct agent *a)
{
	struct np_flowlog_recovery rec;
	__u32 max = bpf_map__max_entries(a->dp.skel->maps.np_ct) +
		    bpf_map__max_entries(a->dp.skel->maps.np_flow_deny);
	int fd = np_pin_agent_map(&a->pin, NP_FLOW_MARK_MAP, sizeof(struct np_flow_key),
				  sizeof(struct np_flow_mark), max);

	if (fd >= 0)
		np_flowlog_recover(&a->flows, fd, &rec);
}

/* Health, readiness and metrics, served from the start so that /readyz
 * answers "not ready" while the initial state is loading.  A failure to
 * serve is logged and enforcement goes on: the readiness probe shows it. */
static void start_ops(struct agent *a)
{
	struct np_agent_view v = {
		.objs = &a->objs,
		.compiled = &a->compiled,
		.atts = &a->atts,
		.n_atts = &a->n_atts,
		.plan = &a->last_plan,
		.n_plan = &a->n_last_plan,
		.dp = &a->dp,
		.dp_loaded = &a->dp_loaded,
		.lopts = &a->lopts,
		.flows = &a->flows,
		.flows_on = &a->flows_on,
		.pin_dir = a->pin_path,
		.node_name = a->node_name ? a->node_name : a->hostname,
		.kube = &a->kube.kube,
		.audit = a->lopts.audit_all,
		.strict = a->strict,
	};

	if (np_ops_init(&a->ops, &v)) {
		np_err("setting up metrics failed: out of memory; running without the metrics endpoint");
		return;
	}
	a->ops_on = true;
	if (np_ops_start(&a->ops, &a->loop, a->metrics_addr, a->map_interval_s))
		np_err("the health and metrics endpoint is not served (see above); enforcement goes on, but probes on it will fail");
}

static int uninstall(struct agent *a)
{
	return np_pin_uninstall(a->pin_path) ? EXIT_FAILURE_RUNTIME : 0;
}

int main(int argc, char **argv)
{
	struct agent a = { .sigfd = -1, .inofd = -1, .nlfd = -1 };
	struct iface_plan plan = { 0 };
	size_t failed = 0;
	sigset_t sigs;
	struct np_sink *cw_sink = NULL;
	double t0;
	int ret = EXIT_BAD_INPUT, r;

	a.loop.epfd = -1;
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
	if (a.uninstall) {
		ret = uninstall(&a);
		goto cleanup;
	}
	if (open_sinks(&a)) {
		ret = EXIT_BAD_INPUT;
		goto cleanup;
	}
	r = np_loop_init(&a.loop);
	if (r) {
		np_err("creating the event loop (epoll) failed: %s", strerror(-r));
		ret = EXIT_FAILURE_RUNTIME;
		goto cleanup;
	}
	/* The CloudWatch shipper lives on the loop: made once it exists. */
	if (a.cwo.enabled) {
		a.sinks[a.n_sinks] = np_cwopts_sink(&a.cwo, &a.loop);
		if (!a.sinks[a.n_sinks]) {
			ret = EXIT_BAD_INPUT;
			goto cleanup;
		}
		cw_sink = a.sinks[a.n_sinks];
		a.n_sinks++;
		a.lopts.emit_events = true;
	}
	np_timer_init(&a.watch_timer, on_watch_timer, &a);
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
	if (a.metrics_addr) {
		start_ops(&a);
		np_ops_cw_sink(cw_sink);
	}
	/* Subscribe before the first look at the routing table, so no change
	 * between that look and the main loop is missed. */
	a.nlfd = np_nl_monitor_open();
	if (a.nlfd < 0) {
		np_err("subscribing to rtnetlink link/route changes failed: %s", strerror(-a.nlfd));
		ret = EXIT_FAILURE_RUNTIME;
		goto cleanup;
	}
	if (a.watch_files) {
		a.inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (a.inofd < 0) {
			np_err("setting up the object watch (inotify) failed: %s; --no-watch runs without it",
			       strerror(errno));
			ret = EXIT_FAILURE_RUNTIME;
			goto cleanup;
		}
		setup_watches(&a);
	}
	if (a.use_kube) {
		/* Until the initial lists are in, whatever a previous instance
		 * pinned stays in force, and /readyz says so. */
		np_ops_require(NP_READY_KUBERNETES);
		if (np_kube_sync_start(&a.kube, &a.loop, a.kubeconfig, kube_apply, &a)) {
			ret = EXIT_BAD_INPUT;
			goto cleanup;
		}
		a.kube_running = true;
		r = np_kube_sync_wait(&a.kube, a.sigfd);
		if (r) {
			ret = r > 0 ? 0 : EXIT_FAILURE_RUNTIME;
			goto cleanup;
		}
	}
	if (load_objects(&a, &a.objs)) {
		ret = EXIT_BAD_INPUT;
		goto cleanup;
	}
	t0 = mono_ms();
	ret = start(&a, &plan, &failed);
	np_ops_reload("start", ret == 0, (mono_ms() - t0) / 1e3);
	if (ret)
		goto cleanup;
	if (a.kube_running) {
		np_kube_sync_started(&a.kube);
		np_ops_set_ready(NP_READY_KUBERNETES, true);
	}
	if (a.n_sinks || a.ops_on) {
		if (a.ops_on) {
			a.flow_opts.observe = np_ops_flow_observe;
			a.flow_opts.observe_ctx = &a.ops;
		}
		r = np_flowlog_init(&a.flows, &a.flow_opts, &a.dp, a.sinks, a.n_sinks);
		a.n_sinks = 0; /* the pipeline owns them now */
		if (r) {
			np_err("setting up flow logs failed: %s", strerror(-r));
			ret = EXIT_FAILURE_RUNTIME;
			goto cleanup;
		}
		a.flows_on = true;
		recover_flows(&a);
		update_flow_meta(&a);
	}
	np_info("ready: %zu policies, %zu pods, %zu local pods on %zu interfaces (%zu failed to attach), %zu node addresses, %zu sets, %zu classes, audit=%s, enforcement=%s, pins=%s",
		a.objs.n_policies, a.objs.n_pods, plan.local_pods, a.n_atts, failed,
		a.copts.n_node_addrs, a.compiled.n_sets, a.compiled.n_classes,
		a.lopts.audit_all ? "on" : "off", a.strict ? "strict" : "standard", a.pin.dir);
	np_ops_set_ready(NP_READY_DATAPATH, true);
	r = run(&a);
	ret = r ? EXIT_FAILURE_RUNTIME : 0;
	np_info("stopped; enforcement stays in place (filters on %zu interfaces, maps pinned under %s); remove it with: netpol-agent --uninstall --pin-path %s",
		a.n_atts, a.pin.root, a.pin.root);
cleanup:
	if (a.kube_running)
		np_kube_sync_stop(&a.kube);
	plan_free(&plan);
	if (a.ops_on)
		np_ops_stop_serving(&a.ops); /* the flush below runs the loop */
	if (a.flows_on)
		np_flowlog_close(&a.flows, 5000);
	if (a.ops_on)
		np_ops_free(&a.ops);
	for (size_t i = 0; i < a.n_sinks; i++)
		a.sinks[i]->destroy(a.sinks[i]);
	if (a.sync_ready)
		np_mapsync_free(&a.sync);
	if (a.dp_loaded)
		np_datapath_close(&a.dp);
	if (a.pin_open)
		np_pin_close(&a.pin);
	np_compiled_free(&a.compiled);
	np_ids_free(&a.ids);
	np_objects_free(&a.objs);
	for (size_t i = 0; i < a.n_paths; i++)
		free(a.paths[i]);
	free(a.paths);
	free(a.atts);
	free(a.last_plan);
	np_cwopts_free(&a.cwo);
	free(a.watches);
	if (a.sigfd >= 0)
		close(a.sigfd);
	if (a.inofd >= 0)
		close(a.inofd);
	if (a.nlfd >= 0)
		close(a.nlfd);
	if (a.loop.epfd >= 0)
		np_loop_free(&a.loop);
	return ret;
}
