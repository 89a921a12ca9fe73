#!/bin/sh
# /init of the L2 guest (busybox sh), booted by the VMM under test inside L1.
#
# Prints fixed marker lines that the host-side checks parse, runs the checks
# named by lab.checks=a,b,c, then leaves as lab.action= says (default reboot:
# with QEMU's -no-reboot or a VMM that exits on reset, the VMM then exits 0).
#
# Lines: NIMBUS-L2-MARKER up=<s>, NIMBUS-L2-NPROC <n>, NIMBUS-L2-DATE <epoch>,
#        NIMBUS-L2-CHECK <name> PASS|FAIL <detail>, NIMBUS-L2-ACTION <action>,
#        NIMBUS-L2-WAITING-POWER-BUTTON <dev>, NIMBUS-L2-POWER-BUTTON pressed
# Actions: reboot (default), poweroff, shell, powerbutton (power off once the
# ACPI power button is pressed).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null # absent if the kernel mounted it

# lab_param NAME DEFAULT: value of lab.NAME= on the kernel command line.
# Dotted parameters are kept out of init's argv/env by the kernel.
read -r LAB_CMDLINE </proc/cmdline
lab_param() {
    for w in $LAB_CMDLINE; do
        case $w in "lab.$1="*) echo "${w#*=}"; return ;; esac
    done
    echo "$2"
}

read -r up _ </proc/uptime
echo "NIMBUS-L2-MARKER up=$up"
echo "NIMBUS-L2-NPROC $(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
echo "NIMBUS-L2-DATE $(date +%s)"

# Kernel modules added by the initramfs build, loaded in the listed order
# (no modules.dep here: the order file must list dependencies first).
if [ -f /lib/modules/lab/order ]; then
    while read -r m; do
        insmod "/lib/modules/lab/$m.ko" || echo "NIMBUS-L2-CHECK insmod-$m FAIL"
    done </lib/modules/lab/order
fi

result() { echo "NIMBUS-L2-CHECK $1 $2 $3"; }

# --- checks: check_<name>, selected by lab.checks=<name>,... -----------------
check_mem() { # MemTotal in kB; PASS if the kernel sees any RAM at all
    kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
    if [ "${kb:-0}" -gt 0 ]; then result mem PASS "kb=$kb"; else result mem FAIL "no MemTotal"; fi
}
check_cpus() { # every possible CPU came online
    on=$(cat /sys/devices/system/cpu/online) pos=$(cat /sys/devices/system/cpu/possible)
    if [ "$on" = "$pos" ]; then result cpus PASS "online=$on"; else result cpus FAIL "online=$on possible=$pos"; fi
}
check_dmesg() { # no oops, BUG or WARN in the kernel log
    # Kernel WARN()s print "WARNING: CPU: n PID: ..."; advisory lines such as
    # the SRSO mitigation note also contain "WARNING:" and are not failures.
    bad=$(dmesg | grep -E 'BUG:|WARNING: CPU|Oops|Call Trace|Kernel panic' | head -n3 | tr '\n' '|')
    if [ -z "$bad" ]; then result dmesg PASS ""; else result dmesg FAIL "$bad"; fi
}
check_info() { # what the guest sees, for people watching the console
    kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
    result info PASS "kernel=$(uname -r) cpus=$(nproc) memtotal_kb=$kb date=$(date -u +%FT%TZ)"
}
check_modules() { # loaded modules, for the log
    result modules PASS "$(cut -d' ' -f1 /proc/modules | tr '\n' ',')"
}
# Extra checks shipped by a scenario: files defining more check_<name>.
for f in /lab/checks/*.sh; do
    # shellcheck disable=SC1090 # scenario-supplied, not known here
    [ -f "$f" ] && . "$f"
done

for c in $(lab_param checks "" | tr ',' ' '); do
    if command -v "check_$c" >/dev/null 2>&1; then "check_$c"; else result "$c" FAIL "unknown check"; fi
done

action=$(lab_param action reboot)
echo "NIMBUS-L2-ACTION $action"
# wait_power_button: block until the power button (ACPI: button.ko's "Power
# Button"; device tree: gpio_keys's "gpio-keys") reports a key event, as a
# guest's logind would.
wait_power_button() {
    dev=""
    for e in /sys/class/input/event*; do
        grep -qE "Power Button|gpio-keys" "$e/device/name" 2>/dev/null && dev=/dev/input/${e##*/}
    done
    if [ -z "$dev" ]; then
        result powerbutton FAIL "no Power Button input device"
        return
    fi
    echo "NIMBUS-L2-WAITING-POWER-BUTTON $dev"
    dd if="$dev" of=/dev/null bs=24 count=1 2>/dev/null
    echo "NIMBUS-L2-POWER-BUTTON pressed"
}

case $action in
    shell) exec sh ;;
    powerbutton) wait_power_button; poweroff -f ;;
    poweroff) poweroff -f ;;
    *) reboot -f ;;
esac
