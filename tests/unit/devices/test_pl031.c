/* Tests of devices/rtc/pl031.c through the MMIO dispatcher: the PrimeCell
 * IDs, the counter against the host's clock and a fake one, LR setting the
 * time, the alarm interrupt (at once, after a timer on the control loop,
 * with the real clock, never for a match behind the counter) through IMSC,
 * MIS and ICR, word-only access, every offset, reset keeping the time, and a
 * state round trip. */
#include "devices/rtc/pl031.h"
#include "devtest.h"
#include "support/check_main.h"

#include <string.h>
#include <time.h>

#define BASE 0x09010000ull
#define BASE2 0x09110000ull
#define GSI 34

enum { DR = 0x00, MR = 0x04, LR = 0x08, CR = 0x0c, IMSC = 0x10, RIS = 0x14, MIS = 0x18, ICR = 0x1c };

static DevTest *t;
static struct timespec fake_now;

static void fake_clock(struct timespec *now, void *opaque)
{
    *now = fake_now;
}

static void setup(void)
{
    t = devtest_new();
    fake_now = (struct timespec){ .tv_sec = 1700000000, .tv_nsec = 0 };
}

static void teardown(void)
{
    devtest_free(t);
}

static Device *rtc_create_at(uint64_t base, const char *id, Pl031Clock clock)
{
    g_autoptr(GError) err = NULL;
    Pl031Config cfg = { .base = base, .gsi = GSI, .clock = clock };
    Device *d = device_create(t->vm, &pl031_ops, id, &cfg, &err);
    ck_assert_msg(d, "device_create: %s", err ? err->message : "?");
    return d;
}

static Device *rtc_new(Pl031Clock clock)
{
    return rtc_create_at(BASE, "rtc0", clock);
}

static uint32_t rd_at(uint64_t addr, unsigned size)
{
    uint8_t buf[8] = { 0 };
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, buf, size, false);
    return (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
}

static uint32_t rd(uint64_t off)
{
    return rd_at(BASE + off, 4);
}

static void wr(uint64_t off, uint32_t v)
{
    uint8_t buf[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, buf, 4, true);
}

START_TEST(test_ids)
{
    rtc_new(NULL);
    uint32_t periph = 0, cell = 0;
    for (unsigned i = 0; i < 4; i++) {
        periph |= rd(0xfe0 + 4 * i) << (8 * i);
        cell |= rd(0xff0 + 4 * i) << (8 * i);
    }
    ck_assert_uint_eq(periph, 0x00041031);
    ck_assert_uint_eq(cell, 0xb105f00d);
}
END_TEST

START_TEST(test_reads_host_time)
{
    rtc_new(NULL);
    time_t before = time(NULL);
    uint32_t dr = rd(DR);
    time_t after = time(NULL);
    ck_assert_uint_ge(dr, (uint32_t)before);
    ck_assert_uint_le(dr, (uint32_t)after);
    ck_assert_uint_eq(rd(CR), 1); /* running */
    ck_assert_uint_eq(rd(IMSC), 0);
    ck_assert_uint_eq(rd(RIS), 0);
}
END_TEST

START_TEST(test_lr_sets_time)
{
    rtc_new(fake_clock);
    ck_assert_uint_eq(rd(DR), 1700000000);
    wr(LR, 1000);
    ck_assert_uint_eq(rd(DR), 1000);
    ck_assert_uint_eq(rd(LR), 1000); /* LR reads back what was loaded */
    fake_now.tv_sec += 5;
    ck_assert_uint_eq(rd(DR), 1005);
    ck_assert_uint_eq(rd(LR), 1000);
    /* DR and CR are read-only in effect. */
    wr(DR, 7);
    wr(CR, 0);
    ck_assert_uint_eq(rd(DR), 1005);
    ck_assert_uint_eq(rd(CR), 1);
    /* The counter wraps at 2^32 like the hardware's. */
    wr(LR, 0xffffffff);
    fake_now.tv_sec += 2;
    ck_assert_uint_eq(rd(DR), 1);
}
END_TEST

START_TEST(test_alarm_now)
{
    rtc_new(fake_clock);
    wr(MR, rd(DR)); /* matches in this very second */
    ck_assert_uint_eq(rd(RIS), 1);
    ck_assert_uint_eq(rd(MIS), 0);
    ck_assert(!devtest_irq(t, GSI));
    wr(IMSC, 1);
    ck_assert_uint_eq(rd(MIS), 1);
    ck_assert(devtest_irq(t, GSI));
    wr(ICR, 1);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), 1);
}
END_TEST

static bool irq_up(void *opaque)
{
    return devtest_irq(t, GSI);
}

/* The match comes with the next second: a timer on the control loop. */
START_TEST(test_alarm_after_timer)
{
    fake_now.tv_nsec = 900000000; /* 100 ms before the next second */
    rtc_new(fake_clock);
    wr(IMSC, 1);
    wr(MR, rd(DR) + 1);
    ck_assert_uint_eq(rd(RIS), 0);
    devtest_run_pending(t);
    ck_assert(!devtest_irq(t, GSI));
    fake_now.tv_sec += 1;
    fake_now.tv_nsec = 0;
    ck_assert(devtest_run_until(t, irq_up, NULL, 3000));
    ck_assert_uint_eq(rd(RIS), 1);
    wr(ICR, 1);
    ck_assert(!devtest_irq(t, GSI));
}
END_TEST

