#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# CloudWatch Logs shipping, end to end against the fake AWS endpoints
# (fake_cwlogs.py) on loopback: the shipper (driven by cw-feed, which feeds
# the sink like the flow pipeline does; the agent with real connections is
# tests/cloudwatch/agent.sh, run at the end) must deliver every record signed, gzipped and
# within the service limits, through throttling, 5xx, dropped connections,
# slow answers, a CW_OUTAGE_SECONDS (60) outage, a restart during an
# outage, a full spool (drops reported), a damaged spool (bad records and
# segments set aside and reported), and every credential source; then
# tests/cloudwatch/agent.sh: the agent itself, with real connections.
#
#   tests/cloudwatch/run.sh [BUILD]     prints "cloudwatch: N passed, M failed"
#
# Ports: CW_TEST_PORT (17510); agent.sh CW_AGENT_PORT (17520), in its netns.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
FEED=$BUILD/cw-feed
PORT=${CW_TEST_PORT:-17510}
OUTAGE=${CW_OUTAGE_SECONDS:-60}
TMP=$(mktemp -d /tmp/netpol-cw.XXXXXX)
SRV=
passed=0
failed=0

AK=AKIDNETPOLTEST
SK='test/Secret+Key0123456789abcdefghijklmnop'
ST='FwoGZXIvYXdzEXAMPLE-session-token/with+chars='

