# shellcheck shell=bash
# Shared host-side functions of the nested x86 lab (sourced, not executed).
#
# Everything the lab needs from outside the checkout comes from Debian's
# archive (kernel, busybox, decompressor) and is cached under $LAB_CACHE so a
# warm run touches neither the network nor dpkg.  Cache entries are keyed by
# the Debian package version, so a new kernel upload is picked up by itself.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_CACHE=${NIMBUS_LAB_CACHE:-${HOME:-/root}/.cache/nimbus-lab}
LAB_KERNEL_META=${NIMBUS_LAB_KERNEL_META:-linux-image-cloud-amd64}

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# Serialise every cache mutation: two concurrent runs would otherwise extract
# into the same directory or read a half-written archive.
lab_lock() {
    mkdir -p "$LAB_CACHE"
    exec {LAB_LOCK_FD}>"$LAB_CACHE/lock"
    flock "$LAB_LOCK_FD"
}
lab_unlock() {
    if [[ -n ${LAB_LOCK_FD:-} ]]; then
        exec {LAB_LOCK_FD}>&-
        LAB_LOCK_FD=
    fi
}

# A fresh Debian image ships without package lists and an old one may list
# versions the mirror has dropped: refresh at most once per run, on failure.
LAB_APT_UPDATED=0
lab_apt_update_once() {
    [[ $LAB_APT_UPDATED = 0 ]] || return 1
    LAB_APT_UPDATED=1
    lab_log "refreshing apt package lists"
    apt-get update -qq >&2 || lab_die "apt-get update failed (need root and Debian's archive)"
}

# Run "$@" (an apt query or download); on failure refresh the lists and retry.
lab_apt_retry() {
    "$@" && return 0
    lab_apt_update_once || return 1
    "$@"
}

