#!/usr/bin/env bash
# Build the guest initramfs for one kernel: busybox, the test binaries and
# their shared libraries (copied from this machine, ldd), bash/jq/iproute2
# for the test scripts, the kernel modules the datapath needs (with their
# dependencies, in load order), the test data, and tools/kernels/guest-init.sh
# as /init.
#
#   tools/kernels/mkinitramfs.sh BUILD KERNEL_DIR OUT.cpio.gz
#
# KERNEL_DIR is what tools/kernels/fetch.sh printed.
set -euo pipefail

build=${1:?usage: $0 BUILD KERNEL_DIR OUT}
kdir=${2:?usage: $0 BUILD KERNEL_DIR OUT}
out=${3:?usage: $0 BUILD KERNEL_DIR OUT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac

release=$(basename "$kdir")
mods=$kdir/lib/modules/$release
# Modules the datapath and the tests need (clsact, cls_bpf, veth).
WANT_MODULES=${NP_GUEST_MODULES:-"sch_ingress cls_bpf veth"}

for b in busybox bash jq ip tc setpriv; do
	command -v "$b" >/dev/null || {
		echo "mkinitramfs: '$b' is missing; install: apt-get install -y busybox-static bash jq iproute2 util-linux" >&2
		exit 1
	}
done
busybox=$(command -v busybox)
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkinitramfs: $busybox is dynamically linked; install busybox-static" >&2
	exit 1
fi

bins=("$build/netpolctl" "$build/netpol-agent" "$build/np-conn")
for t in "$root"/tests/bpf/*.c; do
	bins+=("$build/tests/$(basename "$t" .c)")
done
for b in "${bins[@]}"; do
	[ -x "$b" ] || { echo "mkinitramfs: $b is missing; run make first" >&2; exit 1; }
done

stage=$(mktemp -d "$build/kernels/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib64,lib/x86_64-linux-gnu,proc,sys,dev,tmp,run,var,etc,boot,modules,np}
ln -s ../run "$stage/var/run"

# busybox applets (everything the scripts use that is not copied below)
cp "$busybox" "$stage/bin/busybox"
for a in $("$busybox" --list); do
	case $a in busybox | bash | ip | tc) continue ;; esac
	ln -sf busybox "$stage/bin/$a"
done

# dynamically linked programs from this machine, with their libraries.  The
# destination is removed first: it may be one of the busybox applet links made
# above (busybox has a setpriv applet), and cp onto a symlink writes through
# it, replacing bin/busybox itself.
copy_dyn() { # SRC DEST_IN_STAGE
	local src=$1 dst=$2 lib
	rm -f "$stage/$dst"
	cp -L "$src" "$stage/$dst"
	for lib in $(ldd "$src" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
		[ -e "$stage$lib" ] || { mkdir -p "$stage$(dirname "$lib")"; cp -L "$lib" "$stage$lib"; }
	done
}
copy_dyn "$(command -v bash)" bin/bash
copy_dyn "$(command -v jq)" bin/jq
copy_dyn "$(command -v ip)" sbin/ip
copy_dyn "$(command -v tc)" sbin/tc
# util-linux setpriv (--bounding-set, which busybox's applet lacks): suite.sh
# runs the agent with exactly the DaemonSet's capabilities
copy_dyn "$(command -v setpriv)" bin/setpriv
ln -sf /bin/env "$stage/usr/bin/env" # #!/usr/bin/env bash
mkdir -p "$stage/np/build/tests"
for b in "${bins[@]}"; do
	copy_dyn "$b" "np/build/${b#"$build"/}"
done
# /init (#!/bin/sh) and every applet are bin/busybox: if it is not busybox any
# more, the guest would loop or hang before printing anything
cmp -s "$busybox" "$stage/bin/busybox" || {
	echo "mkinitramfs: bin/busybox in the initramfs is not $busybox (overwritten through an applet link?)" >&2
	exit 1
}
# the loader reads CONFIG_HZ from /boot/config-$(uname -r)
[ -f "$kdir/config" ] && cp "$kdir/config" "$stage/boot/config-$release"

# test scripts and data, laid out as in the repository
mkdir -p "$stage/np/tests/bpf" "$stage/np/tests/e2e" "$stage/np/tools/kernels"
cp "$root"/tests/bpf/run.sh "$root"/tests/bpf/*.c "$stage/np/tests/bpf/"
cp -r "$root/tests/conformance" "$stage/np/tests/"
cp "$root/tests/e2e/lib.sh" "$stage/np/tests/e2e/"
cp -r "$root/policies" "$stage/np/"
cp "$here/suite.sh" "$stage/np/tools/kernels/"
cp "$here/guest-init.sh" "$stage/init"
chmod +x "$stage/init"

# kernel modules, dependencies first (modules.dep made by depmod if missing)
if [ ! -s "$mods/modules.dep" ]; then
	depmod -b "$kdir" "$release" 2>/dev/null ||
		/sbin/depmod -b "$kdir" "$release"
fi
order=()
add_mod() { # NAME
	local name=$1 line path dep
	line=$(grep -E "(^|/)$name\.ko(\.[gx]z)?:" "$mods/modules.dep" || true)
	if [ -z "$line" ]; then
		grep -qE "/$name\.ko" "$mods/modules.builtin" 2>/dev/null && return 0
		echo "mkinitramfs: module $name not found in $mods (neither module nor built in)" >&2
		exit 1
	fi
	path=${line%%:*}
	for dep in ${line#*:}; do
		dep=$(basename "$dep"); dep=${dep%%.ko*}
		add_mod "$dep"
	done
	case " ${order[*]-} " in *" $path "*) ;; *) order+=("$path") ;; esac
}
for m in $WANT_MODULES; do add_mod "$m"; done
: >"$stage/modules/order"
for p in "${order[@]}"; do
	f=$(basename "$p")
	case $f in
	*.ko.xz) xz -dc "$mods/$p" >"$stage/modules/${f%.xz}"; f=${f%.xz} ;;
	*.ko.gz) gzip -dc "$mods/$p" >"$stage/modules/${f%.gz}"; f=${f%.gz} ;;
	*) cp "$mods/$p" "$stage/modules/$f" ;;
	esac
	echo "$f" >>"$stage/modules/order"
done

(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
