/* Tests of devices/rtc/cmos_rtc.c through ports 0x70/0x71: the date and time
 * match the host's UTC clock in BCD and binary, 24- and 12-hour formats;
 * registers A-D and the century byte; the CMOS memory-size bytes; guest
 * writes of the clock (with and without SET) shift it and stick; the update
 * flags (UIP, UF); reset keeps the battery-backed state. */
#include "devices/rtc/cmos_rtc.h"
#include "devtest.h"
#include "support/check_main.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RTC_PORT 0x70
#define MiB (1024ull * 1024)
#define GiB (1024 * MiB)

static DevTest *t;
static Device *rtc;

/* A clock the test sets by hand. */
static struct timespec fake_now;

static void fake_clock(struct timespec *now, void *opaque)
{
    *now = fake_now;
}

static void rtc_create_with(uint64_t below, uint64_t above, CmosRtcClock clock)
{
    g_autoptr(GError) err = NULL;
    CmosRtcConfig cfg = { .base = RTC_PORT, .mem_below_4g = below, .mem_above_4g = above,
                          .clock = clock };
    rtc = device_create(t->vm, &cmos_rtc_ops, "rtc", &cfg, &err);
    ck_assert_msg(rtc, "device_create: %s", err ? err->message : "?");
}

static void rtc_create(uint64_t below, uint64_t above)
{
    rtc_create_with(below, above, NULL);
}

static void setup(void)
{
    t = devtest_new();
    rtc_create(3 * GiB, 2 * GiB);
}

/* Start over with an RTC on the fake clock, at 2024-02-28 23:59:58.5 UTC. */
static void use_fake_clock(void)
{
    devtest_free(t);
    t = devtest_new();
    struct tm tm = { .tm_year = 124, .tm_mon = 1, .tm_mday = 28, .tm_hour = 23, .tm_min = 59,
                     .tm_sec = 58 };
    fake_now = (struct timespec){ .tv_sec = timegm(&tm), .tv_nsec = 500000000 };
    rtc_create_with(3 * GiB, 2 * GiB, fake_clock);
}

static void teardown(void)
{
    devtest_free(t);
}

static uint8_t cmos(uint8_t reg)
{
    devtest_outb(t, RTC_PORT, reg);
    return devtest_inb(t, RTC_PORT + 1);
}

static void cmos_set(uint8_t reg, uint8_t v)
{
    devtest_outb(t, RTC_PORT, reg);
    devtest_outb(t, RTC_PORT + 1, v);
}

static int from_bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t to_bcd(int v)
{
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* The RTC's idea of now, as a Unix time, read the way a careful guest does
 * (twice, until two reads agree, so a tick in between cannot tear it). */
static time_t rtc_time(void)
{
    uint8_t b = cmos(0x0b);
    bool binary = b & 0x04, h24 = b & 0x02;
    uint8_t r[8], prev[8] = { 0 };
    for (int tries = 0; tries < 10; tries++) {
        static const uint8_t regs[8] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32, 0x06 };
        for (int i = 0; i < 8; i++)
            r[i] = cmos(regs[i]);
        if (memcmp(r, prev, sizeof(r)) == 0)
            break;
        memcpy(prev, r, sizeof(r));
    }
    int v[8];
    for (int i = 0; i < 8; i++) {
        uint8_t raw = i == 2 ? (r[i] & 0x7f) : r[i];
        v[i] = binary ? raw : from_bcd(raw);
    }
    int hour = v[2];
    if (!h24)
        hour = hour % 12 + ((r[2] & 0x80) ? 12 : 0);
    struct tm tm = { .tm_sec = v[0], .tm_min = v[1], .tm_hour = hour, .tm_mday = v[3],
                     .tm_mon = v[4] - 1, .tm_year = v[6] * 100 + v[5] - 1900 };
    time_t when = timegm(&tm);
    /* The weekday register agrees with the date. */
    struct tm check;
    gmtime_r(&when, &check);
    ck_assert_int_eq(v[7], check.tm_wday + 1);
    return when;
}

