#!/usr/bin/env bash
# Operations end to end: the real agent in network namespaces with its
# health/metrics endpoint, and every netpolctl command that talks to a
# running agent; then the DaemonSet's capability set, the manifests
# (tests/ops/manifests.sh) and the Dockerfile's build steps
# (tests/ops/dockerfile.sh).  Usage: tests/ops/run.sh BUILD_DIR (as root;
# `make test-ops`).
#
# Topology (namespaces ops-e2e-*): node 10.0.0.1; pod relay/relay-0
# 10.244.1.10 (TCP 443, 80) isolated by policies/relay-allow-aks.yaml; "AKS"
# client 10.250.0.5 (inside the allowed CIDRs, not a pod); pod
# other/client-0 10.244.2.20; a fake Kubernetes API server (tests/kube) for the
# readiness checks.  HTTP is spoken with bash's /dev/tcp (no curl
# needed) on loopback ports 17610-17619 inside the node namespace.
# Output: "ok - ..." / "not ok - ..." per check, then "ops: N passed, M failed".
# shellcheck disable=SC2317,SC2016,SC2054,SC2034
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
NPCTL=$BUILD/netpolctl
PIN=/sys/fs/bpf/netpol-ops-e2e
NP_PREFIX=ops-e2e
PORT=17610
CAPS=bpf,net_admin,perfmon

# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

PASS=0
FAIL=0
TMP=
AGENT_PID=
LISTENER_PIDS=()

