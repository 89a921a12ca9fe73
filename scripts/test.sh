#!/bin/bash
# The test command: install dependencies, build, and run the whole default
# test suite (the README's second command; .ci/run calls it).
#   1. unit + native + cli tests in a RelWithDebInfo build (build/)
#   2. the same tests in an ASan+UBSan build (build-asan/)
#   3. the aarch64 cross build (build-aarch64/) and its unit tests under
#      qemu-aarch64-static
#   4. the lab scenarios (stock Linux guests; nested lab when needed)
# NIMBUS_TEST_SKIP_LAB=1 leaves out step 4. Exit status: 0 when all passed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=$(nproc)

"$ROOT/scripts/install-deps.sh"

build() { # DIR CMAKE-ARGS...
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$ROOT/$dir" -j "$JOBS"
}
quick_tests() { # DIR
    (cd "$ROOT/$1" && ctest --output-on-failure -j "$JOBS" -L 'unit|native|cli')
}

echo "== build (RelWithDebInfo)"
build build
echo "== unit, native and cli tests"
quick_tests build

echo "== build (ASan + UBSan)"
build build-asan -DNIMBUS_ASAN=ON -DNIMBUS_UBSAN=ON
echo "== unit, native and cli tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 quick_tests build-asan

echo "== build (aarch64 cross, against the arm64 sysroot)"
NIMBUS_CROSS_SYSROOT=$("$ROOT/scripts/cross-sysroot.sh")
export NIMBUS_CROSS_SYSROOT
build build-aarch64 -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-aarch64.cmake"
echo "== aarch64 unit tests under qemu-aarch64-static"
(cd "$ROOT/build-aarch64" && ctest --output-on-failure -j "$JOBS" -L unit)

if [[ ${NIMBUS_TEST_SKIP_LAB:-0} != 1 ]]; then
    echo "== lab: stock Linux guests"
    (cd "$ROOT/build" && ctest --output-on-failure -L lab)
fi
echo "== all tests passed"
