# shellcheck shell=bash
# Initramfs builders of the lab (sourced after lib.sh, with the cache lock held).
#
# L1's initramfs is two concatenated cpio archives (the kernel unpacks them in
# turn, later files overriding earlier ones):
#   base - busybox, L1 modules, L2 kernel(s)/initrd, QEMU; large, cached
#          under a key of all its inputs, so a warm run does not rebuild it;
#   run  - the VMM under test, the scenario, extra files; small, rebuilt on
#          every run.

LAB_QEMU_FIRMWARE=(
    "qboot.rom:bios-microvm.bin" # -M microvm firmware
    "linuxboot_dma.bin:"         # -kernel bzImage
    "pvh.bin:"                   # -kernel <PVH ELF>
    "kvmvapic.bin:"              # pc/q35 machines
)

# Key for a set of inputs: text (versions, settings) plus file contents for
# our small scripts.
lab_key() {
    { printf '%s\n' "$@"; cat "$LAB_DIR/build-initramfs.sh" "$LAB_DIR/lib.sh"; } | sha256sum | cut -c1-16
}

# Keep the newest few archives of a kind (of this architecture); each
# scenario variant has its own.
lab_prune() {
    find "$LAB_CACHE/initramfs" -maxdepth 1 -name "$LAB_PREFIX$1-*" -printf '%T@ %p\n' |
        sort -rn | tail -n +7 | cut -d' ' -f2- | xargs -r rm -f
}

# lab_build_l2_initrd: sets LAB_L2_INITRD.
# NIMBUS_LAB_L2_MODULES: module names in load order (dependencies first),
# taken from the L2 kernel's package (default: LAB_L2_MODULES of the
# architecture); NIMBUS_LAB_L2_OVERLAY: a directory
# copied over the L2 root (e.g. lab/checks/*.sh with more check_ functions).
lab_build_l2_initrd() {
    local bb mods=${NIMBUS_LAB_L2_MODULES-$LAB_L2_MODULES} overlay=${NIMBUS_LAB_L2_OVERLAY:-} key root m ko
    bb=$(lab_busybox)
    key=$(lab_key l2 "$bb" "$LAB_KVER" "$mods" "$(cat "$LAB_DIR/l2-init.sh")" \
        "$overlay" "$([[ -n $overlay ]] && find "$overlay" -printf '%P %s %T@\n' | sort)")
    LAB_L2_INITRD=$LAB_CACHE/initramfs/${LAB_PREFIX}l2-$key.cpio.gz
    if [[ -s $LAB_L2_INITRD ]]; then
        touch "$LAB_L2_INITRD"
        return
    fi
    lab_log "building L2 initramfs"
    root=$(mktemp -d "$LAB_CACHE/tmp.XXXXXX")
    mkdir -p "$root"/{proc,sys,dev,lab/checks,lib/modules/lab}
    lab_install_busybox "$bb" "$root"
    install -m 0755 "$LAB_DIR/l2-init.sh" "$root/init"
    for m in $mods; do
        ko=$(find "$LAB_KMODDIR" -name "$m.ko" -o -name "${m//_/-}.ko" | head -n1)
        [[ -n $ko ]] || lab_die "L2 module $m not in $LAB_KVER"
        cp "$ko" "$root/lib/modules/lab/$m.ko"
        echo "$m" >>"$root/lib/modules/lab/order"
    done
    [[ -z $overlay ]] || cp -a "$overlay/." "$root/"
    # Compressed: L2 unpacks it on every boot and it is tiny either way.
    mkdir -p "$LAB_CACHE/initramfs"
    lab_cpio "$root" "$LAB_L2_INITRD" gzip
    rm -rf "$root"
    lab_prune l2
}

# lab_l2_qemu: sets LAB_L2_QEMU, the QEMU that runs inside L1 (the peer of
# the benchmarks), and LAB_L2_QEMU_KEY (what its cache key depends on).
# x86_64: the host's own; aarch64: Debian's arm64 build with its library
# closure, extracted under the cache (LAB_L2_QEMU_SYSROOT: where its
# libraries are).
lab_l2_qemu() {
    local files fw
    if [[ $LAB_ARCH = aarch64 ]]; then
        LAB_L2_QEMU_SYSROOT=$(lab_fetch_closure qemu-system-arm:arm64)
        LAB_L2_QEMU=$LAB_L2_QEMU_SYSROOT/usr/bin/qemu-system-aarch64
        [[ -x $LAB_L2_QEMU ]] || lab_die "qemu-system-arm:arm64 has no usr/bin/qemu-system-aarch64"
        LAB_L2_QEMU_KEY=$LAB_L2_QEMU_SYSROOT
        return
    fi
    LAB_L2_QEMU=$(command -v qemu-system-x86_64) || lab_die "qemu-system-x86_64 not installed"
    # Package upgrades change size/mtime of the binary or a library.
    files=("$LAB_L2_QEMU")
    mapfile -t -O 1 files < <(ldd "$LAB_L2_QEMU" | grep -o '/[^ ]*')
    for fw in "${LAB_QEMU_FIRMWARE[@]}"; do files+=("/usr/share/qemu/${fw%%:*}"); done
    LAB_L2_QEMU_KEY=$(lab_stat_key "${files[@]}")
}

