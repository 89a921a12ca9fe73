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
    mkdir -p /tmp
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

check_console() { # virtio-console: a line written to hvc0 reaches nimbus's backend
    wait_for /dev/hvc0 50 || { result console FAIL "no /dev/hvc0"; return; }
    if echo "NIMBUS-HVC-HELLO from L2" >/dev/hvc0; then
        result console PASS "wrote to /dev/hvc0"
    else
        result console FAIL "write to /dev/hvc0 failed"
    fi
}

check_vsock() { # hybrid vsock: an echo from the host, and one to the host
    wait_for /dev/vsock 50 || { result vsock FAIL "no /dev/vsock"; return; }
    timeout 60 labvsock guest-echo 1234 >/tmp/vsock-echo.out 2>&1 &
    echo_pid=$!
    got=$(timeout 20 labvsock guest-send 5000 "ping-from-guest" 2>&1)
    if [ "$got" != "ping-from-guest" ]; then
        result vsock FAIL "guest -> host echo: '$got'"
        return
    fi
    wait "$echo_pid" || { result vsock FAIL "host -> guest echo: $(cat /tmp/vsock-echo.out)"; return; }
    result vsock PASS "echo both ways"
}

check_balloon() { # the balloon's inflation shows as less MemTotal
    limit=$(lab_param balloon_below_kb 0)
    i=0
    while :; do
        kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
        [ "$kb" -lt "$limit" ] && break
        [ "$i" -ge 200 ] && { result balloon FAIL "MemTotal $kb kB, want < $limit"; return; }
        sleep 0.1
        i=$((i + 1))
    done
    result balloon PASS "MemTotal $kb kB < $limit kB"
}

check_durable() { # write + fsync a file, report it, then wait to be killed
    wait_for /dev/vda 50 || { result durable FAIL "no /dev/vda"; return; }
    mkdir -p /mnt/vda
    mount -t ext4 /dev/vda /mnt/vda || { result durable FAIL "cannot mount /dev/vda"; return; }
    head -c 1048576 /dev/urandom >/mnt/vda/durable.bin
    sync
    echo "NIMBUS-L2-DURABLE $(sha256sum /mnt/vda/durable.bin | cut -d' ' -f1)"
    # L1 now kills nimbus with SIGKILL; what sync flushed must be on disk.
    sleep 600
}

check_mq() { # the multi-queue devices came up with all their queues
    nq=$(ls -d /sys/block/vda/mq/* 2>/dev/null | wc -l)
    rx=$(ls -d /sys/class/net/eth0/queues/rx-* 2>/dev/null | wc -l)
    if [ "$nq" -ge 2 ] && [ "$rx" -ge 2 ]; then
        result mq PASS "vda hw queues=$nq eth0 rx queues=$rx"
    else
        result mq FAIL "vda hw queues=$nq eth0 rx queues=$rx"
    fi
}

check_pcie() { # every virtio function is PCI Express: 4 KiB config space through ECAM
    n=0
    bad=""
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor")" = 0x1af4 ] || continue
        n=$((n + 1))
        size=$(wc -c <"$d/config")
        [ "$size" = 4096 ] || bad="$bad ${d##*/}:$size"
    done
    if [ "$n" -ge 1 ] && [ -z "$bad" ]; then
        result pcie PASS "$n functions with 4096-byte config space"
    else
        result pcie FAIL "functions=$n short config space:$bad"
    fi
}

check_discard() { # vdb: DISCARD and WRITE_ZEROES reach the image (first 2 MiB read back zero)
    wait_for /dev/vdb 50 || { result discard FAIL "no /dev/vdb"; return; }
    dmax=$(cat /sys/block/vdb/queue/discard_max_bytes)
    zmax=$(cat /sys/block/vdb/queue/write_zeroes_max_bytes)
    if [ "$dmax" = 0 ] || [ "$zmax" = 0 ]; then
        result discard FAIL "discard_max_bytes=$dmax write_zeroes_max_bytes=$zmax"
        return
    fi
    blkdiscard -o 0 -l 1048576 /dev/vdb || { result discard FAIL "blkdiscard failed"; return; }
    labvsock zeroout /dev/vdb 1048576 1048576 || { result discard FAIL "BLKZEROOUT failed"; return; }
    zero=$(head -c 2097152 /dev/zero | sha256sum | cut -d' ' -f1)
    got=$(dd if=/dev/vdb bs=1048576 count=2 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
    rest=$(dd if=/dev/vdb bs=1048576 skip=2 iflag=direct 2>/dev/null | tr -d '\252' | wc -c)
    if [ "$got" = "$zero" ] && [ "$rest" = 0 ]; then
        result discard PASS "discard_max=$dmax write_zeroes_max=$zmax, 2 MiB zero, rest untouched"
    else
        result discard FAIL "first 2 MiB sha256 $got (zero is $zero), $rest stray bytes after"
    fi
}

check_ping() { # eth0 on a tap the operator created (tap=NAME): ping its host end
    wait_for /sys/class/net/eth0 50 || { result ping FAIL "no eth0"; return; }
    mkdir -p /tmp
    ip link set eth0 up && ip addr add "$(lab_param guest_ip 192.168.250.2)/24" dev eth0 ||
        { result ping FAIL "cannot configure eth0"; return; }
    host=$(lab_param host_ip 192.168.250.1)
    if ping -c 3 -W 5 "$host" >/tmp/ping.out 2>&1; then
        result ping PASS "$(tail -n 1 /tmp/ping.out)"
    else
        result ping FAIL "ping $host: $(tail -n 2 /tmp/ping.out | tr '\n' ' ')"
    fi
}

check_msi() { # virtio interrupts are message-signalled through the platform's MSI controller
    want=$(lab_param msi_chip MSI) # x86_64: PCI-MSI; aarch64: ITS-MSI (the GICv3 ITS)
    n=$(grep virtio /proc/interrupts | grep -c -- "$want")
    other=$(grep virtio /proc/interrupts | grep -v -c -- "$want")
    if [ "$n" -ge 1 ] && [ "$other" = 0 ]; then
        result msi PASS "$n virtio vectors on $want"
    else
        result msi FAIL "$n virtio vectors on $want, $other elsewhere: $(grep -m 2 virtio /proc/interrupts | tr -s ' ')"
    fi
}
