# shellcheck shell=sh disable=SC2034 # the L2_* settings are for scenarios
# Helpers for L1-side scenario scripts (busybox sh); installed as /lab/lib.sh.
#
# l2_run LABEL CMD... runs one VMM invocation (guest console on its stdout)
# between the delimiters the host-side checks cut the log by:
#   NIMBUS-L2-BEGIN <label>
#   NIMBUS-L2-END <label> rc=<exit status> ms=<wall time in L1>

# LAB_ROOT: empty inside L1; the staging directory when run.sh runs a
# scenario directly on a host whose /dev/kvm runs stock guests.
L2_INITRD=${LAB_ROOT:-}/l2/initrd.gz # busybox + l2-init.sh
# L2 has L1's architecture.  L2_KERNEL: the stock kernel as its VMMs boot it.
case $(uname -m) in
    aarch64)
        L2_IMAGE=${LAB_ROOT:-}/l2/Image # arm64 Image (uncompressed, EFI stub)
        L2_KERNEL=$L2_IMAGE
        L2_CONSOLE=ttyAMA0 # PL011
        ;;
    *)
        L2_BZIMAGE=${LAB_ROOT:-}/l2/vmlinuz # the stock kernel, bzImage
        L2_VMLINUX=${LAB_ROOT:-}/l2/vmlinux # the same kernel as ELF with the PVH note
        L2_KERNEL=$L2_BZIMAGE
        L2_CONSOLE=ttyS0
        ;;
esac
L2_APPEND="console=$L2_CONSOLE panic=-1 quiet"
L2_TIMEOUT=${L2_TIMEOUT:-120} # seconds per VMM run; busybox timeout kills it

read -r LAB_CMDLINE </proc/cmdline
# Direct mode (no L1 kernel of ours): run.sh passes the lab.* words here.
LAB_CMDLINE="$LAB_CMDLINE ${LAB_CMDLINE_EXTRA:-}"

# lab_param NAME DEFAULT: value of lab.NAME= on L1's kernel command line.
lab_param() {
    for w in $LAB_CMDLINE; do
        case $w in "lab.$1="*) echo "${w#*=}"; return ;; esac
    done
    echo "$2"
}

# Milliseconds since boot; /proc/uptime has 10 ms resolution, which is
# enough here (busybox date has no %N).
lab_ms() {
    read -r up _ </proc/uptime
    frac=${up#*.}
    # "08"/"09" would be read as (invalid) octal: drop the leading zero.
    echo $((${up%.*} * 1000 + 10 * ${frac#0}))
}

l2_run() {
    label=$1
    shift
    echo "NIMBUS-L2-BEGIN $label"
    t0=$(lab_ms)
    # stdin from /dev/null: the VMM must not grab or re-mode L1's console.
    # SIGKILL: a VMM that exits 0 on SIGTERM (QEMU does) must not turn a
    # hang into a pass; a timeout shows as rc=137.
    timeout -s KILL "$L2_TIMEOUT" "$@" </dev/null 2>&1
    rc=$?
    echo "NIMBUS-L2-END $label rc=$rc ms=$(($(lab_ms) - t0))"
    return "$rc"
}

# lab_tcp_peers: the L1 ends of L2's check_net (virtio.overlay): port 5001
# serves a 4 MiB random file whose sha256 is LAB_NET_SHA (pass it to L2 as
# lab.net_sha=), port 5002 saves what L2 sends in /tmp/from-guest.bin.
lab_tcp_peers() {
    head -c 4194304 /dev/urandom >/tmp/to-guest.bin
    LAB_NET_SHA=$(sha256sum /tmp/to-guest.bin | cut -d' ' -f1)
    nc -l -p 5001 </tmp/to-guest.bin >/dev/null 2>&1 &
    # busybox nc ends when its stdin ends: keep the receiver's stdin open.
    sleep 600 | nc -l -p 5002 >/tmp/from-guest.bin 2>/dev/null &
}

# lab_vsock_peers: the L1 ends of L2's check_vsock (virtio.overlay) on
# nimbus's hybrid socket /tmp/vsock.sock: an echo server for the guest's
# connection to host port 5000, and a client that echoes through guest port
# 1234 once the guest listens; its result goes to /tmp/vsock-echo.txt (print
# it after the run: printed at once it would interleave with the guest's
# console lines).
lab_vsock_peers() {
    labvsock host-echo /tmp/vsock.sock_5000 >/dev/null 2>&1 &
    (
        i=0
        while [ "$i" -lt 240 ]; do # the guest gets there late on a loaded host
            if out=$(labvsock host-connect /tmp/vsock.sock 1234 ping-from-host 2>/dev/null); then
                echo "NIMBUS-L1-VSOCK-ECHO $out" >/tmp/vsock-echo.txt
                break
            fi
            sleep 1
            i=$((i + 1))
        done
    ) &
}

# lab_image_sha IMAGE PATH: the sha256 of PATH inside the ext4 IMAGE, which
# is mounted read-only on a loop device (status 1 when it cannot be).
lab_image_sha() {
    mnt=${LAB_ROOT:-}/mnt/image
    mkdir -p "$mnt"
    mount -o ro,loop "$1" "$mnt" || return 1
    sha256sum "$mnt/$2" 2>&1 | cut -d' ' -f1
    umount "$mnt"
}

# lab_cat FILE: FILE on stdout, ending with a newline even when FILE does
# not (a guest paused or killed mid-line leaves its serial file so), so
# that the section delimiter echoed next starts a line of its own — the
# host-side checks cut the log at "^--- ...".
lab_cat() {
    cat "$1" 2>/dev/null || return 0
    [ -s "$1" ] && [ "$(tail -c 1 "$1" | wc -l)" -eq 0 ] && echo
    return 0
}
