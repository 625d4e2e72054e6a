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
# flush waits, with a file sink next to it).  Then kill -9 under load, 10
# rounds: every allowed connection (by its source port) and every denied
# attempt reaches CloudWatch and the file sink, each counted once after
# deduplication by recordId; and an entry evicted while no agent runs is
# reported as SKIPDATA evictedFlows.  Usage: tests/cloudwatch/agent.sh BUILD_DIR (root).
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
	[ -n "$TMP" ] && touch "$TMP/load.stop" # the kill -9 rounds' load loops
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

echo "# kill -9 under load, 10 rounds: every connection and denial reaches CloudWatch and the file"
# Allowed connections from aks and denied attempts from other, each from a
# known source port, go on while the agent is killed at random moments,
# stays down a random while, and starts again.
load() { # POD FIRST_PORT OUT_FILE TIMEOUT_MS: connect from FIRST_PORT, +1 each time, until stopped
	in_pod "$1" bash -c 'p=$2; while [ ! -e "$4.stop" ]; do
		if "$1" connect --timeout-ms "$5" --source-port "$p" 10.244.1.10 443 2>/dev/null; then echo "ok $p"; else echo "fail $p"; fi
		p=$((p + 1)); done' load "$NPCONN" "$2" "$3" "$TMP/load" "$4" >"$3" &
	LISTENER_PIDS+=($!)
}
rm -f "$TMP/load.stop"
T0=$(date +%s)
load aks 40000 "$TMP/load-aks" 2000
load other 50000 "$TMP/load-other" 150
# One long connection through most of the kills: several records, so a
# restart must start its report at the last durable one, not at its start.
# (3 s per echo: the load keeps both CPUs busy.)
in_pod aks "$NPCONN" hold --interval-ms 300 --duration-ms 20000 --timeout-ms 3000 --source-port 39999 10.244.1.10 443 2>"$TMP/hold-kill.log" &
HOLD_KILL=$!
RANDOM=13 # the moments are random, and the same in every run
kills=0
for round in $(seq 10); do
	sleep "$((RANDOM % 30 + 5))e-1"
	kill -KILL "$AGENT_PID" && wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
	kills=$((kills + 1))
	sleep "$((RANDOM % 15))e-1"
	start_agent || not_ok "agent restarted after kill -9 number $round"
done
sleep 1
touch "$TMP/load.stop"
wait "$HOLD_KILL"
HOLD_RC=$?
sleep 2.5 # the last attempts end and an interval closes
stop_agent
# The long connection's own counters, from its conntrack entry (kept while
# it closes): np_ct_key.remote_port is key bytes 34..35 (39999 = 0x9c3f),
# np_ct_val.packets[2] value bytes 48..55, little-endian.
CT_MAP="$PIN/v$(sed -n 's/^#define NP_PIN_LAYOUT_VERSION \([0-9]*\)u$/\1/p' "$ROOT/user/pin.h")/np_ct"
HOLD_PKTS=$(bpftool map dump pinned "$CT_MAP" -j | jq '[.[] | select(.key[34] == "0x9c" and .key[35] == "0x3f") |
	.value[48:56] | map(ltrimstr("0x") | explode | map(if . >= 97 then . - 87 else . - 48 end) | .[0] * 16 + .[1]) |
	(.[0] + .[1] * 256 + .[2] * 65536 + .[3] * 16777216) + (.[4] + .[5] * 256 + .[6] * 65536 + .[7] * 16777216)] | add // 0')
check "10 kill -9 rounds under load" test "$kills" = 10
mapfile -t OKP < <(awk '$1 == "ok" { print $2 }' "$TMP/load-aks")
NDENY=$(grep -c '^fail' "$TMP/load-other")
check "the allowed connections worked through the kills (${#OKP[@]} connections)" test "${#OKP[@]}" -ge 50
check "the denied attempts stayed denied ($NDENY attempts, none connected)" \
	test "$NDENY" -ge 50 -a "$(grep -c '^ok' "$TMP/load-other")" = 0
check "the agent took flows over from the kernel after a kill" \
	grep -q 'took over [1-9][0-9]* flows from the kernel' "$TMP/agent.log" "$TMP/agent-earlier.log"
# Logs Insights: sort packets desc | dedup recordId, then per source port.
# dedup SRC FILTER: one record per recordId (the one covering most: by
# packets first, since a repeat's end can be earlier than the first copy's).
dedup() { jq -c "select($2)" "$1" | jq -s -c 'group_by(.recordId) | map(max_by([.packets, .bytes, .end])) | .[]'; }
missing() { # SRC: allowed connections with no fin record (after dedup)
	dedup "$1" '.action=="ACCEPT" and .srcAddr=="10.250.0.5" and .srcPort >= 40000 and .flowEnd=="fin"' |
		jq -r .srcPort | sort -u >"$TMP/have"
	printf '%s\n' "${OKP[@]}" | sort -u | comm -23 - "$TMP/have" | wc -l
}
wait_all() { local i; for ((i = 0; i < 20; i++)); do [ "$(missing "$1")" = 0 ] && return 0; sleep 0.5; done; return 1; }
check "every allowed connection has its record in CloudWatch (${#OKP[@]}; missing: $(missing "$TMP/srv/events.jsonl"))" \
	wait_all "$TMP/srv/events.jsonl"
