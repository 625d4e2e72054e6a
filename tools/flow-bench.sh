#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Flow log figures for `make bench`:
#   1. flow events per second the userspace pipeline turns into JSON records
#      on one core (build/flow-bench pipeline: aggregation, Kubernetes
#      context, JSON; CPU time of the one thread; median of ROUNDS);
#   2. the agent's memory with 100,000 active flows: the real agent in a
#      network namespace, its pinned ingress program run (bpf_prog_test_run)
#      on 100,000 SYNs from distinct sources as if they came in on the relay
#      pod's interface, so its conntrack table and its flow pipeline hold
#      100,000 connections; VmRSS before and after (after one flow interval).
# Namespaces np-fbench-*, pins /sys/fs/bpf/netpol-fbench; removed at the end.
#   tools/flow-bench.sh [BUILD_DIR]     (root)
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ROUNDS=${BENCH_FLOW_ROUNDS:-5}
FLOWS=${BENCH_ACTIVE_FLOWS:-100000}
NP_PREFIX=np-fbench
PIN=/sys/fs/bpf/netpol-fbench
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "tools/flow-bench.sh: needs root" >&2; exit 2; }

TMP= AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	[ -e "/run/netns/$NODE_NS" ] &&
		nsenter --net="/run/netns/$NODE_NS" "$BUILD/netpol-agent" --uninstall --pin-path "$PIN" >/dev/null 2>&1
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "flow records: userspace pipeline, one core, 1,000,000 flows x 2 events (median of $ROUNDS)"
for ((r = 0; r < ROUNDS; r++)); do
	"$BUILD/flow-bench" pipeline --flows 1000000
done >"${TMPDIR:-/tmp}/np-flow-bench.$$"
median() { # FIELD
	sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "${TMPDIR:-/tmp}/np-flow-bench.$$" | sort -g |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
spread() {
	sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "${TMPDIR:-/tmp}/np-flow-bench.$$" | sort -g |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'
}
ev=$(median events_per_s)
printf '  events/s:  %s (spread %s; target 1,000,000: %s)\n' "$ev" "$(spread events_per_s)" \
	"$(awk -v e="$ev" 'BEGIN { print (e >= 1000000 ? "MET" : "MISSED") }')"
printf '  records/s: %s\n' "$(median records_per_s)"
printf '  bytes per record (JSON line): %s\n' "$(median bytes_per_record)"
rm -f "${TMPDIR:-/tmp}/np-flow-bench.$$"

net_cleanup
TMP=$(mktemp -d /tmp/np-fbench.XXXXXX)
mkdir -p "$TMP/objects"
net_setup_node
net_add_pod relay 10.244.1.10
objects_cluster "$TMP/objects"
cp "$ROOT/policies/relay-allow-aks.yaml" "$TMP/objects/"
nsenter --net="/run/netns/$NODE_NS" "$BUILD/netpol-agent" --objects "$TMP/objects" --pin-path "$PIN" \
	--flow-log-file "$TMP/flows.log" --flow-interval 5 --node-name bench \
	2>"$TMP/agent.log" &
AGENT_PID=$!
if ! wait_for_log "$TMP/agent.log" 'msg="ready' 100; then
	echo "tools/flow-bench.sh: the agent did not start:" >&2
	cat "$TMP/agent.log" >&2
	exit 1
fi
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status"; }
sleep 6
before=$(rss)
ifindex=$(in_node cat /sys/class/net/np-relay/ifindex)
nsenter --net="/run/netns/$NODE_NS" "$BUILD/flow-bench" inject --prog "$PIN/v2/np_pod_ingress" \
	--ifindex "$ifindex" --flows "$FLOWS" --dst 10.244.1.10 --dport 443 >"$TMP/inject.out"
sleep 7 # one interval: every flow reported once and refreshed from the kernel
after=$(rss)
records=$(grep -c '"action":"ACCEPT"' "$TMP/flows.log")
lost=$(jq -s 'map(select(.logStatus=="SKIPDATA") | .lostEvents) | add // 0' "$TMP/flows.log")
echo "agent memory with $FLOWS active flows (real agent, pinned program fed by bpf_prog_test_run):"
echo "  $(cat "$TMP/inject.out"); ACCEPT records written: $records; events lost: $lost"
echo "  VmRSS: $before kB idle -> $after kB with $FLOWS flows tracked ($(((after - before) * 1024 / FLOWS)) bytes per flow)"
