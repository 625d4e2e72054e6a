#!/bin/sh
# /init of the test guest (busybox): mount the pseudo file systems, load the
# datapath's kernel modules, run tools/kernels/suite.sh, power off.  Results
# go to the serial console (NP-RESULT lines, parsed by tools/kernels/run.sh).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
echo "NP-KERNEL $(uname -r)"
[ -r /sys/kernel/btf/vmlinux ] || echo "NP-WARN no /sys/kernel/btf/vmlinux (kernel without CONFIG_DEBUG_INFO_BTF)"
while read -r m; do
	insmod "/modules/$m" || echo "NP-WARN insmod $m failed"
done </modules/order
# np.cases=GLOB,GLOB on the kernel command line: a subset of the conformance
# cases (NP_KT_CASES of tools/kernels/run.sh)
set -f
for a in $(cat /proc/cmdline); do
	case $a in np.cases=*) export NP_KT_CASES="${a#np.cases=}" ;; esac
done
set +f
echo "NP-SUITE start"
/bin/bash /np/tools/kernels/suite.sh /np /np/build 2>&1
echo "NP-SUITE done"
sync
poweroff -f