cleanup() {
	local p
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	[ -n "${FAKE_PID:-}" ] && kube_stop
	for p in "${LISTENER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LISTENER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -e "/run/netns/$NODE_NS" ] && agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	local out
	if [ "$FAIL" -gt 0 ] && [ -n "$TMP" ]; then
		echo "# agent log (last 20 lines):"
		tail -n 20 "$TMP/agent.log" 2>/dev/null | sed 's/^/#   /'
	fi
	for part in manifests dockerfile; do
		out=$("$HERE/$part.sh" "$BUILD" 2>&1)
		echo "$out" | grep -v "^$part: "
		PASS=$((PASS + $(echo "$out" | grep -c '^ok - ')))
		FAIL=$((FAIL + $(echo "$out" | grep -c '^not ok - ')))
	done
	echo "ops: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

# caps_wrap: the command prefix that runs a program in the node namespace
# with exactly the capabilities in $CAPS (root uid, as in the DaemonSet's
# pod); nsenter and setpriv exec, so $! is the program itself.
caps_wrap() {
	local c="+${CAPS//,/,+}"
	WRAP=(nsenter --net="/run/netns/$NODE_NS" setpriv --inh-caps=-all,"$c" --ambient-caps=-all,"$c"
		--bounding-set=-all,"$c")
}
in_node_caps() { caps_wrap; "${WRAP[@]}" "$@"; }

# start_agent [options]: the agent, metrics on 127.0.0.1:$PORT unless given.
start_agent() {
	WRAP=(nsenter --net="/run/netns/$NODE_NS")
	if [ "${1:-}" = --caps ]; then
		shift
		caps_wrap
	fi
	: >"$TMP/agent.log"
	"${WRAP[@]}" "$AGENT" --objects "$TMP/objects" --node-ip 10.0.0.1 \
		--pin-path "$PIN" --node-name node-1 --flow-interval 1 --metrics-map-interval 1 \
		"$@" >"$TMP/stdout.log" 2>>"$TMP/agent.log" &
	AGENT_PID=$!
	wait_for_log "$TMP/agent.log" 'msg="ready' 100
}
stop_agent() { stop_pid "$AGENT_PID" TERM; AGENT_PID=; }

# http [--from POD] METHOD HOST PORT PATH: the whole response (status line,
# headers, body) on stdout, spoken with bash's /dev/tcp.
http() {
	local ns=$NODE_NS
	if [ "$1" = --from ]; then ns=$NP_PREFIX-$2; shift 2; fi
	nsenter --net="/run/netns/$ns" timeout 5 bash -c \
		'exec 3<>"/dev/tcp/$2/$3" || exit 1; printf "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" "$1" "$4" >&3; cat <&3' \
		_ "$@" | tr -d '\r'
}
get() { http GET 127.0.0.1 "$PORT" "$1"; }
status_of() { head -n 1 | awk '{print $2}'; }
body_of() { sed '1,/^$/d'; }
# metric NAME_AND_LABELS: the value of one series (0 when absent).
metric() {
	get /metrics | body_of | awk -v k="$1" 'index($0, k " ") == 1 {v = $NF} END {print v + 0}'
}
# wait_metric_gt SERIES VALUE [TIMEOUT_DS]: the series grows above VALUE.
wait_metric_gt() {
	local i n=${3:-60}
	for ((i = 0; i < n; i++)); do
		awk -v a="$(metric "$1")" -v b="$2" 'BEGIN {exit !(a > b)}' && return 0
		sleep 0.1
	done
	return 1
}
ctl() { nsenter --net="/run/netns/$NODE_NS" "$NPCTL" "$@" --pin-path "$PIN" --agent "http://127.0.0.1:$PORT"; }
contains() { grep -q -- "$2" <<<"$1"; }
jqc() { jq -e "$@" >/dev/null; }

for b in "$AGENT" "$NPCONN" "$NPCTL"; do
	if [ ! -x "$b" ]; then
		echo "tests/ops/run.sh: $b is missing; build it with: make" >&2
		exit 2
	fi
done
if [ "$(id -u)" -ne 0 ] || ! command -v jq >/dev/null || ! command -v setpriv >/dev/null; then
	echo "tests/ops/run.sh: needs root, jq and setpriv (make deps)" >&2
	exit 2
fi

net_cleanup
TMP=$(mktemp -d /tmp/np-ops.XXXXXX)
mkdir -p "$TMP/objects"
net_setup_node
in_node ip addr add 10.0.0.1/32 dev lo
net_add_pod relay 10.244.1.10
net_add_pod aks 10.250.0.5
net_add_pod other 10.244.2.20
start_listener relay 443
start_listener relay 80
wait_for_count "$TMP/listen-relay.log" "listening tcp" 2 50
objects_cluster "$TMP/objects"
cp "$ROOT/policies/relay-allow-aks.yaml" "$TMP/objects/"
agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1

# ---- flags ----
out=$(agent_ns --objects "$TMP/objects" --pin-path "$PIN" --metrics-address 127.0.0.1 2>&1)
rc=$?
check "--metrics-address without a port: exit 2, the message names the flag" \
	test "$rc" -eq 2 -a -n "$(grep -- '--metrics-address' <<<"$out")"
out=$(agent_ns --objects "$TMP/objects" --pin-path "$PIN" --metrics-map-interval 0 2>&1)
check "--metrics-map-interval 0: exit 2" test $? -eq 2
out=$(NETPOL_METRICS_ADDRESS=nohost:1 agent_ns --objects "$TMP/objects" --pin-path "$PIN" 2>&1)
check "NETPOL_METRICS_ADDRESS is read (a bad one is refused with exit 2)" \
	test $? -eq 2 -a -n "$(grep NETPOL_METRICS_ADDRESS <<<"$out")"

# ---- readiness with the Kubernetes source: not ready until the initial
# lists are applied (the API server is started only after the agent) ----
KUBE_DIR=$TMP/kube KUBE_NETNS=$NODE_NS KUBE_PORT=$((PORT + 2)) KUBE_CTL_PORT=$((PORT + 3))
mkdir -p "$KUBE_DIR"
# shellcheck source=tests/kube/lib.sh
. "$ROOT/tests/kube/lib.sh"
if ! command -v python3 >/dev/null || ! command -v openssl >/dev/null || ! command -v curl >/dev/null ||
	! kube_certs; then
	not_ok "the Kubernetes readiness checks need python3, openssl and curl (make deps)"
else
	kube_config tok-ops
	: >"$TMP/agent.log"
	NETPOL_KUBE_BACKOFF_MAX_MS=400 nsenter --net="/run/netns/$NODE_NS" "$AGENT" \
		--kubeconfig "$KUBE_DIR/kubeconfig" --node-name node-1 --node-ip 10.0.0.1 \
		--pin-path "$PIN" --flow-interval 1 --metrics-address "127.0.0.1:$PORT" \
		>/dev/null 2>>"$TMP/agent.log" &
	AGENT_PID=$!
	wait_for_log "$TMP/agent.log" 'retrying in' 50
	r=$(get /readyz)
	check "kube: /readyz 503 before the initial lists (API server not there yet)" \
		test "$(status_of <<<"$r")" = 503 -a "$(body_of <<<"$r")" = "not ready: waiting for datapath, kubernetes"
	check "kube: /healthz 200 while waiting (the loop turns)" test "$(get /healthz | status_of)" = 200
	check "kube: list errors counted while the API is down" \
		wait_metric_gt 'netpol_kube_watch_errors_total{resource="pods",kind="connect"}' 0 30
	if kube_start tok-ops; then
		{
			printf '{"kind":"List","items":['
			printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"relay"}},'
			printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"other"}},'
			printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"relay-0","namespace":"relay","labels":{"app":"relay"}},"spec":{"nodeName":"node-1","containers":[{"name":"relay","image":"x"}]},"status":{"phase":"Running","podIP":"10.244.1.10","podIPs":[{"ip":"10.244.1.10"}]}},'
			printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"client-0","namespace":"other","labels":{"app":"client"}},"spec":{"nodeName":"node-1","containers":[{"name":"c","image":"x"}]},"status":{"phase":"Running","podIP":"10.244.2.20","podIPs":[{"ip":"10.244.2.20"}]}},'
			"$BUILD/tests/yaml2json" <"$ROOT/policies/relay-allow-aks.yaml"
			printf ']}'
		} | kube_apply
		for ((i = 0; i < 100; i++)); do
			[ "$(get /readyz | status_of)" = 200 ] && break
			sleep 0.1
		done
		check "kube: /readyz 200 once the initial lists are applied" test "$(get /readyz | status_of)" = 200
		check "kube: /debug/status readiness datapath and kubernetes" \
			jqc '.readiness == {"datapath": true, "kubernetes": true} and .policies == 1' <<<"$(get /debug/status | body_of)"
		check "kube: the API's policy is enforced: aks -> relay:443 connects" allowed aks 10.244.1.10 443
		check "kube: other -> relay:443 is dropped" denied other 10.244.1.10 443
		printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"late"}}' | kube_apply
		check "kube: watch events counted (a namespace added after the lists)" \
			wait_metric_gt 'netpol_kube_watch_events_total{resource="namespaces",type="ADDED"}' 0 50
		check "kube: the start's recompute counted" test "$(metric 'netpol_policy_reloads_total{trigger="start",result="ok"}')" = 1
		e0=$(metric 'netpol_kube_watch_reconnects_total{resource="pods"}')
		kube_stop
		check "kube: API down: watch reconnects counted" \
			wait_metric_gt 'netpol_kube_watch_reconnects_total{resource="pods"}' "$e0" 50
		check "kube: API down: still ready (the last state stays in force)" test "$(get /readyz | status_of)" = 200
	else
		not_ok "kube: the fake API server started"
	fi
	stop_agent
