#!/bin/bash
# bench/boot-arm64/run.sh — nimbus's arm64 boot benchmark.
#
# Boot-to-init in the arm64 nested lab (tests/lab/run.sh bench-boot-arm64;
# directly on an aarch64 host whose /dev/kvm runs guests): the time from
# starting the VMM to the L2 /init marker line, booting Debian's stock arm64
# cloud kernel (the Image) + the lab initramfs with 2 vCPUs and 512 MiB,
# nimbus (aarch64 build) against `qemu-system-aarch64 -accel kvm -M
# virt,gic-version=3 -cpu host` in the same L1, alternating, N runs each.
# The result is the ratio of the medians (nimbus / QEMU), with the ranges.
#
# Builds nothing of nimbus.  Settings (environment):
#   NIMBUS_BIN_AARCH64   aarch64 nimbus (default <repo>/build-aarch64/nimbus)
#   NIMBUS_BENCH_RUNS    runs per VMM (default 5, at least 5 counts)
#   NIMBUS_BENCH_OUT     summary file (default /tmp/nimbus-bench/boot-arm64.txt)
#   NIMBUS_LAB_OUT       lab logs (default /tmp/nimbus-lab), as tests/lab
# Exit status: 0 every run reached /init and exited 0, 1 a failure, 2 usage,
# 77 skipped (the lab could not run, with the reason).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)
case ${1:-} in
    "") ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0" >&2; exit 2 ;;
esac

die() { echo "bench/boot-arm64: error: $*" >&2; exit 1; }
runs=${NIMBUS_BENCH_RUNS:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "NIMBUS_BENCH_RUNS=$runs is not a positive number"
out_file=${NIMBUS_BENCH_OUT:-/tmp/nimbus-bench/boot-arm64.txt}
NIMBUS_BIN_AARCH64=${NIMBUS_BIN_AARCH64:-$REPO/build-aarch64/nimbus}
[[ -f $NIMBUS_BIN_AARCH64 && -x $NIMBUS_BIN_AARCH64 ]] ||
    die "aarch64 nimbus '$NIMBUS_BIN_AARCH64' not found: cross-build it into build-aarch64 or set NIMBUS_BIN_AARCH64"
NIMBUS_BIN_AARCH64=$(realpath "$NIMBUS_BIN_AARCH64")
export NIMBUS_BIN_AARCH64

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../lib.sh
. "$REPO/bench/lib.sh"

# shellcheck disable=SC2034 # read and set by bench_boot_lab and bench_report
summary=() raw=() failed=0 ran=0
# shellcheck disable=SC2034
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench_boot_lab bench-boot-arm64 "$runs"
qemu_version=$(apt-cache show --no-all-versions qemu-system-arm:arm64 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
bench_report "$out_file" "nimbus arm64 boot benchmark" \
    "nimbus: $NIMBUS_BIN_AARCH64 ($(file -b "$NIMBUS_BIN_AARCH64" 2>/dev/null | cut -d, -f1-2)); peer: Debian's qemu-system-arm:arm64 ${qemu_version:-?} in L1" \
    "ms in L1 from starting the VMM to the L2 marker, 10 ms resolution"
