# Cross build for aarch64 with Debian's gcc-aarch64-linux-gnu against the
# arm64 sysroot scripts/cross-sysroot.sh unpacks (the :arm64 -dev packages
# cannot be installed next to their amd64 twins). Unit tests run under
# qemu-aarch64-static, so `ctest` works in the cross build directory:
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#
# The sysroot is NIMBUS_CROSS_SYSROOT from the environment, or the script's
# cache (${XDG_CACHE_HOME:-~/.cache}/nimbus-cross/arm64-sysroot).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(DEFINED ENV{NIMBUS_CROSS_SYSROOT})
  set(_sysroot "$ENV{NIMBUS_CROSS_SYSROOT}")
elseif(DEFINED ENV{XDG_CACHE_HOME})
  set(_sysroot "$ENV{XDG_CACHE_HOME}/nimbus-cross/arm64-sysroot")
else()
  set(_sysroot "$ENV{HOME}/.cache/nimbus-cross/arm64-sysroot")
endif()
if(NOT EXISTS "${_sysroot}/.nimbus-sysroot")
  message(FATAL_ERROR "no arm64 sysroot at ${_sysroot}: run scripts/cross-sysroot.sh first")
endif()

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_SYSROOT "${_sysroot}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The host's pkg-config reads the sysroot's .pc files and prefixes their paths.
set(ENV{PKG_CONFIG_LIBDIR}
    "${_sysroot}/usr/lib/aarch64-linux-gnu/pkgconfig:${_sysroot}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_sysroot}")
set(ENV{PKG_CONFIG_PATH} "")

# Test programs (and anything add_test runs directly) go through user-mode QEMU;
# binfmt_misc is not relied on.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L "${_sysroot}")
