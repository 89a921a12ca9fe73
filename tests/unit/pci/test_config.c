/* Config space semantics: write masks, write-1-to-clear, odd offsets and
 * sizes, out-of-range bytes, the capability list. */
#include "pci/config.h"

#include "support/check_main.h"

#include <check.h>

static PciConfig cfg;

static void setup(void)
{
    pci_config_init(&cfg);
    pci_config_set16(&cfg, PCI_VENDOR_ID, 0x1af4);
    pci_config_set16(&cfg, PCI_DEVICE_ID, 0x1041);
}

START_TEST(test_readonly_ids)
{
    pci_config_write(&cfg, PCI_VENDOR_ID, 0xdeadbeef, 4);
    ck_assert_uint_eq(pci_config_read(&cfg, PCI_VENDOR_ID, 4), 0x10411af4);
    ck_assert_uint_eq(pci_config_read(&cfg, PCI_DEVICE_ID, 2), 0x1041);
    ck_assert_uint_eq(pci_config_read(&cfg, 1, 1), 0x1a);
}
END_TEST

START_TEST(test_command_mask)
{
    pci_config_write(&cfg, PCI_COMMAND, 0xffff, 2);
    ck_assert_uint_eq(pci_config_get16(&cfg, PCI_COMMAND),
                      PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                          PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    pci_config_write(&cfg, PCI_COMMAND, 0, 2);
    ck_assert_uint_eq(pci_config_get16(&cfg, PCI_COMMAND), 0);
}
END_TEST

START_TEST(test_status_w1c)
{
    const uint16_t start =
        PCI_STATUS_CAP_LIST | PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY;
    pci_config_set16(&cfg, PCI_STATUS, start);
    /* Writing 0 changes nothing; writing 1 clears only that error bit; the
     * read-only CAP_LIST bit survives everything. */
    pci_config_write(&cfg, PCI_STATUS, 0, 2);
    ck_assert_uint_eq(pci_config_get16(&cfg, PCI_STATUS), start);
    pci_config_write(&cfg, PCI_STATUS, PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_CAP_LIST, 2);
    ck_assert_uint_eq(pci_config_get16(&cfg, PCI_STATUS),
                      PCI_STATUS_CAP_LIST | PCI_STATUS_DETECTED_PARITY);
    /* A dword write at COMMAND: command bits set, status error bit cleared. */
    pci_config_write(&cfg, PCI_COMMAND,
                     (uint32_t)PCI_STATUS_DETECTED_PARITY << 16 | PCI_COMMAND_MEMORY, 4);
    ck_assert_uint_eq(pci_config_get16(&cfg, PCI_STATUS), PCI_STATUS_CAP_LIST);
    ck_assert_uint_eq(pci_config_get16(&cfg, PCI_COMMAND), PCI_COMMAND_MEMORY);
}
END_TEST

START_TEST(test_odd_offsets)
{
    /* 2 bytes at 0x03: device id high byte (RO) and COMMAND low (RW). */
    pci_config_write(&cfg, 0x03, 0x0722, 2);
    ck_assert_uint_eq(pci_config_get8(&cfg, 0x03), 0x10);
    ck_assert_uint_eq(pci_config_get8(&cfg, PCI_COMMAND), 0x07);
    ck_assert_uint_eq(pci_config_read(&cfg, 0x03, 2), 0x0710);
    /* 4 bytes at 0x3b: max_lat of nothing, line (RW), pin (RO)... */
    pci_config_set8(&cfg, PCI_INTERRUPT_PIN, 1);
    pci_config_write(&cfg, 0x3b, 0xaabbccdd, 4);
    ck_assert_uint_eq(pci_config_get8(&cfg, 0x3b), 0);
    ck_assert_uint_eq(pci_config_get8(&cfg, PCI_INTERRUPT_LINE), 0xcc);
    ck_assert_uint_eq(pci_config_get8(&cfg, PCI_INTERRUPT_PIN), 1);
    ck_assert_uint_eq(pci_config_read(&cfg, 0x3b, 4), 0x0001cc00);
    /* A device-defined mask on odd bits at an odd offset. */
    pci_config_set_wmask(&cfg, 0x51, 0x0f0f, 2);
    pci_config_write(&cfg, 0x50, 0xffffffff, 4);
    ck_assert_uint_eq(pci_config_read(&cfg, 0x50, 4), 0x000f0f00);
    pci_config_write(&cfg, 0x52, 0x00, 1);
    ck_assert_uint_eq(pci_config_read(&cfg, 0x51, 2), 0x000f);
}
END_TEST

START_TEST(test_out_of_range)
{
    /* The last dword: only in-range bytes are touched; beyond reads 0xff. */
    pci_config_set_wmask(&cfg, PCI_CONFIG_SIZE - 2, 0xffff, 2);
    pci_config_write(&cfg, PCI_CONFIG_SIZE - 2, 0x12345678, 4);
    ck_assert_uint_eq(pci_config_read(&cfg, PCI_CONFIG_SIZE - 2, 4), 0xffff5678);
    ck_assert_uint_eq(pci_config_read(&cfg, PCI_CONFIG_SIZE, 4), 0xffffffff);
    ck_assert_uint_eq(pci_config_read(&cfg, UINT32_MAX, 2), 0xffff);
    pci_config_write(&cfg, UINT32_MAX - 1, 0, 4); /* no crash, nothing written */
}
END_TEST

START_TEST(test_capability_list)
{
    ck_assert_uint_eq(pci_config_get16(&cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST, 0);
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_MSIX, 0), 0);
    uint8_t a = pci_config_add_capability(&cfg, PCI_CAP_ID_VENDOR, 5, NULL);
    uint8_t b = pci_config_add_capability(&cfg, PCI_CAP_ID_MSIX, 12, NULL);
    uint8_t c = pci_config_add_capability(&cfg, PCI_CAP_ID_VENDOR, 16, NULL);
    ck_assert_uint_eq(a, PCI_CAP_START);
    ck_assert_uint_eq(b, 0x48); /* 0x40 + 5, dword aligned */
    ck_assert_uint_eq(c, 0x54);
    ck_assert(pci_config_get16(&cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST);
    /* Walk it the way a guest does. */
    uint8_t expect[] = { a, b, c };
    uint8_t ids[] = { PCI_CAP_ID_VENDOR, PCI_CAP_ID_MSIX, PCI_CAP_ID_VENDOR };
    uint8_t at = (uint8_t)pci_config_read(&cfg, PCI_CAPABILITY_LIST, 1);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_uint_eq(at, expect[i]);
        ck_assert_uint_eq(pci_config_read(&cfg, at, 1), ids[i]);
        at = (uint8_t)pci_config_read(&cfg, at + 1, 1);
    }
    ck_assert_uint_eq(at, 0);
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_MSIX, 0), b);
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_VENDOR, 0), a);
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_VENDOR, a), c);
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_MSI, 0), 0);
    /* The list is read-only to the guest. */
    pci_config_write(&cfg, PCI_CAPABILITY_LIST, 0, 1);
    pci_config_write(&cfg, a, 0, 4);
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_MSIX, 0), b);
}
END_TEST

