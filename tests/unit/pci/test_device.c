/* PciDevice: BAR sizing, decode enable/disable/reprogramming against the
 * address spaces, INTx (swizzle, INTX_DISABLE, STATUS.INTERRUPT), the
 * config-write hook, reset, and invalid accesses. */
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

static TestDev *add(const TestDevConfig *cfg)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *id = vm_device_id_new(t->vm, "dev");
    TestDev *d = pcitest_add(t, id, cfg, &err);
    ck_assert_msg(d, "%s", err ? err->message : "?");
    return d;
}

static uint32_t size_bar(uint8_t devfn, unsigned i)
{
    uint32_t reg = PCI_BAR0 + 4 * i;
    uint32_t old = pcitest_cfg_read(t, devfn, reg, 4);
    pcitest_cfg_write(t, devfn, reg, 0xffffffff, 4);
    uint32_t v = pcitest_cfg_read(t, devfn, reg, 4);
    pcitest_cfg_write(t, devfn, reg, old, 4);
    return v;
}

static bool mapped_at(AddrSpace *as, uint64_t addr, uint64_t size)
{
    uint64_t base, sz;
    return addrspace_lookup(as, addr, &base, &sz) && base == addr && sz == size;
}

START_TEST(test_bar_sizing)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 32, PCI_BAR_IO };
    cfg.bars[1] = (TestBar){ 0x10000, PCI_BAR_MEM32 | PCI_BAR_PREFETCH };
    cfg.bars[2] = (TestBar){ 0x100000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH };
    cfg.bars[4] = (TestBar){ 8ull << 30, PCI_BAR_MEM64 };
    TestDev *d = add(&cfg);
    uint8_t fn = d->pci.devfn;
    ck_assert_uint_eq(size_bar(fn, 0), 0xffffffe1);
    ck_assert_uint_eq(size_bar(fn, 1), 0xffff0008);
    ck_assert_uint_eq(size_bar(fn, 2), 0xfff0000c);
    ck_assert_uint_eq(size_bar(fn, 3), 0xffffffff);
    ck_assert_uint_eq(size_bar(fn, 4), 0x00000004); /* 8 GiB: no writable low address bits */
    ck_assert_uint_eq(size_bar(fn, 5), 0xfffffffe);
    /* Type bits survive any write; unused BARs and the ROM read 0. */
    pcitest_cfg_write(t, fn, PCI_BAR0 + 4, 0, 4);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_BAR0 + 4, 4), 0x8);
    pcitest_cfg_write(t, fn, PCI_ROM_ADDRESS, 0xffffffff, 4);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_ROM_ADDRESS, 4), 0);
}
END_TEST

START_TEST(test_bar_mem32_only_size)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 0x1000, PCI_BAR_MEM32 };
    TestDev *d = add(&cfg);
    ck_assert_uint_eq(size_bar(d->pci.devfn, 0), 0xfffff000);
}
END_TEST

START_TEST(test_bar_enable_move_disable)
{
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *d = add(&cfg);
    uint8_t fn = d->pci.devfn;
    AddrSpace *mmio = vm_mmio(t->vm);
    uint64_t a = pci_device_bar_address(&d->pci, 0);
    ck_assert_uint_eq(a, T_MMIO32_BASE);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_BAR0, 4), T_MMIO32_BASE);
    /* Assigned but not decoded until the guest enables memory space. */
    ck_assert(!mapped_at(mmio, a, 0x1000));
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert(mapped_at(mmio, a, 0x1000));
    ck_assert_uint_eq(pcitest_mmio_read(t, a + 0x10, 4), TESTDEV_READ(0, 0x10));
    pcitest_mmio_write(t, a + 0x24, 0x55, 1);
    ck_assert_uint_eq(d->bar_writes, 1);
    ck_assert_uint_eq(d->last_offset, 0x24);
    ck_assert_uint_eq(d->last_value, 0x55);

    /* Reprogramming an enabled BAR moves the region. */
    pcitest_cfg_write(t, fn, PCI_BAR0, 0xc8000000, 4);
    ck_assert(!pcitest_mapped(mmio, a));
    ck_assert(mapped_at(mmio, 0xc8000000, 0x1000));
    ck_assert_uint_eq(pcitest_mmio_read(t, 0xc8000000 + 0x8, 4), TESTDEV_READ(0, 0x8));
    uint64_t where = 0;
    ck_assert(pci_device_bar_mapped(&d->pci, 0, &where));
    ck_assert_uint_eq(where, 0xc8000000);

    /* Sizing with decode on does not place the BAR at the top of memory. */
    pcitest_cfg_write(t, fn, PCI_BAR0, 0xffffffff, 4);
    ck_assert(!pcitest_mapped(mmio, 0xfffff000));
    ck_assert(!pci_device_bar_mapped(&d->pci, 0, NULL));
    pcitest_cfg_write(t, fn, PCI_BAR0, 0xc8000000, 4);
    ck_assert(mapped_at(mmio, 0xc8000000, 0x1000));

    /* Decode off unmaps; on again maps where the BAR points. */
    pcitest_cfg_write(t, fn, PCI_COMMAND, 0, 2);
    ck_assert(!pcitest_mapped(mmio, 0xc8000000));
    pcitest_cfg_write(t, fn, PCI_BAR0, 0xc9000000, 4);
    ck_assert(!pcitest_mapped(mmio, 0xc9000000));
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert(mapped_at(mmio, 0xc9000000, 0x1000));
    /* Address 0 is "unassigned": not decoded. */
    pcitest_cfg_write(t, fn, PCI_BAR0, 0, 4);
    ck_assert(!pci_device_bar_mapped(&d->pci, 0, NULL));
}
END_TEST

