#!/bin/bash
# power (host side): poweroff -f (ACPI S5) and the power button (SIGTERM)
# both end nimbus with status 0 after a clean guest power-off.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot nimbus-poweroff 1
expect_l2_boot nimbus-powerbutton 1
sec=$(l2_section nimbus-powerbutton)
if grep -q "pressed the guest's power button" <<<"$sec"; then
    pass "nimbus-powerbutton: SIGTERM pressed the power button"
else
    fail "nimbus-powerbutton: nimbus did not report pressing the power button"
fi
if grep -q "NIMBUS-L2-POWER-BUTTON pressed" <<<"$sec"; then
    pass "nimbus-powerbutton: the guest saw KEY_POWER"
else
    fail "nimbus-powerbutton: the guest never saw the power button"
fi
if grep -q "did not power off within" <<<"$sec"; then
    fail "nimbus-powerbutton: nimbus had to hard-stop the guest"
fi
lab_finish
