/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst): the setup
 * header of a bzImage and the zero page (struct boot_params) handed to the
 * kernel's 64-bit entry point. Offsets are the protocol's, named here. */
#pragma once
#include "arch/x86_64/e820.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define BZ_SETUP_HEADER_OFFSET 0x1f1
#define BZ_HEAD_SIZE 0x280     /* bytes of the file needed to parse the header */
#define BZ_ZERO_PAGE_SIZE 4096
#define BZ_MIN_VERSION 0x020c  /* 2.12: xloadflags, the 64-bit entry */
#define BZ_XLF_KERNEL_64 (1u << 0)
#define BZ_LOADED_HIGH (1u << 0)
#define BZ_CAN_USE_HEAP (1u << 7)

typedef struct BzImageHeader {
    uint8_t setup_sects;      /* 512-byte sectors of real-mode setup code (0 means 4) */
    uint16_t version;
    uint8_t loadflags;
    uint32_t initrd_addr_max; /* highest byte address an initrd may occupy */
    uint16_t xloadflags;
    uint32_t cmdline_size;    /* longest command line, without the NUL */
    uint64_t pref_address;    /* preferred load address of the protected-mode kernel */
    uint32_t init_size;       /* memory the kernel needs from its load address */
    uint64_t setup_size;      /* bytes before the protected-mode kernel in the file */
    uint64_t kernel_size;     /* bytes of the protected-mode kernel in the file */
    uint32_t header_end;      /* end of the setup header within the first sector(s) */
} BzImageHeader;

/* True if `head` carries the "HdrS" boot protocol signature. */
bool bzimage_has_magic(const uint8_t *head, size_t len);

/* Validate the header of a bzImage of file_size bytes given its first
 * BZ_HEAD_SIZE bytes. Refuses kernels without the 64-bit entry point. */
bool bzimage_parse(const uint8_t *head, size_t len, uint64_t file_size, const char *name,
                   BzImageHeader *h, GError **errp);

typedef struct BootParamsInfo {
    uint64_t cmdline_addr;
    uint32_t cmdline_len; /* without the NUL */
    uint64_t initrd_addr;
    uint64_t initrd_size;
    uint64_t rsdp_addr; /* 0: the guest scans for the RSDP itself */
    const E820Map *e820;
} BootParamsInfo;

/* Fill a zero page: the kernel's own setup header copied from `head`, then
 * the fields a boot loader must set. */
void bzimage_build_boot_params(uint8_t zp[BZ_ZERO_PAGE_SIZE], const uint8_t *head,
                               const BzImageHeader *h, const BootParamsInfo *info);
