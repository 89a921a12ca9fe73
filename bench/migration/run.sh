#!/bin/bash
# bench/migration/run.sh — live-migration downtime and total time of nimbus
# against QEMU's live migration, same guest and workload (the lab's counting
# guest: 2 vCPUs, 512 MiB, virtio-blk, a counter written to disk and serial
# every 0.5 s), same L1, over a UNIX socket; ratios of medians (< 1: nimbus
# is better). Not part of the test run.
#   NIMBUS_BIN (default build/nimbus), NIMBUS_REMOTE_BIN (default
#   build/api/nimbus-remote), NIMBUS_BENCH_RUNS (default 3),
#   NIMBUS_BENCH_OUT (default /tmp/nimbus-bench/migration.txt)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export NIMBUS_BIN=${NIMBUS_BIN:-$ROOT/build/nimbus}
export NIMBUS_REMOTE_BIN=${NIMBUS_REMOTE_BIN:-$ROOT/build/api/nimbus-remote}
runs=${NIMBUS_BENCH_RUNS:-3}
out=${NIMBUS_BENCH_OUT:-/tmp/nimbus-bench/migration.txt}
for b in "$NIMBUS_BIN" "$NIMBUS_REMOTE_BIN"; do
    [[ -x $b ]] || { echo "bench/migration: $b not found: build first (cmake --build build)" >&2; exit 1; }
done
mkdir -p "$(dirname "$out")"
labout=$(mktemp -d)
trap 'rm -rf "$labout"' EXIT
load=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
NIMBUS_LAB_QUIET=1 NIMBUS_LAB_OUT=$labout NIMBUS_LAB_TIMEOUT=$((600 + runs * 240)) \
    NIMBUS_LAB_L1_APPEND="lab.bench_runs=$runs" "$ROOT/tests/lab/run.sh" bench-migration || rc=$?
log=$labout/bench-migration.log
# shellcheck source=../lib.sh
. "$ROOT/bench/lib.sh"
pick() { # VMM FIELD
    tr -d '\r' <"$log" | awk -v v="$1" -v f="$2=" '$1 == "BENCH" && $3 == v && $NF == "rc=0" {
        for (i = 1; i <= NF; i++) if (index($i, f) == 1) { sub(f, "", $i); print $i } }'
}
dn=$(fmt "$(pick nimbus downtime_ms | median)" 0)
dq=$(fmt "$(pick qemu downtime_ms | median)" 0)
tn=$(fmt "$(pick nimbus total_ms | median)" 0)
tq=$(fmt "$(pick qemu total_ms | median)" 0)
{
    echo "== nimbus live-migration benchmark, $(date -u +%FT%TZ) =="
    echo "host: $(nproc) CPUs, load average $load at the start (nested TCG lab: noisy; the ratios matter)"
    echo "downtime: nimbus median ${dn} ms, qemu median ${dq} ms, ratio nimbus/qemu = $(ratio "$dn" "$dq")"
    echo "total time: nimbus median ${tn} ms, qemu median ${tq} ms, ratio nimbus/qemu = $(ratio "$tn" "$tq")"
    echo "runs:"
    tr -d '\r' <"$log" | grep '^BENCH migration' || true
} | tee "$out"
exit "$rc"
