/* MSI-X: capability layout, table and PBA accesses through a BAR shared
 * with device registers, function and vector masking with pending bits,
 * irqfd-bound vectors and their KVM routes. */
#include "pcitest.h"

#include "support/check_main.h"

#include <check.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#define TABLE 0x2000u
#define PBA 0x3000u
#define NVEC 4u

static PciTest *t;
static TestDev *d;
static uint8_t fn, cap;
static uint64_t bar;

static void setup(void)
{
    t = pcitest_new();
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 0x4000, PCI_BAR_MEM32 };
    cfg.msix_vectors = NVEC;
    cfg.msix_bar = 0;
    cfg.msix_table = TABLE;
    cfg.msix_pba = PBA;
    g_autoptr(GError) err = NULL;
    d = pcitest_add(t, "dev0", &cfg, &err);
    ck_assert_msg(d, "%s", err ? err->message : "?");
    fn = d->pci.devfn;
    cap = pci_config_find_capability(&d->pci.config, PCI_CAP_ID_MSIX, 0);
    ck_assert_uint_ne(cap, 0);
    bar = pci_device_bar_address(&d->pci, 0);
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
}

static void teardown(void)
{
    pcitest_free(t);
}

static void msix_control(uint16_t v)
{
    pcitest_cfg_write(t, fn, cap + PCI_MSIX_FLAGS, v, 2);
}

static uint64_t entry(unsigned v, unsigned word)
{
    return bar + TABLE + v * PCI_MSIX_ENTRY_SIZE + word;
}

static void program(unsigned v, uint64_t addr, uint32_t data)
{
    pcitest_mmio_write(t, entry(v, PCI_MSIX_ENTRY_ADDR_LO), (uint32_t)addr, 4);
    pcitest_mmio_write(t, entry(v, PCI_MSIX_ENTRY_ADDR_HI), (uint32_t)(addr >> 32), 4);
    pcitest_mmio_write(t, entry(v, PCI_MSIX_ENTRY_DATA), data, 4);
}

static void vector_mask(unsigned v, bool masked)
{
    pcitest_mmio_write(t, entry(v, PCI_MSIX_ENTRY_CTRL), masked, 4);
}

static uint64_t pba(void)
{
    return pcitest_mmio_read(t, bar + PBA, 8);
}

START_TEST(test_capability)
{
    /* Found by walking the list from 0x34, as a guest would. */
    uint8_t at = (uint8_t)pcitest_cfg_read(t, fn, PCI_CAPABILITY_LIST, 1);
    ck_assert_uint_eq(at, cap);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap, 1), PCI_CAP_ID_MSIX);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSIX_TABLE, 4), TABLE | 0);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSIX_PBA, 4), PBA | 0);
    /* Only enable and function mask are writable. */
    msix_control(0xffff);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSIX_FLAGS, 2),
                      PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NVEC - 1));
    pcitest_cfg_write(t, fn, cap + PCI_MSIX_TABLE, 0x5555, 4);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSIX_TABLE, 4), TABLE);
    ck_assert(pci_msix_enabled(&d->pci));
    ck_assert_uint_eq(pci_msix_vector_count(&d->pci), NVEC);
}
END_TEST

START_TEST(test_table_access)
{
    /* Vectors start masked with a zero message. */
    for (unsigned v = 0; v < NVEC; v++) {
        ck_assert_uint_eq(pcitest_mmio_read(t, entry(v, PCI_MSIX_ENTRY_CTRL), 4), 1);
        ck_assert_uint_eq(pcitest_mmio_read(t, entry(v, PCI_MSIX_ENTRY_DATA), 4), 0);
    }
    program(2, 0xfee01000, 0x4041);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(2, 0), 8), 0xfee01000);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(2, PCI_MSIX_ENTRY_DATA), 4), 0x4041);
    /* A qword write of data + control. */
    pcitest_mmio_write(t, entry(2, PCI_MSIX_ENTRY_DATA), 0x00000000000000abull | 1ull << 32, 8);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(2, PCI_MSIX_ENTRY_DATA), 8), 0x1000000abull);
    /* Reserved control bits and address bits 1:0 read as zero. */
    pcitest_mmio_write(t, entry(1, PCI_MSIX_ENTRY_CTRL), 0xfffffffe, 4);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(1, PCI_MSIX_ENTRY_CTRL), 4), 0);
    pcitest_mmio_write(t, entry(1, 0), 0xfee00003, 4);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(1, 0), 4), 0xfee00000);
    /* Byte and unaligned accesses are not allowed: all-ones, dropped. */
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(2, PCI_MSIX_ENTRY_DATA), 1), 0xff);
    pcitest_mmio_write(t, entry(2, PCI_MSIX_ENTRY_DATA), 0x11, 1);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(2, PCI_MSIX_ENTRY_DATA), 4), 0xab);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(2, PCI_MSIX_ENTRY_ADDR_HI), 8), UINT64_MAX);
    /* The rest of the BAR is still the device's. */
    ck_assert_uint_eq(pcitest_mmio_read(t, bar + 0x10, 4), TESTDEV_READ(0, 0x10));
    ck_assert_uint_eq(pcitest_mmio_read(t, bar + TABLE + NVEC * 16, 4),
                      TESTDEV_READ(0, TABLE + NVEC * 16));
    /* The PBA ignores writes. */
    pcitest_mmio_write(t, bar + PBA, UINT64_MAX, 8);
    ck_assert_uint_eq(pba(), 0);
    ck_assert_uint_eq(d->bar_writes, 0);
}
END_TEST

