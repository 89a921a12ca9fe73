# shellcheck shell=bash
# Shared host-side functions of the nested lab (sourced, not executed).
#
# Everything the lab needs from outside the checkout comes from Debian's
# archive (kernel, busybox, decompressor, the arm64 QEMU) and is cached under
# $LAB_CACHE so a warm run touches neither the network nor dpkg.  Cache
# entries are keyed by the Debian package version, so a new kernel upload is
# picked up by itself.
#
# One lab, two guest architectures: LAB_ARCH (x86_64, the default, or
# aarch64; a scenario's .conf sets it) selects the L0 QEMU, the kernel
# package, busybox, the L1 modules and the nimbus binary (lab_arch_init).

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_CACHE=${NIMBUS_LAB_CACHE:-${HOME:-/root}/.cache/nimbus-lab}

# lab_arch_init: the settings that differ between guest architectures, from
# LAB_ARCH.  Called when this file is sourced and again by run.sh once the
# scenario's .conf has had its say.
#   LAB_PKG_ARCH    ":arm64" for a foreign Debian architecture, else empty
#   LAB_KERNEL_META the metapackage naming the current stock cloud kernel
#   LAB_L0_QEMU     the QEMU that runs L1 under TCG; LAB_L0_ARGS its machine
#   LAB_CONSOLE     the serial console of L1 and L2
#   LAB_L1_MODULES  L1 modules (paths under kernel/) in load order
#   LAB_L2_MODULES  default L2 modules in load order (NIMBUS_LAB_L2_MODULES wins)
#   LAB_PREFIX      prefix of cached initramfs names, so the architectures
#                   neither share nor prune each other's archives
#   LAB_NIMBUS_BIN / LAB_NIMBUS_REMOTE_BIN  the binaries for this architecture
# shellcheck disable=SC2034,SC2054 # settings for run.sh and build-initramfs.sh; -M takes commas
lab_arch_init() {
    LAB_ARCH=${LAB_ARCH:-x86_64}
    case $LAB_ARCH in
        x86_64)
            LAB_PKG_ARCH="" LAB_PREFIX=""
            LAB_KERNEL_META=${NIMBUS_LAB_KERNEL_META:-linux-image-cloud-amd64}
            LAB_L0_QEMU=qemu-system-x86_64
            # QEMU TCG emulates AMD SVM + NPT; one vCPU (NIMBUS_LAB_SMP).
            LAB_L0_ARGS=(-accel tcg -cpu EPYC -smp "${NIMBUS_LAB_SMP:-1}")
            LAB_CONSOLE=ttyS0
            LAB_L1_MODULES="virt/lib/irqbypass arch/x86/kvm/kvm arch/x86/kvm/kvm-amd drivers/block/loop drivers/net/tun"
            # evdev + button: the guest can react to the ACPI power button.
            LAB_L2_MODULES="evdev button"
            LAB_NIMBUS_BIN=${NIMBUS_BIN:-} LAB_NIMBUS_REMOTE_BIN=${NIMBUS_REMOTE_BIN:-} LAB_NIMBUS_WHY=""
            if [[ -n $LAB_NIMBUS_BIN && -e $LAB_NIMBUS_BIN && $(lab_elf_arch "$LAB_NIMBUS_BIN") != x86_64 ]]; then
                LAB_NIMBUS_WHY="NIMBUS_BIN=$LAB_NIMBUS_BIN is not an x86_64 build"
                LAB_NIMBUS_BIN="" LAB_NIMBUS_REMOTE_BIN=""
            fi
            ;;
        aarch64)
            LAB_PKG_ARCH=":arm64" LAB_PREFIX="arm64-"
            LAB_KERNEL_META=${NIMBUS_LAB_KERNEL_META_AARCH64:-linux-image-cloud-arm64}
            LAB_L0_QEMU=qemu-system-aarch64
            # EL2 for L1's KVM (virtualization=on); L1's KVM offers only the
            # vGIC model of L0's GIC, and GICv3 is what guests need.  Without
            # pauth-impdef=on TCG emulates QARMA and runs 3-4x slower.
            LAB_L0_ARGS=(-accel tcg,thread=multi -M virt,virtualization=on,gic-version=3
                -cpu max,pauth-impdef=on -smp "${NIMBUS_LAB_SMP:-2}")
            LAB_CONSOLE=ttyAMA0
            # KVM is built into the arm64 cloud kernel; only loop and tun are modules.
            LAB_L1_MODULES="drivers/block/loop drivers/net/tun"
            # The arm64 cloud kernel has VIRTIO=m: the virtio-pci transport
            # and the device drivers, dependencies first (each .ko's depends=).
            LAB_L2_MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
                virtio_blk virtio_rng failover net_failover virtio_net virtio_console"
            LAB_L2_MODULES=$(echo $LAB_L2_MODULES)
            LAB_SYSROOTS=${NIMBUS_LAB_SYSROOTS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/nimbus-cross/arm64-sysroot}
            lab_arch_nimbus_bins
            ;;
        *) lab_die "LAB_ARCH=$LAB_ARCH: want x86_64 or aarch64" ;;
    esac
}

