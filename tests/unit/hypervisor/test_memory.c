/* Tests of hypervisor/memory.c: RAM regions without an accelerator and with
 * the fake one, bounds-checked translation, copies across region boundaries,
 * removal, and memory_parse_size(). */
#include "hypervisor/error.h"
#include "hypervisor/memory.h"
#include "support/check_main.h"
#include "support/fake_accel.h"

#include <string.h>
#include <unistd.h>

#define MiB (1ull << 20)

static const MemoryBacking private_ram = { 0 };
static const MemoryBacking shared_ram = { .shared = true };

static GuestMemory *mem;

static void setup(void)
{
    mem = memory_new(NULL);
}

static void teardown(void)
{
    memory_free(mem);
    mem = NULL;
}

static MemRegion *add(const char *name, Gpa gpa, uint64_t size)
{
    g_autoptr(GError) err = NULL;
    MemRegion *r = memory_add_ram(mem, name, gpa, size, &private_ram, &err);
    ck_assert_msg(r != NULL, "add %s: %s", name, err ? err->message : "?");
    ck_assert_ptr_null(err);
    return r;
}

static unsigned open_fds(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned n = 0;
    while (d && g_dir_read_name(d))
        n++;
    return n;
}

START_TEST(test_new_free_without_accel)
{
    GuestMemory *m = memory_new(NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(memory_ram_size(m), 0);
    ck_assert_ptr_null(memory_hva(m, 0, 1));
    uint8_t b = 0;
    ck_assert(!memory_read(m, 0, &b, 1));
    memory_free(m);
    memory_free(NULL);
}
END_TEST

START_TEST(test_add_ram)
{
    MemRegion *lo = add("lo", 0, 1 * MiB);
    MemRegion *hi = add("hi", 4 * MiB, 2 * MiB);
    ck_assert_uint_eq(lo->gpa, 0);
    ck_assert_uint_eq(lo->size, 1 * MiB);
    ck_assert_ptr_nonnull(lo->hva);
    ck_assert(lo->ram);
    ck_assert_str_eq(lo->name, "lo");
    ck_assert_uint_ne(lo->slot, hi->slot);
    ck_assert_uint_eq(memory_ram_size(mem), 3 * MiB);

    /* RAM starts zeroed and is reachable through memory_hva(). */
    uint8_t *p = memory_hva(mem, 4 * MiB + 100, 16);
    ck_assert_ptr_eq(p, hi->hva + 100);
    for (unsigned i = 0; i < 16; i++)
        ck_assert_uint_eq(p[i], 0);
    memcpy(p, "hello", 5);
    char buf[6] = { 0 };
    ck_assert(memory_read(mem, 4 * MiB + 100, buf, 5));
    ck_assert_str_eq(buf, "hello");

    g_autoptr(GPtrArray) regs = memory_regions(mem);
    ck_assert_uint_eq(regs->len, 2);
    ck_assert_ptr_eq(regs->pdata[0], lo);
    ck_assert_ptr_eq(regs->pdata[1], hi);
}
END_TEST

START_TEST(test_add_ram_sorted)
{
    add("c", 8 * MiB, MiB);
    add("a", 0, MiB);
    add("b", 2 * MiB, MiB);
    g_autoptr(GPtrArray) regs = memory_regions(mem);
    ck_assert_uint_eq(regs->len, 3);
    ck_assert_uint_eq(((MemRegion *)regs->pdata[0])->gpa, 0);
    ck_assert_uint_eq(((MemRegion *)regs->pdata[1])->gpa, 2 * MiB);
    ck_assert_uint_eq(((MemRegion *)regs->pdata[2])->gpa, 8 * MiB);
    ck_assert_ptr_nonnull(memory_hva(mem, 8 * MiB + MiB - 1, 1));
    ck_assert_ptr_nonnull(memory_hva(mem, 2 * MiB, MiB));
}
END_TEST

START_TEST(test_add_rejects)
{
    add("a", MiB, MiB);
    unsigned fds = open_fds();
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(memory_add_ram(mem, "over", MiB + 4096, 4096, &private_ram, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    ck_assert_ptr_nonnull(strstr(err->message, "over"));
    g_clear_error(&err);
    ck_assert_ptr_null(memory_add_ram(mem, "around", 0, 4 * MiB, &private_ram, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    ck_assert_ptr_null(memory_add_ram(mem, "tail", 2 * MiB - 4096, 8192, &private_ram, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    ck_assert_ptr_null(memory_add_ram(mem, "zero", 8 * MiB, 0, &private_ram, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    ck_assert_ptr_null(memory_add_ram(mem, "wrap", UINT64_MAX - 4095, 8192, &private_ram, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    uint8_t buf[4096];
    ck_assert_ptr_null(memory_add_mapping(mem, "map-over", MiB, sizeof(buf), buf, 0, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    ck_assert_ptr_null(memory_add_mapping(mem, "map-wrap", UINT64_MAX - 100, sizeof(buf), buf, 0, &err));
    ck_assert_ptr_nonnull(err);
    /* Failures leave nothing behind: no region, no memfd. */
    ck_assert_uint_eq(open_fds(), fds);
    g_autoptr(GPtrArray) regs = memory_regions(mem);
    ck_assert_uint_eq(regs->len, 1);
    ck_assert_uint_eq(memory_ram_size(mem), MiB);
}
END_TEST

START_TEST(test_hva_bounds)
{
    MemRegion *r = add("a", MiB, MiB);
    uint8_t *base = r->hva;
    ck_assert_ptr_eq(memory_hva(mem, MiB, MiB), base);
    ck_assert_ptr_eq(memory_hva(mem, 2 * MiB - 1, 1), base + MiB - 1);
    ck_assert_ptr_null(memory_hva(mem, 2 * MiB - 1, 2)); /* crosses the end */
    ck_assert_ptr_null(memory_hva(mem, MiB, MiB + 1));
    ck_assert_ptr_null(memory_hva(mem, 2 * MiB, 1));     /* just past */
    ck_assert_ptr_null(memory_hva(mem, MiB - 1, 1));     /* just before */
    ck_assert_ptr_null(memory_hva(mem, MiB - 1, 2));     /* from a hole into RAM */
    /* Lengths that would wrap the address space around. */
    ck_assert_ptr_null(memory_hva(mem, MiB + 16, UINT64_MAX));
    ck_assert_ptr_null(memory_hva(mem, MiB + 16, UINT64_MAX - 15));
    ck_assert_ptr_null(memory_hva(mem, MiB + 16, (uint64_t)-(MiB + 16) + 1));
    ck_assert_ptr_null(memory_hva(mem, UINT64_MAX, 1));
    ck_assert_ptr_null(memory_hva(mem, UINT64_MAX, 2));
}
END_TEST

START_TEST(test_copy_across_regions)
{
    /* Two adjacent regions: [1M, 2M) and [2M, 2M+64K). */
    MemRegion *a = add("a", MiB, MiB);
    MemRegion *b = add("b", 2 * MiB, 64 * 1024);
    /* One region never covers the boundary... */
    ck_assert_ptr_null(memory_hva(mem, 2 * MiB - 8, 16));
    /* ...but a copy may span it. */
    uint8_t out[16], in[16];
    for (unsigned i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i + 1);
    ck_assert(memory_write(mem, 2 * MiB - 8, out, sizeof(out)));
    ck_assert_mem_eq(a->hva + MiB - 8, out, 8);
    ck_assert_mem_eq(b->hva, out + 8, 8);
    memset(in, 0, sizeof(in));
    ck_assert(memory_read(mem, 2 * MiB - 8, in, sizeof(in)));
    ck_assert_mem_eq(in, out, sizeof(in));

    /* Spanning all of b and running into the hole after it: refused, and a
     * refused write changes nothing. */
    g_autofree uint8_t *big = g_malloc0(64 * 1024 + 16);
    memset(big, 0xee, 64 * 1024 + 16);
    ck_assert(!memory_write(mem, 2 * MiB - 8, big, 64 * 1024 + 16));
    ck_assert_mem_eq(a->hva + MiB - 8, out, 8);
    ck_assert_mem_eq(b->hva, out + 8, 8);
    ck_assert(!memory_read(mem, 2 * MiB - 8, big, 64 * 1024 + 16));
    /* Starting in a hole. */
    ck_assert(!memory_read(mem, MiB - 1, in, 2));
    ck_assert(!memory_write(mem, MiB - 1, in, 2));
    ck_assert_uint_eq(a->hva[0], 0);
    /* Exactly to the end of b. */
    ck_assert(memory_read(mem, 2 * MiB + 64 * 1024 - 16, in, 16));
    /* Zero-length copies are trivially fine. */
    ck_assert(memory_read(mem, MiB, in, 0));
}
END_TEST

START_TEST(test_copy_wrap)
{
    add("a", MiB, MiB);
    uint8_t buf[32];
    ck_assert(!memory_read(mem, UINT64_MAX - 7, buf, sizeof(buf)));
    ck_assert(!memory_write(mem, UINT64_MAX - 7, buf, sizeof(buf)));
    ck_assert(!memory_read(mem, UINT64_MAX, buf, 1));
}
END_TEST

START_TEST(test_remove)
{
    add("a", MiB, MiB);
    add("b", 2 * MiB, MiB);
    g_autoptr(GError) err = NULL;
    ck_assert(!memory_remove(mem, 3 * MiB, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
    g_clear_error(&err);
    ck_assert(!memory_remove(mem, MiB + 4096, &err)); /* not a region's start */
    g_clear_error(&err);

    ck_assert(memory_remove(mem, MiB, &err));
    ck_assert_ptr_null(err);
    ck_assert_ptr_null(memory_hva(mem, MiB, 1));
    ck_assert_ptr_nonnull(memory_hva(mem, 2 * MiB, 1));
    ck_assert_uint_eq(memory_ram_size(mem), MiB);
    uint8_t b = 0;
    ck_assert(!memory_read(mem, 2 * MiB - 1, &b, 2));
    ck_assert(!memory_remove(mem, MiB, NULL));

    /* The range (and its slot) can be used again. */
    add("a2", MiB, 2 * 4096);
    ck_assert_uint_eq(memory_ram_size(mem), MiB + 8192);
    ck_assert_ptr_nonnull(memory_hva(mem, MiB + 8191, 1));
    ck_assert_ptr_null(memory_hva(mem, MiB + 8192, 1));
}
END_TEST

START_TEST(test_mapping)
{
    static uint8_t rom[8192];
    memset(rom, 0x5a, sizeof(rom));
    g_autoptr(GError) err = NULL;
    MemRegion *r = memory_add_mapping(mem, "rom", 0xf0000, sizeof(rom), rom, ACCEL_MEM_READONLY, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->fd, -1);
    ck_assert_uint_eq(r->flags, ACCEL_MEM_READONLY);
    ck_assert_ptr_eq(memory_hva(mem, 0xf0010, 4), rom + 0x10);
    /* Foreign mappings are not RAM. */
    ck_assert_uint_eq(memory_ram_size(mem), 0);
    uint8_t b = 0;
    ck_assert(memory_read(mem, 0xf0000 + 8191, &b, 1));
    ck_assert_uint_eq(b, 0x5a);
    ck_assert(memory_remove(mem, 0xf0000, &err));
    ck_assert_uint_eq(rom[0], 0x5a); /* caller's memory is left alone */
}
END_TEST

START_TEST(test_shared_backing)
{
    g_autoptr(GError) err = NULL;
    MemRegion *s = memory_add_ram(mem, "shared", 0, MiB, &shared_ram, &err);
    MemRegion *p = memory_add_ram(mem, "private", MiB, MiB, &private_ram, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(p);
    memcpy(s->hva + 4096, "abcd", 4);
    memcpy(p->hva + 4096, "abcd", 4);
    char buf[4] = { 0 };
    ck_assert_int_eq(pread(s->fd, buf, 4, 4096), 4);
    ck_assert_mem_eq(buf, "abcd", 4); /* visible through the fd */
    /* Private RAM is anonymous memory: no fd could show it to anyone. */
    ck_assert_int_eq(p->fd, -1);
    ck_assert(s->ram && p->ram);
}
END_TEST

/* memory_zero_region() leaves every kind of RAM reading zero (private RAM
 * drops its pages, shared RAM punches its memfd) and foreign mappings too. */
START_TEST(test_zero_region)
{
    g_autoptr(GError) err = NULL;
    MemRegion *s = memory_add_ram(mem, "shared", 0, MiB, &shared_ram, &err);
    MemRegion *p = memory_add_ram(mem, "private", MiB, MiB, &private_ram, &err);
    static uint8_t rom[8192];
    MemRegion *f = memory_add_mapping(mem, "rom", 4 * MiB, sizeof rom, rom, 0, &err);
    ck_assert(s && p && f);
    MemRegion *all[] = { s, p, f };
    for (unsigned i = 0; i < 3; i++) {
        memset(all[i]->hva, 0x77, 3);
        memset(all[i]->hva + 4096 + 5, 0x77, 1);
        memory_zero_region(all[i]);
        ck_assert_msg(memory_page_is_zero(all[i]->hva) && memory_page_is_zero(all[i]->hva + 4096),
                      "region %s", all[i]->name);
    }
}
END_TEST

START_TEST(test_with_fake_accel)
{
    Accel *accel = fake_accel_new();
    AccelVm *avm = NULL;
    ck_assert_int_eq(accel->ops->vm_create(accel, &avm), 0);
    GuestMemory *m = memory_new(avm);
    ck_assert_ptr_nonnull(memory_add_ram(m, "a", 0, MiB, &private_ram, NULL));
    ck_assert_ptr_nonnull(memory_add_ram(m, "b", MiB, MiB, &private_ram, NULL));
    ck_assert_uint_eq(fake_accel_memslot_count(avm), 2);
    ck_assert(memory_remove(m, 0, NULL));
    ck_assert_uint_eq(fake_accel_memslot_count(avm), 1);
    ck_assert_ptr_null(memory_add_ram(m, "c", MiB, MiB, &private_ram, NULL));
    ck_assert_uint_eq(fake_accel_memslot_count(avm), 1);
    memory_free(m);
    ck_assert_uint_eq(fake_accel_memslot_count(avm), 0);
    avm->ops->vm_destroy(avm);
    accel_close(accel);
}
END_TEST

/* ---- memory_parse_size ----------------------------------------------------- */

static const struct {
    const char *text;
    uint64_t bytes;
} good_sizes[] = {
    { "512M", 512ull << 20 },
    { "1G", 1ull << 30 },
    { "4096", 4096 },
    { "2GiB", 2ull << 30 },
    { "2048K", 2048ull << 10 },
    { "512MB", 512ull << 20 },
    { "1g", 1ull << 30 },
    { "3T", 3ull << 40 },
    { "1", 1 },
    { "16777215T", 16777215ull << 40 },
    { "18446744073709551615", UINT64_MAX },
};

START_TEST(test_parse_size_good)
{
    uint64_t v = 0;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(memory_parse_size(good_sizes[_i].text, &v, &err), "'%s': %s", good_sizes[_i].text,
                  err ? err->message : "");
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(v, good_sizes[_i].bytes);
}
END_TEST

static const char *const bad_sizes[] = {
    "0", "", "12Q", "-1", "99999999999999999999T", "0M", "0G", "1.5G", " 1G", "1G ", "G", "M512",
    "1GiBx", "1iB", "1GG", "0x100", "+5", "16777216T", "18446744073709551616", "1K1", "1 G",
};

START_TEST(test_parse_size_bad)
{
    const char *text = bad_sizes[_i];
    uint64_t v = 0x1234;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!memory_parse_size(text, &v, &err), "'%s' accepted as %" G_GUINT64_FORMAT, text, v);
    ck_assert_uint_eq(v, 0x1234);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    g_autofree char *quoted = g_strdup_printf("'%s'", text);
    ck_assert_msg(strstr(err->message, quoted), "error '%s' does not quote the input", err->message);
}
END_TEST

START_TEST(test_parse_size_null)
{
    uint64_t v = 7;
    ck_assert(!memory_parse_size(NULL, &v, NULL));
    ck_assert_uint_eq(v, 7);
}
END_TEST

static Suite *memory_suite(void)
{
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("regions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_new_free_without_accel);
    tcase_add_test(tc, test_add_ram);
    tcase_add_test(tc, test_add_ram_sorted);
    tcase_add_test(tc, test_add_rejects);
    tcase_add_test(tc, test_hva_bounds);
    tcase_add_test(tc, test_copy_across_regions);
    tcase_add_test(tc, test_copy_wrap);
    tcase_add_test(tc, test_remove);
    tcase_add_test(tc, test_mapping);
    tcase_add_test(tc, test_shared_backing);
    tcase_add_test(tc, test_zero_region);
    tcase_add_test(tc, test_with_fake_accel);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse_size");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_parse_size_good, 0, G_N_ELEMENTS(good_sizes));
    tcase_add_loop_test(tc, test_parse_size_bad, 0, G_N_ELEMENTS(bad_sizes));
    tcase_add_test(tc, test_parse_size_null);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(memory_suite)
