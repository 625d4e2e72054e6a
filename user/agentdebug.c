// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's /debug endpoints, for netpolctl on the node (agentops.h):
 *   /debug/status   flags, generation, local pods and their isolation,
 *                   attachments, readiness, map usage (?maps=1)
 *   /debug/policy?pod=NS/NAME  the compiled rules enforced for a pod, with
 *                   the source policies' rules
 *   /debug/names    endpoint ids and rule cookies -> names
 * Served only to clients on this host (httpd.h).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentops.h"
#include "agentops_int.h"
#include "kube.h"
#include "mapusage.h"

static int json_reply(json_t *j, struct np_strbuf *b, const char **type, int status)
{
	char *s;

	*type = "application/json";
	if (!j) {
		np_sb_str(b, "{\"error\":\"out of memory\"}\n");
		return 500;
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s) {
		np_sb_str(b, "{\"error\":\"out of memory\"}\n");
		return 500;
	}
	np_sb_str(b, s);
	np_sb_str(b, "\n");
	free(s);
	return status;
}

static json_t *addr_json(const struct np_addr *a)
{
	char s[64];

	return json_string(np_addr_str(a, s, sizeof(s)));
}

static json_t *cidr_json(const struct np_cidr *c)
{
	char s[80];

	return json_string(np_cidr_str(c, s, sizeof(s)));
}

static const struct np_compiled_ep *ep_by_id(const struct np_compiled *c, uint32_t id)
{
	for (size_t i = 0; i < c->n_eps; i++)
		if (c->eps[i].val.ep_id == id)
			return &c->eps[i];
	return NULL;
}

static json_t *isolation_json(const struct np_compiled *c, const struct np_endpoint *val)
{
	json_t *o = json_object();

	for (int d = 0; d < NP_DIR_MAX; d++) {
		const struct np_set *set = np_compiled_set(c, val->set_id[d]);
		json_t *arr = json_array();

		for (size_t j = 0; set && j < set->n_policies; j++)
			json_array_append_new(arr, json_string(set->policies[j]));
		json_object_set_new(o, d == NP_DIR_INGRESS ? "ingress" : "egress",
				    set ? arr : (json_decref(arr), json_null()));
	}
	return o;
}

static json_t *maps_json(const struct np_datapath *dp, bool loaded)
{
	const char *names[16];
	int fds[16];
	size_t n = loaded ? np_ops_dp_maps(dp, names, fds) : 0;
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		struct np_map_usage u;
		json_t *m;

		if (np_map_usage(fds[i], &u))
			continue;
		m = json_pack("{s:s, s:I}", "name", names[i], "capacity", (json_int_t)u.capacity);
		if (u.counted)
			json_object_set_new(m, "entries", json_integer((json_int_t)u.entries));
		json_array_append_new(arr, m);
	}
	return arr;
}

static void invalid_json(void *ctx, const char *object, const char *in_force, const char *why)
{
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:s}", "object", object, "inForce", in_force,
					     "reason", why));
}

