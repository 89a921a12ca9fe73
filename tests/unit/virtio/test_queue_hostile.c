/* Tests of devices/virtio/queue.c against a hostile driver: every malformed
 * ring or chain returns its own VIRTQ_ERR_* code, leaves the element empty,
 * sticks until reset, and never touches host memory outside guest RAM (guest
 * RAM is guarded by PROT_NONE pages; the suite also runs under ASan). */
#include "support/check_main.h"
#include "unit/virtio/queue_fixture.h"

#include <signal.h>

static VirtqStatus pop(void)
{
    return virtq_pop(&fx.vq, &fx.el);
}

/* The queue reports `want`, keeps reporting it, and recovers after reset. */
static void expect_error(VirtqStatus want)
{
    VirtqStatus st = pop();
    ck_assert_msg(st == want, "got %d (%s), want %d (%s)", st, virtq_strerror(st), want,
                  virtq_strerror(want));
    ck_assert(virtq_is_error(st));
    ck_assert_uint_eq(fx.el.out_num + fx.el.in_num, 0);
    ck_assert_uint_eq(fx.el.out_bytes + fx.el.in_bytes, 0);
    uint16_t last = fx.vq.s.last_avail_idx;
    ck_assert_int_eq(pop(), want);
    ck_assert_uint_eq(fx.vq.s.last_avail_idx, last);
    ck_assert_uint_eq(virtq_avail_count(&fx.vq), 0);
    ck_assert(virtq_enable_notification(&fx.vq)); /* "work pending": the error */
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), 0);
    /* A driver reset brings the queue back. */
    uint16_t size = fx.vq.s.size;
    uint64_t features = (fx.vq.s.event_idx ? VIRTQ_F_EVENT_IDX : 0) |
                        (fx.vq.s.indirect_desc ? VIRTQ_F_INDIRECT_DESC : 0);
    virtq_reset(&fx.vq);
    fx_queue(size, features);
    Gpa buf = virtq_driver_alloc(&fx.drv, 8, 8);
    VirtqDriverBuf b = { buf, 8, false };
    virtq_driver_add(&fx.drv, &b, 1);
    ck_assert_int_eq(pop(), VIRTQ_OK);
}

static Gpa data(uint64_t len)
{
    return virtq_driver_alloc(&fx.drv, len, 16);
}

START_TEST(test_avail_idx_too_far)
{
    virtq_driver_set_avail_idx(&fx.drv, 17); /* size 16 */
    expect_error(VIRTQ_ERR_AVAIL_IDX);
}
END_TEST

START_TEST(test_avail_idx_backwards)
{
    virtq_driver_set_avail_idx(&fx.drv, 0xffff); /* "decremented" from 0 */
    expect_error(VIRTQ_ERR_AVAIL_IDX);
}
END_TEST

/* Exactly a full ring ahead is legal. */
START_TEST(test_avail_idx_full_ring)
{
    Gpa buf = data(8);
    for (uint16_t i = 0; i < 16; i++) {
        virtq_driver_set_desc(&fx.drv, i, buf, 8, 0, 0);
        virtq_driver_set_avail_slot(&fx.drv, i, i);
    }
    virtq_driver_set_avail_idx(&fx.drv, 16);
    for (unsigned i = 0; i < 16; i++)
        ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_int_eq(pop(), VIRTQ_EMPTY);
}
END_TEST

START_TEST(test_avail_idx_bad_on_enable_recheck)
{
    virtq_disable_notification(&fx.vq);
    virtq_driver_set_avail_idx(&fx.drv, 100);
    ck_assert(virtq_enable_notification(&fx.vq));
    expect_error(VIRTQ_ERR_AVAIL_IDX);
}
END_TEST

START_TEST(test_head_out_of_range)
{
    virtq_driver_set_avail_slot(&fx.drv, 0, 16);
    virtq_driver_set_avail_idx(&fx.drv, 1);
    expect_error(VIRTQ_ERR_HEAD_INDEX);
}
END_TEST

