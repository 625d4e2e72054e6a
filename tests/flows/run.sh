#!/usr/bin/env bash
# End-to-end test of the flow records: the real agent writing flow logs for
# real connections between network namespaces, read back with jq and with
# `netpolctl flows`.  Usage: tests/flows/run.sh BUILD_DIR  (as root;
# `make test-flows`).
#
# Topology (namespaces np-flw-*): node 10.0.0.1; pod relay/relay-0
# 10.244.1.10 fd00:244:1::10 (TCP 443) isolated by policies/relay-allow-aks.yaml;
# "AKS" client 10.250.0.5 fd00:250::5 (inside the allowed CIDRs, not a pod);
# pod other/client-0 10.244.2.20 (a pod, outside them).
# Output: "ok - ..." / "not ok - ..." per check, then "flows: N passed, M failed".
# shellcheck disable=SC2317,SC2016
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
NPCTL=$BUILD/netpolctl
PIN=/sys/fs/bpf/netpol-flows-e2e
NP_PREFIX=np-flw

# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

PASS=0
FAIL=0
TMP=
AGENT_PID=
LISTENER_PIDS=()

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
		echo "# agent log (last 20 lines):"
		tail -n 20 "$TMP/agent.log" 2>/dev/null | sed 's/^/#   /'
		echo "# flow log:"
		sed 's/^/#   /' "$TMP/flows.log" 2>/dev/null | tail -n 30
	fi
	echo "flows: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

# start_agent [options]: the agent with a 1-second flow interval.
start_agent() {
	: >"$TMP/agent.log"
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --objects "$TMP/objects" --node-ip 10.0.0.1 \
		--pin-path "$PIN" --node-name node-1 --flow-interval 1 "$@" \
		>"$TMP/stdout.log" 2>>"$TMP/agent.log" &
	AGENT_PID=$!
	wait_for_log "$TMP/agent.log" 'msg="ready' 100
}
stop_agent() { stop_pid "$AGENT_PID" TERM; AGENT_PID=; }

# records FILTER: the flow records jq FILTER selects, compact, one per line.
records() { jq -c "select($1)" "$TMP/flows.log" 2>/dev/null; }
# wait_record FILTER [TIMEOUT_DS]: a record matching FILTER appears.
wait_record() {
	local i n=${2:-50}
	for ((i = 0; i < n; i++)); do
		[ -n "$(records "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}
# sum FILTER FIELD: the sum of FIELD over the matching records.
sum() { jq -s "map(select($1) | .$2) | add // 0" "$TMP/flows.log"; }
count() { records "$1" | wc -l; }

for b in "$AGENT" "$NPCONN" "$NPCTL"; do
	if [ ! -x "$b" ]; then
		echo "tests/flows/run.sh: $b is missing; build it with: make" >&2
		exit 2
	fi
done
if [ "$(id -u)" -ne 0 ] || ! command -v jq >/dev/null; then
	echo "tests/flows/run.sh: needs root and jq (make deps)" >&2
	exit 2
fi

net_cleanup
TMP=$(mktemp -d /tmp/np-flows.XXXXXX)
mkdir -p "$TMP/objects"
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

# ---- accepted and rejected connections ----
if ! start_agent --flow-log-file "$TMP/flows.log"; then
	not_ok "agent started with --flow-log-file"
	finish
fi
check "aks -> relay:443 connects" allowed aks 10.244.1.10 443
check "aks -> [relay]:443 over IPv6 is dropped (the AKS CIDRs are IPv4 only)" denied aks fd00:244:1::10 443
check "other -> relay:443 is dropped" denied other 10.244.1.10 443

ACC='.action=="ACCEPT" and .srcAddr=="10.250.0.5" and .dstAddr=="10.244.1.10" and .dstPort==443'
check "ACCEPT record for aks -> relay:443 within 3 s" wait_record "$ACC and .flowEnd==\"fin\"" 30
check "ACCEPT record: protocol 6, ingress, interface np-relay, node node-1, version 1" \
	test "$(count "$ACC and .protocol==6 and .flowDirection==\"ingress\" and .interfaceId==\"np-relay\" and .node==\"node-1\" and .version==1 and .logStatus==\"OK\"")" -ge 1
