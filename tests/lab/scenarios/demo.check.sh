#!/bin/bash
# demo (host side): the default guest reached /init with 2 CPUs and nimbus
# exited 0 after its reboot.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot nimbus-demo 2
lab_finish
