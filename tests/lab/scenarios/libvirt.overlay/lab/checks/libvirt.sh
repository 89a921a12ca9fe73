# shellcheck shell=sh disable=SC2154 # sourced by l2-init.sh (result, lab_param, up)
# Checks of the guest that libvirt starts, selected by lab.checks=.
# libvirt 9.0's ch driver gives the guest no usable serial port: its console
# is a virtio-console on a PTY that nimbus opens (hvc0 here).

# Wait up to $2 tenths of a second for path $1 (devices appear as drivers bind).
lv_wait_for() {
    i=0
    while [ ! -e "$1" ] && [ "$i" -lt "$2" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ -e "$1" ]
}

check_hvc() { # from here on, the guest's output goes to hvc0 (libvirt's PTY)
    if ! lv_wait_for /dev/hvc0 50; then
        result hvc FAIL "no /dev/hvc0"
        return
    fi
    # Raw output: no \n -> \r\n, no echo of anything L1 writes back.
    stty -F /dev/hvc0 raw -echo 2>/dev/null
    exec >/dev/hvc0 2>&1
    echo "NIMBUS-L2-MARKER up=$up"
    echo "NIMBUS-L2-NPROC $(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
    echo "NIMBUS-L2-DATE $(date +%s)"
    result hvc PASS "console on hvc0"
}

check_lvdisk() { # vda (ext4): count this boot in boots.txt and sync
    lv_wait_for /dev/vda 50 || { result lvdisk FAIL "no /dev/vda"; return; }
    mkdir -p /mnt/vda
    mount -t ext4 /dev/vda /mnt/vda || { result lvdisk FAIL "cannot mount /dev/vda"; return; }
    n=1
    [ -f /mnt/vda/boots.txt ] && n=$(($(wc -l </mnt/vda/boots.txt) + 1))
    echo "boot $n nproc=$(nproc) kernel=$(uname -r)" >>/mnt/vda/boots.txt
    sync
    umount /mnt/vda
    echo "NIMBUS-L2-BOOT-COUNT $n"
    result lvdisk PASS "boot $n recorded on /dev/vda"
}
