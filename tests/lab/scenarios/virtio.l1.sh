#!/bin/sh
# virtio (L1 side): nimbus boots the stock kernel with virtio-rng and two
# virtio-blk disks (one read-only). The guest checks the PCI functions, the
# rng, reads the host's file back, writes and syncs a new one, then powers
# off; L1 then mounts the image and checksums what the guest wrote.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
sha=$(lab_param sha none)
rc=0
l2_run nimbus-virtio nimbus --kernel "$L2_BZIMAGE" --initramfs "$L2_INITRD" \
    --cpus boot=2 --memory size=512M --serial tty --rng src=/dev/urandom \
    --disk "path=${LAB_ROOT:-}/lab/disk.img" --disk "path=${LAB_ROOT:-}/lab/ro.img,readonly=on" \
    --cmdline "$L2_APPEND lab.action=poweroff lab.sha=$sha lab.virtio_count=3 lab.checks=pci,rng,blk,blkro,dmesg" ||
    rc=1
mnt=${LAB_ROOT:-}/mnt/disk
mkdir -p "$mnt"
if mount -o ro,loop "${LAB_ROOT:-}/lab/disk.img" "$mnt"; then
    echo "NIMBUS-L1-WRITTEN $(sha256sum "$mnt"/written.bin 2>&1 | cut -d' ' -f1)"
    umount "$mnt"
else
    echo "NIMBUS-L1-ERROR cannot mount the guest's disk image"
    rc=1
fi
exit "$rc"
