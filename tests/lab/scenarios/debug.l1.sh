#!/bin/sh
# debug (L1 side): one verbose nimbus boot for investigating a failure by
# hand: full kernel log, nimbus at debug level (vCPU registers are logged when
# it stops), its log printed afterwards. On L1's command line
# (NIMBUS_LAB_L1_APPEND): lab.kernel=bzimage|pvh, lab.debug_timeout=<s>,
# lab.cpus=<n>, lab.append=<extra,guest,args> (commas become spaces).
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
kernel=$L2_BZIMAGE
[ "$(lab_param kernel bzimage)" = pvh ] && kernel=$L2_VMLINUX
extra=$(lab_param append "" | tr ',' ' ')
echo "NIMBUS-L2-BEGIN nimbus-debug"
# SIGTERM first so nimbus logs the vCPUs' state, SIGKILL 5 s later.
timeout -s TERM -k 5 "$(lab_param debug_timeout 60)" nimbus -vv --log-file /tmp/nimbus.log \
    --kernel "$kernel" --initramfs "$L2_INITRD" --cpus "boot=$(lab_param cpus 2)" \
    --memory size=512M --serial tty \
    --cmdline "console=ttyS0 panic=-1 lab.action=reboot lab.checks=cpus,dmesg $extra" </dev/null
echo "NIMBUS-L2-END nimbus-debug rc=$?"
echo "--- nimbus log"
grep -v 'unassigned' /tmp/nimbus.log | tail -n 100
exit 0