if [ "$(missing "$TMP/srv/events.jsonl")" != 0 ]; then
	# What became of a connection CloudWatch has no fin record of: its
	# records in CloudWatch and in the file sink, and what the agents said
	# about delivery, takeover and loss.
	printf '%s\n' "${OKP[@]}" | sort -u | comm -23 - "$TMP/have" | head -n 5 | while read -r p; do
		echo "# missing port $p: CloudWatch: $(jq -c "select(.srcPort == $p) | [.recordId, .flowEnd, .packets, .start, .end, .recovered]" "$TMP/srv/events.jsonl" | paste -sd ' ')"
		echo "# missing port $p: file sink: $(jq -c "select(.srcPort == $p) | [.recordId, .flowEnd, .packets, .start, .end, .recovered]" "$TMP/flows.log" | paste -sd ' ')"
	done
	grep -h 'took over\|not delivered\|final counters\|lost\|dropped' "$TMP/agent.log" "$TMP/agent-earlier.log" 2>/dev/null | tail -n 20 | sed 's/^/#   /'
fi
check "every allowed connection has its record in the file sink (missing: $(missing "$TMP/flows.log"))" \
	wait_all "$TMP/flows.log"
# Each connection is counted once: after dedup, a port's packets are what
# one connection of this exchange sends (the same for every port).
per_port() { dedup "$1" '.action=="ACCEPT" and .srcAddr=="10.250.0.5" and .srcPort >= 40000' |
	jq -s -r 'group_by(.srcPort) | map(map(.packets) | add) | group_by(.) | map("\(.[0])x\(length)") | join(" ")'; }
echo "# packets per connection after dedup (packets x connections): CloudWatch $(per_port "$TMP/srv/events.jsonl"), file $(per_port "$TMP/flows.log")"
HOLD_REC=$(dedup "$TMP/srv/events.jsonl" '.action=="ACCEPT" and .srcPort == 39999' | jq -s 'map(.packets) | add // 0')
check "the long connection held through the kills ($(tail -n 1 "$TMP/hold-kill.log"))" test "$HOLD_RC" = 0
check "the long connection's records add up exactly to its kernel counters after dedup ($HOLD_REC of $HOLD_PKTS packets, $(recs '.srcPort == 39999' | wc -l) records)" \
	test "$HOLD_REC" = "$HOLD_PKTS" -a "$HOLD_PKTS" -gt 50
check "no allowed connection counted twice after dedup by recordId" \
	test "$(dedup "$TMP/srv/events.jsonl" '.action=="ACCEPT" and .srcAddr=="10.250.0.5" and .srcPort >= 40000' |
		jq -s '[group_by(.srcPort)[] | map(.packets) | add] | (max - min) <= 2')" = true
REJP=$(dedup "$TMP/srv/events.jsonl" '.action=="REJECT" and .srcAddr=="10.244.2.20" and .dstPort==443 and .start >= '"$T0"'' |
	jq -s 'map(.packets) | add // 0')
check "every denied attempt is counted in CloudWatch's REJECT records ($REJP packets for $NDENY attempts)" \
	test "$REJP" -ge "$NDENY"
check "nothing reported lost (no SKIPDATA with lost events, dropped records or evicted flows)" \
	test "$(recs '.logStatus=="SKIPDATA" and (.lostEvents > 0 or .evictedFlows > 0 or ((.droppedRecords // 0) > 0 and .start >= '"$T0"'))' | wc -l)" = 0
echo "# records repeated by the restarts (same recordId): $(jq -s '[group_by(.recordId)[] | select(length > 1)] | length' "$TMP/srv/events.jsonl" 2>/dev/null)"

echo "# an entry evicted while no agent runs is reported as SKIPDATA evictedFlows"
start_agent || not_ok "agent started"
in_pod aks "$NPCONN" hold --interval-ms 4000 --duration-ms 9000 10.244.1.10 443 2>/dev/null &
HOLD=$!
sleep 2.5 # the connection's first record is made and acknowledged: its mark is written
kill -KILL "$AGENT_PID" && wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
# As an LRU eviction would: remove the held connection's entry (np_ct_key:
# remote address in bytes 16..31, IPv4-mapped; np_ct_val.flow is value
# byte 61: 1 logged, 4 ended).
mapfile -t EVICT < <(bpftool map dump pinned "$CT_MAP" -j |
	jq -r '.[] | select(.value[61] == "0x01" and (.key[28:32] | join(" ")) == "0x0a 0xfa 0x00 0x05") | .key | join(" ")')
for k in "${EVICT[@]}"; do
	# shellcheck disable=SC2086
	bpftool map delete pinned "$CT_MAP" key $k
done
check "the held connection's entry was removed while no agent ran (${#EVICT[@]} entry)" test "${#EVICT[@]}" = 1
start_agent || not_ok "agent restarted"
check "a SKIPDATA record with evictedFlows 1 reaches CloudWatch" \
	wait_rec '.logStatus=="SKIPDATA" and .evictedFlows == 1' 1 50
check "the agent warned about the evicted flow" grep -q ' 1 flows evicted before their last counters were read' "$TMP/agent.log"
wait "$HOLD" 2>/dev/null
stop_agent
check "every request signed, gzipped, within the limits" server_clean
finish
