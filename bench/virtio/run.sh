#!/bin/bash
# bench/virtio/run.sh [--blk-only | --net-only] — nimbus's virtio benchmarks.
#
# Both run in the nested lab (directly on a host whose /dev/kvm runs stock
# guests), nimbus against QEMU in the same L1, with the same stock kernel,
# initramfs, 2 vCPUs and 512 MiB, alternating VMMs; the result is the ratio
# of medians nimbus/QEMU (absolute numbers are L1-under-TCG numbers):
#
#  blk   virtio-blk on the same raw disk (a loop device in L1), O_DIRECT +
#        io_uring on both sides (nimbus direct=on; QEMU cache=none,
#        aio=io_uring), one queue of 256: sequential write/read in 1 MiB
#        requests (MB/s), random write/read in 4 KiB requests (IOPS), queue
#        depth 1, measured in the guest by vbench.c.  tests/lab/run.sh
#        bench-blk.
#  net   virtio-net on a tap in L1 (no vhost on either side), one queue
#        pair of 256: TCP throughput guest -> L1 and L1 -> guest (MB/s) and
#        ping round-trip time, measured in the guest by vbench.c against
#        `vbench tcp-server` in L1.  tests/lab/run.sh bench-net.
#
# Each benchmark is one L1 boot; each run is one guest boot doing every test
# of that benchmark.  Builds nothing of nimbus (vbench.c is built by the
# scenarios' conf, with cc -static).
# Settings (environment):
#   NIMBUS_BIN          nimbus binary (default <repo>/build/nimbus)
#   NIMBUS_BENCH_RUNS   runs per VMM (default 3, at least 3 counts)
#   NIMBUS_BENCH_SECS   seconds per test (default 5)
#   NIMBUS_BENCH_OUT    summary file (default /tmp/nimbus-bench/virtio.txt)
#   NIMBUS_LAB_OUT      lab logs (default /tmp/nimbus-lab), as tests/lab
# Exit status: 0 every part that ran succeeded, 1 a part failed, 2 usage,
# 77 every requested part was skipped.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)

usage() {
    echo "usage: $0 [--blk-only | --net-only]" >&2
    exit 2
}
parts=(blk net)
case ${1:-} in
    "") ;;
    --blk-only) parts=(blk) ;;
    --net-only) parts=(net) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
