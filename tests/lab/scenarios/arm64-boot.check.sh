#!/bin/bash
# arm64-boot (host side): the arm64 guest reached /init with 2 CPUs, its
# checks (PCIe functions, rng, disk, network, console, vsock, balloon)
# passed, nimbus exited 0 after the PSCI power-off and after the PSCI reset,
# and what the guest wrote, sent and echoed arrived intact.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot nimbus-arm64 2
expect_checks cpus pci pcie msi rng blk net console vsock balloon dmesg
expect_l2_boot nimbus-arm64-reboot 2
expect_console_vsock
expect_same "written.bin on the image matches the guest's sha256" L2-WRITTEN L1-WRITTEN
expect_same "4 MiB guest -> host over TCP intact" L2-SENT L1-RECEIVED
lab_finish
