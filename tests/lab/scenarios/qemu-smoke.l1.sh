#!/bin/sh
# qemu-smoke (L1 side): QEMU, the benchmark peer, boots the stock kernel as
# L2 on /dev/kvm, once as bzImage and once through the PVH ELF entry.  Proves
# the lab itself before any nimbus result is trusted.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"

# boot LABEL KERNEL.  The guest powers off (ACPI via microvm's GED): QEMU's
# microvm does not leave on a guest reboot even with -no-reboot. No dmesg
# check: under this lab QEMU's guest trips the kernel's XSAVE size warning
# (L0's TCG does not forward XSETBV exits to L1's KVM, so KVM never updates
# CPUID.0xD.0:EBX); nimbus avoids it by starting vCPUs with XCR0 set.
boot() {
    l2_run "qemu-$1" qemu-system-x86_64 -accel kvm -M microvm -cpu host -smp 2 -m 512 \
        -nographic -nodefaults -serial stdio -no-reboot \
        -kernel "$2" -initrd "$L2_INITRD" \
        -append "$L2_APPEND lab.action=poweroff lab.checks=cpus"
}
rc=0
boot bzimage "$L2_BZIMAGE" || rc=1
boot pvh "$L2_VMLINUX" || rc=1
exit "$rc"
