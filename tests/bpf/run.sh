#!/bin/sh
# Run every BPF test binary built from tests/bpf/*.c (build/tests/<name>).
# They load real programs and use bpf_prog_test_run, so they need root.
# Usage: tests/bpf/run.sh [BUILD_DIR]
set -u

build=${1:-build}
here=$(dirname "$0")

if [ "$(id -u)" -ne 0 ]; then
	echo "BPF tests skipped: they need root (loading programs, bpf_prog_test_run); run 'sudo make test-bpf'" >&2
	exit 1
fi

passed=0
failed=0
failed_names=""
for src in "$here"/*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	bin="$build/tests/$name"
	echo "=== $bin"
	if [ ! -x "$bin" ]; then
		echo "FAILED: $bin is missing; run make first"
		failed=$((failed + 1))
		failed_names="$failed_names $name"
		continue
	fi
	if "$bin"; then
		passed=$((passed + 1))
	else
		echo "FAILED: $bin (exit status $?)"
		failed=$((failed + 1))
		failed_names="$failed_names $name"
	fi
done

echo "bpf: $passed passed, $failed failed${failed_names:+ (failed:$failed_names)}"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
