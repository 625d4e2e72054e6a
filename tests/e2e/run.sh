#!/usr/bin/env bash
# End-to-end test: the real agent binary enforcing the real example policy
# (policies/relay-allow-aks.yaml) on real connections between network
# namespaces.  Usage: tests/e2e/run.sh BUILD_DIR   (as root; `make test-e2e`)
#
# Topology (all in namespaces named np-e2e-*; the machine's own interfaces
# are never touched):
#   np-e2e-node    the node: host-side veths np-relay, np-aks, np-other, an
#                  uplink veth np-uplink carrying the default route, node
#                  address 10.0.0.1 (passed with --node-ip)
#   np-e2e-relay   pod relay/relay-0    10.244.1.10  fd00:244:1::10  (TCP 443, 8080)
#   np-e2e-aks     "AKS" client         10.250.0.5   fd00:250::5     (not a pod; TCP 443)
#   np-e2e-other   pod other/client-0   10.244.2.20  fd00:244:2::20
#   pod remote/remote-0 10.244.9.9 exists only in the objects: it is routed via
#   the default route, so the agent must not treat it as local.
# Policies: relay-allow-aks.yaml as shipped, plus an egress default-deny for
# the relay, so allowed connections only complete if replies are recognised.
# Output: "ok - ..." / "not ok - ..." per check, then "e2e: N passed, M failed".
# shellcheck disable=SC2317 # functions below run through check/trap
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
POLICY=$ROOT/policies/relay-allow-aks.yaml

# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

PASS=0
FAIL=0
TMP=
AGENT_PID=
LISTENER_PIDS=()

ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

cleanup() {
	local p
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	for p in "${LISTENER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LISTENER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	if [ "$FAIL" -gt 0 ] && [ -n "$TMP" ] && [ -f "$TMP/agent.log" ]; then
		echo "# agent log (last 40 lines):"
		tail -n 40 "$TMP/agent.log" | sed 's/^/#   /'
	fi
	echo "e2e: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

# allowed POD ADDR PORT [np-conn options]: the echo completes.
allowed() {
	local pod=$1 addr=$2 port=$3; shift 3
	in_pod "$pod" "$NPCONN" connect --timeout-ms 3000 "$@" "$addr" "$port" 2>>"$TMP/conn.log"
}
# denied POD ADDR PORT [options]: silently dropped (a timeout, not a refusal:
# a refusal would mean the packets got through to a closed port).
denied() {
	local pod=$1 addr=$2 port=$3 out rc; shift 3
	out=$(in_pod "$pod" "$NPCONN" connect --timeout-ms 1000 "$@" "$addr" "$port" 2>&1)
	rc=$?
	echo "$out" >>"$TMP/conn.log"
	[ "$rc" -eq 1 ] && [[ $out == *"timed out"* ]]
}
# from the node itself with a given source address
node_allowed() {
	in_node "$NPCONN" connect --timeout-ms 3000 --source "$1" "$2" "$3" 2>>"$TMP/conn.log"
}

filters_on() { # DEV HOOK: our program is attached there
	in_node tc filter show dev "$1" "$2" 2>/dev/null | grep -q "np_pod_"
}
no_filters_on() {
	[ -z "$(in_node tc filter show dev "$1" "$2" 2>/dev/null)" ]
}
no_clsact_on() {
	! in_node tc qdisc show dev "$1" 2>/dev/null | grep -q clsact
}

start_listener() { # POD [--udp] PORT
	local pod=$1; shift
	# ip netns exec execs the program: $! is the listener itself.
	ip netns exec "$NP_PREFIX-$pod" "$NPCONN" listen "$@" \
		>/dev/null 2>>"$TMP/listen-$pod.log" &
	LISTENER_PIDS+=($!)
}

hup_and_wait() { # PATTERN COUNT: SIGHUP, then wait for the COUNT-th PATTERN
	kill -HUP "$AGENT_PID"
	wait_for_count "$TMP/agent.log" "$1" "$2" 100
}

# ---- preconditions ----
if [ "$(id -u)" -ne 0 ]; then
	echo "tests/e2e/run.sh: needs root (network namespaces and BPF); run: sudo make test-e2e" >&2
	exit 2
fi
for b in "$AGENT" "$NPCONN"; do
	if [ ! -x "$b" ]; then
		echo "tests/e2e/run.sh: $b is missing; build it with: make" >&2
		exit 2
	fi
done

net_cleanup
TMP=$(mktemp -d /tmp/np-e2e.XXXXXX)
OBJ=$TMP/objects
mkdir -p "$OBJ"

# ---- topology ----
net_setup_node
in_node ip addr add 10.0.0.1/32 dev lo
ip netns add "$NP_PREFIX-upstream"
in_node ip link add np-uplink type veth peer name eth0 netns "$NP_PREFIX-upstream"
in_node ip addr add 192.0.2.1/24 dev np-uplink
in_node ip link set np-uplink up
in_node ip route add default via 192.0.2.254 dev np-uplink
net_add_pod relay 10.244.1.10 fd00:244:1::10
net_add_pod aks 10.250.0.5 fd00:250::5
net_add_pod other 10.244.2.20 fd00:244:2::20

start_listener relay 443
start_listener relay 8080
start_listener aks 443
for f in relay aks; do
	if ! wait_for_log "$TMP/listen-$f.log" "listening tcp 443" 50; then
		echo "tests/e2e/run.sh: np-conn listen did not start in $f" >&2
		FAIL=$((FAIL + 1))
		finish
	fi
done
wait_for_log "$TMP/listen-relay.log" "listening tcp 8080" 50

# Without the agent everything flows: later denials are the policy's doing.
check "baseline without agent: aks -> relay:8080 connects" allowed aks 10.244.1.10 8080
check "baseline without agent: other -> relay:443 connects" allowed other 10.244.1.10 443
check "baseline without agent: other -> relay:443 over IPv6 connects" allowed other fd00:244:1::10 443

# ---- objects: the shipped example policy, used as-is ----
objects_cluster "$OBJ"
cp "$POLICY" "$OBJ/relay-allow-aks.yaml"
cat > "$OBJ/relay-deny-egress.yaml" <<'YAML'
# The relay opens no connections: egress isolated with no rule, so replies
# to allowed inbound connections must be recognised as replies.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: relay-deny-egress
  namespace: relay
spec:
  podSelector:
    matchLabels:
      app: relay
  policyTypes:
  - Egress
YAML

# ---- start the agent in the node namespace ----
# Not through a shell function: $! must be the agent itself (signals).
ip netns exec "$NODE_NS" "$AGENT" --objects "$OBJ" --node-ip 10.0.0.1 \
	--log-level info >/dev/null 2>"$TMP/agent.log" &
AGENT_PID=$!
if ! wait_for_log "$TMP/agent.log" 'msg="ready' 100; then
	not_ok "agent starts and logs ready within 10 s"
	finish
fi
ok "agent starts and logs ready"
check "agent finds exactly the 2 local pods (relay-0, client-0) via routes" \
	grep -q 'ready: 2 policies, 3 pods, 2 local pods on 2 interfaces (0 failed' "$TMP/agent.log"
check "np_pod_egress attached on np-relay TC ingress" filters_on np-relay ingress
check "np_pod_ingress attached on np-relay TC egress" filters_on np-relay egress
check "attached on np-other (pod other/client-0)" filters_on np-other ingress
check "not attached on np-aks (not a pod in the objects)" no_filters_on np-aks ingress
check "not attached on np-uplink (remote pod routed via the default route)" no_clsact_on np-uplink

# ---- enforcement ----
check "aks 10.250.0.5 -> relay:443 allowed, echo completes (replies pass the relay's egress isolation)" \
	allowed aks 10.244.1.10 443
check "aks -> relay:8080 denied (only 443 allowed)" denied aks 10.244.1.10 8080
check "other 10.244.2.20 -> relay:443 denied (not an AKS CIDR)" denied other 10.244.1.10 443
check "other -> relay:443 over IPv6 denied" denied other fd00:244:1::10 443
check "relay -> aks:443 denied (relay egress isolated, new connection)" denied relay 10.250.0.5 443
check "node address 10.0.0.1 -> relay:8080 allowed (node always allowed)" node_allowed 10.0.0.1 10.244.1.10 8080
check "other -> aks:443 allowed (client-0 is not isolated)" allowed other 10.250.0.5 443

# ---- SIGHUP: allow the other client's CIDRs ----
awk '{ print } /cidr: 10.251.0.0\/16/ {
	print "    - ipBlock:"; print "        cidr: 10.244.2.0/24"
	print "    - ipBlock:"; print "        cidr: fd00:244:2::/64" }' \
	"$POLICY" > "$OBJ/relay-allow-aks.yaml.new"
