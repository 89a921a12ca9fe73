# shellcheck shell=sh disable=SC2154 # sourced by l2-init.sh (result, lab_param)
# check_netbench (bench-net): eth0 gets lab.guest_ip/24; ping lab.host_ip
# (round-trip time), then vbench TCP throughput guest -> host and host ->
# guest against L1's `vbench tcp-server` on port lab.bench_port, for
# lab.bench_secs seconds each.  Prints "VBENCH ..." lines for
# bench/virtio/run.sh.
check_netbench() {
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ -e /sys/class/net/eth0 ] || { result netbench FAIL "no eth0"; return; }
    ip link set eth0 up && ip addr add "$(lab_param guest_ip 192.168.249.2)/24" dev eth0 ||
        { result netbench FAIL "cannot configure eth0"; return; }
    # Negotiated virtio features, for reading the numbers (not a result).
    for d in /sys/bus/virtio/devices/*; do
        echo "VBENCH-INFO virtio device=$(cat "$d/device") features=$(cat "$d/features")"
    done
    host=$(lab_param host_ip 192.168.249.1) port=$(lab_param bench_port 5201)
    secs=$(lab_param bench_secs 5)
    # The first ping also waits out the link coming up and ARP.
    ping -c 1 -W 10 "$host" >/dev/null 2>&1
    if ! out=$(ping -c 10 -i 0.2 -W 5 "$host" 2>&1); then
        result netbench FAIL "ping $host: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
        return
    fi
    # busybox: "round-trip min/avg/max = 0.412/0.530/0.701 ms"
    avg=$(echo "$out" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p')
    echo "VBENCH ping avg_ms=${avg:-?}"
    for dir in send recv; do
        if ! out=$(vbench "tcp-$dir" "$host" "$port" "$secs" 2>&1); then
            result netbench FAIL "tcp-$dir: $out"
            return
        fi
        echo "$out"
    done
    result netbench PASS "secs=$secs"
}
