#!/bin/sh
# Installs Nimbus's build, test and lab dependencies from Debian's archive.
# Idempotent: packages already present are skipped by apt.
set -eu

PKGS="build-essential cmake pkg-config
libglib2.0-dev libjson-glib-dev libsoup-3.0-dev libfdt-dev device-tree-compiler zlib1g-dev
liburing-dev libseccomp-dev check acpica-tools
qemu-system-x86 busybox-static cpio xz-utils zstd curl ca-certificates
gcc-aarch64-linux-gnu qemu-user-static qemu-system-arm qemu-efi-aarch64"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# The aarch64 cross build downloads :arm64 packages (scripts/cross-sysroot.sh).
arm64=0
dpkg --print-foreign-architectures | grep -qx arm64 || arm64=1
[ -z "$missing" ] && [ $arm64 = 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
[ $arm64 = 1 ] && $SUDO dpkg --add-architecture arm64
echo "install-deps: installing:$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
[ -z "$missing" ] && exit 0
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
