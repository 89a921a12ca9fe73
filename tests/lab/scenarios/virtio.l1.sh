#!/bin/sh
# virtio (L1 side): nimbus boots the stock kernel with virtio-rng, two
# virtio-blk disks (one read-only) and virtio-net on a tap nimbus creates.
# The guest checks the PCI functions, the rng, reads the host's file back,
# writes and syncs a new one, pings L1 and moves 4 MiB each way over TCP,
# then powers off; L1 mounts the image and checksums what the guest wrote,
# and checksums what it received.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
sha=$(lab_param sha none)
rc=0
# TCP peers on L1 (the tap gets 192.168.249.1 when nimbus creates it).
lab_tcp_peers
net_sha=$LAB_NET_SHA
lab_vsock_peers
# Many checks in one boot: allow for a loaded host (CI shares 2 cores).
# shellcheck disable=SC2034 # read by l2_run
L2_TIMEOUT=240
l2_run nimbus-virtio nimbus -vvv --log-file /tmp/nimbus.log --kernel "$L2_BZIMAGE" --initramfs "$L2_INITRD" \
    --cpus boot=2 --memory size=512M --serial tty --rng src=/dev/urandom \
    --disk "path=${LAB_ROOT:-}/lab/disk.img,num_queues=2" \
    --disk "path=${LAB_ROOT:-}/lab/ro.img,readonly=on" \
    --net ip=192.168.249.1,mask=255.255.255.0,num_queues=4 --console file=/tmp/hvc.txt \
    --vsock cid=3,socket=/tmp/vsock.sock --balloon size=128M \
    --cmdline "$L2_APPEND lab.action=poweroff lab.sha=$sha lab.net_sha=$net_sha lab.virtio_count=7 lab.balloon_below_kb=420000 lab.msi_chip=PCI-MSI lab.checks=pci,msi,mq,rng,blk,blkro,net,console,vsock,balloon,dmesg" ||
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
mnt=${LAB_ROOT:-}/mnt/disk
mkdir -p "$mnt"
# Durability: the guest writes and syncs a file, then nimbus is killed with
# SIGKILL; the flushed data must be in the image.
# The same boot also covers a tap the operator made (tap=NAME), the PCIe
# capability, and DISCARD / WRITE_ZEROES on a scratch disk of 0xaa bytes.
labvsock mktap labtap0 && ip addr add 192.168.250.1/24 dev labtap0 && ip link set labtap0 up ||
    echo "NIMBUS-L1-ERROR cannot create the persistent tap labtap0"
label=nimbus-durable
out=/tmp/$label.out
echo "NIMBUS-L2-BEGIN $label"
nimbus --kernel "$L2_BZIMAGE" --initramfs "$L2_INITRD" --cpus boot=1 --memory size=512M \
    --serial tty --disk "path=${LAB_ROOT:-}/lab/disk.img" --disk "path=${LAB_ROOT:-}/lab/scratch.img" \
    --net tap=labtap0 \
    --cmdline "$L2_APPEND lab.checks=pcie,discard,ping,durable" </dev/null >"$out" 2>&1 &
pid=$!
waited=0
until grep -q NIMBUS-L2-DURABLE "$out" || ! kill -0 "$pid" 2>/dev/null || [ "$waited" -ge 120 ]; do
    sleep 1
    waited=$((waited + 1))
done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
cat "$out"
echo "NIMBUS-L2-END $label rc=0 ms=0"
# Read-write: the guest never unmounted, so ext4 replays its journal first.
if mount -o loop "${LAB_ROOT:-}/lab/disk.img" "$mnt"; then
    echo "NIMBUS-L1-DURABLE $(sha256sum "$mnt"/durable.bin 2>&1 | cut -d' ' -f1)"
    umount "$mnt"
else
    echo "NIMBUS-L1-ERROR cannot mount the image after SIGKILL"
    rc=1
fi

# What the guest discarded and zeroed reads back as zeros in the image;
# the rest still holds the 0xaa pattern.
scratch=${LAB_ROOT:-}/lab/scratch.img
zero=$(head -c 2097152 /dev/zero | sha256sum | cut -d' ' -f1)
head_sha=$(dd if="$scratch" bs=1048576 count=2 2>/dev/null | sha256sum | cut -d' ' -f1)
stray=$(dd if="$scratch" bs=1048576 skip=2 2>/dev/null | tr -d '\252' | wc -c)
[ "$head_sha" = "$zero" ] && zero_ok=1 || zero_ok=0
echo "NIMBUS-L1-SCRATCH zero=$zero_ok stray=$stray size=$(wc -c <"$scratch")"

echo "--- nimbus log (last lines)"
tail -n 40 /tmp/nimbus.log
exit "$rc"
