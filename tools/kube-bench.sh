#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Kubernetes API sync figures (part of `make bench`), with the real agent fed
# by the fake API server (tests/kube/fake_apiserver.py) in a network
# namespace of its own (k8s-bench-node):
#   1. latency: a watch event's arrival -> maps updated (the agent logs it:
#      "API change applied N ms after the event arrived"; the 5 ms debounce
#      that coalesces bursts is included), for a policy change touching
#      1,000 pods, in a 1,000-pod cluster and in a 10,000-pod one;
#   2. agent memory (VmRSS, VmHWM) with 10,000 pods, 1,000 namespaces and
#      1,000 policies, next to the same agent with an empty cluster;
#   3. API load of one agent: requests and watch connections at start and
#      over time, bytes received per pod change (a realistic pod object with
#      managedFields, tests/unit/fixtures/watch-pods.jsonl).
# Environment: KBENCH_CHANGES (11 changes per latency case; median reported).
set -uo pipefail

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
PIN=/sys/fs/bpf/netpol-k8s-bench
CHANGES=${KBENCH_CHANGES:-11}

NP_PREFIX=k8s-bench
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# shellcheck source=tests/kube/lib.sh
. "$ROOT/tests/kube/lib.sh"
KUBE_NETNS=$NODE_NS
KUBE_PORT=17420
KUBE_CTL_PORT=17421
AGENT_PID=
TMP=

fail() { echo "kube-bench: FAILED: $*" >&2; exit 1; }

cleanup() {
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	kube_stop
	[ -e "/run/netns/$NODE_NS" ] &&
		nsenter --net="/run/netns/$NODE_NS" "$AGENT" --uninstall --pin-path "$PIN" >/dev/null 2>&1
	net_cleanup
	[ -n "$TMP" ] && [ -z "${KBENCH_KEEP:-}" ] && rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, BPF)"
[ -x "$AGENT" ] || fail "$AGENT not built (run make)"

TMP=$(mktemp -d /tmp/k8s-bench.XXXXXX)
KUBE_DIR=$TMP
net_cleanup
net_setup_node
kube_certs || fail "openssl could not make test certificates"
kube_config tok

start_agent() { # LOG
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --kubeconfig "$TMP/kubeconfig" \
		--node-name node-a --pin-path "$PIN" >/dev/null 2>>"$1" &
	AGENT_PID=$!
	wait_for_log "$1" 'msg="ready' 1200 || fail "the agent did not become ready (see $1)"
}
stop_agent() {
	stop_pid "$AGENT_PID"
	AGENT_PID=
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --uninstall --pin-path "$PIN" >/dev/null 2>&1
}
applied_count() { grep -c 'API change applied' "$1" 2>/dev/null || true; }
# a policy in ns-0 selecting every pod of it (1,000 pods), allowing port P
touch_1000() { # PORT
	printf '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"touch-1000","namespace":"ns-0"},"spec":{"podSelector":{},"policyTypes":["Ingress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"tier":"t1"}}}],"ports":[{"port":%d,"protocol":"TCP"}]}]}}' "$1" | kube_apply
}
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "?"}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
stat_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# latency CASE NS PODS POLICIES: the cluster, then CHANGES edits of touch-1000
latency() {
	local name=$1 ns=$2 pods=$3 pols=$4 log=$TMP/agent-$1.log i n ms
	kube_start tok || fail "the fake API server did not start"
	kube_ctl /generate "{\"namespaces\":$ns,\"pods\":$pods,\"policies\":$pols,\"node\":\"node-a\",\"ns0_pods\":1000}" >/dev/null
	start_agent "$log"
	[ "$name" = big ] && INIT_BYTES=$(kube_ctl_get | stat_of bytes)
	for ((i = 0; i < CHANGES; i++)); do
		n=$(applied_count "$log")
		touch_1000 $((20000 + i))
		wait_for_count "$log" 'API change applied' $((n + 1)) 600 || fail "change $i not applied ($log)"
	done
	ms=$(grep -o 'API change applied [0-9]* ms' "$log" | awk '{print $4}' | median)
	echo "$ms" >"$TMP/lat-$name"
	grep -o 'object set [0-9]* ms' "$log" | awk '{print $3}' | median >"$TMP/snap-$name"
	grep -o 'compile and maps [0-9]* ms' "$log" | awk '{print $4}' | median >"$TMP/comp-$name"
	if [ "$name" = big ]; then
		RSS=$(rss_kb "$AGENT_PID") HWM=$(hwm_kb "$AGENT_PID")
		STATS_START=$(kube_ctl_get)
		# one realistic pod change: ADDED, then MODIFIED (a label)
		sed -n 1p "$ROOT/tests/unit/fixtures/watch-pods.jsonl" |
			python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["object"]))' >"$TMP/pod.json"
		n=$(applied_count "$log")
		kube_apply <"$TMP/pod.json"
		wait_for_count "$log" 'API change applied' $((n + 1)) 600
		B0=$(kube_ctl_get | stat_of bytes)
		python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o["metadata"]["labels"]["version"]="v3"; print(json.dumps(o))' "$TMP/pod.json" | kube_apply
		wait_for_count "$log" 'API change applied' $((n + 2)) 600
		B1=$(kube_ctl_get | stat_of bytes)
		# a status-only update (the kubelet's usual): no recompile
		n=$(applied_count "$log")
		python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o["metadata"]["labels"]["version"]="v3"; o["status"]["conditions"][1]["status"]="False"; print(json.dumps(o))' "$TMP/pod.json" | kube_apply
		sleep 1
		STATUS_APPLIES=$(($(applied_count "$log") - n))
		POD_BYTES=$((B1 - B0))
		POD_JSON_BYTES=$(wc -c <"$TMP/pod.json")
		# the same objects from files, for comparison (no API client)
		for r in api/v1/namespaces api/v1/pods apis/networking.k8s.io/v1/networkpolicies; do
			kube_in_ns curl -sS --cacert "$TMP/ca.crt" -H "Authorization: Bearer tok" \
				"https://127.0.0.1:$KUBE_PORT/$r" >"$TMP/objs-${r##*/}.json"
		done
	fi
	grep -o 'initial lists complete in [0-9]* ms' "$log" | awk '{print $5}' >"$TMP/init-$name"
	stop_agent
	kube_stop
}

