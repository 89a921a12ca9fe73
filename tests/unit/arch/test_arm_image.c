/* Tests of arch/aarch64/image.c (built on every host arch): the arm64 Image
 * header parser with good headers (current, legacy image_size 0, every page
 * size flag) and hostile or wrong ones (short, no magic, gzip, EFI zboot,
 * big-endian, text_offset out of range, image_size below the file size), and
 * the RAM plan (kernel at base + text_offset, DTB in the top 2 MiB block,
 * initramfs floor above the footprint; too little RAM and wrapping sizes). */
#include "arch/aarch64/image.h"
#include "arch/aarch64/layout.h"
#include "hypervisor/error.h"
#include "hypervisor/le.h"
#include "support/check_main.h"

#include <string.h>

#define MiB (1ull << 20)

static uint8_t head[ARM_IMAGE_HEADER_SIZE];

/* A header as Linux writes it (arch/arm64/kernel/head.S layout). */
static void make_header(uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
    memset(head, 0, sizeof head);
    le_store32(head, 0x91005a4d); /* "MZ" + add x13, x18, #0x16 (EFI stub) */
    le_store32(head + 4, 0x14000000);
    le_store64(head + 8, text_offset);
    le_store64(head + 16, image_size);
    le_store64(head + 24, flags);
    le_store32(head + ARM_IMAGE_MAGIC_OFFSET, ARM_IMAGE_MAGIC);
    le_store32(head + 0x3c, 0x40); /* PE header offset */
}

static void expect_error(uint64_t file_size, const char *fragment)
{
    ArmImageInfo img;
    GError *err = NULL;
    ck_assert(!arm_image_parse(head, sizeof head, file_size, &img, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err->message, fragment), "'%s' lacks '%s'", err->message, fragment);
    g_error_free(err);
}

START_TEST(test_parse_good)
{
    /* Debian's 6.1 cloud Image: text_offset 0, 4 KiB pages (flags 0xa). */
    make_header(0, 30 * MiB, 0xa);
    ArmImageInfo img;
    GError *err = NULL;
    ck_assert(arm_image_parse(head, sizeof head, 27 * MiB, &img, &err));
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(img.text_offset, 0);
    ck_assert_uint_eq(img.image_size, 30 * MiB);
    ck_assert_uint_eq(img.flags, 0xa);
    /* Every page-size field and physical-placement bit is acceptable. */
    for (uint64_t flags = 0; flags < 16; flags += 2) {
        make_header(0x80000, 30 * MiB, flags);
        ck_assert(arm_image_parse(head, sizeof head, 30 * MiB, &img, NULL));
        ck_assert_uint_eq(img.text_offset, 0x80000);
    }
}
END_TEST

START_TEST(test_parse_legacy)
{
    /* image_size 0: a pre-3.17 kernel at the fixed 0x80000, footprint = file. */
    make_header(0x1234, 0, 0);
    ArmImageInfo img;
    ck_assert(arm_image_parse(head, sizeof head, 5 * MiB, &img, NULL));
    ck_assert_uint_eq(img.text_offset, ARM_IMAGE_LEGACY_TEXT_OFFSET);
    ck_assert_uint_eq(img.image_size, 5 * MiB);
}
END_TEST

START_TEST(test_parse_short)
{
    make_header(0, MiB, 0);
    ArmImageInfo img;
    GError *err = NULL;
    ck_assert(!arm_image_parse(head, 63, 63, &img, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "too short"));
    g_clear_error(&err);
    /* The header was read but the file claims to be shorter. */
    expect_error(10, "too short");
    ck_assert(!arm_image_parse(head, 0, 0, &img, NULL));
}
END_TEST

START_TEST(test_parse_not_image)
{
    make_header(0, MiB, 0);
    head[ARM_IMAGE_MAGIC_OFFSET + 3] = 0x65;
    expect_error(MiB, "no \"ARM\\x64\" magic");
    /* An x86 bzImage has "HdrS" at 0x202, nothing at 0x38. */
    memset(head, 0, sizeof head);
    expect_error(MiB, "not an arm64 Image");
    memset(head, 0, sizeof head);
    head[0] = 0x1f;
    head[1] = 0x8b;
    expect_error(MiB, "gzip-compressed");
    memset(head, 0, sizeof head);
    memcpy(head, "MZ\0\0zimg", 8);
    expect_error(MiB, "EFI zboot");
}
END_TEST