fi

# ---- endpoints ----
if ! start_agent --metrics-address "127.0.0.1:$PORT"; then
	not_ok "agent started with --metrics-address 127.0.0.1:$PORT"
	finish
fi
r=$(get /healthz)
check "/healthz: 200 ok" test "$(status_of <<<"$r")" = 200 -a "$(body_of <<<"$r")" = ok
# The probe waits as long as the DaemonSet's livenessProbe does (a starved
# server answers none: the flood never lets the old one go).
PROBE_TIMEOUT=$(awk '/livenessProbe:/ { l = 1 } l && /timeoutSeconds:/ { print $2; exit }' "$ROOT/deploy/base/daemonset.yaml")
# Three floods at once, 300 connections from the probe's own address (a
# hostNetwork pod shares the node's IP with kubelet): the churn of evicted
# and reconnecting clients once filled every slot and got a probe refused.
sl_pids=()
for i in 1 2 3; do
	in_node python3 "$HERE/slowloris.py" 127.0.0.1 "$PORT" 100 12 "${PROBE_TIMEOUT:-1}" >"$TMP/slowloris.$i" 2>&1 &
	sl_pids+=($!)
done
sl_rc=0
for p in "${sl_pids[@]}"; do
	wait "$p" || sl_rc=1
done
out=$(cat "$TMP"/slowloris.[123] | paste -sd ';' -)
check "3 x 100 slow clients trickling bytes for 12 s: every liveness probe answered within the DaemonSet's ${PROBE_TIMEOUT:-1} s timeout ($out)" \
	test "$sl_rc" -eq 0
