/* PciBus: segment 0, bus 0. Holds the functions by devfn (slot 0 is the
 * host bridge's), hands out BAR addresses from the windows it was given
 * (as firmware would: devices start with addresses but decode off; the
 * guest may keep or move them), and routes INTx pins to GSIs.
 *
 * Devices are plugged and unplugged at runtime on the control thread;
 * config accesses (pci_bus_config_read/write) come from vCPU threads. */
#pragma once
#include "pci/device.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Vm Vm;

#define PCI_SLOTS 32
#define PCI_DEVFNS 256

typedef struct PciWindow {
    uint64_t base, size; /* size 0: no such window */
} PciWindow;

typedef struct PciBusConfig {
    PciWindow mmio32; /* 32-bit BARs (and 64-bit ones when mmio64 is absent) */
    PciWindow mmio64; /* 64-bit BARs */
    PciWindow io;     /* I/O BARs */
    uint32_t intx_gsi_base; /* INTA..INTD of slot 0 go to base+0..3, swizzled */
    bool msi_devid;         /* tag MSIs with the requester id (arm GICv3 ITS) */
} PciBusConfig;

PciBus *pci_bus_new(Vm *vm, const PciBusConfig *cfg);
/* Devices still plugged are unplugged first. */
void pci_bus_free(PciBus *bus);

/* Put pd at devfn (-1: function 0 of the first free slot from 1 up):
 * assigns its BAR addresses and its INTx line. The device must be set up
 * (BARs registered); it becomes visible to the guest on return. */
bool pci_bus_plug(PciBus *bus, PciDevice *pd, int devfn, GError **errp);
/* Remove pd: it is unreachable on return (in-flight config accesses are
 * done), its BARs are unmapped, its addresses and slot are free again. */
void pci_bus_unplug(PciBus *bus, PciDevice *pd);

/* The device at devfn, or NULL. Only for the control thread (the device
 * may be unplugged by it otherwise). */
PciDevice *pci_bus_find(PciBus *bus, uint8_t devfn);

/* Config accesses for the host bridge; an empty devfn reads all-ones. */
uint32_t pci_bus_config_read(PciBus *bus, uint8_t devfn, uint32_t offset, unsigned size);
void pci_bus_config_write(PciBus *bus, uint8_t devfn, uint32_t offset, uint32_t value,
                          unsigned size);

/* The GSI INTx pin `pin` (1 = INTA# .. 4 = INTD#) of `slot` is wired to:
 * intx_gsi_base + (slot + pin - 1) % 4 (the conventional swizzle, also
 * what the ACPI _PRT must say). */
uint32_t pci_bus_intx_gsi(PciBus *bus, unsigned slot, unsigned pin);
Vm *pci_bus_vm(PciBus *bus);
