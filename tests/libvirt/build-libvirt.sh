#!/bin/bash
# build-libvirt.sh — build (or reuse) libvirt with its Cloud Hypervisor ("ch")
# driver from Debian's own libvirt source package, and print the install
# prefix on stdout (everything else goes to stderr).
#
# Debian builds libvirt with -Ddriver_ch=disabled; nothing else stops the
# driver from building.  This script:
#   1. resolves the source version through a private deb-src list (the host's
#      apt configuration is not touched: a fresh Debian has no deb-src lines),
#   2. downloads and unpacks it with `apt-get source` (Debian's patches applied),
#   3. installs the few build dependencies it lacks (only here, so that
#      scripts/install-deps.sh stays small),
#   4. configures a minimal build (ch + remote + libvirtd drivers only),
#      builds it niced with -j2 and installs it into the cache:
#        ${NIMBUS_LAB_CACHE:-~/.cache/nimbus-lab}/libvirt-ch-<version>
#      with a .done marker; a warm run touches neither the network nor apt.
# The prefix is also the runtime location: sysconfdir, localstatedir and
# runstatedir all live under it, so its virtchd/libvirtd are private and never
# meet the host's libvirt.  The tree is not relocatable (libvirt bakes the
# prefix in): copy it to the same absolute path to use it elsewhere.
#
# Environment: NIMBUS_LAB_CACHE, NIMBUS_LIBVIRT_SUITE (default: the host's
# codename), NIMBUS_DEBIAN_MIRROR, NIMBUS_DEBIAN_SECURITY_MIRROR,
# NIMBUS_LIBVIRT_JOBS (default 2).
set -euo pipefail

