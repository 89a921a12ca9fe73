/* Tests of hypervisor/addrspace.c: region bookkeeping (map, unmap, move,
 * lookup), dispatch with offsets, the access-size contract (valid_* and
 * impl_*), the defined behaviour of invalid and unassigned accesses, and the
 * per-vCPU hint after the map changes. */
#include "hypervisor/addrspace.h"
#include "hypervisor/error.h"
#include "support/check_main.h"

#include <signal.h>
#include <string.h>

#define DEV_BYTES 64
#define MAX_LOG 32

typedef struct Access {
    uint64_t offset;
    unsigned size;
    bool is_write;
    uint64_t value;
} Access;

/* A register file of DEV_BYTES little-endian bytes that logs every call. */
typedef struct TestDev {
    uint8_t mem[DEV_BYTES];
    unsigned calls;
    Access log[MAX_LOG];
    AddrSpace *unmap_as; /* when set, the handler unmaps its own region */
    uint64_t unmap_base;
} TestDev;

static void dev_log(TestDev *d, uint64_t off, unsigned size, bool is_write, uint64_t value)
{
    ck_assert_msg(size >= 1 && size <= 8, "handler got size %u", size);
    ck_assert_msg(off + size <= DEV_BYTES, "handler got offset 0x%" G_GINT64_MODIFIER "x size %u",
                  off, size);
    if (d->calls < MAX_LOG)
        d->log[d->calls] = (Access){ off, size, is_write, value };
    d->calls++;
}

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    TestDev *d = opaque;
    dev_log(d, off, size, false, 0);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)d->mem[off + i] << (8 * i);
    if (d->unmap_as) {
        ck_assert(addrspace_unmap(d->unmap_as, d->unmap_base, NULL));
        d->unmap_as = NULL;
    }
    return v;
}

static void dev_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    TestDev *d = opaque;
    dev_log(d, off, size, true, value);
    for (unsigned i = 0; i < size; i++)
        d->mem[off + i] = (uint8_t)(value >> (8 * i));
}

static const RegionOps any_ops = { .read = dev_read, .write = dev_write };

static AddrSpace *as;
static TestDev dev_a, dev_b;

static void setup(void)
{
    as = addrspace_new(ADDRSPACE_MMIO, NULL);
    memset(&dev_a, 0, sizeof(dev_a));
    memset(&dev_b, 0, sizeof(dev_b));
    for (unsigned i = 0; i < DEV_BYTES; i++) {
        dev_a.mem[i] = (uint8_t)(0xa0 + i);
        dev_b.mem[i] = (uint8_t)(0x10 + i);
    }
}

static void teardown(void)
{
    addrspace_free(as);
    as = NULL;
}

static uint64_t rd(uint64_t addr, unsigned len)
{
    uint8_t buf[8];
    memset(buf, 0x5a, sizeof(buf));
    addrspace_dispatch(as, NULL, addr, buf, len, false);
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)buf[i] << (8 * i);
    return v;
}

static void wr(uint64_t addr, unsigned len, uint64_t v)
{
    uint8_t buf[8];
    for (unsigned i = 0; i < len; i++)
        buf[i] = (uint8_t)(v >> (8 * i));
    addrspace_dispatch(as, NULL, addr, buf, len, true);
}

static uint64_t ones(unsigned len)
{
    return len >= 8 ? UINT64_MAX : (1ull << (8 * len)) - 1;
}

static void map_ok(const char *name, uint64_t base, uint64_t size, const RegionOps *ops, TestDev *d)
{
    g_autoptr(GError) err = NULL;
    bool ok = addrspace_map(as, name, base, size, ops, d, &err);
    ck_assert_msg(ok, "map %s: %s", name, err ? err->message : "?");
    ck_assert_ptr_null(err);
}