check "ACCEPT record: pod context (dstPod relay-0 in relay; no srcPod: aks is not a pod)" \
	test "$(count "$ACC and .dstPod==\"relay-0\" and .dstNamespace==\"relay\" and (has(\"srcPod\")|not)")" -ge 1
check "ACCEPT record: attributed to relay/relay-allow-aks ingress[0]" \
	test "$(count "$ACC and .policy==\"relay/relay-allow-aks\" and .policyRule==\"ingress[0]\" and .reason==\"policy\"")" -ge 1
# One echo exchange: SYN, ACK, data, FIN, ACK from the client (5 or 6
# packets) and SYN-ACK, data, FIN, ACK from the relay: both ways counted.
check "ACCEPT record: counters of both directions (packets >= 8, replies >= 3, bytes > 400)" \
	test "$(count "$ACC and .packets>=8 and .replyPackets>=3 and .bytes>400 and .srcPort>1024")" -ge 1
check "ACCEPT record: tcpFlags = SYN|SYN-ACK|FIN (19)" \
	test "$(count "$ACC and .tcpFlags==19")" -ge 1
check "ACCEPT record: start <= end, Unix seconds of today" \
	test "$(count "$ACC and .start<=.end and .end-.start<=3 and (.start - now | fabs) < 60")" -ge 1
check "IPv6 REJECT record fd00:250::5 -> fd00:244:1::10:443" \
	wait_record '.action=="REJECT" and .srcAddr=="fd00:250::5" and .dstAddr=="fd00:244:1::10" and .dstPort==443 and .dstPod=="relay-0" and .policy=="relay/relay-allow-aks"' 30
REJ='.action=="REJECT" and .srcAddr=="10.244.2.20" and .dstAddr=="10.244.1.10" and .dstPort==443'
check "REJECT record for other -> relay:443, with the isolating policy" \
	wait_record "$REJ and .srcPod==\"client-0\" and .srcNamespace==\"other\" and .dstPod==\"relay-0\" and .policy==\"relay/relay-allow-aks\" and .reason==\"no-rule\" and .flowDirection==\"ingress\"" 30
check "REJECT record counts the SYN (packets >= 1), tcpFlags SYN" \
	test "$(sum "$REJ" packets)" -ge 1 -a "$(count "$REJ and .tcpFlags==2")" -ge 1

EGR='.flowDirection=="egress" and .interfaceId=="np-other" and .srcAddr=="10.244.2.20" and .dstAddr=="10.244.1.10" and .dstPort==443'
check "the same attempt leaving client-0: an egress ACCEPT record at np-other (not isolated)" \
	wait_record "$EGR and .action==\"ACCEPT\" and .reason==\"not-isolated\" and .srcPod==\"client-0\" and .dstPod==\"relay-0\" and (has(\"policy\")|not)" 30

# ---- a SYN flood from 300 source ports: a bounded number of records ----
before=$(count "$REJ")
in_pod other "$NPCONN" syn --count 300 10.244.1.10 443 2>>"$TMP/conn.log"
sleep 2.5
flood=$(records "$REJ and .srcPorts==\"many\"" | wc -l)
check "SYN flood of 300 ports: at most 3 REJECT records (one aggregate per interval), got $(( $(count "$REJ") - before ))" \
	test $(( $(count "$REJ") - before )) -le 3 -a "$flood" -ge 1
check "SYN flood: the aggregate counts all 300 SYNs" test "$(sum "$REJ and .srcPorts==\"many\"" packets)" -ge 300
check "SYN flood: srcPort 0 when many ports were seen, tcpFlags SYN" test "$(count "$REJ and .srcPorts==\"many\" and .srcPort==0 and .tcpFlags==2")" -ge 1

