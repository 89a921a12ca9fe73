#!/bin/bash
# extract-vmlinux.sh BZIMAGE OUT
#
# Recover the ELF vmlinux from an x86 bzImage, so a VMM can be tested on the
# PVH entry (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY) of the very kernel Debian
# ships as a bzImage only.
#
# The payload is located through the boot protocol header (>= 2.08:
# payload_offset/payload_length) instead of scanning for compressor magics,
# which can match inside the setup code.  The payload ends with the
# uncompressed size (le32), appended by the kernel build; it is used to check
# the result.  Requires od, the payload's decompressor and readelf (binutils).
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 BZIMAGE OUT" >&2; exit 2; }
bz=$1 out=$2

# u FILE OFFSET SIZE: unsigned little-endian integer at OFFSET.
u() { od -An --endian=little -tu"$3" -j"$2" -N"$3" "$1" | tr -d ' \n'; }
hex() { od -An -tx1 -j"$2" -N"$3" "$1" | tr -d ' \n'; }
die() { echo "extract-vmlinux: $*" >&2; exit 1; }

[[ $(hex "$bz" 0x202 4) = 48647253 ]] || die "$bz: no 'HdrS' boot header"
proto=$(u "$bz" 0x206 2)
((proto >= 0x208)) || die "$bz: boot protocol $(printf %#x "$proto") < 2.08 has no payload fields"
setup_sects=$(u "$bz" 0x1f1 1)
((setup_sects)) || setup_sects=4 # boot protocol: 0 means 4
pm_start=$(((setup_sects + 1) * 512))
poff=$((pm_start + $(u "$bz" 0x248 4)))
plen=$(u "$bz" 0x24c 4)
want=$(u "$bz" $((poff + plen - 4)) 4)

magic=$(hex "$bz" "$poff" 6)
case $magic in
    1f8b*) comp=gzip dec=(gzip -dc) ;;
    fd377a585a00) comp=xz dec=(xz -dc) ;;
    5d00*) comp=lzma dec=(xz --format=lzma -dc) ;;
    28b52ffd*) comp=zstd dec=(zstd -dcq) ;;
    02214c18*) comp=lz4 dec=(lz4 -dcq) ;; # legacy frame, as the kernel writes it
    425a68*) comp=bzip2 dec=(bzip2 -dc) ;;
    894c5a4f*) comp=lzo dec=(lzop -dc) ;;
    *) die "$bz: unknown payload compression (magic $magic)" ;;
esac
command -v "${dec[0]}" >/dev/null || die "need ${dec[0]} to decompress the $comp payload"

# Strip the trailing size word: lz4 would read it as one more block header.
dd if="$bz" iflag=skip_bytes,count_bytes skip="$poff" count=$((plen - 4)) bs=1M status=none |
    "${dec[@]}" >"$out"
got=$(stat -c %s "$out")
[[ $got = "$want" ]] || die "decompressed $got bytes, header says $want"
[[ $(hex "$out" 0 5) = 7f454c4602 ]] || die "payload is not a 64-bit ELF"

# With CONFIG_RANDOMIZE_BASE the relocation table follows the ELF image; cut
# it so OUT is exactly the linked vmlinux (section headers come last).
elf_end=$(($(u "$out" 0x28 8) + $(u "$out" 0x3a 2) * $(u "$out" 0x3c 2)))
((elf_end <= got)) || die "ELF section headers past end of payload"
truncate -s "$elf_end" "$out"

# Find the Xen note of type 18 and decode its little-endian address.
# readelf prints the descriptor on the same line (-W) or on the next one.
entry=$(readelf -nW "$out" | awk '
    $1 == "Xen" && (/\(0x00000012\)/ || /PHYS32_ENTRY/) { found = 1 }
    found && /description data:/ {
        sub(/.*description data: */, ""); n = split($0, b, " ")
        v = ""; for (i = n; i >= 1; i--) v = v b[i]; print v; exit }')
[[ -n $entry ]] || die "no Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY) in $out"
printf 'extract-vmlinux: %s payload, %s bytes ELF, PVH entry 0x%s\n' \
    "$comp" "$elf_end" "${entry#"${entry%%[1-9a-f]*}"}" >&2
