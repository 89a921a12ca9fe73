/* ELF64 kernel images: header validation, Xen PVH entry note lookup and
 * loading of PT_LOAD segments at their physical addresses. Every offset and
 * size read from the file is checked: a truncated or hostile image gives an
 * error, never an out-of-bounds access. */
#pragma once
#include "hypervisor/memory.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ElfInfo {
    uint64_t entry;     /* e_entry */
    uint64_t load_low;  /* lowest physical address of a PT_LOAD segment */
    uint64_t load_high; /* end of the highest PT_LOAD segment (memsz) */
    bool has_pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY present */
    uint32_t pvh_entry; /* 32-bit physical entry point of the PVH boot ABI */
} ElfInfo;

/* True if the first bytes of a file carry the ELF magic. */
bool elf_has_magic(const void *head, size_t len);

/* Validate the headers of a little-endian ELF64 executable for `machine`
 * (EM_X86_64, EM_AARCH64) and read its notes. `name` is used in messages. */
bool elf_inspect(int fd, const char *name, uint16_t machine, ElfInfo *out, GError **errp);

/* elf_inspect, then copy every PT_LOAD segment to guest memory at p_paddr
 * and zero its tail up to p_memsz. */
bool elf_load(int fd, const char *name, uint16_t machine, GuestMemory *mem, ElfInfo *out,
              GError **errp);
