#!/usr/bin/env bash
# Download and unpack a Debian cloud kernel for tools/kernels/run.sh, cached
# under BUILD/kernels/.  The machine's apt configuration is not touched: a
# private sources list and private package lists live in BUILD/kernels/apt.
#
#   tools/kernels/fetch.sh BUILD SERIES      SERIES: 5.10 (bullseye) | 6.1 (bookworm)
#
# Prints the kernel directory (BUILD/kernels/<release>) on stdout; it holds
# vmlinuz and lib/modules/<release>/.  Override the package with
# NP_KERNEL_PKG_5_10 / NP_KERNEL_PKG_6_1 (e.g. linux-image-5.10.0-35-cloud-amd64-unsigned);
# the mirror with NP_DEBIAN_MIRROR.
set -euo pipefail

build=${1:?usage: $0 BUILD SERIES}
series=${2:?usage: $0 BUILD SERIES}
case $series in
5.10) suite=bullseye; override=${NP_KERNEL_PKG_5_10:-} ;;
6.1) suite=bookworm; override=${NP_KERNEL_PKG_6_1:-} ;;
*) echo "fetch: unknown kernel series '$series' (want 5.10 or 6.1)" >&2; exit 2 ;;
esac

top=$(mkdir -p "$build/kernels" && cd "$build/kernels" && pwd)
cache=$top/cache-$series           # a finished unpack: "release dir" recorded here
if [ -z "$override" ] && [ -f "$cache" ] && [ -f "$(cat "$cache")/vmlinuz" ]; then
	cat "$cache"
	exit 0
fi

# The Debian mirror the machine already uses (first deb.debian.org-like URI).
mirror=${NP_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security |
		grep -oE 'https?://[^ ]*/debian/?' | head -n1 || true)
	mirror=${mirror:-http://deb.debian.org/debian}
fi

apt=$top/apt-$suite
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$top/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} $suite main" >"$apt/sources.list"
aptopts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
	-o "Dir::State::status=/dev/null" -o "APT::Get::List-Cleanup=0" -q)
mkdir -p "$apt/cache/archives/partial"

if [ ! -f "$apt/updated" ] || [ -n "$(find "$apt/updated" -mmin +1440 2>/dev/null)" ]; then
	echo "fetch: updating the $suite package list from $mirror" >&2
	apt-get "${aptopts[@]}" update >"$apt/update.log" 2>&1 ||
		{ cat "$apt/update.log" >&2; echo "fetch: apt-get update for $suite failed" >&2; exit 1; }
	touch "$apt/updated"
fi

pkg=$override
if [ -z "$pkg" ]; then
	pkg=$(apt-cache "${aptopts[@]}" pkgnames "linux-image-$series." |
		grep -E "^linux-image-$series\.[0-9]+-[0-9]+-cloud-amd64-unsigned$|^linux-image-$series\.0-[0-9]+-cloud-amd64-unsigned$" |
		sort -V | tail -n1)
fi
[ -n "$pkg" ] || { echo "fetch: no linux-image-$series.*-cloud-amd64-unsigned in $suite" >&2; exit 1; }

(cd "$top/debs" && ls "${pkg}"_*.deb >/dev/null 2>&1) || {
	echo "fetch: downloading $pkg ($suite)" >&2
	(cd "$top/debs" && apt-get "${aptopts[@]}" download "$pkg" >"$apt/download.log" 2>&1) ||
		{ cat "$apt/download.log" >&2; echo "fetch: apt-get download $pkg failed" >&2; exit 1; }
}
deb=$(cd "$top/debs" && ls "${pkg}"_*.deb | sort -V | tail -n1)

tmp=$top/unpack.$$
rm -rf "$tmp"
dpkg-deb -x "$top/debs/$deb" "$tmp"
release=$(ls "$tmp/lib/modules" | head -n1)
[ -n "$release" ] && [ -f "$tmp/boot/vmlinuz-$release" ] ||
	{ echo "fetch: $deb holds no /boot/vmlinuz-* and /lib/modules/*" >&2; exit 1; }
dir=$top/$release
rm -rf "$dir"
mkdir -p "$dir/lib"
mv "$tmp/boot/vmlinuz-$release" "$dir/vmlinuz"
cp "$tmp/boot/config-$release" "$dir/config" 2>/dev/null || true
mv "$tmp/lib/modules" "$dir/lib/modules"
rm -rf "$tmp"
echo "$deb" >"$dir/package"
[ -n "$override" ] || echo "$dir" >"$cache"
echo "$dir"