int np_ops_h_status(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type)
{
	struct np_ops *o = ctx;
	const struct np_agent_view *v = &o->v;
	json_t *j = json_object(), *pods = json_array(), *atts = json_array(), *ready = json_object();
	__u32 gen = 0;
	bool query_maps = np_httpd_query(req, "maps") && strcmp(np_httpd_query(req, "maps"), "0") != 0;

	for (size_t i = 0; i < *v->n_plan; i++) {
		const struct np_iface_entry *ie = &(*v->plan)[i];
		const struct np_compiled_ep *ep = ep_by_id(v->compiled, ie->val.ep_id);
		json_t *p = json_object(), *addrs = json_array();
		char name[512], ifn[IF_NAMESIZE] = "";

		if (ep && ep->pod) {
			snprintf(name, sizeof(name), "%s/%s", ep->pod->ns, ep->pod->name);
			json_object_set_new(p, "pod", json_string(name));
		}
		json_object_set_new(p, "endpointId", json_integer(ie->val.ep_id));
		for (uint32_t k = 0; k < ie->val.n_addrs && k < 2; k++)
			json_array_append_new(addrs, addr_json(&ie->val.addrs[k]));
		json_object_set_new(p, "addresses", addrs);
		json_object_set_new(p, "ifindex", json_integer(ie->ifindex));
		if (if_indextoname(ie->ifindex, ifn))
			json_object_set_new(p, "interface", json_string(ifn));
		if (ep)
			json_object_set_new(p, "isolatedBy", isolation_json(v->compiled, &ep->val));
		json_array_append_new(pods, p);
	}
	for (size_t i = 0; i < *v->n_atts; i++) {
		const struct np_attachment *a = &(*v->atts)[i];

		json_array_append_new(atts, json_pack("{s:i, s:s, s:b, s:b}", "ifindex", a->ifindex,
						      "interface", a->ifname, "ingressHook",
						      a->ingress_hook, "egressHook", a->egress_hook));
	}
	for (int c = 0; c < NP_READY_MAX; c++)
		if (o->required[c])
			json_object_set_new(ready, np_ops_ready_names[c], json_boolean(o->ok[c]));
	if (*v->dp_loaded)
		np_datapath_gen((struct np_datapath *)v->dp, &gen);
	json_object_set_new(j, "node", json_string(v->node_name ? v->node_name : ""));
	json_object_set_new(j, "healthy", json_true());
	json_object_set_new(j, "ready", json_boolean(np_ops_ready()));
	json_object_set_new(j, "readiness", ready);
	{
		json_t *inv = json_array();

		if (v->kube && *v->kube)
			np_kubecache_invalid(np_kube_cache(*v->kube), invalid_json, inv);
		json_object_set_new(j, "invalidObjects", inv);
	}
	json_object_set_new(j, "uptimeSeconds", json_integer((json_int_t)((np_now_ms() - o->started_ms) / 1000)));
	json_object_set_new(j, "pinPath", json_string(v->pin_dir ? v->pin_dir : ""));
	json_object_set_new(j, "audit", json_boolean(v->audit));
	json_object_set_new(j, "enforcement", json_string(v->strict ? "strict" : "standard"));
	json_object_set_new(j, "flowEvents", json_boolean(*v->flows_on));
	json_object_set_new(j, "generation", json_integer(gen));
	json_object_set_new(j, "policies", json_integer((json_int_t)v->objs->n_policies));
	json_object_set_new(j, "pods", json_integer((json_int_t)v->objs->n_pods));
	json_object_set_new(j, "reloads", json_integer((json_int_t)o->n_reloads));
	json_object_set_new(j, "lastRecomputeSeconds", json_real(np_metric_get(o->m_recompute_last, NULL)));
	if (v->lopts) {
		const struct np_load_opts *l = v->lopts;

		/* For netpolctl explain when it may not read the running
		 * programs' .rodata (no CAP_SYS_ADMIN for map ids). */
		json_object_set_new(j, "datapathConfig",
				    json_pack("{s:b, s:b, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
					      "auditAll", l->audit_all, "denyUnknown", l->deny_unknown,
					      "emitEvents", l->emit_events, "flowLog", (int)l->flow_log,
					      "flowIntervalS", (int)l->flow_interval_s,
					      "denyEventsPerS", (int)l->deny_events_per_s,
					      "tcpSynS", (int)l->to_tcp_syn_s, "tcpEstS", (int)l->to_tcp_est_s,
					      "tcpCloseS", (int)l->to_tcp_close_s, "otherS", (int)l->to_other_s,
					      "icmpS", (int)l->to_icmp_s, "denyS", (int)l->to_deny_s));
	}
	json_object_set_new(j, "localPods", pods);
	json_object_set_new(j, "attached", atts);
	if (query_maps)
		json_object_set_new(j, "maps", maps_json(v->dp, *v->dp_loaded));
	return json_reply(j, b, type, 200);
}

/* ---- /debug/policy ---- */

