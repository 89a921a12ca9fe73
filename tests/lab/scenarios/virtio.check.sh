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
sent=$(first_value '.*NIMBUS-L2-SENT \([0-9a-f]*\).*' "$LAB_TEXT")
got=$(first_value '.*NIMBUS-L1-RECEIVED \([0-9a-f]*\).*' "$LAB_TEXT")
if [[ -n $sent && $sent = "$got" ]]; then
    pass "4 MiB guest -> host over TCP intact ($sent)"
else
    fail "guest -> host over TCP: guest sent '$sent', host got '$got'"
fi
if grep -q "NIMBUS-L1-HVC NIMBUS-HVC-HELLO from L2" <<<"$LAB_TEXT"; then
    pass "virtio-console output reached nimbus's file backend"
else
    fail "virtio-console: $(grep -o 'NIMBUS-L1-HVC.*' <<<"$LAB_TEXT" || echo 'no output file')"
fi
if grep -q "NIMBUS-L1-VSOCK-ECHO ping-from-host" <<<"$LAB_TEXT"; then
    pass "vsock: host -> guest echo through the hybrid socket"
else
    fail "vsock: no host -> guest echo"
fi
guest=$(first_value '.*NIMBUS-L2-DURABLE \([0-9a-f]*\).*' "$LAB_TEXT")
host=$(first_value '.*NIMBUS-L1-DURABLE \([0-9a-f]*\).*' "$LAB_TEXT")
if [[ -n $guest && $guest = "$host" ]]; then
    pass "data synced before SIGKILL of nimbus is on the image ($guest)"
else
    fail "after SIGKILL: guest synced '$guest', image has '$host'"
fi
if grep -q "NIMBUS-L1-SCRATCH zero=1 stray=0 size=8388608" <<<"$LAB_TEXT"; then
    pass "discarded + zeroed range reads zero in the image, the rest untouched"
else
    fail "scratch image after DISCARD/WRITE_ZEROES: $(grep -m1 NIMBUS-L1-SCRATCH <<<"$LAB_TEXT")"
fi
for c in pci mq rng blk blkro net console vsock balloon pcie discard ping; do
    grep -q "NIMBUS-L2-CHECK $c PASS" <<<"$LAB_TEXT" || fail "check $c did not pass"
done
lab_finish
