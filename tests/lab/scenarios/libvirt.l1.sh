#!/bin/sh
# libvirt (L1 side): libvirt 9.0's "ch" driver drives nimbus through the
# `cloud-hypervisor` shim and nimbus's REST API.  virtchd runs with its
# private prefix (lab.libvirt=); `virsh -c ch:///system` defines a domain
# (kernel + initramfs + an ext4 disk + 2 vCPUs + a PTY virtio console),
# starts it, lists and inspects it, suspends and resumes it, shuts it down
# (the guest waits for the ACPI power button), starts it again, destroys and
# undefines it.  The guest counts its boots on its disk and, from its init
# onwards, writes its console to hvc0, which L1 reads from libvirt's PTY.
#
# Lines: NIMBUS-VIRSH <step> rc=<rc> ms=<ms> <command>: <output, lines joined by " | ">
#        NIMBUS-L1-STATE <step> <nimbus's own vm.info state>
#        NIMBUS-L2-BEGIN/END libvirt-boot<N> around the guest's console
#        (END rc=0: the VMM behaved as that boot expects, see below)
# libvirt 9.0 driver bugs worked around here (tests/libvirt/README.md):
#  - `destroy` of a defined domain also forgets its definition: define again;
#  - after `shutdown` the domain stays "in shutdown" for ever (the driver
#    never sees the VM stop): `destroy` it before starting it again;
#  - `undefine` leaves a "shut off" transient ghost in `list --all`.
# shellcheck source=../l1-lib.sh
. "${LAB_ROOT:-}/lab/lib.sh"
LV=$(lab_param libvirt "")
if [ -z "$LV" ] || [ ! -x "$LV/sbin/virtchd" ]; then
    echo "NIMBUS-L1-ERROR no libvirt install (lab.libvirt='$LV')"
    exit 1
fi
export HOME=/tmp
DOM=nimbus-l2
SOCK=$LV/var/run/libvirt/ch/$DOM-socket
rc=0
[ -e /dev/pts/ptmx ] || { mkdir -p /dev/pts && mount -t devpts devpts /dev/pts; }

# The shim, with nimbus next to it (its fallback when no path is baked in).
bindir=/tmp/lvbin
mkdir -p "$bindir"
cp "${LAB_ROOT:-}/lab/cloud-hypervisor" "$bindir/cloud-hypervisor"
chmod 0755 "$bindir/cloud-hypervisor"
ln -sf "$(command -v nimbus)" "$bindir/nimbus"

# virtchd: stdin /dev/null (libvirt 9.0 sends the daemon's stdin as the body
# of its body-less PUTs); the shim's extra arguments give nimbus a log, as
# libvirt throws the VMM's stdout/stderr away.
# Fresh runtime state (the pidfile and sockets live under the prefix).
rm -rf "$LV/var/run/libvirt" "$LV/var/run/virtchd.pid"
mkdir -p "$LV/var/run"
PATH=$bindir:$PATH NIMBUS_CH_SHIM_ARGS="-vv --log-file /tmp/nimbus.log" \
    LIBVIRT_LOG_OUTPUTS="1:file:/tmp/virtchd.log" \
    LIBVIRT_LOG_FILTERS="1:ch 3:remote 3:util 3:rpc 3:conf 3:object 3:event 3:daemon" \
    "$LV/sbin/virtchd" </dev/null >/tmp/virtchd.out 2>&1 &
virtchd=$!

