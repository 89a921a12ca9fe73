#!/bin/sh
# power (L1 side): power management of nimbus's machine (also arm64-power).
#  1. the guest runs `poweroff -f`: ACPI S5 through the sleep control
#     register ends nimbus with status 0;
#  2. SIGTERM to nimbus presses the ACPI power button (GED interrupt ->
#     PNP0C0C -> KEY_POWER); the guest, waiting for that key as a logind
#     would, powers off and nimbus exits 0 well before its hard-stop timeout.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
rc=0
l2_run nimbus-poweroff nimbus --kernel "$L2_KERNEL" --initramfs "$L2_INITRD" \
    --cpus boot=1 --memory size=512M --serial tty \
    --cmdline "$L2_APPEND lab.action=poweroff" || rc=1

label=nimbus-powerbutton
out=/tmp/$label.out
echo "NIMBUS-L2-BEGIN $label"
t0=$(lab_ms)
nimbus -v --kernel "$L2_KERNEL" --initramfs "$L2_INITRD" --cpus boot=1 \
    --memory size=512M --serial tty \
    --cmdline "$L2_APPEND lab.action=powerbutton" </dev/null >"$out" 2>&1 &
pid=$!
waited=0
until grep -q NIMBUS-L2-WAITING-POWER-BUTTON "$out" || ! kill -0 "$pid" 2>/dev/null ||
    [ "$waited" -ge "$L2_TIMEOUT" ]; do
    sleep 1
    waited=$((waited + 1))
done
kill -TERM "$pid" 2>/dev/null
echo "NIMBUS-L1-SENT-SIGTERM after ${waited}s"
# The guest has nimbus's 30 s; give it 60 before calling it hung.
( sleep 60; kill -KILL "$pid" 2>/dev/null ) &
watchdog=$!
wait "$pid"
prc=$?
kill "$watchdog" 2>/dev/null
cat "$out"
echo "NIMBUS-L2-END $label rc=$prc ms=$(($(lab_ms) - t0))"
[ "$prc" = 0 ] || rc=1
exit "$rc"
