#!/usr/bin/env bash
# The nimbus binary against bad and good command lines.
#
#   cli_errors.sh NIMBUS_BINARY VERSION
#
# Every bad input must end nimbus with exit status 1 (not a signal), print
# exactly one line on stderr starting "nimbus: error: " that names the
# offending option or value, print nothing on stdout, and finish promptly.
# None of the inputs reaches /dev/kvm.
set -u

nimbus=${1:?usage: cli_errors.sh NIMBUS_BINARY VERSION}
version=${2:?usage: cli_errors.sh NIMBUS_BINARY VERSION}
export LC_ALL=C

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A regular, readable file that is not a kernel.
notkernel=$tmp/notakernel
if [ -r /etc/hostname ]; then
  cp /etc/hostname "$notkernel"
else
  echo "localhost" >"$notkernel"
fi

failures=0
cases=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run ARGS...: run nimbus (5 s limit, no stdin), leaving rc/out/err behind.
run() {
  timeout -k 2 5 "$nimbus" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
}

# bad NEEDLE... -- ARGS...: nimbus ARGS must fail as described above, with every
# NEEDLE (a fixed string) in its error line.
bad() {
  local needles=()
  while [ "$1" != "--" ]; do
    needles+=("$1")
    shift
  done
  shift
  cases=$((cases + 1))
  local what="nimbus $*"
  run "$@"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail "$what: did not finish within 5 s"
    return
  fi
  if [ "$rc" -ge 128 ]; then
    fail "$what: killed by signal $((rc - 128))"
    return
  fi
  [ "$rc" -eq 1 ] || fail "$what: exit status $rc, expected 1"
  [ -s "$tmp/out" ] && fail "$what: wrote to stdout: $(head -c 200 "$tmp/out")"
  local lines
  lines=$(wc -l <"$tmp/err")
  local chars
  chars=$(wc -c <"$tmp/err")
  if [ "$lines" -ne 1 ] || [ "$(tail -c 1 "$tmp/err" | od -An -c | tr -d ' ')" != '\n' ]; then
    fail "$what: expected exactly one line on stderr, got $lines line(s), $chars byte(s):"
    sed 's/^/    | /' "$tmp/err" | head -20
    return
  fi
  local line
  line=$(cat "$tmp/err")
  case "$line" in
    "nimbus: error: "?*) ;;
    *) fail "$what: stderr does not start with 'nimbus: error: ': $line" ;;
  esac
  local n
  for n in "${needles[@]}"; do
    case "$line" in
      *"$n"*) ;;
      *) fail "$what: error does not mention '$n': $line" ;;
    esac
  done
}

# ---- the payload -------------------------------------------------------------
bad "$tmp/no-such-kernel" -- --kernel "$tmp/no-such-kernel"
bad "$tmp" -- --kernel "$tmp"
# A regular file that is not a kernel (the machine's payload check).
bad "$notkernel" -- --kernel "$notkernel"
bad "--kernel" -- --cpus boot=2
bad "--kernel" -- --memory size=1G --serial null
bad "--kernel" --
bad "--kernel" -- --kernel
bad "$tmp/no-initrd" -- --kernel "$notkernel" --initramfs "$tmp/no-initrd"

# ---- sizes -------------------------------------------------------------------
bad "--memory" "12Q" -- --kernel "$notkernel" --memory size=12Q
bad "--memory" "'0'" -- --kernel "$notkernel" --memory size=0
bad "memory size" "too small" -- --kernel "$notkernel" --memory size=1K
bad "--memory" "99999999999999999999T" -- --kernel "$notkernel" --memory size=99999999999999999999T
bad "--memory" "hugepage_size" -- --kernel "$notkernel" --memory size=1G,hugepage_size=2M

# ---- vCPUs -------------------------------------------------------------------
bad "--cpus" "boot=0" -- --kernel "$notkernel" --cpus boot=0
bad "--cpus" "100000" -- --kernel "$notkernel" --cpus boot=100000
bad "--cpus" "max=2" -- --kernel "$notkernel" --cpus boot=4,max=2
bad "--cpus" "boot=two" -- --kernel "$notkernel" --cpus boot=two

