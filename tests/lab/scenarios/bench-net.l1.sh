#!/bin/sh
# bench-net (L1 side): virtio-net TCP throughput of nimbus against QEMU, the
# same stock kernel + initramfs, 2 vCPUs and 512 MiB each, the same backend
# (a tap in L1, no vhost: nimbus creates its own with ip=/mask=, QEMU gets a
# persistent one made beforehand with vbench mktap, vhost=off; one queue
# pair of 256 each).  L1 runs `vbench tcp-server`; the guest pings it and
# measures TCP guest -> L1 and L1 -> guest (check_netbench, lab.bench_secs
# seconds each).  Runs alternate as in bench-blk (lab.bench_runs /
# NIMBUS_BENCH_RUNS, default 3; lab.bench_secs / NIMBUS_BENCH_SECS, default 5).
#
# Lines: BENCH net-config runs=<N> secs=<S>
#        NIMBUS-L2-BEGIN <vmm>-<run> ... VBENCH ping|tcp ... NIMBUS-L2-END ...
#        BENCH net-abort after a failed run
# shellcheck source-path=SCRIPTDIR/.. source=l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"

num() { case $1 in '' | *[!0-9]*) echo "$2" ;; *) echo "$1" ;; esac; }
runs=$(num "${NIMBUS_BENCH_RUNS:-$(lab_param bench_runs 3)}" 3)
secs=$(num "${NIMBUS_BENCH_SECS:-$(lab_param bench_secs 5)}" 5)
[ "$runs" -ge 1 ] || runs=1
[ "$secs" -ge 1 ] || secs=1
port=5201
tap=nbqtap0

vbench tcp-server "$port" &
server=$!
# QEMU's tap: its own subnet, so it never clashes with nimbus's tap.
if ! { vbench mktap "$tap" && ip addr add 192.168.250.1/24 dev "$tap" && ip link set "$tap" up; }; then
    echo "NIMBUS-L1-ERROR cannot create the tap $tap for QEMU"
    kill "$server"
    exit 1
fi
echo "BENCH net-config runs=$runs secs=$secs"

L2_TIMEOUT=$((120 + 6 * secs))
args="$L2_APPEND lab.action=poweroff lab.checks=netbench lab.bench_secs=$secs lab.bench_port=$port"
nimbus_run() {
    l2_run "nimbus-$1" nimbus --kernel "$L2_BZIMAGE" --initramfs "$L2_INITRD" \
        --cpus boot=2 --memory size=512M --serial tty \
        --net ip=192.168.249.1,mask=255.255.255.0,num_queues=2,queue_size=256 \
        --cmdline "$args lab.guest_ip=192.168.249.2 lab.host_ip=192.168.249.1"
}
qemu_run() {
    l2_run "qemu-$1" qemu-system-x86_64 -accel kvm -M microvm,pcie=on -cpu host -smp 2 -m 512 \
        -nographic -nodefaults -serial stdio -no-reboot \
        -kernel "$L2_BZIMAGE" -initrd "$L2_INITRD" \
        -append "$args lab.guest_ip=192.168.250.2 lab.host_ip=192.168.250.1" \
        -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off" \
        -device virtio-net-pci,netdev=n0,romfile=
}

rc=0
i=1
while [ "$i" -le "$runs" ]; do
    if [ $((i % 2)) = 1 ]; then
        nimbus_run "$i" && qemu_run "$i"
    else
        qemu_run "$i" && nimbus_run "$i"
    fi || {
        rc=1
        echo "BENCH net-abort after a failed run"
        break
    }
    i=$((i + 1))
done
kill "$server"
vbench rmtap "$tap"
exit "$rc"
