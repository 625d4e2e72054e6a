#!/usr/bin/env bash
# Run each libFuzzer harness for FUZZ_SECONDS (default 60) on a scratch copy
# of its seed corpus (tests/fuzz/corpus/NAME, kept small in the tree), with
# ASan + UBSan, leak detection and a per-input timeout.  Fails when any
# harness finds a crash, a leak, a timeout or runs out of memory; the
# reproducer is kept under build/fuzz/artifacts/.  Prints one summary line
# per harness: runs, coverage, corpus, seconds.
# Usage: tests/fuzz/run.sh BUILD_DIR FUZZ_BIN...   (`make fuzz FUZZ_SECONDS=N`)
set -u
BUILD=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
SECS=${FUZZ_SECONDS:-60}
ART=$BUILD/fuzz/artifacts
mkdir -p "$ART"
fail=0
for bin in "$@"; do
	name=$(basename "$bin")
	seeds=$HERE/corpus/${name#fuzz_}
	work=$(mktemp -d /tmp/np-fuzz-"$name".XXXXXX)
	[ -d "$seeds" ] && cp -r "$seeds/." "$work/"
	start=$(date +%s)
	# -close_fd_mask=2: the code under test logs its (expected) errors to
	# stderr; libFuzzer keeps its own reports.
	"$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
		-close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$ART/$name-" \
		"$work" >"$work.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$work.log" | tail -1 | sed 's/cov: //')
	corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$work.log" | tail -1 | sed 's/corp: //')
	if [ "$rc" -eq 0 ]; then
		echo "ok - $name: ${runs:-?} runs, cov ${cov:-?}, corpus ${corp:-?}, ${secs} s, 0 crashes"
	else
		echo "not ok - $name: exit $rc after ${secs} s (${runs:-?} runs); reproducer in $ART:"
		grep -E 'ERROR|SUMMARY|artifact|Test unit written' "$work.log" | head -20 | sed 's/^/#   /'
		fail=$((fail + 1))
	fi
	rm -rf "$work" "$work.log"
done
echo "fuzz: $(($# - fail)) passed, $fail failed (FUZZ_SECONDS=$SECS each)"
[ "$fail" -eq 0 ]