esac
[[ $# -le 1 ]] || usage

die() { echo "bench/virtio: error: $*" >&2; exit 1; }
say() { echo "bench/virtio: $*" >&2; }

runs=${NIMBUS_BENCH_RUNS:-3}
secs=${NIMBUS_BENCH_SECS:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "NIMBUS_BENCH_RUNS=$runs is not a positive number"
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "NIMBUS_BENCH_SECS=$secs is not a positive number"
out_file=${NIMBUS_BENCH_OUT:-/tmp/nimbus-bench/virtio.txt}
lab_out=${NIMBUS_LAB_OUT:-${TMPDIR:-/tmp}/nimbus-lab}

NIMBUS_BIN=${NIMBUS_BIN:-$REPO/build/nimbus}
[[ -f $NIMBUS_BIN && -x $NIMBUS_BIN ]] ||
    die "nimbus binary '$NIMBUS_BIN' not found or not executable: build it first (cmake -S . -B build && make -C build nimbus) or set NIMBUS_BIN"
NIMBUS_BIN=$(realpath "$NIMBUS_BIN")
export NIMBUS_BIN

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib.sh
. "$REPO/bench/lib.sh"

summary=() # headline lines
raw=()     # per-run lines for the results file
failed=0 ran=0

# results LOG: one line per measurement of a run whose VMM exited 0:
#   <vmm> <run> <metric> <value> [<value2>]
# blk metrics seqwrite|seqread|randwrite|randread (value MB/s, value2 IOPS);
# net: tcp-send|tcp-recv (MB/s), ping (ms).
results() {
    tr -d '\r' <"$1" | awk '
        /^NIMBUS-L2-BEGIN / { cur = $2; n = 0; next }
        /^VBENCH blk / && cur != "" {
            for (i = 4; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            line[++n] = $3 " " f["mbps"] " " f["iops"]; next }
        /^VBENCH tcp / && cur != "" {
            for (i = 4; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            line[++n] = "tcp-" $3 " " f["mbps"]; next }
        /^VBENCH ping / && cur != "" { sub("avg_ms=", "", $3); line[++n] = "ping " $3; next }
        /^NIMBUS-L2-END / {
            if ($3 == "rc=0") {
                vmm = cur; sub(/-[0-9]+$/, "", vmm); run = cur; sub(/.*-/, "", run)
                for (i = 1; i <= n; i++) print vmm, run, line[i]
            }
            cur = ""; n = 0 }'
}

# metric KIND METRIC LABEL UNIT FIELD DECIMALS [SECOND_UNIT]: one summary line
# for METRIC from $tmp/KIND.res (FIELD 4 = first value, 5 = second).
metric() {
    local kind=$1 m=$2 label=$3 unit=$4 field=$5 dec=$6 unit2=${7:-} vmm mn mq n2 q2 nn nq note=""
    for vmm in nimbus qemu; do
        awk -v v="$vmm" -v m="$m" -v f="$field" '$1 == v && $3 == m && $f != "?" { print $f }' \
            "$tmp/$kind.res" >"$tmp/$vmm.v"
        [[ -z $unit2 ]] || awk -v v="$vmm" -v m="$m" -v f=$((9 - field)) '$1 == v && $3 == m { print $f }' \
            "$tmp/$kind.res" >"$tmp/$vmm.v2"
    done
    nn=$(wc -l <"$tmp/nimbus.v")
    nq=$(wc -l <"$tmp/qemu.v")
    if ((nn == 0 || nq == 0)); then
        summary+=("  $label: no results ($nn nimbus, $nq qemu runs)")
        return
    fi
    [[ $nn == "$runs" && $nq == "$runs" ]] || note=" [only $nn nimbus, $nq qemu runs]"
    mn=$(median <"$tmp/nimbus.v")
    mq=$(median <"$tmp/qemu.v")
    if [[ -n $unit2 ]]; then
        n2=" ($(fmt "$(median <"$tmp/nimbus.v2")" 1) $unit2)"
        q2=" ($(fmt "$(median <"$tmp/qemu.v2")" 1) $unit2)"
    fi
    summary+=("  $label: nimbus median $(fmt "$mn" "$dec") $unit${n2:-}, qemu median $(fmt "$mq" "$dec") $unit${q2:-}, ratio nimbus/qemu = $(ratio "$mn" "$mq")$note")
    summary+=("      (range: nimbus $(range "$dec" <"$tmp/nimbus.v"), qemu $(range "$dec" <"$tmp/qemu.v") $unit)")
}

# run_part KIND: the lab scenario bench-KIND, then its summary lines.
run_part() {
    local kind=$1 rc=0 log title
    log=$lab_out/bench-$kind.log
    if [[ $kind = blk ]]; then
        title="virtio-blk (raw loop device in L1, O_DIRECT + io_uring both sides, queue depth 1, $runs runs per VMM, ${secs} s per test)"
    else
        title="virtio-net (tap in L1, no vhost, TCP to/from L1, $runs runs per VMM, ${secs} s per direction)"
    fi
    say "$kind: $runs runs each of nimbus and qemu (tests/lab/run.sh bench-$kind; a few minutes)"
    rm -f "$log"
    NIMBUS_LAB_L1_APPEND="${NIMBUS_LAB_L1_APPEND:-} lab.bench_runs=$runs lab.bench_secs=$secs" \
        NIMBUS_BENCH_RUNS=$runs NIMBUS_BENCH_SECS=$secs NIMBUS_LAB_QUIET=1 NIMBUS_LAB_OUT=$lab_out \
        NIMBUS_LAB_TIMEOUT=${NIMBUS_LAB_TIMEOUT:-$((300 + 2 * runs * (90 + 8 * secs)))} \
        "$REPO/tests/lab/run.sh" "bench-$kind" >"$tmp/lab-$kind.out" 2>&1 || rc=$?
    if [[ $rc = 77 ]]; then
        summary+=("$title: skipped: $(grep -m1 '^SKIP:' "$tmp/lab-$kind.out" || echo "lab skipped")")
        echo "$kind part skipped: $(grep -m1 '^SKIP:' "$tmp/lab-$kind.out" || true)"
        return
    fi
    ran=1
    summary+=("$title:")
    if [[ $rc != 0 ]]; then
        failed=1
        summary+=("  FAILED (lab status $rc, log $log)")
        echo "$kind part FAILED (status $rc, log $log):" >&2
        grep -E '^(FAIL|lab: error)' "$tmp/lab-$kind.out" | head -n 20 >&2 || tail -n 20 "$tmp/lab-$kind.out" >&2
    fi
    [[ -f $log ]] || { summary+=("  FAILED: no log $log"); failed=1; return; }
    results "$log" >"$tmp/$kind.res"
    while read -r l; do [[ -z $l ]] || raw+=("$kind $l"); done <"$tmp/$kind.res"
    if [[ $kind = blk ]]; then
        metric blk seqwrite "seq write 1 MiB " "MB/s" 4 1 IOPS
        metric blk seqread "seq read 1 MiB  " "MB/s" 4 1 IOPS
        metric blk randwrite "rand write 4 KiB" "IOPS" 5 0 MB/s
        metric blk randread "rand read 4 KiB " "IOPS" 5 0 MB/s
    else
        metric net tcp-send "TCP guest->host" "MB/s" 4 1
        metric net tcp-recv "TCP host->guest" "MB/s" 4 1
        metric net ping "ping RTT (lower is better)" "ms" 4 3
    fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for p in "${parts[@]}"; do run_part "$p"; done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

nimbus_version=$("$NIMBUS_BIN" --version 2>/dev/null | head -n1 || true)
qemu_version=$(qemu-system-x86_64 --version 2>/dev/null | head -n1 || true)
mkdir -p "$(dirname "$out_file")"
{
    echo "== nimbus virtio benchmark, $(date -u +%FT%TZ), $(uname -n) =="
    echo "nimbus: ${nimbus_version:-?} ($NIMBUS_BIN); peer: ${qemu_version:-qemu not found} (-M microvm,pcie=on)"
    echo "host: $(nproc) CPUs, load average $load_before at the start, $load_after at the end (other load makes the runs noisy)"
    echo "nested lab: L1 runs under QEMU TCG, so absolute numbers are slow and noisy; compare the ratios."
    printf '%s\n' "${summary[@]}"
    echo "ratio > 1: nimbus is faster than QEMU measured in the same run (MB/s, IOPS); for ping RTT, < 1 is faster. Medians over the runs listed below."
} >"$tmp/summary"
{
    cat "$tmp/summary"
    echo
    echo "runs (<part> <vmm> <run> <test> <MB/s> [<IOPS>]; ping: ms):"
    printf '%s\n' "${raw[@]}"
} >"$out_file"
echo
cat "$tmp/summary"
echo "results: $out_file"

if [[ $failed != 0 ]]; then exit 1; fi
if [[ $ran = 0 ]]; then exit 77; fi
exit 0
