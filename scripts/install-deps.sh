#!/bin/sh
# Installs Nimbus's build, test and lab dependencies from Debian's archive.
# Idempotent: packages already present are skipped by apt.
set -eu

PKGS="build-essential cmake pkg-config
libglib2.0-dev libjson-glib-dev libsoup-3.0-dev libfdt-dev device-tree-compiler zlib1g-dev
liburing-dev libseccomp-dev check acpica-tools
qemu-system-x86 busybox-static cpio xz-utils zstd curl ca-certificates"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing:$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