# lab_build_l1_base: sets LAB_L1_BASE.  Needs LAB_L2_INITRD.
# NIMBUS_LAB_QEMU=0 leaves QEMU out; NIMBUS_LAB_L1_COMPRESS=gzip|none.
lab_build_l1_base() {
    local bb qemu="" qkey="" comp=${NIMBUS_LAB_L1_COMPRESS:-none} key root m src dst fw
    bb=$(lab_busybox)
    if [[ ${NIMBUS_LAB_QEMU:-1} = 1 ]]; then
        lab_l2_qemu
        qemu=$LAB_L2_QEMU qkey=$LAB_L2_QEMU_KEY
    fi
    key=$(lab_key l1 "$bb" "$LAB_KVER" "$LAB_L2_INITRD" "$qemu" "$qkey" "$comp" "$LAB_L1_MODULES" \
        "$(cat "$LAB_DIR/l1-init.sh" "$LAB_DIR/l1-lib.sh")")
    LAB_L1_BASE=$LAB_CACHE/initramfs/${LAB_PREFIX}l1-$key.cpio
    if [[ -s $LAB_L1_BASE ]]; then
        touch "$LAB_L1_BASE"
        return
    fi
    lab_log "building L1 base initramfs ($LAB_ARCH)"
    root=$(mktemp -d "$LAB_CACHE/tmp.XXXXXX")
    mkdir -p "$root"/{proc,sys,dev,tmp,lab/modules,l2}
    lab_install_busybox "$bb" "$root"
    install -m 0755 "$LAB_DIR/l1-init.sh" "$root/init"
    install -m 0644 "$LAB_DIR/l1-lib.sh" "$root/lab/lib.sh"
    # l1-init.sh loads lab/modules/order (no modules.dep in the initramfs).
    for m in $LAB_L1_MODULES; do
        cp "$LAB_KMODDIR/$m.ko" "$root/lab/modules/"
        echo "${m##*/}" >>"$root/lab/modules/order"
    done
    cp "$LAB_L2_INITRD" "$root/l2/initrd.gz"
    if [[ $LAB_ARCH = aarch64 ]]; then
        cp "$LAB_KERNEL" "$root/l2/Image"
        # With -nodefaults and no NIC option ROM this QEMU needs no data files.
        [[ -z $qemu ]] ||
            LAB_SYSROOTS=$LAB_L2_QEMU_SYSROOT lab_install_elf "$qemu" "$root" /usr/bin/qemu-system-aarch64
    else
        cp "$LAB_BZIMAGE" "$root/l2/vmlinuz"
        cp "$LAB_VMLINUX" "$root/l2/vmlinux"
        if [[ -n $qemu ]]; then
            lab_install_elf "$qemu" "$root" /usr/bin/qemu-system-x86_64
            mkdir -p "$root/usr/share/qemu"
            for fw in "${LAB_QEMU_FIRMWARE[@]}"; do
                src=${fw%%:*} dst=${fw#*:}
                cp -L "/usr/share/qemu/$src" "$root/usr/share/qemu/${dst:-$src}"
            done
        fi
    fi
    lab_cpio "$root" "$LAB_L1_BASE" "$comp"
    rm -rf "$root"
    lab_prune l1
}

# lab_build_l1_run DIR SCENARIO_L1_SCRIPT OUT: the per-run archive.
# LAB_NIMBUS_BIN: the VMM (NIMBUS_BIN, or the aarch64 build for aarch64
# scenarios), installed as /usr/bin/nimbus with its libraries;
# LAB_NIMBUS_REMOTE_BIN: its CLI client, as /usr/bin/nimbus-remote.
# NIMBUS_LAB_FILES: "HOSTPATH:L1PATH ..." extra files for the scenario.
# NIMBUS_LAB_TREES: "HOSTDIR:L1DIR ..." directory trees copied whole, plus
# the libraries (ldd) of every ELF program or library in them (the tree's own
# library directories are searched too: not every program has a RUNPATH).
lab_build_l1_run() {
    local root=$1/l1run script=$2 out=$3 f t libdirs
    mkdir -p "$root/lab"
    install -m 0755 "$script" "$root/lab/scenario.sh"
    if [[ -n ${LAB_NIMBUS_BIN:-} ]]; then
        lab_install_elf "$LAB_NIMBUS_BIN" "$root" /usr/bin/nimbus
    fi
    if [[ -n ${LAB_NIMBUS_REMOTE_BIN:-} ]]; then
        lab_install_elf "$LAB_NIMBUS_REMOTE_BIN" "$root" /usr/bin/nimbus-remote
    fi
    for f in ${NIMBUS_LAB_FILES:-}; do
        [[ -e ${f%%:*} ]] || lab_die "NIMBUS_LAB_FILES: ${f%%:*} not found"
        mkdir -p "$root/$(dirname "${f#*:}")"
        cp -L "${f%%:*}" "$root/${f#*:}"
    done
    for t in ${NIMBUS_LAB_TREES:-}; do
        [[ -d ${t%%:*} ]] || lab_die "NIMBUS_LAB_TREES: ${t%%:*} is not a directory"
        mkdir -p "$root/${t#*:}"
        cp -a "${t%%:*}/." "$root/${t#*:}/"
        libdirs=$(find "${t%%:*}" -name 'lib*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
        while IFS= read -r -d '' f; do
            [[ $(head -c4 "$f" | od -An -tx1) = " 7f 45 4c 46" ]] || continue
            LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:-} lab_install_elf_deps "$f" "$root"
        done < <(find "${t%%:*}" -type f -print0)
    done
    lab_cpio "$root" "$out" none
}
