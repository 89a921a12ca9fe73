#!/bin/bash
# bench/boot/run.sh [--native-only | --lab-only] — nimbus's boot benchmark.
#
# Two measurements, each a ratio of medians against QEMU measured in the same
# run (absolute times depend on the machine; the ratio is the result):
#
#  native   time from exec of the VMM to the first byte the guest writes to
#           COM1 arriving on the VMM's stdout: a tiny PVH guest
#           (tiny-pvh.S) on the host's /dev/kvm, nimbus against
#           `qemu-system-x86_64 -M microvm`, alternating, after one untimed
#           warm-up run each.  Timer: first_byte.c.
#  lab      time from starting the VMM to the L2 /init marker line, booting
#           the stock Debian cloud kernel + the lab initramfs with 2 vCPUs and
#           512 MiB, nimbus against QEMU microvm in the same L1 of the nested
#           lab (tests/lab/run.sh bench-boot; directly on a host whose
#           /dev/kvm runs stock guests).
#
# Builds nothing of nimbus: NIMBUS_BIN (default build/nimbus in the repo).
# Settings (environment):
#   NIMBUS_BIN                 nimbus binary (default <repo>/build/nimbus)
#   NIMBUS_BENCH_RUNS          lab runs per VMM (default 5, at least 5 counts)
#   NIMBUS_BENCH_NATIVE_RUNS   native runs per VMM (default 11)
#   NIMBUS_BENCH_OUT           summary file (default /tmp/nimbus-bench/boot.txt)
#   NIMBUS_LAB_OUT             lab logs (default /tmp/nimbus-lab), as tests/lab
# Exit status: 0 every part that ran succeeded, 1 a part failed, 2 usage,
# 77 every requested part was skipped.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)

usage() {
    echo "usage: $0 [--native-only | --lab-only]" >&2
    exit 2
}
do_native=1 do_lab=1
case ${1:-} in
    "") ;;
    --native-only) do_lab=0 ;;
    --lab-only) do_native=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