static void assert_near_host(time_t rtc_now, long shift_s)
{
    time_t host = time(NULL) + shift_s;
    ck_assert_msg(labs((long)(rtc_now - host)) <= 2, "rtc %ld, host %ld", (long)rtc_now, (long)host);
}

START_TEST(test_defaults)
{
    ck_assert_uint_eq(cmos(0x0a) & 0x7f, 0x26);
    ck_assert_uint_eq(cmos(0x0b), 0x02); /* 24-hour, BCD */
    ck_assert_uint_eq(cmos(0x0d), 0x80); /* valid RAM and time */
    ck_assert_uint_eq(devtest_inb(t, RTC_PORT), 0xff); /* index is write-only */
    /* Century: BCD 20 in this century. */
    struct tm now;
    time_t host = time(NULL);
    gmtime_r(&host, &now);
    ck_assert_uint_eq(cmos(0x32), to_bcd((now.tm_year + 1900) / 100));
}
END_TEST

START_TEST(test_time_bcd)
{
    assert_near_host(rtc_time(), 0);
}
END_TEST

START_TEST(test_time_binary)
{
    cmos_set(0x0b, 0x06);
    assert_near_host(rtc_time(), 0);
    time_t host = time(NULL);
    struct tm now;
    gmtime_r(&host, &now);
    ck_assert_uint_eq(cmos(0x32), (now.tm_year + 1900) / 100);
}
END_TEST

START_TEST(test_time_12h)
{
    cmos_set(0x0b, 0x00); /* 12-hour, BCD */
    assert_near_host(rtc_time(), 0);
    cmos_set(0x0b, 0x04); /* 12-hour, binary */
    assert_near_host(rtc_time(), 0);
    uint8_t h = cmos(0x04);
    ck_assert_uint_ge(h & 0x7f, 1);
    ck_assert_uint_le(h & 0x7f, 12);
}
END_TEST

START_TEST(test_nmi_bit_ignored)
{
    devtest_outb(t, RTC_PORT, 0x80 | 0x0d);
    ck_assert_uint_eq(devtest_inb(t, RTC_PORT + 1), 0x80);
}
END_TEST

START_TEST(test_memory_bytes)
{
    ck_assert_uint_eq(cmos(0x30) | cmos(0x31) << 8, 0xffff); /* capped */
    ck_assert_uint_eq(cmos(0x17) | cmos(0x18) << 8, 0xffff);
    ck_assert_uint_eq(cmos(0x34) | cmos(0x35) << 8, (3 * GiB - 16 * MiB) / 65536);
    ck_assert_uint_eq(cmos(0x5b) | cmos(0x5c) << 8 | cmos(0x5d) << 16, 2 * GiB / 65536);
    ck_assert_uint_eq(cmos(0x15) | cmos(0x16) << 8, 640);
}
END_TEST

START_TEST(test_memory_bytes_small)
{
    devtest_free(t);
    t = devtest_new();
    rtc_create(8 * MiB, 0);
    ck_assert_uint_eq(cmos(0x30) | cmos(0x31) << 8, 7 * 1024);
    ck_assert_uint_eq(cmos(0x34) | cmos(0x35) << 8, 0);
    ck_assert_uint_eq(cmos(0x5b) | cmos(0x5c) << 8 | cmos(0x5d) << 16, 0);
}
END_TEST

START_TEST(test_ram)
{
    cmos_set(0x40, 0x5a);
    cmos_set(0x7f, 0xa5);
    cmos_set(0x01, 0x33); /* alarm seconds: plain storage */
    ck_assert_uint_eq(cmos(0x40), 0x5a);
    ck_assert_uint_eq(cmos(0x7f), 0xa5);
    ck_assert_uint_eq(cmos(0x01), 0x33);
    /* Read-only registers ignore writes. */
    cmos_set(0x0d, 0x00);
    ck_assert_uint_eq(cmos(0x0d), 0x80);
    cmos_set(0x0a, 0xff);
    ck_assert_uint_eq(cmos(0x0a) & 0x7f, 0x7f);
}
END_TEST

