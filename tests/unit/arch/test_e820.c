/* Tests of arch/x86_64/e820.c: the guest memory map for several RAM sizes
 * (entries, types, order, sums, the EBDA and the RAM above 4 GiB) and the
 * rules e820_add() enforces. */
#include "arch/x86_64/e820.h"
#include "arch/x86_64/layout.h"
#include "support/check_main.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* RAM that is backed but deliberately not listed: [EBDA, 1 MiB). */
#define UNLISTED_LOW (X86_BIOS_AREA_END - X86_EBDA_ADDR)

static uint64_t ram_total(const E820Map *m)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < m->count; i++)
        if (m->entries[i].type == E820_RAM)
            sum += m->entries[i].size;
    return sum;
}

/* Every map: non-empty entries, ascending, non-overlapping, known types. */
static void check_well_formed(const E820Map *m)
{
    ck_assert_uint_ge(m->count, 1);
    ck_assert_uint_le(m->count, E820_MAX_ENTRIES);
    for (size_t i = 0; i < m->count; i++) {
        const E820Entry *e = &m->entries[i];
        ck_assert_uint_gt(e->size, 0);
        ck_assert_uint_gt(e->addr + e->size, e->addr);
        ck_assert(e->type == E820_RAM || e->type == E820_RESERVED);
        if (i) {
            const E820Entry *p = &m->entries[i - 1];
            ck_assert_msg(p->addr + p->size <= e->addr, "entry %zu overlaps entry %zu", i, i - 1);
        }
        /* Nothing is listed in the 32-bit MMIO hole. */
        ck_assert(e->addr + e->size <= X86_MMIO_HOLE_START || e->addr >= X86_MMIO_HOLE_END);
    }
}

static void check_low_part(const E820Map *m)
{
    ck_assert_uint_eq(m->entries[0].addr, 0);
    ck_assert_uint_eq(m->entries[0].size, X86_EBDA_ADDR);
    ck_assert_uint_eq(m->entries[0].type, E820_RAM);
    /* The EBDA (where the MP floating pointer lives) is reserved, up to the
     * VGA window at 640 KiB. */
    ck_assert_uint_eq(m->entries[1].addr, X86_EBDA_ADDR);
    ck_assert_uint_eq(m->entries[1].size, 0xa0000 - X86_EBDA_ADDR);
    ck_assert_uint_eq(m->entries[1].type, E820_RESERVED);
}

START_TEST(test_build_64m)
{
    E820Map m;
    e820_build(&m, 64 * MiB);
    check_well_formed(&m);
    ck_assert_uint_eq(m.count, 3);
    check_low_part(&m);
    ck_assert_uint_eq(m.entries[2].addr, X86_HIGH_RAM_START);
    ck_assert_uint_eq(m.entries[2].size, 64 * MiB - X86_HIGH_RAM_START);
    ck_assert_uint_eq(m.entries[2].type, E820_RAM);
    ck_assert_uint_eq(ram_total(&m), 64 * MiB - UNLISTED_LOW);
    ck_assert_uint_eq(e820_ram_below_4g(64 * MiB), 64 * MiB);
    ck_assert_uint_eq(e820_ram_above_4g(64 * MiB), 0);
}
END_TEST

START_TEST(test_build_512m)
{
    E820Map m;
    e820_build(&m, 512 * MiB);
    check_well_formed(&m);
    ck_assert_uint_eq(m.count, 3);
    check_low_part(&m);
    ck_assert_uint_eq(m.entries[2].addr + m.entries[2].size, 512 * MiB);
    ck_assert_uint_eq(ram_total(&m), 512 * MiB - UNLISTED_LOW);
}
END_TEST

START_TEST(test_build_exactly_3g)
{
    E820Map m;
    e820_build(&m, 3 * GiB);
    check_well_formed(&m);
    ck_assert_uint_eq(m.count, 3); /* nothing above 4 GiB */
    check_low_part(&m);
    ck_assert_uint_eq(m.entries[2].addr, X86_HIGH_RAM_START);
    ck_assert_uint_eq(m.entries[2].addr + m.entries[2].size, X86_MMIO_HOLE_START);
    ck_assert_uint_eq(ram_total(&m), 3 * GiB - UNLISTED_LOW);
    ck_assert_uint_eq(e820_ram_below_4g(3 * GiB), 3 * GiB);
    ck_assert_uint_eq(e820_ram_above_4g(3 * GiB), 0);
}
END_TEST