START_TEST(test_parse_big_endian)
{
    make_header(0, MiB, ARM_IMAGE_FLAG_BE | 0x2);
    expect_error(MiB, "big-endian");
}
END_TEST

START_TEST(test_parse_hostile_sizes)
{
    make_header(ARM_KERNEL_ALIGN, 4 * MiB, 0);
    expect_error(MiB, "text_offset");
    make_header(UINT64_MAX & ~0xfffull, 4 * MiB, 0);
    expect_error(MiB, "text_offset");
    make_header(0x80001, 4 * MiB, 0);
    expect_error(MiB, "text_offset");
    /* The file would spill past the footprint the header announces. */
    make_header(0, MiB, 0);
    expect_error(MiB + 1, "smaller than the file");
}
END_TEST

START_TEST(test_plan)
{
    ArmImageInfo img = { .text_offset = 0x80000, .image_size = 30 * MiB };
    ArmBootPlan plan;
    GError *err = NULL;
    ck_assert(arm_image_plan(&img, ARM_RAM_BASE, 512 * MiB, ARM_FDT_MAX_SIZE, &plan, &err));
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(plan.kernel_addr, ARM_RAM_BASE + 0x80000);
    ck_assert_uint_eq(plan.kernel_end, ARM_RAM_BASE + 0x80000 + 30 * MiB);
    ck_assert_uint_eq(plan.dtb_addr, ARM_RAM_BASE + 510 * MiB);
    ck_assert_uint_eq(plan.dtb_addr % ARM_KERNEL_ALIGN, 0);
    ck_assert_uint_eq(plan.initrd_floor % 4096, 0);
    ck_assert_uint_ge(plan.initrd_floor, plan.kernel_end);
    /* Exactly enough RAM: footprint, then the DTB block. */
    img = (ArmImageInfo){ .text_offset = 0, .image_size = 30 * MiB };
    ck_assert(arm_image_plan(&img, ARM_RAM_BASE, 32 * MiB, ARM_FDT_MAX_SIZE, &plan, NULL));
    ck_assert_uint_eq(plan.dtb_addr, plan.kernel_end);
}
END_TEST

START_TEST(test_plan_too_small)
{
    ArmImageInfo img = { .text_offset = 0, .image_size = 30 * MiB + 1 };
    ArmBootPlan plan;
    GError *err = NULL;
    ck_assert(!arm_image_plan(&img, ARM_RAM_BASE, 32 * MiB, ARM_FDT_MAX_SIZE, &plan, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "give more --memory"));
    g_clear_error(&err);
    /* Sizes chosen so that sums would wrap around 2^64. */
    img = (ArmImageInfo){ .text_offset = 0x1000, .image_size = UINT64_MAX - 0x800 };
    ck_assert(!arm_image_plan(&img, ARM_RAM_BASE, 512 * MiB, ARM_FDT_MAX_SIZE, &plan, NULL));
    img = (ArmImageInfo){ .text_offset = 0, .image_size = MiB };
    ck_assert(!arm_image_plan(&img, ARM_RAM_BASE, MiB, ARM_FDT_MAX_SIZE, &plan, NULL));
    /* RAM not ending on a 2 MiB boundary leaves no DTB block above the kernel. */
    ck_assert(!arm_image_plan(&img, ARM_RAM_BASE, 4 * MiB - 4096, ARM_FDT_MAX_SIZE, &plan, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "2 MiB block"));
    g_clear_error(&err);
}
END_TEST

static Suite *arm_image_suite(void)
{
    Suite *s = suite_create("arm_image");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_good);
    tcase_add_test(tc, test_parse_legacy);
    tcase_add_test(tc, test_parse_short);
    tcase_add_test(tc, test_parse_not_image);
    tcase_add_test(tc, test_parse_big_endian);
    tcase_add_test(tc, test_parse_hostile_sizes);
    tcase_add_test(tc, test_plan);
    tcase_add_test(tc, test_plan_too_small);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(arm_image_suite)