START_TEST(test_head_ffff)
{
    virtq_driver_set_avail_slot(&fx.drv, 0, 0xffff);
    virtq_driver_set_avail_idx(&fx.drv, 1);
    expect_error(VIRTQ_ERR_HEAD_INDEX);
}
END_TEST

START_TEST(test_self_loop)
{
    virtq_driver_set_desc(&fx.drv, 0, data(8), 8, VIRTQ_DESC_F_NEXT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_CHAIN_LOOP);
}
END_TEST

START_TEST(test_two_descriptor_loop)
{
    Gpa buf = data(8);
    virtq_driver_set_desc(&fx.drv, 3, buf, 8, VIRTQ_DESC_F_NEXT, 9);
    virtq_driver_set_desc(&fx.drv, 9, buf, 8, VIRTQ_DESC_F_NEXT, 3);
    virtq_driver_expose(&fx.drv, 3);
    expect_error(VIRTQ_ERR_CHAIN_LOOP);
}
END_TEST

/* The longest loop: every descriptor once, then back to the head. */
START_TEST(test_full_table_loop)
{
    Gpa buf = data(8);
    for (uint16_t i = 0; i < 16; i++)
        virtq_driver_set_desc(&fx.drv, i, buf, 8, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % 16));
    virtq_driver_expose(&fx.drv, 5);
    expect_error(VIRTQ_ERR_CHAIN_LOOP);
}
END_TEST

START_TEST(test_next_out_of_range)
{
    virtq_driver_set_desc(&fx.drv, 0, data(8), 8, VIRTQ_DESC_F_NEXT, 16);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_NEXT_INDEX);
}
END_TEST

START_TEST(test_buffer_in_hole)
{
    VirtqDriverBuf b = { FX_LOW_SIZE + 0x1000, 64, false };
    virtq_driver_add(&fx.drv, &b, 1);
    expect_error(VIRTQ_ERR_BUF_ADDR);
}
END_TEST

/* Starts in RAM, ends past its last byte (the next host page is a guard). */
START_TEST(test_buffer_past_ram_end)
{
    VirtqDriverBuf b = { FX_LOW_SIZE - 8, 16, true };
    virtq_driver_add(&fx.drv, &b, 1);
    expect_error(VIRTQ_ERR_BUF_ADDR);
}
END_TEST

START_TEST(test_buffer_last_byte_ok)
{
    VirtqDriverBuf b = { FX_LOW_SIZE - 8, 8, true };
    virtq_driver_add(&fx.drv, &b, 1);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert(fx_iov_in_ram(&fx.el));
}
END_TEST

START_TEST(test_buffer_end_of_address_space)
{
    VirtqDriverBuf b = { 0xfffffffffffff000ull, 0x1000, false }; /* ends at 2^64: no wrap */
    virtq_driver_add(&fx.drv, &b, 1);
    expect_error(VIRTQ_ERR_BUF_ADDR);
}
END_TEST

START_TEST(test_buffer_wraps)
{
    VirtqDriverBuf b = { 0xfffffffffffffff0ull, 0x100, false };
    virtq_driver_add(&fx.drv, &b, 1);
    expect_error(VIRTQ_ERR_BUF_WRAP);
}
END_TEST

START_TEST(test_buffer_wraps_into_ram)
{
    /* addr + len wraps around to guest address 0, which is RAM: refused. */
    virtq_driver_set_desc(&fx.drv, 0, UINT64_MAX, 2, 0, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_BUF_WRAP);
    /* Just below the wrap: not RAM. */
    VirtqDriverBuf b = { 0xffffffff00000000ull, 0xffffffffu, true };
    virtq_driver_add(&fx.drv, &b, 1);
    expect_error(VIRTQ_ERR_BUF_ADDR);
}
END_TEST

/* 2^32 bytes in total is the limit; one byte more is refused. Buffers may
 * overlap, so 2048 descriptors of 2 MiB reach it in 4 MiB of RAM. */
