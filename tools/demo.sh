#!/usr/bin/env bash
# The netpol-agent demo (`sudo make demo`): only the AKS clusters may reach
# the relay, and only on TCP 443.  Narrated; under a minute; exit 0 when
# every step behaved as described.  Everything happens in network namespaces
# named np-demo-*, removed at the end (also on failure or Ctrl-C).
# shellcheck disable=SC2317 # functions below run through check/trap
set -u

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
NP_PREFIX=np-demo
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

POLICY=$ROOT/policies/relay-allow-aks.yaml
TMP=
AGENT_PID=
PIDS=()
STATUS=0

if [ -t 1 ]; then B=$'\e[1m'; G=$'\e[32m'; R=$'\e[31m'; N=$'\e[0m'; else B='' G='' R='' N=''; fi
say() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
run() { printf '  $ %s\n' "$*"; }
good() { printf '  %s%s%s\n' "$G" "$*" "$N"; }
bad() { printf '  %s%s%s\n' "$R" "$*" "$N"; STATUS=1; }

cleanup() {
	local p
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" -ne 0 ]; then
	echo "tools/demo.sh: needs root for network namespaces and BPF: sudo make demo" >&2
	exit 2
fi
for b in netpol-agent netpolctl np-conn; do
	if [ ! -x "$BUILD/$b" ]; then
		echo "tools/demo.sh: $BUILD/$b is missing; build with: make" >&2
		exit 2
	fi
done

net_cleanup
TMP=$(mktemp -d /tmp/np-demo.XXXXXX)

say "The mission: pods labelled app=relay in namespace relay accept TCP 443 from the AKS clusters only"
echo "  The policy we enforce, exactly as shipped ($POLICY):"
grep -v '^#' "$POLICY" | sed 's/^/    /'

say "A node with three neighbours, wired like a CNI plugin does (veth pairs, /32 routes)"
net_setup_node
net_add_pod relay 10.244.1.10
net_add_pod aks 10.250.0.5
net_add_pod other 10.244.2.20
echo "  relay/relay-0      10.244.1.10  serves TCP 443 and 8080"
echo "  an AKS client      10.250.0.5   (inside the example AKS range 10.250.0.0/16)"
echo "  other/client-0     10.244.2.20  (a pod of this cluster: not an AKS address)"
ip netns exec "$NP_PREFIX-relay" "$BUILD/np-conn" listen 443 >/dev/null 2>>"$TMP/listen.log" &
PIDS+=($!)
ip netns exec "$NP_PREFIX-relay" "$BUILD/np-conn" listen 8080 >/dev/null 2>>"$TMP/listen.log" &
PIDS+=($!)
wait_for_count "$TMP/listen.log" listening 2 50 || { bad "the echo servers did not start"; exit 1; }

# The cluster state (the namespace, the pod and its address) is the only
# demo-specific input; the policy file is used as-is.
objects_cluster "$TMP"
cp "$POLICY" "$TMP/relay-allow-aks.yaml"

say "Ask first: netpolctl verdict runs crafted packets through the real BPF programs"
cat > "$TMP/probes.jsonl" <<'JSON'
{"from": "10.250.0.5", "to": "relay/relay-0", "port": 443, "protocol": "TCP", "expect": "ALLOW"}
{"from": "10.251.7.9", "to": "relay/relay-0", "port": 443, "protocol": "TCP", "expect": "ALLOW"}
{"from": "10.250.0.5", "to": "relay/relay-0", "port": 8080, "protocol": "TCP", "expect": "DENY"}
{"from": "10.250.0.5", "to": "relay/relay-0", "port": 443, "protocol": "UDP", "expect": "DENY"}
{"from": "other/client-0", "to": "relay/relay-0", "port": 443, "protocol": "TCP", "expect": "DENY"}
JSON
run "netpolctl verdict -f $TMP --probes probes.jsonl"
if ! "$BUILD/netpolctl" verdict -f "$TMP" --probes "$TMP/probes.jsonl" > "$TMP/verdicts.jsonl"; then
	bad "netpolctl verdict failed"
	exit 1
fi
while IFS= read -r line; do
	echo "  $line"
	if [[ $line =~ \"expect\":\ *\"([A-Z]+)\" ]] && [[ $line == *"\"verdict\": \"${BASH_REMATCH[1]}\""* || $line == *"\"verdict\":\"${BASH_REMATCH[1]}\""* ]]; then
		good "    -> ${BASH_REMATCH[1]} as expected"
	else
		bad "    -> not the expected verdict"
	fi
done < "$TMP/verdicts.jsonl"

say "Start the agent in the node: it finds each pod's interface from the routing table and attaches there"
run "netpol-agent --objects $TMP --log-level info"
ip netns exec "$NODE_NS" "$BUILD/netpol-agent" --objects "$TMP" --log-level info >/dev/null 2>"$TMP/agent.log" &
AGENT_PID=$!
if ! wait_for_log "$TMP/agent.log" 'msg="ready' 100; then
	bad "the agent did not become ready:"
	sed 's/^/    /' "$TMP/agent.log"
	exit 1
fi
sed 's/^/    /' "$TMP/agent.log"

say "Real connections"
run "(AKS client) np-conn connect 10.244.1.10 443"
if in_pod aks "$BUILD/np-conn" connect --timeout-ms 3000 10.244.1.10 443; then
	good "allowed: the AKS client reached the relay on 443 and got its echo back"
else
	bad "the AKS client should have been allowed"
fi
run "(AKS client) np-conn connect 10.244.1.10 8080"
if in_pod aks "$BUILD/np-conn" connect --timeout-ms 1000 10.244.1.10 8080; then
	bad "port 8080 should have been denied"
else
	good "denied: only 443 is open to the AKS clusters"
fi
run "(other/client-0) np-conn connect 10.244.1.10 443"
if in_pod other "$BUILD/np-conn" connect --timeout-ms 1000 10.244.1.10 443; then
	bad "other/client-0 should have been denied"
else
	good "denied: 10.244.2.20 is not in an AKS range, the SYN was dropped at the relay's interface"
fi

say "Stop the agent (this version detaches on exit) and clean up"
stop_pid "$AGENT_PID" TERM
AGENT_PID=
tail -n 3 "$TMP/agent.log" | sed 's/^/    /'
if [ "$STATUS" -eq 0 ]; then
	good "demo finished: every step behaved as described"
else
	bad "demo finished with unexpected results (see above)"
fi
exit "$STATUS"
