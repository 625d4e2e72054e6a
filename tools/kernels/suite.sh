#!/usr/bin/env bash
# The per-kernel test suite: run inside each qemu guest by guest-init.sh, and
# directly on this machine for the host column.  Prints one line per result:
#   NP-RESULT load ok|FAIL
#   NP-RESULT bpf PASSED FAILED
#   NP-RESULT conformance PASSED FAILED
#   NP-RESULT connection PASSED FAILED
#   NP-RESULT caps PASSED FAILED
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

# ---- connection tests: the agent in a node namespace ----
# Pods relay/relay-0 (10.244.1.10, policies/relay-allow-aks.yaml: TCP 443
# from 10.250.0.0/16 only) and other/client-0 (10.244.2.20); "aks" 10.250.0.5
# is a client outside the cluster.  The same namespaces serve two steps: the
# agent as root ("connection"), then the agent with exactly the DaemonSet's
# capabilities ("caps").
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
# filesystem the agent pins to.  nsenter and setpriv exec, so $! is the agent
# (nsenter itself, not a shell function, is what goes into the background).
pin=/sys/fs/bpf/$NP_PREFIX-agent
node() { nsenter --net="/run/netns/$NODE_NS" "$@"; }
node "$AGENT" --uninstall --pin-path "$pin" >/dev/null 2>&1
agent_start() { # [WRAPPER...]: the agent, in the background (pid in $agent)
	: >"$tmp/agent.log"
	nsenter --net="/run/netns/$NODE_NS" "$@" "$AGENT" --objects "$tmp/obj" --log-level info --pin-path "$pin" \
		--map-size ct=16384 --map-size peers=16384 --map-size ports=16384 \
		>/dev/null 2>"$tmp/agent.log" &
	agent=$!
}
agent_ready() {
	if wait_for_log "$tmp/agent.log" 'msg="ready' 300; then
		echo "    ok - agent ready: $(grep -o 'ready[^"]*' "$tmp/agent.log" | head -n1)"
		cpass=$((cpass + 1))
		return 0
	fi
	echo "    not ok - agent did not log ready within 30 s:"
	tail -n 30 "$tmp/agent.log" | indent
	cfail=$((cfail + 1))
	return 1
}
enforces() {
	check "aks 10.250.0.5 -> relay:443 allowed (echo completes)" allowed aks 10.244.1.10 443
	check "aks -> relay:8080 denied" denied aks 10.244.1.10 8080
	check "other 10.244.2.20 -> relay:443 denied" denied other 10.244.1.10 443
}
agent_stop() { # [WRAPPER...]: SIGTERM, then --uninstall (wrapped as given)
	stop_pid "$agent" TERM
	local rc=$?
	check "agent exits 0 on SIGTERM" test "$rc" = 0
	uninstall() { node "$@" "$AGENT" --uninstall --pin-path "$pin" >>"$tmp/agent.log" 2>&1 && [ ! -e "$pin" ]; }
	check "agent --uninstall removes its filters and pins" uninstall "$@"
	[ "$cfail" -eq 0 ] || { echo "    agent log:"; tail -n 20 "$tmp/agent.log" | indent; echo "    connections:"; indent <"$tmp/conn.log"; }
}
agent_start
agent_ready && enforces
agent_stop
echo "NP-RESULT connection $cpass $cfail"
took connection

