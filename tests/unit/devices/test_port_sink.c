/* Tests of devices/misc/port_sink.c: reads of every width give the fixed
 * byte, writes vanish, the range is claimed exactly, and destroying the
 * device gives it back. */
#include "devices/misc/port_sink.h"
#include "devtest.h"
#include "support/check_main.h"

static DevTest *t;

static void setup(void)
{
    t = devtest_new();
}

static void teardown(void)
{
    devtest_free(t);
}

static Device *sink_create(const char *id, uint64_t base, uint64_t size, uint8_t value,
                           GError **errp)
{
    PortSinkConfig cfg = { .base = base, .size = size, .read_value = value };
    return device_create(t->vm, &port_sink_ops, id, &cfg, errp);
}

START_TEST(test_reads_and_writes)
{
    ck_assert_ptr_nonnull(sink_create("post", 0x80, 1, 0xff, NULL));
    ck_assert_ptr_nonnull(sink_create("zero", 0x90, 4, 0x00, NULL));
    devtest_outb(t, 0x80, 0x12); /* Linux's I/O delay */
    ck_assert_uint_eq(devtest_inb(t, 0x80), 0xff);
    devtest_out(t, 0x90, 0xdeadbeef, 4);
    ck_assert_uint_eq(devtest_in(t, 0x90, 4), 0);
    ck_assert_uint_eq(devtest_in(t, 0x91, 2), 0); /* unaligned is fine for ports */
    ck_assert_uint_eq(devtest_inb(t, 0x93), 0);
}
END_TEST

START_TEST(test_value_repeats_per_byte)
{
    ck_assert_ptr_nonnull(sink_create("sink", 0x100, 8, 0xa5, NULL));
    ck_assert_uint_eq(devtest_in(t, 0x100, 1), 0xa5);
    ck_assert_uint_eq(devtest_in(t, 0x100, 2), 0xa5a5);
    ck_assert_uint_eq(devtest_in(t, 0x104, 4), 0xa5a5a5a5);
    /* The byte just past the range is unassigned. */
    ck_assert_uint_eq(devtest_inb(t, 0x108), 0xff);
    uint64_t base = 0, size = 0;
    ck_assert(addrspace_lookup(vm_pio(t->vm), 0x107, &base, &size));
    ck_assert_uint_eq(base, 0x100);
    ck_assert_uint_eq(size, 8);
}
END_TEST

START_TEST(test_overlap_and_destroy)
{
    g_autoptr(GError) err = NULL;
    Device *d = sink_create("a", 0x80, 2, 0xff, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_null(sink_create("b", 0x81, 1, 0xff, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    ck_assert_ptr_null(sink_create("c", 0x200, 0, 0xff, &err)); /* empty range */
    ck_assert_ptr_nonnull(err);
    ck_assert_uint_eq(addrspace_count(vm_pio(t->vm)), 1);
    device_destroy(d);
    ck_assert_uint_eq(addrspace_count(vm_pio(t->vm)), 0);
    ck_assert_ptr_nonnull(sink_create("b", 0x81, 1, 0xff, NULL));
}
END_TEST

static Suite *port_sink_suite(void)
{
    Suite *s = suite_create("port_sink");
    TCase *tc = tcase_create("port_sink");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_reads_and_writes);
    tcase_add_test(tc, test_value_repeats_per_byte);
    tcase_add_test(tc, test_overlap_and_destroy);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(port_sink_suite)
