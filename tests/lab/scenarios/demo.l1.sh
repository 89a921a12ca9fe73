#!/bin/sh
# demo (L1 side): the main job's default guest — the stock Debian cloud kernel
# with a busybox initramfs, 2 vCPUs, 512 MiB, console on nimbus's stdout. It
# shows what it sees and reboots, which ends nimbus with status 0.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
l2_run nimbus-demo nimbus --kernel "$L2_BZIMAGE" --initramfs "$L2_INITRD" \
    --cpus boot=2 --memory size=512M --serial tty \
    --cmdline "console=ttyS0 panic=-1 lab.action=reboot lab.checks=info,cpus"
