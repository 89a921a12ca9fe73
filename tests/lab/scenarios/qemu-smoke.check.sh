#!/bin/bash
# qemu-smoke (host side): both QEMU boots reached L2's /init with 2 CPUs and
# a sane clock, and QEMU exited 0 after the guest's reboot.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot qemu-bzimage 2
expect_l2_boot qemu-pvh 2
lab_finish
