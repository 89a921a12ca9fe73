/* PciBus: devfn allocation, BAR address assignment from the windows, and
 * removing devices at runtime. */
#include "pcitest.h"

#include "support/check_main.h"

#include <check.h>

static PciTest *t;

static void setup(void)
{
    t = pcitest_new();
}

static void teardown(void)
{
    pcitest_free(t);
}

static TestDev *add_ok(const char *id, const TestDevConfig *cfg)
{
    g_autoptr(GError) err = NULL;
    TestDev *d = pcitest_add(t, id, cfg, &err);
    ck_assert_msg(d, "%s", err ? err->message : "?");
    return d;
}

START_TEST(test_devfn_allocation)
{
    TestDevConfig cfg = pcitest_simple(t);
    ck_assert_ptr_nonnull(pci_bus_find(t->bus, 0)); /* the host bridge */
    TestDev *a = add_ok("a", &cfg), *b = add_ok("b", &cfg);
    ck_assert_uint_eq(a->pci.devfn, PCI_DEVFN(1, 0));
    ck_assert_uint_eq(b->pci.devfn, PCI_DEVFN(2, 0));
    cfg.devfn = PCI_DEVFN(7, 3);
    TestDev *c = add_ok("c", &cfg);
    ck_assert_ptr_eq(pci_bus_find(t->bus, PCI_DEVFN(7, 3)), &c->pci);
    /* Taken addresses are refused; a slot with any function is not free. */
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(pcitest_add(t, "d", &cfg, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    cfg.devfn = 0;
    ck_assert_ptr_null(pcitest_add(t, "e", &cfg, &err));
    g_clear_error(&err);
    cfg.devfn = 256;
    ck_assert_ptr_null(pcitest_add(t, "f", &cfg, &err));
    cfg.devfn = -1;
    /* Slots 3..6 come next; 7 holds function 3 of "c", so then 8. */
    const unsigned expect[] = { 3, 4, 5, 6, 8 };
    for (unsigned i = 0; i < G_N_ELEMENTS(expect); i++) {
        g_autofree char *id = g_strdup_printf("s%u", i);
        ck_assert_uint_eq(add_ok(id, &cfg)->pci.devfn, PCI_DEVFN(expect[i], 0));
    }
}
END_TEST

START_TEST(test_bus_full)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 0 };
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        g_autofree char *id = g_strdup_printf("s%u", slot);
        ck_assert_uint_eq(add_ok(id, &cfg)->pci.devfn, PCI_DEVFN(slot, 0));
    }
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(pcitest_add(t, "one-too-many", &cfg, &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_bar_assignment)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 0x1000, PCI_BAR_MEM32 };
    cfg.bars[1] = (TestBar){ 0x100000, PCI_BAR_MEM32 | PCI_BAR_PREFETCH };
    cfg.bars[2] = (TestBar){ 0x4000, PCI_BAR_MEM64 };
    cfg.bars[4] = (TestBar){ 0x20, PCI_BAR_IO };
    TestDev *a = add_ok("a", &cfg);
    /* Largest first, naturally aligned, each kind from its window. */
    ck_assert_uint_eq(pci_device_bar_address(&a->pci, 1), T_MMIO32_BASE);
    ck_assert_uint_eq(pci_device_bar_address(&a->pci, 0), T_MMIO32_BASE + 0x100000);
    ck_assert_uint_eq(pci_device_bar_address(&a->pci, 2), T_MMIO64_BASE);
    ck_assert_uint_eq(pci_device_bar_address(&a->pci, 4), T_IO_BASE);
    TestDev *b = add_ok("b", &cfg);
    ck_assert_uint_eq(pci_device_bar_address(&b->pci, 1), T_MMIO32_BASE + 0x200000);
    ck_assert_uint_eq(pci_device_bar_address(&b->pci, 0), T_MMIO32_BASE + 0x101000);
    ck_assert_uint_eq(pci_device_bar_address(&b->pci, 2), T_MMIO64_BASE + 0x4000);
    ck_assert_uint_eq(pci_device_bar_address(&b->pci, 4), T_IO_BASE + 0x20);
    /* Decode stays off until the guest turns it on. */
    ck_assert_uint_eq(pcitest_cfg_read(t, b->pci.devfn, PCI_COMMAND, 2), 0);
    ck_assert_uint_eq(addrspace_count(vm_mmio(t->vm)), 1);
}
END_TEST

