/* Synthetic bzImage files for the boot-protocol tests: a setup area whose
 * setup header sits at the offsets of Documentation/arch/x86/boot.rst, then
 * a protected-mode "kernel" of recognisable bytes. */
#pragma once
#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* Offsets of the setup header fields (absolute, in the file and zero page). */
#define TBZ_SETUP_SECTS 0x1f1
#define TBZ_SYSSIZE 0x1f4
#define TBZ_VID_MODE 0x1fa
#define TBZ_BOOT_FLAG 0x1fe
#define TBZ_JUMP 0x200
#define TBZ_HEADER 0x202
#define TBZ_VERSION 0x206
#define TBZ_TYPE_OF_LOADER 0x210
#define TBZ_LOADFLAGS 0x211
#define TBZ_CODE32_START 0x214
#define TBZ_RAMDISK_IMAGE 0x218
#define TBZ_RAMDISK_SIZE 0x21c
#define TBZ_HEAP_END_PTR 0x224
#define TBZ_CMD_LINE_PTR 0x228
#define TBZ_INITRD_ADDR_MAX 0x22c
#define TBZ_KERNEL_ALIGNMENT 0x230
#define TBZ_RELOCATABLE 0x234
#define TBZ_XLOADFLAGS 0x236
#define TBZ_CMDLINE_SIZE 0x238
#define TBZ_PREF_ADDRESS 0x258
#define TBZ_INIT_SIZE 0x260
/* boot_params (zero page) fields outside the setup header. */
#define TBZ_ACPI_RSDP_ADDR 0x070
#define TBZ_EXT_RAMDISK_IMAGE 0x0c0
#define TBZ_EXT_RAMDISK_SIZE 0x0c4
#define TBZ_EXT_CMD_LINE_PTR 0x0c8
#define TBZ_E820_ENTRIES 0x1e8
#define TBZ_E820_TABLE 0x2d0

typedef struct TestBzParams {
    uint8_t setup_sects;    /* as written in the file (0 means 4) */
    uint16_t version;
    uint8_t loadflags;
    uint16_t xloadflags;
    uint32_t cmdline_size;
    uint32_t initrd_addr_max;
    uint64_t pref_address;
    uint32_t init_size;
    size_t kernel_bytes;    /* protected-mode kernel bytes after the setup */
    int32_t syssize_delta;  /* added to the honest syssize (paragraphs) */
} TestBzParams;

/* A valid 2.15 64-bit relocatable kernel: 4 setup sectors, 64 KiB kernel at
 * 16 MiB, init_size 2 MiB, cmdline_size 2047. */
TestBzParams test_bz_defaults(void);

/* The whole file. Kernel byte i (after the setup) is test_bz_kernel_byte(i). */
GByteArray *test_bz_build(const TestBzParams *p);
uint8_t test_bz_kernel_byte(size_t i);

uint16_t test_rd16(const uint8_t *p);
uint32_t test_rd32(const uint8_t *p);
uint64_t test_rd64(const uint8_t *p);
void test_wr16(uint8_t *p, uint16_t v);
void test_wr32(uint8_t *p, uint32_t v);
void test_wr64(uint8_t *p, uint64_t v);