# lab_elf_arch FILE: the machine of an ELF file (x86_64, aarch64 or other).
lab_elf_arch() {
    case $(od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' ') in
        3e00) echo x86_64 ;;
        b700) echo aarch64 ;;
        *) echo other ;;
    esac
}

# The aarch64 binaries: NIMBUS_BIN_AARCH64 (set by the lab's ctest entries to
# the cross build), else NIMBUS_BIN when it is an aarch64 build (a run by
# hand, or a native aarch64 build).  LAB_NIMBUS_WHY says why there is none.
# shellcheck disable=SC2034 # LAB_NIMBUS_WHY is run.sh's
lab_arch_nimbus_bins() {
    LAB_NIMBUS_BIN="" LAB_NIMBUS_REMOTE_BIN="" LAB_NIMBUS_WHY=""
    if [[ -n ${NIMBUS_BIN_AARCH64:-} ]]; then
        LAB_NIMBUS_BIN=$NIMBUS_BIN_AARCH64
        LAB_NIMBUS_REMOTE_BIN=${NIMBUS_REMOTE_BIN_AARCH64:-}
    elif [[ -n ${NIMBUS_BIN:-} && $(lab_elf_arch "$NIMBUS_BIN") = aarch64 ]]; then
        LAB_NIMBUS_BIN=$NIMBUS_BIN
        LAB_NIMBUS_REMOTE_BIN=${NIMBUS_REMOTE_BIN:-}
    else
        LAB_NIMBUS_WHY="no aarch64 nimbus: set NIMBUS_BIN_AARCH64 (or NIMBUS_BIN) to a cross build (NIMBUS_BIN=${NIMBUS_BIN:-unset} is not aarch64)"
        return
    fi
    if [[ ! -e $LAB_NIMBUS_BIN ]]; then
        LAB_NIMBUS_WHY="the aarch64 nimbus $LAB_NIMBUS_BIN is not built (cross build: scripts/cross-sysroot.sh, then a build-aarch64 tree)"
        LAB_NIMBUS_BIN=""
    fi
    [[ -z $LAB_NIMBUS_REMOTE_BIN || -e $LAB_NIMBUS_REMOTE_BIN ]] || LAB_NIMBUS_REMOTE_BIN=""
}

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

