#!/bin/sh
# bench-boot (L1 side): boot-to-/init time of nimbus against QEMU (microvm
# on x86_64, virt with GICv3 on aarch64, where bench-boot-arm64 runs this
# script), the same stock kernel + initramfs, 2 vCPUs and 512 MiB each, alternating
# nimbus and QEMU for N runs each (lab.bench_runs=N on L1's command line, or
# NIMBUS_BENCH_RUNS in direct mode where the host's command line is not
# ours; default 5).  bench/boot/run.sh turns the lines into medians.
#
# Lines: BENCH boot-config runs=<N> peer=<name of the QEMU peer>
#        BENCH boot <vmm> <run> marker_ms=<ms> exit_ms=<ms> rc=<rc>
# marker_ms: from just before the VMM starts to the NIMBUS-L2-MARKER line on
# its console (-1: never), exit_ms: to its exit, rc: its exit status (137:
# killed by the timeout).  A failed run's console follows its BENCH line,
# each line prefixed with "| ", and ends the benchmark.
# shellcheck source-path=SCRIPTDIR/.. source=l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"

runs=${NIMBUS_BENCH_RUNS:-$(lab_param bench_runs 5)}
case $runs in '' | *[!0-9]*) runs=5 ;; esac
[ "$runs" -ge 1 ] || runs=1
logdir=${TMPDIR:-/tmp}/bench-boot.$$
mkdir -p "$logdir"

# bench_now: BENCH_NOW = ms since boot, 10 ms resolution, without forking
# (a subshell costs milliseconds in the TCG-run L1).  /proc/uptime always has
# two decimals; the leading zero of "08" is dropped or $(( )) reads octal.
bench_now() {
    read -r up _ </proc/uptime
    frac=${up#*.}
    BENCH_NOW=$((${up%.*} * 1000 + 10 * ${frac#0}))
}

# bench VMM RUN CMD...: one timed boot; CMD's console is read line by line
# and the time is taken when the marker line arrives.
bench() {
    vmm=$1 run=$2
    shift 2
    log=$logdir/$vmm-$run.log
    bench_now
    t0=$BENCH_NOW
    # SIGKILL: QEMU exits 0 on SIGTERM, which would hide a hang.
    { timeout -s KILL "$L2_TIMEOUT" "$@" </dev/null 2>&1; echo "BENCH-VMM-RC $?"; } | {
        marker=-1 rc=-1
        while IFS= read -r line; do
            case $line in
                *NIMBUS-L2-MARKER*)
                    if [ "$marker" = -1 ]; then
                        bench_now
                        marker=$((BENCH_NOW - t0))
                    fi
                    ;;
                "BENCH-VMM-RC "*)
                    bench_now
                    rc=${line#BENCH-VMM-RC }
                    continue
                    ;;
            esac
            printf '%s\n' "$line"
        done >"$log"
        echo "BENCH boot $vmm $run marker_ms=$marker exit_ms=$((BENCH_NOW - t0)) rc=$rc"
        if [ "$marker" = -1 ] || [ "$rc" != 0 ]; then
            sed 's/^/| /' "$log"
            exit 1
        fi
    }
}

# How each guest leaves: microvm ignores -no-reboot for a guest reboot but
# leaves on ACPI poweroff; on aarch64 both VMMs leave on PSCI SYSTEM_OFF.
case $(uname -m) in
    aarch64)
        peer=qemu-virt
        nimbus_action=poweroff
        set -- qemu-system-aarch64 -accel kvm -M virt,gic-version=3 -cpu host
        ;;
    *)
        peer=qemu-microvm
        nimbus_action=reboot
        set -- qemu-system-x86_64 -accel kvm -M microvm -cpu host
        ;;
esac
nimbus_boot() {
    bench nimbus "$1" nimbus --kernel "$L2_KERNEL" --initramfs "$L2_INITRD" \
        --cpus boot=2 --memory size=512M --serial tty \
        --cmdline "$L2_APPEND lab.action=$nimbus_action"
}
# qemu_boot RUN QEMU-AND-MACHINE...
qemu_boot() {
    run=$1
    shift
    bench "$peer" "$run" "$@" -smp 2 -m 512 \
        -nographic -nodefaults -serial stdio -no-reboot \
        -kernel "$L2_KERNEL" -initrd "$L2_INITRD" \
        -append "$L2_APPEND lab.action=poweroff"
}

echo "BENCH boot-config runs=$runs peer=$peer"
# The first failed run ends the benchmark: a hung VMM costs L2_TIMEOUT per
# run, and the check fails on the missing runs anyway.
rc=0
i=1
while [ "$i" -le "$runs" ]; do
    if ! nimbus_boot "$i" || ! qemu_boot "$i" "$@"; then
        rc=1
        echo "BENCH boot-abort after a failed run"
        break
    fi
    i=$((i + 1))
done
rm -rf "$logdir"
exit "$rc"