latency small 1 1000 0
latency big 1000 10000 1000

# the same cluster from files (no API client), then an empty cluster
nsenter --net="/run/netns/$NODE_NS" "$AGENT" --objects "$TMP/objs-namespaces.json" \
	--objects "$TMP/objs-pods.json" --objects "$TMP/objs-networkpolicies.json" \
	--no-watch --pin-path "$PIN" >/dev/null 2>>"$TMP/agent-files.log" &
AGENT_PID=$!
wait_for_log "$TMP/agent-files.log" 'msg="ready' 1200 || fail "the agent did not start from files"
RSSF=$(rss_kb "$AGENT_PID") HWMF=$(hwm_kb "$AGENT_PID")
stop_agent

kube_start tok || fail "the fake API server did not start"
start_agent "$TMP/agent-empty.log"
RSS0=$(rss_kb "$AGENT_PID") HWM0=$(hwm_kb "$AGENT_PID")
sleep 1
S=$(kube_ctl_get)
stop_agent
kube_stop

req=$(echo "$STATS_START" | stat_of requests)
wat=$(echo "$STATS_START" | stat_of open_watches)
echo
echo "Kubernetes API sync (tools/kube-bench.sh; real agent + fake API server on loopback, TLS):"
printf '  %-62s %s ms\n' "policy change touching 1,000 pods, 1,000-pod cluster (median of $CHANGES)" "$(cat "$TMP/lat-small")"
printf '  %-62s %s ms\n' "policy change touching 1,000 pods, 10k pods/1k ns/1k policies" "$(cat "$TMP/lat-big")"
printf '  %-62s %s ms object set, %s ms compile and maps\n' "  of which (medians)" "$(cat "$TMP/snap-big")" "$(cat "$TMP/comp-big")"
printf '  %-62s %s ms\n' "initial lists (from the watch cache), 10k pods/1k ns/1k policies" "$(cat "$TMP/init-big")"
printf '  %-62s %s MiB (peak %s MiB)\n' "agent RSS, 10k pods/1k ns/1k policies" "$((RSS / 1024))" "$((HWM / 1024))"
printf '  %-62s %s MiB (peak %s MiB)\n' "same objects from files, no API client" "$((RSSF / 1024))" "$((HWMF / 1024))"
printf '  %-62s %s MiB (peak %s MiB)\n' "agent RSS, empty cluster" "$((RSS0 / 1024))" "$((HWM0 / 1024))"
printf '  %-62s %s requests, %s watch connections open\n' "API load at start (3 lists from the watch cache + 3 watches)" "$req" "$wat"
printf '  %-62s %s MB (uncompressed JSON; the fake pods are small)\n' "initial lists, 10k pods/1k ns/1k policies" "$((INIT_BYTES / 1000000))"
printf '  %-62s %s bytes (object JSON %s bytes)\n' "bytes received per pod change (realistic pod, managedFields)" "$POD_BYTES" "$POD_JSON_BYTES"
printf '  %-62s %s\n' "recompiles caused by a pod status-only update (conditions)" "$STATUS_APPLIES"
echo "  empty-cluster agent: $(echo "$S" | stat_of requests) requests to the API in its lifetime"