# Candidate version of a package (local query, no network).
lab_pkg_version() {
    local v
    v=$(apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
    [[ -n $v ]] || return 1
    printf '%s\n' "$v"
}

# The versioned kernel package the metapackage currently points to.
lab_kernel_pkg() {
    if [[ -n ${NIMBUS_LAB_KERNEL_PKG:-} ]]; then
        printf '%s\n' "$NIMBUS_LAB_KERNEL_PKG"
        return
    fi
    apt-cache depends "$LAB_KERNEL_META" 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1 | grep .
}

# lab_fetch_pkg PKG -> prints the directory holding the extracted package.
# Result: $LAB_CACHE/pkg/<pkg>_<version>/root; older versions are pruned.
lab_fetch_pkg() {
    local pkg=$1 ver dir tmp deb
    ver=$(lab_apt_retry lab_pkg_version "$pkg") || lab_die "package $pkg not found in apt lists"
    dir=$LAB_CACHE/pkg/${pkg}_${ver//:/%3a}
    if [[ ! -e $dir/.done ]]; then
        lab_log "fetching $pkg $ver"
        rm -rf "$dir" && mkdir -p "$dir"
        tmp=$dir/dl && mkdir -p "$tmp"
        # APT::Sandbox::User=root: as root, apt otherwise tries to download as
        # _apt, which cannot write into root's home.
        (cd "$tmp" && lab_apt_retry apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2) ||
            lab_die "apt-get download $pkg=$ver failed"
        deb=$(echo "$tmp"/*.deb)
        dpkg-deb -x "$deb" "$dir/root"
        rm -rf "$tmp"
        touch "$dir/.done"
        # Keep only the newest version of each package.
        find "$LAB_CACHE/pkg" -mindepth 1 -maxdepth 1 -name "${pkg}_*" ! -path "$dir" -exec rm -rf {} +
    fi
    printf '%s\n' "$dir/root"
}

# Ensure the tool that decompresses the kernel payload is on PATH, taking it
# from Debian's archive when the host lacks it (a fresh machine has gzip and
# xz but not lz4, which Debian's kernels use).
lab_need_tool() {
    local tool=$1 pkg=$2 root
    command -v "$tool" >/dev/null && return
    root=$(lab_fetch_pkg "$pkg")
    PATH=$root/usr/bin:$PATH
    command -v "$tool" >/dev/null || lab_die "$pkg does not provide $tool"
}

# lab_prepare_kernel: sets LAB_KVER, LAB_KROOT (extracted package),
# LAB_BZIMAGE, LAB_VMLINUX (PVH ELF), LAB_KMODDIR (lib/modules/<ver>/kernel).
lab_prepare_kernel() {
    local pkg config comp
    pkg=$(lab_apt_retry lab_kernel_pkg) || lab_die "cannot resolve $LAB_KERNEL_META"
    LAB_KROOT=$(lab_fetch_pkg "$pkg")
    LAB_KVER=${pkg#linux-image-}
    LAB_BZIMAGE=$LAB_KROOT/boot/vmlinuz-$LAB_KVER
    # shellcheck disable=SC2034 # used by the scripts sourcing this file
    LAB_KMODDIR=$LAB_KROOT/lib/modules/$LAB_KVER/kernel
    config=$LAB_KROOT/boot/config-$LAB_KVER
    [[ -f $LAB_BZIMAGE && -f $config ]] || lab_die "$pkg has no /boot/vmlinuz or config"
    grep -qx 'CONFIG_PVH=y' "$config" || lab_die "$pkg is built without CONFIG_PVH=y: no PVH entry"
    LAB_VMLINUX=$(dirname "$LAB_KROOT")/vmlinux
    if [[ ! -s $LAB_VMLINUX ]]; then
        comp=$(sed -n 's/^CONFIG_KERNEL_\([A-Z0-9]*\)=y$/\1/p' "$config")
        case $comp in
            LZ4) lab_need_tool lz4 lz4 ;;
            ZSTD) lab_need_tool zstd zstd ;;
            XZ | LZMA) lab_need_tool xz xz-utils ;;
        esac
        "$LAB_DIR/extract-vmlinux.sh" "$LAB_BZIMAGE" "$LAB_VMLINUX.tmp" >&2
        mv "$LAB_VMLINUX.tmp" "$LAB_VMLINUX"
    fi
}

# lab_busybox -> path of a static busybox taken from Debian's busybox-static,
# so the guests do not depend on what the host has installed.
lab_busybox() {
    local root
    root=$(lab_fetch_pkg busybox-static)
    printf '%s\n' "$root/bin/busybox"
}

# lab_install_busybox BUSYBOX ROOT: busybox at ROOT/bin plus one symlink per
# applet, made at build time so the guests' /init does no setup work.
lab_install_busybox() {
    local bb=$1 root=$2 applet
    mkdir -p "$root/bin"
    cp "$bb" "$root/bin/busybox"
    for applet in $("$bb" --list); do
        [[ $applet = busybox ]] || ln -sf busybox "$root/bin/$applet"
    done
    # Programs are looked up in /bin only; keep the usual names resolving.
    ln -sfn bin "$root/sbin"
}

# lab_install_elf SRC ROOT DEST: copy a dynamically linked program to
# ROOT/DEST with every library `ldd` reports (and the loader) at the same
# path it has on the host.  The loader's built-in multiarch search path finds
# them without an ld.so.cache.
lab_install_elf() {
    local src=$1 root=$2 dest=$3
    mkdir -p "$root/$(dirname "$dest")"
    cp -L "$src" "$root/$dest"
    lab_install_elf_deps "$src" "$root"
}

# lab_install_elf_deps SRC ROOT: only the libraries (and loader) of SRC, a
# program or shared library, copied under ROOT as lab_install_elf does.
lab_install_elf_deps() {
    local src=$1 root=$2 lib out
    out=$(ldd "$src" 2>&1) || {
        grep -q 'not a dynamic executable' <<<"$out" && return 0
        lab_die "ldd $src: $out"
    }
    if grep -q 'not found' <<<"$out"; then
        lab_die "ldd $src: missing libraries: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
    fi
    local libs
    mapfile -t libs < <(grep -o '/[^ ]*' <<<"$out")
    for lib in "${libs[@]}"; do
        [[ -e $root/$lib ]] && continue
        mkdir -p "$root/$(dirname "$lib")"
        cp -L "$lib" "$root/$lib"
    done
}

# lab_cpio DIR OUT [gzip|none]: pack DIR as a newc archive owned by root.
# Sorted names keep the archive byte-identical for identical input.
lab_cpio() {
    local dir=$1 out=$2 comp=${3:-none}
    (
        cd "$dir" || exit
        find . -mindepth 1 -print0 | LC_ALL=C sort -z |
            cpio --null -o -H newc -R 0:0 --reproducible --quiet
    ) | if [[ $comp = gzip ]]; then gzip -1 -n; else cat; fi >"$out.tmp"
    mv "$out.tmp" "$out"
}

# lab_stat_key FILE...: short digest of names, sizes and mtimes of host files
# (cheap, unlike hashing contents: the big inputs are package-managed).
lab_stat_key() {
    stat -L -c '%n %s %Y' "$@" | sha256sum | cut -c1-16
}

# lab_host_can_run_guests: true when this host's /dev/kvm runs stock kernels
# at hardware speed (VMX or SVM in the CPU flags, and not the PVM module,
# which emulates instead): then guests boot directly, without the nested lab.
# NIMBUS_LAB_MODE=direct|nested overrides the detection.
lab_host_can_run_guests() {
    case ${NIMBUS_LAB_MODE:-auto} in
        direct) return 0 ;;
        nested) return 1 ;;
    esac
    [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
    grep -qwE 'vmx|svm' /proc/cpuinfo || return 1
    [[ ! -d /sys/module/kvm_pvm ]]
}
