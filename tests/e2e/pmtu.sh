#!/usr/bin/env bash
# End-to-end: path MTU discovery through an isolated relay.  The relay pod
# (MTU 1500) answers a client behind a router whose link to the client has
# MTU 1280, so the relay's full-size segments make the router send ICMP
# "fragmentation needed" (IPv4) and "packet too big" (IPv6) from its own
# address, which no rule of the relay's policy allows.  They must reach the
# relay as errors related to its allowed connection, or large answers stall
# while small ones work.
# Usage: tests/e2e/pmtu.sh BUILD_DIR   (as root; part of `make test-e2e`)
#
# Topology (namespaces np-mtu-*):
#   np-mtu-relay  pod relay/relay-0  10.244.1.10 fd00:244:1::10, MTU 1500
#   np-mtu-node   the node (agent): np-relay, and np-rtr 192.0.2.1 / 2001:db8:1::1
#   np-mtu-rtr    router: eth0 192.0.2.2 / 2001:db8:1::2 (MTU 1500),
#                 lan 10.250.0.1 / fd00:250::1 (MTU 1280)
#   np-mtu-cli    the remote client 10.250.0.5 / fd00:250::5, MTU 1500
# shellcheck disable=SC2317,SC2016 # functions run through check/trap; eval strings expand later
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
PIN=/sys/fs/bpf/netpol-e2e-pmtu
NP_PREFIX=np-mtu

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
	for p in "${LISTENER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LISTENER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -e "/run/netns/$NODE_NS" ] && agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	if [ "$FAIL" -gt 0 ] && [ -n "$TMP" ]; then
		for f in "$TMP/agent.log" "$TMP/conn.log"; do
			[ -f "$f" ] || continue
			echo "# $(basename "$f") (last 15 lines):"
			tail -n 15 "$f" | sed 's/^/#   /'
		done
	fi
	echo "e2e-pmtu: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	echo "tests/e2e/pmtu.sh: needs root (network namespaces and BPF)" >&2
	exit 2
fi
for b in "$AGENT" "$NPCONN"; do
	[ -x "$b" ] || { echo "tests/e2e/pmtu.sh: $b is missing; build it with: make" >&2; exit 2; }
done

net_cleanup
TMP=$(mktemp -d /tmp/np-mtu.XXXXXX)
OBJ=$TMP/objects
mkdir -p "$OBJ"
RTR=$NP_PREFIX-rtr
CLI=$NP_PREFIX-cli
in_rtr() { ip netns exec "$RTR" "$@"; }
in_cli() { ip netns exec "$CLI" "$@"; }

# ---- topology ----
net_setup_node
in_node ip addr add 10.0.0.1/32 dev lo
net_add_pod relay 10.244.1.10 fd00:244:1::10
ip netns add "$RTR"
ip netns add "$CLI"
in_node ip link add np-rtr type veth peer name eth0 netns "$RTR"
in_node ip addr add 192.0.2.1/24 dev np-rtr
in_node ip addr add 2001:db8:1::1/64 dev np-rtr nodad
in_node ip link set np-rtr up
in_node ip route add 10.250.0.0/24 via 192.0.2.2
in_node ip -6 route add fd00:250::/64 via 2001:db8:1::2
in_rtr ip link set lo up
in_rtr sysctl -qw net.ipv4.ip_forward=1
in_rtr sysctl -qw net.ipv6.conf.all.forwarding=1
in_rtr ip addr add 192.0.2.2/24 dev eth0
in_rtr ip addr add 2001:db8:1::2/64 dev eth0 nodad
in_rtr ip link set eth0 up
in_rtr ip link add lan type veth peer name eth0 netns "$CLI"
in_rtr ip link set lan mtu 1280
in_rtr ip addr add 10.250.0.1/24 dev lan
in_rtr ip addr add fd00:250::1/64 dev lan nodad
in_rtr ip link set lan up
in_rtr ip route add 10.244.0.0/16 via 192.0.2.1
in_rtr ip -6 route add fd00:244::/32 via 2001:db8:1::1
in_cli ip link set lo up
in_cli ip addr add 10.250.0.5/24 dev eth0
in_cli ip addr add fd00:250::5/64 dev eth0 nodad
in_cli ip link set eth0 up
in_cli ip route add default via 10.250.0.1
in_cli ip -6 route add default via fd00:250::1
# The client's MTU stays 1500 (it advertises MSS 1460): only the router
# knows the path is narrower.