# ---- a long connection reports every interval ----
in_pod aks "$NPCONN" hold --interval-ms 100 --duration-ms 3500 10.244.1.10 443 2>>"$TMP/conn.log" &
HOLD=$!
wait "$HOLD"
check "3.5 s connection held" test $? -eq 0
sleep 1.5
LONG="$ACC and .srcPort==\$p"
port=$(jq -s 'map(select(.srcAddr=="10.250.0.5" and .dstPort==443)) | group_by(.srcPort) | map(select(length>=3)) | .[0][0].srcPort // 0' "$TMP/flows.log")
check "a 3.5 s connection gives one record per 1 s interval (>= 3 records for one srcPort)" test "$port" -gt 0
check "its intervals' packets add up (>= 60 packets for 35 exchanges)" \
	test "$(jq -s --argjson p "$port" "map(select($LONG)) | map(.packets) | add // 0" "$TMP/flows.log")" -ge 60

# ---- a connection cut by a policy change (the relay's ingress-only policy) ----
in_pod aks "$NPCONN" hold --interval-ms 100 --duration-ms 6000 10.244.1.10 443 2>"$TMP/hold-cut.log" &
HOLD=$!
sleep 1
sed 's|cidr: 10.250.0.0/16|cidr: 10.252.0.0/16|' "$ROOT/policies/relay-allow-aks.yaml" >"$TMP/objects/relay-allow-aks.yaml.tmp"
mv "$TMP/objects/relay-allow-aks.yaml.tmp" "$TMP/objects/relay-allow-aks.yaml"
wait "$HOLD"
check "cut: the held aks -> relay:443 connection breaks when its rule goes" test $? -eq 1
cport=$(jq -s 'map(select(.flowEnd=="cut" and .srcAddr=="10.250.0.5" and .dstPort==443)) | .[0].srcPort // 0' "$TMP/flows.log")
check "cut: one record with flowEnd cut, action REJECT" \
	eval '[ "$cport" -gt 0 ] && [ "$(count ".flowEnd==\"cut\" and .srcPort==$cport and .action==\"REJECT\"")" -eq 1 ]'
check "cut: the connection's later packets (both ends retransmitting) in REJECT records with reason revoked" \
	wait_record ".action==\"REJECT\" and .reason==\"revoked\" and .srcAddr==\"10.250.0.5\" and .srcPort==$cport and .dstPort==443" 40
check "cut: no second cut record for it" test "$(count ".flowEnd==\"cut\" and .srcPort==$cport")" -eq 1
cp "$ROOT/policies/relay-allow-aks.yaml" "$TMP/objects/relay-allow-aks.yaml.tmp"
mv "$TMP/objects/relay-allow-aks.yaml.tmp" "$TMP/objects/relay-allow-aks.yaml"
wait_for_count "$TMP/agent.log" 'msg="reloaded' 2 30
check "cut: the rule restored, a fresh aks -> relay:443 connection works" allowed aks 10.244.1.10 443

# ---- netpolctl flows over the file ----
"$NPCTL" flows --file "$TMP/flows.log" --action REJECT --output json >"$TMP/ctl.json" 2>"$TMP/ctl.err"
check "netpolctl flows --action REJECT: only REJECT records" \
	eval '[ -s "$TMP/ctl.json" ] && [ "$(jq -c "select(.action != \"REJECT\" and .logStatus != \"SKIPDATA\")" "$TMP/ctl.json" | wc -l)" -eq 0 ]'
"$NPCTL" flows --file "$TMP/flows.log" --ip 10.250.0.0/16 --port 443 --protocol tcp --output json >"$TMP/ctl2.json"
check "netpolctl flows --ip 10.250.0.0/16 --port 443 --protocol tcp: aks's flows only" \
	eval '[ -s "$TMP/ctl2.json" ] && [ "$(jq -c "select(.srcAddr != \"10.250.0.5\")" "$TMP/ctl2.json" | wc -l)" -eq 0 ]'