# lv STEP ARGS...: one virsh command, one line with its status and output.
lv() {
    step=$1
    shift
    lt0=$(lab_ms)
    out=$("$LV/bin/virsh" -c ch:///system "$@" 2>&1)
    vrc=$?
    out=$(printf '%s\n' "$out" | sed '/^ *$/d; s/  */ /g' | tr '\n' '|' | sed 's/|$//; s/|/ | /g')
    echo "NIMBUS-VIRSH $step rc=$vrc ms=$(($(lab_ms) - lt0)) $*: $out"
    return "$vrc"
}
# state STEP: the VM's state as nimbus itself reports it (vm.info), behind
# libvirt's back.
state() {
    if command -v nimbus-remote >/dev/null; then
        s=$(nimbus-remote --api-socket "$SOCK" info 2>&1 | sed -n 's/.*"state" *: *"\([A-Za-z]*\)".*/\1/p')
        echo "NIMBUS-L1-STATE $1 ${s:-unreachable}"
    else
        s=unknown
        echo "NIMBUS-L1-STATE $1 unknown (no nimbus-remote)"
    fi
}
# wait_for FILE TEXT SECONDS
wait_for() {
    w=0
    until grep -q "$2" "$1" 2>/dev/null || [ "$w" -ge "$3" ]; do
        sleep 1
        w=$((w + 1))
    done
    grep -q "$2" "$1" 2>/dev/null
}
# console N: read the domain's PTY (libvirt learnt its path from vm.info).
console() {
    pty=$("$LV/bin/virsh" -q -c ch:///system ttyconsole "$DOM" 2>&1)
    echo "NIMBUS-L1-PTY boot$1 $pty"
    : >"/tmp/console$1.txt"
    case $pty in
        /dev/pts/*)
            stty -F "$pty" raw -echo 2>/dev/null
            cat "$pty" >"/tmp/console$1.txt" 2>/dev/null &
            ;;
    esac
}
# section N RC T0: the guest's console between the markers the checks cut by.
section() {
    echo "NIMBUS-L2-BEGIN libvirt-boot$1"
    tr -d '\r' <"/tmp/console$1.txt"
    echo "NIMBUS-L2-END libvirt-boot$1 rc=$2 ms=$(($(lab_ms) - $3))"
}
nimbus_log() {
    echo "--- nimbus log ($1, last lines)"
    tail -n 25 /tmp/nimbus.log 2>&1
}

w=0
until "$LV/bin/virsh" -q -c ch:///system uri >/dev/null 2>&1 || [ "$w" -ge 60 ]; do
    kill -0 "$virtchd" 2>/dev/null || break
    sleep 1
    w=$((w + 1))
done
lv version version || {
    echo "NIMBUS-L1-ERROR virtchd did not come up: $(tail -n 5 /tmp/virtchd.out | tr '\n' '|')"
    grep -E 'error' /tmp/virtchd.log | tail -n 10
    exit 1
}

cat >/tmp/$DOM.xml <<EOF
<domain type='kvm'>
  <name>$DOM</name>
  <uuid>6e696d62-7573-4c61-6276-697274000001</uuid>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <os>
    <type>hvm</type>
    <kernel>$L2_BZIMAGE</kernel>
    <initrd>$L2_INITRD</initrd>
    <cmdline>$L2_APPEND lab.action=powerbutton lab.checks=hvc,lvdisk,cpus,dmesg</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <source file='${LAB_ROOT:-}/lab/disk.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <console type='pty'><target type='virtio'/></console>
  </devices>
</domain>
EOF

# --- boot 1: start, inspect, suspend/resume, shutdown (ACPI) ------------------
lv define1 define "/tmp/$DOM.xml" || rc=1
t0=$(lab_ms)
lv start1 start "$DOM" || rc=1
console 1
lv list1 list
lv dominfo1 dominfo "$DOM"
lv vcpuinfo1 vcpuinfo "$DOM"
pid=$("$LV/bin/virsh" -q -c ch:///system domid "$DOM" 2>/dev/null)
echo "NIMBUS-L1-VMM-ARGV $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>&1)"
echo "NIMBUS-L1-VMM-ENV $(tr '\0' '\n' <"/proc/$pid/environ" 2>&1 | grep -E '^(NIMBUS|PATH)' | tr '\n' ' ')"
echo "NIMBUS-L1-THREADS pid=$pid $(cat "/proc/$pid/task/"*/comm 2>/dev/null | tr '\n' ' ')"
state running1
boot1=1
if ! wait_for /tmp/console1.txt NIMBUS-L2-WAITING-POWER-BUTTON "$L2_TIMEOUT"; then
    echo "NIMBUS-L1-ERROR boot 1: the guest never reached its power-button wait"
    boot1=0
fi
lv suspend suspend "$DOM"
lv domstate-paused domstate "$DOM"
state paused
lv resume resume "$DOM"
lv domstate-resumed domstate "$DOM"
state resumed
lv shutdown shutdown "$DOM"
# The guest powers off once it sees the power button; nimbus then reports
# the VM shut down (and stays, as cloud-hypervisor does).
w=0
while [ "$w" -lt 60 ]; do
    state "shutdown-$w" >/tmp/state.txt
    grep -q ' Shutdown' /tmp/state.txt && break
    sleep 1
    w=$((w + 1))
done
cat /tmp/state.txt
grep -q ' Shutdown' /tmp/state.txt || boot1=0
grep -q NIMBUS-L2-POWER-BUTTON /tmp/console1.txt || boot1=0
lv domstate-shutdown domstate "$DOM" # libvirt 9.0: "in shutdown", for ever
nimbus_log boot1
lv destroy1 destroy "$DOM" # ends nimbus (and, a 9.0 bug, the definition)
kill -0 "$pid" 2>/dev/null && { echo "NIMBUS-L1-ERROR nimbus $pid still runs after destroy"; boot1=0; }
lv list-after-destroy1 list --all
section 1 $((1 - boot1)) "$t0"

# --- boot 2: start again, destroy a running guest -------------------------------
lv define2 define "/tmp/$DOM.xml" || rc=1
t0=$(lab_ms)
lv start2 start "$DOM" || rc=1
console 2
pid=$("$LV/bin/virsh" -q -c ch:///system domid "$DOM" 2>/dev/null)
boot2=1
wait_for /tmp/console2.txt NIMBUS-L2-WAITING-POWER-BUTTON "$L2_TIMEOUT" || boot2=0
lv list2 list
state running2
nimbus_log boot2
lv destroy2 destroy "$DOM"
kill -0 "$pid" 2>/dev/null && { echo "NIMBUS-L1-ERROR nimbus $pid still runs after destroy"; boot2=0; }
section 2 $((1 - boot2)) "$t0"

# --- undefine ---------------------------------------------------------------------
lv define3 define "/tmp/$DOM.xml" || rc=1
lv list3 list --all
lv undefine undefine "$DOM" || rc=1
lv list-after-undefine list --all # 9.0: a "shut off" ghost stays listed

# What the guest wrote on its disk.
mnt=/tmp/mnt
mkdir -p "$mnt"
if mount -o ro,loop "${LAB_ROOT:-}/lab/disk.img" "$mnt"; then
    echo "NIMBUS-L1-BOOTS $(tr '\n' ';' <"$mnt/boots.txt" 2>&1)"
    umount "$mnt"
else
    echo "NIMBUS-L1-ERROR cannot mount the guest's disk image"
    rc=1
fi

kill "$virtchd" 2>/dev/null
wait "$virtchd" 2>/dev/null
echo "--- virtchd errors (last)"
grep ' error : ' /tmp/virtchd.log | grep -v 'not supported by the connection driver' | tail -n 15
exit "$rc"
