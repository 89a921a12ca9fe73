#!/bin/sh
# /init of L1: the Debian cloud kernel running under QEMU TCG, which emulates
# AMD SVM + NPT (x86_64) or EL2 (aarch64, where KVM is built into the
# kernel).  Loads the modules of /lab/modules/order (kvm-amd: /dev/kvm; loop,
# tun), runs the scenario /lab/scenario.sh, reports its status and powers off
# (L0 QEMU then exits).
#
# Lines: NIMBUS-L1-READY up=<s> ..., NIMBUS-L1-ERROR <why>, NIMBUS-L1-DONE rc=<rc>
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
ip link set lo up # scenarios talk TCP over loopback (e.g. migration)
# shellcheck source=l1-lib.sh
. /lab/lib.sh

# L0 QEMU's RTC already gives host time; only repair a clock that is clearly
# wrong, since lab.hostdate was taken before L1 started.
hostdate=$(lab_param hostdate 0)
now=$(date +%s)
if [ "$hostdate" -gt 0 ] && { [ $((now - hostdate)) -gt 3600 ] || [ $((hostdate - now)) -gt 3600 ]; }; then
    date -s "@$hostdate" >/dev/null
fi
export LAB_HOSTDATE="$hostdate"

# No modules.dep in the initramfs: the order file lists dependencies first
# (loop: scenarios inspect the disk images their guests wrote; tun: nimbus
# creates taps).
rc=0
while read -r m; do
    insmod "/lab/modules/$m.ko" || { echo "NIMBUS-L1-ERROR insmod $m failed"; rc=125; }
done </lab/modules/order
if [ ! -c /dev/kvm ]; then
    echo "NIMBUS-L1-ERROR no /dev/kvm: $(dmesg | grep -iE 'kvm|svm|hyp' | tail -n3 | tr '\n' '|')"
    rc=125
fi

read -r up _ </proc/uptime
echo "NIMBUS-L1-READY up=$up kernel=$(uname -r) cpus=$(nproc) date=$(date +%s)"
if [ "$rc" = 0 ]; then
    (cd /lab && exec sh /lab/scenario.sh) </dev/null
    rc=$?
fi
echo "NIMBUS-L1-DONE rc=$rc"
poweroff -f
