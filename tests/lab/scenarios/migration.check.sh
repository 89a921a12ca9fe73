#!/bin/bash
# migration (host side): both API calls succeeded, the guest's counter runs
# without a gap or repeat across the move and past where it was, with one
# boot marker only, the disk kept working, and both nimbus processes exit 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_step() { # NAME RC [REGEX]
    local line
    line=$(grep -o "NIMBUS-MIG-STEP $1 rc=.*" <<<"$LAB_TEXT" | head -n 1 || true)
    if [[ -z $line ]]; then
        fail "migration $1: did not run"
    elif [[ $line != "NIMBUS-MIG-STEP $1 rc=$2"* ]]; then
        fail "migration $1: want rc=$2: ${line#NIMBUS-MIG-STEP }"
    elif [[ -n ${3:-} ]] && ! grep -qE "$3" <<<"$line"; then
        fail "migration $1: output does not match /$3/: ${line#NIMBUS-MIG-STEP }"
    else
        pass "migration $1 (rc=$2) ${line#NIMBUS-MIG-STEP $1 rc=$2}"
    fi
}
expect_step create 0
expect_step boot 0
expect_step send-killed 1
expect_step info-a-after-failure 0 '"state" *: *"Running"'
expect_step send-unsatisfiable 1
expect_step receive-unsatisfiable 1 'disk'
expect_step info-e 1
expect_step info-a-after-refusal 0 '"state" *: *"Running"'
if grep -qE 'NIMBUS-MIG-COUNT-AFTER-FAILURE ([0-9]+) -> ([0-9]+)' <<<"$LAB_TEXT"; then
    pass "the guest kept counting on the source after the destination died: $(grep -o 'NIMBUS-MIG-COUNT-AFTER-FAILURE.*' <<<"$LAB_TEXT")"
fi
expect_step receive 0
expect_step send 0
expect_step info-b 0 '"state" *: *"Running"'
expect_step receive-tcp 0
expect_step send-tcp 0
expect_step info-c 0 '"state" *: *"Running"'
expect_step shutdown-a 0
expect_step shutdown-b 0
expect_step shutdown-c 0
serial=$(sed -n '/^--- guest serial/,/^--- nimbus A log/p' <<<"$LAB_TEXT")
seq=$(grep -o 'NIMBUS-L2-COUNTER [0-9]*' <<<"$serial" | cut -d' ' -f2 | tr '\n' ' ')
before=$(first_value '.*NIMBUS-MIG-COUNT-BEFORE \([0-9]*\).*' "$LAB_TEXT")
prev=0 gaps=0 n=0
for v in $seq; do
    n=$((n + 1))
    ((v == prev + 1)) || gaps=$((gaps + 1))
    prev=$v
done
before_tcp=$(first_value '.*NIMBUS-MIG-COUNT-BEFORE-TCP \([0-9]*\).*' "$LAB_TEXT")
if ((gaps == 0 && n >= ${before_tcp:-0} + 8 && ${before_tcp:-0} >= ${before:-0} + 8)); then
    pass "counter 1..$prev with no gap or repeat across both migrations (unix at ~${before}, tcp at ~${before_tcp})"
else
    fail "counter sequence (gaps/repeats: $gaps, values: $n, moved at ${before}): $seq"
fi
markers=$(grep -c 'NIMBUS-L2-MARKER' <<<"$LAB_TEXT" || true)
((markers == 1)) && pass "one boot only" || fail "boot markers: $markers, want 1"
if grep -q 'NIMBUS-L2-COUNTER .* disk=fail' <<<"$serial"; then
    fail "the disk failed at some point"
else
    pass "the disk kept working"
fi
grep -q "NIMBUS-MIG-EXIT-B rc=0" <<<"$LAB_TEXT" && pass "destination nimbus exited 0" ||
    fail "destination nimbus exit: $(grep -o 'NIMBUS-MIG-EXIT-B.*' <<<"$LAB_TEXT" || echo none)"
grep -q "NIMBUS-MIG-EXIT-C rc=0" <<<"$LAB_TEXT" && pass "second destination nimbus exited 0" ||
    fail "second destination nimbus exit: $(grep -o 'NIMBUS-MIG-EXIT-C.*' <<<"$LAB_TEXT" || echo none)"
grep -q "NIMBUS-MIG-EXIT-A rc=0" <<<"$LAB_TEXT" && pass "source nimbus exited 0" ||
    fail "source nimbus exit: $(grep -o 'NIMBUS-MIG-EXIT-A.*' <<<"$LAB_TEXT" || echo none)"
lab_finish
