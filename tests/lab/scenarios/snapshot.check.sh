#!/bin/bash
# snapshot (host side): the snapshot was written while paused (and refused a
# second time over the same directory), the new nimbus restored it paused
# and resumed it, and the guest went on counting where it stopped: no new
# boot marker after the restore, counter values beyond the last one before
# the snapshot and no restart at 1, the guest's date moved forward, and the
# disk kept working.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1

expect_step() { # expect_step NAME RC [REGEX]
    local line
    line=$(grep -o "NIMBUS-SNAP-STEP $1 rc=.*" <<<"$LAB_TEXT" | head -n 1 || true)
    if [[ -z $line ]]; then
        fail "snapshot $1: did not run"
    elif [[ $line != "NIMBUS-SNAP-STEP $1 rc=$2 "* && $line != "NIMBUS-SNAP-STEP $1 rc=$2" ]]; then
        fail "snapshot $1: want rc=$2: ${line#NIMBUS-SNAP-STEP }"
    elif [[ -n ${3:-} ]] && ! grep -qE "$3" <<<"$line"; then
        fail "snapshot $1: output does not match /$3/: ${line#NIMBUS-SNAP-STEP }"
    else
        pass "snapshot $1 (rc=$2)"
    fi
}
expect_step create 0
expect_step boot 0
expect_step pause 0
expect_step info-paused 0 '"state" *: *"Paused"'
expect_step snapshot 0 'snapshot written'
expect_step snapshot-again 1 'not empty'
expect_step info-empty 1
expect_step restore 0 'restored \(paused\)'
expect_step info-restored 0 '"state" *: *"Paused"'
expect_step resume 0
expect_step info-resumed 0 '"state" *: *"Running"'
expect_step shutdown-vmm 0
if grep -qE "NIMBUS-SNAP-FILES .*manifest\.json.*state\.bin" <<<"$LAB_TEXT" ||
    grep -qE "NIMBUS-SNAP-FILES .*config\.json.*manifest\.json.*state\.bin" <<<"$LAB_TEXT"; then
    pass "snapshot files: $(grep -o 'NIMBUS-SNAP-FILES.*' <<<"$LAB_TEXT" | head -n 1)"
else
    fail "snapshot files: $(grep -o 'NIMBUS-SNAP-FILES.*' <<<"$LAB_TEXT" || echo none)"
fi

before=$(sed -n '/^--- serial before the snapshot/,/^--- serial after the restore/p' <<<"$LAB_TEXT")
after=$(sed -n '/^--- serial after the restore/,/^--- nimbus logs/p' <<<"$LAB_TEXT")
last_before=$(grep -o 'NIMBUS-L2-COUNTER [0-9]*' <<<"$before" | tail -n 1 | cut -d' ' -f2 || true)
date_before=$(grep -o 'NIMBUS-L2-COUNTER [0-9]* [0-9]*' <<<"$before" | tail -n 1 | cut -d' ' -f3 || true)
first_after=$(grep -o 'NIMBUS-L2-COUNTER [0-9]*' <<<"$after" | head -n 1 | cut -d' ' -f2 || true)
last_after=$(grep -o 'NIMBUS-L2-COUNTER [0-9]*' <<<"$after" | tail -n 1 | cut -d' ' -f2 || true)
date_after=$(grep -o 'NIMBUS-L2-COUNTER [0-9]* [0-9]*' <<<"$after" | tail -n 1 | cut -d' ' -f3 || true)
if [[ -n $last_before && -n $first_after && -n $last_after ]] &&
    ((first_after > last_before && first_after <= last_before + 2 && last_after > first_after)); then
    pass "the guest counted on: ${last_before} before, ${first_after}..${last_after} after the restore"
else
    fail "counter: last before '${last_before}', after the restore '${first_after}'..'${last_after}'"
fi
if grep -q "NIMBUS-L2-MARKER" <<<"$after"; then
    fail "the guest booted again after the restore"
else
    pass "no new boot after the restore"
fi
if [[ -n $date_before && -n $date_after ]] && ((date_after > date_before)); then
    pass "the guest's date advanced: $date_before -> $date_after"
else
    fail "guest date: before '$date_before', after '$date_after'"
fi
if grep -q "disk=fail" <<<"$after" || ! grep -q "disk=ok" <<<"$after"; then
    fail "the disk after the restore: $(grep -o 'disk=[a-z]*' <<<"$after" | sort | uniq -c | tr '\n' ' ')"
else
    pass "the disk kept working after the restore"
fi
if grep -q "NIMBUS-SNAP-EXIT rc=0" <<<"$LAB_TEXT"; then
    pass "the restored nimbus exited 0"
else
    fail "nimbus exit: $(grep -o 'NIMBUS-SNAP-EXIT.*' <<<"$LAB_TEXT" || echo none)"
fi
lab_finish
