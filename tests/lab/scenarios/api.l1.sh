#!/bin/sh
# api (L1 side): nimbus started with only --api-socket; nimbus-remote creates,
# boots, inspects, pauses, resumes, power-buttons, boots again, shuts down
# and deletes a VM running the stock guest, and stops the VMM. Malformed
# HTTP requests are sent while the guest runs. Each step prints
#   NIMBUS-API-STEP <name> rc=<exit status> <output on one line>
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
sock=/tmp/nimbus-api.sock
serial=/tmp/serial.txt
: >"$serial"
nimbus -v --log-file /tmp/nimbus.log --api-socket "path=$sock" </dev/null >/tmp/nimbus.out 2>&1 &
pid=$!
i=0
while [ ! -S "$sock" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

step() { # step NAME nimbus-remote-args...
    name=$1
    shift
    out=$(timeout 30 nimbus-remote --api-socket "$sock" "$@" 2>&1)
    rc=$?
    echo "NIMBUS-API-STEP $name rc=$rc $(echo "$out" | tr '\n' ' ' | tr -s ' ')"
}
raw() { # raw NAME: send stdin to the socket, print the status line
    name=$1
    st=$(timeout 10 labvsock unix-raw "$sock" | head -n 1 | tr -d '\r')
    echo "NIMBUS-API-RAW $name $st"
}
# wait_serial TEXT COUNT: until TEXT appeared COUNT times on the guest's serial
wait_serial() {
    i=0
    while [ "$(grep -c "$1" "$serial")" -lt "$2" ] && [ "$i" -lt 240 ]; do sleep 0.5; i=$((i + 1)); done
}
wait_state() { # wait_state STATE
    i=0
    until timeout 10 nimbus-remote --api-socket "$sock" info 2>/dev/null | grep -q "\"state\" *: *\"$1\"" ||
        [ "$i" -ge 120 ]; do sleep 0.5; i=$((i + 1)); done
}

cat >/tmp/vm.json <<JSON
{
  "payload": { "kernel": "$L2_BZIMAGE", "initramfs": "$L2_INITRD",
               "cmdline": "$L2_APPEND lab.action=powerbutton" },
  "cpus": { "boot_vcpus": 2, "max_vcpus": 2 },
  "memory": { "size": 536870912 },
  "serial": { "mode": "File", "file": "$serial" },
  "console": { "mode": "Off" },
  "rng": { "src": "/dev/urandom" }
}
JSON

step ping ping
step create create /tmp/vm.json
step info-created info
step boot boot
wait_serial NIMBUS-L2-WAITING-POWER-BUTTON 1
step info-running info
step counters counters
# Malformed requests while the guest runs.
printf 'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"cpus":[' | raw bad-json
printf 'PUT /api/v1/vm.boot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | raw boot-twice
printf 'GET /api/v1/no.such.thing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | raw unknown-path
printf 'DELETE /api/v1/vm.info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | raw wrong-method
# A 2 MiB body (the limit is 1 MiB) is read, dropped and answered 413; with
# Expect: 100-continue a huge declared length is refused before any body.
(printf 'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n'
    head -c 2097152 /dev/zero) | raw huge-body
(printf 'PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n'
    sleep 2) | raw huge-expect
step pause pause
step info-paused info
step pause-twice pause
step resume resume
step info-resumed info
step power-button power-button
wait_state Shutdown
step info-off info
step boot-again boot
wait_serial NIMBUS-L2-WAITING-POWER-BUTTON 2
step shutdown shutdown
step info-shutdown info
step delete delete
step info-deleted info
step shutdown-vmm shutdown-vmm
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
wait "$pid"
echo "NIMBUS-API-EXIT rc=$? socket_left=$([ -e "$sock" ] && echo yes || echo no)"
echo "--- guest serial"
lab_cat "$serial"
echo "--- nimbus log (last lines)"
tail -n 30 /tmp/nimbus.log