START_TEST(test_total_length)
{
    fx_queue(4096, 0);
    Gpa buf = FX_DATA;
    for (uint16_t i = 0; i < 2048; i++)
        virtq_driver_set_desc(&fx.drv, i, buf, 2u << 20, i < 2047 ? VIRTQ_DESC_F_NEXT : 0,
                              (uint16_t)(i + 1));
    virtq_driver_expose(&fx.drv, 0);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.out_bytes, 1ull << 32);
    ck_assert_uint_eq(fx.el.ndesc, 2048);

    virtq_driver_set_desc(&fx.drv, 2047, buf, 2u << 20, VIRTQ_DESC_F_NEXT, 2048);
    virtq_driver_set_desc(&fx.drv, 2048, buf, 1, 0, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_TOTAL_LEN);
}
END_TEST

START_TEST(test_total_length_indirect)
{
    fx_queue(16, VIRTQ_F_INDIRECT_DESC);
    /* An indirect table of 2049 overlapping 2 MiB buffers. */
    Gpa table = FX_RINGS + 0x100000; /* free low RAM, 32 KiB table */
    for (uint32_t i = 0; i < 2049; i++)
        virtq_driver_set_table_desc(&fx.drv, table, i, FX_DATA, 2u << 20,
                                    i < 2048 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    virtq_driver_set_desc(&fx.drv, 0, table, 2049 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_TOTAL_LEN);
}
END_TEST

static void indirect_queue(void)
{
    fx_queue(16, VIRTQ_F_INDIRECT_DESC);
}

START_TEST(test_indirect_not_negotiated)
{
    Gpa table = data(16);
    virtq_driver_set_table_desc(&fx.drv, table, 0, data(8), 8, 0, 0);
    virtq_driver_set_desc(&fx.drv, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_INDIRECT_FEATURE);
}
END_TEST

static void indirect_len_case(uint32_t len)
{
    indirect_queue();
    Gpa table = data(64);
    for (uint32_t i = 0; i < 4; i++)
        virtq_driver_set_table_desc(&fx.drv, table, i, data(8), 8, 0, 0);
    virtq_driver_set_desc(&fx.drv, 0, table, len, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_INDIRECT_LEN);
}

static const uint32_t bad_table_len[] = { 0, 8, 15, 17, 24, 63, (VIRTQ_INDIRECT_MAX + 1) * 16,
                                          0xfffffff0u };

START_TEST(test_indirect_bad_len)
{
    indirect_len_case(bad_table_len[_i]);
}
END_TEST

START_TEST(test_indirect_table_outside_ram)
{
    indirect_queue();
    virtq_driver_set_desc(&fx.drv, 0, FX_LOW_SIZE + 0x10000, 64, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_BUF_ADDR);
}
END_TEST

/* The table's first entry is RAM, its last is past the end (guard page). */
START_TEST(test_indirect_table_past_ram_end)
{
    indirect_queue();
    Gpa table = FX_LOW_SIZE - 16;
    virtq_driver_set_table_desc(&fx.drv, table, 0, data(8), 8, VIRTQ_DESC_F_NEXT, 1);
    virtq_driver_set_desc(&fx.drv, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_BUF_ADDR);
}
END_TEST

START_TEST(test_indirect_table_wraps)
{
    indirect_queue();
    virtq_driver_set_desc(&fx.drv, 0, 0xfffffffffffffff0ull, 32, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_BUF_WRAP);
}
END_TEST

START_TEST(test_indirect_nested)
{
    indirect_queue();
    Gpa inner = data(16);
    virtq_driver_set_table_desc(&fx.drv, inner, 0, data(8), 8, 0, 0);
    Gpa outer = data(32);
    virtq_driver_set_table_desc(&fx.drv, outer, 0, data(8), 8, VIRTQ_DESC_F_NEXT, 1);
    virtq_driver_set_table_desc(&fx.drv, outer, 1, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_set_desc(&fx.drv, 0, outer, 32, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_INDIRECT_NESTED);
}
END_TEST

START_TEST(test_indirect_with_next)
{
    indirect_queue();
    Gpa table = data(16);
    virtq_driver_set_table_desc(&fx.drv, table, 0, data(8), 8, 0, 0);
    virtq_driver_set_desc(&fx.drv, 0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    virtq_driver_set_desc(&fx.drv, 1, data(8), 8, 0, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_INDIRECT_NEXT);
}
END_TEST

START_TEST(test_indirect_loop)
{
    indirect_queue();
    Gpa table = data(48);
    Gpa buf = data(8);
    virtq_driver_set_table_desc(&fx.drv, table, 0, buf, 8, VIRTQ_DESC_F_NEXT, 1);
    virtq_driver_set_table_desc(&fx.drv, table, 1, buf, 8, VIRTQ_DESC_F_NEXT, 2);
    virtq_driver_set_table_desc(&fx.drv, table, 2, buf, 8, VIRTQ_DESC_F_NEXT, 0);
    virtq_driver_set_desc(&fx.drv, 0, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_CHAIN_LOOP);
}
END_TEST

START_TEST(test_indirect_next_out_of_range)
{
    indirect_queue();
    Gpa table = data(32);
    virtq_driver_set_table_desc(&fx.drv, table, 0, data(8), 8, VIRTQ_DESC_F_NEXT, 2);
    virtq_driver_set_table_desc(&fx.drv, table, 1, data(8), 8, 0, 0);
    virtq_driver_set_desc(&fx.drv, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_NEXT_INDEX);
}
END_TEST

START_TEST(test_indirect_entry_bad_buffer)
{
    indirect_queue();
    Gpa table = data(16);
    virtq_driver_set_table_desc(&fx.drv, table, 0, FX_HIGH_GPA + FX_HIGH_SIZE - 4, 8, 0, 0);
    virtq_driver_set_desc(&fx.drv, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_BUF_ADDR);
}
END_TEST

START_TEST(test_order_direct)
{
    VirtqDriverBuf b[3] = { { data(8), 8, false }, { data(8), 8, true }, { data(8), 8, false } };
    virtq_driver_add(&fx.drv, b, 3);
    expect_error(VIRTQ_ERR_ORDER);
}
END_TEST

START_TEST(test_order_zero_length)
{
    /* Ordering applies to zero-length descriptors too. */
    VirtqDriverBuf b[2] = { { data(8), 0, true }, { data(8), 8, false } };
    virtq_driver_add(&fx.drv, b, 2);
    expect_error(VIRTQ_ERR_ORDER);
}
END_TEST

START_TEST(test_order_across_indirect)
{
    indirect_queue();
    Gpa table = data(16);
    virtq_driver_set_table_desc(&fx.drv, table, 0, data(8), 8, 0, 0); /* readable */
    virtq_driver_set_desc(&fx.drv, 0, data(8), 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    virtq_driver_set_desc(&fx.drv, 1, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    expect_error(VIRTQ_ERR_ORDER);
}
END_TEST

START_TEST(test_order_in_indirect)
{
    indirect_queue();
    VirtqDriverBuf b[2] = { { data(8), 8, true }, { data(8), 8, false } };
    virtq_driver_add_indirect(&fx.drv, b, 2);
    expect_error(VIRTQ_ERR_ORDER);
}
END_TEST

/* Zero-length descriptors are legal, whatever their address. */
START_TEST(test_zero_length_anywhere)
{
    indirect_queue();
    VirtqDriverBuf b[3] = { { UINT64_MAX, 0, false }, { FX_LOW_SIZE, 0, false },
                            { 0xfffffffffffffff0ull, 0, true } };
    virtq_driver_add(&fx.drv, b, 3);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.ndesc, 3);
    ck_assert_uint_eq(fx.el.out_num + fx.el.in_num, 0);
    virtq_driver_add_indirect(&fx.drv, b, 3);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.ndesc, 3);
}
END_TEST

/* The driver rewrites a descriptor after the device read it: the element
 * keeps what was validated (the device works on its own copy). */
START_TEST(test_descriptor_changed_after_pop)
{
    Gpa buf = data(64);
    VirtqDriverBuf b = { buf, 64, true };
    uint16_t head = virtq_driver_add(&fx.drv, &b, 1);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    virtq_driver_set_desc(&fx.drv, head, FX_LOW_SIZE + 0x5000, 0xffffffffu, 0, 0);
    ck_assert_uint_eq(fx.el.in_num, 1);
    ck_assert_uint_eq(fx.el.in_iov[0].iov_len, 64);
    ck_assert(fx_iov_in_ram(&fx.el));
}
END_TEST

/* Pushing a head the driver never offered is the device's bug, but the used
 * ring write itself stays inside the ring whatever the guest did. */
START_TEST(test_used_ring_writes_stay_in_ring)
{
    fx_queue(1, 0);
    Gpa buf = data(8);
    for (unsigned i = 0; i < 5; i++) {
        VirtqDriverBuf b = { buf, 8, true };
        virtq_driver_add(&fx.drv, &b, 1);
        ck_assert_int_eq(pop(), VIRTQ_OK);
        virtq_push(&fx.vq, fx.el.head, 0xffffffffu);
    }
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), 5);
}
END_TEST

/* The harness itself: one byte past guarded RAM faults. */
START_TEST(test_guard_page_faults)
{
    volatile uint8_t *end = fx.low.hva + fx.low.size;
    (void)*end;
}
END_TEST

static Suite *queue_hostile_suite(void)
{
    fx_log_once();
    Suite *s = suite_create("virtio_queue_hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_avail_idx_too_far);
    tcase_add_test(tc, test_avail_idx_backwards);
    tcase_add_test(tc, test_avail_idx_full_ring);
    tcase_add_test(tc, test_avail_idx_bad_on_enable_recheck);
    tcase_add_test(tc, test_head_out_of_range);
    tcase_add_test(tc, test_head_ffff);
    tcase_add_test(tc, test_self_loop);
    tcase_add_test(tc, test_two_descriptor_loop);
    tcase_add_test(tc, test_full_table_loop);
    tcase_add_test(tc, test_next_out_of_range);
    tcase_add_test(tc, test_buffer_in_hole);
    tcase_add_test(tc, test_buffer_past_ram_end);
    tcase_add_test(tc, test_buffer_last_byte_ok);
    tcase_add_test(tc, test_buffer_end_of_address_space);
    tcase_add_test(tc, test_buffer_wraps);
    tcase_add_test(tc, test_buffer_wraps_into_ram);
    tcase_add_test(tc, test_total_length);
    tcase_add_test(tc, test_total_length_indirect);
    tcase_add_test(tc, test_indirect_not_negotiated);
    tcase_add_loop_test(tc, test_indirect_bad_len, 0, G_N_ELEMENTS(bad_table_len));
    tcase_add_test(tc, test_indirect_table_outside_ram);
    tcase_add_test(tc, test_indirect_table_past_ram_end);
    tcase_add_test(tc, test_indirect_table_wraps);
    tcase_add_test(tc, test_indirect_nested);
    tcase_add_test(tc, test_indirect_with_next);
    tcase_add_test(tc, test_indirect_loop);
    tcase_add_test(tc, test_indirect_next_out_of_range);
    tcase_add_test(tc, test_indirect_entry_bad_buffer);
    tcase_add_test(tc, test_order_direct);
    tcase_add_test(tc, test_order_zero_length);
    tcase_add_test(tc, test_order_across_indirect);
    tcase_add_test(tc, test_order_in_indirect);
    tcase_add_test(tc, test_zero_length_anywhere);
    tcase_add_test(tc, test_descriptor_changed_after_pop);
    tcase_add_test(tc, test_used_ring_writes_stay_in_ring);
    suite_add_tcase(s, tc);

    TCase *guard = tcase_create("guard");
    tcase_add_checked_fixture(guard, fx_setup, fx_teardown);
#if defined(__SANITIZE_ADDRESS__)
    tcase_add_exit_test(guard, test_guard_page_faults, 1); /* ASan reports the SEGV, exits 1 */
#else
    tcase_add_test_raise_signal(guard, test_guard_page_faults, SIGSEGV);
#endif
    suite_add_tcase(s, guard);
    return s;
}

CHECK_MAIN(queue_hostile_suite)
