#!/bin/sh
# migration (L1 side): nimbus A runs the counting guest; failures first
# (destination killed, unsatisfiable config, connection cut, corrupt
# stream, version mismatch, cancel from the source, cancel from the
# destination); then nimbus B, empty,
# receives on a UNIX socket; A sends (pre-copy with dirty logging, final
# pause + state); then B sends it on to nimbus C over TCP, and C to G with
# local=on (memory fds). The guest must
# count on with no gap or repeat, its disk working, while the sources no
# longer run it. Steps print
#   NIMBUS-MIG-STEP <name> rc=<exit status> <output on one line>
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
sock_a=/tmp/nimbus-a.sock
sock_b=/tmp/nimbus-b.sock
sock_c=/tmp/nimbus-c.sock
mig=/tmp/migration.sock
serial=/tmp/serial.txt
: >"$serial"
dd if=/dev/zero of=/tmp/disk.img bs=1048576 count=8 2>/dev/null

start_nimbus() { # start_nimbus SOCK LOG: sets pid
    rm -f "$1"
    nimbus -v --log-file "$2" --api-socket "path=$1" </dev/null >>/tmp/nimbus.out 2>&1 &
    pid=$!
    i=0
    while [ ! -S "$1" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
diag_nimbus() { # diag_nimbus PID LOG: where a nimbus that stopped answering is
    for t in /proc/"$1"/task/*; do
        echo "NIMBUS-MIG-DIAG $(cat "$t/comm") $(cat "$t/wchan") $(cut -d' ' -f3 "$t/stat")" \
            "syscall=$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)"
        sed 's/^/NIMBUS-MIG-DIAG   /' "$t/stack" 2>/dev/null | head -n 8
    done
    for f in /proc/"$1"/fd/*; do echo "NIMBUS-MIG-DIAG fd ${f##*/} -> $(readlink "$f")"; done | tail -n 30
    tail -n 20 "$2"
}
info_a() { # info_a NAME: vm.info on A; where A is if it does not answer
    step "$1" "$sock_a" info
    [ "$rc" = 0 ] || diag_nimbus "$pid_a" /tmp/nimbus-a.log
}
step() { # step NAME SOCK nimbus-remote-args...
    name=$1
    sock=$2
    shift 2
    out=$(timeout 300 nimbus-remote --api-socket "$sock" "$@" 2>&1)
    rc=$?
    echo "NIMBUS-MIG-STEP $name rc=$rc $(echo "$out" | tr '\n' ' ' | tr -s ' ')"
}
counters() {
    n=$(grep -c NIMBUS-L2-COUNTER "$serial" 2>/dev/null)
    echo "${n:-0}"
}
wait_counters() { # wait_counters N: until N counter lines are on the serial
    i=0
    while [ "$(counters)" -lt "$1" ] && [ "$i" -lt 480 ]; do sleep 0.5; i=$((i + 1)); done
}

wait_progress() { # wait_progress SOCK PHASE: until vm.migration-progress says PHASE
    i=0
    until nimbus-remote --api-socket "$1" migration-progress 2>/dev/null | grep -q "\"$2\"" ||
        [ "$i" -ge 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

cat >/tmp/vm.json <<JSON
{
  "payload": { "kernel": "$L2_KERNEL", "initramfs": "$L2_INITRD",
               "cmdline": "$L2_APPEND lab.checks=counter" },
  "cpus": { "boot_vcpus": 2, "max_vcpus": 2 },
  "memory": { "size": 536870912, "shared": true },
  "disks": [ { "path": "/tmp/disk.img" } ],
  "serial": { "mode": "File", "file": "$serial" },
  "console": { "mode": "Off" }
}
JSON

start_nimbus "$sock_a" /tmp/nimbus-a.log
pid_a=$pid
start_nimbus "$sock_b" /tmp/nimbus-b.log
pid_b=$pid
start_nimbus "$sock_c" /tmp/nimbus-c.log
pid_c=$pid
step create "$sock_a" create /tmp/vm.json
step boot "$sock_a" boot
wait_counters 6
fds_a() { set -- /proc/"$pid_a"/fd/*; echo "$#"; }
fds_a_start=$(fds_a)
# Failure first: the destination is killed (SIGKILL) during pre-copy; the
# send must fail and the guest keep running on A.
sock_d=/tmp/nimbus-d.sock
mig_d=/tmp/migration-d.sock
start_nimbus "$sock_d" /tmp/nimbus-d.log
pid_d=$pid
(step receive-killed "$sock_d" receive-migration "unix:$mig_d" >/dev/null) &
i=0
while [ ! -S "$mig_d" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
(step send-killed "$sock_a" send-migration "unix:$mig_d" >/tmp/send-killed.out) &
send_job=$!
wait_progress "$sock_a" precopy
# The phase the kill lands in (the send's own progress lines come once a
# second and may all precede it).
echo "NIMBUS-MIG-KILLED-IN $(nimbus-remote --api-socket "$sock_a" migration-progress 2>&1 |
    grep -o '"phase" *: *"[a-z-]*"')"
kill -9 "$pid_d"
wait "$send_job"
cat /tmp/send-killed.out
wait "$pid_d" 2>/dev/null
info_a info-a-after-failure
n=$(counters)
wait_counters $((n + 3))
echo "NIMBUS-MIG-COUNT-AFTER-FAILURE $n -> $(counters)"
# Failure: a destination that cannot satisfy the config (the disk is not
# there for it) refuses; the source keeps running.
sock_e=/tmp/nimbus-e.sock
mig_e=/tmp/migration-e.sock
start_nimbus "$sock_e" /tmp/nimbus-e.log
pid_e=$pid
mv /tmp/disk.img /tmp/disk.hidden # the source keeps its open file
(step receive-unsatisfiable "$sock_e" receive-migration "unix:$mig_e" >/tmp/receive-e.out) &
recv_job=$!
i=0
while [ ! -S "$mig_e" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
step send-unsatisfiable "$sock_a" send-migration "unix:$mig_e"
wait "$recv_job"
cat /tmp/receive-e.out
mv /tmp/disk.hidden /tmp/disk.img
step info-e "$sock_e" info
step shutdown-e "$sock_e" shutdown-vmm
wait "$pid_e" 2>/dev/null
info_a info-a-after-refusal
n=$(counters)
wait_counters $((n + 3))
echo "NIMBUS-MIG-COUNT-AFTER-REFUSAL $n -> $(counters)"
# Failures through labproxy (between A and an empty destination F): the
# connection cut mid-stream, a corrupt byte, another protocol version. Then
# a cancel from the source. F serves every case: a failed receive leaves it
# empty. Each time A must keep counting and F must have no VM.
sock_f=/tmp/nimbus-f.sock
mig_f=/tmp/migration-f.sock
proxy=/tmp/proxy.sock
start_nimbus "$sock_f" /tmp/nimbus-f.log
pid_f=$pid
wait_sock() {
    i=0
    while [ ! -S "$1" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}
receive_f() { # receive_f NAME: receive on F in the background (recv_job)
    rm -f "$mig_f"
    (step "receive-$1" "$sock_f" receive-migration "unix:$mig_f" >/tmp/receive-f.out) &
    recv_job=$!
    wait_sock "$mig_f"
}
after_failure() { # after_failure NAME
    wait "$recv_job"
    cat /tmp/receive-f.out
    info_a "info-a-after-$1"
    step "info-f-after-$1" "$sock_f" info
    n=$(counters)
    wait_counters $((n + 2))
    echo "NIMBUS-MIG-COUNT-AFTER-$1 $n -> $(counters)"
}
proxied() { # proxied NAME MODE
    receive_f "$1"
    rm -f "$proxy"
    labproxy "unix:$proxy" "unix:$mig_f" "$2" >/tmp/proxy.out 2>&1 &
    proxy_job=$!
    wait_sock "$proxy"
    step "send-$1" "$sock_a" send-migration --no-progress "unix:$proxy"
    wait "$proxy_job"
    echo "NIMBUS-MIG-PROXY $1 $(cat /tmp/proxy.out)"
    after_failure "$1"
}
proxied cut cut=3000000
proxied corrupt flip=2000000
proxied version version=99
# Cancel: a 1 ms downtime target keeps pre-copy going; cancel once the
# progress says so.
receive_f cancel
(step send-cancel "$sock_a" send-migration --downtime-ms 1 "unix:$mig_f" >/tmp/send-cancel.out) &
send_job=$!
wait_progress "$sock_a" precopy
step progress-a "$sock_a" migration-progress
step cancel "$sock_a" cancel-migration
wait "$send_job"
cat /tmp/send-cancel.out
after_failure cancel
step progress-a-after-cancel "$sock_a" migration-progress
step cancel-again "$sock_a" cancel-migration
# Cancel on the destination during pre-copy: F discards what it got and
# tells A why; A keeps running the guest.
receive_f dest-cancel
(step send-dest-cancel "$sock_a" send-migration --downtime-ms 1 "unix:$mig_f" >/tmp/send-dest-cancel.out) &
send_job=$!
wait_progress "$sock_f" precopy
step cancel-f "$sock_f" cancel-migration
wait "$send_job"
cat /tmp/send-dest-cancel.out
after_failure dest-cancel
step shutdown-f "$sock_f" shutdown-vmm
wait "$pid_f"
echo "NIMBUS-MIG-EXIT-F rc=$?"
# Dozens of API calls and eight failed migrations later A holds no more
# fds than before (a leaked connection per call ran it out of fds).
echo "NIMBUS-MIG-FDS-A $fds_a_start -> $(fds_a)"
before=$(counters)
echo "NIMBUS-MIG-COUNT-BEFORE $before"
# The receiver answers when the migration has ended.
(step receive "$sock_b" receive-migration "unix:$mig" >/tmp/receive.out) &
recv_job=$!
i=0
while [ ! -S "$mig" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
step send "$sock_a" send-migration "unix:$mig"
wait "$recv_job"
cat /tmp/receive.out
step info-a "$sock_a" info
step info-b "$sock_b" info
wait_counters $((before + 8))
before_tcp=$(counters)
echo "NIMBUS-MIG-COUNT-BEFORE-TCP $before_tcp"
(step receive-tcp "$sock_c" receive-migration "tcp:127.0.0.1:6007" >/tmp/receive-tcp.out) &
recv_job=$!
sleep 1
step send-tcp "$sock_b" send-migration "tcp:127.0.0.1:6007"
wait "$recv_job"
cat /tmp/receive-tcp.out
step info-c "$sock_c" info
wait_counters $((before_tcp + 8))
# Local migration C -> G: the memory fds cross the UNIX socket, no page is
# copied (memory shared=on above).
before_local=$(counters)
echo "NIMBUS-MIG-COUNT-BEFORE-LOCAL $before_local"
sock_g=/tmp/nimbus-g.sock
mig_g=/tmp/migration-g.sock
start_nimbus "$sock_g" /tmp/nimbus-g.log
pid_g=$pid
(step receive-local "$sock_g" receive-migration "unix:$mig_g" >/tmp/receive-local.out) &
recv_job=$!
wait_sock "$mig_g"
step send-local "$sock_c" send-migration --local "unix:$mig_g"
wait "$recv_job"
cat /tmp/receive-local.out
step info-g "$sock_g" info
wait_counters $((before_local + 6))
echo "NIMBUS-MIG-COUNT-AFTER $(counters)"
step shutdown-a "$sock_a" shutdown-vmm
step shutdown-b "$sock_b" shutdown-vmm
step shutdown-c "$sock_c" shutdown-vmm
step shutdown-g "$sock_g" shutdown-vmm
wait "$pid_a"
echo "NIMBUS-MIG-EXIT-A rc=$?"
wait "$pid_b"
echo "NIMBUS-MIG-EXIT-B rc=$?"
wait "$pid_c"
echo "NIMBUS-MIG-EXIT-C rc=$?"
wait "$pid_g"
echo "NIMBUS-MIG-EXIT-G rc=$?"
echo "--- guest serial"
lab_cat "$serial"
echo "--- nimbus A log (last lines)"
tail -n 15 /tmp/nimbus-a.log
echo "--- nimbus B log (last lines)"
tail -n 15 /tmp/nimbus-b.log
echo "--- nimbus C log (last lines)"
tail -n 15 /tmp/nimbus-c.log
echo "--- nimbus G log (last lines)"
tail -n 15 /tmp/nimbus-g.log