mv "$OBJ/relay-allow-aks.yaml.new" "$OBJ/relay-allow-aks.yaml"
check "SIGHUP reload logged" hup_and_wait 'msg="reloaded' 1
check "after reload: other -> relay:443 allowed" allowed other 10.244.1.10 443
check "after reload: other -> relay:443 over IPv6 allowed" allowed other fd00:244:1::10 443
check "after reload: aks -> relay:8080 still denied" denied aks 10.244.1.10 8080

# ---- anti-spoofing: client-0 sends from an address that is not its own ----
in_pod other ip addr add 10.244.2.99/32 dev eth0
in_node ip route add 10.244.2.99/32 dev np-other
check "spoofed source 10.244.2.99 from client-0 dropped (policy would allow it)" \
	denied other 10.244.1.10 443 --source 10.244.2.99

# ---- an invalid edit keeps the last good policy ----
sed 's/port: 443/port: 99999/' "$OBJ/relay-allow-aks.yaml" > "$OBJ/relay-allow-aks.yaml.new"
mv "$OBJ/relay-allow-aks.yaml.new" "$OBJ/relay-allow-aks.yaml"
check "invalid edit: reload failure logged" hup_and_wait 'reload failed' 1
check "invalid edit: error names the file" grep -q 'level=error.*relay-allow-aks.yaml' "$TMP/agent.log"
check "invalid edit: agent still running" alive "$AGENT_PID"
check "invalid edit: last good policy stays (other -> relay:443 allowed)" allowed other 10.244.1.10 443
check "invalid edit: aks -> relay:8080 still denied" denied aks 10.244.1.10 8080

# ---- remove the rule again ----
cp "$POLICY" "$OBJ/relay-allow-aks.yaml"
check "rule removed: reload logged" hup_and_wait 'msg="reloaded' 2
check "rule removed: new other -> relay:443 connection denied" denied other 10.244.1.10 443
check "rule removed: aks -> relay:443 still allowed" allowed aks 10.244.1.10 443

# ---- SIGTERM: filters detached, clsact removed, exit 0 ----
stop_pid "$AGENT_PID" TERM
rc=$?
AGENT_PID=
check "SIGTERM: agent exits 0 within 5 s" test "$rc" = 0
check "SIGTERM: no filters left on np-relay ingress" no_filters_on np-relay ingress
check "SIGTERM: no filters left on np-relay egress" no_filters_on np-relay egress
check "SIGTERM: no filters left on np-other ingress" no_filters_on np-other ingress
check "SIGTERM: clsact qdiscs the agent created are removed" no_clsact_on np-relay
check "after exit: other -> relay:443 flows again (unfiltered)" allowed other 10.244.1.10 443

finish
