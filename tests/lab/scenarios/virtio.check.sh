#!/bin/bash
# virtio (host side): the guest's checks passed, nimbus exited 0 after the
# guest's ACPI power-off, and the file the guest wrote and synced is on the
# disk image with the checksum the guest computed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
expect_l2_boot nimbus-virtio 2
guest=$(first_value '.*NIMBUS-L2-WRITTEN \([0-9a-f]*\).*' "$LAB_TEXT")
host=$(first_value '.*NIMBUS-L1-WRITTEN \([0-9a-f]*\).*' "$LAB_TEXT")
if [[ -n $guest && $guest = "$host" ]]; then
    pass "written.bin on the image matches the guest's sha256 ($guest)"
else
    fail "written.bin: guest sha256 '$guest', on the image '$host'"
fi
for c in pci rng blk blkro; do
    grep -q "NIMBUS-L2-CHECK $c PASS" <<<"$LAB_TEXT" || fail "check $c did not pass"
done
lab_finish