START_TEST(test_disabled)
{
    program(0, 0xfee00000, 0x30);
    vector_mask(0, false);
    unsigned before = pcitest_msi_count(t);
    ck_assert(!pci_msix_notify(&d->pci, 0)); /* caller falls back to INTx */
    ck_assert_uint_eq(pcitest_msi_count(t), before);
    ck_assert_uint_eq(pba(), 0);
    ck_assert(!pci_msix_notify(&d->pci, NVEC)); /* no such vector */
}
END_TEST

START_TEST(test_vector_mask_pending)
{
    msix_control(PCI_MSIX_FLAGS_ENABLE);
    program(1, 0xfee00000, 0x31);
    unsigned before = pcitest_msi_count(t);
    ck_assert(pci_msix_notify(&d->pci, 1)); /* masked: pending */
    ck_assert_uint_eq(pcitest_msi_count(t), before);
    ck_assert_uint_eq(pba(), 1u << 1);
    ck_assert(pci_msix_vector_pending(&d->pci, 1));
    ck_assert_uint_eq(pcitest_mmio_read(t, bar + PBA + 4, 4), 0);
    vector_mask(1, false); /* unmask delivers and clears */
    ck_assert_uint_eq(pcitest_msi_count(t), before + 1);
    ck_assert_uint_eq(pba(), 0);
    ck_assert(pci_msix_notify(&d->pci, 1)); /* unmasked: at once */
    ck_assert_uint_eq(pcitest_msi_count(t), before + 2);
    /* Unmasking without anything pending delivers nothing. */
    vector_mask(1, true);
    vector_mask(1, false);
    ck_assert_uint_eq(pcitest_msi_count(t), before + 2);
}
END_TEST

START_TEST(test_function_mask)
{
    msix_control(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    program(0, 0xfee00000, 0x30);
    program(3, 0xfee00000, 0x33);
    vector_mask(0, false);
    vector_mask(3, false);
    unsigned before = pcitest_msi_count(t);
    ck_assert(pci_msix_vector_masked(&d->pci, 0));
    pci_msix_notify(&d->pci, 0);
    pci_msix_notify(&d->pci, 3);
    pci_msix_notify(&d->pci, 3); /* still one pending event */
    ck_assert_uint_eq(pcitest_msi_count(t), before);
    ck_assert_uint_eq(pba(), 0x9);
    /* The vector mask bits were not touched by the function mask. */
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(0, PCI_MSIX_ENTRY_CTRL), 4), 0);
    msix_control(PCI_MSIX_FLAGS_ENABLE);
    ck_assert_uint_eq(pcitest_msi_count(t), before + 2);
    ck_assert_uint_eq(pba(), 0);
}
END_TEST

START_TEST(test_pba_many_vectors)
{
    /* 70 vectors: the PBA spans two qwords. */
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 0x4000, PCI_BAR_MEM32 };
    cfg.msix_vectors = 70;
    cfg.msix_bar = 0;
    cfg.msix_table = 0;
    cfg.msix_pba = 0x800;
    g_autoptr(GError) err = NULL;
    TestDev *e = pcitest_add(t, "dev1", &cfg, &err);
    ck_assert_msg(e, "%s", err ? err->message : "?");
    uint8_t c = pci_config_find_capability(&e->pci.config, PCI_CAP_ID_MSIX, 0);
    pcitest_cfg_write(t, e->pci.devfn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    pcitest_cfg_write(t, e->pci.devfn, c + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
    uint64_t b = pci_device_bar_address(&e->pci, 0);
    pci_msix_notify(&e->pci, 69);
    pci_msix_notify(&e->pci, 0);
    ck_assert_uint_eq(pcitest_mmio_read(t, b + 0x800, 8), 1);
    ck_assert_uint_eq(pcitest_mmio_read(t, b + 0x808, 4), 1u << 5);
}
END_TEST

static uint64_t drain(int fd)
{
    uint64_t n = 0;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 0) == 1)
        ck_assert_int_eq(read(fd, &n, sizeof(n)), sizeof(n));
    return n;
}