START_TEST(test_bar_mem64_move)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 0x4000, PCI_BAR_MEM64 };
    TestDev *d = add(&cfg);
    uint8_t fn = d->pci.devfn;
    AddrSpace *mmio = vm_mmio(t->vm);
    ck_assert_uint_eq(pci_device_bar_address(&d->pci, 0), T_MMIO64_BASE);
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert(mapped_at(mmio, T_MMIO64_BASE, 0x4000));
    /* Low dword, then high dword, as a guest does it. */
    pcitest_cfg_write(t, fn, PCI_BAR0, 0x00008004, 4);
    pcitest_cfg_write(t, fn, PCI_BAR0 + 4, 0x20, 4);
    ck_assert(mapped_at(mmio, 0x2000008000ull, 0x4000));
    ck_assert(!pcitest_mapped(mmio, T_MMIO64_BASE));
    ck_assert_uint_eq(pcitest_mmio_read(t, 0x2000008000ull + 0x100, 8), TESTDEV_READ(0, 0x100));
    ck_assert_uint_eq(addrspace_count(mmio), 2); /* ECAM + this BAR */
}
END_TEST

START_TEST(test_bar_io)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 64, PCI_BAR_IO };
    TestDev *d = add(&cfg);
    uint8_t fn = d->pci.devfn;
    AddrSpace *pio = vm_pio(t->vm);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_BAR0, 4), T_IO_BASE | 1);
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert(!pcitest_mapped(pio, T_IO_BASE)); /* IO decode is a separate bit */
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_IO, 2);
    ck_assert(mapped_at(pio, T_IO_BASE, 64));
    ck_assert_uint_eq(pcitest_in(t, T_IO_BASE + 4, 2), TESTDEV_READ(0, 4) & 0xffff);
    pcitest_cfg_write(t, fn, PCI_BAR0, 0xd000, 4);
    ck_assert(mapped_at(pio, 0xd000, 64));
    ck_assert(!pcitest_mapped(pio, T_IO_BASE));
    /* Beyond the 64 KiB port space: not decoded, no crash. */
    pcitest_cfg_write(t, fn, PCI_BAR0, 0x12340000, 4);
    ck_assert(!pci_device_bar_mapped(&d->pci, 0, NULL));
}
END_TEST