static void map_fails(const char *name, uint64_t base, uint64_t size)
{
    g_autoptr(GError) err = NULL;
    unsigned before = addrspace_count(as);
    ck_assert(!addrspace_map(as, name, base, size, &any_ops, &dev_b, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    ck_assert_ptr_nonnull(strstr(err->message, name));
    ck_assert_uint_eq(addrspace_count(as), before);
}

/* ---- map / unmap / move / lookup ---------------------------------------- */

START_TEST(test_map_lookup_count)
{
    uint64_t base = 0, size = 0;
    ck_assert_uint_eq(addrspace_count(as), 0);
    ck_assert(!addrspace_lookup(as, 0x1000, &base, &size));

    map_ok("b", 0x2000, 0x40, &any_ops, &dev_b);
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    ck_assert_uint_eq(addrspace_count(as), 2);

    ck_assert(addrspace_lookup(as, 0x1000, &base, &size));
    ck_assert_uint_eq(base, 0x1000);
    ck_assert_uint_eq(size, 0x40);
    ck_assert(addrspace_lookup(as, 0x103f, &base, &size));
    ck_assert_uint_eq(base, 0x1000);
    ck_assert(addrspace_lookup(as, 0x2020, &base, &size));
    ck_assert_uint_eq(base, 0x2000);
    ck_assert(!addrspace_lookup(as, 0x0fff, &base, &size));
    ck_assert(!addrspace_lookup(as, 0x1040, &base, &size));
    ck_assert(!addrspace_lookup(as, 0x2040, &base, &size));
    ck_assert(!addrspace_lookup(as, UINT64_MAX, &base, &size));
}
END_TEST

START_TEST(test_map_rejects_zero_and_wrap)
{
    map_fails("zero", 0x1000, 0);
    map_fails("wrap", UINT64_MAX - 0xf, 0x20);
    ck_assert_uint_eq(addrspace_count(as), 0);
    map_fails("wrap-max", 2, UINT64_MAX);
    /* [1, 2^64) is the largest legal region. */
    map_ok("all-but-0", 1, UINT64_MAX, &any_ops, &dev_a);
    map_fails("zero-page", 0, 2);
    map_ok("0", 0, 1, &any_ops, &dev_b);
    ck_assert_uint_eq(addrspace_count(as), 2);
}
END_TEST

START_TEST(test_map_top_of_address_space)
{
    /* [2^64 - 16, 2^64) ends exactly at the top: legal, and it must still
     * take part in the overlap checks. */
    map_ok("top", UINT64_MAX - 0xf, 0x10, &any_ops, &dev_a);
    ck_assert_uint_eq(rd(UINT64_MAX - 0xf, 1), 0xa0);
    ck_assert_uint_eq(rd(UINT64_MAX, 1), 0xa0 + 0xf);
    map_fails("same", UINT64_MAX - 0xf, 0x10);
    map_fails("inside", UINT64_MAX - 0x7, 0x1);
    map_fails("below-into", UINT64_MAX - 0x1f, 0x11);
    map_ok("below", UINT64_MAX - 0x1f, 0x10, &any_ops, &dev_b);
    ck_assert_uint_eq(addrspace_count(as), 2);
    /* Moving another region onto it is an overlap too. */
    g_autoptr(GError) err = NULL;
    ck_assert(!addrspace_move(as, UINT64_MAX - 0x1f, UINT64_MAX - 0x17, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
}
END_TEST

START_TEST(test_map_rejects_overlap)
{
    map_ok("a", 0x1000, 0x100, &any_ops, &dev_a);
    map_fails("same", 0x1000, 0x100);
    map_fails("start", 0x0f80, 0x100);
    map_fails("end", 0x10ff, 0x10);
    map_fails("inside", 0x1010, 0x10);
    map_fails("around", 0x0800, 0x1000);
    map_fails("one-byte", 0x10ff, 1);
    /* Touching at either edge is not an overlap. */
    map_ok("below", 0x0f00, 0x100, &any_ops, &dev_b);
    map_ok("above", 0x1100, 0x100, &any_ops, &dev_b);
    ck_assert_uint_eq(addrspace_count(as), 3);
    ck_assert_uint_eq(rd(0x1000, 1), 0xa0);
    ck_assert_uint_eq(rd(0x0f01, 1), 0x11);
    ck_assert_uint_eq(rd(0x1101, 1), 0x11);
}
END_TEST

START_TEST(test_unmap)
{
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    map_ok("b", 0x2000, 0x40, &any_ops, &dev_b);

    g_autoptr(GError) err = NULL;
    ck_assert(!addrspace_unmap(as, 0x3000, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
    g_clear_error(&err);
    /* Only the base names a region. */
    ck_assert(!addrspace_unmap(as, 0x1010, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
    g_clear_error(&err);
    ck_assert_uint_eq(addrspace_count(as), 2);

    ck_assert(addrspace_unmap(as, 0x1000, &err));
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(addrspace_count(as), 1);
    uint64_t base, size;
    ck_assert(!addrspace_lookup(as, 0x1000, &base, &size));
    ck_assert_uint_eq(rd(0x1000, 4), 0xffffffffu);
    ck_assert_uint_eq(dev_a.calls, 0);
    ck_assert_uint_eq(rd(0x2000, 1), 0x10);

    /* The range can be mapped again. */
    map_ok("a2", 0x1000, 0x40, &any_ops, &dev_b);
    ck_assert_uint_eq(rd(0x1001, 1), 0x11);
    ck_assert(!addrspace_unmap(as, 0x1000 + 0x40, NULL)); /* NULL errp is fine */
}
END_TEST

START_TEST(test_move)
{
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    map_ok("b", 0x2000, 0x40, &any_ops, &dev_b);

    g_autoptr(GError) err = NULL;
    ck_assert(addrspace_move(as, 0x1000, 0x8000, &err));
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(addrspace_count(as), 2);
    ck_assert_uint_eq(rd(0x1004, 1), 0xff);
    ck_assert_uint_eq(dev_a.calls, 0);
    ck_assert_uint_eq(rd(0x8004, 1), 0xa4);
    ck_assert_uint_eq(dev_a.log[0].offset, 4);

    /* Onto another region: refused, nothing changes. */
    ck_assert(!addrspace_move(as, 0x8000, 0x2020, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    g_clear_error(&err);
    ck_assert_uint_eq(rd(0x8000, 1), 0xa0);
    ck_assert_uint_eq(rd(0x2020, 1), 0x30);

    /* Wrapping: refused. */
    ck_assert(!addrspace_move(as, 0x8000, UINT64_MAX - 0x10, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    g_clear_error(&err);

    /* Overlapping only its own old range is fine. */
    ck_assert(addrspace_move(as, 0x8000, 0x8010, &err));
    ck_assert_uint_eq(rd(0x8010, 1), 0xa0);
    ck_assert_uint_eq(rd(0x800f, 1), 0xff);

    /* Below another region: the sorted order must follow. */
    ck_assert(addrspace_move(as, 0x8010, 0x100, &err));
    uint64_t base, size;
    ck_assert(addrspace_lookup(as, 0x13f, &base, &size));
    ck_assert_uint_eq(base, 0x100);
    ck_assert(addrspace_lookup(as, 0x2000, &base, &size));
    ck_assert_uint_eq(base, 0x2000);
    ck_assert_uint_eq(rd(0x2001, 1), 0x11);
    ck_assert_uint_eq(rd(0x101, 1), 0xa1);

    ck_assert(!addrspace_move(as, 0x9999, 0xa000, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
}
END_TEST

/* ---- dispatch ------------------------------------------------------------ */

START_TEST(test_dispatch_offsets)
{
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    map_ok("b", 0x1040, 0x40, &any_ops, &dev_b);

    wr(0x1010, 4, 0x11223344);
    ck_assert_uint_eq(dev_a.calls, 1);
    ck_assert_uint_eq(dev_b.calls, 0);
    ck_assert_uint_eq(dev_a.log[0].offset, 0x10);
    ck_assert_uint_eq(dev_a.log[0].size, 4);
    ck_assert(dev_a.log[0].is_write);
    ck_assert_uint_eq(dev_a.log[0].value, 0x11223344);
    ck_assert_uint_eq(rd(0x1010, 4), 0x11223344);
    ck_assert_uint_eq(rd(0x1010, 2), 0x3344);

    ck_assert_uint_eq(rd(0x1040, 8), 0x1716151413121110ull);
    ck_assert_uint_eq(dev_b.calls, 1);
    ck_assert_uint_eq(dev_b.log[0].offset, 0);
    ck_assert_uint_eq(dev_b.log[0].size, 8);
    ck_assert_uint_eq(rd(0x107f, 1), 0x10 + 0x3f);
    ck_assert_uint_eq(dev_b.log[1].offset, 0x3f);
    ck_assert_uint_eq(dev_a.calls, 3);
}
END_TEST

/* Each access size 1..8 (sizes 3, 5, 6, 7 are never valid). */
static const RegionOps ops_2_4 = { .read = dev_read, .write = dev_write, .valid_min = 2, .valid_max = 4 };

START_TEST(test_valid_sizes)
{
    unsigned len = (unsigned)_i;
    map_ok("a", 0x1000, 0x40, &ops_2_4, &dev_a);
    bool valid = len == 2 || len == 4;

    uint64_t v = rd(0x1008, len);
    if (valid) {
        ck_assert_uint_eq(dev_a.calls, 1);
        ck_assert_uint_eq(dev_a.log[0].size, len);
        ck_assert_uint_eq(v, len == 2 ? 0xa9a8 : 0xabaaa9a8);
    } else {
        ck_assert_uint_eq(dev_a.calls, 0);
        ck_assert_uint_eq(v, ones(len));
    }

    unsigned before = dev_a.calls;
    wr(0x1008, len, 0);
    if (valid) {
        ck_assert_uint_eq(dev_a.calls, before + 1);
        ck_assert_uint_eq(dev_a.mem[8], 0);
    } else {
        ck_assert_uint_eq(dev_a.calls, before);
        ck_assert_uint_eq(dev_a.mem[8], 0xa8); /* dropped */
    }
}
END_TEST

START_TEST(test_default_sizes_all_valid)
{
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    for (unsigned len = 1; len <= 8; len <<= 1) {
        wr(0x1000 + 0x10, len, 0x0807060504030201ull);
        ck_assert_uint_eq(rd(0x1010, len), 0x0807060504030201ull & ones(len));
    }
    ck_assert_uint_eq(dev_a.calls, 8);
    /* Non power-of-two lengths are never valid. */
    ck_assert_uint_eq(rd(0x1000, 3), 0xffffff);
    ck_assert_uint_eq(dev_a.calls, 8);
}
END_TEST

START_TEST(test_alignment)
{
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    /* Misaligned accesses are invalid by default. */
    ck_assert_uint_eq(rd(0x1002, 4), 0xffffffffu);
    ck_assert_uint_eq(rd(0x1001, 2), 0xffff);
    ck_assert_uint_eq(rd(0x1004, 8), UINT64_MAX);
    wr(0x1001, 2, 0);
    ck_assert_uint_eq(dev_a.calls, 0);
    ck_assert_uint_eq(dev_a.mem[1], 0xa1);
    /* Aligned to their size (not to the region) is fine. */
    ck_assert_uint_eq(rd(0x1004, 4), 0xa7a6a5a4);
    ck_assert_uint_eq(dev_a.calls, 1);
}
END_TEST

static const RegionOps ops_unaligned = { .read = dev_read, .write = dev_write, .valid_unaligned = true };

START_TEST(test_unaligned_allowed)
{
    map_ok("a", 0x1000, 0x40, &ops_unaligned, &dev_a);
    ck_assert_uint_eq(rd(0x1003, 4), 0xa6a5a4a3);
    ck_assert_uint_eq(dev_a.log[0].offset, 3);
    wr(0x1005, 2, 0xbeef);
    ck_assert_uint_eq(dev_a.mem[5], 0xef);
    ck_assert_uint_eq(dev_a.mem[6], 0xbe);
}
END_TEST

START_TEST(test_access_past_region_end)
{
    /* A 4-byte region; accesses that stick out of it are invalid even when
     * the size is allowed, and never reach the handler. */
    map_ok("a", 0x1000, 4, &ops_unaligned, &dev_a);
    map_ok("b", 0x1004, 4, &ops_unaligned, &dev_b);
    ck_assert_uint_eq(rd(0x1002, 4), 0xffffffffu);
    ck_assert_uint_eq(rd(0x1000, 8), UINT64_MAX);
    wr(0x1003, 2, 0);
    ck_assert_uint_eq(dev_a.calls, 0);
    ck_assert_uint_eq(dev_b.calls, 0);
    ck_assert_uint_eq(rd(0x1000, 4), 0xa3a2a1a0);
}
END_TEST

/* The handler implements only byte accesses: wider ones are split. */
static const RegionOps ops_impl_byte = { .read = dev_read, .write = dev_write, .impl_max = 1 };

START_TEST(test_impl_split)
{
    map_ok("a", 0x1000, 0x40, &ops_impl_byte, &dev_a);
    wr(0x1008, 4, 0x11223344);
    ck_assert_uint_eq(dev_a.calls, 4);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(dev_a.log[i].size, 1);
        ck_assert_uint_eq(dev_a.log[i].offset, 8 + i);
        ck_assert(dev_a.log[i].is_write);
    }
    ck_assert_uint_eq(dev_a.log[0].value, 0x44);
    ck_assert_uint_eq(dev_a.log[3].value, 0x11);

    dev_a.calls = 0;
    ck_assert_uint_eq(rd(0x1008, 8), 0xafaeadac11223344ull);
    ck_assert_uint_eq(dev_a.calls, 8);
    for (unsigned i = 0; i < 8; i++)
        ck_assert_uint_eq(dev_a.log[i].size, 1);
}
END_TEST

static const RegionOps ops_impl_4 = { .read = dev_read, .write = dev_write, .impl_min = 4, .impl_max = 4 };

START_TEST(test_impl_split_8_into_4)
{
    map_ok("a", 0x1000, 0x40, &ops_impl_4, &dev_a);
    wr(0x1010, 8, 0x1122334455667788ull);
    ck_assert_uint_eq(dev_a.calls, 2);
    ck_assert_uint_eq(dev_a.log[0].offset, 0x10);
    ck_assert_uint_eq(dev_a.log[0].size, 4);
    ck_assert_uint_eq(dev_a.log[0].value, 0x55667788);
    ck_assert_uint_eq(dev_a.log[1].offset, 0x14);
    ck_assert_uint_eq(dev_a.log[1].value, 0x11223344);
    ck_assert_uint_eq(rd(0x1010, 8), 0x1122334455667788ull);
}
END_TEST

START_TEST(test_impl_widen)
{
    map_ok("a", 0x1000, 0x40, &ops_impl_4, &dev_a);
    /* A byte read at offset 6 becomes a 4-byte read at offset 4. */
    ck_assert_uint_eq(rd(0x1006, 1), 0xa6);
    ck_assert_uint_eq(dev_a.calls, 1);
    ck_assert_uint_eq(dev_a.log[0].offset, 4);
    ck_assert_uint_eq(dev_a.log[0].size, 4);
    ck_assert_uint_eq(rd(0x1006, 2), 0xa7a6);

    /* A 2-byte write at offset 2: read-modify-write of the word at 0. */
    dev_a.calls = 0;
    wr(0x1002, 2, 0xbeef);
    ck_assert_uint_eq(dev_a.calls, 2);
    ck_assert(!dev_a.log[0].is_write);
    ck_assert(dev_a.log[1].is_write);
    ck_assert_uint_eq(dev_a.log[1].offset, 0);
    ck_assert_uint_eq(dev_a.log[1].size, 4);
    ck_assert_uint_eq(dev_a.log[1].value, 0xbeefa1a0);
    ck_assert_uint_eq(dev_a.mem[4], 0xa4); /* neighbours untouched */
}
END_TEST

static const RegionOps ops_impl_4_unaligned = {
    .read = dev_read, .write = dev_write, .valid_unaligned = true, .impl_min = 4, .impl_max = 4,
};

START_TEST(test_impl_widen_unaligned_straddle)
{
    /* A narrow unaligned access that straddles two implemented words must
     * still read and write exactly its own bytes. */
    map_ok("a", 0x1000, 0x40, &ops_impl_4_unaligned, &dev_a);
    ck_assert_uint_eq(rd(0x1003, 2), 0xa4a3);
    ck_assert_uint_eq(rd(0x1007, 1), 0xa7);
    wr(0x1007, 2, 0xbeef);
    ck_assert_uint_eq(dev_a.mem[6], 0xa6);
    ck_assert_uint_eq(dev_a.mem[7], 0xef);
    ck_assert_uint_eq(dev_a.mem[8], 0xbe);
    ck_assert_uint_eq(dev_a.mem[9], 0xa9);
    for (unsigned i = 0; i < MIN(dev_a.calls, MAX_LOG); i++) {
        ck_assert_uint_eq(dev_a.log[i].size, 4);
        ck_assert_uint_eq(dev_a.log[i].offset % 4, 0);
    }
}
END_TEST

START_TEST(test_unassigned)
{
    unsigned len = (unsigned)_i;
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    uint8_t buf[16];
    memset(buf, 0, sizeof(buf));
    addrspace_dispatch(as, NULL, 0x5000, buf, len, false);
    for (unsigned i = 0; i < len; i++)
        ck_assert_uint_eq(buf[i], 0xff);
    for (unsigned i = len; i < sizeof(buf); i++)
        ck_assert_uint_eq(buf[i], 0); /* nothing past len */
    memset(buf, 0x42, sizeof(buf));
    addrspace_dispatch(as, NULL, 0x5000, buf, len, true);
    for (unsigned i = 0; i < sizeof(buf); i++)
        ck_assert_uint_eq(buf[i], 0x42); /* a write's buffer is not touched */
    ck_assert_uint_eq(dev_a.calls, 0);
}
END_TEST

START_TEST(test_unassigned_edges)
{
    ck_assert_uint_eq(rd(0, 8), UINT64_MAX);
    ck_assert_uint_eq(rd(UINT64_MAX, 1), 0xff);
    ck_assert_uint_eq(rd(UINT64_MAX - 3, 4), 0xffffffffu);
    wr(UINT64_MAX, 1, 0);
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    /* Starting just below a region and reaching into it: unassigned. */
    ck_assert_uint_eq(rd(0x0ffe, 4), 0xffffffffu);
    ck_assert_uint_eq(dev_a.calls, 0);
}
END_TEST

/* ---- the per-vCPU hint ---------------------------------------------------- */

static uint64_t rd_hint(AddrSpaceHint *hint, uint64_t addr, unsigned len)
{
    uint8_t buf[8];
    addrspace_dispatch(as, hint, addr, buf, len, false);
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)buf[i] << (8 * i);
    return v;
}

START_TEST(test_hint_after_unmap)
{
    AddrSpaceHint hint = { 0 };
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    ck_assert_uint_eq(rd_hint(&hint, 0x1000, 1), 0xa0);
    ck_assert_ptr_nonnull(hint.region);
    ck_assert(addrspace_unmap(as, 0x1000, NULL));
    /* The hint names a freed region: it must not be used (ASan would see
     * a use-after-free) and the access must be unassigned. */
    ck_assert_uint_eq(rd_hint(&hint, 0x1000, 1), 0xff);
    ck_assert_uint_eq(dev_a.calls, 1);

    /* A new region at the same place gets the access, not the old one. */
    map_ok("b", 0x1000, 0x40, &any_ops, &dev_b);
    ck_assert_uint_eq(rd_hint(&hint, 0x1001, 1), 0x11);
    ck_assert_uint_eq(dev_a.calls, 1);
    ck_assert_uint_eq(dev_b.calls, 1);
}
END_TEST

START_TEST(test_hint_after_move)
{
    AddrSpaceHint hint = { 0 };
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    ck_assert_uint_eq(rd_hint(&hint, 0x1008, 1), 0xa8);
    ck_assert(addrspace_move(as, 0x1000, 0x3000, NULL));
    ck_assert_uint_eq(rd_hint(&hint, 0x1008, 1), 0xff);
    ck_assert_uint_eq(dev_a.calls, 1);
    ck_assert_uint_eq(rd_hint(&hint, 0x3008, 1), 0xa8);
    ck_assert_uint_eq(dev_a.log[1].offset, 8);
    /* A region mapped where the old one was is reached through the same hint. */
    map_ok("b", 0x1000, 0x40, &any_ops, &dev_b);
    ck_assert_uint_eq(rd_hint(&hint, 0x1008, 1), 0x18);
    ck_assert_uint_eq(dev_b.calls, 1);
}
END_TEST

START_TEST(test_hint_switches_regions)
{
    AddrSpaceHint hint = { 0 };
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    map_ok("b", 0x2000, 0x40, &any_ops, &dev_b);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(rd_hint(&hint, 0x1000 + i, 1), 0xa0 + i);
        ck_assert_uint_eq(rd_hint(&hint, 0x2000 + i, 1), 0x10 + i);
        ck_assert_uint_eq(rd_hint(&hint, 0x1040 + i, 1), 0xff); /* just past a */
    }
    ck_assert_uint_eq(dev_a.calls, 4);
    ck_assert_uint_eq(dev_b.calls, 4);
}
END_TEST

/* ---- unmap against running handlers -------------------------------------- */

START_TEST(test_unmap_from_own_handler)
{
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    dev_a.unmap_as = as;
    dev_a.unmap_base = 0x1000;
    /* Must not deadlock waiting for itself (the tcase timeout catches that). */
    ck_assert_uint_eq(rd(0x1000, 1), 0xa0);
    ck_assert_uint_eq(addrspace_count(as), 0);
    ck_assert_uint_eq(rd(0x1000, 1), 0xff);
}
END_TEST

typedef struct Blocker {
    GMutex lock;
    GCond cond;
    bool entered, release, unmapped;
} Blocker;

static uint64_t block_read(void *opaque, uint64_t off, unsigned size)
{
    Blocker *b = opaque;
    g_mutex_lock(&b->lock);
    b->entered = true;
    g_cond_broadcast(&b->cond);
    while (!b->release)
        g_cond_wait(&b->cond, &b->lock);
    bool early = b->unmapped;
    g_mutex_unlock(&b->lock);
    ck_assert_msg(!early, "unmap returned while a handler was running");
    return 0x42;
}

static void block_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
}

static const RegionOps block_ops = { .read = block_read, .write = block_write };

static gpointer vcpu_like(gpointer opaque)
{
    uint8_t v = 0;
    addrspace_dispatch(as, NULL, 0x1000, &v, 1, false);
    return GUINT_TO_POINTER(v);
}

static gpointer unmapper(gpointer opaque)
{
    Blocker *b = opaque;
    ck_assert(addrspace_unmap(as, 0x1000, NULL));
    g_mutex_lock(&b->lock);
    b->unmapped = true;
    g_cond_broadcast(&b->cond);
    g_mutex_unlock(&b->lock);
    return NULL;
}

START_TEST(test_unmap_waits_for_handler)
{
    Blocker b = { 0 };
    g_mutex_init(&b.lock);
    g_cond_init(&b.cond);
    ck_assert(addrspace_map(as, "blk", 0x1000, 0x10, &block_ops, &b, NULL));
    GThread *t = g_thread_new("vcpu", vcpu_like, NULL);
    g_mutex_lock(&b.lock);
    while (!b.entered)
        g_cond_wait(&b.cond, &b.lock);
    g_mutex_unlock(&b.lock);

    GThread *u = g_thread_new("unmap", unmapper, &b);
    /* Give unmap time to (wrongly) return early. */
    g_usleep(50 * 1000);
    g_mutex_lock(&b.lock);
    ck_assert(!b.unmapped);
    b.release = true;
    g_cond_broadcast(&b.cond);
    g_mutex_unlock(&b.lock);

    ck_assert_uint_eq(GPOINTER_TO_UINT(g_thread_join(t)), 0x42);
    g_thread_join(u);
    ck_assert(b.unmapped);
    ck_assert_uint_eq(addrspace_count(as), 0);
    g_mutex_clear(&b.lock);
    g_cond_clear(&b.cond);
}
END_TEST

/* ---- ioeventfds (without an accelerator only the bookkeeping) ------------- */

START_TEST(test_ioeventfd_bookkeeping)
{
    g_autoptr(GError) err = NULL;
    map_ok("a", 0x1000, 0x40, &any_ops, &dev_a);
    ck_assert(addrspace_add_ioeventfd(as, 0x1000, 0x10, 4, false, 0, 7, &err));
    ck_assert(addrspace_add_ioeventfd(as, 0x1000, 0x3c, 4, true, 1, 8, &err));
    ck_assert(!addrspace_add_ioeventfd(as, 0x1000, 0x3e, 4, false, 0, 9, &err)); /* sticks out */
    g_clear_error(&err);
    ck_assert(!addrspace_add_ioeventfd(as, 0x1000, 0x40, 1, false, 0, 9, &err));
    g_clear_error(&err);
    ck_assert(!addrspace_add_ioeventfd(as, 0x2000, 0, 4, false, 0, 9, &err)); /* no region */
    g_clear_error(&err);
    ck_assert(!addrspace_remove_ioeventfd(as, 0x1000, 0x10, 8, &err)); /* wrong fd */
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
    g_clear_error(&err);
    ck_assert(addrspace_remove_ioeventfd(as, 0x1000, 0x10, 7, &err));
    ck_assert(!addrspace_remove_ioeventfd(as, 0x1000, 0x10, 7, &err));
    g_clear_error(&err);
    /* It follows the region when it moves; free releases the rest. */
    ck_assert(addrspace_move(as, 0x1000, 0x5000, &err));
    ck_assert(addrspace_remove_ioeventfd(as, 0x5000, 0x3c, 8, &err));
}
END_TEST

/* ---- programming errors are caught ---------------------------------------- */

static const RegionOps ops_bad_size = { .read = dev_read, .write = dev_write, .valid_max = 3 };

START_TEST(test_map_bad_ops_asserts)
{
    addrspace_map(as, "bad", 0x1000, 0x10, &ops_bad_size, &dev_a, NULL);
}
END_TEST

static Suite *addrspace_suite(void)
{
    Suite *s = suite_create("addrspace");
    TCase *tc = tcase_create("map");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_map_lookup_count);
    tcase_add_test(tc, test_map_rejects_zero_and_wrap);
    tcase_add_test(tc, test_map_top_of_address_space);
    tcase_add_test(tc, test_map_rejects_overlap);
    tcase_add_test(tc, test_unmap);
    tcase_add_test(tc, test_move);
    tcase_add_test(tc, test_ioeventfd_bookkeeping);
    tcase_add_test_raise_signal(tc, test_map_bad_ops_asserts, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("dispatch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_dispatch_offsets);
    tcase_add_loop_test(tc, test_valid_sizes, 1, 9);
    tcase_add_test(tc, test_default_sizes_all_valid);
    tcase_add_test(tc, test_alignment);
    tcase_add_test(tc, test_unaligned_allowed);
    tcase_add_test(tc, test_access_past_region_end);
    tcase_add_test(tc, test_impl_split);
    tcase_add_test(tc, test_impl_split_8_into_4);
    tcase_add_test(tc, test_impl_widen);
    tcase_add_test(tc, test_impl_widen_unaligned_straddle);
    tcase_add_loop_test(tc, test_unassigned, 1, 17);
    tcase_add_test(tc, test_unassigned_edges);
    suite_add_tcase(s, tc);

    tc = tcase_create("hint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_hint_after_unmap);
    tcase_add_test(tc, test_hint_after_move);
    tcase_add_test(tc, test_hint_switches_regions);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrency");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_unmap_from_own_handler);
    tcase_add_test(tc, test_unmap_waits_for_handler);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(addrspace_suite)
