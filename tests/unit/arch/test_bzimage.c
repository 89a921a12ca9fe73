/* Tests of arch/x86_64/bzimage.c: setup-header validation of synthetic
 * bzImages (accepted and each rejection) and the zero page built for the
 * 64-bit boot protocol (Documentation/arch/x86/boot.rst). */
#include "arch/x86_64/bzimage.h"
#include "hypervisor/error.h"
#include "support/check_main.h"
#include "unit/arch/bzimage_image.h"

#include <string.h>

static GByteArray *img;
static BzImageHeader hdr;

static void setup(void)
{
    TestBzParams p = test_bz_defaults();
    img = test_bz_build(&p);
}

static void teardown(void)
{
    g_byte_array_unref(img);
    img = NULL;
}

static bool parse(GError **err)
{
    return bzimage_parse(img->data, MIN(img->len, (guint)BZ_HEAD_SIZE), img->len, "vmlinuz",
                         &hdr, err);
}

static void expect_reject(int code, const char *fragment)
{
    g_autoptr(GError) err = NULL;
    ck_assert(!parse(&err));
    ck_assert_ptr_nonnull(err);
    ck_assert(err->domain == NIMBUS_ERROR);
    ck_assert_int_eq(err->code, code);
    ck_assert_msg(strstr(err->message, "vmlinuz") != NULL, "message lacks the name: %s",
                  err->message);
    ck_assert_msg(strstr(err->message, fragment) != NULL, "message '%s' lacks '%s'",
                  err->message, fragment);
}

static void rebuild(const TestBzParams *p)
{
    g_byte_array_unref(img);
    img = test_bz_build(p);
}

START_TEST(test_has_magic)
{
    ck_assert(bzimage_has_magic(img->data, img->len));
    ck_assert(bzimage_has_magic(img->data, 0x206));
    ck_assert(!bzimage_has_magic(img->data, 0x205));
    ck_assert(!bzimage_has_magic(img->data, 0));
    img->data[0x205] = 'T';
    ck_assert(!bzimage_has_magic(img->data, img->len));
}
END_TEST

START_TEST(test_parse_valid)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(parse(&err), "%s", err ? err->message : "");
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(hdr.setup_sects, 4);
    ck_assert_uint_eq(hdr.version, 0x020f);
    ck_assert_uint_eq(hdr.loadflags, 0x01);
    ck_assert_uint_eq(hdr.xloadflags, 0x0003);
    ck_assert_uint_eq(hdr.initrd_addr_max, 0x7fffffff);
    ck_assert_uint_eq(hdr.cmdline_size, 2047);
    ck_assert_uint_eq(hdr.pref_address, 0x1000000);
    ck_assert_uint_eq(hdr.init_size, 0x200000);
    ck_assert_uint_eq(hdr.setup_size, 5 * 512);
    ck_assert_uint_eq(hdr.kernel_size, 0x10000);
    ck_assert_uint_eq(hdr.header_end, 0x26c);
}
END_TEST

START_TEST(test_parse_setup_sects_zero_means_4)
{
    TestBzParams p = test_bz_defaults();
    p.setup_sects = 0;
    rebuild(&p);
    ck_assert(parse(NULL));
    ck_assert_uint_eq(hdr.setup_sects, 4);
    ck_assert_uint_eq(hdr.setup_size, 5 * 512);
    ck_assert_uint_eq(hdr.kernel_size, img->len - 5 * 512);

    p.setup_sects = 30; /* a typical modern kernel */
    rebuild(&p);
    ck_assert(parse(NULL));
    ck_assert_uint_eq(hdr.setup_size, 31 * 512);
    ck_assert_uint_eq(hdr.kernel_size, 0x10000);
}
END_TEST

START_TEST(test_parse_version_2_12_is_enough)
{
    TestBzParams p = test_bz_defaults();
    p.version = 0x020c;
    rebuild(&p);
    ck_assert(parse(NULL));
    ck_assert_uint_eq(hdr.version, 0x020c);
}
END_TEST

START_TEST(test_reject_no_magic)
{
    memcpy(img->data + TBZ_HEADER, "HdrX", 4);
    expect_reject(NIMBUS_ERROR_INVALID, "not a bzImage");
}
END_TEST

START_TEST(test_reject_bad_boot_flag)
{
    test_wr16(img->data + TBZ_BOOT_FLAG, 0x55aa);
    expect_reject(NIMBUS_ERROR_INVALID, "not a bzImage");
}
END_TEST

START_TEST(test_reject_short_head)
{
    g_autoptr(GError) err = NULL;
    ck_assert(!bzimage_parse(img->data, BZ_HEAD_SIZE - 1, img->len, "vmlinuz", &hdr, &err));
    ck_assert_int_eq(err->code, NIMBUS_ERROR_INVALID);
}
END_TEST