# ---- caps: the same with exactly the DaemonSet's capabilities ----
# deploy/base/daemonset.yaml: uid 0, capabilities drop ALL, add BPF,
# NET_ADMIN, PERFMON, allowPrivilegeEscalation false (no_new_privs).  util-linux
# setpriv (busybox's applet has no --bounding-set) sets the bounding,
# inheritable and ambient sets to the three; uid 0 then gets exactly them as
# permitted and effective set across the exec.
echo "== caps: netpol-agent with only CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON (setpriv --no-new-privs)"
: >"$tmp/conn.log"
cpass=0
cfail=0
three=000000c000001000 # CAP_NET_ADMIN (12), CAP_PERFMON (38), CAP_BPF (39)
caps=+bpf,+net_admin,+perfmon
# By path: busybox's nsenter runs a bare "setpriv" (or "bash", "tc") as its own applet.
capwrap=("$(command -v setpriv)" --no-new-privs --inh-caps=-all,$caps --ambient-caps=-all,$caps --bounding-set=-all,$caps)
status_is() { # FIELD VALUE: the agent's /proc/PID/status line "FIELD: VALUE..."
	local v
	v=$(awk -v f="$1:" '$1 == f {print $2}' "/proc/$agent/status" 2>/dev/null)
	[ "$v" = "$2" ] || { echo "    $1 is '$v', want '$2'"; return 1; }
}
attached() { # IFACE DIRECTION PROGRAM
	local out
	out=$(nsenter --net="/run/netns/$NODE_NS" "$(command -v tc)" filter show dev "$1" "$2" 2>&1)
	grep -q "$3" <<<"$out" && return 0
	echo "$out" | indent
	return 1
}
caps_run() { # [WRAPPER...]: the agent under "WRAPPER... setpriv ...", every check
	check "no pins before the start: the programs are loaded by the capped agent" test ! -e "$pin"
	agent_start "$@" "${capwrap[@]}"
	if agent_ready; then
		check "the running process is $AGENT (setpriv execs it)" \
			test "$(readlink "/proc/$agent/exe")" = "$(readlink -f "$AGENT")"
		check "uid 0, CapEff and CapPrm exactly $three (no CAP_SYS_ADMIN)" \
			eval 'status_is Uid "0" && status_is CapEff $three && status_is CapPrm $three'
		check "CapBnd, CapInh and CapAmb exactly $three" \
			eval 'status_is CapBnd $three && status_is CapInh $three && status_is CapAmb $three'
		check "no_new_privs set" status_is NoNewPrivs 1
		check "np_pod_egress attached on the pod interface np-relay (TC ingress)" attached np-relay ingress np_pod_egress
		check "np_pod_ingress attached on the pod interface np-relay (TC egress)" attached np-relay egress np_pod_ingress
		enforces
	fi
	agent_stop "${capwrap[@]}"
}
# Linux before 5.11 charges BPF maps and programs to RLIMIT_MEMLOCK, not to
# the memory cgroup, and raising the hard limit needs CAP_SYS_RESOURCE: with
# the three capabilities the agent gets only what it is started with.  There
# the agent runs twice, each time with the limit set before the capabilities
# are dropped: 64 KiB (the kernel's default before 5.16, what a container
# runtime that sets nothing passes on), refused with a clear error; unlimited,
# every check.
kver=$(uname -r)
kmaj=${kver%%.*}
kmin=${kver#*.}
kmin=${kmin%%.*}
memlock=$(ulimit -l)
[ "$memlock" = unlimited ] || memlock="$memlock KiB"
if [ "$kmaj" -lt 5 ] || { [ "$kmaj" -eq 5 ] && [ "$kmin" -lt 11 ]; }; then
	echo "    Linux $kver charges BPF memory to RLIMIT_MEMLOCK (this shell: $memlock)"
	refused() { # exits non-zero within 30 s and names RLIMIT_MEMLOCK
		local i rc
		for ((i = 0; i < 300; i++)); do alive "$agent" || break; sleep 0.1; done
		alive "$agent" && return 1
		wait "$agent"
		rc=$?
		if [ "$rc" -ne 0 ] && grep -q 'RLIMIT_MEMLOCK (.*) is too low.*CAP_SYS_RESOURCE' "$tmp/agent.log"; then
			grep -m1 'level=error' "$tmp/agent.log" | indent
			return 0
		fi
		tail -n 5 "$tmp/agent.log" | indent
		return 1
	}
	agent_start "$BASH" -c 'ulimit -l 64 && exec "$@"' memlock "${capwrap[@]}"
	check "RLIMIT_MEMLOCK 64 KiB: the agent stops with an error naming RLIMIT_MEMLOCK" refused
	stop_pid "$agent" KILL >/dev/null 2>&1
	nukeall() { nsenter --net="/run/netns/$NODE_NS" "${capwrap[@]}" "$AGENT" --uninstall --pin-path "$pin" >>"$tmp/agent.log" 2>&1 && [ ! -e "$pin" ]; }
	check "--uninstall (same capabilities) leaves no pins after the refusal" nukeall
	echo "    RLIMIT_MEMLOCK unlimited (as with a container runtime's LimitMEMLOCK=infinity):"
	caps_run "$BASH" -c 'ulimit -l unlimited && exec "$@"' memlock
else
	echo "    Linux $kver charges BPF memory to the memory cgroup (RLIMIT_MEMLOCK, $memlock, does not apply)"
	caps_run
fi
echo "NP-RESULT caps $cpass $cfail"
took caps
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
net_cleanup
rm -rf "$tmp"
