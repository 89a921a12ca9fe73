/* The PCI Express capability: what a guest reads (an integrated endpoint,
 * version 2, no link), which Device Control bits it may change, Device
 * Status write-1-to-clear, the extended config space behind it, and the
 * power-on values coming back on function reset. */
#include "pci/pcie.h"
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
    cfg.pcie = true;
    cfg.msi = true; /* the capability must chain with others */
    g_autoptr(GError) err = NULL;
    d = pcitest_add(t, "dev0", &cfg, &err);
    ck_assert_msg(d, "%s", err ? err->message : "?");
    fn = d->pci.devfn;
    cap = pci_config_find_capability(&d->pci.config, PCI_CAP_ID_EXP, 0);
    ck_assert_uint_ne(cap, 0);
}

static void teardown(void)
{
    pcitest_free(t);
}

START_TEST(test_capability)
{
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap, 1), PCI_CAP_ID_EXP);
    uint32_t flags = pcitest_cfg_read(t, fn, cap + PCI_EXP_FLAGS, 2);
    ck_assert_uint_eq(flags & 0xf, 2);                                       /* version */
    ck_assert_uint_eq((flags >> 4) & 0xf, PCI_EXP_TYPE_RC_INTEGRATED);       /* RCiEP */
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVCAP, 4) & 0x7, 0); /* 128 B */
    ck_assert(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_RBER);
    /* No link: link capabilities and control/status are reserved zero. */
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_LNKCAP, 4), 0);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_LNKCAP + 4, 4), 0);
    /* The status register advertises the capability list. */
    ck_assert(pcitest_cfg_read(t, fn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    /* Both capabilities are reachable from the list. */
    ck_assert_uint_ne(pci_config_find_capability(&d->pci.config, 0x05, 0), 0);
}
END_TEST

START_TEST(test_device_control)
{
    uint32_t ctl = pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVCTL, 2);
    ck_assert_uint_eq(ctl, PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN |
                               PCI_EXP_DEVCTL_READRQ_512B);
    /* Bit 15 (initiate FLR) is not implemented: it reads back 0. */
    pcitest_cfg_write(t, fn, cap + PCI_EXP_DEVCTL, 0xffff, 2);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVCTL, 2), 0x7fff & ~0x0600);
    pcitest_cfg_write(t, fn, cap + PCI_EXP_DEVCTL, 0x0000, 2);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVCTL, 2), 0);
    /* The capability registers themselves are read-only. */
    pcitest_cfg_write(t, fn, cap + PCI_EXP_FLAGS, 0, 2);
    pcitest_cfg_write(t, fn, cap + PCI_EXP_DEVCAP, 0xffffffff, 4);
    ck_assert_uint_eq((pcitest_cfg_read(t, fn, cap + PCI_EXP_FLAGS, 2) >> 4) & 0xf,
                      PCI_EXP_TYPE_RC_INTEGRATED);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVCAP, 4), PCI_EXP_DEVCAP_RBER);
}
END_TEST

START_TEST(test_device_status_w1c)
{
    /* The model sets an error bit (as a real function would on an error). */
    pci_config_set16(&d->pci.config, cap + PCI_EXP_DEVSTA, 0x0005);
    pcitest_cfg_write(t, fn, cap + PCI_EXP_DEVSTA, 0x0001, 2);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVSTA, 2), 0x0004);
    pcitest_cfg_write(t, fn, cap + PCI_EXP_DEVSTA, 0xfff0, 2); /* non-error bits: no effect */
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVSTA, 2), 0x0004);
}
END_TEST

START_TEST(test_extended_space)
{
    /* A PCIe guest probes offset 0x100 to size config space: it must read
     * as an empty extended capability list (0), not as all-ones. */
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, 0x100, 4), 0);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, 0xffc, 4), 0);
    /* Writes there are ignored. */
    pcitest_cfg_write(t, fn, 0x100, 0x12345678, 4);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, 0x100, 4), 0);
}
END_TEST

START_TEST(test_reset)
{
    pcitest_cfg_write(t, fn, cap + PCI_EXP_DEVCTL, 0x00ef, 2);
    pci_config_set16(&d->pci.config, cap + PCI_EXP_DEVSTA, 0x0003);
    pci_device_reset(&d->pci);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVCTL, 2),
                      PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN |
                          PCI_EXP_DEVCTL_READRQ_512B);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_EXP_DEVSTA, 2), 0);
}
END_TEST

static Suite *pcie_suite(void)
{
    Suite *s = suite_create("pci_pcie");
    TCase *tc = tcase_create("pcie");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_capability);
    tcase_add_test(tc, test_device_control);
    tcase_add_test(tc, test_device_status_w1c);
    tcase_add_test(tc, test_extended_space);
    tcase_add_test(tc, test_reset);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(pcie_suite)
