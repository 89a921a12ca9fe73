/* Tests of hypervisor/irq.c: the router without an accelerator VM (records
 * line levels and MSIs), MSI route allocation, and the same router on the
 * fake accelerator. */
#include "hypervisor/error.h"
#include "hypervisor/irq.h"
#include "support/check_main.h"
#include "support/fake_accel.h"

#include <stdint.h>
#include <unistd.h>

#define FIRST_MSI 24
#define MAX_GSI 31

static const AccelRoute pins[] = {
    { .gsi = 4, .kind = ACCEL_ROUTE_IRQCHIP, .irqchip = { .chip = 2, .pin = 4 } },
    { .gsi = 5, .kind = ACCEL_ROUTE_IRQCHIP, .irqchip = { .chip = 2, .pin = 5 } },
};

static IrqRouter *router;

static void setup(void)
{
    router = irq_router_new(NULL, pins, G_N_ELEMENTS(pins), FIRST_MSI, MAX_GSI);
}

static void teardown(void)
{
    irq_router_free(router);
    router = NULL;
}

START_TEST(test_levels)
{
    for (uint32_t g = 0; g < 24; g++)
        ck_assert(!irq_router_test_level(router, g));
    irq_line_set(router, 4, true);
    ck_assert(irq_router_test_level(router, 4));
    ck_assert(!irq_router_test_level(router, 5));
    irq_line_set(router, 4, true); /* idempotent */
    ck_assert(irq_router_test_level(router, 4));
    irq_line_set(router, 4, false);
    ck_assert(!irq_router_test_level(router, 4));
    irq_line_set(router, 23, true);
    ck_assert(irq_router_test_level(router, 23));
    /* A pulse leaves the line low. */
    irq_line_pulse(router, 7);
    ck_assert(!irq_router_test_level(router, 7));
    /* Out-of-range lines are ignored, not a crash. */
    irq_line_set(router, 100000, true);
    ck_assert(!irq_router_test_level(router, 100000));
    ck_assert_uint_eq(irq_router_test_msi_count(router), 0);
}
END_TEST

START_TEST(test_msi_send)
{
    ck_assert_uint_eq(irq_router_test_msi_count(router), 0);
    irq_msi_send(router, 0xfee00000, 0x41, 0, false);
    irq_msi_send(router, 0xfee00000, 0x42, 7, true);
    ck_assert_uint_eq(irq_router_test_msi_count(router), 2);
}
END_TEST

