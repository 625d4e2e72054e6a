#!/usr/bin/env bash
# End-to-end: a policy change that revokes open connections cuts them for
# good, whichever direction of the pod stays unrestricted.  Real agent, real
# connections, TCP and UDP, IPv4 and IPv6.
# Usage: tests/e2e/revoke.sh BUILD_DIR   (as root; part of `make test-e2e`)
#
# Topology (namespaces np-rv-*):
#   np-rv-node   the node (10.0.0.1), host-side veths np-srv, np-ext, np-cli
#   np-rv-srv    pod relay/relay-0   10.244.1.10  fd00:244:1::10  (TCP 443, UDP 443)
#   np-rv-ext    "AKS" client        10.250.0.5   fd00:250::5     (not a pod; TCP 443, UDP 5353)
#   np-rv-cli    pod other/client-0  10.244.2.20  fd00:244:2::20  (never isolated: the control)
# Each scenario writes a policy, opens connections that exchange a line
# every 100 ms, then replaces the policy with one that no longer allows them
# and expects every one of them to break (no answer within 1 s), while a
# connection the change does not touch keeps working:
#   ingress-only  relay isolated for ingress, its egress unrestricted (the
#                 mission's policy): before the fix, the next packet after
#                 the cut was picked up through the open egress direction
#   egress-only   relay isolated for egress, its ingress unrestricted
#   both          relay isolated both ways
# shellcheck disable=SC2317,SC2016 # functions run through check/trap; eval strings expand later
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
PIN=/sys/fs/bpf/netpol-e2e-revoke
NP_PREFIX=np-rv

# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

PASS=0
FAIL=0
TMP=
AGENT_PID=
LISTENER_PIDS=()
HOLD_PIDS=()

