/* A machine for the PCI unit tests: a Vm on the fake accelerator whose IRQ
 * router records the GSI routing table it is given, a host bridge "pci0",
 * helpers that play the guest (ECAM, CF8/CFC, MMIO and port accesses), and
 * a configurable PCI test device. */
#pragma once
#include "hypervisor/vm.h"
#include "pci/bus.h"
#include "pci/device.h"
#include "pci/host.h"
#include "pci/msix.h"

#include <stdbool.h>
#include <stdint.h>

/* The layout the tests use. */
#define T_ECAM_BASE 0xb0000000ull
#define T_ECAM_SIZE (16ull << 20)
#define T_MMIO32_BASE 0xc0000000ull
#define T_MMIO32_SIZE 0x20000000ull
#define T_MMIO64_BASE 0x10000000000ull
#define T_MMIO64_SIZE 0x1000000000ull
#define T_IO_BASE 0xc000ull
#define T_IO_SIZE 0x4000ull
#define T_INTX_GSI 16u

typedef struct PciTest {
    Accel *accel;
    EventLoop *loop;
    Vm *vm;
    PciHost *host;
    PciBus *bus;
} PciTest;

PciTest *pcitest_new(void);
void pcitest_free(PciTest *t);

/* Guest accesses through the real dispatchers. */
uint64_t pcitest_mmio_read(PciTest *t, uint64_t addr, unsigned size);
void pcitest_mmio_write(PciTest *t, uint64_t addr, uint64_t value, unsigned size);
uint32_t pcitest_in(PciTest *t, uint16_t port, unsigned size);
void pcitest_out(PciTest *t, uint16_t port, uint32_t value, unsigned size);
uint32_t pcitest_cfg_read(PciTest *t, uint8_t devfn, uint32_t reg, unsigned size);   /* ECAM */
void pcitest_cfg_write(PciTest *t, uint8_t devfn, uint32_t reg, uint32_t value, unsigned size);

/* Whether addr lies in a mapped region of as. */
bool pcitest_mapped(AddrSpace *as, uint64_t addr);

/* What the router last pushed to the accelerator for gsi (false: no route). */
bool pcitest_route(PciTest *t, uint32_t gsi, uint64_t *addr, uint32_t *data);
unsigned pcitest_msi_count(PciTest *t);
bool pcitest_irq_level(PciTest *t, uint32_t gsi);

/* ---- the test device ---- */
typedef struct TestBar {
    uint64_t size;
    unsigned type; /* 0: none */
} TestBar;

typedef struct TestDevConfig {
    PciBus *bus;
    int devfn; /* -1: any */
    uint8_t intx_pin;
    TestBar bars[PCI_NUM_BARS];
    unsigned msix_vectors; /* 0: no MSI-X */
    unsigned msix_bar;
    uint32_t msix_table, msix_pba;
    bool msi;  /* add an MSI capability */
    bool pcie; /* add the PCI Express capability */
} TestDevConfig;

typedef struct TestDev {
    PciDevice pci;
    /* what the BAR handlers and the config hook saw */
    unsigned bar_writes;
    unsigned last_bar;
    uint64_t last_offset, last_value;
    unsigned hook_writes;
    uint32_t hook_offset, hook_value;
} TestDev;

extern const DeviceOps testdev_ops;
/* A BAR read of the test device returns this for (bar, offset). */
#define TESTDEV_READ(bar, off) (0xa0000000u | (unsigned)(bar) << 24 | (uint32_t)(off))

/* Create a test device (id "dev<n>"); NULL with *errp on failure. */
TestDev *pcitest_add(PciTest *t, const char *id, const TestDevConfig *cfg, GError **errp);
/* A config with one 4 KiB MEM32 BAR 0, INTA, any slot. */
TestDevConfig pcitest_simple(PciTest *t);
