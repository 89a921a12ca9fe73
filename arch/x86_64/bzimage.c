#include "arch/x86_64/bzimage.h"

#include "hypervisor/error.h"
#include "hypervisor/le.h"

#include <string.h>

/* struct boot_params offsets (zero page). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
/* setup header fields (absolute offsets in the file and the zero page). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_VID_MODE 0x1fa
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260

#define LOADER_TYPE_UNDEFINED 0xff
#define VID_MODE_NORMAL 0xffff

bool bzimage_has_magic(const uint8_t *head, size_t len)
{
    return len >= HDR_MAGIC + 4 && memcmp(head + HDR_MAGIC, "HdrS", 4) == 0;
}

bool bzimage_parse(const uint8_t *head, size_t len, uint64_t file_size, const char *name,
                   BzImageHeader *h, GError **errp)
{
    memset(h, 0, sizeof *h);
    if (len < BZ_HEAD_SIZE || !bzimage_has_magic(head, len) || le_load16(head + HDR_BOOT_FLAG) != 0xaa55) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: not a bzImage (no Linux boot protocol header)", name);
        return false;
    }
    h->version = le_load16(head + HDR_VERSION);
    if (h->version < BZ_MIN_VERSION) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "%s: boot protocol %u.%02u is too old (need 2.12 or later)", name,
                    h->version >> 8, h->version & 0xff);
        return false;
    }
    h->xloadflags = le_load16(head + HDR_XLOADFLAGS);
    if (!(h->xloadflags & BZ_XLF_KERNEL_64)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "%s: the kernel has no 64-bit entry point (32-bit kernel?)", name);
        return false;
    }
    h->setup_sects = head[HDR_SETUP_SECTS] ? head[HDR_SETUP_SECTS] : 4;
    h->loadflags = head[HDR_LOADFLAGS];
    h->initrd_addr_max = le_load32(head + HDR_INITRD_ADDR_MAX);
    h->cmdline_size = le_load32(head + HDR_CMDLINE_SIZE);
    h->pref_address = le_load64(head + HDR_PREF_ADDRESS);
    h->init_size = le_load32(head + HDR_INIT_SIZE);
    h->setup_size = ((uint64_t)h->setup_sects + 1) * 512;
    h->header_end = HDR_MAGIC + head[HDR_JUMP + 1];
    if (h->header_end > len)
        h->header_end = (uint32_t)len;
    if (!(h->loadflags & BZ_LOADED_HIGH)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "%s: zImage kernels (loaded below 1 MiB) are not supported", name);
        return false;
    }
    if (h->setup_size >= file_size) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: truncated bzImage (setup of %" G_GUINT64_FORMAT " bytes, file of %"
                    G_GUINT64_FORMAT ")",
                    name, h->setup_size, file_size);
        return false;
    }
    h->kernel_size = file_size - h->setup_size;
    if (le_load32(head + HDR_SYSSIZE) * 16ull > h->kernel_size + 15) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: truncated bzImage (header says %u bytes of kernel, file has %"
                    G_GUINT64_FORMAT ")",
                    name, le_load32(head + HDR_SYSSIZE) * 16, h->kernel_size);
        return false;
    }
    return true;
}

void bzimage_build_boot_params(uint8_t zp[BZ_ZERO_PAGE_SIZE], const uint8_t *head,
                               const BzImageHeader *h, const BootParamsInfo *info)
{
    memset(zp, 0, BZ_ZERO_PAGE_SIZE);
    memcpy(zp + BZ_SETUP_HEADER_OFFSET, head + BZ_SETUP_HEADER_OFFSET,
           h->header_end - BZ_SETUP_HEADER_OFFSET);

    zp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
    zp[HDR_LOADFLAGS] = (uint8_t)(h->loadflags | BZ_CAN_USE_HEAP);
    le_store16(zp + HDR_VID_MODE, VID_MODE_NORMAL);
    /* The real-mode heap ends below the zero page's own setup code area;
     * the 64-bit entry never uses it, but older setup paths read it. */
    le_store16(zp + HDR_HEAP_END_PTR, 0xfe00);
    le_store32(zp + HDR_CMD_LINE_PTR, (uint32_t)info->cmdline_addr);
    le_store32(zp + BP_EXT_CMD_LINE_PTR, (uint32_t)(info->cmdline_addr >> 32));
    le_store32(zp + HDR_RAMDISK_IMAGE, (uint32_t)info->initrd_addr);
    le_store32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(info->initrd_addr >> 32));
    le_store32(zp + HDR_RAMDISK_SIZE, (uint32_t)info->initrd_size);
    le_store32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(info->initrd_size >> 32));

    /* Boot protocol 2.14+; older kernels scan the BIOS area, where it is too. */
    if (h->version >= 0x020e)
        le_store64(zp + BP_ACPI_RSDP_ADDR, info->rsdp_addr);

    size_t n = MIN(info->e820->count, (size_t)BP_E820_MAX);
    zp[BP_E820_ENTRIES] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = zp + BP_E820_TABLE + i * 20;
        le_store64(e, info->e820->entries[i].addr);
        le_store64(e + 8, info->e820->entries[i].size);
        le_store32(e + 16, info->e820->entries[i].type);
    }
}
