/* The ACPI GED block: S5 through the sleep control register powers off,
 * the reset register resets, other sleep types and values are ignored, and
 * the power button latches an event and pulses the GED interrupt. */
#include "devices/acpi/ged.h"
#include "support/check_main.h"
#include "devtest.h"

#define BASE 0x600
#define GSI 23

static DevTest *setup(void)
{
    DevTest *t = devtest_new();
    GedConfig cfg = { .base = BASE, .gsi = GSI };
    g_autoptr(GError) err = NULL;
    ck_assert_msg(device_create(t->vm, &ged_ops, "ged0", &cfg, &err), "%s",
                  err ? err->message : "");
    return t;
}

START_TEST(s5_powers_off)
{
    DevTest *t = setup();
    /* SLP_TYP without SLP_EN, and a sleep type other than S5: no stop. */
    devtest_outb(t, BASE + GED_REG_SLEEP_CONTROL, GED_SLP_TYP_S5 << 2);
    devtest_outb(t, BASE + GED_REG_SLEEP_CONTROL, 0x20 | (3 << 2));
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 0);
    /* What Linux writes for S5: (SLP_TYP << 2) | SLP_EN. */
    devtest_outb(t, BASE + GED_REG_SLEEP_CONTROL, 0x20 | (GED_SLP_TYP_S5 << 2));
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 1);
    ck_assert_int_eq(t->stop_reason, VM_STOP_POWEROFF);
    ck_assert_str_eq(t->stop_detail, "ACPI S5");
    devtest_free(t);
}
END_TEST

START_TEST(reset_register)
{
    DevTest *t = setup();
    devtest_outb(t, BASE + GED_REG_RESET, 0x06);
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 0);
    devtest_outb(t, BASE + GED_REG_RESET, GED_RESET_VALUE);
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 1);
    ck_assert_int_eq(t->stop_reason, VM_STOP_RESET);
    devtest_free(t);
}
END_TEST

START_TEST(power_button_event)
{
    DevTest *t = setup();
    ck_assert_uint_eq(devtest_inb(t, BASE + GED_REG_EVENT), 0);
    unsigned edges = devtest_irq_edges(t, GSI);
    ged_press_power_button(vm_find_device(t->vm, "ged0"));
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), edges + 1);
    ck_assert(!devtest_irq(t, GSI)); /* a pulse: the line is low again */
    /* The event is latched until read, then cleared. */
    ck_assert_uint_eq(devtest_inb(t, BASE + GED_REG_EVENT), GED_EVENT_POWER_BUTTON);
    ck_assert_uint_eq(devtest_inb(t, BASE + GED_REG_EVENT), 0);
    /* Reads of the other registers are 0; writes to read-only ones ignored. */
    ck_assert_uint_eq(devtest_inb(t, BASE + GED_REG_SLEEP_STATUS), 0);
    devtest_outb(t, BASE + GED_REG_EVENT, 0xff);
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 0);
    devtest_free(t);
}
END_TEST

START_TEST(device_reset_clears_events)
{
    DevTest *t = setup();
    Device *d = vm_find_device(t->vm, "ged0");
    ged_press_power_button(d);
    d->ops->reset(d);
    ck_assert_uint_eq(devtest_inb(t, BASE + GED_REG_EVENT), 0);
    devtest_free(t);
}
END_TEST

static Suite *ged_suite(void)
{
    Suite *s = suite_create("ged");
    TCase *tc = tcase_create("ged");
    tcase_add_test(tc, s5_powers_off);
    tcase_add_test(tc, reset_register);
    tcase_add_test(tc, power_button_event);
    tcase_add_test(tc, device_reset_clears_events);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(ged_suite)
