#!/bin/bash
# The main job: install dependencies, build nimbus, and boot the default guest
# (Debian's stock cloud kernel with a busybox initramfs, 2 vCPUs, 512 MiB),
# showing its serial console. On a host whose /dev/kvm runs stock guests
# (VMX/SVM) nimbus runs here directly; otherwise it runs inside the nested
# QEMU lab (tests/lab/), which this script builds and caches on first use.
# The guest prints what it sees and reboots; nimbus then exits 0.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

"$ROOT/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$ROOT/build" -j "$(nproc)" --target nimbus

# shellcheck source=../tests/lab/lib.sh
. "$ROOT/tests/lab/lib.sh"
if lab_host_can_run_guests; then
    echo "run-guest: this host runs stock guests: booting directly" >&2
    eval "$("$ROOT/tests/lab/prepare-guest.sh")"
    exec "$ROOT/build/nimbus" --kernel "$GUEST_BZIMAGE" --initramfs "$GUEST_INITRD" \
        --cpus boot=2 --memory size=512M --serial tty \
        --cmdline "console=ttyS0 panic=-1 lab.action=reboot lab.checks=info,cpus"
fi
echo "run-guest: /dev/kvm here cannot run stock guests: booting in the nested lab" >&2
NIMBUS_BIN=$ROOT/build/nimbus exec "$ROOT/tests/lab/run.sh" demo
