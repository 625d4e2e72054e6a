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
#   np-e2e-relay   pod relay/relay-0    10.244.1.10  fd00:244:1::10  (TCP 443, 8080; UDP 443)
#   np-e2e-aks     "AKS" client         10.250.0.5   fd00:250::5     (not a pod; TCP 443, UDP 5353)
#   np-e2e-other   pod other/client-0   10.244.2.20  fd00:244:2::20  (a foreign cBPF
#                  filter and the clsact qdisc on np-other exist before the agent)
#   np-e2e-late    pod relay/late-0     10.244.3.30  fd00:244:3::30  created after the agent started
#   np-e2e-stray   10.244.4.40: an interface with a host route but no pod in the objects
#   pod remote/remote-0 10.244.9.9 exists only in the objects: it is routed via
#   the default route, so the agent must not treat it as local.
# Policies: relay-allow-aks.yaml as shipped, plus an egress default-deny for
# the relay, so allowed connections only complete if replies are recognised.
# The agent runs with its own --pin-path (/sys/fs/bpf/netpol-e2e), under
# nsenter (ip netns exec would hide /sys/fs/bpf); edits are picked up by the
# inotify watch; the run covers kill -9 and restart with open connections,
# a map layout migration, strict mode and --uninstall.
# Output: "ok - ..." / "not ok - ..." per check, then "e2e: N passed, M failed".
# shellcheck disable=SC2317,SC2016 # functions run through check/trap; eval strings expand later
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# The map layout version the agent pins under, and the next one (for the
# migration check).
LAYOUT=$(sed -n 's/^#define NP_PIN_LAYOUT_VERSION \([0-9]*\)u$/\1/p' "$HERE/../../user/pin.h")
NEXT_LAYOUT=$((LAYOUT + 1))
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
POLICY=$ROOT/policies/relay-allow-aks.yaml
PIN=/sys/fs/bpf/netpol-e2e

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
	local f
	if [ "$FAIL" -gt 0 ] && [ -n "$TMP" ]; then
		for f in "$TMP"/agent*.log "$TMP"/uninstall.log; do
			[ -f "$f" ] || continue
			echo "# $(basename "$f") (last 25 lines):"
			tail -n 25 "$f" | sed 's/^/#   /'
		done
	fi
	echo "e2e: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
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

hup_and_wait() { # PATTERN COUNT: SIGHUP, then wait for the COUNT-th PATTERN
	kill -HUP "$AGENT_PID"
	wait_for_count "$TMP/agent.log" "$1" "$2" 100
}

# start_agent LOG [options]: run the agent (background), AGENT_PID; wait for ready.
start_agent() {
	local log=$1; shift
	# Not through a shell function: $! must be the agent itself (signals).
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --objects "$OBJ" --node-ip 10.0.0.1 \
		--pin-path "$PIN" --log-level info "$@" >/dev/null 2>>"$log" &
	AGENT_PID=$!
	wait_for_log "$log" 'msg="ready' 100
}

# edit FILE: replace a watched file atomically (rename), as editors and
# kubectl-style tools do; the agent must apply it within a second.
put() { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }
reloaded_within_1s() { wait_for_count "$TMP/agent.log" 'msg="reloaded' "$1" 10; }

pins_gone() { [ ! -e "$PIN" ]; }
clsact_on() { in_node tc qdisc show dev "$1" 2>/dev/null | grep -q clsact; }
foreign_filter_on() { in_node tc filter show dev "$1" ingress 2>/dev/null | grep -q "bytecode"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- preconditions ----
if [ "$(id -u)" -ne 0 ]; then
	echo "tests/e2e/run.sh: needs root (network namespaces and BPF); run: sudo make test-e2e" >&2
	exit 2
fi
if ! command -v nsenter >/dev/null; then
	echo "tests/e2e/run.sh: needs nsenter (util-linux)" >&2
	exit 2
fi
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	echo "tests/e2e/run.sh: /sys/fs/bpf is not a bpf filesystem; mount it: mount -t bpf bpf /sys/fs/bpf" >&2
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
start_listener relay --udp 443
start_listener aks --udp 5353
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
check "baseline without agent: aks -> relay UDP 443 answers" allowed aks 10.244.1.10 443 --udp

# Someone else's clsact qdisc and filter on np-other, there before the agent:
# the agent shares the qdisc and must never remove either.
in_node tc qdisc add dev np-other clsact
in_node tc filter add dev np-other ingress prio 100 protocol all bpf bytecode '1,6 0 0 4294967295,' flowid 1:1
agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1 # leftovers of an aborted run

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
# A second relay pod, known from the start; its interface appears later.
cat > "$TMP/late.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: late-0
  namespace: relay
  labels:
    app: relay
spec:
  containers:
  - name: relay
    image: example.invalid/relay:1
status:
  podIP: 10.244.3.30
  podIPs:
  - ip: 10.244.3.30
  - ip: fd00:244:3::30
YAML
cp "$TMP/late.yaml" "$OBJ/late.yaml"
# Policy variants: the shipped one plus client-0's ranges; an invalid edit.
awk '{ print } /cidr: 10.251.0.0\/16/ {
	print "    - ipBlock:"; print "        cidr: 10.244.2.0/24"
	print "    - ipBlock:"; print "        cidr: fd00:244:2::/64" }' \
	"$POLICY" > "$TMP/allow-other.yaml"