static json_t *peer_rule_json(const struct np_policy *pol, enum np_dir dir, uint32_t idx)
{
	const struct np_rule *r = idx < pol->n_rules[dir] ? &pol->rules[dir][idx] : NULL;
	json_t *j = json_object(), *peers = json_array(), *ports = json_array();

	if (!r)
		return j;
	for (size_t i = 0; i < r->n_peers; i++) {
		const struct np_peer *p = &r->peers[i];
		json_t *pj = json_object();

		if (p->has_ip_block) {
			json_t *ex = json_array();

			for (size_t k = 0; k < p->n_except; k++)
				json_array_append_new(ex, cidr_json(&p->except[k]));
			json_object_set_new(pj, "ipBlock", json_pack("{s:o, s:o}", "cidr",
								     cidr_json(&p->cidr), "except", ex));
		}
		for (int s = 0; s < 2; s++) {
			const struct np_selector *sel = s ? &p->ns_sel : &p->pod_sel;
			json_t *labels = json_object(), *exprs = json_array();

			if (!(s ? p->has_ns_sel : p->has_pod_sel))
				continue;
			for (size_t k = 0; k < sel->match_labels.n; k++)
				json_object_set_new(labels, sel->match_labels.items[k].key,
						    json_string(sel->match_labels.items[k].value));
			for (size_t k = 0; k < sel->n_exprs; k++) {
				static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
				json_t *vals = json_array();

				for (size_t m = 0; m < sel->exprs[k].n_values; m++)
					json_array_append_new(vals, json_string(sel->exprs[k].values[m]));
				json_array_append_new(exprs, json_pack("{s:s, s:s, s:o}", "key",
								       sel->exprs[k].key, "operator",
								       ops[sel->exprs[k].op], "values", vals));
			}
			json_object_set_new(pj, s ? "namespaceSelector" : "podSelector",
					    json_pack("{s:o, s:o}", "matchLabels", labels,
						      "matchExpressions", exprs));
		}
		json_array_append_new(peers, pj);
	}
	for (size_t i = 0; i < r->n_ports; i++) {
		const struct np_port_spec *ps = &r->ports[i];
		json_t *pj = json_pack("{s:s}", "protocol", np_proto_name(ps->proto));

		if (ps->name)
			json_object_set_new(pj, "port", json_string(ps->name));
		else if (ps->has_port)
			json_object_set_new(pj, "port", json_integer(ps->port));
		if (ps->has_port && !ps->name && ps->end_port != ps->port)
			json_object_set_new(pj, "endPort", json_integer(ps->end_port));
		json_array_append_new(ports, pj);
	}
	json_object_set_new(j, dir == NP_DIR_INGRESS ? "from" : "to", peers);
	json_object_set_new(j, "ports", ports);
	return j;
}

static const struct np_policy *find_policy(const struct np_objects *objs, const char *ns,
					   const char *name)
{
	for (size_t i = 0; i < objs->n_policies; i++)
		if (strcmp(objs->policies[i].ns, ns) == 0 && strcmp(objs->policies[i].name, name) == 0)
			return &objs->policies[i];
	return NULL;
}

static json_t *port_entry_json(const struct np_port_entry *e, const struct np_compiled *c,
			       const struct np_objects *objs, json_t *rules_seen)
{
	const struct np_rule_ref *r = np_compiled_rule(c, e->cookie);
	json_t *j = json_object();
	char rule[64], key[600];

	if (e->plen <= NP_PORT_KEY_BITS_CLASS) {
		json_object_set_new(j, "protocol", json_string("any"));
		json_object_set_new(j, "ports", json_string("all"));
	} else {
		json_object_set_new(j, "protocol", json_string(np_proto_name(e->proto)));
		if (e->plen == NP_PORT_KEY_BITS_PROTO) {
			json_object_set_new(j, "ports", json_string("all"));
		} else {
			unsigned int span = 1u << (NP_PORT_KEY_BITS_FULL - e->plen);
			char p[32];

			if (span == 1)
				snprintf(p, sizeof(p), "%u", e->port);
			else
				snprintf(p, sizeof(p), "%u-%u", e->port, e->port + span - 1);
			json_object_set_new(j, "ports", json_string(p));
		}
	}
	if (r) {
		snprintf(rule, sizeof(rule), "%s[%u]", r->dir == NP_DIR_INGRESS ? "ingress" : "egress",
			 r->index);
		snprintf(key, sizeof(key), "%s/%s %s", r->ns, r->name, rule);
		json_object_set_new(j, "policy", json_pack("s++", r->ns, "/", r->name));
		json_object_set_new(j, "rule", json_string(rule));
		if (r->audit)
			json_object_set_new(j, "audit", json_true());
		if (!json_object_get(rules_seen, key)) {
			const struct np_policy *pol = find_policy(objs, r->ns, r->name);
			json_t *src = pol ? peer_rule_json(pol, r->dir, r->index) : json_object();

			if (pol && pol->source)
				json_object_set_new(src, "source", json_string(pol->source));
			json_object_set_new(rules_seen, key, src);
		}
	}
	json_object_set_new(j, "cookie", json_integer(e->cookie));
	return j;
}

static const struct np_class *find_class(const struct np_compiled *c, uint32_t id)
{
	for (size_t i = 0; i < c->n_classes; i++)
		if (c->classes[i].id == id)
			return &c->classes[i];
	return NULL;
}

