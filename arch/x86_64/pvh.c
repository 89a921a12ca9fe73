#include "arch/x86_64/pvh.h"

#include "hypervisor/le.h"

#include <string.h>

void pvh_build(const PvhInfo *info, uint8_t *si, uint8_t *modlist, uint8_t *memmap)
{
    memset(si, 0, PVH_START_INFO_SIZE);
    le_store32(si + 0, PVH_START_MAGIC);
    le_store32(si + 4, 1); /* version: memmap fields present */
    le_store32(si + 8, 0); /* flags */
    if (info->initrd_size) {
        le_store32(si + 12, 1); /* nr_modules */
        le_store64(si + 16, info->modlist_addr);
        memset(modlist, 0, PVH_MODLIST_ENTRY_SIZE);
        le_store64(modlist + 0, info->initrd_addr);
        le_store64(modlist + 8, info->initrd_size);
    }
    le_store64(si + 24, info->cmdline_addr);
    le_store64(si + 32, info->rsdp_addr);
    le_store64(si + 40, info->memmap_addr);
    le_store32(si + 48, (uint32_t)info->e820->count);
    for (size_t i = 0; i < info->e820->count; i++) {
        uint8_t *e = memmap + i * PVH_MEMMAP_ENTRY_SIZE;
        le_store64(e, info->e820->entries[i].addr);
        le_store64(e + 8, info->e820->entries[i].size);
        le_store32(e + 16, info->e820->entries[i].type);
        le_store32(e + 20, 0);
    }
}
