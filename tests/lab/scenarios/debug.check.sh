#!/bin/bash
# debug (host side): only that L1 ran; read the log by hand.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
lab_finish
