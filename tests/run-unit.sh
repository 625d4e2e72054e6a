#!/bin/sh
# Run every unit-test binary given as an argument; print their output and a
# summary line "unit: N passed, M failed".  Exit status is non-zero when any
# binary fails (or none was given).
set -u

passed=0
failed=0
failed_names=""

if [ "$#" -eq 0 ]; then
	echo "usage: $0 TEST_BINARY..." >&2
	exit 2
fi

for bin in "$@"; do
	echo "=== $bin"
	if [ ! -x "$bin" ]; then
		echo "not an executable: $bin"
		failed=$((failed + 1))
		failed_names="$failed_names $bin"
		continue
	fi
	if "$bin"; then
		passed=$((passed + 1))
	else
		rc=$?
		echo "FAILED: $bin (exit status $rc)"
		failed=$((failed + 1))
		failed_names="$failed_names $bin"
	fi
done

if [ "$failed" -ne 0 ]; then
	echo "failed:$failed_names"
fi
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