esac
[[ $# -le 1 ]] || usage

die() { echo "bench/boot: error: $*" >&2; exit 1; }
say() { echo "bench/boot: $*" >&2; }

lab_runs=${NIMBUS_BENCH_RUNS:-5}
native_runs=${NIMBUS_BENCH_NATIVE_RUNS:-11}
[[ $lab_runs =~ ^[1-9][0-9]*$ ]] || die "NIMBUS_BENCH_RUNS=$lab_runs is not a positive number"
[[ $native_runs =~ ^[1-9][0-9]*$ ]] || die "NIMBUS_BENCH_NATIVE_RUNS=$native_runs is not a positive number"
out_file=${NIMBUS_BENCH_OUT:-/tmp/nimbus-bench/boot.txt}

NIMBUS_BIN=${NIMBUS_BIN:-$REPO/build/nimbus}
[[ -f $NIMBUS_BIN && -x $NIMBUS_BIN ]] ||
    die "nimbus binary '$NIMBUS_BIN' not found or not executable: build it first (cmake -S . -B build && make -C build nimbus) or set NIMBUS_BIN"
NIMBUS_BIN=$(realpath "$NIMBUS_BIN")
export NIMBUS_BIN

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib.sh
. "$REPO/bench/lib.sh"
fmt_ms() { fmt "$@"; }

summary=() # headline lines
raw=()     # per-run lines for the results file
# shellcheck disable=SC2034 # read by bench_report
failed=0 ran=0

# --- native: tiny PVH guest, exec to first byte --------------------------------
native_skip() {
    summary+=("first-instruction (native): skipped: $1")
    echo "native part skipped: $1"
}

# shellcheck disable=SC2034 # ran and failed are read by bench_report
run_native() {
    [[ -e /dev/kvm ]] || { native_skip "/dev/kvm is absent"; return; }
    [[ -r /dev/kvm && -w /dev/kvm ]] || { native_skip "/dev/kvm is not readable and writable by $(id -un)"; return; }
    command -v qemu-system-x86_64 >/dev/null || { native_skip "qemu-system-x86_64 is not installed (the peer)"; return; }
    local tool
    for tool in cc gcc ld; do
        command -v "$tool" >/dev/null || { native_skip "$tool is not installed"; return; }
    done

    cc -O2 -Wall -Wextra -std=c11 -o "$tmp/first_byte" "$BENCH_DIR/first_byte.c" ||
        die "cannot compile first_byte.c"
    gcc -c "$BENCH_DIR/tiny-pvh.S" -o "$tmp/tiny-pvh.o" || die "cannot assemble tiny-pvh.S"
    ld -static -nostdlib -no-pie --build-id=none -T "$BENCH_DIR/tiny-pvh.ld" \
        "$tmp/tiny-pvh.o" -o "$tmp/tiny.elf" || die "cannot link tiny.elf"

    local -a nimbus_cmd=("$NIMBUS_BIN" --kernel "$tmp/tiny.elf" --memory size=64M --serial tty)
    # microvm boots a PVH ELF given as -kernel (its qboot firmware jumps to
    # the note's entry); -no-reboot turns the triple fault into an exit.
    local -a qemu_cmd=(qemu-system-x86_64 -accel kvm -M microvm -nodefaults -nographic
        -serial stdio -no-reboot -m 64 -kernel "$tmp/tiny.elf")

    # one VMM LABEL RUN: run it under first_byte; appends the time to
    # $tmp/native-LABEL.ms when the run is good (byte 'N', status 0).
    one() {
        local vmm=$1 run=$2 line fb rc
        local -a cmd
        if [[ $vmm = nimbus ]]; then cmd=("${nimbus_cmd[@]}"); else cmd=("${qemu_cmd[@]}"); fi
        line=$("$tmp/first_byte" -t 20 -o "$tmp/console" -- "${cmd[@]}" 2>"$tmp/stderr") || true
        [[ $run = warmup ]] && return 0
        raw+=("native $vmm $run $line")
        fb=$(sed -n 's/.*first_byte_ms=\([-0-9.]*\).*/\1/p' <<<"$line")
        rc=$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<<"$line")
        if [[ $line != *"byte=0x4e "* || $rc != 0 || -z $fb ]]; then
            echo "native $vmm run $run FAILED: ${line:-no result}" >&2
            sed 's/^/  console| /' "$tmp/console" | head -n 20 >&2
            sed 's/^/  stderr| /' "$tmp/stderr" | head -n 20 >&2
            native_failed=1
            return 0
        fi
        echo "$fb" >>"$tmp/native-$vmm.ms"
    }

    say "native: $native_runs runs each of nimbus and qemu-microvm (tiny PVH guest, /dev/kvm)"
    local native_failed=0 i
    : >"$tmp/native-nimbus.ms"
    : >"$tmp/native-qemu-microvm.ms"
    one nimbus warmup
    one qemu-microvm warmup
    # Alternate, and swap who goes first every run so neither always runs on
    # a cache the other just warmed.
    for ((i = 1; i <= native_runs; i++)); do
        if ((i % 2)); then
            one nimbus "$i"
            one qemu-microvm "$i"
        else
            one qemu-microvm "$i"
            one nimbus "$i"
        fi
    done
    ran=1
    local n_ok q_ok mn mq
    n_ok=$(wc -l <"$tmp/native-nimbus.ms")
    q_ok=$(wc -l <"$tmp/native-qemu-microvm.ms")
    if [[ $native_failed != 0 || $n_ok != "$native_runs" || $q_ok != "$native_runs" ]]; then
        failed=1
        summary+=("first-instruction (native): FAILED ($n_ok/$native_runs nimbus, $q_ok/$native_runs qemu runs good)")
    fi
    if ((n_ok > 0 && q_ok > 0)); then
        mn=$(median <"$tmp/native-nimbus.ms")
        mq=$(median <"$tmp/native-qemu-microvm.ms")
        summary+=("first-instruction (native /dev/kvm, tiny PVH guest, $native_runs runs): nimbus median $(fmt_ms "$mn" 3) ms, qemu-microvm median $(fmt_ms "$mq" 3) ms, ratio nimbus/qemu = $(ratio "$mn" "$mq")")
        summary+=("  (range: nimbus $(range 3 <"$tmp/native-nimbus.ms") ms, qemu-microvm $(range 3 <"$tmp/native-qemu-microvm.ms") ms)")
    fi
}

# shellcheck disable=SC2034 # bench_report's
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
[[ $do_native = 1 ]] && run_native
[[ $do_lab = 1 ]] && bench_boot_lab bench-boot "$lab_runs"

nimbus_version=$("$NIMBUS_BIN" --version 2>/dev/null | head -n1 || true)
qemu_version=$(qemu-system-x86_64 --version 2>/dev/null | head -n1 || true)
bench_report "$out_file" "nimbus boot benchmark" \
    "nimbus: ${nimbus_version:-?} ($NIMBUS_BIN); peer: ${qemu_version:-qemu not found}" \
    "native: ms from exec to the first console byte; lab: ms in L1, 10 ms resolution"
