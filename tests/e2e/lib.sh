# shellcheck shell=bash
# Helpers for the end-to-end test and the demo: a "node" network namespace
# with pods attached by veth pairs, the way a CNI plugin wires them:
#   - each pod namespace has eth0 with its /32 (and /128) address and a
#     default route via 169.254.1.1 (IPv4, answered by the node: the address
#     is on the node's lo and arp_ignore=0) and fe80::1 (IPv6, on every
#     host-side veth);
#   - the node namespace has a /32 (/128) route to each pod via the pod's
#     host-side veth, and forwards.
# Nothing outside the namespaces named $NP_PREFIX-* is touched.

NP_PREFIX=${NP_PREFIX:-np-e2e}
NODE_NS=$NP_PREFIX-node

in_node() { ip netns exec "$NODE_NS" "$@"; }
in_pod() { local pod=$1; shift; ip netns exec "$NP_PREFIX-$pod" "$@"; }

# ---- test bookkeeping and probes (the scripts set PASS, FAIL, TMP, NPCONN,
# AGENT, LISTENER_PIDS) ----
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

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
start_listener() { # POD [--udp] PORT
	local pod=$1; shift
	# ip netns exec execs the program: $! is the listener itself.
	ip netns exec "$NP_PREFIX-$pod" "$NPCONN" listen "$@" \
		>/dev/null 2>>"$TMP/listen-$pod.log" &
	LISTENER_PIDS+=($!)
}

# hold NAME POD ADDR PORT DURATION_MS [options]: a connection exchanging a
# line every 100 ms in the background; `held NAME` / `broken NAME` later
# (the scripts set HOLD_PIDS).
hold() {
	local name=$1 pod=$2 addr=$3 port=$4 ms=$5; shift 5
	ip netns exec "$NP_PREFIX-$pod" "$NPCONN" hold --interval-ms 100 --duration-ms "$ms" \
		--timeout-ms 1000 "$@" "$addr" "$port" 2>"$TMP/hold-$name.log" &
	HOLD_PIDS+=($!)
	eval "HOLD_$name=$!"
	sleep 0.3
}
hold_result() { local pid; eval "pid=\$HOLD_$1"; wait "$pid"; }
held() {
	hold_result "$1" && grep -q "held" "$TMP/hold-$1.log" && return 0
	sed 's/^/# /' "$TMP/hold-$1.log"
	return 1
}
broken() {
	! hold_result "$1" && grep -q "broken" "$TMP/hold-$1.log" && return 0
	sed 's/^/# /' "$TMP/hold-$1.log"
	return 1
}

# The agent in the node's network namespace only: `ip netns exec` would
# also remount /sys and hide the bpf filesystem the agent pins to.
agent_ns() { nsenter --net="/run/netns/$NODE_NS" "$AGENT" "$@"; }

# Delete every namespace of ours (leftovers of an aborted run included).
net_cleanup() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in
		"$NP_PREFIX"-*) ip netns del "$ns" 2>/dev/null || true ;;
		esac
	done
}

net_setup_node() {
	ip netns add "$NODE_NS"
	in_node ip link set lo up
	in_node sysctl -qw net.ipv4.ip_forward=1
	in_node sysctl -qw net.ipv6.conf.all.forwarding=1
	in_node sysctl -qw net.ipv4.conf.all.rp_filter=0
	in_node sysctl -qw net.ipv4.conf.default.rp_filter=0
	in_node ip addr add 169.254.1.1/32 dev lo
}

# net_add_pod NAME IPV4 [IPV6]: namespace $NP_PREFIX-NAME, host side np-NAME.
net_add_pod() {
	local name=$1 v4=$2 v6=${3:-} ns=$NP_PREFIX-$1 host=np-$1
	ip netns add "$ns"
	in_node ip link add "$host" type veth peer name eth0 netns "$ns"
	in_node ip addr add fe80::1/64 dev "$host" nodad
	in_node ip link set "$host" up
	in_pod "$name" ip link set lo up
	in_pod "$name" ip link set eth0 up
	in_pod "$name" ip addr add "$v4/32" dev eth0
	in_pod "$name" ip route add default via 169.254.1.1 dev eth0 onlink
	in_node ip route add "$v4/32" dev "$host"
	if [ -n "$v6" ]; then
		in_pod "$name" ip addr add "$v6/128" dev eth0 nodad
		in_pod "$name" ip -6 route add default via fe80::1 dev eth0
		in_node ip -6 route add "$v6/128" dev "$host"
	fi
}

# alive PID: running (a zombie child that exited but was not reaped is not).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# stop_pid PID [SIGNAL]: signal, wait up to 5 s, then SIGKILL; reaps it if it
# is our child.  Returns its exit status (137 after SIGKILL).
stop_pid() {
	local pid=$1 sig=${2:-TERM} i
	kill -"$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# wait_for_log FILE PATTERN TIMEOUT_DS: poll every 0.1 s, at most TIMEOUT_DS
# tenths of a second.  0 when PATTERN appeared.
wait_for_log() {
	local file=$1 pattern=$2 n=${3:-50} i
	for ((i = 0; i < n; i++)); do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_for_count FILE PATTERN COUNT TIMEOUT_DS: PATTERN appears COUNT times.
wait_for_count() {
	local file=$1 pattern=$2 want=$3 n=${4:-50} i c
	for ((i = 0; i < n; i++)); do
		c=$(grep -c -- "$pattern" "$file" 2>/dev/null || true)
		[ "${c:-0}" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}

# objects_cluster DIR: namespaces and pods of the e2e/demo topology.
objects_cluster() {
	cat > "$1/cluster.yaml" <<'YAML'
# The e2e/demo cluster: the relay pod, one in-cluster client pod, and a pod
# on another node (routed via the node's default route: not local).
apiVersion: v1
kind: Namespace
metadata:
  name: relay
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: v1
kind: Namespace
metadata:
  name: remote
---
apiVersion: v1
kind: Pod
metadata:
  name: relay-0
  namespace: relay
  labels:
    app: relay
spec:
  containers:
  - name: relay
    image: example.invalid/relay:1
    ports:
    - name: https
      containerPort: 443
status:
  podIP: 10.244.1.10
  podIPs:
  - ip: 10.244.1.10
  - ip: fd00:244:1::10
---
apiVersion: v1
kind: Pod
metadata:
  name: client-0
  namespace: other
  labels:
    app: client
spec:
  containers:
  - name: client
    image: example.invalid/client:1
status:
  podIP: 10.244.2.20
  podIPs:
  - ip: 10.244.2.20
  - ip: fd00:244:2::20
---
apiVersion: v1
kind: Pod
metadata:
  name: remote-0
  namespace: remote
  labels:
    app: remote
spec:
  containers:
  - name: remote
    image: example.invalid/remote:1
status:
  podIP: 10.244.9.9
  podIPs:
  - ip: 10.244.9.9
YAML
}
