#!/bin/bash
# Builds (once) the arm64 sysroot the aarch64 cross build compiles, links and
# runs its unit tests against: the :arm64 libraries and headers Nimbus needs,
# downloaded from Debian's archive and unpacked, never installed (several
# -dev:arm64 packages cannot be co-installed with their amd64 twins).
#
#   scripts/cross-sysroot.sh        prints the sysroot's path (builds it if needed)
#
# Cached in ${XDG_CACHE_HOME:-~/.cache}/nimbus-cross/arm64-sysroot; a stamp file
# records the package list, so a changed list rebuilds it. Needs the arm64
# foreign architecture (dpkg --add-architecture arm64 && apt-get update).
set -euo pipefail

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/nimbus-cross
SYSROOT=$CACHE/arm64-sysroot
DEBS=$CACHE/debs
# What the build needs; their library dependencies are added below.
TOP="libc6-dev libglib2.0-dev libjson-glib-dev libsoup-3.0-dev liburing-dev libseccomp-dev
libfdt-dev zlib1g-dev check linux-libc-dev"
# Taken without their dependencies: libsysprof-4-dev provides the virtual
# libsysprof-capture-4-dev (a static library and the .pc that libsoup-3.0.pc
# requires); its own dependencies are a desktop stack the build never uses.
LEAVES="libsysprof-4-dev"
STAMP_TEXT="v1 $(echo $TOP) leaves: $LEAVES"

if [[ -f $SYSROOT/.nimbus-sysroot && $(cat "$SYSROOT/.nimbus-sysroot") == "$STAMP_TEXT" ]]; then
    echo "$SYSROOT"
    exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "cross-sysroot: the arm64 foreign architecture is missing:" \
         "run dpkg --add-architecture arm64 && apt-get update" >&2
    exit 1
fi

# The closure over Depends/Pre-Depends, first alternative, libraries only:
# tools (-bin packages, python, perl, pkg-config itself) run on the build host.
# One apt-cache call per level of the graph (each call is slow).
wanted() {
    case $1 in
    *-bin | *-doc | *-dbg | pkgconf* | pkg-config) return 1 ;;
    lib* | linux-libc-dev | zlib1g* | check) return 0 ;;
    *) return 1 ;;
    esac
}
declare -A seen=()
level=()
for p in $TOP; do
    seen[$p]=1
    level+=("$p")
done
closure=()
while ((${#level[@]})); do
    closure+=("${level[@]}")
    # "|Depends:" starts a group of alternatives: take its first member only.
    deps=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "${level[@]/%/:arm64}" 2>/dev/null |
        awk '/^ *(\|)?(Pre)?Depends:/ { alt = skip; skip = ($1 ~ /^\|/); if (!alt) print $2 }')
    level=()
    for d in $deps; do
        d=${d#<}
        d=${d%>}
        d=${d%%:*}
        if [[ -z ${seen[$d]:-} ]]; then
            seen[$d]=1
            if wanted "$d"; then level+=("$d"); fi
        fi
    done
done
closure+=($LEAVES)
# Download names: arch-specific packages as name:arm64, Architecture: all ones
# plainly; virtual packages (libc-dev, ...) have no record and drop out.
mapfile -t real < <(apt-cache show --no-all-versions "${closure[@]}" 2>/dev/null |
    awk '/^Package:/ { p = $2 } /^Architecture:/ { print ($2 == "all") ? p : p ":arm64" }' |
    sort -u)

mkdir -p "$DEBS"
echo "cross-sysroot: downloading ${#real[@]} arm64 packages into $DEBS" >&2
(cd "$DEBS" && apt-get download -qq "${real[@]}" 2>&1 | grep -v "unsandboxed" >&2 || true)

rm -rf "$SYSROOT.tmp"
mkdir -p "$SYSROOT.tmp"
for p in "${real[@]}"; do
    name=${p%:arm64}
    # The newest downloaded version of the package (the archive may move on).
    deb=$(ls -t "$DEBS/${name}"_*_arm64.deb "$DEBS/${name}"_*_all.deb 2>/dev/null | head -1 || true)
    if [[ -z $deb ]]; then
        echo "cross-sysroot: $p was not downloaded" >&2
        exit 1
    fi
    dpkg-deb -x "$deb" "$SYSROOT.tmp"
done
# Absolute symlinks (libfoo.so -> /lib/...) must point into the sysroot.
while IFS= read -r link; do
    target=$(readlink "$link")
    rel=$(realpath -m --relative-to="$(dirname "$link")" "$SYSROOT.tmp$target")
    ln -sfn "$rel" "$link"
done < <(find "$SYSROOT.tmp" -type l -lname '/*')
echo "$STAMP_TEXT" >"$SYSROOT.tmp/.nimbus-sysroot"
rm -rf "$SYSROOT"
mv "$SYSROOT.tmp" "$SYSROOT"
echo "$SYSROOT"
