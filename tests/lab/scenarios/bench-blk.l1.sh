#!/bin/sh
# bench-blk (L1 side): virtio-blk throughput of nimbus against QEMU, the same
# stock kernel + initramfs, 2 vCPUs and 512 MiB each, the same raw disk and
# the same backend class (O_DIRECT + io_uring: nimbus direct=on, QEMU
# cache=none,aio=io_uring; one queue of 256 each).  The disk is a loop
# device over a file in L1's tmpfs (tmpfs itself has no O_DIRECT).  Runs
# alternate nimbus and QEMU (who goes first swaps every run), N runs each
# (lab.bench_runs=N, or NIMBUS_BENCH_RUNS in direct mode; default 3); each run
# is one guest boot doing the four vbench tests (check_blkbench) for
# lab.bench_secs seconds each (NIMBUS_BENCH_SECS; default 5).
#
# Lines: BENCH blk-config runs=<N> secs=<S> disk_mb=<M> dev=<dev>
#        NIMBUS-L2-BEGIN <vmm>-<run> ... VBENCH blk ... NIMBUS-L2-END ...
#        BENCH blk-abort after a failed run
# bench/virtio/run.sh turns the VBENCH lines into medians.
# shellcheck source-path=SCRIPTDIR/.. source=l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"

num() { case $1 in '' | *[!0-9]*) echo "$2" ;; *) echo "$1" ;; esac; }
runs=$(num "${NIMBUS_BENCH_RUNS:-$(lab_param bench_runs 3)}" 3)
secs=$(num "${NIMBUS_BENCH_SECS:-$(lab_param bench_secs 5)}" 5)
disk_mb=$(num "$(lab_param bench_disk_mb 128)" 128)
[ "$runs" -ge 1 ] || runs=1
[ "$secs" -ge 1 ] || secs=1

img=${TMPDIR:-/tmp}/bench-blk.$$.img
dd if=/dev/zero of="$img" bs=1M count="$disk_mb" 2>/dev/null ||
    { echo "NIMBUS-L1-ERROR cannot make the $disk_mb MiB disk image"; exit 1; }
if ! { dev=$(losetup -f) && losetup "$dev" "$img"; }; then
    echo "NIMBUS-L1-ERROR cannot attach $img to a loop device"
    rm -f "$img"
    exit 1
fi
echo "BENCH blk-config runs=$runs secs=$secs disk_mb=$disk_mb dev=$dev"

L2_TIMEOUT=$((120 + 8 * secs))
args="$L2_APPEND lab.action=poweroff lab.checks=blkbench lab.bench_secs=$secs"
nimbus_run() {
    l2_run "nimbus-$1" nimbus --kernel "$L2_BZIMAGE" --initramfs "$L2_INITRD" \
        --cpus boot=2 --memory size=512M --serial tty \
        --disk "path=$dev,direct=on,num_queues=1,queue_size=256" \
        --cmdline "$args"
}
# microvm with pcie=on: a PCIe host bridge described by ACPI (MCFG), like
# nimbus's machine; it leaves on the guest's ACPI power-off.
qemu_run() {
    l2_run "qemu-$1" qemu-system-x86_64 -accel kvm -M microvm,pcie=on -cpu host -smp 2 -m 512 \
        -nographic -nodefaults -serial stdio -no-reboot \
        -kernel "$L2_BZIMAGE" -initrd "$L2_INITRD" -append "$args" \
        -drive "file=$dev,if=none,id=d0,format=raw,cache=none,aio=io_uring" \
        -device virtio-blk-pci,drive=d0,num-queues=1,queue-size=256
}

# The first failed run ends the benchmark (the check fails on it anyway).
rc=0
i=1
while [ "$i" -le "$runs" ]; do
    if [ $((i % 2)) = 1 ]; then
        nimbus_run "$i" && qemu_run "$i"
    else
        qemu_run "$i" && nimbus_run "$i"
    fi || {
        rc=1
        echo "BENCH blk-abort after a failed run"
        break
    }
    i=$((i + 1))
done
losetup -d "$dev"
rm -f "$img"
exit "$rc"