START_TEST(test_build_3g_plus_1m)
{
    E820Map m;
    e820_build(&m, 3 * GiB + MiB);
    check_well_formed(&m);
    ck_assert_uint_eq(m.count, 4);
    check_low_part(&m);
    ck_assert_uint_eq(m.entries[2].addr + m.entries[2].size, X86_MMIO_HOLE_START);
    ck_assert_uint_eq(m.entries[3].addr, X86_RAM_ABOVE_4G_START);
    ck_assert_uint_eq(m.entries[3].size, MiB);
    ck_assert_uint_eq(m.entries[3].type, E820_RAM);
    ck_assert_uint_eq(ram_total(&m), 3 * GiB + MiB - UNLISTED_LOW);
    ck_assert_uint_eq(e820_ram_below_4g(3 * GiB + MiB), 3 * GiB);
    ck_assert_uint_eq(e820_ram_above_4g(3 * GiB + MiB), MiB);
}
END_TEST

START_TEST(test_build_8g)
{
    E820Map m;
    e820_build(&m, 8 * GiB);
    check_well_formed(&m);
    ck_assert_uint_eq(m.count, 4);
    check_low_part(&m);
    ck_assert_uint_eq(m.entries[2].size, 3 * GiB - X86_HIGH_RAM_START);
    ck_assert_uint_eq(m.entries[3].addr, 4 * GiB);
    ck_assert_uint_eq(m.entries[3].size, 5 * GiB);
    ck_assert_uint_eq(m.entries[3].addr + m.entries[3].size, 9 * GiB);
    ck_assert_uint_eq(ram_total(&m), 8 * GiB - UNLISTED_LOW);
    ck_assert_uint_eq(e820_ram_below_4g(8 * GiB) + e820_ram_above_4g(8 * GiB), 8 * GiB);
}
END_TEST

START_TEST(test_build_small_and_resets)
{
    /* The documented minimum, 2 MiB; a reused map is rebuilt from scratch. */
    E820Map m;
    e820_build(&m, 8 * GiB);
    e820_build(&m, 2 * MiB);
    check_well_formed(&m);
    ck_assert_uint_eq(m.count, 3);
    ck_assert_uint_eq(m.entries[2].addr, MiB);
    ck_assert_uint_eq(m.entries[2].size, MiB);
    ck_assert_uint_eq(ram_total(&m), 2 * MiB - UNLISTED_LOW);
}
END_TEST

START_TEST(test_add_rules)
{
    E820Map m = { 0 };
    ck_assert(e820_add(&m, 0x1000, 0x1000, E820_RAM));
    ck_assert_uint_eq(m.count, 1);
    ck_assert_uint_eq(m.entries[0].addr, 0x1000);
    ck_assert_uint_eq(m.entries[0].size, 0x1000);
    ck_assert_uint_eq(m.entries[0].type, E820_RAM);

    ck_assert(!e820_add(&m, 0x3000, 0, E820_RAM));        /* empty */
    ck_assert(!e820_add(&m, 0x0, 0x1000, E820_RAM));      /* before the last */
    ck_assert(!e820_add(&m, 0x1800, 0x1000, E820_RAM));   /* overlaps the last */
    ck_assert(!e820_add(&m, 0x1fff, 1, E820_RAM));        /* last byte of it */
    ck_assert(!e820_add(&m, 0x800, 0x10000, E820_RAM));   /* covers it */
    ck_assert(!e820_add(&m, UINT64_MAX - 0xfff, 0x2000, E820_RAM)); /* wraps */
    ck_assert_uint_eq(m.count, 1);

    ck_assert(e820_add(&m, 0x2000, 0x1000, E820_RESERVED)); /* adjacent is fine */
    ck_assert(e820_add(&m, 0x10000, 0x1000, E820_RAM));     /* with a gap too */
    ck_assert_uint_eq(m.count, 3);
    ck_assert_uint_eq(m.entries[1].type, E820_RESERVED);
}
END_TEST

START_TEST(test_add_full)
{
    E820Map m = { 0 };
    for (unsigned i = 0; i < E820_MAX_ENTRIES; i++)
        ck_assert(e820_add(&m, (uint64_t)i * 0x2000, 0x1000, E820_RAM));
    ck_assert_uint_eq(m.count, E820_MAX_ENTRIES);
    ck_assert(!e820_add(&m, 1ull << 40, 0x1000, E820_RAM));
    ck_assert_uint_eq(m.count, E820_MAX_ENTRIES);
    ck_assert_uint_eq(m.entries[E820_MAX_ENTRIES - 1].addr, (E820_MAX_ENTRIES - 1) * 0x2000ull);
}
END_TEST

static Suite *e820_suite(void)
{
    Suite *s = suite_create("e820");
    TCase *tc = tcase_create("build");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_build_64m);
    tcase_add_test(tc, test_build_512m);
    tcase_add_test(tc, test_build_exactly_3g);
    tcase_add_test(tc, test_build_3g_plus_1m);
    tcase_add_test(tc, test_build_8g);
    tcase_add_test(tc, test_build_small_and_resets);
    suite_add_tcase(s, tc);
    tc = tcase_create("add");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_add_rules);
    tcase_add_test(tc, test_add_full);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(e820_suite)