sed 's/port: 443/port: 99999/' "$POLICY" > "$TMP/invalid.yaml"

# ---- start the agent in the node namespace ----
if ! start_agent "$TMP/agent.log"; then
	not_ok "agent starts and logs ready within 10 s"
	finish
fi
ok "agent starts and logs ready"
check "agent finds exactly the 2 local pods (relay-0, client-0) via routes" \
	grep -q 'ready: 2 policies, 4 pods, 2 local pods on 2 interfaces (0 failed' "$TMP/agent.log"
check "np_pod_egress attached on np-relay TC ingress" filters_on np-relay ingress
check "np_pod_ingress attached on np-relay TC egress" filters_on np-relay egress
check "attached on np-other (pod other/client-0)" filters_on np-other ingress
check "not attached on np-aks (not a pod in the objects)" no_filters_on np-aks ingress
check "not attached on np-uplink (remote pod routed via the default route)" no_clsact_on np-uplink
check "maps and programs pinned under $PIN/v$LAYOUT" test -e "$PIN/v$LAYOUT/np_ct" -a -e "$PIN/v$LAYOUT/np_pod_ingress"

# ---- enforcement ----
check "aks 10.250.0.5 -> relay:443 allowed, echo completes (replies pass the relay's egress isolation)" \
	allowed aks 10.244.1.10 443
check "aks fd00:250::5 -> relay:443 over IPv6 denied (the AKS CIDRs are IPv4 only)" denied aks fd00:244:1::10 443
check "aks -> relay:8080 denied (only 443 allowed)" denied aks 10.244.1.10 8080
check "aks -> relay UDP 443 denied (the policy allows TCP only)" denied aks 10.244.1.10 443 --udp
check "other 10.244.2.20 -> relay:443 denied (not an AKS CIDR)" denied other 10.244.1.10 443
check "other -> relay:443 over IPv6 denied" denied other fd00:244:1::10 443
check "relay -> aks:443 denied (relay egress isolated, new connection)" denied relay 10.250.0.5 443
check "node address 10.0.0.1 -> relay:8080 allowed (node always allowed)" node_allowed 10.0.0.1 10.244.1.10 8080
check "other -> aks:443 allowed (client-0 is not isolated)" allowed other 10.250.0.5 443
check "other -> aks UDP 5353 allowed, IPv4 and IPv6" \
	eval 'allowed other 10.250.0.5 5353 --udp && allowed other fd00:250::5 5353 --udp'

# ---- an edited file is applied by the watch (no signal) ----
hold aks_v4 aks 10.244.1.10 443 3000
hold other_udp other 10.250.0.5 5353 3000 --udp
t0=$(now_ms)
put "$TMP/allow-other.yaml" "$OBJ/relay-allow-aks.yaml"
check "watch: edit (rename over the file) applied within 1 s" reloaded_within_1s 1
echo "# edit applied $(($(now_ms) - t0)) ms after the rename (debounce 100 ms)"
check "after the edit: other -> relay:443 allowed" allowed other 10.244.1.10 443
check "after the edit: other -> relay:443 over IPv6 allowed" allowed other fd00:244:1::10 443
check "after the edit: aks -> relay:8080 still denied" denied aks 10.244.1.10 8080

# ---- anti-spoofing: client-0 sends from an address that is not its own ----
in_pod other ip addr add 10.244.2.99/32 dev eth0
in_node ip route add 10.244.2.99/32 dev np-other
check "spoofed source 10.244.2.99 from client-0 dropped (policy would allow it)" \
	denied other 10.244.1.10 443 --source 10.244.2.99
in_node ip route del 10.244.2.99/32 dev np-other

