#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# `make bench`, CloudWatch Logs shipping: cw-feed offers flow-record-sized
# JSON lines (about 455 bytes, the fields of the flow records with varied
# pseudo-random values, so gzip is not flattered) to the
# CloudWatch sink as fast as it takes them; the sink ships them to the fake
# CloudWatch Logs server (tests/cloudwatch/fake_cwlogs.py) over loopback,
# which checks every signature and batch as in the tests.  Reported, median
# of BENCH_CW_ROUNDS (3) runs of BENCH_CW_RECORDS (200000) records:
#   records/s shipped end to end (the single-process Python fake server,
#     which gunzips, parses and verifies everything, is the bottleneck),
#   cw-feed's CPU per record (user+sys / records: making the record, then
#     batching, JSON body, gzip, SigV4, curl; gzip is most of it),
#   bytes sent per record (gzip'ed HTTP bodies / records) and per record
#     before gzip.
# Port: BENCH_CW_PORT (17530), loopback.
set -euo pipefail

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
FEED=$BUILD/cw-feed
PORT=${BENCH_CW_PORT:-17530}
ROUNDS=${BENCH_CW_ROUNDS:-3}
N=${BENCH_CW_RECORDS:-200000}
TMP=$(mktemp -d /tmp/netpol-bench-cw.XXXXXX)
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$TMP"' EXIT

[ -x "$FEED" ] || { echo "bench-cloudwatch: $FEED not built (run make)" >&2; exit 1; }

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
kv() { tr ' ' '\n' <"$1" | sed -n "s/^$2=//p" | head -1; }

for r in $(seq "$ROUNDS"); do
	mkdir -p "$TMP/srv$r"
	python3 "$ROOT/tests/cloudwatch/fake_cwlogs.py" --port "$PORT" --out "$TMP/srv$r" \
		--access-key AKIDBENCH --secret-key bench-secret 2>"$TMP/srv$r.log" &
	SRV=$!
	for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/_stats" >/dev/null 2>&1 && break; sleep 0.05; done
	AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret "$FEED" \
		--cloudwatch-endpoint "http://127.0.0.1:$PORT" --aws-region us-east-1 \
		--cloudwatch-log-group bench --cloudwatch-log-stream bench --count "$N" \
		--cloudwatch-flush-delay 0.2 --flush-timeout 300 --log-level warn \
		--stats-file "$TMP/r$r" >/dev/null 2>"$TMP/feed$r.log"
	curl -s "http://127.0.0.1:$PORT/_stats" >"$TMP/s$r"
	kill "$SRV"
	wait "$SRV" 2>/dev/null || true
	SRV=
	shipped=$(kv "$TMP/r$r" shipped)
	[ "$shipped" = "$N" ] || { echo "bench-cloudwatch: round $r shipped $shipped of $N" >&2; exit 1; }
	[ "$(jq '.sig_failures + .limit_violations' "$TMP/s$r")" = 0 ] ||
		{ echo "bench-cloudwatch: the fake server refused requests" >&2; exit 1; }
	awk -v n="$N" -v s="$(kv "$TMP/r$r" seconds)" 'BEGIN { printf "%.0f\n", n / s }' >>"$TMP/rate"
	awk -v n="$N" -v c="$(kv "$TMP/r$r" cpu)" 'BEGIN { printf "%.2f\n", c * 1e6 / n }' >>"$TMP/cpu"
	awk -v n="$N" -v b="$(kv "$TMP/r$r" bytes_sent)" 'BEGIN { printf "%.1f\n", b / n }' >>"$TMP/gz"
	awk -v n="$N" -v b="$(kv "$TMP/r$r" bytes_uncompressed)" 'BEGIN { printf "%.1f\n", b / n }' >>"$TMP/raw"
	jq '.event_bytes / .events - 26' "$TMP/s$r" >>"$TMP/msg"
	jq '.puts' "$TMP/s$r" >>"$TMP/puts"
done

echo "CloudWatch Logs shipping to the fake server over loopback ($N records of $(median <"$TMP/msg" | xargs printf '%.0f') bytes, median of $ROUNDS):"
printf '  records/s shipped end to end          %10s   (fake server the bottleneck; %s PutLogEvents calls)\n' "$(median <"$TMP/rate")" "$(median <"$TMP/puts")"
printf '  cw-feed CPU per record                %10s us (making it + batching, JSON, gzip, SigV4, curl)\n' "$(median <"$TMP/cpu")"
printf '  bytes sent per record (gzip body)     %10s\n' "$(median <"$TMP/gz")"
printf '  bytes per record before gzip          %10s\n' "$(median <"$TMP/raw")"
