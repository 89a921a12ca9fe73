# shellcheck shell=sh disable=SC2154 # sourced by l2-init.sh (result, lab_param)
# check_counter: never returns. Every 0.5 s prints
#   NIMBUS-L2-COUNTER <n> <epoch seconds> disk=<ok|fail|none>
# after writing the line to the first sector of /dev/vda (synced), so the
# guest keeps the disk busy across the snapshot.
check_counter() {
    n=0
    while :; do
        n=$((n + 1))
        disk=none
        if [ -b /dev/vda ]; then
            if echo "counter $n" | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null; then
                disk=ok
            else
                disk=fail
            fi
        fi
        echo "NIMBUS-L2-COUNTER $n $(date +%s) disk=$disk"
        sleep 0.5
    done
}
