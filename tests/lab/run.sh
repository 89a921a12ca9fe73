#!/bin/bash
# run.sh SCENARIO — run one scenario of the nested lab and check it.
#
# Builds (or reuses) the L1/L2 images, boots L1 under QEMU TCG with
# scenarios/SCENARIO.l1.sh as /lab/scenario.sh, logs the L1 console to
# $NIMBUS_LAB_OUT/SCENARIO.log and runs scenarios/SCENARIO.check.sh on it.
# Exit status: 0 pass, 1 fail, 77 skip (with a SKIP: line saying why).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$LAB_DIR/lib.sh"
# shellcheck source-path=SCRIPTDIR source=build-initramfs.sh
. "$LAB_DIR/build-initramfs.sh"

usage() {
    local f names=()
    for f in "$LAB_DIR"/scenarios/*.l1.sh "$LAB_DIR"/scenarios/*.conf; do names+=("$(basename "${f%.*}" .l1)"); done
    mapfile -t names < <(printf '%s\n' "${names[@]}" | sort -u)
    echo "usage: $0 SCENARIO   (scenarios: ${names[*]})" >&2
    exit 2
}
[[ $# -eq 1 ]] || usage
scen=$1
[[ -f $LAB_DIR/scenarios/$scen.l1.sh || -f $LAB_DIR/scenarios/$scen.conf ]] ||
    lab_die "no scenario '$scen' in $LAB_DIR/scenarios"

# Per-scenario settings (scenarios/NAME.conf, optional).  A .conf that sets
# LAB_ARCH does so first and calls lab_arch_init before using LAB_* values.
LAB_ARCH=x86_64        # guest architecture: x86_64 or aarch64
LAB_NEEDS_NIMBUS=0     # 1: skip when there is no nimbus for LAB_ARCH
LAB_L1_APPEND=""       # extra L1 kernel parameters
LAB_L1_QEMU_ARGS=()    # extra L0 QEMU arguments (machine, devices)
LAB_SCRIPTS=$scen      # whose NAME.l1.sh and NAME.check.sh run (a variant
                       # for another architecture reuses its twin's)
lab_arch_init
if [[ -f $LAB_DIR/scenarios/$scen.conf ]]; then
    # shellcheck source=/dev/null
    . "$LAB_DIR/scenarios/$scen.conf"
fi
lab_arch_init
l1_script=$LAB_DIR/scenarios/$LAB_SCRIPTS.l1.sh
check_script=$LAB_DIR/scenarios/$LAB_SCRIPTS.check.sh
[[ -f $l1_script && -f $check_script ]] || lab_die "scenario '$scen': no $LAB_SCRIPTS.l1.sh and .check.sh"

skip() { echo "SKIP: $scen: $*"; exit 77; }
lab_host_can_run_guests || command -v "$LAB_L0_QEMU" >/dev/null ||
    skip "$LAB_L0_QEMU is not installed (needed for the nested $LAB_ARCH lab)"
if [[ $LAB_NEEDS_NIMBUS = 1 ]]; then
    [[ -n $LAB_NIMBUS_BIN ]] || skip "${LAB_NIMBUS_WHY:-NIMBUS_BIN is not set (path of the nimbus binary)}"
    [[ -x $LAB_NIMBUS_BIN ]] || lab_die "nimbus binary $LAB_NIMBUS_BIN is not an executable"
fi
timeout_s=${NIMBUS_LAB_TIMEOUT:-600}
out=${NIMBUS_LAB_OUT:-${TMPDIR:-/tmp}/nimbus-lab}
log=$out/$scen.log
mkdir -p "$out" "$LAB_CACHE"

ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(ms)

# Work files live in the cache filesystem so the kernel can be hard-linked:
# a concurrent run may prune the cache once the lock is dropped.
work=$(mktemp -d "$LAB_CACHE/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
hostdate=$(date +%s)

# run_logged CMD...: run with output to the terminal (unless
# NIMBUS_LAB_QUIET=1) and to the log.  Sets l1_rc.
run_logged() {
    local sink=/dev/stdout
    [[ ${NIMBUS_LAB_QUIET:-0} = 1 ]] && sink=/dev/null
    set +e
    "$@" </dev/null 2>&1 | tee "$log" >"$sink"
    l1_rc=${PIPESTATUS[0]}
    set -e
}

if lab_host_can_run_guests; then
    # Direct: this host runs stock guests itself. The scenario runs here
    # against a staging tree laid out like L1's (LAB_ROOT), with the same
    # markers, so the same checks apply.
    mode=direct
    lab_lock
    lab_prepare_kernel
    lab_build_l2_initrd
    lab_unlock
    root=$work/root
    mkdir -p "$root/lab" "$root/l2" "$root/bin"
    cp "$LAB_DIR/l1-lib.sh" "$root/lab/lib.sh"
    if [[ $LAB_ARCH = aarch64 ]]; then
        ln -s "$LAB_KERNEL" "$root/l2/Image"
    else
        ln -s "$LAB_BZIMAGE" "$root/l2/vmlinuz"
        ln -s "$LAB_VMLINUX" "$root/l2/vmlinux"
    fi
    ln -s "$LAB_L2_INITRD" "$root/l2/initrd.gz"
    [[ -z $LAB_NIMBUS_BIN ]] || ln -s "$(realpath "$LAB_NIMBUS_BIN")" "$root/bin/nimbus"
    [[ -z $LAB_NIMBUS_REMOTE_BIN ]] ||
        ln -s "$(realpath "$LAB_NIMBUS_REMOTE_BIN")" "$root/bin/nimbus-remote"
    for f in ${NIMBUS_LAB_FILES:-}; do
        mkdir -p "$root/$(dirname "${f#*:}")"
        cp -L "${f%%:*}" "$root/${f#*:}"
    done
    for f in ${NIMBUS_LAB_TREES:-}; do
        mkdir -p "$root/${f#*:}"
        cp -a "${f%%:*}/." "$root/${f#*:}/"
    done
    t1=$(ms)
    direct_run() {
        echo "NIMBUS-L1-READY up=0 kernel=host-direct cpus=$(nproc) date=$(date +%s)"
        local rc=0
        (cd "$root/lab" && LAB_ROOT=$root PATH=$root/bin:$PATH \
            LAB_CMDLINE_EXTRA="lab.hostdate=$hostdate $LAB_L1_APPEND ${NIMBUS_LAB_L1_APPEND:-}" \
            timeout -k 10 "$timeout_s" \
            sh "$l1_script") || rc=$?
        echo "NIMBUS-L1-DONE rc=$rc"
    }
    run_logged direct_run
else
    mode=nested
    lab_lock
    lab_prepare_kernel
    lab_build_l2_initrd
    lab_build_l1_base
    ln -f "$LAB_KERNEL" "$work/vmlinuz" 2>/dev/null || cp "$LAB_KERNEL" "$work/vmlinuz"
    lab_build_l1_run "$work" "$l1_script" "$work/run.cpio"
    cat "$LAB_L1_BASE" "$work/run.cpio" >"$work/l1.img"
    lab_unlock
    t1=$(ms)
    l0=("$LAB_L0_QEMU" "${LAB_L0_ARGS[@]}" -m 2048
        -nographic -no-reboot -nodefaults -serial stdio "${LAB_L1_QEMU_ARGS[@]}"
        -kernel "$work/vmlinuz" -initrd "$work/l1.img"
        -append "console=$LAB_CONSOLE panic=-1 quiet lab.hostdate=$hostdate lab.scenario=$scen $LAB_L1_APPEND ${NIMBUS_LAB_L1_APPEND:-}")
    run_logged timeout -k 10 "$timeout_s" "${l0[@]}"
    # QEMU 7.2's TCG sometimes aborts on an interrupt assertion (LAB.md §5): it
    # is L0's bug, not the VMM's, so that one failure earns a single retry.
    if [[ $l1_rc != 0 ]] && grep -q 'tcg_handle_interrupt' "$log"; then
        mv "$log" "$log.1"
        lab_log "L0 QEMU hit the tcg_handle_interrupt abort; retrying once"
        run_logged timeout -k 10 "$timeout_s" "${l0[@]}"
    fi
fi
t2=$(ms)
lab_log "$scen ($LAB_ARCH, $mode): images $((t1 - t0)) ms, run $((t2 - t1)) ms, log $log"

rc=0
NIMBUS_LAB_HOSTDATE=$hostdate bash "$check_script" "$log" || rc=$?
if [[ $l1_rc = 124 || $l1_rc = 137 ]]; then
    echo "FAIL: $scen: L1 timed out after ${timeout_s}s"
    rc=1
elif [[ $l1_rc != 0 ]]; then
    echo "FAIL: $scen: L0 QEMU exited with status $l1_rc"
    rc=1
fi
case $rc in
    0) echo "PASS: $scen" ;;
    77) ;;
    *) echo "FAIL: $scen (log: $log)"; rc=1 ;;
esac
exit "$rc"
