#!/usr/bin/env bash
# The per-kernel test suite: run inside each qemu guest by guest-init.sh, and
# directly on this machine for the host column.  Prints one line per result:
#   NP-RESULT load ok|FAIL
#   NP-RESULT bpf PASSED FAILED
#   NP-RESULT conformance PASSED FAILED
#   NP-RESULT connection PASSED FAILED
# and the tests' own output (indented) before each.
#   tools/kernels/suite.sh ROOT BUILD     (as root)
# NP_KT_CASES=GLOB,GLOB restricts the conformance cases (default: all).
set -u

root=${1:?usage: $0 ROOT BUILD}
build=${2:?usage: $0 ROOT BUILD}
export NP_PREFIX=${NP_PREFIX:-np-kt}
tmp=$(mktemp -d /tmp/np-kt.XXXXXX)
NPCONN=$build/np-conn
AGENT=$build/netpol-agent

indent() { sed 's/^/    /'; }
t0=$SECONDS
took() { echo "NP-TIME $1 $((SECONDS - t0))"; t0=$SECONDS; }

# ---- load: the datapath loads and judges one packet ----
echo "== load: netpolctl verdict (loads np_pod_ingress/np_pod_egress, runs one probe)"
if "$build/netpolctl" --log-level debug verdict -f "$root/tests/conformance/cluster.yaml" \
	--from x/a --to x/b --port 80 >"$tmp/load.out" 2>"$tmp/load.err" &&
	grep -q '"verdict": *"ALLOW"' "$tmp/load.out"; then
	# the verifier's statistics per program (complexity margin)
	sed -n "s/.*prog '\(np_pod_[a-z]*\)'.*\(processed [0-9]* insns ([^)]*)\).*/\1: \2/p" \
		"$tmp/load.err" | indent
	indent <"$tmp/load.out"
	echo "NP-RESULT load ok"
else
	grep -v 'level=debug' "$tmp/load.err" | head -c 4000 | indent
	cat "$tmp/load.out" | indent
	echo "NP-RESULT load FAIL"
fi
took load

# ---- BPF tests ----
echo "== bpf: tests/bpf/run.sh"
"$root/tests/bpf/run.sh" "$build" >"$tmp/bpf.out" 2>&1
grep -vE '^\[ +(RUN|OK) +\]' "$tmp/bpf.out" | indent
line=$(grep -E '^bpf: [0-9]+ passed, [0-9]+ failed' "$tmp/bpf.out" | tail -n1)
set -- $line
echo "NP-RESULT bpf ${2:-0} ${4:-1}"
took bpf

# ---- conformance ----
echo "== conformance: tests/conformance/run.sh"
# NP_KT_CASES: a comma-separated subset of cases (globs), default all
casev=()
[ -z "${NP_KT_CASES:-}" ] || IFS=, read -ra casev <<<"$NP_KT_CASES"
"$root/tests/conformance/run.sh" "$build" "${casev[@]}" >"$tmp/conf.out" 2>&1
grep -v '^ok ' "$tmp/conf.out" | head -n 200 | indent
line=$(grep -E '^conformance: [0-9]+ passed, [0-9]+ failed' "$tmp/conf.out" | tail -n1)
set -- $line
echo "NP-RESULT conformance ${2:-0} ${4:-1}"
took conformance

# ---- one real connection test: the agent in a node namespace ----
# Pods relay/relay-0 (10.244.1.10, policies/relay-allow-aks.yaml: TCP 443
# from 10.250.0.0/16 only) and other/client-0 (10.244.2.20); "aks" 10.250.0.5
# is a client outside the cluster.
echo "== connection: netpol-agent in a node namespace, np-conn between pod namespaces"
# shellcheck source=tests/e2e/lib.sh
. "$root/tests/e2e/lib.sh"
cpass=0
cfail=0
check() {
	local d=$1; shift
	if "$@"; then echo "    ok - $d"; cpass=$((cpass + 1)); else echo "    not ok - $d"; cfail=$((cfail + 1)); fi
}
allowed() { in_pod "$1" "$NPCONN" connect --timeout-ms 5000 "$2" "$3" 2>>"$tmp/conn.log"; }
denied() {
	local out rc
	out=$(in_pod "$1" "$NPCONN" connect --timeout-ms 1500 "$2" "$3" 2>&1)
	rc=$?
	echo "$out" >>"$tmp/conn.log"
	[ "$rc" -eq 1 ] && [[ $out == *"timed out"* ]]
}
pids=()
net_cleanup
{
	net_setup_node
	net_add_pod relay 10.244.1.10
	net_add_pod aks 10.250.0.5
	net_add_pod other 10.244.2.20
} >"$tmp/net.log" 2>&1 || { echo "    network setup failed:"; indent <"$tmp/net.log"; }
mkdir -p "$tmp/obj"
objects_cluster "$tmp/obj"
cp "$root/policies/relay-allow-aks.yaml" "$tmp/obj/"
for port in 443 8080; do
	ip netns exec "$NP_PREFIX-relay" "$NPCONN" listen "$port" >/dev/null 2>>"$tmp/listen.log" &
	pids+=($!)
done
wait_for_count "$tmp/listen.log" listening 2 100 || echo "    np-conn listen did not start"
check "baseline without the agent: other -> relay:443 connects" allowed other 10.244.1.10 443
# nsenter, not ip netns exec: that remounts /sys and would hide the bpf
# filesystem the agent pins to.
pinargs=()
if "$AGENT" --help 2>&1 | grep -q -- --pin-path; then
	pin=/sys/fs/bpf/$NP_PREFIX-agent
	pinargs=(--pin-path "$pin")
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --uninstall "${pinargs[@]}" >/dev/null 2>&1
fi
nsenter --net="/run/netns/$NODE_NS" "$AGENT" --objects "$tmp/obj" --log-level info "${pinargs[@]}" \
	--map-size ct=16384 --map-size peers=16384 --map-size ports=16384 \
	>/dev/null 2>"$tmp/agent.log" &
agent=$!
if wait_for_log "$tmp/agent.log" 'msg="ready' 300; then
	echo "    ok - agent ready: $(grep -o 'ready[^"]*' "$tmp/agent.log" | head -n1)"
	cpass=$((cpass + 1))
	check "aks 10.250.0.5 -> relay:443 allowed (echo completes)" allowed aks 10.244.1.10 443
	check "aks -> relay:8080 denied" denied aks 10.244.1.10 8080
	check "other 10.244.2.20 -> relay:443 denied" denied other 10.244.1.10 443
else
	echo "    not ok - agent did not log ready within 30 s:"
	tail -n 30 "$tmp/agent.log" | indent
	cfail=$((cfail + 1))
fi
stop_pid "$agent" TERM
rc=$?
check "agent exits 0 on SIGTERM" test "$rc" = 0
if [ ${#pinargs[@]} -gt 0 ]; then
	uninstall() { nsenter --net="/run/netns/$NODE_NS" "$AGENT" --uninstall "${pinargs[@]}" >>"$tmp/agent.log" 2>&1 && [ ! -e "$pin" ]; }
	check "agent --uninstall removes its filters and pins" uninstall
fi
[ "$cfail" -eq 0 ] || { echo "    agent log:"; tail -n 20 "$tmp/agent.log" | indent; echo "    connections:"; indent <"$tmp/conn.log"; }
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
net_cleanup
echo "NP-RESULT connection $cpass $cfail"
took connection
rm -rf "$tmp"
