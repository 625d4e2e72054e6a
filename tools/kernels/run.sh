#!/usr/bin/env bash
# `make test-kernels`: the datapath on the EKS kernels.  Boots Debian's 5.10
# (bullseye, as Amazon Linux 2) and 6.1 (bookworm, as AL2023/Bottlerocket)
# cloud kernels under qemu (software emulation; both guests run at once), runs
# tools/kernels/suite.sh in each (program load, BPF tests, conformance through
# netpolctl verdict, a real connection through the agent between network
# namespaces, and the same with the agent under setpriv with exactly the
# DaemonSet's capabilities CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON), runs the same
# suite on this machine's kernel, and prints a per-kernel summary.
#
#   tools/kernels/run.sh BUILD [KERNEL...]     KERNEL: 5.10 6.1 host (default: all)
#
# Consoles are kept in BUILD/kernels/console-<kernel>.log.  Environment:
# NP_QEMU_TIMEOUT (seconds per guest, default 1500), NP_QEMU_MEM (1024M),
# NP_QEMU_SMP (2), NP_KERNEL_PKG_5_10 / NP_KERNEL_PKG_6_1 (see fetch.sh),
# NP_KT_CASES=GLOB,GLOB (a subset of the conformance cases; default all).
set -uo pipefail

build=${1:-build}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 host)
timeout_s=${NP_QEMU_TIMEOUT:-1500}
out=$build/kernels
mkdir -p "$out"

if [ "$(id -u)" -ne 0 ]; then
	echo "test-kernels: needs root (the host column loads BPF programs); run: sudo make test-kernels" >&2
	exit 1
fi
need=()
for c in qemu-system-x86_64 cpio busybox depmod dpkg-deb apt-get jq; do
	command -v "$c" >/dev/null 2>&1 || need+=("$c")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "test-kernels: missing ${need[*]}; install: apt-get install -y qemu-system-x86 busybox-static cpio kmod jq" >&2
	exit 1
fi

declare -A label pid logf start
bad=()
start_all=$SECONDS
for k in "${kernels[@]}"; do
	case $k in
	5.10) label[$k]="bullseye" ;;
	6.1) label[$k]="bookworm" ;;
	host) continue ;;
	*) echo "test-kernels: unknown kernel '$k' (want 5.10, 6.1 or host)" >&2; exit 2 ;;
	esac
	logf[$k]=$out/console-$k.log
	: >"${logf[$k]}"
	if ! kdir=$("$here/fetch.sh" "$build" "$k" 2>>"${logf[$k]}"); then
		echo "test-kernels: $k: cannot fetch the kernel:" >&2
		sed 's/^/  /' "${logf[$k]}" >&2
		continue
	fi
	label[$k]="$(basename "$kdir" | sed 's/-cloud-amd64$//') (${label[$k]})"
	if ! "$here/mkinitramfs.sh" "$build" "$kdir" "$out/initramfs-$k.cpio.gz" 2>>"${logf[$k]}"; then
		echo "test-kernels: $k: cannot build the initramfs:" >&2
		sed 's/^/  /' "${logf[$k]}" >&2
		continue
	fi
	echo "  QEMU     $(basename "$kdir") (console: ${logf[$k]})"
	start[$k]=$SECONDS
	# mitigations=off: this is an emulated test machine, and the
	# speculation mitigations only slow the emulation down.
	timeout "$timeout_s" qemu-system-x86_64 -machine q35 -cpu max -accel tcg \
		-m "${NP_QEMU_MEM:-1024M}" -smp "${NP_QEMU_SMP:-2}" \
		-nographic -no-reboot -nic none \
		-kernel "$kdir/vmlinuz" -initrd "$out/initramfs-$k.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init mitigations=off${NP_KT_CASES:+ np.cases=$NP_KT_CASES}" \
		</dev/null >>"${logf[$k]}" 2>&1 &
	pid[$k]=$!
done

