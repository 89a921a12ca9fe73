/* MMIO exits on the host's KVM: a guest writes and reads a test device of
 * every access size, and reads an address nobody claims. */
#include "native/tiny_vm.h"

#include <check.h>

extern const uint8_t guest_mmio_real[], guest_mmio_real_end[];
extern const uint8_t guest_mmio_long[], guest_mmio_long_end[];

typedef struct MmioAccess {
    bool is_write;
    uint64_t offset;
    unsigned size;
    uint64_t value; /* written, or returned to the guest */
} MmioAccess;

typedef struct TestDev {
    GMutex lock;
    GArray *log; /* MmioAccess */
} TestDev;

/* What the device returns: depends on offset and size, so a wrong offset or
 * width shows up in the value the guest reports. */
static uint64_t dev_value(uint64_t offset, unsigned size)
{
    uint64_t v = 0x0123456789abcdefull * (offset + 1);
    return size == 8 ? v : v & ((1ull << (size * 8)) - 1);
}

static void dev_log(TestDev *d, bool is_write, uint64_t offset, unsigned size, uint64_t value)
{
    MmioAccess a = { is_write, offset, size, value };
    g_mutex_lock(&d->lock);
    g_array_append_val(d->log, a);
    g_mutex_unlock(&d->lock);
}

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned size)
{
    uint64_t v = dev_value(offset, size);
    dev_log(opaque, false, offset, size, v);
    return v;
}

static void dev_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    dev_log(opaque, true, offset, size, value);
}

static const RegionOps dev_ops = {
    .read = dev_read, .write = dev_write, .valid_min = 1, .valid_max = 8,
};

static void dev_map(TestDev *d, TinyVm *t, uint64_t base)
{
    g_autoptr(GError) err = NULL;
    g_mutex_init(&d->lock);
    d->log = g_array_new(FALSE, FALSE, sizeof(MmioAccess));
    ck_assert_msg(addrspace_map(vm_mmio(tiny_vm_vm(t)), "test-dev", base, GUEST_MMIO_SIZE, &dev_ops,
                                d, &err),
                  "%s", err ? err->message : "");
}

/* Called once the guest has stopped; the lock only keeps the checker honest. */
static void dev_assert_log(TestDev *d, const MmioAccess *want, size_t n)
{
    g_mutex_lock(&d->lock);
    for (guint i = 0; i < d->log->len && i < n; i++) {
        MmioAccess *a = &g_array_index(d->log, MmioAccess, i);
        ck_assert_msg(a->is_write == want[i].is_write && a->offset == want[i].offset &&
                          a->size == want[i].size && a->value == want[i].value,
                      "access %u: %c off 0x%" G_GINT64_MODIFIER "x size %u value 0x%"
                      G_GINT64_MODIFIER "x; expected %c off 0x%" G_GINT64_MODIFIER
                      "x size %u value 0x%" G_GINT64_MODIFIER "x",
                      i, a->is_write ? 'W' : 'R', a->offset, a->size, a->value,
                      want[i].is_write ? 'W' : 'R', want[i].offset, want[i].size, want[i].value);
    }
    ck_assert_uint_eq(d->log->len, n);
    g_mutex_unlock(&d->lock);
}

static void dev_free(TestDev *d)
{
    g_array_free(d->log, TRUE);
    g_mutex_clear(&d->lock);
}

START_TEST(real_mode_sizes_1_2_4)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_mmio_real,
                                             .image_end = guest_mmio_real_end,
                                             .mode = TINY_MODE_REAL });
    TestDev dev;
    dev_map(&dev, t, GUEST_MMIO_REAL_BASE);
    tiny_vm_run_to_exit(t, 5000);

    const MmioAccess want[] = {
        { true, 0x0, 1, 0x11 },
        { true, 0x2, 2, 0x2233 },
        { true, 0x4, 4, 0x44556677 },
        { false, 0x10, 1, dev_value(0x10, 1) },
        { false, 0x12, 2, dev_value(0x12, 2) },
        { false, 0x14, 4, dev_value(0x14, 4) },
    };
    dev_assert_log(&dev, want, G_N_ELEMENTS(want));
    const uint32_t seen[] = {
        (uint32_t)dev_value(0x10, 1), (uint32_t)dev_value(0x12, 2), (uint32_t)dev_value(0x14, 4),
        0xff, 0xffff, 0xffffffff, /* unassigned */
    };
    tiny_vm_assert_reports(t, seen, G_N_ELEMENTS(seen));
    tiny_vm_free(t);
    dev_free(&dev);
}
END_TEST

START_TEST(long_mode_sizes_1_2_4_8)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_mmio_long,
                                             .image_end = guest_mmio_long_end,
                                             .mode = TINY_MODE_LONG });
    TestDev dev;
    dev_map(&dev, t, GUEST_MMIO_LONG_BASE);
    tiny_vm_run_to_exit(t, 5000);

    const MmioAccess want[] = {
        { true, 0x0, 1, 0x11 },
        { true, 0x2, 2, 0x2233 },
        { true, 0x4, 4, 0x44556677 },
        { true, 0x8, 8, 0x8899aabbccddeeffull },
        { false, 0x10, 1, dev_value(0x10, 1) },
        { false, 0x12, 2, dev_value(0x12, 2) },
        { false, 0x14, 4, dev_value(0x14, 4) },
        { false, 0x18, 8, dev_value(0x18, 8) },
    };
    dev_assert_log(&dev, want, G_N_ELEMENTS(want));
    const uint32_t seen[] = {
        (uint32_t)dev_value(0x10, 1),
        (uint32_t)dev_value(0x12, 2),
        (uint32_t)dev_value(0x14, 4),
        (uint32_t)dev_value(0x18, 8),
        (uint32_t)(dev_value(0x18, 8) >> 32),
        0xffffffff, 0xffffffff, /* unassigned 8-byte read */
    };
    tiny_vm_assert_reports(t, seen, G_N_ELEMENTS(seen));
    tiny_vm_free(t);
    dev_free(&dev);
}
END_TEST

/* Unmapping the device turns its window into unassigned space. */
START_TEST(unmapped_device_reads_all_ones)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_mmio_real,
                                             .image_end = guest_mmio_real_end,
                                             .mode = TINY_MODE_REAL });
    TestDev dev;
    dev_map(&dev, t, GUEST_MMIO_REAL_BASE);
    g_autoptr(GError) err = NULL;
    ck_assert(addrspace_unmap(vm_mmio(tiny_vm_vm(t)), GUEST_MMIO_REAL_BASE, &err));
    tiny_vm_run_to_exit(t, 5000);
    dev_assert_log(&dev, NULL, 0);
    const uint32_t seen[] = { 0xff, 0xffff, 0xffffffff, 0xff, 0xffff, 0xffffffff };
    tiny_vm_assert_reports(t, seen, G_N_ELEMENTS(seen));
    tiny_vm_free(t);
    dev_free(&dev);
}
END_TEST

static Suite *mmio_suite(void)
{
    Suite *s = suite_create("native_mmio");
    TCase *tc = tcase_create("mmio");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, real_mode_sizes_1_2_4);
    tcase_add_test(tc, long_mode_sizes_1_2_4_8);
    tcase_add_test(tc, unmapped_device_reads_all_ones);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(mmio_suite)
