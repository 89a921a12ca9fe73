/* The host bridge: ECAM decoding (bus/device/function/register, sizes,
 * unpopulated functions), configuration mechanism #1 (enable bit, register
 * offset, byte lanes), its own identity, config validation. */
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

START_TEST(test_host_identity)
{
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, PCI_VENDOR_ID, 4), 0x00081b36);
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, PCI_REVISION_ID, 4) >> 8, PCI_CLASS_BRIDGE_HOST);
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, PCI_HEADER_TYPE, 1), 0);
    ck_assert_ptr_eq(pci_host_find(t->vm, "pci0"), t->host);
    ck_assert_ptr_eq(pci_host_from_device(vm_find_device(t->vm, "pci0")), t->host);
    ck_assert_uint_eq(pci_host_config(t->host)->ecam_base, T_ECAM_BASE);
}
END_TEST

START_TEST(test_ecam_sizes_and_lanes)
{
    /* Every size at every lane of the first dword. */
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, 0, 1), 0x36);
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, 1, 1), 0x1b);
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, 2, 1), 0x08);
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, 3, 1), 0x00);
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, 2, 2), 0x0008);
    /* Unaligned and 8-byte accesses are not config cycles. */
    ck_assert_uint_eq(pcitest_mmio_read(t, T_ECAM_BASE + 1, 2), 0xffff);
    ck_assert_uint_eq(pcitest_mmio_read(t, T_ECAM_BASE, 8), UINT64_MAX);
    /* Extended config space is reachable through ECAM (reads 0 here). */
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, 0x100, 4), 0);
    /* A device's registers at devfn 1.0 -> offset 1 << 15. */
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *d = pcitest_add(t, "dev0", &cfg, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(pcitest_mmio_read(t, T_ECAM_BASE + (1u << 15) + PCI_DEVICE_ID, 2), 0x10ff);
    pcitest_mmio_write(t, T_ECAM_BASE + (1u << 15) + PCI_COMMAND, PCI_COMMAND_MEMORY, 1);
    ck_assert(pci_device_bar_mapped(&d->pci, 0, NULL));
}
END_TEST

START_TEST(test_ecam_unpopulated)
{
    ck_assert_uint_eq(pcitest_cfg_read(t, PCI_DEVFN(5, 0), 0, 4), 0xffffffff);
    ck_assert_uint_eq(pcitest_cfg_read(t, PCI_DEVFN(0, 1), 0, 2), 0xffff);
    ck_assert_uint_eq(pcitest_cfg_read(t, PCI_DEVFN(31, 7), 0xffc, 1), 0xff);
    /* Bus 1 and beyond (inside the window) are empty. */
    ck_assert_uint_eq(pcitest_mmio_read(t, T_ECAM_BASE + (1u << 20), 4), 0xffffffff);
    ck_assert_uint_eq(pcitest_mmio_read(t, T_ECAM_BASE + T_ECAM_SIZE - 4, 4), 0xffffffff);
    pcitest_mmio_write(t, T_ECAM_BASE + (1u << 20) + PCI_COMMAND, 0xffff, 2); /* dropped */
    pcitest_cfg_write(t, PCI_DEVFN(5, 0), PCI_COMMAND, 0xffff, 2);
}
END_TEST

START_TEST(test_cf8_cfc)
{
    /* Disabled: the data port reads all-ones. */
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT, 4), 0xffffffff);
    pcitest_out(t, PCI_CF8_PORT, 0x80000000, 4);
    ck_assert_uint_eq(pcitest_in(t, PCI_CF8_PORT, 4), 0x80000000);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT, 4), 0x00081b36);
    /* Byte lanes: 0xCFC + n selects byte n of the dword. */
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT + 2, 2), 0x0008);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT + 1, 1), 0x1b);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT + 3, 1), 0x00);
    /* Register number in bits 7:2: class code at 0x08. */
    pcitest_out(t, PCI_CF8_PORT, 0x80000008, 4);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT + 2, 2), 0x0600);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT + 3, 1), 0x06);
    /* Unaligned words are not config cycles. */
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT + 1, 2), 0xffff);
    /* Reserved bits read back as zero. */
    pcitest_out(t, PCI_CF8_PORT, 0xffffffff, 4);
    ck_assert_uint_eq(pcitest_in(t, PCI_CF8_PORT, 4), 0x80fffffc);
    /* Narrow accesses to 0xCF8 are not the address register (Linux's
     * type 1 probe writes a byte to 0xCFB). */
    pcitest_out(t, PCI_CF8_PORT, 0x80000000, 4);
    pcitest_out(t, PCI_CF8_PORT + 3, 0x01, 1);
    ck_assert_uint_eq(pcitest_in(t, PCI_CF8_PORT, 4), 0x80000000);
    ck_assert_uint_eq(pcitest_in(t, PCI_CF8_PORT, 1), 0xff);
    /* Bus 1 and empty functions read all-ones. */
    pcitest_out(t, PCI_CF8_PORT, 0x80010000, 4);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT, 4), 0xffffffff);
    pcitest_out(t, PCI_CF8_PORT, 0x80000000 | PCI_DEVFN(9, 0) << 8, 4);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT, 2), 0xffff);
}
END_TEST

