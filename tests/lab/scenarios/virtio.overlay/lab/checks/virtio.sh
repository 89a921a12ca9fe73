# shellcheck shell=sh disable=SC2154 # sourced by l2-init.sh (result, lab_param)
# Checks of the virtio devices, selected by lab.checks=.

# Wait up to $2 tenths of a second for path $1 (devices appear as drivers bind).
wait_for() {
    i=0
    while [ ! -e "$1" ] && [ "$i" -lt "$2" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ -e "$1" ]
}

check_pci() { # the virtio functions are on the PCI bus (vendor 0x1af4)
    n=0
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor")" = 0x1af4 ] && n=$((n + 1))
    done
    list=$(for d in /sys/bus/pci/devices/*; do printf '%s=%s:%s ' "${d##*/}" "$(cat "$d/vendor")" "$(cat "$d/device")"; done)
    if [ "$n" -ge "$(lab_param virtio_count 1)" ]; then result pci PASS "$list"; else result pci FAIL "$list"; fi
}

check_rng() { # virtio-rng is the kernel's hwrng and delivers bytes
    cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
    n=$(head -c 64 /dev/hwrng 2>/dev/null | wc -c)
    if [ "${cur#virtio_rng}" != "$cur" ] && [ "$n" = 64 ]; then
        result rng PASS "current=$cur bytes=$n"
    else
        result rng FAIL "current=$cur bytes=$n"
    fi
}

check_blk() { # vda: the host's file reads back intact, a new file is written and synced
    wait_for /dev/vda 50 || { result blk FAIL "no /dev/vda"; return; }
    mkdir -p /mnt/vda
    mount -t ext4 /dev/vda /mnt/vda || { result blk FAIL "cannot mount /dev/vda"; return; }
    got=$(sha256sum /mnt/vda/data.bin | cut -d' ' -f1)
    if [ "$got" != "$(lab_param sha none)" ]; then
        result blk FAIL "data.bin sha256 $got, want $(lab_param sha none)"
        umount /mnt/vda
        return
    fi
    head -c 786432 /dev/urandom >/mnt/vda/written.bin
    sync
    echo "NIMBUS-L2-WRITTEN $(sha256sum /mnt/vda/written.bin | cut -d' ' -f1)"
    umount /mnt/vda
    result blk PASS "data.bin intact, written.bin synced"
}

check_blkro() { # vdb is read-only: the kernel knows, and a raw write fails
    wait_for /dev/vdb 50 || { result blkro FAIL "no /dev/vdb"; return; }
    ro=$(cat /sys/block/vdb/ro)
    if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 oflag=direct 2>/dev/null; then
        result blkro FAIL "a write to the read-only disk succeeded (ro=$ro)"
    else
        result blkro PASS "ro=$ro, write refused"
    fi
}

check_net() { # eth0 to the host's tap: ping, then a file each way over TCP
    wait_for /sys/class/net/eth0 50 || { result net FAIL "no eth0"; return; }
    ip link set eth0 up && ip addr add "$(lab_param guest_ip 192.168.249.2)/24" dev eth0 ||
        { result net FAIL "cannot configure eth0"; return; }
    host=$(lab_param host_ip 192.168.249.1)
    if ! ping -c 3 -W 5 "$host" >/tmp/ping.out 2>&1; then
        result net FAIL "ping $host: $(tail -n 2 /tmp/ping.out | tr '\n' ' ')"
        return
    fi
    # Host -> guest: L1 serves a file on port 5001.
    nc -w 3 "$host" 5001 >/tmp/recv.bin
    got=$(sha256sum /tmp/recv.bin | cut -d' ' -f1)
    if [ "$got" != "$(lab_param net_sha none)" ]; then
        result net FAIL "received $(wc -c </tmp/recv.bin) bytes, sha256 $got, want $(lab_param net_sha none)"
        return
    fi
    # Guest -> host: L1 listens on port 5002; it checks the checksum printed here.
    head -c 4194304 /dev/urandom >/tmp/send.bin
    echo "NIMBUS-L2-SENT $(sha256sum /tmp/send.bin | cut -d' ' -f1)"
    nc -w 3 "$host" 5002 </tmp/send.bin
    result net PASS "ping ok, $(wc -c </tmp/recv.bin) bytes received intact"
}
