#!/usr/bin/env bash
# The netpol-agent demo (`sudo make demo`): only the AKS clusters may reach
# the relay, and only on TCP 443.  Narrated; well under a minute; exit 0 when
# every step behaved as described.  Everything happens in network namespaces
# named np-demo-* and under the pin path /sys/fs/bpf/netpol-demo, all removed
# at the end (also on failure or Ctrl-C).
# shellcheck disable=SC2317 # functions below run through check/trap
set -u

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
NP_PREFIX=np-demo
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

POLICY=$ROOT/policies/relay-allow-aks.yaml
PIN=/sys/fs/bpf/netpol-demo
TMP=
AGENT_PID=
PIDS=()
STATUS=0

if [ -t 1 ]; then B=$'\e[1m'; G=$'\e[32m'; R=$'\e[31m'; N=$'\e[0m'; else B='' G='' R='' N=''; fi
say() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
run() { printf '  $ %s\n' "$*"; }
good() { printf '  %s%s%s\n' "$G" "$*" "$N"; }
bad() { printf '  %s%s%s\n' "$R" "$*" "$N"; STATUS=1; }

# The agent sees only the node's network namespace; nsenter (unlike
# `ip netns exec`) keeps /sys/fs/bpf, where it pins its maps, visible.
agent() { nsenter --net="/run/netns/$NODE_NS" "$BUILD/netpol-agent" "$@"; }

