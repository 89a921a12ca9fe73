#!/bin/sh
# bench-migration (L1 side): RUNS rounds (lab.bench_runs, default 3); in
# each, the counting guest (2 vCPUs, 512 MiB, virtio-blk) boots, counts for a
# few seconds and is live-migrated over a UNIX socket, once by nimbus and
# once by QEMU (microvm, pcie, migrate via HMP). Prints per run
#   BENCH migration <vmm> <run> downtime_ms=<n> total_ms=<n> rc=<rc>
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
runs=$(lab_param bench_runs 3)
dd if=/dev/zero of=/tmp/disk.img bs=1048576 count=8 2>/dev/null
counters() {
    n=$(grep -c NIMBUS-L2-COUNTER "$1" 2>/dev/null)
    echo "${n:-0}"
}
wait_counters() { # FILE N
    i=0
    while [ "$(counters "$1")" -lt "$2" ] && [ "$i" -lt 480 ]; do sleep 0.5; i=$((i + 1)); done
}
append="$L2_APPEND lab.checks=counter"

nimbus_run() { # nimbus_run RUN
    rm -f /tmp/bm-a.sock /tmp/bm-b.sock /tmp/bm-mig.sock
    : >/tmp/bm-serial.txt
    nimbus --api-socket path=/tmp/bm-a.sock </dev/null >/dev/null 2>&1 &
    a=$!
    nimbus --api-socket path=/tmp/bm-b.sock </dev/null >/dev/null 2>&1 &
    b=$!
    sleep 1
    cat >/tmp/bm-vm.json <<JSON
{ "payload": { "kernel": "$L2_BZIMAGE", "initramfs": "$L2_INITRD", "cmdline": "$append" },
  "cpus": { "boot_vcpus": 2, "max_vcpus": 2 }, "memory": { "size": 536870912 },
  "disks": [ { "path": "/tmp/disk.img" } ],
  "serial": { "mode": "File", "file": "/tmp/bm-serial.txt" }, "console": { "mode": "Off" } }
JSON
    nimbus-remote --api-socket /tmp/bm-a.sock create /tmp/bm-vm.json >/dev/null &&
        nimbus-remote --api-socket /tmp/bm-a.sock boot >/dev/null
    wait_counters /tmp/bm-serial.txt 6
    nimbus-remote --api-socket /tmp/bm-b.sock receive-migration unix:/tmp/bm-mig.sock >/dev/null &
    r=$!
    i=0
    while [ ! -S /tmp/bm-mig.sock ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    out=$(timeout 300 nimbus-remote --api-socket /tmp/bm-a.sock send-migration --no-progress unix:/tmp/bm-mig.sock 2>&1)
    rc=$?
    wait "$r"
    dt=$(echo "$out" | sed -n 's/.*downtime_ms: *\([0-9]*\).*/\1/p')
    tt=$(echo "$out" | sed -n 's/.*total_ms: *\([0-9]*\).*/\1/p')
    n=$(counters /tmp/bm-serial.txt)
    wait_counters /tmp/bm-serial.txt $((n + 2))
    echo "BENCH migration nimbus $1 downtime_ms=${dt:-0} total_ms=${tt:-0} rc=$rc"
    nimbus-remote --api-socket /tmp/bm-a.sock shutdown-vmm >/dev/null 2>&1
    nimbus-remote --api-socket /tmp/bm-b.sock shutdown-vmm >/dev/null 2>&1
    wait "$a" "$b" 2>/dev/null
}

hmp() { # hmp SOCK COMMAND: the monitor's reply
    printf '%s\n' "$2" | timeout 10 labvsock unix-raw "$1" 2>/dev/null
}
qemu_run() { # qemu_run RUN
    rm -f /tmp/qm-src.sock /tmp/qm-dst.sock /tmp/qm-mig.sock
    : >/tmp/qm-serial-src.txt
    : >/tmp/qm-serial-dst.txt
    common="-accel kvm -M microvm,pcie=on -cpu host -smp 2 -m 512 -nographic -nodefaults
        -kernel $L2_BZIMAGE -initrd $L2_INITRD
        -drive file=/tmp/disk.img,if=none,id=d0,format=raw,file.locking=off
        -device virtio-blk-pci,drive=d0"
    # shellcheck disable=SC2086 # word lists
    qemu-system-x86_64 $common -append "$append" -serial file:/tmp/qm-serial-src.txt \
        -monitor unix:/tmp/qm-src.sock,server=on,wait=off </dev/null >/dev/null 2>&1 &
    s=$!
    # shellcheck disable=SC2086
    qemu-system-x86_64 $common -append "$append" -serial file:/tmp/qm-serial-dst.txt \
        -monitor unix:/tmp/qm-dst.sock,server=on,wait=off -incoming unix:/tmp/qm-mig.sock \
        </dev/null >/dev/null 2>&1 &
    d=$!
    wait_counters /tmp/qm-serial-src.txt 6
    hmp /tmp/qm-src.sock "migrate -d unix:/tmp/qm-mig.sock" >/dev/null
    i=0 info=""
    while [ "$i" -lt 600 ]; do
        info=$(hmp /tmp/qm-src.sock "info migrate")
        echo "$info" | grep -q "Migration status: completed" && break
        echo "$info" | grep -q "Migration status: failed" && break
        sleep 0.5
        i=$((i + 1))
    done
    rc=1
    echo "$info" | grep -q "Migration status: completed" && rc=0
    dt=$(echo "$info" | sed -n 's/^downtime: *\([0-9]*\) ms.*/\1/p' | tr -d '\r')
    tt=$(echo "$info" | sed -n 's/^total time: *\([0-9]*\) ms.*/\1/p' | tr -d '\r')
    n=$(counters /tmp/qm-serial-dst.txt)
    wait_counters /tmp/qm-serial-dst.txt $((n + 2))
    echo "BENCH migration qemu $1 downtime_ms=${dt:-0} total_ms=${tt:-0} rc=$rc"
    [ "$rc" = 0 ] || echo "$info" | sed 's/^/| /' | head -n 20
    hmp /tmp/qm-src.sock quit >/dev/null
    hmp /tmp/qm-dst.sock quit >/dev/null
    wait "$s" "$d" 2>/dev/null
}

run=1
while [ "$run" -le "$runs" ]; do
    nimbus_run "$run"
    qemu_run "$run"
    run=$((run + 1))
done
