#!/bin/bash
# boot (host side): both nimbus boots reached L2's /init, the guest saw 2
# CPUs and the host's date, its kernel log is clean, and nimbus exited 0
# after the guest's reboot.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot nimbus-bzimage 2
expect_l2_boot nimbus-pvh 2
lab_finish
