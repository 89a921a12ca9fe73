#!/bin/bash
# migration (host side): every failure case left the source running and the
# destination empty; both API calls succeeded, the guest's counter runs
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
expect_step send-killed 1 '(cannot send|cannot receive|Connection reset|Broken pipe|closed the connection)'
if grep -qE 'NIMBUS-MIG-KILLED-IN "phase" *: *"precopy"' <<<"$LAB_TEXT"; then
    pass "the destination was killed during pre-copy"
else
    fail "the destination was not killed during pre-copy: $(grep -o 'NIMBUS-MIG-KILLED-IN.*' <<<"$LAB_TEXT" || echo none)"
fi
expect_step info-a-after-failure 0 '"state" *: *"Running"'
expect_step send-unsatisfiable 1
expect_step receive-unsatisfiable 1 'disk'
expect_step info-e 1
expect_step info-a-after-refusal 0 '"state" *: *"Running"'
if grep -qE 'NIMBUS-MIG-COUNT-AFTER-FAILURE ([0-9]+) -> ([0-9]+)' <<<"$LAB_TEXT"; then
    pass "the guest kept counting on the source after the destination died: $(grep -o 'NIMBUS-MIG-COUNT-AFTER-FAILURE.*' <<<"$LAB_TEXT")"
fi
# Through labproxy: each failure leaves A running and counting, F empty.
after_failure() { # NAME SEND_REGEX RECEIVE_REGEX
    expect_step "send-$1" 1 "$2"
    expect_step "receive-$1" 1 "$3"
    expect_step "info-a-after-$1" 0 '"state" *: *"Running"'
    expect_step "info-f-after-$1" 1 'no VM is created'
    if [[ $LAB_TEXT =~ NIMBUS-MIG-COUNT-AFTER-$1\ ([0-9]+)\ -\>\ ([0-9]+) ]] &&
        ((BASH_REMATCH[2] > BASH_REMATCH[1])); then
        pass "$1: the guest kept counting on the source (${BASH_REMATCH[1]} -> ${BASH_REMATCH[2]})"
    else
        fail "$1: the counter did not advance on the source after the failure"
    fi
}
grep -q "NIMBUS-MIG-PROXY cut labproxy cut=3000000: cut the connection" <<<"$LAB_TEXT" &&
    pass "labproxy cut the stream after 3 MB" || fail "labproxy did not cut: $(grep -o 'NIMBUS-MIG-PROXY cut.*' <<<"$LAB_TEXT")"
after_failure cut 'cannot (send|receive)|closed|reset' 'truncated stream|closed the connection'
grep -q "NIMBUS-MIG-PROXY corrupt labproxy flip=2000000: flipped a byte" <<<"$LAB_TEXT" &&
    pass "labproxy flipped byte 2000000" || fail "labproxy did not flip: $(grep -o 'NIMBUS-MIG-PROXY corrupt.*' <<<"$LAB_TEXT")"
after_failure corrupt 'cannot (send|receive)|corrupt|reset|pipe' 'Memory frame fails its CRC \(corrupt\)'
after_failure version 'abandoned the migration at Start: .*protocol version 99 is not supported' \
    'protocol version 99 is not supported'
expect_step progress-a 0 '"phase" *: *"precopy"'
expect_step cancel 0 'cancel accepted'
after_failure cancel 'cancelled on the source' 'the source abandoned the migration: the migration was cancelled on the source'
expect_step progress-a-after-cancel 0 '"phase" *: *"cancelled"'
expect_step cancel-again 1 'cannot cancel: the migration is over'
expect_step cancel-f 0 'cancel accepted'
after_failure dest-cancel 'abandoned the migration.*: the migration was cancelled on the destination' \
    'the migration was cancelled on the destination'
expect_step shutdown-f 0
grep -q "NIMBUS-MIG-EXIT-F rc=0" <<<"$LAB_TEXT" && pass "the failure destination nimbus exited 0" ||
    fail "failure destination nimbus exit: $(grep -o 'NIMBUS-MIG-EXIT-F.*' <<<"$LAB_TEXT" || echo none)"
expect_step receive 0
# The live progress display (plain timestamped lines, not a terminal).
expect_step send 0 '\[[0-9:.]+\] migration precopy .* of .* RAM'
expect_step info-b 0 '"state" *: *"Running"'
expect_step receive-tcp 0
expect_step send-tcp 0
expect_step info-c 0 '"state" *: *"Running"'
# local=on: memory fds, no page copied: under 1 MB sent for 512 MiB.
expect_step receive-local 0
expect_step send-local 0 'bytes_sent: [0-9]{1,6} .*pages_sent: 0 '
expect_step info-g 0 '"state" *: *"Running"'
expect_step shutdown-g 0
expect_step shutdown-a 0
expect_step shutdown-b 0
expect_step shutdown-c 0
serial=$(sed -n '/^--- guest serial/,/^--- nimbus A log/p' <<<"$LAB_TEXT")
seq=$(grep -o 'NIMBUS-L2-COUNTER [0-9]*' <<<"$serial" | cut -d' ' -f2 | tr '\n' ' ')
if [[ $LAB_TEXT =~ NIMBUS-MIG-FDS-A\ ([0-9]+)\ -\>\ ([0-9]+) ]] &&
    ((BASH_REMATCH[2] <= BASH_REMATCH[1] + 4)); then
    pass "the source holds no leaked fds after the failure cases (${BASH_REMATCH[1]} -> ${BASH_REMATCH[2]})"
else
    fail "the source's fds grew over the failure cases: $(grep -o 'NIMBUS-MIG-FDS-A.*' <<<"$LAB_TEXT" || echo none)"
fi
before=$(first_value '.*NIMBUS-MIG-COUNT-BEFORE \([0-9]*\).*' "$LAB_TEXT")
prev=0 gaps=0 n=0
for v in $seq; do
    n=$((n + 1))
    ((v == prev + 1)) || gaps=$((gaps + 1))
    prev=$v
done
before_tcp=$(first_value '.*NIMBUS-MIG-COUNT-BEFORE-TCP \([0-9]*\).*' "$LAB_TEXT")
before_local=$(first_value '.*NIMBUS-MIG-COUNT-BEFORE-LOCAL \([0-9]*\).*' "$LAB_TEXT")
if ((gaps == 0 && n >= ${before_local:-0} + 6 && ${before_local:-0} >= ${before_tcp:-0} + 8 &&
    ${before_tcp:-0} >= ${before:-0} + 8)); then
    pass "counter 1..$prev with no gap or repeat across the three migrations (unix at ~${before}, tcp at ~${before_tcp}, local at ~${before_local})"
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
grep -q "NIMBUS-MIG-EXIT-G rc=0" <<<"$LAB_TEXT" && pass "local destination nimbus exited 0" ||
    fail "local destination nimbus exit: $(grep -o 'NIMBUS-MIG-EXIT-G.*' <<<"$LAB_TEXT" || echo none)"
grep -q "NIMBUS-MIG-EXIT-A rc=0" <<<"$LAB_TEXT" && pass "source nimbus exited 0" ||
    fail "source nimbus exit: $(grep -o 'NIMBUS-MIG-EXIT-A.*' <<<"$LAB_TEXT" || echo none)"
lab_finish
