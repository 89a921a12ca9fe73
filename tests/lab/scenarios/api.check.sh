#!/bin/bash
# api (host side): every lifecycle step answered as expected, malformed
# requests got the right 4xx while the guest ran, the guest booted twice,
# and nimbus exited 0 removing its socket.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1

# expect_step NAME RC [REGEX]: the step's exit status, and its output matches
expect_step() {
    local line
    line=$(grep -o "NIMBUS-API-STEP $1 rc=.*" <<<"$LAB_TEXT" | head -n 1 || true)
    if [[ -z $line ]]; then
        fail "api $1: did not run"
    elif [[ $line != "NIMBUS-API-STEP $1 rc=$2 "* && $line != "NIMBUS-API-STEP $1 rc=$2" ]]; then
        fail "api $1: want rc=$2: ${line#NIMBUS-API-STEP }"
    elif [[ -n ${3:-} ]] && ! grep -qE "$3" <<<"$line"; then
        fail "api $1: output does not match /$3/: ${line#NIMBUS-API-STEP }"
    else
        pass "api $1 (rc=$2)"
    fi
}
expect_raw() { # NAME CODE
    if grep -q "NIMBUS-API-RAW $1 HTTP/1.1 $2" <<<"$LAB_TEXT"; then
        pass "api raw $1: HTTP $2"
    else
        fail "api raw $1: want $2: $(grep -o "NIMBUS-API-RAW $1.*" <<<"$LAB_TEXT" || echo none)"
    fi
}
expect_step ping 0 'v0\.1\.0'
expect_step create 0
expect_step info-created 0 '"state" *: *"Created"'
expect_step boot 0
expect_step info-running 0 '"state" *: *"Running"'
expect_step counters 0
expect_raw bad-json 400
expect_raw boot-twice 405
expect_raw unknown-path 404
expect_raw wrong-method 405
expect_raw huge-body 413
expect_raw huge-expect 413
expect_step pause 0
expect_step info-paused 0 '"state" *: *"Paused"'
expect_step pause-twice 1
expect_step resume 0
expect_step info-resumed 0 '"state" *: *"Running"'
expect_step power-button 0
expect_step info-off 0 '"state" *: *"Shutdown"'
expect_step boot-again 0
expect_step shutdown 0
expect_step info-shutdown 0 '"state" *: *"Shutdown"'
expect_step delete 0
expect_step info-deleted 1
expect_step shutdown-vmm 0
n=$(grep -c "NIMBUS-L2-WAITING-POWER-BUTTON" <<<"$LAB_TEXT" || true)
if ((n >= 2)); then pass "the guest booted twice ($n markers)"; else fail "guest markers: $n, want 2"; fi
grep -q "NIMBUS-L2-POWER-BUTTON pressed" <<<"$LAB_TEXT" &&
    pass "the guest saw the power button" || fail "the guest never saw the power button"
if grep -q "NIMBUS-API-EXIT rc=0 socket_left=no" <<<"$LAB_TEXT"; then
    pass "nimbus exited 0 and removed its socket"
else
    fail "nimbus exit: $(grep -o 'NIMBUS-API-EXIT.*' <<<"$LAB_TEXT" || echo none)"
fi
lab_finish
