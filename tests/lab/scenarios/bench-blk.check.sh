#!/bin/bash
# bench-blk (host side): every run of nimbus and of QEMU booted L2, passed
# its checks, printed its 4 VBENCH lines (sequential and random read/write) and its VMM exited 0
# after the guest's power-off.  The numbers are bench/virtio/run.sh's business.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
runs=$(first_value '.*BENCH blk-config runs=\([0-9]*\).*' "$LAB_TEXT")
if [[ -n $runs ]]; then pass "benchmark started, $runs runs per VMM"; else fail "no BENCH blk-config line"; fi
for ((i = 1; i <= ${runs:-0}; i++)); do
    for vmm in nimbus qemu; do
        expect_l2_boot "$vmm-$i" 2
        n=$(l2_section "$vmm-$i" | grep -c '^VBENCH ' || true)
        if [[ $n = 4 ]]; then pass "$vmm-$i: 4 VBENCH results"; else fail "$vmm-$i: $n VBENCH results, want 4"; fi
    done
done
lab_finish