CACHE=${NIMBUS_LAB_CACHE:-${HOME:-/root}/.cache/nimbus-lab}
SUITE=${NIMBUS_LIBVIRT_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
MIRROR=${NIMBUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SEC_MIRROR=${NIMBUS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
JOBS=${NIMBUS_LIBVIRT_JOBS:-2}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# The lab's default PATH may start with a pyenv or other python3 shim: meson
# and libvirt's build scripts must see Debian's own tools.
SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'build-libvirt: %s\n' "$*" >&2; }
die() { printf 'build-libvirt: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE"
exec {lock_fd}>"$CACHE/libvirt.lock"
flock "$lock_fd"

# --- 1. private deb-src list -------------------------------------------------
aptdir=$CACHE/libvirt-apt
mkdir -p "$aptdir"/{lists/partial,cache/archives/partial,parts}
cat >"$aptdir/sources.list.new" <<EOF
deb-src [signed-by=$KEYRING] $MIRROR $SUITE main
deb-src [signed-by=$KEYRING] $MIRROR $SUITE-updates main
deb-src [signed-by=$KEYRING] $SEC_MIRROR $SUITE-security main
EOF
if ! cmp -s "$aptdir/sources.list.new" "$aptdir/sources.list" 2>/dev/null; then
    mv "$aptdir/sources.list.new" "$aptdir/sources.list"
    rm -f "$aptdir"/lists/*_Sources* # lists of another suite or mirror
else
    rm -f "$aptdir/sources.list.new"
fi
# APT::Sandbox::User=root: as root apt otherwise downloads as _apt, which
# cannot write into root's home.
APT=(apt-get -q -o "Dir::Etc::SourceList=$aptdir/sources.list"
    -o "Dir::Etc::SourceParts=$aptdir/parts" -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache" -o APT::Sandbox::User=root)
APT_CACHE=(apt-cache -o "Dir::Etc::SourceList=$aptdir/sources.list"
    -o "Dir::Etc::SourceParts=$aptdir/parts" -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache")

# Newest libvirt source version in the private lists (local, no network).
src_version() {
    "${APT_CACHE[@]}" showsrc libvirt 2>/dev/null | sed -n 's/^Version: //p' |
        sort -V | tail -n1 | grep .
}
updated=0
update_lists() {
    [[ $updated = 0 ]] || return 1
    updated=1
    log "fetching Debian's deb-src lists for $SUITE (private: $aptdir)"
    "${APT[@]}" update >&2 || die "apt-get update of the deb-src lists failed (Debian's archive unreachable?)"
}
if ! ver=$(src_version); then
    update_lists
    ver=$(src_version) || die "no libvirt source package in $SUITE"
fi
prefix=$CACHE/libvirt-ch-${ver//:/%3a}
if [[ -e $prefix/.done ]]; then
    printf '%s\n' "$prefix"
    exit 0
fi

t0=$(date +%s)
# --- 2. source ------------------------------------------------------------------
work=$CACHE/libvirt-build
rm -rf "$work" "$prefix"
mkdir -p "$work/dl"
command -v dpkg-source >/dev/null || {
    log "installing dpkg-dev (for dpkg-source)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >&2
}
log "downloading libvirt $ver source"
(cd "$work/dl" && "${APT[@]}" source --download-only "libvirt=$ver" >&2) || {
    # The mirror may have moved on to a newer point release.
    update_lists || die "apt-get source libvirt=$ver failed"
    ver=$(src_version) || die "no libvirt source package in $SUITE"
    prefix=$CACHE/libvirt-ch-${ver//:/%3a}
    rm -rf "$prefix"
    (cd "$work/dl" && "${APT[@]}" source --download-only "libvirt=$ver" >&2) ||
        die "apt-get source libvirt=$ver failed"
}
dsc=$(echo "$work"/dl/libvirt_*.dsc)
[[ -f $dsc ]] || die "no .dsc downloaded"
# apt already checked the files against the signed Sources index; the .dsc's
# own signature would need debian-keyring, which a fresh host lacks.
(cd "$work" && PATH=$SYS_PATH dpkg-source --no-check -x "$dsc" src >&2) ||
    die "dpkg-source -x $dsc failed"

# --- 3. build dependencies ---------------------------------------------------
# What meson asks for with the options below (perl, python3, xmllint,
# xsltproc, rpcgen; libxml2, gnutls, tirpc, glib, yajl, curl).
deps="gcc pkg-config meson ninja-build perl python3 libxml2-utils xsltproc rpcsvc-proto
libxml2-dev libgnutls28-dev libtirpc-dev libglib2.0-dev libyajl-dev libcurl4-gnutls-dev"
missing=""
for p in $deps; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [[ -n $missing ]]; then
    log "installing build dependencies:$missing"
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2; then
        apt-get update -qq >&2 || die "apt-get update failed"
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 ||
            die "cannot install:$missing"
    fi
fi

# --- 4. configure, build, install ---------------------------------------------
# -Dauto_features=disabled turns every optional feature off, so only the
# drivers named here are built (ch needs libvirtd, yajl and curl).
log "configuring (prefix $prefix)"
(cd "$work/src" && PATH=$SYS_PATH nice meson setup "$work/build" --prefix="$prefix" \
    --buildtype=release -Dauto_features=disabled \
    -Ddriver_ch=enabled -Ddriver_libvirtd=enabled -Ddriver_remote=enabled \
    -Dyajl=enabled -Dcurl=enabled -Ddocs=disabled -Dtests=disabled \
    -Dexpensive_tests=disabled -Dinit_script=none >"$work/setup.log" 2>&1) || {
    tail -n 30 "$work/setup.log" >&2
    die "meson setup failed (log: $work/setup.log)"
}
grep -q 'Cloud-Hypervisor *: *YES' "$work/setup.log" ||
    die "meson did not enable the ch driver (log: $work/setup.log)"
log "building with -j$JOBS (about a minute on 2 cores)"
PATH=$SYS_PATH nice ninja -C "$work/build" -j"$JOBS" >"$work/build.log" 2>&1 || {
    tail -n 30 "$work/build.log" >&2
    die "ninja failed (log: $work/build.log)"
}
PATH=$SYS_PATH meson install -C "$work/build" --no-rebuild >"$work/install.log" 2>&1 || {
    tail -n 30 "$work/install.log" >&2
    die "meson install failed (log: $work/install.log)"
}
[[ -x $prefix/sbin/virtchd && -x $prefix/bin/virsh ]] || die "virtchd/virsh missing after install"
# Translations are most of the install (NLS is off anyway).
rm -rf "$prefix/share/locale"
echo "$ver" >"$prefix/.version"
touch "$prefix/.done"
rm -rf "$work"
# Keep only this version.
find "$CACHE" -mindepth 1 -maxdepth 1 -name 'libvirt-ch-*' ! -path "$prefix" -exec rm -rf {} +
log "libvirt $ver with the ch driver installed in $prefix ($(($(date +%s) - t0)) s)"
printf '%s\n' "$prefix"