start_listener relay 443
wait_for_log "$TMP/listen-relay.log" "listening tcp 443" 50
agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1 # leftovers of an aborted run

fetch() { # ADDR: 1 MiB from the relay, within 10 s
	in_cli "$NPCONN" fetch --bytes 1048576 --timeout-ms 10000 "$1" 443 2>>"$TMP/conn.log"
}
check "without the agent: 1 MiB over IPv4 arrives (path MTU discovery works)" fetch 10.244.1.10
check "without the agent: 1 MiB over IPv6 arrives" fetch fd00:244:1::10
check "the router did lower the relay's path MTU (IPv4 route cache says mtu 1280)" \
	eval 'in_pod relay ip route get 10.250.0.5 | grep -q "mtu 1280"'
# Forget the learned path MTUs: the runs under the agent must learn them again.
in_pod relay ip route flush cache
in_pod relay ip -6 route flush cache

cat > "$OBJ/cluster.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: relay}
---
apiVersion: v1
kind: Pod
metadata: {name: relay-0, namespace: relay, labels: {app: relay}}
spec: {containers: [{name: relay, image: example.invalid/relay:1}]}
status: {podIP: 10.244.1.10, podIPs: [{ip: 10.244.1.10}, {ip: "fd00:244:1::10"}]}
YAML
cat > "$OBJ/relay.yaml" <<'YAML'
# The relay isolated both ways: TCP 443 in from the client's ranges only,
# nothing out (answers are replies).  No rule mentions the router.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: relay-allow-clients, namespace: relay}
spec:
  podSelector: {matchLabels: {app: relay}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 10.250.0.0/24}
    - ipBlock: {cidr: "fd00:250::/64"}
    ports:
    - {protocol: TCP, port: 443}
YAML

nsenter --net="/run/netns/$NODE_NS" "$AGENT" --objects "$OBJ" --node-ip 10.0.0.1 \
	--pin-path "$PIN" --log-level info >/dev/null 2>>"$TMP/agent.log" &
AGENT_PID=$!
if ! wait_for_log "$TMP/agent.log" 'msg="ready' 100; then
	not_ok "agent starts and logs ready within 10 s"
	finish
fi
ok "agent starts and logs ready"

check "relay isolated: a ping from the router is dropped" \
	eval '! in_rtr ping -c 1 -W 1 10.244.1.10 >/dev/null 2>&1'
check "relay isolated: TCP 443 from the router is dropped" \
	eval 'out=$(in_rtr "$NPCONN" connect --timeout-ms 1000 10.244.1.10 443 2>&1); [[ $out == *"timed out"* ]]'
check "small answers work: the echo over IPv4" eval 'in_cli "$NPCONN" connect 10.244.1.10 443 2>>"$TMP/conn.log"'
check "1 MiB over IPv4 through the 1280-byte link: frag-needed reaches the relay as related" fetch 10.244.1.10
check "1 MiB over IPv6: packet-too-big reaches the relay as related" fetch fd00:244:1::10
check "the relay learned the path MTU under the agent (IPv4)" \
	eval 'in_pod relay ip route get 10.250.0.5 | grep -q "mtu 1280"'
check "the relay learned the path MTU under the agent (IPv6)" \
	eval 'in_pod relay ip -6 route get fd00:250::5 | grep -q "mtu 1280"'
check "no errors in the agent's log" eval '! grep -q "level=error" "$TMP/agent.log"'

stop_pid "$AGENT_PID" TERM
AGENT_PID=
finish