cleanup() {
	local p
	trap '' INT TERM
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	[ -e "/run/netns/$NODE_NS" ] && agent --uninstall --pin-path "$PIN" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "interrupted: cleaning up"; exit 130' INT TERM

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

say "A node with a relay pod and two clients, wired like a CNI plugin does (veth pairs, /32 routes)"
net_setup_node
net_add_pod relay 10.244.1.10
net_add_pod aks 10.250.0.5
net_add_pod outside 192.168.77.7
echo "  relay/relay-0   10.244.1.10   listens on TCP 443 and 80"
echo "  AKS client      10.250.0.5    inside the example AKS range 10.250.0.0/16"
echo "  outside client  192.168.77.7  some other network"
for port in 443 80; do
	ip netns exec "$NP_PREFIX-relay" "$BUILD/np-conn" listen "$port" >/dev/null 2>>"$TMP/listen.log" &
	PIDS+=($!)
done
wait_for_count "$TMP/listen.log" listening 2 50 || { bad "the echo servers did not start"; exit 1; }

# The cluster state (the namespace, the pod and its address) is the only
# demo-specific input; the policy file is used as-is.
objects_cluster "$TMP"
cp "$POLICY" "$TMP/relay-allow-aks.yaml"

say "Ask first: netpolctl verdict runs crafted packets through the real BPF programs"
cat > "$TMP/probes.jsonl" <<'JSON'
{"from": "10.250.0.5", "to": "relay/relay-0", "port": 443, "expect": "ALLOW"}
{"from": "10.250.0.5", "to": "relay/relay-0", "port": 80, "expect": "DENY"}
{"from": "192.168.77.7", "to": "relay/relay-0", "port": 443, "expect": "DENY"}
JSON
run "netpolctl verdict -f objects/ --probes probes.jsonl"
if ! "$BUILD/netpolctl" verdict -f "$TMP" --probes "$TMP/probes.jsonl" > "$TMP/verdicts.jsonl"; then
	bad "netpolctl verdict failed"
	exit 1
fi
while IFS= read -r line; do
	[[ $line =~ \"from\":\ *\"([^\"]+)\" ]] && from=${BASH_REMATCH[1]}
	[[ $line =~ \"port\":\ *([0-9]+) ]] && port=${BASH_REMATCH[1]}
	[[ $line =~ \"expect\":\ *\"([A-Z]+)\" ]] && expect=${BASH_REMATCH[1]}
	verdict='?'
	# the first "verdict" is the overall one (egress/ingress details follow)
	[[ $line =~ \"verdict\":\ *\"([A-Z]+)\" ]] && verdict=${BASH_REMATCH[1]}
	if [ "$verdict" = "$expect" ]; then
		good "$(printf '%-13s -> relay:%-4s %-5s (as expected)' "$from" "$port" "$verdict")"
	else
		bad "$(printf '%-13s -> relay:%-4s %-5s (expected %s)' "$from" "$port" "$verdict" "$expect")"
	fi
done < "$TMP/verdicts.jsonl"

say "Start the agent on the node: it finds the relay's interface from the routing table and attaches there"
run "netpol-agent --objects objects/ --pin-path $PIN --flow-log-file flows.log --flow-interval 1"
nsenter --net="/run/netns/$NODE_NS" "$BUILD/netpol-agent" --objects "$TMP" --pin-path "$PIN" \
	--flow-log-file "$TMP/flows.log" --flow-interval 1 --node-name demo-node \
	>/dev/null 2>"$TMP/agent.log" &
AGENT_PID=$!
if ! wait_for_log "$TMP/agent.log" 'msg="ready' 100; then
	bad "the agent did not become ready:"
	sed 's/^/    /' "$TMP/agent.log"
	exit 1
fi
grep -E 'attached|ready' "$TMP/agent.log" | sed 's/^ts=[^ ]* /    /'

say "Real connections"
conn() { # LABEL NS PORT EXPECT(allowed|denied) WHY
	local out rc
	out=$(in_pod "$2" "$BUILD/np-conn" connect --timeout-ms "$([ "$4" = allowed ] && echo 3000 || echo 1000)" 10.244.1.10 "$3" 2>&1)
	rc=$?
	if { [ "$rc" -eq 0 ] && [ "$4" = allowed ]; } || { [[ $out == *"timed out"* ]] && [ "$4" = denied ]; }; then
		good "$(printf '%-16s -> relay:%-4s %-8s %s' "$1" "$3" "$4" "$5")"
	else
		bad "$(printf '%-16s -> relay:%-4s expected %s, got: %s' "$1" "$3" "$4" "$out")"
	fi
}
conn "AKS client" aks 443 allowed "(the echo came back)"
conn "AKS client" aks 80 denied "(only 443 is open to AKS; the SYN was dropped)"
conn "outside client" outside 443 denied "(192.168.77.7 is not an AKS range)"

say "The flow records of those connections (who, verdict, which policy), read back with netpolctl flows"
sleep 2
run "netpolctl flows --file flows.log --pod relay/relay-0 --output table"
"$BUILD/netpolctl" flows --file "$TMP/flows.log" --pod relay/relay-0 --output table | sed 's/^/    /'
if jq -se 'any(.action=="ACCEPT" and .srcAddr=="10.250.0.5" and .dstPort==443 and .policy=="relay/relay-allow-aks")
	and any(.action=="REJECT" and .srcAddr=="192.168.77.7" and .dstPort==443)' "$TMP/flows.log" >/dev/null; then
	good "ACCEPT for the AKS client by relay/relay-allow-aks ingress[0]; REJECT for the outside client"
else
	bad "the expected ACCEPT and REJECT records are missing from $TMP/flows.log"
fi
run "one record as CloudWatch Logs Insights will see it:"
jq -c 'select(.action=="REJECT" and .srcAddr=="192.168.77.7")' "$TMP/flows.log" | head -1 | sed 's/^/    /'

say "Stop the agent: enforcement stays in place (a restart or upgrade opens no hole)"
stop_pid "$AGENT_PID" TERM
AGENT_PID=
conn "outside client" outside 443 denied "(still dropped, no agent running)"
conn "AKS client" aks 443 allowed "(still allowed)"

say "Remove it: netpol-agent --uninstall removes exactly what it created"
run "netpol-agent --uninstall --pin-path $PIN"
agent --uninstall --pin-path "$PIN" 2>&1 | grep uninstalled: | sed 's/^ts=[^ ]* /    /'
conn "outside client" outside 443 allowed "(no policy enforced any more)"

echo
if [ "$STATUS" -eq 0 ]; then
	good "demo finished: every step behaved as described; cleaning up"
else
	bad "demo finished with unexpected results (see above)"
fi
exit "$STATUS"