# lab_apt_cache ARGS...: the output of `apt-cache ARGS`, remembered under
# $LAB_CACHE/apt-memo until the package lists change.  Debian's container
# images run apt without a pkgcache.bin, so every apt-cache call parses all
# package lists (both architectures' once arm64 is added): seconds each, and
# a lab run makes several.  Status 1 (nothing remembered) on no output.
lab_apt_cache() {
    local state dir f out
    state=$(stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* /var/lib/dpkg/arch 2>/dev/null |
        sha256sum | cut -c1-16)
    dir=$LAB_CACHE/apt-memo/$state
    f=$dir/$(printf '%s\n' "$@" | sha256sum | cut -c1-16)
    # (A run that saw the lists change may remove the file meanwhile.)
    if [[ -s $f ]] && out=$(cat "$f" 2>/dev/null) && [[ -n $out ]]; then
        printf '%s\n' "$out"
        return 0
    fi
    out=$(apt-cache "$@" 2>/dev/null) && [[ -n $out ]] || return 1
    # Lists changed: forget what was remembered of the old ones.
    if [[ ! -d $dir ]]; then
        rm -rf "$LAB_CACHE/apt-memo"
        mkdir -p "$dir"
    fi
    { printf '%s\n' "$out" >"$f.$$" && mv "$f.$$" "$f"; } 2>/dev/null || true
    printf '%s\n' "$out"
}

# Candidate version of a package (local query, no network).
lab_pkg_version() {
    local v
    v=$(lab_apt_cache show --no-all-versions "$1" | sed -n 's/^Version: //p' | head -n1)
    [[ -n $v ]] || return 1
    printf '%s\n' "$v"
}

# The versioned kernel package (without an architecture qualifier) the
# metapackage currently points to.
lab_kernel_pkg() {
    if [[ -n ${NIMBUS_LAB_KERNEL_PKG:-} ]]; then
        printf '%s\n' "$NIMBUS_LAB_KERNEL_PKG"
        return
    fi
    lab_apt_cache depends "$LAB_KERNEL_META$LAB_PKG_ARCH" |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\)\(:[a-z0-9]*\)\{0,1\}$/\1/p' | head -n1 | grep .
}