START_TEST(test_reject_old_version)
{
    TestBzParams p = test_bz_defaults();
    p.version = 0x020b;
    rebuild(&p);
    expect_reject(NIMBUS_ERROR_UNSUPPORTED, "2.11");
    p.version = 0x0200;
    rebuild(&p);
    expect_reject(NIMBUS_ERROR_UNSUPPORTED, "too old");
}
END_TEST

START_TEST(test_reject_no_64bit_entry)
{
    TestBzParams p = test_bz_defaults();
    p.xloadflags = 0x0002; /* can be loaded above 4G, but no 64-bit entry */
    rebuild(&p);
    expect_reject(NIMBUS_ERROR_UNSUPPORTED, "64-bit");
}
END_TEST

START_TEST(test_reject_not_loaded_high)
{
    TestBzParams p = test_bz_defaults();
    p.loadflags = 0x80; /* CAN_USE_HEAP only: a zImage */
    rebuild(&p);
    expect_reject(NIMBUS_ERROR_UNSUPPORTED, "zImage");
}
END_TEST

START_TEST(test_reject_truncated_setup)
{
    g_autoptr(GError) err = NULL;
    /* The file ends exactly where the kernel would start. */
    ck_assert(!bzimage_parse(img->data, BZ_HEAD_SIZE, 5 * 512, "vmlinuz", &hdr, &err));
    ck_assert_int_eq(err->code, NIMBUS_ERROR_INVALID);
    ck_assert(strstr(err->message, "truncated") != NULL);
    g_clear_error(&err);
    /* setup_sects far beyond the file. */
    img->data[TBZ_SETUP_SECTS] = 0xff;
    expect_reject(NIMBUS_ERROR_INVALID, "truncated");
}
END_TEST

START_TEST(test_syssize_bounds)
{
    TestBzParams p = test_bz_defaults();
    p.kernel_bytes = 100; /* 7 paragraphs (112 bytes) rounds up honestly */
    rebuild(&p);
    ck_assert(parse(NULL));
    ck_assert_uint_eq(hdr.kernel_size, 100);
    p.syssize_delta = 1; /* 128 bytes claimed, 100 present */
    rebuild(&p);
    expect_reject(NIMBUS_ERROR_INVALID, "truncated");
    p.kernel_bytes = 0x10000;
    p.syssize_delta = 0x1000; /* 64 KiB more than the file has */
    rebuild(&p);
    expect_reject(NIMBUS_ERROR_INVALID, "truncated");
    p.syssize_delta = -0x100; /* smaller than the file: fine (trailing data) */
    rebuild(&p);
    ck_assert(parse(NULL));
    /* A huge syssize must not overflow into acceptance. */
    test_wr32(img->data + TBZ_SYSSIZE, 0xffffffff);
    expect_reject(NIMBUS_ERROR_INVALID, "truncated");
}
END_TEST

static E820Map test_map(void)
{
    E820Map m;
    e820_build(&m, 8ull << 30);
    return m;
}

