/* MSI (PCI Local Bus 3.0 section 6.8.1): the single-message capability with
 * a 64-bit address and per-vector masking. A device that signals through it
 * calls pci_msi_notify(); while the vector is masked the event is kept
 * pending (visible in the capability's pending bits) and delivered on
 * unmask. Devices with several queues use MSI-X (msix.h); MSI is for simple
 * functions and for passed-through devices that only have it.
 *
 * Thread-safe: notifications may come from any thread. The address, data
 * and mask are cached from config space when the guest writes them, so a
 * notification never takes the device's config lock. */
#pragma once
#include "pci/device.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Capability layout (64-bit, per-vector masking), relative to the capability. */
#define PCI_MSI_FLAGS 2
#define PCI_MSI_FLAGS_ENABLE 0x0001
#define PCI_MSI_FLAGS_64BIT 0x0080
#define PCI_MSI_FLAGS_MASKBIT 0x0100
#define PCI_MSI_ADDR_LO 4
#define PCI_MSI_ADDR_HI 8
#define PCI_MSI_DATA 12
#define PCI_MSI_MASK 16
#define PCI_MSI_PENDING 20
#define PCI_MSI_CAP_SIZE 24

/* Add the capability (before pci_bus_plug). Returns its offset, 0 on error. */
uint8_t pci_msi_init(PciDevice *pd, GError **errp);
bool pci_msi_enabled(PciDevice *pd);
/* Signal the vector: delivered if MSI is enabled and the vector unmasked,
 * kept pending if masked. False (nothing done) when MSI is disabled or the
 * device has no MSI capability: the caller falls back to INTx. */
bool pci_msi_notify(PciDevice *pd);
bool pci_msi_pending(PciDevice *pd);