START_TEST(test_msi_routes)
{
    g_autoptr(GError) err = NULL;
    uint32_t a = 0, b = 0;
    ck_assert(irq_msi_route_add(router, 0xfee00000, 0x30, 0, false, &a, &err));
    ck_assert(irq_msi_route_add(router, 0xfee00000, 0x31, 0, false, &b, &err));
    ck_assert_ptr_null(err);
    ck_assert_uint_ge(a, FIRST_MSI);
    ck_assert_uint_le(a, MAX_GSI);
    ck_assert_uint_ge(b, FIRST_MSI);
    ck_assert_uint_le(b, MAX_GSI);
    ck_assert_uint_ne(a, b);

    ck_assert(irq_msi_route_update(router, a, 0xfee01000, 0x50, 3, true, &err));
    ck_assert(irq_router_commit(router, &err));
    ck_assert_ptr_null(err);

    irq_route_remove(router, a);
    ck_assert(!irq_msi_route_update(router, a, 0xfee00000, 0x30, 0, false, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
    g_clear_error(&err);
    /* Updating a fixed irqchip pin or an unknown GSI is refused too. */
    ck_assert(!irq_msi_route_update(router, 4, 0xfee00000, 0x30, 0, false, &err));
    g_clear_error(&err);
    ck_assert(!irq_msi_route_update(router, 1000, 0xfee00000, 0x30, 0, false, NULL));
    /* Removing twice (or removing what was never added) is harmless. */
    irq_route_remove(router, a);
    irq_route_remove(router, 4);
    irq_route_remove(router, 99999);
    ck_assert(irq_msi_route_update(router, b, 0xfee00000, 0x32, 0, false, NULL));
    ck_assert(irq_router_commit(router, NULL));
}
END_TEST

START_TEST(test_msi_route_exhaustion)
{
    const unsigned n = MAX_GSI - FIRST_MSI + 1;
    uint32_t gsis[MAX_GSI - FIRST_MSI + 1];
    bool seen[MAX_GSI + 1] = { false };
    for (unsigned i = 0; i < n; i++) {
        ck_assert(irq_msi_route_add(router, 0xfee00000, i, 0, false, &gsis[i], NULL));
        ck_assert_uint_ge(gsis[i], FIRST_MSI);
        ck_assert_uint_le(gsis[i], MAX_GSI);
        ck_assert(!seen[gsis[i]]);
        seen[gsis[i]] = true;
    }
    g_autoptr(GError) err = NULL;
    uint32_t extra = 0xdead;
    ck_assert(!irq_msi_route_add(router, 0xfee00000, 99, 0, false, &extra, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED));
    ck_assert_uint_eq(extra, 0xdead);
    g_clear_error(&err);

    /* Freeing one makes exactly that GSI available again. */
    irq_route_remove(router, gsis[3]);
    ck_assert(irq_msi_route_add(router, 0xfee00000, 100, 0, false, &extra, &err));
    ck_assert_uint_eq(extra, gsis[3]);
    ck_assert(!irq_msi_route_add(router, 0xfee00000, 101, 0, false, &extra, NULL));
}
END_TEST

START_TEST(test_single_gsi_range)
{
    IrqRouter *r = irq_router_new(NULL, NULL, 0, 40, 40);
    uint32_t g = 0;
    ck_assert(irq_msi_route_add(r, 0xfee00000, 1, 0, false, &g, NULL));
    ck_assert_uint_eq(g, 40);
    ck_assert(!irq_msi_route_add(r, 0xfee00000, 2, 0, false, &g, NULL));
    irq_router_free(r);
}
END_TEST

START_TEST(test_irqfd_without_accel)
{
    g_autoptr(GError) err = NULL;
    IrqFd *f = irqfd_new(router, FIRST_MSI, &err);
    ck_assert_ptr_nonnull(f);
    int fd = irqfd_fd(f);
    ck_assert_int_ge(fd, 0);
    irqfd_trigger(f);
    irqfd_trigger(f);
    uint64_t v = 0;
    ck_assert_int_eq(read(fd, &v, sizeof(v)), sizeof(v));
    ck_assert_uint_eq(v, 2);
    /* Without an accelerator a trigger is recorded as an interrupt message. */
    ck_assert_uint_eq(irq_router_test_msi_count(router), 2);
    irqfd_free(f);
    irqfd_free(NULL);
}
END_TEST

START_TEST(test_free_null)
{
    irq_router_free(NULL);
}
END_TEST

START_TEST(test_with_fake_accel)
{
    Accel *accel = fake_accel_new();
    AccelVm *avm = NULL;
    ck_assert_int_eq(accel->ops->vm_create(accel, &avm), 0);
    IrqRouter *r = irq_router_new(avm, pins, G_N_ELEMENTS(pins), FIRST_MSI, MAX_GSI);
    irq_line_set(r, 5, true);
    ck_assert(fake_accel_irq_level(avm, 5));
    ck_assert_uint_eq(fake_accel_irq_edges(avm, 5), 1);
    irq_line_set(r, 5, false);
    ck_assert(!fake_accel_irq_level(avm, 5));
    irq_line_pulse(r, 5);
    ck_assert(!fake_accel_irq_level(avm, 5));
    ck_assert_uint_eq(fake_accel_irq_edges(avm, 5), 2);
    irq_msi_send(r, 0xfee00000, 0x40, 0, false);
    ck_assert_uint_eq(fake_accel_msi_count(avm), 1);
    uint32_t g;
    ck_assert(irq_msi_route_add(r, 0xfee00000, 0x41, 0, false, &g, NULL));
    ck_assert(irq_router_commit(r, NULL));
    IrqFd *f = irqfd_new(r, g, NULL);
    ck_assert_ptr_nonnull(f);
    irqfd_free(f);
    irq_router_free(r);
    avm->ops->vm_destroy(avm);
    accel_close(accel);
}
END_TEST

static gpointer hammer(gpointer opaque)
{
    for (unsigned i = 0; i < 1000; i++) {
        irq_msi_send(router, 0xfee00000, i, 0, false);
        irq_line_pulse(router, GPOINTER_TO_UINT(opaque));
    }
    return NULL;
}

START_TEST(test_thread_safety)
{
    GThread *t[4];
    for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
        t[i] = g_thread_new("irq", hammer, GUINT_TO_POINTER(i));
    for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
        g_thread_join(t[i]);
    ck_assert_uint_eq(irq_router_test_msi_count(router), 4000);
}
END_TEST

static Suite *irq_suite(void)
{
    Suite *s = suite_create("irq");
    TCase *tc = tcase_create("router");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_levels);
    tcase_add_test(tc, test_msi_send);
    tcase_add_test(tc, test_msi_routes);
    tcase_add_test(tc, test_msi_route_exhaustion);
    tcase_add_test(tc, test_single_gsi_range);
    tcase_add_test(tc, test_irqfd_without_accel);
    tcase_add_test(tc, test_free_null);
    tcase_add_test(tc, test_with_fake_accel);
    tcase_add_test(tc, test_thread_safety);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(irq_suite)
