#!/bin/sh
# boot (L1 side): nimbus boots the stock Debian cloud kernel as L2 with two
# vCPUs, once from the bzImage (Linux 64-bit boot protocol) and once from the
# ELF vmlinux (PVH entry). The guest's `reboot -f` must end nimbus with 0.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"

# boot LABEL KERNEL
boot() {
    l2_run "nimbus-$1" nimbus --kernel "$2" --initramfs "$L2_INITRD" \
        --cpus boot=2 --memory size=512M --serial tty \
        --cmdline "$L2_APPEND lab.action=reboot lab.checks=cpus,dmesg"
}
rc=0
boot bzimage "$L2_BZIMAGE" || rc=1
boot pvh "$L2_VMLINUX" || rc=1
exit "$rc"
