# shellcheck shell=bash
# Shared helpers of the benchmark scripts (sourced).

# median: the median of the numbers on stdin, one a line (mean of the middle
# two for an even count); prints nothing for no input.
median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) exit
              if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.3f\n", m }'
}
# range DECIMALS: "min-max" of the numbers on stdin.
range() {
    sort -g | awk -v d="$1" 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.*f-%.*f\n", d, lo, d, hi }'
}
# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }'; }
# fmt V DECIMALS: a number for a summary line.
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f\n", d, v }'; }

# bench_boot_lab SCENARIO RUNS: the boot-to-init benchmark in the nested lab
# (tests/lab/run.sh SCENARIO: bench-boot on x86_64, bench-boot-arm64 on
# aarch64): nimbus against the QEMU peer the scenario names on its
# "BENCH boot-config" line, RUNS boots each.  Adds to the caller's summary and
# raw arrays, sets failed=1 on a failure and ran=1 when it ran; needs $tmp
# (scratch directory) and $REPO.
# shellcheck disable=SC2154 # tmp and REPO are the caller's
bench_boot_lab() {
    local scen=$1 runs=$2 lab_out=${NIMBUS_LAB_OUT:-${TMPDIR:-/tmp}/nimbus-lab} rc=0 log what
    log=$lab_out/$scen.log
    what="boot-to-init (nested lab, $scen)"
    echo "bench: lab: $runs runs each of nimbus and QEMU (tests/lab/run.sh $scen; a few minutes)" >&2
    rm -f "$log"
    # NIMBUS_BENCH_RUNS reaches the scenario in direct mode, the L1 command
    # line in the nested lab.  Each L2 boot takes ~15 s under TCG.
    NIMBUS_LAB_L1_APPEND="${NIMBUS_LAB_L1_APPEND:-} lab.bench_runs=$runs" \
        NIMBUS_BENCH_RUNS=$runs NIMBUS_LAB_QUIET=1 NIMBUS_LAB_OUT=$lab_out \
        NIMBUS_LAB_TIMEOUT=${NIMBUS_LAB_TIMEOUT:-$((300 + 2 * runs * 60))} \
        "$REPO/tests/lab/run.sh" "$scen" >"$tmp/lab.out" 2>&1 || rc=$?
    if [[ $rc = 77 ]]; then
        summary+=("$what: skipped: $(grep -m1 '^SKIP:' "$tmp/lab.out" || echo "lab skipped")")
        echo "lab part skipped: $(grep -m1 '^SKIP:' "$tmp/lab.out" || true)"
        return
    fi
    ran=1
    if [[ $rc != 0 ]]; then
        failed=1
        echo "lab part FAILED (status $rc, log $log):" >&2
        grep -E '^(FAIL|lab: error)' "$tmp/lab.out" | head -n 20 >&2 || tail -n 20 "$tmp/lab.out" >&2
    fi
    [[ -f $log ]] || { summary+=("$what: FAILED: no log $log"); failed=1; return; }

    local lines peer
    lines=$(tr -d '\r' <"$log" |
        grep -oE 'BENCH boot [a-z-]+ [0-9]+ marker_ms=-?[0-9]+ exit_ms=-?[0-9]+ rc=-?[0-9]+' || true)
    peer=$(tr -d '\r' <"$log" | sed -n 's/.*BENCH boot-config runs=[0-9]* peer=\([a-z0-9-]*\).*/\1/p' | head -n1)
    peer=${peer:-qemu}
    while read -r l; do [[ -z $l ]] || raw+=("lab ${l#BENCH boot }"); done <<<"$lines"
    local vmm mn mq en eq good_n good_q
    for vmm in nimbus "$peer"; do
        # Good runs only: marker seen and status 0.
        awk -v v="$vmm" '$3 == v && $5 !~ /=-1$/ && $7 == "rc=0" { sub("marker_ms=", "", $5); print $5 }' \
            <<<"$lines" >"$tmp/lab-$vmm.ms"
        awk -v v="$vmm" '$3 == v && $5 !~ /=-1$/ && $7 == "rc=0" { sub("exit_ms=", "", $6); print $6 }' \
            <<<"$lines" >"$tmp/lab-$vmm.exit"
    done
    good_n=$(wc -l <"$tmp/lab-nimbus.ms")
    good_q=$(wc -l <"$tmp/lab-$peer.ms")
    if [[ $good_n != "$runs" || $good_q != "$runs" ]]; then
        failed=1
        summary+=("$what: FAILED ($good_n/$runs nimbus, $good_q/$runs $peer runs reached /init and exited 0; log $log)")
    fi
    if ((good_n > 0 && good_q > 0)); then
        mn=$(median <"$tmp/lab-nimbus.ms")
        mq=$(median <"$tmp/lab-$peer.ms")
        en=$(median <"$tmp/lab-nimbus.exit")
        eq=$(median <"$tmp/lab-$peer.exit")
        summary+=("$what, $runs runs: nimbus median $(fmt "$mn" 0) ms, $peer median $(fmt "$mq" 0) ms, ratio nimbus/qemu = $(ratio "$mn" "$mq")")
        summary+=("  (range: nimbus $(range 0 <"$tmp/lab-nimbus.ms") ms, $peer $(range 0 <"$tmp/lab-$peer.ms") ms)")
        summary+=("  (start to VMM exit: nimbus median $(fmt "$en" 0) ms, $peer median $(fmt "$eq" 0) ms, ratio $(ratio "$en" "$eq"))")
    fi
}

# bench_report OUT TITLE VERSIONS RUNS_NOTE: write the caller's summary lines
# (and, in OUT, its raw per-run lines), print the summary, then exit 1 when
# failed=1, 77 when nothing ran (ran=0), else 0.  Needs $tmp and
# $load_before (load average at the start).
# shellcheck disable=SC2154 # tmp, load_before, failed and ran are the caller's
bench_report() {
    local out=$1 title=$2 versions=$3 note=$4
    mkdir -p "$(dirname "$out")"
    {
        echo "== $title, $(date -u +%FT%TZ), $(uname -n) =="
        echo "$versions"
        echo "host: $(nproc) CPUs, load average $load_before at the start (other load makes the runs noisy)"
        printf '%s\n' "${summary[@]}"
        echo "ratio < 1: nimbus is faster than QEMU measured in the same run; medians over the runs listed below."
    } >"$tmp/summary"
    {
        cat "$tmp/summary"
        echo
        echo "runs ($note):"
        printf '%s\n' "${raw[@]}"
    } >"$out"
    echo
    cat "$tmp/summary"
    echo "results: $out"
    if [[ $failed != 0 ]]; then exit 1; fi
    if [[ $ran = 0 ]]; then exit 77; fi
    exit 0
}
