#!/usr/bin/env bash
# Idle CPU and memory of netpol-agent (the figures in the README), and the
# standard-mode window: time from a pod's host route appearing to the
# agent having written np_ifaces and attached both filters.
#   tools/agent-resources.sh [BUILD_DIR] [IDLE_SECONDS]     (root)
# Two agents idle side by side for IDLE_SECONDS (default 30): the relay
# example (2 local pods) and a generated set of 2000 pods / 500 policies.
# CPU is utime+stime from /proc/PID/stat over the idle period; memory is
# VmRSS (now) and VmHWM (peak, start-up included) from /proc/PID/status.
# Namespaces np-res-*, pins /sys/fs/bpf/netpol-res-*; removed at the end.
set -u
BUILD=${1:-build}
IDLE=${2:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
NP_PREFIX=np-res
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "tools/agent-resources.sh: needs root" >&2; exit 2; }

TMP=
A1='' A2='' A3=''
cleanup() {
	local p
	for p in $A1 $A2 $A3; do stop_pid "$p"; done
	if [ -e "/run/netns/$NODE_NS" ]; then
		for p in 1 2 3; do
			nsenter --net="/run/netns/$NODE_NS" "$BUILD/netpol-agent" --uninstall \
				--pin-path "/sys/fs/bpf/netpol-res-$p" >/dev/null 2>&1
		done
	fi
	net_cleanup
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

net_cleanup
TMP=$(mktemp -d /tmp/np-res.XXXXXX)
net_setup_node
net_add_pod relay 10.244.1.10 fd00:244:1::10
net_add_pod other 10.244.2.20 fd00:244:2::20
mkdir -p "$TMP/relay" "$TMP/big"
objects_cluster "$TMP/relay"
cp "$ROOT/policies/relay-allow-aks.yaml" "$TMP/relay/"
# 50 namespaces x 40 pods, 500 policies with selectors, ipBlocks with
# except, named and numbered ports, ingress and egress.
awk 'BEGIN {
	for (n = 0; n < 50; n++)
		printf "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns%d\n  labels:\n    team: t%d\n", n, n % 7
	for (n = 0; n < 50; n++) for (p = 0; p < 40; p++)
		printf "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: pod%d\n  namespace: ns%d\n  labels:\n    app: app%d\n    tier: tier%d\nspec:\n  containers:\n  - name: c\n    image: x\n    ports:\n    - name: http\n      containerPort: 8080\nstatus:\n  podIP: 10.100.%d.%d\n", p, n, p % 10, p % 3, n, p + 2
	for (i = 0; i < 500; i++)
		printf "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: pol%d\n  namespace: ns%d\nspec:\n  podSelector:\n    matchLabels:\n      app: app%d\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          team: t%d\n      podSelector:\n        matchLabels:\n          tier: tier%d\n    - ipBlock:\n        cidr: 172.%d.0.0/16\n        except: [172.%d.%d.0/24]\n    ports:\n    - port: http\n    - port: %d\n      protocol: UDP\n  egress:\n  - to:\n    - podSelector:\n        matchLabels:\n          app: app%d\n    ports:\n    - port: 8080\n", i, i % 50, i % 10, i % 7, i % 3, 16 + i % 16, 16 + i % 16, i % 250, 1000 + i, (i + 1) % 10
}' > "$TMP/big/cluster.yaml"

agent() { # N OBJECTS LOG
	nsenter --net="/run/netns/$NODE_NS" "$BUILD/netpol-agent" --objects "$2" \
		--pin-path "/sys/fs/bpf/netpol-res-$1" 2>"$3" &
}
agent 1 "$TMP/relay" "$TMP/a1.log"; A1=$!
agent 2 "$TMP/big" "$TMP/a2.log"; A2=$!
if ! wait_for_log "$TMP/a1.log" 'msg="ready' 100 || ! wait_for_log "$TMP/a2.log" 'msg="ready' 300; then
	echo "an agent did not start:"; cat "$TMP"/a*.log; exit 1
fi
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
s1=$(ticks "$A1"); s2=$(ticks "$A2")
echo "idle for $IDLE s..."
sleep "$IDLE"
e1=$(ticks "$A1"); e2=$(ticks "$A2")
report() { # NAME PID TICKS
	printf '%-34s idle CPU %5.3f %% (%d ticks of 1/%d s in %d s), %s\n' "$1" \
		"$(awk -v t="$3" -v hz="$hz" -v s="$IDLE" 'BEGIN { print 100 * t / hz / s }')" "$3" "$hz" "$IDLE" \
		"$(grep -E 'VmRSS|VmHWM' "/proc/$2/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
}
report "relay example (2 local pods):" "$A1" $((e1 - s1))
report "2000 pods, 500 policies:" "$A2" $((e2 - s2))
stop_pid "$A1"; stop_pid "$A2"; A1='' A2=''

# Standard-mode window: a known pod whose interface and route appear now.
cat > "$TMP/relay/late.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: late-0, namespace: relay, labels: {app: relay}}
spec: {containers: [{name: c, image: x}]}
status: {podIP: 10.244.3.30, podIPs: [{ip: 10.244.3.30}]}
YAML
agent 3 "$TMP/relay" "$TMP/a3.log"; A3=$!
wait_for_log "$TMP/a3.log" 'msg="ready' 100
for i in 1 2 3 4 5 6 7 8 9 10; do
	ip netns add "$NP_PREFIX-w$i"
	in_node ip link add "np-w$i" type veth peer name eth0 netns "$NP_PREFIX-w$i"
	in_node ip link set "np-w$i" up
	sleep 0.2
	t0=$(date +%s%N)
	in_node ip route add 10.244.3.30/32 dev "np-w$i"
	t1=$(date +%s%N)
	wait_for_log "$TMP/a3.log" "attached to np-w$i " 50
	ta=$(date -d "$(grep "attached to np-w$i " "$TMP/a3.log" | sed 's/^ts=\([^ ]*\) .*/\1/')" +%s%N)
	printf 'window %2d: attached %3d ms after "ip route add" started (that command alone took %d ms); agent-side %s\n' \
		"$i" $(((ta - t0) / 1000000)) $(((t1 - t0) / 1000000)) \
		"$(grep -o 'applied in [0-9.]* ms' "$TMP/a3.log" | tail -n 1)"
	in_node ip link del "np-w$i"
	ip netns del "$NP_PREFIX-w$i"
	sleep 0.1
done