START_TEST(test_capability_full)
{
    g_autoptr(GError) err = NULL;
    ck_assert_uint_eq(pci_config_add_capability(&cfg, PCI_CAP_ID_VENDOR, 0xb0, NULL), 0x40);
    ck_assert_uint_eq(pci_config_add_capability(&cfg, PCI_CAP_ID_VENDOR, 0x10, NULL), 0xf0);
    ck_assert_uint_eq(pci_config_add_capability(&cfg, PCI_CAP_ID_VENDOR, 4, &err), 0);
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_capability_loop)
{
    /* A corrupted (looping) list terminates the walk. */
    uint8_t a = pci_config_add_capability(&cfg, PCI_CAP_ID_VENDOR, 4, NULL);
    uint8_t b = pci_config_add_capability(&cfg, PCI_CAP_ID_VENDOR, 4, NULL);
    pci_config_set8(&cfg, b + 1, a);
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_MSIX, 0), 0);
    pci_config_set8(&cfg, b + 1, 0x13); /* below 0x40: end */
    ck_assert_uint_eq(pci_config_find_capability(&cfg, PCI_CAP_ID_MSIX, 0), 0);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("pci_config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_readonly_ids);
    tcase_add_test(tc, test_command_mask);
    tcase_add_test(tc, test_status_w1c);
    tcase_add_test(tc, test_odd_offsets);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_capability_list);
    tcase_add_test(tc, test_capability_full);
    tcase_add_test(tc, test_capability_loop);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(config_suite)