# ---- open connections across an edit: cut or kept exactly as the policy says ----
check "a TCP connection held across the first edit kept working" held aks_v4
check "a UDP flow held across the first edit kept working" held other_udp
hold other_cut other 10.244.1.10 443 3000
hold other_v6 other fd00:250::5 443 3000
sleep 0.5
cp "$POLICY" "$OBJ/relay-allow-aks.yaml" # written in place this time
check "watch: in-place edit applied within 1 s" reloaded_within_1s 2
check "open connection other -> relay:443 cut when its rule went away" broken other_cut
check "open connection other -> aks:443 (IPv6) kept: still allowed" held other_v6
check "after the edit: new other -> relay:443 connection denied" denied other 10.244.1.10 443

# ---- an invalid edit keeps the last good policy ----
put "$TMP/invalid.yaml" "$OBJ/relay-allow-aks.yaml"
check "invalid edit: reload failure logged within 1 s" wait_for_log "$TMP/agent.log" 'reload failed' 10
check "invalid edit: the error names the file and the field" \
	grep -q 'level=error.*relay-allow-aks.yaml.*port' "$TMP/agent.log"
check "invalid edit: agent still running" alive "$AGENT_PID"
check "invalid edit: last good policy stays (aks -> relay:443 allowed)" allowed aks 10.244.1.10 443
check "invalid edit: other -> relay:443 still denied" denied other 10.244.1.10 443
put "$POLICY" "$OBJ/relay-allow-aks.yaml"
check "fixed edit applied" reloaded_within_1s 3
check "SIGHUP still reloads" hup_and_wait 'msg="reloaded' 4
mv "$OBJ/relay-deny-egress.yaml" "$TMP/relay-deny-egress.yaml"
check "watch: a removed file is applied within 1 s" reloaded_within_1s 5
check "removed egress policy: relay -> aks:443 now allowed" allowed relay 10.250.0.5 443
cp "$TMP/relay-deny-egress.yaml" "$OBJ/relay-deny-egress.yaml"
check "watch: an added file is applied within 1 s" reloaded_within_1s 6
check "added egress policy: relay -> aks:443 denied again" denied relay 10.250.0.5 443

# ---- a pod interface created after the agent started ----
t0=$(now_ms)
net_add_pod late 10.244.3.30 fd00:244:3::30
start_listener late 443
for ((i = 0; i < 200; i++)); do filters_on np-late egress && break; sleep 0.005; done
t1=$(now_ms)
check "new pod interface np-late covered (filters on both hooks)" \
	eval 'filters_on np-late ingress && filters_on np-late egress'
echo "# np-late: filters attached $((t1 - t0)) ms after starting to create the veth (includes ip(8) runs); agent: $(grep -o 'link/route change applied in [0-9.]* ms' "$TMP/agent.log" | tail -n 1)"
wait_for_log "$TMP/listen-late.log" "listening tcp 443" 50
check "late-0: aks -> late:443 allowed" allowed aks 10.244.3.30 443
check "late-0: other -> late:443 denied (the relay policy applies to the new pod)" denied other 10.244.3.30 443
net_add_pod stray 10.244.4.40
check "standard mode: an interface without a known pod is left alone" no_filters_on np-stray ingress

# ---- kill -9 with open connections; a denied peer stays denied ----
hold k9_v4 aks 10.244.1.10 443 4000
hold k9_v6 other fd00:250::5 443 4000
ct_id() { bpftool map show pinned "$PIN/v$LAYOUT/np_ct" 2>/dev/null | sed -n 's/^\([0-9]*\):.*/\1/p'; }
CT_ID=$(ct_id)
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
check "after kill -9: filters still on np-relay" eval 'filters_on np-relay ingress && filters_on np-relay egress'
check "after kill -9: other -> relay:443 still denied" denied other 10.244.1.10 443
# Changes while no agent runs: the restarted one reconciles.
put "$TMP/allow-other.yaml" "$OBJ/relay-allow-aks.yaml"
rm "$OBJ/late.yaml"
start_agent "$TMP/agent2.log"
check "restart: the pinned maps are reused (conntrack included)" \
	grep -q 'reusing 12 pinned maps' "$TMP/agent2.log"
check "restart: the very same conntrack map (id ${CT_ID:-?}) is in use" \
	eval '[ -n "$CT_ID" ] && [ "$(ct_id)" = "$CT_ID" ] && in_node tc filter show dev np-relay ingress | grep -q "np_pod_egress" && bpftool prog show name np_pod_egress 2>/dev/null | grep -q "map_ids.*\b$CT_ID\b"'
check "restart: the filters are taken over (replaced atomically)" \
	grep -q 'took over np-relay' "$TMP/agent2.log"
