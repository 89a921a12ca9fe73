/* MSI: the capability as a guest sees it, delivery when enabled, masking
 * with the pending bit and delivery on unmask, INTx fallback when disabled,
 * and function reset. */
#include "pci/msi.h"
#include "pcitest.h"
#include "support/check_main.h"

#include <check.h>

static PciTest *t;
static TestDev *d;
static uint8_t fn, cap;

static void setup(void)
{
    t = pcitest_new();
    TestDevConfig cfg = pcitest_simple(t);
    cfg.msi = true;
    g_autoptr(GError) err = NULL;
    d = pcitest_add(t, "dev0", &cfg, &err);
    ck_assert_msg(d, "%s", err ? err->message : "?");
    fn = d->pci.devfn;
    cap = pci_config_find_capability(&d->pci.config, PCI_CAP_ID_MSI, 0);
    ck_assert_uint_ne(cap, 0);
}

static void teardown(void)
{
    pcitest_free(t);
}

static void program(uint64_t addr, uint16_t data)
{
    pcitest_cfg_write(t, fn, cap + PCI_MSI_ADDR_LO, (uint32_t)addr, 4);
    pcitest_cfg_write(t, fn, cap + PCI_MSI_ADDR_HI, (uint32_t)(addr >> 32), 4);
    pcitest_cfg_write(t, fn, cap + PCI_MSI_DATA, data, 2);
}

START_TEST(test_capability)
{
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap, 1), PCI_CAP_ID_MSI);
    uint32_t flags = pcitest_cfg_read(t, fn, cap + PCI_MSI_FLAGS, 2);
    ck_assert_uint_eq(flags, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
    /* Only the enable bit is writable in the control word. */
    pcitest_cfg_write(t, fn, cap + PCI_MSI_FLAGS, 0xffff, 2);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSI_FLAGS, 2),
                      PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | PCI_MSI_FLAGS_ENABLE);
    /* The address is dword aligned; the data register is 16 bits. */
    program(0xfee00003ull, 0x4041);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSI_ADDR_LO, 4), 0xfee00000);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSI_DATA, 2), 0x4041);
}
END_TEST

START_TEST(test_delivery_and_masking)
{
    /* Disabled: nothing delivered, the caller is told to use INTx. */
    ck_assert(!pci_msi_notify(&d->pci));
    unsigned base = pcitest_msi_count(t);
    program(0xfee00000ull, 0x31);
    pcitest_cfg_write(t, fn, cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
    ck_assert(pci_msi_enabled(&d->pci));
    ck_assert(pci_msi_notify(&d->pci));
    ck_assert_uint_eq(pcitest_msi_count(t), base + 1);
    /* Masked: kept pending, visible in the pending bits. */
    pcitest_cfg_write(t, fn, cap + PCI_MSI_MASK, 1, 4);
    ck_assert(pci_msi_notify(&d->pci));
    ck_assert_uint_eq(pcitest_msi_count(t), base + 1);
    ck_assert(pci_msi_pending(&d->pci));
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSI_PENDING, 4), 1);
    /* Unmask: the pending message goes out once. */
    pcitest_cfg_write(t, fn, cap + PCI_MSI_MASK, 0, 4);
    ck_assert_uint_eq(pcitest_msi_count(t), base + 2);
    ck_assert(!pci_msi_pending(&d->pci));
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSI_PENDING, 4), 0);
}
END_TEST

START_TEST(test_reset)
{
    program(0xfee00000ull, 0x31);
    pcitest_cfg_write(t, fn, cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
    pci_device_reset(&d->pci);
    ck_assert(!pci_msi_enabled(&d->pci));
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE, 0);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSI_ADDR_LO, 4), 0);
    ck_assert(!pci_msi_notify(&d->pci));
}
END_TEST

static Suite *msi_suite(void)
{
    Suite *s = suite_create("pci_msi");
    TCase *tc = tcase_create("msi");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_capability);
    tcase_add_test(tc, test_delivery_and_masking);
    tcase_add_test(tc, test_reset);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(msi_suite)
