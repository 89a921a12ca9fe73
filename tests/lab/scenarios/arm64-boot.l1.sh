#!/bin/sh
# arm64-boot (L1 side): nimbus boots the stock arm64 cloud kernel as L2 with
# two vCPUs and the whole virtio device set: rng, a virtio-blk disk,
# virtio-net on a tap nimbus creates, console, vsock and balloon.  The guest
# checks its CPUs, the PCI(e) functions and the rng, reads the host's file
# back from the disk, writes and syncs a new one, pings L1 and moves 4 MiB
# each way over TCP, writes to the console, echoes over vsock both ways,
# sees the balloon take memory, then powers off (PSCI SYSTEM_OFF), which
# must end nimbus with status 0; L1 then checksums what the guest wrote on
# the image.  A second boot reboots (PSCI SYSTEM_RESET): nimbus exits 0.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
sha=$(lab_param sha none)
rc=0
lab_tcp_peers # the tap gets 192.168.249.1 when nimbus creates it
lab_vsock_peers
# Several checks in one boot: allow for a loaded host (CI shares 2 cores;
# 70 s have been seen).
# shellcheck disable=SC2034 # read by l2_run
L2_TIMEOUT=240
l2_run nimbus-arm64 nimbus -vv --log-file /tmp/nimbus.log \
    --kernel "$L2_IMAGE" --initramfs "$L2_INITRD" \
    --cpus boot=2 --memory size=512M --serial tty --console file=/tmp/hvc.txt --rng src=/dev/urandom \
    --disk "path=${LAB_ROOT:-}/lab/disk.img" --net ip=192.168.249.1,mask=255.255.255.0 \
    --vsock cid=3,socket=/tmp/vsock.sock --balloon size=128M \
    --cmdline "$L2_APPEND lab.action=poweroff lab.sha=$sha lab.net_sha=$LAB_NET_SHA lab.virtio_count=6 lab.balloon_below_kb=420000 lab.msi_chip=ITS-MSI lab.checks=cpus,pci,pcie,msi,rng,blk,net,console,vsock,balloon,dmesg" ||
    rc=1
sleep 1
cat /tmp/vsock-echo.txt 2>/dev/null
echo "NIMBUS-L1-HVC $(cat /tmp/hvc.txt 2>&1 | tr -d '\r' | head -n 1)"
echo "NIMBUS-L1-RECEIVED $(sha256sum /tmp/from-guest.bin | cut -d' ' -f1) $(wc -c </tmp/from-guest.bin)"
if written=$(lab_image_sha "${LAB_ROOT:-}/lab/disk.img" written.bin); then
    echo "NIMBUS-L1-WRITTEN $written"
else
    echo "NIMBUS-L1-ERROR cannot mount the guest's disk image"
    rc=1
fi
# Reboot: the guest's `reboot -f` is PSCI SYSTEM_RESET; with the default
# reboot policy nimbus ends with status 0.
l2_run nimbus-arm64-reboot nimbus --kernel "$L2_IMAGE" --initramfs "$L2_INITRD" \
    --cpus boot=2 --memory size=256M --serial tty \
    --cmdline "$L2_APPEND lab.action=reboot" || rc=1
echo "--- nimbus log (last lines)"
tail -n 40 /tmp/nimbus.log
exit "$rc"