START_TEST(test_cf8_device_write)
{
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *d = pcitest_add(t, "dev0", &cfg, NULL);
    ck_assert_ptr_nonnull(d);
    uint32_t base = 0x80000000u | (uint32_t)d->pci.devfn << 8;
    /* COMMAND via the low word of dword 0x04, STATUS lane untouched. */
    pcitest_out(t, PCI_CF8_PORT, base | PCI_COMMAND, 4);
    pcitest_out(t, PCI_CFC_PORT, PCI_COMMAND_MEMORY, 2);
    ck_assert(pci_device_bar_mapped(&d->pci, 0, NULL));
    /* BAR 0 through the data port, sized and restored. */
    pcitest_out(t, PCI_CF8_PORT, base | PCI_BAR0, 4);
    pcitest_out(t, PCI_CFC_PORT, 0xffffffff, 4);
    ck_assert_uint_eq(pcitest_in(t, PCI_CFC_PORT, 4), 0xfffff000);
    pcitest_out(t, PCI_CFC_PORT, 0xca000000, 4);
    uint64_t at = 0;
    ck_assert(pci_device_bar_mapped(&d->pci, 0, &at));
    ck_assert_uint_eq(at, 0xca000000);
    /* Disabling config cycles drops writes. */
    pcitest_out(t, PCI_CF8_PORT, (base | PCI_COMMAND) & ~0x80000000u, 4);
    pcitest_out(t, PCI_CFC_PORT, 0, 2);
    ck_assert(pci_device_bar_mapped(&d->pci, 0, NULL));
}
END_TEST

START_TEST(test_reset_clears_cf8)
{
    pcitest_out(t, PCI_CF8_PORT, 0x80000000, 4);
    vm_reset_devices(t->vm);
    ck_assert_uint_eq(pcitest_in(t, PCI_CF8_PORT, 4), 0);
}
END_TEST

START_TEST(test_bad_config)
{
    g_autoptr(GError) err = NULL;
    PciHostConfig hc = { .ecam_base = 0xe0000000, .ecam_size = 3u << 19,
                         .mmio32_base = 0xc0000000, .mmio32_size = 0x10000000 };
    ck_assert_ptr_null(device_create(t->vm, &pci_host_ops, "pci1", &hc, &err));
    g_clear_error(&err);
    hc.ecam_size = 512ull << 20;
    ck_assert_ptr_null(device_create(t->vm, &pci_host_ops, "pci1", &hc, &err));
    g_clear_error(&err);
    hc.ecam_size = 1ull << 20;
    hc.mmio32_size = 0x80000000;
    ck_assert_ptr_null(device_create(t->vm, &pci_host_ops, "pci1", &hc, &err));
    g_clear_error(&err);
    /* Overlapping the first host's ECAM: realize fails, nothing leaks. */
    hc.ecam_base = T_ECAM_BASE;
    hc.mmio32_size = 0x1000000;
    ck_assert_ptr_null(device_create(t->vm, &pci_host_ops, "pci1", &hc, &err));
    ck_assert_ptr_null(pci_host_find(t->vm, "pci1"));
    ck_assert_uint_eq(pcitest_cfg_read(t, 0, 0, 2), 0x1b36);
}
END_TEST

static Suite *host_suite(void)
{
    Suite *s = suite_create("pci_host");
    TCase *tc = tcase_create("host");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_host_identity);
    tcase_add_test(tc, test_ecam_sizes_and_lanes);
    tcase_add_test(tc, test_ecam_unpopulated);
    tcase_add_test(tc, test_cf8_cfc);
    tcase_add_test(tc, test_cf8_device_write);
    tcase_add_test(tc, test_reset_clears_cf8);
    tcase_add_test(tc, test_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(host_suite)
