# shellcheck shell=sh disable=SC2154 # sourced by l2-init.sh (result, lab_param)
# check_blkbench (bench-blk): vbench on the raw /dev/vda, O_DIRECT, queue
# depth 1: sequential write and read in 1 MiB requests, random write and read
# in 4 KiB requests, lab.bench_secs seconds each.  Prints vbench's
# "VBENCH blk ..." lines; bench/virtio/run.sh takes them from the console.
check_blkbench() {
    i=0
    while [ ! -b /dev/vda ] && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ -b /dev/vda ] || { result blkbench FAIL "no /dev/vda"; return; }
    # Negotiated virtio features, for reading the numbers (not a result).
    for d in /sys/bus/virtio/devices/*; do
        echo "VBENCH-INFO virtio device=$(cat "$d/device") features=$(cat "$d/features")"
    done
    secs=$(lab_param bench_secs 5)
    for t in "seqwrite 1048576" "seqread 1048576" "randwrite 4096" "randread 4096"; do
        # shellcheck disable=SC2086 # two words on purpose
        set -- $t
        if ! out=$(vbench blk "$1" /dev/vda "$2" "$secs" 2>&1); then
            result blkbench FAIL "$1: $out"
            return
        fi
        echo "$out"
    done
    result blkbench PASS "secs=$secs"
}
