# shellcheck shell=bash
# Host-side assertions on an L1 console log, sourced by scenarios/*.check.sh
# with the log path as $1.  Each assertion prints PASS: or FAIL:; lab_finish
# exits 0 (all passed), 1 (a failure) or 77 (lab_skip was called).
#
# NIMBUS_LAB_HOSTDATE (set by run.sh): host epoch when L1 started.

LAB_LOG=${1:?usage: $0 L1-CONSOLE-LOG}
LAB_FAILS=0
LAB_PASSES=0
# The serial console and L1's tty both add \r: strip once, match plain text.
LAB_TEXT=$(tr -d '\r' <"$LAB_LOG")

pass() { echo "PASS: $*"; LAB_PASSES=$((LAB_PASSES + 1)); }
fail() { echo "FAIL: $*"; LAB_FAILS=$((LAB_FAILS + 1)); }
lab_skip() { echo "SKIP: $*"; exit 77; }
lab_finish() {
    ((LAB_PASSES + LAB_FAILS)) || fail "no assertion ran"
    ((LAB_FAILS == 0))
}

# first_value PATTERN TEXT: the first capture of sed regex PATTERN in TEXT.
first_value() { sed -n "s/$1/\\1/p" <<<"$2" | head -n1; }

# L1 booted, got /dev/kvm, and the scenario ran to its end.
expect_l1() {
    local up err done_rc
    err=$(grep -o 'NIMBUS-L1-ERROR.*' <<<"$LAB_TEXT" || true)
    [[ -z $err ]] || fail "L1: $err"
    up=$(first_value '.*NIMBUS-L1-READY up=\([0-9.]*\).*' "$LAB_TEXT")
    if [[ -n $up ]]; then pass "L1 ready, /dev/kvm present (L1 up=${up} s)"; else fail "L1 never became ready"; fi
    done_rc=$(first_value '.*NIMBUS-L1-DONE rc=\([0-9]*\).*' "$LAB_TEXT")
    [[ -n $done_rc ]] || fail "L1 scenario did not finish (timeout or crash)"
}

# l2_section LABEL: the log lines of one l2_run, BEGIN to END inclusive.
l2_section() {
    awk -v b="NIMBUS-L2-BEGIN $1" -v e="NIMBUS-L2-END $1 " '
        index($0, b) { p = 1 } p { print } p && index($0, e) { exit }' <<<"$LAB_TEXT"
}

# expect_l2_boot LABEL NPROC [RC]: the guest of run LABEL reached /init, saw
# NPROC CPUs and a date within a day of the host's, its checks passed, and
# the VMM exited with RC (default 0) once the guest rebooted.
expect_l2_boot() {
    local label=$1 nproc=$2 want_rc=${3:-0} sec v end rc ms now
    sec=$(l2_section "$label")
    if [[ -z $sec ]]; then
        fail "$label: did not run"
        return
    fi
    v=$(first_value '.*NIMBUS-L2-MARKER up=\([0-9.]*\).*' "$sec")
    if [[ -n $v ]]; then pass "$label: L2 reached /init (L2 up=$v s)"; else fail "$label: no L2 marker"; fi
    v=$(first_value '.*NIMBUS-L2-NPROC \([0-9]*\).*' "$sec")
    if [[ $v = "$nproc" ]]; then pass "$label: $v CPUs"; else fail "$label: CPUs '${v}', want $nproc"; fi
    v=$(first_value '.*NIMBUS-L2-DATE \([0-9]*\).*' "$sec")
    now=${NIMBUS_LAB_HOSTDATE:-$(date +%s)}
    if [[ -n $v ]] && ((v - now < 86400 && now - v < 86400)); then
        pass "$label: guest date $v within a day of host $now"
    else
        fail "$label: guest date '${v}' not within a day of host $now"
    fi
    while read -r v; do
        [[ -z $v ]] || fail "$label: check $v"
    done < <(sed -n 's/.*NIMBUS-L2-CHECK \(.* FAIL.*\)/\1/p' <<<"$sec")
    while read -r v; do
        [[ -z $v ]] || pass "$label: check $v"
    done < <(sed -n 's/.*NIMBUS-L2-CHECK \(.* PASS.*\)/\1/p' <<<"$sec")
    end=$(grep -o "NIMBUS-L2-END $label rc=.*" <<<"$sec" || true)
    if [[ -z $end ]]; then
        fail "$label: VMM never returned"
        return
    fi
    rc=$(first_value '.* rc=\([0-9]*\).*' "$end")
    ms=$(first_value '.* ms=\([0-9]*\).*' "$end")
    if [[ $rc = "$want_rc" ]]; then
        pass "$label: VMM exit status $rc (${ms} ms)"
    else
        fail "$label: VMM exit status $rc, want $want_rc (${ms} ms)"
    fi
}

# expect_same WHAT TAG_A TAG_B: the values after the first NIMBUS-TAG_A and
# NIMBUS-TAG_B lines (a checksum L2 printed and the one L1 computed, say)
# are there and equal.
expect_same() {
    local what=$1 a b
    a=$(first_value ".*NIMBUS-$2 \([0-9a-f]*\).*" "$LAB_TEXT")
    b=$(first_value ".*NIMBUS-$3 \([0-9a-f]*\).*" "$LAB_TEXT")
    if [[ -n $a && $a = "$b" ]]; then
        pass "$what ($a)"
    else
        fail "$what: $2 '$a', $3 '$b'"
    fi
}

# expect_console_vsock: L2's line on /dev/hvc0 reached nimbus's console
# file and L1's echo through the guest's vsock port came back (the L1 side
# prints NIMBUS-L1-HVC and NIMBUS-L1-VSOCK-ECHO; see lab_vsock_peers).
expect_console_vsock() {
    if grep -q "NIMBUS-L1-HVC NIMBUS-HVC-HELLO from L2" <<<"$LAB_TEXT"; then
        pass "virtio-console output reached nimbus's file backend"
    else
        fail "virtio-console: $(grep -o 'NIMBUS-L1-HVC.*' <<<"$LAB_TEXT" || echo 'no output file')"
    fi
    if grep -q "NIMBUS-L1-VSOCK-ECHO ping-from-host" <<<"$LAB_TEXT"; then
        pass "vsock: host -> guest echo through the hybrid socket"
    else
        fail "vsock: no host -> guest echo"
    fi
}

# expect_checks NAME...: each named L2 check ran and passed (expect_l2_boot
# reports failed ones; this catches checks that never ran).
expect_checks() {
    local c
    for c; do
        grep -q "NIMBUS-L2-CHECK $c PASS" <<<"$LAB_TEXT" || fail "check $c did not pass"
    done
}
