/* The PVH boot ABI (Xen's hvm_start_info, version 1): what a PVH-capable ELF
 * kernel finds in EBX at its 32-bit entry point. */
#pragma once
#include "arch/x86_64/e820.h"

#include <glib.h>
#include <stdint.h>

#define PVH_START_MAGIC 0x336ec578u
#define PVH_START_INFO_SIZE 56
#define PVH_MODLIST_ENTRY_SIZE 32
#define PVH_MEMMAP_ENTRY_SIZE 24

typedef struct PvhInfo {
    uint64_t cmdline_addr; /* 0: none */
    uint64_t initrd_addr;
    uint64_t initrd_size;  /* 0: no module */
    uint64_t modlist_addr;
    uint64_t memmap_addr;
    uint64_t rsdp_addr;    /* 0: none */
    const E820Map *e820;
} PvhInfo;

/* Serialize the start info, module list and memory map (little-endian).
 * Each buffer must hold its structure: start info PVH_START_INFO_SIZE,
 * modlist PVH_MODLIST_ENTRY_SIZE, memmap e820->count entries. */
void pvh_build(const PvhInfo *info, uint8_t *start_info, uint8_t *modlist, uint8_t *memmap);