for k in "${kernels[@]}"; do
	[ "$k" = host ] || continue
	label[$k]="$(uname -r | cut -d- -f1) (host)"
	logf[$k]=$out/console-host.log
	echo "  HOST     $(uname -r) (log: ${logf[$k]})"
	start[$k]=$SECONDS
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	NP_PREFIX=np-kth "$here/suite.sh" "$root" "$build" >"${logf[$k]}" 2>&1
	echo "NP-TIME total $((SECONDS - start[$k]))" >>"${logf[$k]}"
done

for k in "${kernels[@]}"; do
	[ -n "${pid[$k]:-}" ] || continue
	wait "${pid[$k]}"
	rc=$?
	# the serial console ends lines with CR LF
	tr -d '\r' <"${logf[$k]}" >"${logf[$k]}.tmp" && mv "${logf[$k]}.tmp" "${logf[$k]}"
	[ "$rc" -eq 124 ] && echo "NP-ERROR qemu killed after ${timeout_s} s (NP_QEMU_TIMEOUT)" >>"${logf[$k]}"
	echo "NP-TIME total $((SECONDS - start[$k]))" >>"${logf[$k]}"
done

# ---- summary ----
fail=0
result() { # LOG WHAT -> "P F" or empty
	grep -a "^NP-RESULT $2 " "$1" 2>/dev/null | tail -n1 | cut -d' ' -f3-
}
cell_count() { # "P F" -> P/(P+F)
	local p f
	[ -n "$1" ] || { echo "-"; return; }
	read -r p f <<<"$1"
	echo "$p/$((p + f))"
}
ok_count() { local p f; [ -n "$1" ] || return 1; read -r p f <<<"$1"; [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; }
echo
printf '%-26s | %-4s | %-9s | %-11s | %-10s | %-11s | %s\n' kernel load "bpf tests" conformance connection "caps (3)" time
printf '%s\n' "---------------------------+------+-----------+-------------+------------+-------------+------"
for k in "${kernels[@]}"; do
	log=${logf[$k]:-/dev/null}
	load=$(grep -a '^NP-RESULT load ' "$log" 2>/dev/null | tail -n1 | cut -d' ' -f3)
	bpf=$(result "$log" bpf)
	conf=$(result "$log" conformance)
	conn=$(result "$log" connection)
	caps=$(result "$log" caps)
	t=$(grep -a '^NP-TIME total ' "$log" 2>/dev/null | tail -n1 | cut -d' ' -f3)
	okcell() { # "P F" -> ok (P/N), fail (P/N) or -
		if [ -z "$1" ]; then echo "-"; elif ok_count "$1"; then echo "ok ($(cell_count "$1"))"; else echo "fail ($(cell_count "$1"))"; fi
	}
	printf '%-26s | %-4s | %-9s | %-11s | %-10s | %-11s | %s\n' "${label[$k]:-$k}" "${load:--}" \
		"$(cell_count "$bpf")" "$(cell_count "$conf")" "$(okcell "$conn")" "$(okcell "$caps")" "${t:+${t}s}"
	if [ "$load" != ok ] || ! ok_count "$bpf" || ! ok_count "$conf" || ! ok_count "$conn" || ! ok_count "$caps"; then
		fail=$((fail + 1))
		bad+=("$k")
	fi
done
[ -z "${NP_KT_CASES:-}" ] || echo "(conformance restricted to NP_KT_CASES=$NP_KT_CASES)"
echo
for k in "${bad[@]:-}"; do
	[ -n "$k" ] || continue
	echo "== $k failed; console log ${logf[$k]:-} (last 60 lines of the suite):"
	grep -av '^\s*case: ' "${logf[$k]:-/dev/null}" | tail -n 60 | sed 's/^/  /'
done
echo "test-kernels: $((${#kernels[@]} - fail)) passed, $fail failed (${#kernels[@]} kernels, $((SECONDS - start_all)) s)"
[ "$fail" -eq 0 ]