"$NPCTL" flows --file "$TMP/flows.log" --pod relay/relay-0 --direction ingress --policy relay/relay-allow-aks --output table >"$TMP/ctl.txt"
check "netpolctl flows --pod --direction --policy --output table: a header and rows" \
	eval 'head -1 "$TMP/ctl.txt" | grep -q "ACTION" && [ "$(wc -l <"$TMP/ctl.txt")" -ge 3 ]'
"$NPCTL" flows --file "$TMP/flows.log" --namespace other --since 1h --output json >"$TMP/ctl3.json"
check "netpolctl flows --namespace other --since 1h: client-0's records" \
	eval '[ -s "$TMP/ctl3.json" ] && [ "$(jq -c "select(.srcNamespace != \"other\" and .dstNamespace != \"other\")" "$TMP/ctl3.json" | wc -l)" -eq 0 ]'
"$NPCTL" flows --file "$TMP/flows.log" --port 70000 >/dev/null 2>"$TMP/ctl4.err"
rc=$?
check "netpolctl flows --port 70000: exit 2 with a message naming the flag" \
	eval '[ "$rc" -eq 2 ] && grep -q -- "--port" "$TMP/ctl4.err"'
stop_agent

check "every line of the flow log is a complete JSON object" \
	eval 'jq -c . "$TMP/flows.log" >/dev/null && [ "$(tail -c1 "$TMP/flows.log" | od -An -c | tr -d " ")" = "\n" ]'

# ---- --flow-log rejected: no ACCEPT records ----
mv "$TMP/flows.log" "$TMP/flows-all.log"
start_agent --flow-log-file "$TMP/flows.log" --flow-log rejected
check "--flow-log rejected: aks -> relay:443 connects" allowed aks 10.244.1.10 443
check "--flow-log rejected: other -> relay:443 dropped" denied other 10.244.1.10 443
check "--flow-log rejected: the REJECT record is written" wait_record "$REJ" 30
check "--flow-log rejected: no ACCEPT record" test "$(count '.action=="ACCEPT"')" -eq 0
stop_agent

# ---- ring buffer overflow: a 4 KiB ring and 200 new flows at once ----
mv "$TMP/flows.log" "$TMP/flows-rejected.log"
start_agent --flow-log-file "$TMP/flows.log" --map-size events-bytes=4096
in_pod aks "$NPCONN" syn --count 200 10.244.1.10 443 2>>"$TMP/conn.log"
check "ring buffer overflow is reported: a SKIPDATA record with lostEvents > 0" \
	wait_record '.logStatus=="SKIPDATA" and .lostEvents>0 and .node=="node-1"' 40
check "the agent warned about the lost events" wait_for_log "$TMP/agent.log" 'events lost' 20
stop_agent

# ---- the Logs Insights queries use only fields the records have ----
keys=$(cat "$TMP"/flows*.log | jq -r 'keys[]' | sort -u)
query_fields_ok() {
	local q w bad=
	for q in "$ROOT"/tools/logs-insights/*.query; do
		for w in $(grep -v '^#' "$q" | sed 's/"[^"]*"//g; s|/[^/]*/||g' | grep -oE '\b[a-z][A-Za-z]*\b' | sort -u); do
			case $w in
			fields | filter | stats | sort | limit | by | as | and | or | not | desc | asc | count | sum | min | max | like | isIpv4InSubnet | count_distinct | dedup | timestamp | first_seen | last_seen | records | total_bytes | total_packets | connections) ;;
			*) grep -qx "$w" <<<"$keys" || bad="$bad $(basename "$q"):$w" ;;
			esac
		done
	done
	[ -z "$bad" ] || echo "# fields not in any record:$bad"
	[ -z "$bad" ]
}
check "tools/logs-insights/*.query name only fields the records carry" query_fields_ok

# ---- standard output ----
start_agent --flow-log-file -
allowed aks 10.244.1.10 443
sleep 2
stop_agent
check "--flow-log-file -: records on standard output" \
	eval 'jq -c "select(.action==\"ACCEPT\" and .dstPort==443)" "$TMP/stdout.log" | grep -q .'
finish
