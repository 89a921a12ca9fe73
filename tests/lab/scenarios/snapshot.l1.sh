#!/bin/sh
# snapshot (L1 side): nimbus --api-socket runs the stock guest (2 vCPUs, a
# disk) counting on its serial port; nimbus-remote pauses it and writes a
# snapshot; nimbus is killed (SIGKILL); a new nimbus restores the snapshot
# (left paused), is resumed, and the guest counts on. Each step prints
#   NIMBUS-SNAP-STEP <name> rc=<exit status> <output on one line>
# and the guest's serial output before and after is printed in two sections.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
sock=/tmp/nimbus-snap.sock
serial=/tmp/serial.txt
snap=/tmp/snap
: >"$serial"
dd if=/dev/zero of=/tmp/disk.img bs=1048576 count=8 2>/dev/null

start_nimbus() { # start_nimbus LOG
    rm -f "$sock"
    nimbus -v --log-file "$1" --api-socket "path=$sock" </dev/null >>/tmp/nimbus.out 2>&1 &
    pid=$!
    i=0
    while [ ! -S "$sock" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
step() { # step NAME nimbus-remote-args...
    name=$1
    shift
    out=$(timeout 120 nimbus-remote --api-socket "$sock" "$@" 2>&1)
    rc=$?
    echo "NIMBUS-SNAP-STEP $name rc=$rc $(echo "$out" | tr '\n' ' ' | tr -s ' ')"
}
counters() {
    n=$(grep -c NIMBUS-L2-COUNTER "$serial" 2>/dev/null)
    echo "${n:-0}"
}
wait_counters() { # wait_counters N: until N counter lines are on the serial
    i=0
    while [ "$(counters)" -lt "$1" ] && [ "$i" -lt 480 ]; do sleep 0.5; i=$((i + 1)); done
}

cat >/tmp/vm.json <<JSON
{
  "payload": { "kernel": "$L2_KERNEL", "initramfs": "$L2_INITRD",
               "cmdline": "$L2_APPEND lab.checks=counter" },
  "cpus": { "boot_vcpus": 2, "max_vcpus": 2 },
  "memory": { "size": 536870912 },
  "disks": [ { "path": "/tmp/disk.img" } ],
  "serial": { "mode": "File", "file": "$serial" },
  "console": { "mode": "Off" }
}
JSON

start_nimbus /tmp/nimbus1.log
step create create /tmp/vm.json
step boot boot
wait_counters 6
step pause pause
step info-paused info
step snapshot snapshot "file://$snap"
step snapshot-again snapshot "file://$snap"
echo "NIMBUS-SNAP-FILES $(cd "$snap" && echo *) $(du -sk "$snap" | cut -f1)KiB"
kill -9 "$pid"
wait "$pid" 2>/dev/null
echo "NIMBUS-SNAP-KILLED"
mv "$serial" /tmp/serial-before.txt
sleep 3 # the restored guest's clock must show the time that passed

start_nimbus /tmp/nimbus2.log
step info-empty info
step restore restore "source_url=file://$snap"
step info-restored info
step resume resume
[ "$rc" -eq 0 ] && wait_counters 6
step info-resumed info
step shutdown-vmm shutdown-vmm
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
wait "$pid"
echo "NIMBUS-SNAP-EXIT rc=$?"
echo "--- serial before the snapshot"
lab_cat /tmp/serial-before.txt
echo "--- serial after the restore"
lab_cat "$serial"
echo "--- nimbus logs (last lines)"
tail -n 20 /tmp/nimbus1.log
tail -n 30 /tmp/nimbus2.log
