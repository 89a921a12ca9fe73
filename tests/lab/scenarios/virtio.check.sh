#!/bin/bash
# virtio (host side): the guest's checks passed, nimbus exited 0 after the
# guest's ACPI power-off, and the file the guest wrote and synced is on the
# disk image with the checksum the guest computed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot nimbus-virtio 2
expect_same "written.bin on the image matches the guest's sha256" L2-WRITTEN L1-WRITTEN
expect_same "4 MiB guest -> host over TCP intact" L2-SENT L1-RECEIVED
expect_console_vsock
expect_same "data synced before SIGKILL of nimbus is on the image" L2-DURABLE L1-DURABLE
if grep -q "NIMBUS-L1-SCRATCH zero=1 stray=0 size=8388608" <<<"$LAB_TEXT"; then
    pass "discarded + zeroed range reads zero in the image, the rest untouched"
else
    fail "scratch image after DISCARD/WRITE_ZEROES: $(grep -m1 NIMBUS-L1-SCRATCH <<<"$LAB_TEXT")"
fi
expect_checks pci msi mq rng blk blkro net console vsock balloon pcie discard ping
lab_finish
