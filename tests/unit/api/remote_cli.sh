#!/usr/bin/env bash
# nimbus-remote against a real `nimbus --api-socket` with no VM (no /dev/kvm
# needed): ping, info without a VM, create with a missing kernel and with a
# bad field (server message printed, exit 1), a live socket not clobbered,
# shutdown-vmm ending nimbus and removing its socket, fd=N, and SIGTERM
# during receive-migration.
#
#   remote_cli.sh NIMBUS NIMBUS_REMOTE
set -u
nimbus=${1:?usage: remote_cli.sh NIMBUS NIMBUS_REMOTE}
remote=${2:?usage: remote_cli.sh NIMBUS NIMBUS_REMOTE}
export LC_ALL=C

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-remote.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/api.sock
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# r ARGS...: run nimbus-remote, leaving rc/out/err.
r() {
  timeout -k 2 10 "$remote" --api-socket "$sock" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}

wait_socket() {
  for _ in $(seq 100); do
    [ -S "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

"$nimbus" --api-socket path="$sock" 2>"$tmp/nimbus.err" &
pid=$!
wait_socket "$sock" || fail "nimbus did not create $sock"

r ping
[ $rc -eq 0 ] || fail "ping: rc=$rc $(cat "$tmp/err")"
grep -q '"version" : "v' "$tmp/out" || fail "ping: no version in: $(cat "$tmp/out")"
grep -q "\"pid\" : $pid" "$tmp/out" || fail "ping: wrong pid in: $(cat "$tmp/out")"

r info
[ $rc -eq 1 ] || fail "info without a VM: rc=$rc"
grep -q "nimbus-remote: error: info: no VM is created" "$tmp/err" || fail "info: $(cat "$tmp/err")"

echo "{\"payload\":{\"kernel\":\"$tmp/missing-vmlinux\"}}" >"$tmp/vm.json"
r create "$tmp/vm.json"
[ $rc -eq 1 ] || fail "create with a missing kernel: rc=$rc"
grep -q "missing-vmlinux.*No such file" "$tmp/err" || fail "create: $(cat "$tmp/err")"

echo '{"payload":{"kernel":"/x"},"cpus":{"boot_vcpus":"two"}}' >"$tmp/bad.json"
r create "$tmp/bad.json"
[ $rc -eq 1 ] || fail "create with a bad field: rc=$rc"
grep -q "cpus.boot_vcpus" "$tmp/err" || fail "bad field: $(cat "$tmp/err")"

r create "$tmp/nonexistent.json"
[ $rc -eq 1 ] || fail "create with no file: rc=$rc"

r boot
[ $rc -eq 1 ] && grep -q "no VM is created" "$tmp/err" || fail "boot without VM: rc=$rc $(cat "$tmp/err")"

# Snapshot and restore: argument checks, and the server's errors.
r snapshot
[ $rc -eq 1 ] && grep -q "snapshot takes one argument" "$tmp/err" || fail "snapshot without URL: rc=$rc"
r snapshot "file://$tmp/snap"
[ $rc -eq 1 ] && grep -q "snapshot: no VM is created" "$tmp/err" || fail "snapshot without VM: rc=$rc $(cat "$tmp/err")"
r restore "source_url=file://$tmp/snap,frob=1"
[ $rc -eq 1 ] && grep -q "unknown key 'frob'" "$tmp/err" || fail "restore bad key: rc=$rc $(cat "$tmp/err")"
r restore "source_url=file://$tmp/nosnap,prefault=on"
[ $rc -eq 1 ] && grep -q "restore: cannot restore from file://$tmp/nosnap.*No such file" "$tmp/err" ||
  fail "restore of a missing snapshot: rc=$rc $(cat "$tmp/err")"
r restore "file:///$tmp/nosnap"
[ $rc -eq 1 ] && grep -q "cannot restore" "$tmp/err" || fail "restore URL form: rc=$rc $(cat "$tmp/err")"
r restore "http://x/y"
[ $rc -eq 1 ] && grep -q "only file:///PATH" "$tmp/err" || fail "restore http: rc=$rc $(cat "$tmp/err")"
r info
[ $rc -eq 1 ] || fail "a failed restore left a VM: rc=$rc"

# Migration commands without a VM or a migration: the server's refusals.
r migration-progress
[ $rc -eq 1 ] && grep -q "no migration has been started" "$tmp/err" || fail "migration-progress: rc=$rc $(cat "$tmp/err")"
r cancel-migration
[ $rc -eq 1 ] && grep -q "cannot cancel: no migration" "$tmp/err" || fail "cancel-migration: rc=$rc $(cat "$tmp/err")"
r send-migration --no-progress unix:$tmp/mig.sock
[ $rc -eq 1 ] && grep -q "send-migration: no VM is created" "$tmp/err" || fail "send-migration: rc=$rc $(cat "$tmp/err")"
r receive-migration --downtime-ms 5 unix:$tmp/mig.sock
[ $rc -eq 1 ] && grep -q "options of send-migration" "$tmp/err" || fail "receive-migration --downtime-ms: rc=$rc $(cat "$tmp/err")"
r frobnicate
[ $rc -eq 1 ] && grep -q "unknown command" "$tmp/err" || fail "unknown command: rc=$rc"

# A second nimbus must not clobber the live socket.
timeout -k 2 5 "$nimbus" --api-socket path="$sock" 2>"$tmp/err2"
rc=$?
[ $rc -eq 1 ] || fail "second nimbus on a live socket: rc=$rc"
grep -q "nimbus: error: .*in use" "$tmp/err2" || fail "second nimbus: $(cat "$tmp/err2")"

r shutdown-vmm
[ $rc -eq 0 ] || fail "shutdown-vmm: rc=$rc $(cat "$tmp/err")"
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if kill -0 "$pid" 2>/dev/null; then
  fail "nimbus still runs after shutdown-vmm"
else
  wait "$pid"
  st=$?
  [ $st -eq 0 ] || fail "nimbus exit status after shutdown-vmm: $st"
fi
pid=
[ -e "$sock" ] && fail "socket $sock left behind"

r ping
[ $rc -eq 1 ] && grep -q "cannot reach nimbus" "$tmp/err" || fail "ping without server: rc=$rc $(cat "$tmp/err")"

# fd=N: a socket bound and listening before nimbus starts (as libvirt does).
python3 - "$nimbus" "$tmp/fd.sock" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[2]); s.listen(8)
os.set_inheritable(s.fileno(), True)
os.execv(sys.argv[1], [sys.argv[1], "--api-socket", "fd=%d" % s.fileno()])
PY
pid=$!
sock=$tmp/fd.sock
wait_socket "$sock"
sleep 0.2
r ping
[ $rc -eq 0 ] || fail "ping over fd=N: rc=$rc $(cat "$tmp/err")"
r shutdown-vmm
[ $rc -eq 0 ] || fail "shutdown-vmm over fd=N: rc=$rc"
wait "$pid"
st=$?
[ $st -eq 0 ] || fail "nimbus (fd=N) exit status: $st"
pid=

# SIGTERM while nimbus waits for an incoming migration: the migration is
# cancelled first (its thread must not outlive the VMM), then nimbus ends
# with 128 + 15 within a wait slice or two.
sock=$tmp/sig.sock
"$nimbus" --api-socket path="$sock" 2>"$tmp/sig.err" &
pid=$!
wait_socket "$sock" || fail "nimbus did not create $sock"
timeout -k 2 10 "$remote" --api-socket "$sock" receive-migration --no-progress "unix:$tmp/sig-mig.sock" \
  >"$tmp/sig-recv.out" 2>&1 &
recv=$!
wait_socket "$tmp/sig-mig.sock" || fail "receive-migration did not listen"
kill -TERM "$pid"
for _ in $(seq 40); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if kill -0 "$pid" 2>/dev/null; then
  fail "nimbus still runs 2 s after SIGTERM during receive-migration"
  kill -9 "$pid"
fi
wait "$pid"
st=$?
pid=
[ $st -eq 143 ] || fail "nimbus exit status after SIGTERM during receive-migration: $st (want 143)"
grep -q "during the migration: cancelling it" "$tmp/sig.err" || fail "no cancel before the exit: $(cat "$tmp/sig.err")"
wait "$recv" && fail "receive-migration succeeded: $(cat "$tmp/sig-recv.out")"

if [ $failures -ne 0 ]; then
  echo "nimbus stderr:"; cat "$tmp/nimbus.err"
  echo "$failures failure(s)"
  exit 1
fi
echo "nimbus-remote: all checks passed"