START_TEST(test_boot_params)
{
    ck_assert(parse(NULL));
    E820Map m = test_map();
    BootParamsInfo info = { .cmdline_addr = 0x20000, .cmdline_len = 11,
                            .initrd_addr = 0x3f000000, .initrd_size = 0x123456,
                            .rsdp_addr = 0xe0000, .e820 = &m };
    uint8_t zp[BZ_ZERO_PAGE_SIZE];
    memset(zp, 0x77, sizeof zp);
    bzimage_build_boot_params(zp, img->data, &hdr, &info);

    /* Before the setup header and after its end: zero, not file bytes. */
    for (unsigned i = 0; i < 0x1f1; i++)
        if (i < TBZ_ACPI_RSDP_ADDR || i >= TBZ_ACPI_RSDP_ADDR + 8)
            if (i < TBZ_EXT_RAMDISK_IMAGE || i >= TBZ_EXT_CMD_LINE_PTR + 4)
                if (i != TBZ_E820_ENTRIES)
                    ck_assert_msg(zp[i] == 0, "zero page byte %#x is %#x", i, zp[i]);
    for (unsigned i = 0x26c; i < TBZ_E820_TABLE; i++)
        ck_assert_msg(zp[i] == 0, "zero page byte %#x is %#x", i, zp[i]);

    /* The kernel's own header bytes, copied. */
    ck_assert_uint_eq(zp[TBZ_SETUP_SECTS], 4);
    ck_assert_uint_eq(test_rd32(zp + TBZ_SYSSIZE), test_rd32(img->data + TBZ_SYSSIZE));
    ck_assert_uint_eq(test_rd16(zp + TBZ_BOOT_FLAG), 0xaa55);
    ck_assert_mem_eq(zp + TBZ_HEADER, "HdrS", 4);
    ck_assert_uint_eq(test_rd16(zp + TBZ_VERSION), 0x020f);
    ck_assert_uint_eq(test_rd32(zp + TBZ_KERNEL_ALIGNMENT), 0x200000);
    ck_assert_uint_eq(zp[TBZ_RELOCATABLE], 1);
    ck_assert_uint_eq(test_rd16(zp + TBZ_XLOADFLAGS), 0x0003);
    ck_assert_uint_eq(test_rd32(zp + TBZ_CMDLINE_SIZE), 2047);
    ck_assert_uint_eq(test_rd64(zp + TBZ_PREF_ADDRESS), 0x1000000);
    ck_assert_uint_eq(test_rd32(zp + TBZ_INIT_SIZE), 0x200000);
    ck_assert_uint_eq(test_rd32(zp + TBZ_INITRD_ADDR_MAX), 0x7fffffff);

    /* What the loader sets. */
    ck_assert_uint_eq(zp[TBZ_TYPE_OF_LOADER], 0xff);
    ck_assert_uint_eq(zp[TBZ_LOADFLAGS], 0x01 | BZ_CAN_USE_HEAP);
    ck_assert_uint_eq(test_rd16(zp + TBZ_VID_MODE), 0xffff);
    ck_assert_uint_ne(test_rd16(zp + TBZ_HEAP_END_PTR), 0);
    ck_assert_uint_eq(test_rd32(zp + TBZ_CMD_LINE_PTR), 0x20000);
    ck_assert_uint_eq(test_rd32(zp + TBZ_EXT_CMD_LINE_PTR), 0);
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_IMAGE), 0x3f000000);
    ck_assert_uint_eq(test_rd32(zp + TBZ_EXT_RAMDISK_IMAGE), 0);
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_SIZE), 0x123456);
    ck_assert_uint_eq(test_rd32(zp + TBZ_EXT_RAMDISK_SIZE), 0);
    ck_assert_uint_eq(test_rd64(zp + TBZ_ACPI_RSDP_ADDR), 0xe0000);

    /* The memory map: count and 20-byte packed records. */
    ck_assert_uint_eq(zp[TBZ_E820_ENTRIES], m.count);
    for (size_t i = 0; i < m.count; i++) {
        const uint8_t *e = zp + TBZ_E820_TABLE + i * 20;
        ck_assert_uint_eq(test_rd64(e), m.entries[i].addr);
        ck_assert_uint_eq(test_rd64(e + 8), m.entries[i].size);
        ck_assert_uint_eq(test_rd32(e + 16), m.entries[i].type);
    }
    for (size_t i = TBZ_E820_TABLE + m.count * 20; i < BZ_ZERO_PAGE_SIZE; i++)
        ck_assert_msg(zp[i] == 0, "zero page byte %#zx is %#x", i, zp[i]);
}
END_TEST

START_TEST(test_boot_params_above_4g)
{
    /* Initrd and command line above 4 GiB: low halves in the header, high
     * halves in the ext_ fields. Sizes above 4 GiB too. */
    ck_assert(parse(NULL));
    E820Map m = test_map();
    BootParamsInfo info = { .cmdline_addr = 0x123456789ull, .cmdline_len = 3,
                            .initrd_addr = 0x2fedcb000ull, .initrd_size = 0x100001000ull,
                            .e820 = &m };
    uint8_t zp[BZ_ZERO_PAGE_SIZE];
    bzimage_build_boot_params(zp, img->data, &hdr, &info);
    ck_assert_uint_eq(test_rd32(zp + TBZ_CMD_LINE_PTR), 0x23456789);
    ck_assert_uint_eq(test_rd32(zp + TBZ_EXT_CMD_LINE_PTR), 0x1);
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_IMAGE), 0xfedcb000);
    ck_assert_uint_eq(test_rd32(zp + TBZ_EXT_RAMDISK_IMAGE), 0x2);
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_SIZE), 0x1000);
    ck_assert_uint_eq(test_rd32(zp + TBZ_EXT_RAMDISK_SIZE), 0x1);
    uint64_t addr = test_rd32(zp + TBZ_RAMDISK_IMAGE) |
                    (uint64_t)test_rd32(zp + TBZ_EXT_RAMDISK_IMAGE) << 32;
    ck_assert_uint_eq(addr, info.initrd_addr);
}
END_TEST

