#!/bin/sh
# arm64-qemu-smoke (L1 side): Debian's arm64 QEMU, the benchmark peer, boots
# the stock arm64 cloud kernel as L2 on L1's /dev/kvm with 2 vCPUs, through
# `-M virt` with a GICv3 (L1's KVM offers no GICv2).  Proves the arm64 lab
# before any nimbus result is trusted.  The guest's `poweroff -f` is a PSCI
# SYSTEM_OFF, after which QEMU exits 0.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"

l2_run qemu-virt qemu-system-aarch64 -accel kvm -M virt,gic-version=3 -cpu host -smp 2 -m 512 \
    -nographic -nodefaults -serial stdio -no-reboot \
    -kernel "$L2_IMAGE" -initrd "$L2_INITRD" \
    -append "$L2_APPEND lab.action=poweroff lab.checks=cpus,dmesg"