/* A timer that fires before the clock reached MR waits again. */
START_TEST(test_alarm_early_timer_rearms)
{
    fake_now.tv_nsec = 950000000;
    rtc_new(fake_clock);
    wr(IMSC, 1);
    wr(MR, rd(DR) + 1);
    g_usleep(150000); /* the 50 ms timer is due, but the fake clock stood still */
    devtest_run_pending(t);
    ck_assert(!devtest_irq(t, GSI));
    fake_now.tv_sec += 1;
    ck_assert(devtest_run_until(t, irq_up, NULL, 3000));
}
END_TEST

START_TEST(test_alarm_real_clock)
{
    rtc_new(NULL);
    wr(IMSC, 1);
    wr(MR, rd(DR) + 1);
    ck_assert(devtest_run_until(t, irq_up, NULL, 3000));
    ck_assert_uint_eq(rd(MIS), 1);
}
END_TEST

/* A match behind the counter comes round only when the counter wraps. */
START_TEST(test_alarm_in_past_never_fires)
{
    rtc_new(fake_clock);
    wr(IMSC, 1);
    wr(MR, rd(DR) - 1);
    fake_now.tv_sec += 10;
    g_usleep(50000);
    devtest_run_pending(t);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert(!devtest_irq(t, GSI));
    /* Setting the time before the match arms it again. */
    wr(LR, 100);
    wr(MR, 100);
    ck_assert(devtest_irq(t, GSI));
}
END_TEST

START_TEST(test_word_access_only)
{
    rtc_new(fake_clock);
    ck_assert_uint_eq(rd_at(BASE + DR, 1), 0xff);
    ck_assert_uint_eq(rd_at(BASE + DR, 2), 0xffff);
    uint8_t b = 5;
    addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + LR, &b, 1, true);
    ck_assert_uint_eq(rd(LR), 0);
    ck_assert_uint_eq(rd(DR), 1700000000);
}
END_TEST

START_TEST(test_hostile_offsets)
{
    rtc_new(fake_clock);
    GRand *rand = g_rand_new_with_seed(31);
    for (uint64_t off = 0; off < PL031_MMIO_SIZE + 16; off++) {
        for (unsigned size = 1; size <= 8; size *= 2) {
            uint8_t buf[8];
            addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, buf, size, false);
            for (unsigned i = 0; i < 8; i++)
                buf[i] = (uint8_t)g_rand_int(rand);
            addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, buf, size, true);
        }
    }
    g_rand_free(rand);
    devtest_run_pending(t);
    wr(LR, 42);
    ck_assert_uint_eq(rd(DR), 42);
}
END_TEST

START_TEST(test_reset_keeps_time)
{
    Device *d = rtc_new(fake_clock);
    wr(LR, 5000);
    wr(IMSC, 1);
    wr(MR, 5000);
    ck_assert(devtest_irq(t, GSI));
    d->ops->reset(d);
    ck_assert_uint_eq(rd(DR), 5000);
    ck_assert_uint_eq(rd(IMSC), 0);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert_uint_eq(rd(MR), 0);
}
END_TEST

START_TEST(test_state_roundtrip)
{
    Device *a = rtc_new(fake_clock);
    wr(LR, 123456);
    wr(MR, 123456 + 3600); /* an alarm in an hour, pending across the move */
    wr(IMSC, 1);
    Device *b = rtc_create_at(BASE2, "rtc1", fake_clock);
    devtest_state_copy(a, b);
    ck_assert_uint_eq(rd_at(BASE2 + DR, 4), 123456);
    ck_assert_uint_eq(rd_at(BASE2 + MR, 4), 123456 + 3600);
    ck_assert_uint_eq(rd_at(BASE2 + LR, 4), 123456);
    ck_assert_uint_eq(rd_at(BASE2 + IMSC, 4), 1);
    /* A loaded RIS drives the line after load. */
    wr(MR, 123456);
    devtest_state_copy(a, b);
    ck_assert_uint_eq(rd_at(BASE2 + MIS, 4), 1);
}
END_TEST

static Suite *pl031_suite(void)
{
    Suite *s = suite_create("pl031");
    TCase *tc = tcase_create("registers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_reads_host_time);
    tcase_add_test(tc, test_lr_sets_time);
    tcase_add_test(tc, test_word_access_only);
    tcase_add_test(tc, test_hostile_offsets);
    tcase_add_test(tc, test_reset_keeps_time);
    tcase_add_test(tc, test_state_roundtrip);
    suite_add_tcase(s, tc);

    tc = tcase_create("alarm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_alarm_now);
    tcase_add_test(tc, test_alarm_after_timer);
    tcase_add_test(tc, test_alarm_early_timer_rearms);
    tcase_add_test(tc, test_alarm_real_clock);
    tcase_add_test(tc, test_alarm_in_past_never_fires);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(pl031_suite)
