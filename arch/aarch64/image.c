#include "arch/aarch64/image.h"

#include "hypervisor/error.h"
#include "hypervisor/le.h"

#include <string.h>

#define ALIGN_2M 0x200000ull
#define PAGE_SIZE 4096ull

bool arm_image_parse(const uint8_t *head, size_t len, uint64_t file_size, ArmImageInfo *out,
                     GError **errp)
{
    if (len < ARM_IMAGE_HEADER_SIZE || file_size < ARM_IMAGE_HEADER_SIZE) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "too short (%" G_GUINT64_FORMAT " bytes) for an arm64 Image", file_size);
        return false;
    }
    if (le_load32(head + ARM_IMAGE_MAGIC_OFFSET) != ARM_IMAGE_MAGIC) {
        /* Name the usual mistakes: Debian ships Image uncompressed, but
         * other distributions' vmlinuz is Image.gz or an EFI zboot image. */
        const char *why = head[0] == 0x1f && head[1] == 0x8b ? " (it is gzip-compressed: "
                                                               "decompress it to an Image)"
                          : head[0] == 'M' && head[1] == 'Z' && !memcmp(head + 4, "zimg", 4)
                              ? " (it is a compressed EFI zboot image)"
                              : "";
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "not an arm64 Image: no \"ARM\\x64\" magic at offset 0x38%s", why);
        return false;
    }
    uint64_t text_offset = le_load64(head + 8), image_size = le_load64(head + 16);
    uint64_t flags = le_load64(head + 24);
    if (image_size == 0) {
        /* A pre-3.17 kernel: fixed offset, footprint unknown beyond the file. */
        text_offset = ARM_IMAGE_LEGACY_TEXT_OFFSET;
        image_size = file_size;
    }
    if (flags & ARM_IMAGE_FLAG_BE) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "big-endian arm64 Image: only little-endian kernels are supported");
        return false;
    }
    if (text_offset >= ALIGN_2M || text_offset % PAGE_SIZE) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "arm64 Image: text_offset %#" G_GINT64_MODIFIER
                    "x is not a page offset inside a 2 MiB block",
                    text_offset);
        return false;
    }
    if (image_size < file_size) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "arm64 Image: image_size %" G_GUINT64_FORMAT
                    " is smaller than the file (%" G_GUINT64_FORMAT " bytes)",
                    image_size, file_size);
        return false;
    }
    *out = (ArmImageInfo){ .text_offset = text_offset, .image_size = image_size, .flags = flags };
    return true;
}

bool arm_image_plan(const ArmImageInfo *img, uint64_t ram_base, uint64_t ram_size,
                    uint64_t fdt_max_size, ArmBootPlan *plan, GError **errp)
{
    g_assert(ram_base % ALIGN_2M == 0);
    uint64_t ram_end = ram_base + ram_size;
    uint64_t fdt_block = (fdt_max_size + ALIGN_2M - 1) & ~(ALIGN_2M - 1);
    /* Compare sizes, never sums that could wrap: the kernel footprint and
     * the DTB block must both fit. */
    if (ram_end < ram_base || ram_size < fdt_block ||
        img->text_offset > ram_size - fdt_block ||
        img->image_size > ram_size - fdt_block - img->text_offset) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "arm64 Image: %" G_GUINT64_FORMAT " MiB kernel footprint does not fit in %"
                    G_GUINT64_FORMAT " MiB of RAM with the device tree (give more --memory)",
                    img->image_size >> 20, ram_size >> 20);
        return false;
    }
    plan->kernel_addr = ram_base + img->text_offset;
    plan->kernel_end = plan->kernel_addr + img->image_size;
    plan->dtb_addr = (ram_end - fdt_block) & ~(ALIGN_2M - 1);
    plan->initrd_floor = (plan->kernel_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (plan->dtb_addr < plan->initrd_floor) { /* RAM that ends off a 2 MiB boundary */
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "arm64 Image: no 2 MiB block for the device tree above the kernel "
                    "(give more --memory)");
        return false;
    }
    return true;
}
