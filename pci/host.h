/* The PCIe host bridge: a Device (stage PCI_HOST) that owns bus 0 and
 * gives the guest its configuration space through ECAM (the MMCONFIG
 * window: 1 MiB per bus, 4 KiB per function) and, on x86, configuration
 * mechanism #1 (the 0xCF8 address / 0xCFC data ports). It appears itself
 * as 00:00.0, a generic host bridge (Red Hat's 1b36:0008, class 0x060000).
 *
 * The machine creates it with device_create(vm, &pci_host_ops, "pci0", &cfg,
 * errp) and finds it again with pci_host_find(vm, "pci0"); device models
 * plug into pci_host_bus(). */
#pragma once
#include "hypervisor/device.h"
#include "pci/bus.h"

#include <stdbool.h>
#include <stdint.h>

#define PCI_HOST_DEFAULT_ID "pci0"
#define PCI_HOST_VENDOR_ID 0x1b36 /* Red Hat, Inc. */
#define PCI_HOST_DEVICE_ID 0x0008 /* QEMU PCIe host bridge (generic) */
#define PCI_CLASS_BRIDGE_HOST 0x060000
#define PCI_ECAM_BUS_SIZE (1ull << 20)
#define PCI_CF8_PORT 0xcf8
#define PCI_CFC_PORT 0xcfc

typedef struct PciHostConfig {
    uint64_t ecam_base, ecam_size; /* size: bus count * 1 MiB (1..256 buses) */
    bool pio_cf8;                  /* also 0xCF8/0xCFC (x86) */
    uint64_t mmio32_base, mmio32_size;
    uint64_t mmio64_base, mmio64_size; /* size 0: 64-bit BARs go below 4 GiB */
    uint64_t io_base, io_size;         /* size 0: no I/O BARs */
    uint32_t intx_gsi_base;            /* 4 GSIs from here for INTA..INTD */
    bool msi_devid;                    /* MSIs carry the requester id (arm ITS) */
} PciHostConfig;

typedef struct PciHost PciHost;

extern const DeviceOps pci_host_ops;

/* The host bridge behind a Device, or NULL if d is something else. */
PciHost *pci_host_from_device(Device *d);
/* vm_find_device(vm, id) as a host bridge, or NULL. */
PciHost *pci_host_find(Vm *vm, const char *id);
PciBus *pci_host_bus(PciHost *h);
const PciHostConfig *pci_host_config(PciHost *h);
