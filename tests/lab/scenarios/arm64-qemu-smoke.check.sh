#!/bin/bash
# arm64-qemu-smoke (host side): QEMU's boot reached L2's /init with 2 CPUs, a
# sane clock and a clean kernel log, and QEMU exited 0 after the power-off.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot qemu-virt 2
lab_finish