FEEDS=
cleanup() {
	for p in $FEEDS; do kill "$p" 2>/dev/null; done
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	[ -n "${CW_KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "FAILED - $*"; }
check() { # check DESCRIPTION CONDITION...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}

[ -x "$FEED" ] || { echo "cloudwatch: $FEED not built (run make)"; exit 1; }

# start_server NAME [fake_cwlogs.py args]: fresh output directory $TMP/NAME.
start_server() {
	local name=$1 scheme=http
	shift
	stop_server
	OUT=$TMP/$name
	mkdir -p "$OUT"
	case " $* " in *" --tls-cert "*) scheme=https ;; esac
	python3 "$HERE/fake_cwlogs.py" --port "$PORT" --out "$OUT" --access-key "$AK" \
		--secret-key "$SK" "$@" 2>"$OUT/server.log" &
	SRV=$!
	for _ in $(seq 100); do
		curl -sk "$scheme://127.0.0.1:$PORT/_stats" >/dev/null 2>&1 && { BASE=$scheme://127.0.0.1:$PORT; return 0; }
		sleep 0.05
	done
	echo "fake server did not start: $(cat "$OUT/server.log")"
	return 1
}
stop_server() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	SRV=
}
ctl() { curl -sk -X POST "$BASE/_control?$1" >/dev/null; }
stat() { curl -sk "$BASE/_stats" | jq -r "$1"; }
# kv FILE KEY: the value of KEY=VALUE in FILE (a stats line).
kv() { tr ' ' '\n' <"$1" | sed -n "s/^$2=//p" | head -1; }
events() { python3 "$HERE/check_events.py" "$OUT/events.jsonl" "$@"; }
ev() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# Every request signed right, every batch within the limits and gzipped.
server_clean() {
	[ "$(stat '.sig_failures + .limit_violations + .unknown_keys + .expired_key_uses + .missing_token')" = 0 ] &&
		[ "$(stat '.gzip_puts == .puts and .puts > 0')" = true ]
}

# feed NAME ARGS...: run cw-feed against the server (stats in $TMP/NAME.stats,
# log in $TMP/NAME.log); feedbg: the same in the background, its pid in FP.
feed() {
	feedbg "$@"
	wait "$FP"
}
feedbg() {
	local name=$1
	shift
	"$FEED" --cloudwatch-endpoint "$BASE" --cloudwatch-log-group /aws/eks/test/netpol-flows \
		--cloudwatch-log-stream node-a --aws-region us-east-1 --stats-file "$TMP/$name.stats" \
		--cloudwatch-retry-base 0.05 "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
	FP=$!
	FEEDS="$FEEDS $FP"
}
export_static() {
	export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK
	unset AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_FULL_URI \
		AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_CA_BUNDLE
}
no_secret_logged() { # no_secret_logged LOG SECRET...
	local f=$1
	shift
	for s in "$@"; do
		grep -qF -- "$s" "$f" && { echo "  secret found in $f"; return 1; }
	done
	return 0
}

echo "# SigV4 verifier against the AWS test vectors"
check "fake server's SigV4 verifier matches the aws-signing-test-suite vectors" \
	python3 "$HERE/fake_cwlogs.py" selftest "$HERE/sigv4_vectors.json"

echo "# delivery with session credentials, group and stream created on demand"
export_static
export AWS_SESSION_TOKEN=$ST
start_server basic --session-token "$ST" --no-group || exit 1
feed basic --count 30000 --cloudwatch-create --cloudwatch-flush-delay 0.5
r=$(events 0:30000)
echo "  $r"
check "all 30000 records arrive once, in order" test "$(ev "$r" missing)/$(ev "$r" duplicates)/$(ev "$r" out_of_order)" = 0/0/0
check "every request signed (session token signed), batches within limits, gzipped" server_clean
check "log group and stream created (CreateLogGroup, CreateLogStream)" test "$(stat .creates)" -ge 2
check "counters: produced = shipped" test "$(kv "$TMP/basic.stats" produced)" = "$(kv "$TMP/basic.stats" shipped)"
check "no secret, token or signature in the logs" no_secret_logged "$TMP/basic.log" "$SK" "$ST" "Signature="
unset AWS_SESSION_TOKEN

echo "# CreateLogGroup denied, the group exists: the stream is still created"
start_server grouponly --group-only /aws/eks/test/netpol-flows || exit 1
feed grouponly --count 1000 --cloudwatch-create --cloudwatch-flush-delay 0.2
r=$(events 0:1000)
check "records arrive after CreateLogGroup is denied and CreateLogStream succeeds" \
	test "$(ev "$r" missing)" = 0 -a "$(stat .creates)" -ge 2

echo "# event limit: small records"
start_server events || exit 1
feed events --count 50000 --tiny --cloudwatch-flush-delay 0.5
r=$(events 0:50000)
echo "  $r; largest batch $(stat .max_batch_events) events"
check "batches fill to the 10,000-event limit and never pass it" \
	test "$(ev "$r" missing)" = 0 -a "$(stat .max_batch_events)" = 10000
check "signed and within limits" server_clean

echo "# byte limit: large records"
start_server bytes || exit 1
feed bytes --count 3000 --pad 3000 --cloudwatch-flush-delay 0.5
r=$(events 0:3000)
echo "  $r; largest batch $(stat .max_batch_bytes) bytes"
check "large records arrive; batches at most 1,048,576 bytes (+26 per event)" \
	test "$(ev "$r" missing)" = 0 -a "$(stat .max_batch_bytes)" -le 1048576 -a "$(stat .max_batch_bytes)" -gt 1000000
check "signed and within limits" server_clean

echo "# throttling, 5xx, dropped connections, slow answers"
start_server faults || exit 1
ctl "mode=throttle&count=3"
feedbg faults1 --rate 500 --count 5000 --cloudwatch-flush-delay 0.2
fp=$FP
sleep 2; ctl "mode=5xx&count=3"; sleep 2; ctl "mode=drop&count=3"; sleep 2; ctl "mode=slow&count=2&delay=2"
wait $fp
r=$(events 0:5000)
echo "  $r; faults served $(stat -c .faults)"
check "every record arrives through throttle, 5xx, dropped connections and slow answers" \
	test "$(ev "$r" missing)/$(ev "$r" out_of_order)" = 0/0
check "each fault kind was served" test "$(stat '[.faults.throttle, .faults["5xx"], .faults.drop, .faults.slow] | map(. // 0 | . > 0) | all')" = true
# (libcurl itself resends on a fresh connection when a reused one was
# closed before any answer: not every drop is a retry of ours)
check "retries counted" test "$(kv "$TMP/faults1.stats" retries)" -ge 6
check "signed and within limits" server_clean

echo "# at least once: a batch whose answer comes too late is sent again"
start_server dup || exit 1
ctl "mode=slow&count=1&delay=3"
feed dup --count 1000 --cloudwatch-flush-delay 0.2 --cloudwatch-timeout 1
sleep 3 # the late answer's events are stored when its delay is over
r=$(events 0:1000)
echo "  $r"
check "nothing lost; the timed-out batch arrives twice (documented at-least-once)" \
	test "$(ev "$r" missing)" = 0 -a "$(ev "$r" duplicates)" -gt 0

echo "# events rejected as too old in a 200 answer are counted"
start_server tooold || exit 1
ctl "mode=tooold&count=1&old=7"
feed tooold --count 1000 --cloudwatch-flush-delay 0.2
check "rejected=7 and produced = shipped + rejected" test "$(kv "$TMP/tooold.stats" rejected)" = 7 -a \
	"$(kv "$TMP/tooold.stats" produced)" = "$(( $(kv "$TMP/tooold.stats" shipped) + 7 ))"
check "the rejection is logged with its reason" grep -q "rejected by CloudWatch Logs (tooOld before 7" "$TMP/tooold.log"

echo "# a client error is reported and not retried forever"
start_server badparam || exit 1
ctl "mode=badparam&count=5"
feed badparam --count 500 --cloudwatch-flush-delay 0.2 --flush-timeout 30
r=$(events 0:500)
echo "  $r"
check "the service's message is logged" grep -q "InvalidParameterException: fake: refused on request" "$TMP/badparam.log"
check "the batch is given up after 5 attempts and its loss shipped as SKIPDATA" \
	test "$(kv "$TMP/badparam.stats" dropped_failed)" = "$(ev "$r" missing)" -a "$(ev "$r" skipdata_dropped)" = "$(ev "$r" missing)" -a "$(ev "$r" missing)" -gt 0

echo "# a ${OUTAGE}-second outage loses nothing (spool)"
start_server outage || exit 1
SP=$TMP/spool-outage
feedbg outage --rate 400 --spool-dir "$SP" --cloudwatch-flush-delay 1 --flush-timeout 60
fp=$FP
sleep 3
ctl "mode=drop&count=-1"
half=$((OUTAGE / 2))
sleep "$half"
ctl "mode=5xx&count=-1"
sleep "$((OUTAGE - half))"
spooled_during=$(ls "$SP" | grep -c '^seg-')
ctl "mode=ok"
sleep 8
kill -TERM $fp
wait $fp
made=$(kv "$TMP/outage.stats" made)
r=$(events "0:$made")
echo "  made $made; $r; segments during the outage: $spooled_during"
check "records spilled to the spool during the outage" test "$spooled_during" -gt 0
check "all $made records arrive once, in order, after the outage" test "$(ev "$r" missing)/$(ev "$r" duplicates)/$(ev "$r" out_of_order)" = 0/0/0
check "spool empty afterwards" test "$(ls "$SP" | grep -c '^seg-')" = 0
check "signed and within limits" server_clean

echo "# a restart during an outage loses nothing"
start_server restart || exit 1
SP=$TMP/spool-restart
ctl "mode=5xx&count=-1"
feedbg restart1 --rate 500 --spool-dir "$SP" --cloudwatch-flush-delay 1 --flush-timeout 1
fp=$FP
sleep 4
kill -TERM $fp
wait $fp
made1=$(kv "$TMP/restart1.stats" made)
segs=$(ls "$SP" | grep -c '^seg-')
feedbg restart2 --count 2000 --start-id 1000000 --spool-dir "$SP" --cloudwatch-flush-delay 1 --flush-timeout 60
fp=$FP
sleep 3
ctl "mode=ok"
wait $fp
r=$(events "0:$made1" 1000000:2000)
echo "  first run made $made1 (left $segs segments); $r"
check "the first run left its records in the spool" test "$segs" -gt 0 -a "$(kv "$TMP/restart1.stats" in_spool)" = "$made1"
check "the restarted agent replays them: every record of both runs arrives, in order" \
	test "$(ev "$r" missing)/$(ev "$r" duplicates)/$(ev "$r" out_of_order)" = 0/0/0
check "from_spool_at_start counted" test "$(kv "$TMP/restart2.stats" from_spool_at_start)" = "$made1"

echo "# a full spool drops the oldest records and reports them"
start_server full || exit 1
SP=$TMP/spool-full
ctl "mode=5xx&count=-1"
feed full1 --count 40000 --pad 200 --spool-dir "$SP" --spool-max-bytes 262144 --cloudwatch-flush-delay 1 --flush-timeout 1
ctl "mode=ok"
feed full2 --count 10 --start-id 1000000 --spool-dir "$SP" --spool-max-bytes 262144 --cloudwatch-flush-delay 0.2 --flush-timeout 60
r=$(events 0:40000 1000000:10)
d1=$(kv "$TMP/full1.stats" dropped_spool)
echo "  $r; dropped_spool=$d1"
check "records were dropped (spool bounded by --spool-max-bytes)" test "${d1:-0}" -gt 0
check "every missing record is reported in SKIPDATA records (reason spool full)" \
	test "$(ev "$r" missing)" = "$d1" -a "$(ev "$r" skipdata_dropped)" = "$d1" -a "$(ev "$r" skipdata_reasons)" = spool_full
check "counters add up: produced + reports = shipped + dropped + in_spool + in_memory (first run)" \
	test "$(( $(kv "$TMP/full1.stats" produced) + $(kv "$TMP/full1.stats" reports) ))" = \
	"$(( $(kv "$TMP/full1.stats" shipped) + d1 + $(kv "$TMP/full1.stats" in_spool) + $(kv "$TMP/full1.stats" in_memory) ))"
check "the newest records survived" test "$(ev "$r" missing)" -lt 40000

echo "# a damaged spool: bad records and segments set aside, counted, reported; the rest replayed"
start_server damaged || exit 1
SP=$TMP/spool-damaged
mkdir -p "$SP"
now=$(date +%s%3N)
segseq() { printf '%020d' $((4611686018427387904 + $1)); } # as the spool names them
# a record with a NUL byte between two good ones
printf '%s {"id":500}\n%s {"id":501,\0"heap":"not this"}\n%s {"id":502}\n' "$now" "$now" "$now" |
	gzip >"$SP/seg-$(segseq 0)-3-$now-$now.gz"
# a name claiming 2^60 records for 3
printf '%s {"id":503}\n%s {"id":504}\n%s {"id":505}\n' "$now" "$now" "$now" |
	gzip >"$SP/seg-$(segseq 1)-1152921504606846976-$now-$now.gz"
# a gzip bomb (64 MiB of zeros) and a truncated segment
head -c 64M /dev/zero | gzip -1 >"$SP/seg-$(segseq 2)-1000-$now-$now.gz"
printf '%s {"id":506}\n%s {"id":507}\n' "$now" "$now" | gzip | head -c 25 >"$SP/seg-$(segseq 3)-2-$now-$now.gz"
feed damaged --count 10 --start-id 1000000 --spool-dir "$SP" --cloudwatch-flush-delay 0.2 --flush-timeout 60
r=$(events 500:1 502:4 1000000:10)
st=$TMP/damaged.stats
echo "  $r; dropped_corrupt=$(kv "$st" dropped_corrupt) from_spool_at_start=$(kv "$st" from_spool_at_start)"
check "the good records of damaged segments arrive, and the new ones, in order" \
	test "$(ev "$r" missing)/$(ev "$r" duplicates)/$(ev "$r" unexpected)/$(ev "$r" out_of_order)" = 0/0/0/0
check "the NUL record, the bomb's and the truncated segment's records counted and reported" \
	test "$(kv "$st" dropped_corrupt)" = 1003 -a "$(ev "$r" skipdata_dropped)" = 1003 -a \
	"$(ev "$r" skipdata_reasons)" = spool_segment_unreadable
check "from_spool_at_start is what the segments held, not what the names claimed" \
	test "$(kv "$st" from_spool_at_start)" = $((3 + 3 + 1000 + 2))
check "counters add up: produced + reports + from_spool_at_start = shipped + dropped_corrupt + in_spool + in_memory" \
	test "$(( $(kv "$st" produced) + $(kv "$st" reports) + $(kv "$st" from_spool_at_start) ))" = \
	"$(( $(kv "$st" shipped) + $(kv "$st" dropped_corrupt) + $(kv "$st" in_spool) + $(kv "$st" in_memory) ))"
check "bomb and truncated segment kept as .bad, the others deleted" \
	test "$(ls "$SP" | grep -c '\.gz\.bad$')/$(ls "$SP" | grep -c '\.gz$')" = 2/0
check "no heap bytes shipped" bash -c "! grep -q 'not this' '$OUT/events.jsonl'"
check "signed and within limits" server_clean

echo "# credentials: IRSA web identity (STS), refreshed before expiry, token file re-read"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
start_server irsa --cred-ttl 16 || exit 1
echo "web-identity-token-1" >"$TMP/wit"
AWS_ROLE_ARN=arn:aws:iam::123456789012:role/netpol-agent AWS_WEB_IDENTITY_TOKEN_FILE=$TMP/wit \
	AWS_ENDPOINT_URL_STS=$BASE/ feedbg irsa --rate 200 --count 4400 --cloudwatch-flush-delay 0.5
fp=$FP
sleep 6
echo "web-identity-token-2" >"$TMP/wit"
wait $fp
r=$(events 0:4400)
echo "  $r; sts calls $(stat .sts_calls), keys used $(stat '.keys_used | length')"
check "all records arrive signed with STS credentials" test "$(ev "$r" missing)" = 0
check "credentials refreshed before expiry (>= 2 STS calls, no expired key used)" \
	test "$(stat .sts_calls)" -ge 2 -a "$(stat .expired_key_uses)" = 0 -a "$(stat '.keys_used | length')" -ge 2
check "the token file is re-read for each call" test "$(stat '.web_tokens | unique | length')" = 2
check "signed and within limits" server_clean
check "no token or secret in the logs" no_secret_logged "$TMP/irsa.log" web-identity-token "Signature="

echo "# credentials: a key the service says expired is replaced at once"
start_server expire || exit 1
echo "web-identity-token-3" >"$TMP/wit"
ctl "mode=expire&count=1"
AWS_ROLE_ARN=arn:aws:iam::123456789012:role/netpol-agent AWS_WEB_IDENTITY_TOKEN_FILE=$TMP/wit \
	AWS_ENDPOINT_URL_STS=$BASE/ feed expire --count 500 --cloudwatch-flush-delay 0.2
r=$(events 0:500)
check "after ExpiredTokenException new credentials are fetched and every record arrives" \
	test "$(ev "$r" missing)" = 0 -a "$(stat .sts_calls)" -ge 2 -a "$(stat .expired_key_uses)" = 1
check "signed and within limits (the one expired use aside)" \
	test "$(stat '.sig_failures + .limit_violations + .unknown_keys + .missing_token')" = 0

echo "# credentials: EKS Pod Identity"
start_server pod --cred-ttl 12 --pod-token pod-secret-token || exit 1
echo "pod-secret-token" >"$TMP/podtok"
AWS_CONTAINER_CREDENTIALS_FULL_URI=$BASE/v1/credentials AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TMP/podtok \
	feed pod --rate 200 --count 2000 --cloudwatch-flush-delay 0.5
r=$(events 0:2000)
check "all records arrive with Pod Identity credentials, refreshed (>= 2 calls)" \
	test "$(ev "$r" missing)" = 0 -a "$(stat .pod_calls)" -ge 2 -a "$(stat .expired_key_uses)" = 0
check "signed and within limits" server_clean
check "no token in the logs" no_secret_logged "$TMP/pod.log" pod-secret-token

echo "# credentials: already expired on arrival: retried with backoff, not in a loop"
start_server podexp --cred-ttl -30 --pod-token pod-secret-token || exit 1
AWS_CONTAINER_CREDENTIALS_FULL_URI=$BASE/v1/credentials AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TMP/podtok \
	feed podexp --count 10 --flush-timeout 4
check "expired credentials refused with a clear error" grep -q "arrived expired" "$TMP/podexp.log"
check "  ... and fetched again with backoff: at most 4 calls in 4 s (got $(stat .pod_calls))" \
	test "$(stat .pod_calls)" -le 4 -a "$(stat .pod_calls)" -ge 2
check "  ... never used to sign" test "$(stat .expired_key_uses)" = 0

echo "# plain http endpoints that would carry credentials in clear are refused"
AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.7/v1/credentials AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TMP/podtok \
	feed podhttp --count 1 --flush-timeout 1
check "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.7: refused, naming the variable" \
	grep -q "AWS_CONTAINER_CREDENTIALS_FULL_URI .*http://192.0.2.7/v1/credentials.*: plain http would send credentials in clear" "$TMP/podhttp.log"
"$FEED" --cloudwatch-endpoint http://192.0.2.7 --cloudwatch-log-group g --cloudwatch-log-stream s \
	--aws-region us-east-1 --count 1 >/dev/null 2>"$TMP/cwhttp.log"
check "--cloudwatch-endpoint http://192.0.2.7: refused" \
	grep -q -- "--cloudwatch-endpoint .*http://192.0.2.7.*: plain http would send credentials in clear" "$TMP/cwhttp.log"

echo "# credentials: IMDSv2"
start_server imds --cred-ttl 12 || exit 1
AWS_EC2_METADATA_SERVICE_ENDPOINT=$BASE feed imds --rate 200 --count 2000 --cloudwatch-flush-delay 0.5
r=$(events 0:2000)
check "all records arrive with instance role credentials (token, role, credentials), refreshed" \
	test "$(ev "$r" missing)" = 0 -a "$(stat .imds_calls)" -ge 6 -a "$(stat .expired_key_uses)" = 0
check "signed and within limits" server_clean

echo "# TLS with AWS_CA_BUNDLE"
export_static
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
	-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null; then
	start_server tls --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" || exit 1
	feed tls-untrusted --count 100 --flush-timeout 2
	check "an untrusted certificate is refused (TLS always verified)" \
		grep -q "SSL certificate problem\|certificate verify failed" "$TMP/tls-untrusted.log"
	AWS_CA_BUNDLE=$TMP/cert.pem feed tls --count 1000 --cloudwatch-flush-delay 0.2
	r=$(events 0:1000)
	check "with AWS_CA_BUNDLE all records arrive over https" test "$(ev "$r" missing)" = 0
	check "signed and within limits" server_clean
else
	not_ok "openssl could not make a test certificate"
fi

echo "# Embedded Metric Format"
start_server emf || exit 1
feed emf --rate 1000 --count 3000 --emf-every 1 --cloudwatch-flush-delay 0.5
r=$(events 0:3000)
echo "  $r"
check "EMF records arrive and their per-direction totals count every flow" \
	test "$(ev "$r" emf_records)" -gt 2 -a "$(ev "$r" emf_flows)" = 3000
check "EMF records have the _aws.CloudWatchMetrics shape with low-cardinality dimensions" \
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "_aws" not in r: continue
    d = r["_aws"]["CloudWatchMetrics"][0]
    assert isinstance(r["_aws"]["Timestamp"], int)
    for dims in d["Dimensions"]:
        for k in dims:
            assert k in ("ClusterName", "Node", "Direction", "Policy") and k in r, k
    for m in d["Metrics"]:
        assert isinstance(r[m["Name"]], int) and m["Unit"] == "Count"
' "$OUT/events.jsonl"

stop_server

echo "# the agent: real connections in network namespaces (tests/cloudwatch/agent.sh)"
if [ "$(id -u)" = 0 ]; then
	"$HERE/agent.sh" "$BUILD" | tee "$TMP/agent-test.out"
	line=$(grep '^cloudwatch-agent:' "$TMP/agent-test.out")
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
	else
		not_ok "tests/cloudwatch/agent.sh did not finish"
	fi
else
	not_ok "tests/cloudwatch/agent.sh needs root"
fi
echo "cloudwatch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
