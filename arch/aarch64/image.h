/* The arm64 Linux `Image` format (the kernel's boot protocol header) and
 * where the Image, the initramfs and the DTB go in guest RAM. Pure code: no
 * KVM, no files; built and tested on every host arch. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The header is the first 64 bytes of the file. */
#define ARM_IMAGE_HEADER_SIZE 64u
#define ARM_IMAGE_MAGIC_OFFSET 0x38u
#define ARM_IMAGE_MAGIC 0x644d5241u /* "ARM\x64", little-endian */
/* Before Linux 3.17 image_size was 0 and the kernel expected this offset. */
#define ARM_IMAGE_LEGACY_TEXT_OFFSET 0x80000ull
/* flags bit 0: the kernel is big-endian. */
#define ARM_IMAGE_FLAG_BE 1ull

typedef struct ArmImageInfo {
    uint64_t text_offset; /* load address minus the 2 MiB aligned base */
    uint64_t image_size;  /* memory the kernel uses from its load address (incl. BSS) */
    uint64_t flags;
} ArmImageInfo;

/* Validate the header `head` (len bytes read from the start of a file of
 * file_size bytes). Errors say why the file is not a bootable arm64 Image
 * (too short, no magic, compressed, big-endian, sizes that do not add up). */
bool arm_image_parse(const uint8_t *head, size_t len, uint64_t file_size, ArmImageInfo *out,
                     GError **errp);

/* Where everything goes in RAM [ram_base, ram_base + ram_size). */
typedef struct ArmBootPlan {
    uint64_t kernel_addr;  /* 2 MiB aligned base + text_offset: the entry point */
    uint64_t kernel_end;   /* kernel_addr + image_size */
    uint64_t dtb_addr;     /* a 2 MiB block at the top of RAM (the kernel maps it whole) */
    uint64_t initrd_floor; /* the initramfs goes as high as fits in [floor, dtb_addr) */
} ArmBootPlan;

/* ram_base must be 2 MiB aligned. Fails when RAM cannot hold the kernel's
 * footprint plus the DTB block. */
bool arm_image_plan(const ArmImageInfo *img, uint64_t ram_base, uint64_t ram_size,
                    uint64_t fdt_max_size, ArmBootPlan *plan, GError **errp);
