#!/usr/bin/env bash
# nimbus-remote leaves no connection open in nimbus: libsoup 3.2's server
# never notices a client closing an idle keep-alive connection, so every
# call that left its connection to the client to close kept an fd in
# nimbus, and enough calls (the lab's migration scenario polls progress
# many times) ran it out of fds: its API then stopped answering. Runs the
# migration commands and a few others 20 times each against a nimbus with
# no VM (no /dev/kvm needed) and checks its open fds did not grow.
#
#   remote_fds.sh NIMBUS NIMBUS_REMOTE
set -u
nimbus=${1:?usage: remote_fds.sh NIMBUS NIMBUS_REMOTE}
remote=${2:?usage: remote_fds.sh NIMBUS NIMBUS_REMOTE}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-fds.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/api.sock
"$nimbus" --api-socket "path=$sock" </dev/null >"$tmp/nimbus.out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { echo "FAIL: nimbus did not start: $(cat "$tmp/nimbus.out")"; exit 1; }
fds() { set -- /proc/"$pid"/fd/*; echo "$#"; }
r() { timeout -k 2 10 "$remote" --api-socket "$sock" "$@" >/dev/null 2>&1; }
r ping # the first call may set something up for good
before=$(fds)
for _ in $(seq 20); do
  r ping
  r info
  r migration-progress
  r cancel-migration
  r send-migration "unix:$tmp/nobody.sock"
  r receive-migration "unix:$tmp/nothere/mig.sock"
done
after=$(fds)
echo "nimbus fds: $before before 120 nimbus-remote calls, $after after"
if [ "$after" -gt "$before" ]; then
  echo "FAIL: nimbus kept $((after - before)) fd(s) open after the calls:"
  ls -l /proc/"$pid"/fd
  exit 1
fi
r shutdown-vmm
wait "$pid"
pid=
echo "PASS"
