/* Synthetic ELF64 images for the loader tests: a header, a program header
 * table and each segment's bytes, in a GByteArray that tests then patch to
 * make hostile variants, and helpers to put the bytes in a file. */
#pragma once
#include <elf.h>
#include <glib.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ElfImageSeg {
    uint32_t type;      /* PT_LOAD, PT_NOTE, ... */
    uint64_t paddr;
    const void *data;   /* filesz bytes (may be NULL when filesz is 0) */
    size_t filesz;
    uint64_t memsz;
} ElfImageSeg;

/* An ET_EXEC little-endian ELF64 for `machine` with entry `entry` and the
 * segments in order; segment data follows the program headers. */
GByteArray *elf_image_build(uint16_t machine, uint64_t entry, const ElfImageSeg *segs,
                            size_t n);

/* The headers inside an image built above (copies, so alignment is moot). */
Elf64_Ehdr elf_image_ehdr(const GByteArray *img);
void elf_image_set_ehdr(GByteArray *img, const Elf64_Ehdr *eh);
Elf64_Phdr elf_image_phdr(const GByteArray *img, unsigned i);
void elf_image_set_phdr(GByteArray *img, unsigned i, const Elf64_Phdr *ph);

/* One ELF note: n_namesz/n_descsz as given (the bytes written are name and
 * desc, each padded to 4). */
GByteArray *elf_image_note(const char *name, uint32_t namesz, uint32_t type, const void *desc,
                           uint32_t descsz);
/* The Xen PVH entry note (type 18, name "Xen") with a 4- or 8-byte desc. */
GByteArray *elf_image_pvh_note(uint64_t entry, uint32_t descsz);

/* A memfd holding the bytes (for elf_inspect/elf_load); asserts on failure. */
int elf_image_memfd(const void *data, size_t len);
