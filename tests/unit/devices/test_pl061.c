/* Tests of devices/gpio/pl061.c through the MMIO dispatcher: the PrimeCell
 * IDs, the address-masked GPIODATA, outputs against VMM-driven inputs, edge
 * (rising, falling, both) and level interrupts through IE, MIS and IC, the
 * key press that is released once the guest has sampled it, reset, and a
 * state round trip. */
#include "devices/gpio/pl061.h"
#include "devtest.h"
#include "support/check_main.h"

#define BASE 0x09030000ull
#define BASE2 0x09130000ull
#define GSI 39

enum { R_DIR = 0x400, R_IS = 0x404, R_IBE = 0x408, R_IEV = 0x40c, R_IE = 0x410, R_RIS = 0x414, R_MIS = 0x418,
       R_IC = 0x41c, R_AFSEL = 0x420 };

static DevTest *t;

static void setup(void)
{
    t = devtest_new();
}

static void teardown(void)
{
    devtest_free(t);
}

static Device *gpio_create_at(uint64_t base, const char *id)
{
    g_autoptr(GError) err = NULL;
    Pl061Config cfg = { .base = base, .gsi = GSI };
    Device *d = device_create(t->vm, &pl061_ops, id, &cfg, &err);
    ck_assert_msg(d, "device_create: %s", err ? err->message : "?");
    return d;
}

static uint32_t rd_at(uint64_t addr, unsigned size)
{
    uint8_t buf[4] = { 0 };
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, buf, size, false);
    return (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
}

static uint32_t rd(uint64_t off)
{
    return rd_at(BASE + off, 1);
}

static void wr(uint64_t off, uint8_t v)
{
    addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, &v, 1, true);
}

/* GPIODATA through the mask of all lines / of the given lines. */
static uint32_t data_rd(uint8_t mask)
{
    return rd((uint64_t)mask << 2);
}

static void data_wr(uint8_t mask, uint8_t v)
{
    wr((uint64_t)mask << 2, v);
}

START_TEST(test_ids)
{
    gpio_create_at(BASE, "gpio0");
    uint32_t periph = 0, cell = 0;
    for (unsigned i = 0; i < 4; i++) {
        periph |= rd(0xfe0 + 4 * i) << (8 * i);
        cell |= rd(0xff0 + 4 * i) << (8 * i);
    }
    ck_assert_uint_eq(periph, 0x00041061);
    ck_assert_uint_eq(cell, 0xb105f00d);
    /* A 32-bit read has the ID in its low byte only. */
    ck_assert_uint_eq(rd_at(BASE + 0xfe0, 4), 0x61);
}
END_TEST

START_TEST(test_registers)
{
    gpio_create_at(BASE, "gpio0");
    /* Reset: all inputs, no interrupts. */
    const uint64_t regs[] = { R_DIR, R_IS, R_IBE, R_IEV, R_IE, R_AFSEL };
    for (size_t i = 0; i < G_N_ELEMENTS(regs); i++) {
        ck_assert_uint_eq(rd(regs[i]), 0);
        wr(regs[i], (uint8_t)(0x81 + i));
        ck_assert_uint_eq(rd(regs[i]), 0x81 + i);
        wr(regs[i], 0);
    }
    /* Read-only and write-only registers. */
    wr(R_RIS, 0xff);
    wr(R_MIS, 0xff);
    ck_assert_uint_eq(rd(R_RIS), 0);
    ck_assert_uint_eq(rd(R_MIS), 0);
    ck_assert_uint_eq(rd(R_IC), 0);
    ck_assert_uint_eq(rd(0x424), 0); /* reserved */
}
END_TEST

START_TEST(test_masked_data)
{
    Device *d = gpio_create_at(BASE, "gpio0");
    wr(R_DIR, 0x0f); /* lines 0-3 outputs, 4-7 inputs */
    data_wr(0xff, 0xff);
    ck_assert_uint_eq(data_rd(0xff), 0x0f); /* inputs are undriven: low */
    /* A write changes only the lines in its address mask. */
    data_wr(0x03, 0x00);
    ck_assert_uint_eq(data_rd(0xff), 0x0c);
    data_wr(0x01, 0xff);
    ck_assert_uint_eq(data_rd(0xff), 0x0d);
    /* A read shows only the lines in its mask. */
    ck_assert_uint_eq(data_rd(0x04), 0x04);
    ck_assert_uint_eq(data_rd(0x02), 0x00);
    ck_assert_uint_eq(data_rd(0x00), 0x00);
    /* Inputs show what the VMM drives; an output ignores it. */
    pl061_set_input(d, 5, true);
    pl061_set_input(d, 1, true);
    ck_assert_uint_eq(data_rd(0xff), 0x2d);
    ck_assert_uint_eq(data_rd(0x20), 0x20);
    /* Line 1 an input again: its driven level shows. */
    wr(R_DIR, 0x0d);
    ck_assert_uint_eq(data_rd(0x02), 0x02);
}
END_TEST