r=$(get /readyz)
check "/readyz: 200 ready once policies are applied and programs attached" \
	test "$(status_of <<<"$r")" = 200 -a "$(body_of <<<"$r")" = ready
r=$(get /metrics)
check "/metrics: 200, Prometheus text format 0.0.4" \
	grep -qi '^content-type: text/plain; version=0.0.4' <<<"$r"
m=$(body_of <<<"$r")
bad=$(grep -v '^#' <<<"$m" | grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$|^$' | head -3)
check "/metrics: every sample line is well-formed${bad:+: $bad}" test -z "$bad"
fams=$(grep -c '^# TYPE ' <<<"$m")
helps=$(grep -c '^# HELP ' <<<"$m")
check "/metrics: every family has HELP and TYPE ($fams families)" test "$fams" -ge 25 -a "$fams" -eq "$helps"
check "/metrics: netpol_ready 1, 1 policy, 3 pods, 2 local pods on 2 interfaces" \
	test "$(metric netpol_ready)" = 1 -a "$(metric netpol_policies)" = 1 -a "$(metric netpol_pods)" = 3 \
	-a "$(metric netpol_local_pods)" = 2 -a "$(metric netpol_attached_interfaces)" = 2
check "/metrics: capacity of every map (np_ct 524288, np_peers 1048576)" \
	test "$(metric 'netpol_map_capacity{map="np_ct"}')" = 524288 -a "$(metric 'netpol_map_capacity{map="np_peers"}')" = 1048576
check "/metrics: map entries (np_endpoints 5 = 3 pods, IPv4 + 2 IPv6; np_ifaces 2)" \
	test "$(metric 'netpol_map_entries{map="np_endpoints"}')" = 5 -a "$(metric 'netpol_map_entries{map="np_ifaces"}')" = 2
check "/metrics: the start's recompute is counted and timed" \
	test "$(metric 'netpol_policy_reloads_total{trigger="start",result="ok"}')" = 1 -a \
	"$(awk -v v="$(metric netpol_policy_recompute_last_seconds)" 'BEGIN {print (v > 0 && v < 30)}')" = 1
check "/metrics: the Kubernetes and CloudWatch families are declared" \
	test "$(grep -c -E '^# TYPE netpol_(kube_watch_reconnects_total|kube_watch_errors_total|cloudwatch_requests_total|cloudwatch_retries_total|cloudwatch_spool_bytes|cloudwatch_dropped_records_total|aws_credential_refreshes_total) ' <<<"$m")" -eq 7
check "unknown path: 404" test "$(get /nope | status_of)" = 404
check "POST /metrics: 405" test "$(http POST 127.0.0.1 "$PORT" /metrics | status_of)" = 405

# ---- metrics move with traffic ----
ACC='netpol_packets_total{direction="ingress",action="ACCEPT",policy="relay/relay-allow-aks"}'
REJ='netpol_packets_total{direction="ingress",action="REJECT",policy="relay/relay-allow-aks"}'
FLO='netpol_flows_total{direction="ingress",action="ACCEPT",policy="relay/relay-allow-aks"}'
BYT='netpol_bytes_total{direction="ingress",action="ACCEPT",policy="relay/relay-allow-aks"}'
a0=$(metric "$ACC") r0=$(metric "$REJ") f0=$(metric "$FLO") b0=$(metric "$BYT")
check "aks -> relay:443 connects" allowed aks 10.244.1.10 443
check "aks -> relay:443 again" allowed aks 10.244.1.10 443
check "other -> relay:443 is dropped" denied other 10.244.1.10 443
check "accepted packets to relay by relay/relay-allow-aks grow (>= 16 more: 2 connections)" \
	wait_metric_gt "$ACC" "$((a0 + 15))" 60
check "accepted bytes grow too, and 2 more accepted flows" \
	test "$(metric "$BYT")" -gt "$((b0 + 600))" -a "$(metric "$FLO")" -eq "$((f0 + 2))"
check "rejected packets to relay by relay/relay-allow-aks grow" wait_metric_gt "$REJ" "$r0" 30
check "np_ct entries counted (>= 2 connections tracked)" wait_metric_gt 'netpol_map_entries{map="np_ct"}' 1 30
check "no flow events lost" test "$(metric netpol_flow_events_lost_total)" = 0

# ---- reloads ----
sed 's/port: 443/port: 8443/' "$ROOT/policies/relay-allow-aks.yaml" >"$TMP/objects/relay-allow-aks.yaml.tmp"
mv "$TMP/objects/relay-allow-aks.yaml.tmp" "$TMP/objects/relay-allow-aks.yaml"
check "a policy edit is a counted reload (trigger files, ok)" \
	wait_metric_gt 'netpol_policy_reloads_total{trigger="files",result="ok"}' 0 50
sed 's/port: 443/port: 99999/' "$ROOT/policies/relay-allow-aks.yaml" >"$TMP/objects/relay-allow-aks.yaml.tmp"
mv "$TMP/objects/relay-allow-aks.yaml.tmp" "$TMP/objects/relay-allow-aks.yaml"
check "an invalid edit is a counted failed reload" \
	wait_metric_gt 'netpol_policy_reloads_total{trigger="files",result="error"}' 0 50
check "... and the agent stays ready (the last good policy is in force)" test "$(get /readyz | status_of)" = 200
cp "$ROOT/policies/relay-allow-aks.yaml" "$TMP/objects/relay-allow-aks.yaml.tmp"
mv "$TMP/objects/relay-allow-aks.yaml.tmp" "$TMP/objects/relay-allow-aks.yaml"
wait_for_count "$TMP/agent.log" 'msg="reloaded' 2 50
check "policy generation in the metrics follows the maps (>= 3 after two good reloads)" \
	test "$(metric netpol_policy_generation)" -ge 3

# ---- netpolctl status ----
out=$(ctl status)
rc=$?
check "netpolctl status: exit 0 (agent ready)" test "$rc" -eq 0
check "netpolctl status: healthy, ready, node-1" contains "$out" "agent:       healthy, ready (ready), node node-1"
check "netpolctl status: relay/relay-0 on np-relay isolated for ingress by relay/relay-allow-aks, egress open" \
	grep -Eq 'relay/relay-0 +10\.244\.1\.10 +np-relay +isolated by relay/relay-allow-aks +open' <<<"$out"
check "netpolctl status: other/client-0 open both ways" grep -Eq 'other/client-0 +10\.244\.2\.20 +np-other +open +open' <<<"$out"
js=$(ctl status --output json)
check "netpolctl status --output json: 2 attached interfaces, 2 local pods, generation = the metric's, np_ct capacity" \
	jqc --argjson g "$(metric netpol_policy_generation)" \
	'(.attached | length) == 2 and (.localPods | length) == 2 and .generation == $g and any(.maps[]; .name == "np_ct" and .capacity == 524288) and .agent.ready == true' <<<"$js"
out=$(nsenter --net="/run/netns/$NODE_NS" "$NPCTL" status --pin-path "$PIN" --agent "http://127.0.0.1:$((PORT + 9))")
rc=$?
check "netpolctl status with the agent unreachable: exit 1, UNREACHABLE, still lists the pinned datapath" \
	test "$rc" -eq 1 -a -n "$(grep UNREACHABLE <<<"$out")" -a -n "$(grep -E 'np-relay +isolated' <<<"$out")"

# ---- netpolctl policy ----
out=$(ctl policy relay/relay-0)
check "netpolctl policy relay/relay-0: exit 0" test $? -eq 0
check "netpolctl policy: ingress isolated by relay/relay-allow-aks" contains "$out" "ingress: isolated by relay/relay-allow-aks"
check "netpolctl policy: 10.250.0.0/16 and 10.251.0.0/16 TCP 443 by ingress[0]" \
	test "$(grep -cE '10\.25[01]\.0\.0/16 +TCP +443 +relay/relay-allow-aks ingress\[0\]' <<<"$out")" -eq 2
check "netpolctl policy: the source rule and its file" \
	grep -q "relay/relay-allow-aks ingress\[0\]  from $TMP/objects/relay-allow-aks.yaml" <<<"$out"
check "netpolctl policy: egress not isolated" contains "$out" "egress: not isolated"
check "netpolctl policy --output json" \
	jqc '.local == true and .ingress.isolatedBy == ["relay/relay-allow-aks"] and (.ingress.peers | length) == 2 and .rules["relay/relay-allow-aks ingress[0]"].ports == [{"protocol":"TCP","port":443}]' \
	<<<"$(ctl policy relay/relay-0 --output json)"
ctl policy relay/nope >/dev/null 2>"$TMP/err"
check "netpolctl policy of an unknown pod: exit 1, says so" test $? -eq 1 -a -n "$(grep 'no such pod' "$TMP/err")"
ctl policy justaname >/dev/null 2>&1
check "netpolctl policy without NAMESPACE/: exit 2" test $? -eq 2

# ---- netpolctl explain (and agreement with real connections) ----
out=$(ctl explain --from 10.250.0.5 --to relay/relay-0 --port 443)
check "explain aks -> relay:443: ALLOW (exit 0) by relay/relay-allow-aks ingress[0], egress not judged here" \
	test $? -eq 0 -a -n "$(grep 'ingress  ALLOW at relay/relay-0 (np-relay).*relay/relay-allow-aks ingress\[0\]' <<<"$out")" \
	-a -n "$(grep 'egress   not judged here' <<<"$out")"
out=$(ctl explain --from other/client-0 --to relay/relay-0 --port 443)
check "explain other -> relay:443: DENY (exit 3) at relay's ingress, isolated by relay/relay-allow-aks; egress ALLOW" \
	test $? -eq 3 -a -n "$(grep 'ingress  DENY at relay/relay-0.*isolated by relay/relay-allow-aks' <<<"$out")" \
	-a -n "$(grep 'egress   ALLOW at other/client-0' <<<"$out")"
check "... as a real connection: other -> relay:443 dropped" denied other 10.244.1.10 443
ctl explain --from 10.250.0.5 --to 10.244.1.10 --port 80 --output json >"$TMP/x.json"
check "explain aks -> relay:80 --output json: DENY, reason no-rule" \
	jqc '.verdict == "DENY" and .ingress.reason == "no-rule" and .ingress.pod == "relay/relay-0"' "$TMP/x.json"
check "explain ran the same program code as the agent (tags of the pinned programs)" \
	jqc '.sameProgramsAsRunning == true' "$TMP/x.json"
check "... as a real connection: aks -> relay:80 dropped" denied aks 10.244.1.10 80
ctl explain --from 10.250.0.5 --to relay/relay-0 --port 443 --protocol UDP >/dev/null
check "explain aks -> relay:443/UDP: DENY (exit 3)" test $? -eq 3
out=$(ctl explain --from 10.250.0.5 --to 10.244.9.9 --port 80)
check "explain between two non-local ends: NOT-JUDGED" contains "$out" "NOT-JUDGED"
# The probes' client port is 40999: none of them may be in the live tables.
check "explain leaves the live conntrack tables alone (no entry of its probes)" \
	test -z "$(ctl conntrack --port 40999 --output json)$(ctl conntrack --denied --port 40999 --output json)"
ctl explain --from 10.250.0.5 --port 80 >/dev/null 2>&1
check "explain without --to: exit 2" test $? -eq 2

# ---- netpolctl conntrack ----
in_pod aks "$NPCONN" hold --duration-ms 3000 10.244.1.10 443 >/dev/null 2>&1 &
HOLD=$!
sleep 1
out=$(ctl conntrack --port 443 --protocol tcp)
check "conntrack: the held connection, established, allowed by relay/relay-allow-aks ingress[0]" \
	grep -Eq 'np-relay +ingress TCP +10\.250\.0\.5:[0-9]+ +10\.244\.1\.10:443 \(relay/relay-0\) +established +ALLOW +policy +relay/relay-allow-aks ingress\[0\]' <<<"$out"
js=$(ctl conntrack --ip 10.250.0.0/16 --output json)
check "conntrack --ip 10.250.0.0/16 --output json: only rows with that peer, ages and counters" \
	jqc -s 'length >= 1 and all(.[]; .srcAddr == "10.250.0.5" and .ageSeconds >= 0 and .packets >= 1)' <<<"$js"
# Ages come from the kernel's own clock, not from /proc/timer_list, which
# containers and hardened hosts hide (here: masked by /dev/null).
js=$(unshare -m sh -c 'mount --bind /dev/null /proc/timer_list && exec "$@"' sh \
	nsenter --net="/run/netns/$NODE_NS" "$NPCTL" conntrack --ip 10.250.0.0/16 --output json \
	--pin-path "$PIN" --agent "http://127.0.0.1:$PORT")
check "conntrack with /proc/timer_list hidden: ages still known" \
	jqc -s 'length >= 1 and all(.[]; .ageSeconds >= 0 and .idleSeconds >= 0)' <<<"$js"
js=$(ctl conntrack --pod other/client-0 --output json)
check "conntrack --pod other/client-0: only its connections" \
	jqc -s 'length >= 1 and all(.[]; .pod == "other/client-0" or .peerPod == "other/client-0")' <<<"$js"
out=$(ctl conntrack --denied)
check "conntrack --denied: other -> relay:443 denied, no-rule" \
	grep -Eq '10\.244\.2\.20:[0-9]+ \(other/client-0\) +10\.244\.1\.10:443 \(relay/relay-0\) +denied +DENY +no-rule' <<<"$out"
ctl conntrack --ip nonsense >/dev/null 2>&1
check "conntrack --ip nonsense: exit 2" test $? -eq 2
wait "$HOLD"
check "the held connection lasted while inspected" test $? -eq 0

# ---- /debug is for this host only; endpoint on the node address ----
stop_agent
if ! start_agent --metrics-address "10.0.0.1:$((PORT + 1))"; then
	not_ok "agent restarted with --metrics-address 10.0.0.1:$((PORT + 1))"
	finish
fi
check "restarted agent: /readyz 200 on the node address" test "$(http GET 10.0.0.1 $((PORT + 1)) /readyz | status_of)" = 200
check "a client on another host (the aks namespace) gets /metrics" \
	test "$(http --from aks GET 10.0.0.1 $((PORT + 1)) /metrics | status_of)" = 200
check "... but not /debug/status (403)" test "$(http --from aks GET 10.0.0.1 $((PORT + 1)) /debug/status | status_of)" = 403
check "a client on the node itself gets /debug/status from the node address" \
	test "$(http GET 10.0.0.1 $((PORT + 1)) /debug/status | status_of)" = 200
stop_agent
if start_agent --metrics-address off; then
	check "--metrics-address off: nothing listens, the agent enforces" \
		sh -c "! nsenter --net=/run/netns/$NODE_NS timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9090' 2>/dev/null"
	check "--metrics-address off: aks -> relay:443 still connects" allowed aks 10.244.1.10 443
else
	not_ok "agent started with --metrics-address off"
fi
stop_agent

# ---- CloudWatch Logs shipping counters (fake CloudWatch from tests/cloudwatch) ----
CW_PORT=$((PORT + 5))
mkdir -p "$TMP/cw"
ip netns exec "$NODE_NS" python3 "$ROOT/tests/cloudwatch/fake_cwlogs.py" --port "$CW_PORT" --out "$TMP/cw" \
	--access-key AKIDOPSTEST --secret-key 'ops/test+secret0123456789' --no-group 2>"$TMP/cw/server.log" &
CW_PID=$!
for _ in $(seq 100); do
	nsenter --net="/run/netns/$NODE_NS" curl -s "http://127.0.0.1:$CW_PORT/_stats" >/dev/null 2>&1 && break
	sleep 0.05
done
AWS_ACCESS_KEY_ID=AKIDOPSTEST AWS_SECRET_ACCESS_KEY='ops/test+secret0123456789' AWS_REGION=us-east-1 \
	CLUSTER_NAME=ops start_agent --metrics-address "127.0.0.1:$PORT" \
	--cloudwatch-endpoint "http://127.0.0.1:$CW_PORT" --cloudwatch-create \
	--spool-dir "$TMP/cw/spool" --cloudwatch-flush-delay 0.5 --cloudwatch-retry-base 0.1
check "cloudwatch: aks -> relay:443 connects" allowed aks 10.244.1.10 443
check "cloudwatch: records shipped are counted" wait_metric_gt 'netpol_cloudwatch_records_total{result="shipped"}' 0 80
check "cloudwatch: requests and bytes sent are counted; the credential counter is exposed" \
	test "$(metric netpol_cloudwatch_requests_total)" -ge 1 -a "$(metric netpol_cloudwatch_bytes_sent_total)" -gt 0 \
	-a -n "$(get /metrics | body_of | grep '^netpol_aws_credential_refreshes_total ')" 
check "cloudwatch: nothing dropped" \
	test "$(get /metrics | body_of | grep '^netpol_cloudwatch_dropped_records_total' | awk '{s += $NF} END {print s + 0}')" = 0
nsenter --net="/run/netns/$NODE_NS" curl -s -X POST "http://127.0.0.1:$CW_PORT/_control?mode=5xx&count=-1" >/dev/null
r0=$(metric netpol_cloudwatch_retries_total)
for _ in 1 2 3; do allowed aks 10.244.1.10 443 || true; done
check "cloudwatch failing (5xx): retries counted" wait_metric_gt netpol_cloudwatch_retries_total "$r0" 80
# Records made while CloudWatch fails go to the disk spool (after 1 s in memory).
for _ in 1 2 3; do allowed aks 10.244.1.10 443 || true; done
check "cloudwatch failing: new records go to the spool (spool bytes, spooled records)" \
	wait_metric_gt netpol_cloudwatch_spool_bytes 0 80
check "... counted as spooled" test "$(metric 'netpol_cloudwatch_records_total{result="spooled"}')" -ge 1
nsenter --net="/run/netns/$NODE_NS" curl -s -X POST "http://127.0.0.1:$CW_PORT/_control?mode=ok" >/dev/null
check "cloudwatch back: the spool drains to 0" sh -c "for i in \$(seq 100); do [ \"\$(nsenter --net=/run/netns/$NODE_NS bash -c 'exec 3<>/dev/tcp/127.0.0.1/$PORT; printf \"GET /metrics HTTP/1.0\\r\\n\\r\\n\" >&3; cat <&3' | awk '/^netpol_cloudwatch_spool_records / {print \$2}')\" = 0 ] && exit 0; sleep 0.1; done; exit 1"
stop_agent
kill "$CW_PID" 2>/dev/null
wait "$CW_PID" 2>/dev/null

# ---- the DaemonSet's capabilities: CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON ----
agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1
if start_agent --caps --metrics-address "127.0.0.1:$PORT"; then
	ok "agent starts with only CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON (fresh pins)"
	check "  CapEff of the agent is exactly those three" \
		test "$(awk '/^CapEff/ {print $2}' "/proc/$AGENT_PID/status")" = 000000c000001000
	check "  aks -> relay:443 connects" allowed aks 10.244.1.10 443
	check "  other -> relay:443 is dropped" denied other 10.244.1.10 443
	out=$(in_node_caps "$NPCTL" explain --from other/client-0 --to relay/relay-0 --port 443 \
		--pin-path "$PIN" --agent "http://127.0.0.1:$PORT")
	check "  netpolctl explain with the same capabilities: DENY (configuration from the agent)" \
		test $? -eq 3 -a -n "$(grep 'ingress  DENY' <<<"$out")"
	out=$(in_node_caps "$NPCTL" conntrack --pin-path "$PIN" --agent "http://127.0.0.1:$PORT")
	check "  netpolctl conntrack with the same capabilities" contains "$out" "relay/relay-allow-aks ingress"
	in_node_caps "$NPCTL" status --pin-path "$PIN" --agent "http://127.0.0.1:$PORT" >/dev/null
	check "  netpolctl status with the same capabilities: exit 0" test $? -eq 0
	stop_agent
	in_node_caps "$AGENT" --uninstall --pin-path "$PIN" >>"$TMP/agent.log" 2>&1
	check "  --uninstall with the same capabilities removes the filters" \
		test -z "$(in_node tc filter show dev np-relay ingress)$(in_node tc filter show dev np-relay egress)"
else
	not_ok "agent starts with only CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON"
	stop_agent
fi
CAPS=bpf,net_admin
start_agent --caps --metrics-address "127.0.0.1:$PORT" >/dev/null
check "without CAP_PERFMON the programs are refused (why the DaemonSet grants it)" \
	grep -q 'loading the datapath failed: Permission denied' "$TMP/agent.log"
stop_agent
CAPS=bpf,net_admin,perfmon

finish