START_TEST(test_guest_sets_clock_with_set_bit)
{
    time_t host = time(NULL);
    struct tm now;
    gmtime_r(&host, &now);
    int year = now.tm_year + 1900 + 5;
    cmos_set(0x0b, 0x82); /* SET: the clock holds still while it is written */
    cmos_set(0x09, to_bcd(year % 100));
    cmos_set(0x32, to_bcd(year / 100));
    ck_assert_uint_eq(cmos(0x09), to_bcd(year % 100));
    cmos_set(0x0b, 0x02);
    time_t shifted = rtc_time();
    struct tm got;
    gmtime_r(&shifted, &got);
    ck_assert_int_eq(got.tm_year + 1900, year);
    /* Only the year moved: same time of day, within the test's slack. */
    struct tm expect = now;
    expect.tm_year += 5;
    assert_near_host(shifted, (long)(timegm(&expect) - host));
    /* The offset sticks. */
    assert_near_host(rtc_time(), (long)(timegm(&expect) - host));
}
END_TEST

START_TEST(test_guest_sets_clock_field)
{
    time_t host = time(NULL);
    struct tm now;
    gmtime_r(&host, &now);
    /* Without SET: one field, applied at once (an hour ahead). */
    int hour = (now.tm_hour + 1) % 24;
    cmos_set(0x04, to_bcd(hour));
    time_t rtc_now = rtc_time();
    long shift = (long)(rtc_now - time(NULL));
    ck_assert_msg(labs(shift - 3600) <= 2 || labs(shift + 23 * 3600) <= 2, "shift %ld", shift);
    /* Binary writes honoured too: set the minutes to 7. */
    cmos_set(0x0b, 0x06);
    cmos_set(0x02, 7);
    ck_assert_uint_eq(cmos(0x02), 7);
    /* Reset keeps the clock (battery-backed). */
    rtc->ops->reset(rtc);
    ck_assert_uint_eq(cmos(0x02), 7);
    ck_assert_uint_eq(cmos(0x0b), 0x06);
}
END_TEST

START_TEST(test_garbage_writes_are_defined)
{
    /* Invalid BCD and out-of-range fields must not crash (ASan/UBSan). */
    cmos_set(0x0b, 0x80);
    for (uint8_t reg = 0; reg <= 0x09; reg++)
        cmos_set(reg, 0xff);
    cmos_set(0x32, 0x00);
    cmos_set(0x08, 0x00);
    cmos_set(0x0b, 0x00);
    for (int i = 0; i < 3; i++) {
        for (uint8_t reg = 0; reg <= 0x09; reg++)
            cmos(reg);
        cmos(0x32);
    }
    cmos_set(0x0b, 0x06);
    for (uint8_t reg = 0; reg <= 0x09; reg++)
        cmos_set(reg, 0xff);
    cmos(0x00);
}
END_TEST

START_TEST(test_update_flags)
{
    use_fake_clock();
    /* UF (register C) is set by each update and cleared by reading C. */
    ck_assert_uint_eq(cmos(0x0c), 0x10);
    ck_assert_uint_eq(cmos(0x0c), 0x00);
    fake_now.tv_nsec = 999000000;
    ck_assert_uint_eq(cmos(0x0c), 0x00);
    fake_now.tv_sec++;
    fake_now.tv_nsec = 0;
    ck_assert_uint_eq(cmos(0x0c), 0x10);
    ck_assert_uint_eq(cmos(0x0c), 0x00);

    /* UIP: set from 244 us before each update. */
    fake_now.tv_nsec = 999755999;
    ck_assert_uint_eq(cmos(0x0a), 0x26);
    fake_now.tv_nsec = 999756000;
    ck_assert_uint_eq(cmos(0x0a), 0xa6);
    fake_now.tv_nsec = 999999999;
    ck_assert_uint_eq(cmos(0x0a), 0xa6);
    fake_now.tv_sec++;
    fake_now.tv_nsec = 0;
    ck_assert_uint_eq(cmos(0x0a), 0x26);
    /* While SET holds the clock there is no update: no UIP, no UF. */
    cmos_set(0x0b, 0x82);
    fake_now.tv_nsec = 999900000;
    ck_assert_uint_eq(cmos(0x0a), 0x26);
    fake_now.tv_sec++;
    ck_assert_uint_eq(cmos(0x0c), 0x00);
}
END_TEST