START_TEST(test_window_full)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 1ull << 30, PCI_BAR_MEM32 }; /* window is 512 MiB */
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(pcitest_add(t, "big", &cfg, &err));
    ck_assert_ptr_nonnull(err);
    /* Nothing was left behind: the slot and window are still free. */
    cfg.bars[0] = (TestBar){ T_MMIO32_SIZE, PCI_BAR_MEM32 };
    TestDev *d = add_ok("fits", &cfg);
    ck_assert_uint_eq(d->pci.devfn, PCI_DEVFN(1, 0));
    ck_assert_uint_eq(pci_device_bar_address(&d->pci, 0), T_MMIO32_BASE);
}
END_TEST

START_TEST(test_remove_at_runtime)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[2] = (TestBar){ 0x40, PCI_BAR_IO };
    TestDev *a = add_ok("a", &cfg);
    TestDev *b = add_ok("b", &cfg);
    uint8_t fn = a->pci.devfn;
    uint64_t mem = pci_device_bar_address(&a->pci, 0), io = pci_device_bar_address(&a->pci, 2);
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
    ck_assert(pcitest_mapped(vm_mmio(t->vm), mem));
    ck_assert(pcitest_mapped(vm_pio(t->vm), io));
    pci_device_set_intx(&a->pci, true);
    ck_assert(pcitest_irq_level(t, T_INTX_GSI + 1));

    device_destroy(&a->pci.dev);
    /* Gone from config space, the address spaces and its INTx line. */
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_VENDOR_ID, 4), 0xffffffff);
    ck_assert_ptr_null(pci_bus_find(t->bus, fn));
    ck_assert(!pcitest_mapped(vm_mmio(t->vm), mem));
    ck_assert(!pcitest_mapped(vm_pio(t->vm), io));
    ck_assert(!pcitest_irq_level(t, T_INTX_GSI + 1));
    ck_assert_uint_eq(pcitest_cfg_read(t, b->pci.devfn, PCI_VENDOR_ID, 2), 0x1af4);

    /* The slot and the addresses are free for the next device. */
    TestDev *c = add_ok("c", &cfg);
    ck_assert_uint_eq(c->pci.devfn, fn);
    ck_assert_uint_eq(pci_device_bar_address(&c->pci, 0), mem);
    ck_assert_uint_eq(pci_device_bar_address(&c->pci, 2), io);
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert_uint_eq(pcitest_mmio_read(t, mem + 4, 4), TESTDEV_READ(0, 4));
}
END_TEST

START_TEST(test_remove_with_msix)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.msix_vectors = 2;
    cfg.msix_table = 0;
    cfg.msix_pba = 0x800;
    TestDev *a = add_ok("a", &cfg);
    g_autoptr(GError) err = NULL;
    int fd = pci_msix_vector_irqfd(&a->pci, 1, &err);
    ck_assert_msg(fd >= 0, "%s", err ? err->message : "?");
    uint32_t gsi;
    ck_assert(pci_msix_vector_gsi(&a->pci, 1, &gsi));
    device_destroy(&a->pci.dev);
    uint64_t addr;
    uint32_t data;
    ck_assert(!pcitest_route(t, gsi, &addr, &data));
}
END_TEST

static Suite *bus_suite(void)
{
    Suite *s = suite_create("pci_bus");
    TCase *tc = tcase_create("bus");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_devfn_allocation);
    tcase_add_test(tc, test_bus_full);
    tcase_add_test(tc, test_bar_assignment);
    tcase_add_test(tc, test_window_full);
    tcase_add_test(tc, test_remove_at_runtime);
    tcase_add_test(tc, test_remove_with_msix);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(bus_suite)
