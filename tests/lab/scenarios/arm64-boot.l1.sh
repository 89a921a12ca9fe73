#!/bin/sh
# arm64-boot (L1 side): nimbus boots the stock arm64 cloud kernel as L2 with
# two vCPUs, virtio-rng, a virtio-blk disk and virtio-net on a tap nimbus
# creates.  The guest checks its CPUs, the PCI functions and the rng, reads
# the host's file back from the disk, writes and syncs a new one, pings L1
# and moves 4 MiB each way over TCP, then powers off (PSCI SYSTEM_OFF),
# which must end nimbus with status 0; L1 then checksums what the guest
# wrote on the image.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
sha=$(lab_param sha none)
rc=0
lab_tcp_peers # the tap gets 192.168.249.1 when nimbus creates it
# Several checks in one boot: allow for a loaded host (CI shares 2 cores;
# 70 s have been seen).
# shellcheck disable=SC2034 # read by l2_run
L2_TIMEOUT=240
l2_run nimbus-arm64 nimbus -vv --log-file /tmp/nimbus.log \
    --kernel "$L2_IMAGE" --initramfs "$L2_INITRD" \
    --cpus boot=2 --memory size=512M --serial tty --console off --rng src=/dev/urandom \
    --disk "path=${LAB_ROOT:-}/lab/disk.img" --net ip=192.168.249.1,mask=255.255.255.0 \
    --cmdline "$L2_APPEND lab.action=poweroff lab.sha=$sha lab.net_sha=$LAB_NET_SHA lab.virtio_count=3 lab.checks=cpus,pci,rng,blk,net,dmesg" ||
    rc=1
sleep 1
echo "NIMBUS-L1-RECEIVED $(sha256sum /tmp/from-guest.bin | cut -d' ' -f1) $(wc -c </tmp/from-guest.bin)"
if written=$(lab_image_sha "${LAB_ROOT:-}/lab/disk.img" written.bin); then
    echo "NIMBUS-L1-WRITTEN $written"
else
    echo "NIMBUS-L1-ERROR cannot mount the guest's disk image"
    rc=1
fi
echo "--- nimbus log (last lines)"
tail -n 40 /tmp/nimbus.log
exit "$rc"
