#!/bin/bash
# bench-boot (host side, also bench-boot-arm64's): every timed boot of
# nimbus and of the QEMU peer reached L2's /init and its VMM exited 0.  The timings themselves are
# bench/boot/run.sh's business.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
runs=$(first_value '.*BENCH boot-config runs=\([0-9]*\).*' "$LAB_TEXT")
peer=$(first_value '.*BENCH boot-config runs=[0-9]* peer=\([a-z0-9-]*\).*' "$LAB_TEXT")
if [[ -n $runs && -n $peer ]]; then pass "benchmark started, $runs runs per VMM, peer $peer"; else fail "no BENCH boot-config line"; fi
for vmm in nimbus ${peer:-}; do
    n=0
    while read -r _ _ _ run marker exitms rc; do
        [[ -n ${run:-} ]] || continue
        n=$((n + 1))
        if [[ $marker = marker_ms=-1 ]]; then
            fail "$vmm run $run: no L2 marker ($exitms $rc)"
        elif [[ $rc != rc=0 ]]; then
            fail "$vmm run $run: VMM exit status ${rc#rc=}, want 0 ($marker $exitms)"
        else
            pass "$vmm run $run: $marker $exitms"
        fi
    done < <(grep -E "^BENCH boot $vmm [0-9]+ " <<<"$LAB_TEXT" || true)
    if [[ -n $runs && $n != "$runs" ]]; then fail "$vmm: $n runs reported, want $runs"; fi
done
lab_finish
