/* Tests of arch/x86_64/pvh.c: the hvm_start_info (version 1), module list and
 * memory map bytes handed to a PVH kernel. */
#include "arch/x86_64/layout.h"
#include "arch/x86_64/pvh.h"
#include "support/check_main.h"
#include "unit/arch/bzimage_image.h"

#include <string.h>

START_TEST(test_sizes)
{
    ck_assert_uint_eq(PVH_START_INFO_SIZE, 56);
    ck_assert_uint_eq(PVH_MODLIST_ENTRY_SIZE, 32);
    ck_assert_uint_eq(PVH_MEMMAP_ENTRY_SIZE, 24);
    /* The layout keeps the three structures apart. */
    ck_assert_uint_le(X86_PVH_INFO_ADDR + PVH_START_INFO_SIZE, X86_PVH_MODLIST_ADDR);
    ck_assert_uint_le(X86_PVH_MODLIST_ADDR + PVH_MODLIST_ENTRY_SIZE, X86_PVH_MEMMAP_ADDR);
    ck_assert_uint_le(X86_PVH_MEMMAP_ADDR + X86_PVH_MEMMAP_MAX * PVH_MEMMAP_ENTRY_SIZE,
                      X86_ZERO_PAGE_ADDR);
}
END_TEST

static void check_memmap(const uint8_t *si, const uint8_t *mm, const E820Map *m)
{
    ck_assert_uint_eq(test_rd64(si + 40), X86_PVH_MEMMAP_ADDR);
    ck_assert_uint_eq(test_rd32(si + 48), m->count);
    for (size_t i = 0; i < m->count; i++) {
        const uint8_t *e = mm + i * PVH_MEMMAP_ENTRY_SIZE;
        ck_assert_uint_eq(test_rd64(e), m->entries[i].addr);
        ck_assert_uint_eq(test_rd64(e + 8), m->entries[i].size);
        ck_assert_uint_eq(test_rd32(e + 16), m->entries[i].type);
        ck_assert_uint_eq(test_rd32(e + 20), 0);
    }
}

START_TEST(test_without_module)
{
    E820Map m;
    e820_build(&m, 512ull << 20);
    PvhInfo info = { .cmdline_addr = X86_CMDLINE_ADDR, .modlist_addr = X86_PVH_MODLIST_ADDR,
                     .memmap_addr = X86_PVH_MEMMAP_ADDR, .e820 = &m };
    uint8_t si[PVH_START_INFO_SIZE], ml[PVH_MODLIST_ENTRY_SIZE];
    uint8_t mm[E820_MAX_ENTRIES * PVH_MEMMAP_ENTRY_SIZE + 8];
    memset(si, 0xee, sizeof si);
    memset(ml, 0xee, sizeof ml);
    memset(mm, 0xee, sizeof mm);
    pvh_build(&info, si, ml, mm);

    ck_assert_uint_eq(test_rd32(si + 0), 0x336ec578);
    ck_assert_uint_eq(test_rd32(si + 4), 1);    /* version */
    ck_assert_uint_eq(test_rd32(si + 8), 0);    /* flags */
    ck_assert_uint_eq(test_rd32(si + 12), 0);   /* nr_modules */
    ck_assert_uint_eq(test_rd64(si + 16), 0);   /* modlist_paddr */
    ck_assert_uint_eq(test_rd64(si + 24), X86_CMDLINE_ADDR);
    ck_assert_uint_eq(test_rd64(si + 32), 0);   /* rsdp_paddr */
    ck_assert_uint_eq(test_rd32(si + 52), 0);   /* reserved */
    check_memmap(si, mm, &m);
    /* Nothing is written past the map. */
    ck_assert_uint_eq(mm[m.count * PVH_MEMMAP_ENTRY_SIZE], 0xee);
}
END_TEST

START_TEST(test_with_module)
{
    E820Map m;
    e820_build(&m, 6ull << 30);
    PvhInfo info = { .cmdline_addr = X86_CMDLINE_ADDR, .initrd_addr = 0xbf000000,
                     .initrd_size = 0x800123, .modlist_addr = X86_PVH_MODLIST_ADDR,
                     .memmap_addr = X86_PVH_MEMMAP_ADDR, .rsdp_addr = 0xe0000, .e820 = &m };
    uint8_t si[PVH_START_INFO_SIZE], ml[PVH_MODLIST_ENTRY_SIZE];
    uint8_t mm[E820_MAX_ENTRIES * PVH_MEMMAP_ENTRY_SIZE];
    memset(ml, 0xee, sizeof ml);
    pvh_build(&info, si, ml, mm);

    ck_assert_uint_eq(test_rd32(si + 0), PVH_START_MAGIC);
    ck_assert_uint_eq(test_rd32(si + 12), 1);
    ck_assert_uint_eq(test_rd64(si + 16), X86_PVH_MODLIST_ADDR);
    ck_assert_uint_eq(test_rd64(si + 24), X86_CMDLINE_ADDR);
    ck_assert_uint_eq(test_rd64(si + 32), 0xe0000); /* rsdp_paddr */
    /* hvm_modlist_entry: paddr, size, cmdline_paddr, reserved. */
    ck_assert_uint_eq(test_rd64(ml + 0), 0xbf000000);
    ck_assert_uint_eq(test_rd64(ml + 8), 0x800123);
    ck_assert_uint_eq(test_rd64(ml + 16), 0);
    ck_assert_uint_eq(test_rd64(ml + 24), 0);
    check_memmap(si, mm, &m);
    ck_assert_uint_eq(test_rd32(si + 48), 4);
}
END_TEST

START_TEST(test_no_cmdline)
{
    E820Map m;
    e820_build(&m, 64ull << 20);
    PvhInfo info = { .memmap_addr = X86_PVH_MEMMAP_ADDR, .e820 = &m };
    uint8_t si[PVH_START_INFO_SIZE], ml[PVH_MODLIST_ENTRY_SIZE];
    uint8_t mm[E820_MAX_ENTRIES * PVH_MEMMAP_ENTRY_SIZE];
    memset(si, 0xee, sizeof si);
    pvh_build(&info, si, ml, mm);
    ck_assert_uint_eq(test_rd64(si + 24), 0);
    ck_assert_uint_eq(test_rd32(si + 12), 0);
    check_memmap(si, mm, &m);
}
END_TEST

static Suite *pvh_suite(void)
{
    Suite *s = suite_create("pvh");
    TCase *tc = tcase_create("build");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_without_module);
    tcase_add_test(tc, test_with_module);
    tcase_add_test(tc, test_no_cmdline);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(pvh_suite)
