#!/bin/sh
# Install the Debian packages named as arguments when any is missing, so that
# `sudo make demo` and `sudo make test` work on a fresh machine.  Quick and
# silent when everything is there already.
set -u
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages:$missing; run 'sudo make deps' (or this command as root)" >&2
	exit 1
fi
echo "installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q && apt-get install -y -q $missing