# A foreign architecture's packages (name:arm64) need that architecture in
# dpkg's list, or apt knows nothing of them.
lab_need_foreign_arch() {
    local arch=${1#:}
    [[ -n $arch ]] || return 0
    dpkg --print-foreign-architectures | grep -qx "$arch" && return 0
    lab_log "adding the $arch package architecture to dpkg"
    dpkg --add-architecture "$arch" || lab_die "dpkg --add-architecture $arch failed (need root)"
    LAB_APT_UPDATED=0
    lab_apt_update_once
}

# lab_fetch_pkgs NAME PKG... -> prints the directory holding the packages,
# downloaded from Debian's archive and extracted over each other (never
# installed).  PKG may carry an architecture (busybox-static:arm64).
# Result: $LAB_CACHE/pkg/<NAME>_<version of the first PKG>/root; older
# versions of NAME are pruned.
lab_fetch_pkgs() {
    local name=${1//:/-} pkg=$2 ver dir tmp deb
    shift
    lab_need_foreign_arch "$(grep -o ':.*' <<<"$pkg" || true)"
    ver=$(lab_apt_retry lab_pkg_version "$pkg") || lab_die "package $pkg not found in apt lists"
    dir=$LAB_CACHE/pkg/${name}_${ver//:/%3a}
    if [[ ! -e $dir/.done ]]; then
        lab_log "fetching $* ($pkg $ver)"
        rm -rf "$dir" && mkdir -p "$dir"
        tmp=$dir/dl && mkdir -p "$tmp"
        # APT::Sandbox::User=root: as root, apt otherwise tries to download as
        # _apt, which cannot write into root's home.
        (cd "$tmp" && lab_apt_retry apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" "${@:2}" >&2) ||
            lab_die "apt-get download $*: failed"
        for deb in "$tmp"/*.deb; do
            dpkg-deb -x "$deb" "$dir/root"
        done
        rm -rf "$tmp"
        touch "$dir/.done"
        # Keep only the newest version of each package.
        find "$LAB_CACHE/pkg" -mindepth 1 -maxdepth 1 -name "${name}_*" ! -path "$dir" -exec rm -rf {} +
    fi
    printf '%s\n' "$dir/root"
}

# lab_fetch_pkg PKG -> the directory holding the extracted package.
lab_fetch_pkg() { lab_fetch_pkgs "$1" "$1"; }

# lab_fetch_closure PKG -> the directory holding PKG and every package it
# depends on, for a foreign architecture (PKG is name:arch): extracted, not
# installed, so that L1 can run a program of that architecture.
lab_fetch_closure() {
    local pkg=$1 arch=${1##*:} deps
    lab_need_foreign_arch "$arch"
    mapfile -t deps < <(lab_apt_cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances --no-pre-depends "$pkg" |
        grep -E "^[a-z0-9].*:$arch\$" | grep -vx "$pkg" | sort -u)
    ((${#deps[@]})) || lab_die "cannot resolve the dependencies of $pkg"
    lab_fetch_pkgs "$pkg-closure" "$pkg" "${deps[@]}"
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
# LAB_KMODDIR (lib/modules/<ver>/kernel), LAB_KERNEL (what L1 and L2 boot)
# and, on x86_64, LAB_BZIMAGE (= LAB_KERNEL) and LAB_VMLINUX (PVH ELF).
lab_prepare_kernel() {
    local pkg config comp
    lab_need_foreign_arch "$LAB_PKG_ARCH"
    pkg=$(lab_apt_retry lab_kernel_pkg) || lab_die "cannot resolve $LAB_KERNEL_META$LAB_PKG_ARCH"
    LAB_KROOT=$(lab_fetch_pkg "$pkg$LAB_PKG_ARCH")
    LAB_KVER=${pkg#linux-image-}
    LAB_KERNEL=$LAB_KROOT/boot/vmlinuz-$LAB_KVER
    # shellcheck disable=SC2034 # used by the scripts sourcing this file
    LAB_KMODDIR=$LAB_KROOT/lib/modules/$LAB_KVER/kernel
    config=$LAB_KROOT/boot/config-$LAB_KVER
    [[ -f $LAB_KERNEL && -f $config ]] || lab_die "$pkg has no /boot/vmlinuz or config"
    if [[ $LAB_ARCH = aarch64 ]]; then
        # Debian's arm64 vmlinuz is an uncompressed Image (magic "ARM\x64" at 56).
        [[ $(od -An -tx1 -j56 -N4 "$LAB_KERNEL" | tr -d ' ') = 41524d64 ]] ||
            lab_die "$LAB_KERNEL is not an arm64 Image"
        return
    fi
    LAB_BZIMAGE=$LAB_KERNEL
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
    root=$(lab_fetch_pkg "busybox-static$LAB_PKG_ARCH")
    printf '%s\n' "$root/bin/busybox"
}

# lab_install_busybox BUSYBOX ROOT: busybox at ROOT/bin plus one symlink per
# applet, made at build time so the guests' /init does no setup work.
# A busybox of another architecture cannot list its applets here: the host
# architecture's busybox-static of the same Debian version (same source and
# configuration) lists them instead.
lab_install_busybox() {
    local bb=$1 root=$2 applet lister=$1 applets
    if [[ $(lab_elf_arch "$bb") != "$(uname -m)" ]]; then
        lister=$(LAB_PKG_ARCH="" lab_busybox)
    fi
    applets=$("$lister" --list) && [[ -n $applets ]] || lab_die "$lister --list failed"
    mkdir -p "$root/bin"
    cp "$bb" "$root/bin/busybox"
    for applet in $applets; do
        [[ $applet = busybox ]] || ln -sf busybox "$root/bin/$applet"
    done
    # Programs are looked up in /bin only; keep the usual names resolving.
    ln -sfn bin "$root/sbin"
}

# lab_install_elf SRC ROOT DEST: copy a dynamically linked program to
# ROOT/DEST with every library `ldd` reports (and the loader) at the same
# path it has on the host (a program of another architecture: at the path it
# has in its sysroot, see lab_foreign_elf_deps).  The loader's built-in
# multiarch search path finds them without an ld.so.cache.
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
    # A script has no libraries.
    [[ $(od -An -tx1 -N4 "$src" | tr -d ' ') = 7f454c46 ]] || return 0
    if [[ $(lab_elf_arch "$src") != "$(uname -m)" ]]; then
        lab_foreign_elf_deps "$src" "$root"
        return
    fi
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

# lab_foreign_elf_deps SRC ROOT: lab_install_elf_deps for an ELF file of
# another architecture, which ldd cannot load: the loader (PT_INTERP) and the
# DT_NEEDED closure, found with readelf in the directories of LD_LIBRARY_PATH
# (copied to the same absolute path) and in the multiarch library directories
# of each sysroot in LAB_SYSROOTS (colon-separated; copied to the path they
# have inside the sysroot, which the target's loader searches by default).
lab_foreign_elf_deps() {
    local src=$1 root=$2 interp f n rel queue
    local -A seen=()
    interp=$(readelf -lW "$src" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    if [[ -n $interp ]]; then
        rel=$(lab_sysroot_find "$interp" "$interp") || lab_die "$src: loader $interp is in no sysroot ($LAB_SYSROOTS)"
        lab_sysroot_copy "$rel" "$root"
    fi
    queue=("$src")
    while ((${#queue[@]})); do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        for n in $(readelf -dW "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
            [[ -z ${seen[$n]:-} ]] || continue
            seen[$n]=1
            rel=$(lab_sysroot_find "$n") || lab_die "$src needs $n, found in no sysroot ($LAB_SYSROOTS)"
            lab_sysroot_copy "$rel" "$root"
            queue+=("${rel%%|*}")
        done
    done
}

# lab_sysroot_find NAME [PATH]: "HOSTFILE|DEST" for library NAME (or the
# absolute target PATH); status 1 when no directory has it.
lab_sysroot_find() {
    local name=$1 path=${2:-} sr d
    local -a dirs=()
    IFS=: read -ra dirs <<<"${LD_LIBRARY_PATH:-}"
    if [[ -z $path ]]; then
        for d in "${dirs[@]}"; do
            [[ -n $d && -e $d/$name ]] && { echo "$d/$name|$d/$name"; return; }
        done
    fi
    IFS=: read -ra dirs <<<"${LAB_SYSROOTS:-}"
    for sr in "${dirs[@]}"; do
        [[ -n $sr ]] || continue
        if [[ -n $path ]]; then
            [[ -e $sr$path ]] && { echo "$sr$path|$path"; return; }
            continue
        fi
        for d in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib /usr/lib; do
            [[ -e $sr$d/$name ]] && { echo "$sr$d/$name|$d/$name"; return; }
        done
    done
    return 1
}

# lab_sysroot_copy "HOSTFILE|DEST" ROOT: the file (links resolved) at ROOT/DEST.
lab_sysroot_copy() {
    local src=${1%%|*} dest=$2/${1#*|}
    [[ -e $dest ]] && return
    mkdir -p "$(dirname "$dest")"
    cp -L "$src" "$dest"
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

# lab_host_can_run_guests: true when this host's /dev/kvm runs stock
# LAB_ARCH kernels at hardware speed: then guests boot directly, without the
# nested lab.  x86_64: VMX or SVM in the CPU flags, and not the PVM module
# (which emulates instead); aarch64: an aarch64 host with a usable /dev/kvm.
# Another architecture's guests always need the nested lab.
# NIMBUS_LAB_MODE=direct|nested overrides the detection.
lab_host_can_run_guests() {
    case ${NIMBUS_LAB_MODE:-auto} in
        direct) return 0 ;;
        nested) return 1 ;;
    esac
    [[ $(uname -m) = "$LAB_ARCH" ]] || return 1
    [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
    [[ $LAB_ARCH = aarch64 ]] && return 0
    grep -qwE 'vmx|svm' /proc/cpuinfo || return 1
    [[ ! -d /sys/module/kvm_pvm ]]
}

lab_arch_init