START_TEST(test_rising_edge)
{
    Device *d = gpio_create_at(BASE, "gpio0");
    wr(R_IEV, 0x08); /* line 3: rising edges */
    /* No IE yet: RIS latches, the line stays low. */
    pl061_set_input(d, 3, true);
    ck_assert_uint_eq(rd(R_RIS), 0x08);
    ck_assert_uint_eq(rd(R_MIS), 0);
    ck_assert(!devtest_irq(t, GSI));
    wr(R_IC, 0x08);
    ck_assert_uint_eq(rd(R_RIS), 0);
    wr(R_IE, 0x08);
    /* A falling edge does not count; the next rising one does. */
    pl061_set_input(d, 3, false);
    ck_assert_uint_eq(rd(R_RIS), 0);
    ck_assert(!devtest_irq(t, GSI));
    pl061_set_input(d, 3, true);
    ck_assert_uint_eq(rd(R_MIS), 0x08);
    ck_assert(devtest_irq(t, GSI));
    /* Edges latch: the pin going low again does not clear it, IC does. */
    pl061_set_input(d, 3, false);
    ck_assert(devtest_irq(t, GSI));
    wr(R_IC, 0x01); /* another line's bit */
    ck_assert(devtest_irq(t, GSI));
    wr(R_IC, 0x08);
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(R_RIS), 0);
    /* Masking a latched edge lowers the line, unmasking raises it. */
    pl061_set_input(d, 3, true);
    wr(R_IE, 0);
    ck_assert(!devtest_irq(t, GSI));
    wr(R_IE, 0x08);
    ck_assert(devtest_irq(t, GSI));
}
END_TEST

START_TEST(test_falling_and_both_edges)
{
    Device *d = gpio_create_at(BASE, "gpio0");
    wr(R_IE, 0x03);
    wr(R_IBE, 0x02); /* line 0: falling (IEV clear), line 1: both */
    pl061_set_input(d, 0, true);
    pl061_set_input(d, 1, true);
    ck_assert_uint_eq(rd(R_RIS), 0x02);
    wr(R_IC, 0xff);
    pl061_set_input(d, 0, false);
    pl061_set_input(d, 1, false);
    ck_assert_uint_eq(rd(R_RIS), 0x03);
    ck_assert(devtest_irq(t, GSI));
    wr(R_IC, 0xff);
    ck_assert(!devtest_irq(t, GSI));
    /* An output line's own transitions are edges too. */
    wr(R_DIR, 0x01);
    data_wr(0x01, 0x01);
    data_wr(0x01, 0x00);
    ck_assert_uint_eq(rd(R_RIS), 0x01);
}
END_TEST

START_TEST(test_level)
{
    Device *d = gpio_create_at(BASE, "gpio0");
    wr(R_IS, 0x30);
    wr(R_IEV, 0x10); /* line 4: high level, line 5: low level */
    ck_assert_uint_eq(rd(R_RIS), 0x20);
    wr(R_IE, 0x30);
    ck_assert(devtest_irq(t, GSI));
    /* IC does not clear a level; the pin does. */
    wr(R_IC, 0x30);
    ck_assert_uint_eq(rd(R_MIS), 0x20);
    pl061_set_input(d, 5, true);
    ck_assert_uint_eq(rd(R_RIS), 0);
    ck_assert(!devtest_irq(t, GSI));
    pl061_set_input(d, 4, true);
    ck_assert_uint_eq(rd(R_MIS), 0x10);
    ck_assert(devtest_irq(t, GSI));
    pl061_set_input(d, 4, false);
    ck_assert(!devtest_irq(t, GSI));
}
END_TEST

static bool line3_low(void *opaque)
{
    return !(data_rd(0x08) & 0x08);
}

static bool never(void *opaque)
{
    return false;
}