check "restart: TCP connection open across kill -9 and restart kept working (IPv4)" held k9_v4
check "restart: ... and IPv6 (other -> aks, through client-0's filters)" held k9_v6
check "reconcile: the edit made while the agent was down applies (other -> relay:443 allowed)" \
	allowed other 10.244.1.10 443
check "reconcile: late-0 removed while down: its interface is detached" \
	eval 'grep -q "detaching from np-late" "$TMP/agent2.log" && no_filters_on np-late ingress'

# ---- vanished interfaces are forgotten ----
cp "$TMP/late.yaml" "$OBJ/late.yaml"
wait_for_count "$TMP/agent2.log" 'msg="reloaded' 1 10
check "late-0 back in the objects: np-late attached again" filters_on np-late ingress
in_node ip link del np-late
check "a vanished interface is forgotten" wait_for_log "$TMP/agent2.log" 'np-late (ifindex [0-9]*) is gone' 10
put "$POLICY" "$OBJ/relay-allow-aks.yaml"
wait_for_count "$TMP/agent2.log" 'msg="reloaded' 2 10

# ---- SIGTERM keeps enforcement ----
stop_pid "$AGENT_PID" TERM
rc=$?
AGENT_PID=
check "SIGTERM: agent exits 0 within 5 s" test "$rc" = 0
check "SIGTERM: filters stay on np-relay" eval 'filters_on np-relay ingress && filters_on np-relay egress'
check "SIGTERM: other -> relay:443 still denied with no agent running" denied other 10.244.1.10 443
check "SIGTERM: aks -> relay:443 still allowed" allowed aks 10.244.1.10 443

# ---- map layout change: new maps, filters switched, old pins removed ----
hold layout aks 10.244.1.10 443 3000
NETPOL_PIN_LAYOUT=$NEXT_LAYOUT start_agent "$TMP/agent3.log"
check "layout v$NEXT_LAYOUT: maps created fresh and filters switched" \
	eval 'grep -q "pinned maps of another layout version" "$TMP/agent3.log" && grep -q "took over np-relay" "$TMP/agent3.log"'
check "layout v$NEXT_LAYOUT: the v$LAYOUT pins are removed, v$NEXT_LAYOUT pinned" eval '[ ! -e "$PIN/v$LAYOUT" ] && [ -e "$PIN/v$NEXT_LAYOUT/np_ct" ]'
check "layout v$NEXT_LAYOUT: TCP connection open across the switch kept working" held layout
check "layout v$NEXT_LAYOUT: other -> relay:443 denied" denied other 10.244.1.10 443
stop_pid "$AGENT_PID" TERM
AGENT_PID=

# ---- uninstall ----
agent_ns --uninstall --pin-path "$PIN" 2>"$TMP/uninstall.log"
check "uninstall: exits 0" test $? = 0
check "uninstall: no pins left under $PIN" pins_gone
check "uninstall: no filters left on np-relay" eval 'no_filters_on np-relay ingress && no_filters_on np-relay egress'
check "uninstall: the clsact qdisc the agent created on np-relay is removed" no_clsact_on np-relay
check "uninstall: np-other keeps the clsact qdisc and the filter that were not ours" \
	eval 'clsact_on np-other && foreign_filter_on np-other && ! in_node tc filter show dev np-other ingress | grep -q np_pod_'
check "uninstall: other -> relay:443 flows again" allowed other 10.244.1.10 443
agent_ns --uninstall --pin-path "$PIN" 2>>"$TMP/uninstall.log"
check "uninstall again: nothing to do, exits 0" test $? = 0

# ---- strict mode: unknown interfaces covered as soon as their route exists ----
if start_agent "$TMP/agent-strict.log" --default-enforcement=strict; then ok "strict: agent ready"; else not_ok "strict: agent ready"; fi
check "strict: np-stray (host route, no known pod) is covered at start" filters_on np-stray ingress
check "strict: stray -> aks:443 dropped" denied stray 10.250.0.5 443
net_add_pod stray2 10.244.4.41
for ((i = 0; i < 100; i++)); do filters_on np-stray2 egress && break; sleep 0.01; done
check "strict: a new interface without a known pod is covered at once" filters_on np-stray2 egress
check "strict: known pods still work (node 10.0.0.1 -> relay:8080)" node_allowed 10.0.0.1 10.244.1.10 8080
check "strict: np-aks (a host route, not a pod in the objects) is covered too: aks -> relay:443 dropped" denied aks 10.244.1.10 443
stop_pid "$AGENT_PID" TERM
AGENT_PID=
agent_ns --uninstall --pin-path "$PIN" 2>>"$TMP/uninstall.log"
check "strict: uninstall leaves nothing" eval 'pins_gone && no_clsact_on np-stray && no_clsact_on np-relay'

finish