cleanup() {
	local p
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	for p in "${LISTENER_PIDS[@]}" "${HOLD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LISTENER_PIDS[@]}" "${HOLD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -e "/run/netns/$NODE_NS" ] && agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	if [ "$FAIL" -gt 0 ] && [ -f "$TMP/agent.log" ]; then
		echo "# agent.log (last 25 lines):"
		tail -n 25 "$TMP/agent.log" | sed 's/^/#   /'
	fi
	echo "e2e-revoke: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	echo "tests/e2e/revoke.sh: needs root (network namespaces and BPF)" >&2
	exit 2
fi
for b in "$AGENT" "$NPCONN"; do
	[ -x "$b" ] || { echo "tests/e2e/revoke.sh: $b is missing; build it with: make" >&2; exit 2; }
done

net_cleanup
TMP=$(mktemp -d /tmp/np-rv.XXXXXX)
OBJ=$TMP/objects
mkdir -p "$OBJ"

net_setup_node
in_node ip addr add 10.0.0.1/32 dev lo
net_add_pod srv 10.244.1.10 fd00:244:1::10
net_add_pod ext 10.250.0.5 fd00:250::5
net_add_pod cli 10.244.2.20 fd00:244:2::20
start_listener srv 443
start_listener srv --udp 443
start_listener ext 443
start_listener ext --udp 5353
wait_for_log "$TMP/listen-srv.log" "listening tcp 443" 50
wait_for_log "$TMP/listen-ext.log" "listening tcp 443" 50
agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1 # leftovers of an aborted run

cat > "$OBJ/cluster.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: relay}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Pod
metadata: {name: relay-0, namespace: relay, labels: {app: relay}}
spec: {containers: [{name: relay, image: example.invalid/relay:1}]}
status: {podIP: 10.244.1.10, podIPs: [{ip: 10.244.1.10}, {ip: "fd00:244:1::10"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client-0, namespace: other, labels: {app: client}}
spec: {containers: [{name: client, image: example.invalid/client:1}]}
status: {podIP: 10.244.2.20, podIPs: [{ip: 10.244.2.20}, {ip: "fd00:244:2::20"}]}
YAML

# policy TYPES INGRESS_RULES EGRESS_RULES: the relay's one policy.
policy() {
	cat <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: relay, namespace: relay}
spec:
  podSelector: {matchLabels: {app: relay}}
  policyTypes: $1
  ingress: $2
  egress: $3
YAML
}
EXT_PEERS='[{ipBlock: {cidr: 10.250.0.0/16}}, {ipBlock: {cidr: "fd00:250::/64"}}]'
IN_ALLOW="[{from: $EXT_PEERS, ports: [{protocol: TCP, port: 443}, {protocol: UDP, port: 443}]}]"
EG_ALLOW="[{to: $EXT_PEERS, ports: [{protocol: TCP, port: 443}, {protocol: UDP, port: 5353}]}]"

RELOADS=0
apply() { # POLICY_TEXT: write it and wait until the agent applied it
	echo "$1" > "$OBJ/relay.yaml.tmp" && mv "$OBJ/relay.yaml.tmp" "$OBJ/relay.yaml"
	RELOADS=$((RELOADS + 1))
	wait_for_count "$TMP/agent.log" 'msg="reloaded' "$RELOADS" 30
}

policy '[Ingress]' "$IN_ALLOW" '[]' > "$OBJ/relay.yaml"
nsenter --net="/run/netns/$NODE_NS" "$AGENT" --objects "$OBJ" --node-ip 10.0.0.1 \
	--pin-path "$PIN" --log-level info >/dev/null 2>>"$TMP/agent.log" &
AGENT_PID=$!
if ! wait_for_log "$TMP/agent.log" 'msg="ready' 100; then
	not_ok "agent starts and logs ready within 10 s"
	finish
fi
ok "agent starts and logs ready"

# scenario NAME ALLOW_POLICY REVOKED_POLICY DIRECTION: DIRECTION "in" holds
# ext -> relay connections, "out" relay -> ext ones.
scenario() {
	local name=$1 allow=$2 revoked=$3 dir=$4 c
	check "$name: allowing policy applied" apply "$allow"
	if [ "$dir" = in ]; then
		hold "${name}_t4" ext 10.244.1.10 443 4000
		hold "${name}_t6" ext fd00:244:1::10 443 4000
		hold "${name}_u4" ext 10.244.1.10 443 4000 --udp
		hold "${name}_u6" ext fd00:244:1::10 443 4000 --udp
	else
		hold "${name}_t4" srv 10.250.0.5 443 4000
		hold "${name}_t6" srv fd00:250::5 443 4000
		hold "${name}_u4" srv 10.250.0.5 5353 4000 --udp
		hold "${name}_u6" srv fd00:250::5 5353 4000 --udp
	fi
	hold "${name}_ctl" cli 10.250.0.5 443 4000
	sleep 0.5
	check "$name: revoking policy applied" apply "$revoked"
	for c in t4:"TCP IPv4" t6:"TCP IPv6" u4:"UDP IPv4" u6:"UDP IPv6"; do
		check "$name: open ${c#*:} connection cut by the change and stays cut" broken "${name}_${c%%:*}"
	done
	check "$name: an untouched connection (client-0 -> ext:443) kept working" held "${name}_ctl"
	if [ "$dir" = in ]; then
		check "$name: a new ext -> relay:443 connection is denied" denied ext 10.244.1.10 443
	else
		check "$name: a new relay -> ext:443 connection is denied" denied srv 10.250.0.5 443
	fi
}

scenario ingress_only "$(policy '[Ingress]' "$IN_ALLOW" '[]')" \
	"$(policy '[Ingress]' '[]' '[]')" in
scenario egress_only "$(policy '[Egress]' '[]' "$EG_ALLOW")" \
	"$(policy '[Egress]' '[]' '[]')" out
scenario both "$(policy '[Ingress, Egress]' "$IN_ALLOW" '[]')" \
	"$(policy '[Ingress, Egress]' '[]' '[]')" in

# Allowed again: a fresh connection works at once.
check "rule restored: a fresh ext -> relay:443 connection works" \
	eval 'apply "$(policy "[Ingress]" "$IN_ALLOW" "[]")" && allowed ext 10.244.1.10 443 && allowed ext fd00:244:1::10 443'
check "no errors in the agent's log" eval '! grep -q "level=error" "$TMP/agent.log"'

stop_pid "$AGENT_PID" TERM
AGENT_PID=
finish