/* What gpio_keys does: both edges, sample the line after each. */
START_TEST(test_key_press)
{
    Device *d = gpio_create_at(BASE, "gpio0");
    wr(R_IBE, 0x08);
    wr(R_IE, 0x08);
    unsigned edges = devtest_irq_edges(t, GSI);
    pl061_press_key(d, 3);
    ck_assert(devtest_irq(t, GSI));
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), edges + 1);
    wr(R_IC, 0x08);
    ck_assert(!devtest_irq(t, GSI));
    /* Not released before the guest has looked, however long it takes. */
    devtest_run_until(t, never, NULL, 3 * PL061_KEY_HOLD_MS);
    ck_assert_uint_eq(rd(R_RIS), 0);
    ck_assert_uint_eq(data_rd(0x08), 0x08); /* the guest samples it: pressed */
    ck_assert(devtest_run_until(t, line3_low, NULL, 10 * PL061_KEY_HOLD_MS));
    /* The release is the second edge. */
    ck_assert_uint_eq(rd(R_MIS), 0x08);
    ck_assert(devtest_irq(t, GSI));
}
END_TEST

static bool line3_fell(void *opaque)
{
    return rd(R_RIS) & 0x08;
}

/* A guest that never samples the line (no driver) still gets the key
 * released, after PL061_KEY_MAX_HOLD_MS. */
START_TEST(test_key_release_timeout)
{
    Device *d = gpio_create_at(BASE, "gpio0");
    pl061_press_key(d, 3); /* IEV and IBE clear: falling edges only */
    ck_assert_uint_eq(rd(R_RIS), 0);
    gint64 t0 = g_get_monotonic_time();
    ck_assert(devtest_run_until(t, line3_fell, NULL, 2 * PL061_KEY_MAX_HOLD_MS));
    ck_assert_int_ge(g_get_monotonic_time() - t0, (PL061_KEY_MAX_HOLD_MS - PL061_KEY_HOLD_MS) * 1000);
    ck_assert_uint_eq(data_rd(0x08), 0);
}
END_TEST

START_TEST(test_reset)
{
    Device *d = gpio_create_at(BASE, "gpio0");
    wr(R_DIR, 0xff);
    data_wr(0xff, 0xaa);
    wr(R_IE, 0xff);
    wr(R_IS, 0xff);
    ck_assert(devtest_irq(t, GSI));
    d->ops->reset(d);
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(R_DIR), 0);
    ck_assert_uint_eq(rd(R_IE), 0);
    ck_assert_uint_eq(data_rd(0xff), 0);
}
END_TEST

START_TEST(test_state_round_trip)
{
    Device *a = gpio_create_at(BASE, "gpio0");
    Device *b = gpio_create_at(BASE2, "gpio1");
    wr(R_DIR, 0x81);
    data_wr(0xff, 0x81);
    wr(R_IS, 0x40);
    wr(R_IEV, 0x48);
    wr(R_IBE, 0x02);
    wr(R_AFSEL, 0x10);
    wr(R_IE, 0x0a);
    pl061_set_input(a, 1, true);   /* a latched edge (both) */
    pl061_set_input(a, 6, true);   /* a high level, masked */
    pl061_press_key(a, 3);         /* a held key, rising edge latched */
    ck_assert(devtest_irq(t, GSI));
    devtest_state_copy(a, b);
    ck_assert_uint_eq(rd_at(BASE2 + 0x3fc, 1), 0xcb);
    ck_assert_uint_eq(rd_at(BASE2 + R_DIR, 1), 0x81);
    ck_assert_uint_eq(rd_at(BASE2 + R_IS, 1), 0x40);
    ck_assert_uint_eq(rd_at(BASE2 + R_IEV, 1), 0x48);
    ck_assert_uint_eq(rd_at(BASE2 + R_IBE, 1), 0x02);
    ck_assert_uint_eq(rd_at(BASE2 + R_AFSEL, 1), 0x10);
    ck_assert_uint_eq(rd_at(BASE2 + R_RIS, 1), 0x4a);
    ck_assert_uint_eq(rd_at(BASE2 + R_MIS, 1), 0x0a);
    /* b releases its held key once sampled (the read above sampled it). */
    ck_assert_uint_eq(rd_at(BASE2 + 0x20, 1), 0x08);
    bool low = false;
    for (unsigned i = 0; i < 20 && !low; i++) {
        devtest_run_until(t, never, NULL, PL061_KEY_HOLD_MS);
        low = !(rd_at(BASE2 + 0x20, 1) & 0x08);
    }
    ck_assert(low);
}
END_TEST

static Suite *pl061_suite(void)
{
    Suite *s = suite_create("pl061");
    TCase *tc = tcase_create("pl061");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_registers);
    tcase_add_test(tc, test_masked_data);
    tcase_add_test(tc, test_rising_edge);
    tcase_add_test(tc, test_falling_and_both_edges);
    tcase_add_test(tc, test_level);
    tcase_add_test(tc, test_key_press);
    tcase_add_test(tc, test_key_release_timeout);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_state_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(pl061_suite)
