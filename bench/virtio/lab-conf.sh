# shellcheck shell=bash disable=SC2034 # settings read by tests/lab/run.sh
# Shared part of tests/lab/scenarios/bench-{blk,net}.conf (sourced by them,
# on the host, with LAB_DIR and LAB_CACHE set; runs under set -euo pipefail).
#
# Builds bench/virtio/vbench.c static and lays out one L2 overlay holding it
# (/bin/vbench) and the guest checks of both scenarios, so both share one L2
# initramfs (and L1 base).  The overlay lives in the cache under a name
# derived from its inputs: an unchanged tool reuses the cached initramfs.
LAB_NEEDS_NIMBUS=1
# Dependencies first (from each module's depends=).
NIMBUS_LAB_L2_MODULES="evdev button virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
virtio_pci virtio_blk failover net_failover virtio_net"
NIMBUS_LAB_L2_MODULES=${NIMBUS_LAB_L2_MODULES//$'\n'/ }

lab_bench_src=$LAB_DIR/../../bench/virtio/vbench.c
lab_bench_checks=("$LAB_DIR"/scenarios/bench-blk.overlay "$LAB_DIR"/scenarios/bench-net.overlay)
command -v cc >/dev/null || lab_die "bench: cc is needed to build bench/virtio/vbench.c"
lab_bench_key=$({
    cat "$lab_bench_src"
    find "${lab_bench_checks[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 cat
    cc --version | head -n1
} | sha256sum | cut -c1-16)
lab_bench_dir=$LAB_CACHE/bench-virtio
lab_bench_ov=$lab_bench_dir/overlay-$lab_bench_key
if [[ ! -e $lab_bench_ov.done ]]; then
    lab_log "bench: building vbench (static) and the L2 overlay"
    rm -rf "$lab_bench_dir" && mkdir -p "$lab_bench_ov/bin"
    cc -static -O2 -Wall -Wextra -std=gnu11 -o "$lab_bench_ov/bin/vbench" "$lab_bench_src" ||
        lab_die "bench: cannot build $lab_bench_src statically (glibc's libc.a: libc6-dev)"
    for d in "${lab_bench_checks[@]}"; do cp -r "$d/." "$lab_bench_ov/"; done
    # Fixed mtimes: the initramfs cache key includes them.
    find "$lab_bench_ov" -exec touch -h -d @1 {} +
    touch "$lab_bench_ov.done"
fi
NIMBUS_LAB_L2_OVERLAY=$lab_bench_ov
NIMBUS_LAB_FILES="${NIMBUS_LAB_FILES:-} $lab_bench_ov/bin/vbench:/usr/bin/vbench"