# ---- option syntax -----------------------------------------------------------
bad "--frobnicate" -- --frobnicate
bad "--frobnicate" -- --kernel "$notkernel" --frobnicate=1
bad "--cpus" "boot=2,,max" -- --kernel "$notkernel" --cpus boot=2,,max
bad "--memory" "size" -- --kernel "$notkernel" --memory size
bad "--memory" "foo" -- --kernel "$notkernel" --memory foo=1
bad "--memory" "size" -- --kernel "$notkernel" --memory size=1G,size=2G
bad "--serial" "bogus" -- --kernel "$notkernel" --serial bogus
bad "--serial" "file" -- --kernel "$notkernel" --serial file=
bad "--reboot-policy" "sometimes" -- --kernel "$notkernel" --reboot-policy sometimes
bad "extra" -- --kernel "$notkernel" extra

# ---- device options ------------------------------------------------------------
bad "--disk" "path= is required" -- --kernel "$notkernel" --disk readonly=on
bad "--disk" "readonly=maybe" -- --kernel "$notkernel" --disk path=/x,readonly=maybe
bad "--disk" "num_queues=0" -- --kernel "$notkernel" --disk path=/x,num_queues=0
bad "--disk" "queue_size=100" -- --kernel "$notkernel" --disk path=/x,queue_size=100
bad "--disk" "serial=" -- --kernel "$notkernel" --disk path=/x,serial=012345678901234567890
bad "--disk" "colour" -- --kernel "$notkernel" --disk path=/x,colour=red
bad "--net" "mac=zz" -- --kernel "$notkernel" --net tap=t0,mac=zz:00:00:00:00:00
bad "--net" "multicast" -- --kernel "$notkernel" --net tap=t0,mac=01:00:00:00:00:01
bad "--net" "not with tap" -- --kernel "$notkernel" --net tap=t0,ip=10.0.0.1,mask=255.0.0.0
bad "--net" "go together" -- --kernel "$notkernel" --net ip=10.0.0.1
bad "--net" "num_queues=3" -- --kernel "$notkernel" --net tap=t0,num_queues=3
bad "--vsock" "cid=" -- --kernel "$notkernel" --vsock cid=2,socket=/tmp/x
bad "--vsock" "socket= is required" -- --kernel "$notkernel" --vsock cid=3
bad "--balloon" "size= is required" -- --kernel "$notkernel" --balloon deflate_on_oom=on
bad "--rng" "seed" -- --kernel "$notkernel" --rng seed=1
bad "--console" "bogus" -- --kernel "$notkernel" --console bogus
bad "vmlinux" -- vmlinux
for opt in --kernel --initramfs --cmdline --cpus --memory --serial --reboot-policy --log-file \
    --disk --net --rng --vsock --balloon --console; do
  bad "$opt" -- "$opt"
done

# ---- process options ---------------------------------------------------------
bad "$tmp/no-dir/nimbus.log" -- --kernel "$notkernel" --log-file "$tmp/no-dir/nimbus.log"
bad "$tmp" -- --kernel "$notkernel" --log-file "$tmp"
[ -e "$tmp/no-dir" ] && fail "--log-file created $tmp/no-dir"

# ---- good paths ----------------------------------------------------------------
cases=$((cases + 1))
run --version
[ "$rc" -eq 0 ] || fail "nimbus --version: exit status $rc"
[ "$(cat "$tmp/out")" = "nimbus v$version" ] ||
  fail "nimbus --version printed '$(cat "$tmp/out")', expected 'nimbus v$version'"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "nimbus --version: not exactly one line"
[ -s "$tmp/err" ] && fail "nimbus --version wrote to stderr: $(cat "$tmp/err")"

cases=$((cases + 1))
run --help
[ "$rc" -eq 0 ] || fail "nimbus --help: exit status $rc"
[ -s "$tmp/err" ] && fail "nimbus --help wrote to stderr: $(cat "$tmp/err")"
for opt in --kernel --initramfs --cmdline --cpus --memory --serial --reboot-policy --verbose \
  --log-file --version --help --disk --net --rng --vsock --balloon --console; do
  grep -q -e "$opt" "$tmp/out" || fail "nimbus --help does not mention $opt"
done

cases=$((cases + 1))
run -h
[ "$rc" -eq 0 ] || fail "nimbus -h: exit status $rc"
grep -q -e "--kernel" "$tmp/out" || fail "nimbus -h does not print the help"

echo "$cases command lines checked, $failures failure(s)"
[ "$failures" -eq 0 ]
