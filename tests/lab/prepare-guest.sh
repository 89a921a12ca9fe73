#!/bin/bash
# prepare-guest.sh — fetch (or reuse) the stock Debian cloud kernel and build
# the busybox L2 initramfs, then print their paths as shell assignments:
#   GUEST_KERNEL=... GUEST_INITRD=... GUEST_KVER=...
#   and on x86_64 GUEST_BZIMAGE=... (= GUEST_KERNEL) GUEST_VMLINUX=...
# LAB_ARCH=aarch64 prepares the arm64 kernel (an Image) instead.
# Used where a guest boots directly on the host (no nested lab).
set -euo pipefail
LAB_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$LAB_DIR/lib.sh"
# shellcheck source-path=SCRIPTDIR source=build-initramfs.sh
. "$LAB_DIR/build-initramfs.sh"
lab_lock
lab_prepare_kernel
lab_build_l2_initrd
lab_unlock
printf 'GUEST_KERNEL=%q\nGUEST_INITRD=%q\nGUEST_KVER=%q\n' "$LAB_KERNEL" "$LAB_L2_INITRD" "$LAB_KVER"
[[ $LAB_ARCH = aarch64 ]] || printf 'GUEST_BZIMAGE=%q\nGUEST_VMLINUX=%q\n' "$LAB_BZIMAGE" "$LAB_VMLINUX"