START_TEST(test_fake_clock_runs_and_rolls_over)
{
    use_fake_clock();
    ck_assert_uint_eq(cmos(0x00), 0x58);
    ck_assert_uint_eq(cmos(0x04), 0x23);
    ck_assert_uint_eq(cmos(0x07), 0x28);
    ck_assert_uint_eq(cmos(0x06), 0x04); /* Wednesday */
    fake_now.tv_sec += 2;                /* 2024 is a leap year */
    ck_assert_uint_eq(cmos(0x07), 0x29);
    ck_assert_uint_eq(cmos(0x08), 0x02);
    ck_assert_uint_eq(cmos(0x04), 0x00);
    ck_assert_uint_eq(cmos(0x00), 0x00);
    /* 12-hour format around midnight and noon. */
    cmos_set(0x0b, 0x00);
    ck_assert_uint_eq(cmos(0x04), 0x12); /* 12 AM */
    fake_now.tv_sec += 12 * 3600 + 3600;
    ck_assert_uint_eq(cmos(0x04), 0x81); /* 1 PM */
}
END_TEST

START_TEST(test_set_bit_freezes_fields)
{
    use_fake_clock();
    /* The order Linux's mc146818_set_time() uses; day 31 is written while
     * the month is still February and must not roll over. */
    cmos_set(0x0b, 0x82);
    cmos_set(0x32, 0x20);
    cmos_set(0x09, 0x25);
    cmos_set(0x07, 0x31);
    cmos_set(0x08, 0x03);
    cmos_set(0x04, 0x10);
    cmos_set(0x02, 0x20);
    cmos_set(0x00, 0x30);
    fake_now.tv_sec += 5; /* frozen: time does not move */
    ck_assert_uint_eq(cmos(0x00), 0x30);
    ck_assert_uint_eq(cmos(0x07), 0x31);
    cmos_set(0x0b, 0x02); /* released: runs from 2025-03-31 10:20:30 */
    ck_assert_uint_eq(cmos(0x00), 0x30);
    fake_now.tv_sec += 90;
    ck_assert_uint_eq(cmos(0x00), 0x00);
    ck_assert_uint_eq(cmos(0x02), 0x22);
    ck_assert_uint_eq(cmos(0x07), 0x31);
    ck_assert_uint_eq(cmos(0x08), 0x03);
    ck_assert_uint_eq(cmos(0x09), 0x25);
    ck_assert_uint_eq(cmos(0x06), 0x02); /* Monday */
}
END_TEST

static Suite *cmos_rtc_suite(void)
{
    Suite *s = suite_create("cmos_rtc");
    TCase *tc = tcase_create("rtc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_time_bcd);
    tcase_add_test(tc, test_time_binary);
    tcase_add_test(tc, test_time_12h);
    tcase_add_test(tc, test_nmi_bit_ignored);
    tcase_add_test(tc, test_memory_bytes);
    tcase_add_test(tc, test_memory_bytes_small);
    tcase_add_test(tc, test_ram);
    tcase_add_test(tc, test_guest_sets_clock_with_set_bit);
    tcase_add_test(tc, test_guest_sets_clock_field);
    tcase_add_test(tc, test_garbage_writes_are_defined);
    tcase_add_test(tc, test_update_flags);
    tcase_add_test(tc, test_fake_clock_runs_and_rolls_over);
    tcase_add_test(tc, test_set_bit_freezes_fields);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(cmos_rtc_suite)