int np_ops_h_policy(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type)
{
	struct np_ops *o = ctx;
	const struct np_agent_view *v = &o->v;
	const char *arg = np_httpd_query(req, "pod"), *slash;
	const struct np_pod *pod = NULL;
	json_t *j, *rules_seen, *addrs;
	char ns[254];

	if (!arg || !(slash = strchr(arg, '/')) || slash == arg ||
	    (size_t)(slash - arg) >= sizeof(ns))
		return json_reply(json_pack("{s:s}", "error", "give ?pod=NAMESPACE/NAME"), b, type, 400);
	memcpy(ns, arg, (size_t)(slash - arg));
	ns[slash - arg] = '\0';
	pod = np_objects_pod(v->objs, ns, slash + 1);
	if (!pod)
		return json_reply(json_pack("{s:s, s:s}", "error", "no such pod in the agent's objects",
					    "pod", arg), b, type, 404);
	j = json_pack("{s:s}", "pod", arg);
	rules_seen = json_object();
	addrs = json_array();
	json_object_set_new(j, "hostNetwork", json_boolean(pod->host_network));
	for (size_t i = 0; i < v->compiled->n_eps; i++) {
		const struct np_compiled_ep *ep = &v->compiled->eps[i];
		bool local = false;

		if (ep->pod != pod)
			continue;
		for (size_t k = 0; k < *v->n_plan; k++)
			if ((*v->plan)[k].val.ep_id == ep->val.ep_id)
				local = true;
		json_array_append_new(addrs, addr_json(&ep->addr));
		json_object_set_new(j, "endpointId", json_integer(ep->val.ep_id));
		json_object_set_new(j, "local", json_boolean(local));
		for (int d = 0; d < NP_DIR_MAX; d++) {
			const char *dn = d == NP_DIR_INGRESS ? "ingress" : "egress";
			const struct np_set *set = np_compiled_set(v->compiled, ep->val.set_id[d]);
			json_t *dj, *pols, *peers;

			if (json_object_get(j, dn))
				continue; /* the other address family has the same set */
			if (!set) {
				json_object_set_new(j, dn, json_pack("{s:b}", "isolated", 0));
				continue;
			}
			pols = json_array();
			for (size_t k = 0; k < set->n_policies; k++)
				json_array_append_new(pols, json_string(set->policies[k]));
			peers = json_array();
			for (size_t k = 0; k < set->n_peers; k++) {
				const struct np_peer_entry *pe = &set->peers[k];
				const struct np_class *cl = find_class(v->compiled, pe->class_id);
				json_t *pj = json_pack("{s:o}", "peer", cidr_json(&pe->prefix));
				json_t *ports = json_array();

				for (size_t m = 0; cl && m < cl->n; m++)
					json_array_append_new(ports, port_entry_json(&cl->entries[m],
										     v->compiled, v->objs,
										     rules_seen));
				json_object_set_new(pj, "allow", ports);
				json_array_append_new(peers, pj);
			}
			dj = json_pack("{s:b, s:I, s:b, s:o, s:o}", "isolated", 1, "set", (json_int_t)set->id,
				       "audit", set->audit, "isolatedBy", pols, "peers", peers);
			json_object_set_new(j, dn, dj);
		}
	}
	json_object_set_new(j, "addresses", addrs);
	json_object_set_new(j, "rules", rules_seen);
	return json_reply(j, b, type, 200);
}

int np_ops_h_names(void *ctx, const struct np_httpd_req *req, struct np_strbuf *b, const char **type)
{
	struct np_ops *o = ctx;
	const struct np_compiled *c = o->v.compiled;
	json_t *eps = json_object(), *rules = json_object();
	const void *k;
	void *val;
	char key[16];

	(void)req;
	for (size_t i = 0; i < c->n_eps; i++) {
		char name[512];
		json_t *e;

		if (!c->eps[i].pod)
			continue;
		snprintf(key, sizeof(key), "%u", c->eps[i].val.ep_id);
		e = json_object_get(eps, key);
		if (!e) {
			snprintf(name, sizeof(name), "%s/%s", c->eps[i].pod->ns, c->eps[i].pod->name);
			e = json_pack("{s:s, s:[]}", "pod", name, "addresses");
			json_object_set_new(eps, key, e);
		}
		json_array_append_new(json_object_get(e, "addresses"), addr_json(&c->eps[i].addr));
	}
	for (size_t it = 0; np_hashmap_next(&c->rules, &it, &k, &val);) {
		const struct np_rule_ref *r = val;
		char rule[64];

		snprintf(key, sizeof(key), "%u", *(const uint32_t *)k);
		snprintf(rule, sizeof(rule), "%s[%u]", r->dir == NP_DIR_INGRESS ? "ingress" : "egress",
			 r->index);
		json_object_set_new(rules, key, json_pack("{s:s++, s:s, s:b}", "policy", r->ns, "/",
							  r->name, "rule", rule, "audit", r->audit));
	}
	return json_reply(json_pack("{s:o, s:o}", "endpoints", eps, "rules", rules), b, type, 200);
}
