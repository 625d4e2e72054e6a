#!/usr/bin/env bash
# Conformance suite: the upstream Kubernetes e2e NetworkPolicy cases
# (see README.md) judged by `netpolctl verdict`.
#
#   tests/conformance/run.sh BUILD_DIR [CASE...]
#
# Every directory under cases/ is one case (or one step of a multi-step
# upstream test): policies.yaml + probes.jsonl, and optionally its own
# cluster.yaml (used instead of the shared one).  A case passes when the tool
# exits 0, prints exactly one JSON line per probe, each line echoes its probe
# (from, to, port, protocol, expect) in order, and every verdict equals expect.
# CASE arguments (directory names, globs allowed) restrict the run.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [CASE...]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tool=$build/netpolctl

if [ "$(id -u)" -ne 0 ]; then
	echo "conformance: must run as root: netpolctl verdict loads the BPF programs and runs packets through them" >&2
	echo "conformance: run it as root, e.g.: sudo $0 $build" >&2
	exit 1
fi
if ! command -v jq >/dev/null 2>&1; then
	echo "conformance: jq not found; install it: apt-get install -y jq" >&2
	exit 1
fi
if [ ! -x "$tool" ]; then
	echo "conformance: $tool is missing or not executable; build it first: make BUILD=$build" >&2
	exit 1
fi

shopt -s nullglob
dirs=()
if [ $# -gt 0 ]; then
	for pat in "$@"; do
		# shellcheck disable=SC2206 # $pat is a glob on purpose
		matched=("$here"/cases/$pat/)
		if [ ${#matched[@]} -eq 0 ]; then
			echo "conformance: no case matches '$pat' under $here/cases" >&2
			exit 1
		fi
		dirs+=("${matched[@]}")
	done
else
	dirs=("$here"/cases/*/)
fi
if [ ${#dirs[@]} -eq 0 ]; then
	echo "conformance: no cases under $here/cases" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Indices (0-based) of output lines that do not match their probe: not an
# object, a different probe echoed, or a verdict other than the expectation.
# shellcheck disable=SC2016
mismatch_filter='
	range(0; $p | length) as $i
	| $p[$i] as $want | $o[$i] as $got
	| select(($got | type) != "object"
		or ([$want.from, $want.to, $want.port, $want.protocol, $want.expect]
		    != [$got.from, $got.to, $got.port, $got.protocol, $got.expect])
		or $got.verdict != $want.expect)
	| $i'

passed=0
failed=0
for dir in "${dirs[@]}"; do
	dir=${dir%/}
	name=${dir##*/}
	probes=$dir/probes.jsonl
	cluster=$here/cluster.yaml
	[ -f "$dir/cluster.yaml" ] && cluster=$dir/cluster.yaml
	if [ ! -f "$probes" ]; then
		echo "FAIL $name: $probes is missing"
		failed=$((failed + 1))
		continue
	fi
	args=(verdict -f "$cluster")
	[ -f "$dir/policies.yaml" ] && args+=(-f "$dir/policies.yaml")
	args+=(--probes "$probes")

	rc=0
	"$tool" "${args[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
	want=$(grep -c '' "$probes" || true)
	got=$(grep -c '' "$tmp/out" || true)

	problem=
	if [ "$rc" -ne 0 ]; then
		problem="netpolctl exited with status $rc"
	elif [ "$got" -ne "$want" ]; then
		problem="netpolctl printed $got lines for $want probes"
	elif ! jq -n --slurpfile p "$probes" --slurpfile o "$tmp/out" \
		"$mismatch_filter" >"$tmp/bad" 2>"$tmp/jqerr"; then
		problem="output is not JSON lines: $(head -c 300 "$tmp/jqerr")"
	elif [ -s "$tmp/bad" ]; then
		problem="$(grep -c '' "$tmp/bad") of $want probes differ from the expectation"
	fi

	if [ -z "$problem" ]; then
		echo "ok $name ($want probes)"
		passed=$((passed + 1))
		continue
	fi

	failed=$((failed + 1))
	echo "FAIL $name: $problem"
	echo "  reproduce: $tool ${args[*]}"
	if [ "$rc" -ne 0 ] || [ "$got" -ne "$want" ]; then
		if [ -s "$tmp/err" ]; then
			echo "  stderr:"
			head -n 20 "$tmp/err" | sed 's/^/    /'
		fi
		continue
	fi
	while read -r i; do
		n=$((i + 1))
		echo "  probe $n: $(sed -n "${n}p" "$probes")"
		echo "  output $n: $(sed -n "${n}p" "$tmp/out")"
	done <"$tmp/bad"
done

echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
