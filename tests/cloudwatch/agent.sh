#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The agent shipping flow records of real connections to (fake) CloudWatch
# Logs: connections between network namespaces (prefix cwa-), the agent in
# the node namespace, the fake AWS server on that namespace's loopback.
# Records arrive signed, gzipped, within limits, in the default group
# /aws/eks/<cluster>/netpol-flows and the node's stream, with EMF metrics;
# records of connections made while CloudWatch fails and the agent restarts
# arrive after it is back (the agent stops while CloudWatch fails: its
# flush waits, with a file sink next to it).  Usage: tests/cloudwatch/agent.sh BUILD_DIR (root).
# shellcheck disable=SC2317
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
PIN=/sys/fs/bpf/netpol-cw-agent
NP_PREFIX=cwa
PORT=${CW_AGENT_PORT:-17520}

# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

PASS=0
FAIL=0
TMP=
AGENT_PID=
SRV_PID=
LISTENER_PIDS=()
AK=AKIDAGENTTEST
SK='agent/test+secret0123456789'

cleanup() {
	local p
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	for p in "${LISTENER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LISTENER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -e "/run/netns/$NODE_NS" ] && agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1
	net_cleanup
	[ -n "$TMP" ] && [ -z "${CW_KEEP:-}" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	if [ "$FAIL" -gt 0 ] && [ -n "$TMP" ]; then
		echo "# agent log (last 20 lines):"
		tail -n 20 "$TMP/agent.log" 2>/dev/null | sed 's/^/#   /'
		echo "# fake server log:"
		tail -n 10 "$TMP/srv/server.log" 2>/dev/null | sed 's/^/#   /'
	fi
	echo "cloudwatch-agent: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

start_agent() {
	[ -s "$TMP/agent.log" ] && cat "$TMP/agent.log" >>"$TMP/agent-earlier.log"
	: >"$TMP/agent.log"
	AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1 CLUSTER_NAME=test \
		nsenter --net="/run/netns/$NODE_NS" "$AGENT" --objects "$TMP/objects" --node-ip 10.0.0.1 \
		--pin-path "$PIN" --node-name node-1 --flow-interval 1 --flow-log-file "$TMP/flows.log" \
		--cloudwatch-endpoint "http://127.0.0.1:$PORT" --cloudwatch-create \
		--spool-dir "$TMP/spool" --cloudwatch-flush-delay 0.5 --cloudwatch-retry-base 0.1 \
		>"$TMP/stdout.log" 2>>"$TMP/agent.log" &
	AGENT_PID=$!
	wait_for_log "$TMP/agent.log" 'msg="ready' 100
}
stop_agent() { stop_pid "$AGENT_PID" TERM; AGENT_PID=; }
stat() { in_node curl -s "http://127.0.0.1:$PORT/_stats" | jq -r "$1"; }
ctl() { in_node curl -s -X POST "http://127.0.0.1:$PORT/_control?$1" >/dev/null; }
# recs FILTER: the stored records jq FILTER selects, one per line.
recs() { jq -c "select($1)" "$TMP/srv/events.jsonl" 2>/dev/null; }
wait_rec() { # wait_rec FILTER [MIN [TIMEOUT_DS]]
	local i n=${3:-100} min=${2:-1}
	for ((i = 0; i < n; i++)); do
		[ "$(recs "$1" | wc -l)" -ge "$min" ] && return 0
		sleep 0.1
	done
	return 1
}
server_clean() {
	[ "$(stat '.sig_failures + .limit_violations + .unknown_keys + .expired_key_uses + .missing_token')" = 0 ] &&
		[ "$(stat '.gzip_puts == .puts and .puts > 0')" = true ]
}

for b in "$AGENT" "$NPCONN"; do
	[ -x "$b" ] || { echo "tests/cloudwatch/agent.sh: $b is missing; build it with: make" >&2; exit 2; }
done
if [ "$(id -u)" -ne 0 ] || ! command -v jq >/dev/null || ! command -v python3 >/dev/null; then
	echo "tests/cloudwatch/agent.sh: needs root, jq and python3 (make deps)" >&2
	exit 2
fi

net_cleanup
TMP=$(mktemp -d /tmp/netpol-cw-agent.XXXXXX)
mkdir -p "$TMP/objects" "$TMP/srv"
net_setup_node
in_node ip addr add 10.0.0.1/32 dev lo
net_add_pod relay 10.244.1.10 fd00:244:1::10
net_add_pod aks 10.250.0.5 fd00:250::5
net_add_pod other 10.244.2.20 fd00:244:2::20
start_listener relay 443
wait_for_log "$TMP/listen-relay.log" "listening tcp 443" 50
objects_cluster "$TMP/objects"
cp "$ROOT/policies/relay-allow-aks.yaml" "$TMP/objects/"
agent_ns --uninstall --pin-path "$PIN" >/dev/null 2>&1
ip netns exec "$NODE_NS" python3 "$HERE/fake_cwlogs.py" --port "$PORT" --out "$TMP/srv" \
	--access-key "$AK" --secret-key "$SK" --no-group 2>"$TMP/srv/server.log" &
SRV_PID=$!
for _ in $(seq 100); do stat .requests >/dev/null 2>&1 && break; sleep 0.05; done

if ! start_agent; then
	not_ok "agent started with CloudWatch shipping"
	finish
fi
check "aks -> relay:443 connects" allowed aks 10.244.1.10 443
check "other -> relay:443 is dropped" denied other 10.244.1.10 443
ACC='.action=="ACCEPT" and .srcAddr=="10.250.0.5" and .dstAddr=="10.244.1.10" and .dstPort==443 and .flowEnd=="fin"'
REJ='.action=="REJECT" and .srcAddr=="10.244.2.20" and .dstAddr=="10.244.1.10" and .dstPort==443'
check "the ACCEPT record reaches CloudWatch with its policy" wait_rec "$ACC and .policy==\"relay/relay-allow-aks\" and .node==\"node-1\""
check "the REJECT record reaches CloudWatch with the isolating policy" wait_rec "$REJ and (.policy | test(\"relay/\"))"
check "EMF metrics arrive: RejectedFlows for ingress with the policy dimension" \
	wait_rec '._aws and .Policy != null and .Direction=="ingress" and .RejectedFlows >= 1'
check "default log group /aws/eks/test/netpol-flows, stream node-1, created on demand" \
	test "$(jq -r '.group + " " + .stream' "$TMP/srv/requests.jsonl" | sort -u)" = "/aws/eks/test/netpol-flows node-1" -a "$(stat .creates)" -ge 2
check "every request signed, gzipped, within the limits" server_clean

echo "# CloudWatch fails, the agent restarts, CloudWatch comes back"
ctl "mode=5xx&count=-1"
for i in 1 2 3 4 5; do allowed aks 10.244.1.10 443 || true; done
sleep 2.5 # the interval closes: the records are made and spooled
stop_agent
check "the records of the outage are in the spool after the agent stopped" \
	test "$(find "$TMP/spool" -name 'seg-*' | wc -l)" -gt 0
start_agent || not_ok "agent restarted"
sleep 1
ctl "mode=ok"
check "after the restart all 6 accepted connections have their record (flowEnd fin) in CloudWatch" \
	wait_rec "$ACC" 6 150
check "the spool drained" test "$(find "$TMP/spool" -name 'seg-*' | wc -l)" = 0
check "every request signed, gzipped, within the limits" server_clean

echo "# the agent stops while a PutLogEvents call hangs (its flush runs the loop for 5 s)"
ctl "mode=slow&count=-1&delay=8"
allowed aks 10.244.1.10 443 || true
sleep 2.5 # the interval closes; its batch is sent and hangs
# Traffic goes on while the agent stops: the flow pipeline must not feed
# sinks it has closed while the shipper's flush runs the loop.
kill -TERM "$AGENT_PID"
allowed aks 10.244.1.10 443 || true
sleep 1.2
allowed aks 10.244.1.10 443 || true
for _ in $(seq 150); do alive "$AGENT_PID" || break; sleep 0.1; done
alive "$AGENT_PID" && kill -KILL "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
check "the agent stopped cleanly (exit 0) with a call in flight and traffic going on" test "$rc" = 0
ctl "mode=ok"
start_agent || not_ok "agent restarted"
check "the record of that connection arrives after the restart (7 in all, duplicates allowed)" \
	wait_rec "$ACC" 7 150
check "every request signed, gzipped, within the limits" server_clean
check "no secret in the agent logs" bash -c "! cat '$TMP'/agent*.log | grep -qF -- '$SK'"
check "the file sink next to it got the same flow records" \
	test "$(jq -c "select($ACC)" "$TMP/flows.log" | wc -l)" -ge 6
stop_agent
finish