START_TEST(test_boot_params_rsdp_needs_2_14)
{
    /* acpi_rsdp_addr exists from protocol 2.14 on; older kernels scan for it. */
    static const uint16_t versions[] = { 0x020c, 0x020d, 0x020e, 0x020f };
    for (unsigned i = 0; i < G_N_ELEMENTS(versions); i++) {
        TestBzParams p = test_bz_defaults();
        p.version = versions[i];
        rebuild(&p);
        ck_assert(parse(NULL));
        E820Map m = test_map();
        BootParamsInfo info = { .cmdline_addr = 0x20000, .rsdp_addr = 0xe0000, .e820 = &m };
        uint8_t zp[BZ_ZERO_PAGE_SIZE];
        bzimage_build_boot_params(zp, img->data, &hdr, &info);
        ck_assert_uint_eq(test_rd64(zp + TBZ_ACPI_RSDP_ADDR),
                          versions[i] >= 0x020e ? 0xe0000 : 0);
        info.rsdp_addr = 0;
        bzimage_build_boot_params(zp, img->data, &hdr, &info);
        ck_assert_uint_eq(test_rd64(zp + TBZ_ACPI_RSDP_ADDR), 0);
    }
}
END_TEST

START_TEST(test_boot_params_no_initrd_and_full_map)
{
    ck_assert(parse(NULL));
    /* A map with the most entries the e820 module holds. */
    E820Map m = { 0 };
    for (unsigned i = 0; i < E820_MAX_ENTRIES; i++)
        ck_assert(e820_add(&m, i * 0x10000ull, 0x8000, i % 2 ? E820_RESERVED : E820_RAM));
    BootParamsInfo info = { .cmdline_addr = 0x20000, .e820 = &m };
    uint8_t zp[BZ_ZERO_PAGE_SIZE];
    bzimage_build_boot_params(zp, img->data, &hdr, &info);
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_IMAGE), 0);
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_SIZE), 0);
    ck_assert_uint_eq(zp[TBZ_E820_ENTRIES], E820_MAX_ENTRIES);
    const uint8_t *last = zp + TBZ_E820_TABLE + (E820_MAX_ENTRIES - 1) * 20;
    ck_assert_uint_eq(test_rd64(last), (E820_MAX_ENTRIES - 1) * 0x10000ull);
    ck_assert_uint_eq(test_rd32(last + 16), E820_RESERVED);
}
END_TEST

START_TEST(test_parse_mutations_never_crash)
{
    /* Random header corruption: parse either fails with an error or yields
     * a header whose sizes are consistent with the file. */
    GRand *r = g_rand_new_with_seed(0x4e494d42);
    for (unsigned iter = 0; iter < 20000; iter++) {
        TestBzParams p = test_bz_defaults();
        p.kernel_bytes = g_rand_int_range(r, 0, 4096);
        rebuild(&p);
        unsigned flips = g_rand_int_range(r, 1, 8);
        for (unsigned f = 0; f < flips; f++)
            img->data[0x1f0 + g_rand_int_range(r, 0, 0x90)] = (uint8_t)g_rand_int(r);
        g_autoptr(GError) err = NULL;
        if (!parse(&err)) {
            ck_assert_ptr_nonnull(err);
            continue;
        }
        ck_assert_uint_lt(hdr.setup_size, img->len);
        ck_assert_uint_eq(hdr.setup_size + hdr.kernel_size, img->len);
        ck_assert_uint_le(hdr.header_end, BZ_HEAD_SIZE);
        ck_assert(hdr.xloadflags & BZ_XLF_KERNEL_64);
        E820Map m = test_map();
        BootParamsInfo info = { .cmdline_addr = 0x20000, .e820 = &m };
        uint8_t zp[BZ_ZERO_PAGE_SIZE];
        bzimage_build_boot_params(zp, img->data, &hdr, &info);
        ck_assert_uint_eq(zp[TBZ_TYPE_OF_LOADER], 0xff);
    }
    g_rand_free(r);
}
END_TEST

static Suite *bzimage_suite(void)
{
    Suite *s = suite_create("bzimage");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_has_magic);
    tcase_add_test(tc, test_parse_valid);
    tcase_add_test(tc, test_parse_setup_sects_zero_means_4);
    tcase_add_test(tc, test_parse_version_2_12_is_enough);
    tcase_add_test(tc, test_reject_no_magic);
    tcase_add_test(tc, test_reject_bad_boot_flag);
    tcase_add_test(tc, test_reject_short_head);
    tcase_add_test(tc, test_reject_old_version);
    tcase_add_test(tc, test_reject_no_64bit_entry);
    tcase_add_test(tc, test_reject_not_loaded_high);
    tcase_add_test(tc, test_reject_truncated_setup);
    tcase_add_test(tc, test_syssize_bounds);
    suite_add_tcase(s, tc);
    tc = tcase_create("boot_params");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_boot_params);
    tcase_add_test(tc, test_boot_params_above_4g);
    tcase_add_test(tc, test_boot_params_rsdp_needs_2_14);
    tcase_add_test(tc, test_boot_params_no_initrd_and_full_map);
    tcase_add_test(tc, test_parse_mutations_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(bzimage_suite)