START_TEST(test_bar_overlap)
{
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *a = add(&cfg), *b = add(&cfg);
    uint64_t aa = pci_device_bar_address(&a->pci, 0), ba = pci_device_bar_address(&b->pci, 0);
    ck_assert_uint_ne(aa, ba);
    pcitest_cfg_write(t, a->pci.devfn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    pcitest_cfg_write(t, b->pci.devfn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    /* The guest puts b on top of a: b stays undecoded, a keeps working. */
    pcitest_cfg_write(t, b->pci.devfn, PCI_BAR0, (uint32_t)aa, 4);
    ck_assert(!pci_device_bar_mapped(&b->pci, 0, NULL));
    ck_assert(pci_device_bar_mapped(&a->pci, 0, NULL));
    ck_assert_uint_eq(pcitest_mmio_read(t, aa, 4), TESTDEV_READ(0, 0));
    pcitest_cfg_write(t, b->pci.devfn, PCI_BAR0, 0xd0000000, 4);
    ck_assert(mapped_at(vm_mmio(t->vm), 0xd0000000, 0x1000));
}
END_TEST

START_TEST(test_bad_bar_registration)
{
    g_autoptr(GError) err = NULL;
    TestDevConfig cfg = pcitest_simple(t);
    cfg.bars[0] = (TestBar){ 0x1800, PCI_BAR_MEM32 };
    ck_assert_ptr_null(pcitest_add(t, "bad1", &cfg, &err));
    g_clear_error(&err);
    cfg.bars[0] = (TestBar){ 8, PCI_BAR_MEM32 };
    ck_assert_ptr_null(pcitest_add(t, "bad2", &cfg, &err));
    g_clear_error(&err);
    cfg.bars[0] = (TestBar){ 512, PCI_BAR_IO };
    ck_assert_ptr_null(pcitest_add(t, "bad3", &cfg, &err));
    g_clear_error(&err);
    cfg.bars[0] = (TestBar){ 0 };
    cfg.bars[5] = (TestBar){ 0x1000, PCI_BAR_MEM64 };
    ck_assert_ptr_null(pcitest_add(t, "bad4", &cfg, &err));
    g_clear_error(&err);
    cfg.bars[5] = (TestBar){ 0 };
    cfg.bars[0] = (TestBar){ 0x1000, PCI_BAR_MEM64 };
    cfg.bars[1] = (TestBar){ 0x1000, PCI_BAR_MEM32 };
    ck_assert_ptr_null(pcitest_add(t, "bad5", &cfg, &err));
    ck_assert_ptr_null(vm_find_device(t->vm, "bad5"));
}
END_TEST

START_TEST(test_intx)
{
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *d = add(&cfg); /* slot 1, INTA */
    uint8_t fn = d->pci.devfn;
    uint32_t gsi = T_INTX_GSI + 1;
    ck_assert_uint_eq(PCI_SLOT(fn), 1);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_INTERRUPT_PIN, 1), 1);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_INTERRUPT_LINE, 1), gsi);
    pci_device_set_intx(&d->pci, true);
    ck_assert(pcitest_irq_level(t, gsi));
    ck_assert(pcitest_cfg_read(t, fn, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* INTX_DISABLE gates the line but not the status bit. */
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
    ck_assert(!pcitest_irq_level(t, gsi));
    ck_assert(pcitest_cfg_read(t, fn, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    ck_assert(pcitest_cfg_read(t, fn, PCI_COMMAND, 4) & (PCI_STATUS_INTERRUPT << 16));
    pcitest_cfg_write(t, fn, PCI_COMMAND, 0, 2);
    ck_assert(pcitest_irq_level(t, gsi));
    pci_device_set_intx(&d->pci, false);
    ck_assert(!pcitest_irq_level(t, gsi));
    ck_assert(!(pcitest_cfg_read(t, fn, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
    /* The status bit is not writable. */
    pcitest_cfg_write(t, fn, PCI_STATUS, PCI_STATUS_INTERRUPT, 2);
    ck_assert(!(pcitest_cfg_read(t, fn, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
}
END_TEST

START_TEST(test_intx_swizzle_shared)
{
    ck_assert_uint_eq(pci_bus_intx_gsi(t->bus, 0, 1), T_INTX_GSI);
    ck_assert_uint_eq(pci_bus_intx_gsi(t->bus, 2, 2), T_INTX_GSI + 3);
    ck_assert_uint_eq(pci_bus_intx_gsi(t->bus, 3, 2), T_INTX_GSI);
    ck_assert_uint_eq(pci_bus_intx_gsi(t->bus, 31, 4), T_INTX_GSI + 2);
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *a = add(&cfg); /* slot 1 INTA -> +1 */
    cfg.devfn = PCI_DEVFN(4, 0);
    cfg.intx_pin = 2; /* slot 4 INTB -> +1 */
    TestDev *b = add(&cfg);
    ck_assert_uint_eq(pcitest_cfg_read(t, b->pci.devfn, PCI_INTERRUPT_LINE, 1), T_INTX_GSI + 1);
    /* A shared level line stays up while any device asserts it. */
    pci_device_set_intx(&a->pci, true);
    pci_device_set_intx(&b->pci, true);
    pci_device_set_intx(&a->pci, false);
    ck_assert(pcitest_irq_level(t, T_INTX_GSI + 1));
    pci_device_set_intx(&b->pci, false);
    ck_assert(!pcitest_irq_level(t, T_INTX_GSI + 1));
}
END_TEST

START_TEST(test_no_intx_pin)
{
    TestDevConfig cfg = pcitest_simple(t);
    cfg.intx_pin = 0;
    TestDev *d = add(&cfg);
    pci_device_set_intx(&d->pci, true);
    for (uint32_t g = T_INTX_GSI; g < T_INTX_GSI + 4; g++)
        ck_assert(!pcitest_irq_level(t, g));
    ck_assert_uint_eq(pcitest_cfg_read(t, d->pci.devfn, PCI_INTERRUPT_LINE, 1), 0xff);
}
END_TEST

START_TEST(test_config_hook)
{
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *d = add(&cfg);
    pcitest_cfg_write(t, d->pci.devfn, 0x80, 0x1234, 2);
    ck_assert_uint_eq(d->hook_writes, 1);
    ck_assert_uint_eq(d->hook_offset, 0x80);
    ck_assert_uint_eq(d->hook_value, 0x1234);
    /* The hook runs after the core: decode is already on. */
    pcitest_cfg_write(t, d->pci.devfn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert_uint_eq(d->hook_writes, 2);
    ck_assert(pci_device_bar_mapped(&d->pci, 0, NULL));
}
END_TEST

START_TEST(test_reset)
{
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *d = add(&cfg);
    uint8_t fn = d->pci.devfn;
    pcitest_cfg_write(t, fn, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    pcitest_cfg_write(t, fn, PCI_BAR0, 0xd0000000, 4);
    pcitest_cfg_write(t, fn, PCI_INTERRUPT_LINE, 5, 1);
    pci_device_set_intx(&d->pci, true);
    d->pci.dev.ops->reset(&d->pci.dev);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_COMMAND, 2), 0);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_BAR0, 4), T_MMIO32_BASE);
    ck_assert_uint_eq(pcitest_cfg_read(t, fn, PCI_INTERRUPT_LINE, 1), T_INTX_GSI + 1);
    ck_assert(!pci_device_bar_mapped(&d->pci, 0, NULL));
    ck_assert(!pcitest_irq_level(t, T_INTX_GSI + 1));
}
END_TEST

START_TEST(test_invalid_access)
{
    TestDevConfig cfg = pcitest_simple(t);
    TestDev *d = add(&cfg);
    ck_assert_uint_eq(pci_device_config_read(&d->pci, PCI_CONFIG_SIZE - 2, 4), 0xffffffff);
    ck_assert_uint_eq(pci_device_config_read(&d->pci, 0, 3), 0xffffffff);
    ck_assert_uint_eq(pci_device_config_read(&d->pci, 0x10000, 1), 0xff);
    pci_device_config_write(&d->pci, PCI_CONFIG_SIZE - 1, 0xffffffff, 4);
    pci_device_config_write(&d->pci, PCI_COMMAND, 0xffffffff, 8);
    ck_assert_uint_eq(pci_device_config_read(&d->pci, PCI_COMMAND, 2), 0);
    /* Unaligned config accesses at any offset go through the masks. */
    pci_device_config_write(&d->pci, 0x03, 0x0200, 2);
    ck_assert_uint_eq(pci_device_config_read(&d->pci, PCI_COMMAND, 2), PCI_COMMAND_MEMORY);
}
END_TEST

static Suite *device_suite(void)
{
    Suite *s = suite_create("pci_device");
    TCase *tc = tcase_create("device");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_bar_sizing);
    tcase_add_test(tc, test_bar_mem32_only_size);
    tcase_add_test(tc, test_bar_enable_move_disable);
    tcase_add_test(tc, test_bar_mem64_move);
    tcase_add_test(tc, test_bar_io);
    tcase_add_test(tc, test_bar_overlap);
    tcase_add_test(tc, test_bad_bar_registration);
    tcase_add_test(tc, test_intx);
    tcase_add_test(tc, test_intx_swizzle_shared);
    tcase_add_test(tc, test_no_intx_pin);
    tcase_add_test(tc, test_config_hook);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_invalid_access);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(device_suite)