START_TEST(test_irqfd_routes)
{
    g_autoptr(GError) err = NULL;
    program(2, 0xfee00000, 0x40);
    int fd = pci_msix_vector_irqfd(&d->pci, 2, &err);
    ck_assert_msg(fd >= 0, "%s", err ? err->message : "?");
    ck_assert_int_eq(pci_msix_vector_irqfd(&d->pci, 2, NULL), fd); /* one per vector */
    uint32_t gsi;
    ck_assert(pci_msix_vector_gsi(&d->pci, 2, &gsi));
    uint64_t addr;
    uint32_t data;
    ck_assert(pcitest_route(t, gsi, &addr, &data));
    ck_assert_uint_eq(addr, 0xfee00000);
    ck_assert_uint_eq(data, 0x40);

    /* Rewritten while masked: the route follows at unmask. */
    program(2, 0x1fee01000ull, 0x41);
    ck_assert(pcitest_route(t, gsi, &addr, &data));
    ck_assert_uint_eq(data, 0x40);
    msix_control(PCI_MSIX_FLAGS_ENABLE);
    vector_mask(2, false);
    ck_assert(pcitest_route(t, gsi, &addr, &data));
    ck_assert_uint_eq(addr, 0x1fee01000ull);
    ck_assert_uint_eq(data, 0x41);
    /* Rewritten while unmasked: at once. */
    pcitest_mmio_write(t, entry(2, PCI_MSIX_ENTRY_DATA), 0x42, 4);
    ck_assert(pcitest_route(t, gsi, &addr, &data));
    ck_assert_uint_eq(data, 0x42);

    /* Notifications go through the eventfd (KVM injects through the route). */
    unsigned before = pcitest_msi_count(t);
    ck_assert(pci_msix_notify(&d->pci, 2));
    ck_assert_uint_eq(drain(fd), 1);
    ck_assert_uint_eq(pcitest_msi_count(t), before);

    /* A backend signalling while masked shows up in the PBA. */
    vector_mask(2, true);
    uint64_t one = 1;
    ck_assert_int_eq(write(fd, &one, sizeof(one)), sizeof(one));
    ck_assert_uint_eq(pba(), 1u << 2);
    ck_assert(pci_msix_notify(&d->pci, 2));
    vector_mask(2, false); /* rebound: KVM takes the count; ours is signalled too */
    ck_assert_uint_eq(drain(fd), 2);
    ck_assert_uint_eq(pba(), 0);

    pci_msix_vector_release(&d->pci, 2);
    ck_assert(!pci_msix_vector_gsi(&d->pci, 2, &gsi));
    ck_assert(!pcitest_route(t, gsi, &addr, &data));
    ck_assert_int_lt(pci_msix_vector_irqfd(&d->pci, NVEC, NULL), 0);
}
END_TEST

START_TEST(test_reset)
{
    msix_control(PCI_MSIX_FLAGS_ENABLE);
    program(0, 0xfee00000, 0x30);
    vector_mask(0, false);
    d->pci.dev.ops->reset(&d->pci.dev);
    ck_assert(!pci_msix_enabled(&d->pci));
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
    ck_assert(pci_msix_vector_masked(&d->pci, 0));
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(0, PCI_MSIX_ENTRY_CTRL), 4), 1);
    ck_assert_uint_eq(pcitest_mmio_read(t, entry(0, PCI_MSIX_ENTRY_DATA), 4), 0);
}
END_TEST

START_TEST(test_bad_layout)
{
    g_autoptr(GError) err = NULL;
    TestDevConfig cfg = pcitest_simple(t);
    cfg.msix_vectors = 4;
    cfg.msix_table = 0xff8; /* table runs past the 4 KiB BAR */
    cfg.msix_pba = 0;
    ck_assert_ptr_null(pcitest_add(t, "bad1", &cfg, &err));
    g_clear_error(&err);
    cfg.msix_table = 0;
    cfg.msix_pba = 0x20; /* overlaps the table */
    ck_assert_ptr_null(pcitest_add(t, "bad2", &cfg, &err));
    g_clear_error(&err);
    cfg.msix_pba = 0x44; /* misaligned */
    ck_assert_ptr_null(pcitest_add(t, "bad3", &cfg, &err));
    g_clear_error(&err);
    cfg.msix_bar = 3; /* no such BAR */
    cfg.msix_pba = 0x800;
    ck_assert_ptr_null(pcitest_add(t, "bad4", &cfg, &err));
}
END_TEST

static Suite *msix_suite(void)
{
    Suite *s = suite_create("pci_msix");
    TCase *tc = tcase_create("msix");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_capability);
    tcase_add_test(tc, test_table_access);
    tcase_add_test(tc, test_disabled);
    tcase_add_test(tc, test_vector_mask_pending);
    tcase_add_test(tc, test_function_mask);
    tcase_add_test(tc, test_pba_many_vectors);
    tcase_add_test(tc, test_irqfd_routes);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_bad_layout);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(msix_suite)
