#!/usr/bin/env bash
# The Dockerfile's build steps, run here without a docker engine: the build
# stage's packages are the ones installed on this Debian 12 machine (checked
# with dpkg; apt-get itself is not run: no network in tests), its COPY and RUN
# lines are replayed in a scratch tree (the same make and install commands,
# /out moved under a temporary directory), then the runtime stage is checked:
# the image gets exactly the binaries and the BPF object, both binaries run,
# and every shared library they load belongs to a package the runtime stage
# installs (or to one of those packages' dependencies, or to the base image's
# essential libc).  Usage: tests/ops/dockerfile.sh.  Prints
# "dockerfile: N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DF=$ROOT/deploy/Dockerfile
PASS=0
FAIL=0
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
TMP=$(mktemp -d /tmp/np-ops-docker.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# stage N: the lines of the Nth FROM's stage (1-based).
stage() { awk -v n="$1" '/^FROM /{s++} s==n && !/^FROM /' "$DF"; }
# packages of the stage's apt-get install.
apt_pkgs() { stage "$1" | grep -o 'apt-get install [^&]*' | tr ' ' '\n' | grep -v -e '^-' -e '^apt-get$' -e '^install$' -e '^$'; }

check "two stages: debian:bookworm build, debian:bookworm-slim runtime" \
	test "$(grep '^FROM ' "$DF" | awk '{print $2}' | tr '\n' ' ')" = "debian:bookworm debian:bookworm-slim "
missing=""
for p in $(apt_pkgs 1); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
check "build stage packages are installed here ($(apt_pkgs 1 | wc -l) packages)${missing:+; missing:$missing}" test -z "$missing"
# The build stage's packages must be enough to build: every Debian package
# the Makefile's build needs for the image's targets is among them.
for p in make gcc clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev; do
	apt_pkgs 1 | grep -qx "$p" || missing="$missing $p"
done
check "build stage installs every build dependency of the Makefile${missing:+; missing:$missing}" test -z "$missing"

# Replay COPY and RUN (not apt-get) in a scratch tree.
mkdir -p "$TMP/src"
workdir=$TMP/src
fail_step=""
while IFS= read -r line; do
	case $line in
	WORKDIR*) ;;
	COPY\ --from=*) ;;
	COPY*)
		set -- $line
		src=$2 dst=$3
		mkdir -p "$workdir/$(dirname "$dst")"
		cp -r "$ROOT/${src%/}" "$workdir/${dst%/}" || fail_step="$line"
		;;
	RUN\ apt-get*) ;;
	RUN*)
		cmd=${line#RUN }
		cmd=${cmd//\/out/$TMP/out}
		(cd "$workdir" && bash -c "$cmd") >"$TMP/run.log" 2>&1 || { fail_step="$line"; tail -20 "$TMP/run.log"; }
		;;
	esac
	[ -n "$fail_step" ] && break
done < <(stage 1)
check "build stage COPY and RUN steps succeed (make in a scratch copy)${fail_step:+; failed: $fail_step}" test -z "$fail_step"

files=$(cd "$TMP/out" 2>/dev/null && find . -type f | sort | tr '\n' ' ')
check "the image gets exactly the two binaries and the BPF object ($files)" \
	test "$files" = "./usr/local/bin/netpol-agent ./usr/local/bin/netpolctl ./usr/local/lib/netpol-agent/netpol.bpf.o "
check "netpol-agent --help runs" sh -c "'$TMP/out/usr/local/bin/netpol-agent' --help >/dev/null"
check "netpolctl --help runs" sh -c "'$TMP/out/usr/local/bin/netpolctl' --help >/dev/null"
check "the BPF object is a BPF ELF file" sh -c "file '$TMP/out/usr/local/lib/netpol-agent/netpol.bpf.o' 2>/dev/null | grep -q 'eBPF' || readelf -h '$TMP/out/usr/local/lib/netpol-agent/netpol.bpf.o' | grep -q 'Linux BPF'"

# Runtime closure: listed packages and their dependencies, recursively.
declare -A have
mapfile -t queue < <(apt_pkgs 2; echo libc6; echo libgcc-s1)
while [ ${#queue[@]} -gt 0 ]; do
	p=${queue[0]}
	queue=("${queue[@]:1}")
	[ -n "${have[$p]:-}" ] && continue
	have[$p]=1
	deps=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$p" 2>/dev/null | tr ',|' '\n\n' | sed 's/(.*)//; s/:any//; s/ //g' | grep -v '^$')
	for d in $deps; do [ -z "${have[$d]:-}" ] && queue+=("$d"); done
done
uncovered=""
notfound=""
for bin in netpol-agent netpolctl; do
	ldd "$TMP/out/usr/local/bin/$bin" >"$TMP/ldd" 2>&1
	grep -q "not found" "$TMP/ldd" && notfound="$notfound $bin"
	for lib in $(awk '/=>/ && $3 ~ /^\// {print $3}' "$TMP/ldd"); do
		real=$(readlink -f "$lib")
		pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real/#\/lib/\/usr\/lib}" 2>/dev/null || dpkg -S "${real/#\/usr\/lib/\/lib}" 2>/dev/null)
		pkg=${pkg%%:*}
		[ -n "$pkg" ] && [ -n "${have[$pkg]:-}" ] || uncovered="$uncovered $lib(${pkg:-?})"
	done
done
check "every library the binaries load resolves" test -z "$notfound"
check "runtime stage packages cover every library the binaries load${uncovered:+; not covered:$uncovered}" test -z "$uncovered"
check "runtime stage ships CA certificates (ca-certificates)" grep -qx ca-certificates <(apt_pkgs 2)
check "runtime stage installs no compiler or -dev package" bash -c "! grep -Eqx '(gcc|clang|llvm|make|cpp|.*-dev)' <<<'$(apt_pkgs 2)'"
check "runtime stage copies only /out from the build stage" \
	test "$(stage 2 | grep -c '^COPY')" = 1 -a "$(stage 2 | grep '^COPY' | awk '{print $2, $3, $4}')" = "--from=build /out/ /"

echo "dockerfile: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
