#!/bin/bash
# arm64-boot (host side): the arm64 guest reached /init with 2 CPUs, its
# checks (PCI functions, rng, disk, network) passed, nimbus exited 0 after
# the PSCI power-off, and what the guest wrote and sent arrived intact.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot nimbus-arm64 2
expect_checks cpus pci rng blk net dmesg
expect_same "written.bin on the image matches the guest's sha256" L2-WRITTEN L1-WRITTEN
expect_same "4 MiB guest -> host over TCP intact" L2-SENT L1-RECEIVED
lab_finish
