/* MSI-X (PCI Local Bus 3.0 section 6.8.2): the capability, the vector table
 * and the pending bit array, placed in BARs of the device at given offsets.
 * The device core routes accesses to those ranges here, so a BAR can hold
 * both the device's registers and the MSI-X structures.
 *
 * A vector is delivered when MSI-X is enabled and neither the function nor
 * the vector is masked; otherwise the event sets its pending bit, and
 * unmasking delivers it.
 *
 * Delivery is either a one-off MSI (irq_msi_send) or, once someone asked for
 * the vector's irqfd, through a KVM MSI route bound to that eventfd. The fd
 * can be handed to a backend (an I/O thread, vhost, VFIO) which then raises
 * the vector without the VMM. The route follows the guest's address/data
 * writes; while the vector is masked the eventfd is detached from KVM, so
 * what the backend signals stays pending (PBA) until unmasked.
 *
 * Thread-safe: notifications may come from any thread. */
#pragma once
#include "pci/device.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_MSIX_MAX_VECTORS 2048
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_CAP_SIZE 12

/* Capability registers, relative to the capability. */
#define PCI_MSIX_FLAGS 2 /* message control */
#define PCI_MSIX_TABLE 4 /* offset | BIR */
#define PCI_MSIX_PBA 8   /* offset | BIR */
#define PCI_MSIX_FLAGS_QSIZE 0x07ff
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE 0x8000

/* Table entry words. */
#define PCI_MSIX_ENTRY_ADDR_LO 0
#define PCI_MSIX_ENTRY_ADDR_HI 4
#define PCI_MSIX_ENTRY_DATA 8
#define PCI_MSIX_ENTRY_CTRL 12
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 0x1

/* Size in bytes of the PBA for n vectors (whole qwords). */
#define PCI_MSIX_PBA_SIZE(n) ((((n) + 63u) / 64u) * 8u)

/* Add the capability for `nvectors` (1..2048) with the table at
 * table_offset of BAR table_bar and the PBA at pba_offset of BAR pba_bar.
 * The BARs must be registered and large enough; offsets 8-byte aligned;
 * table and PBA must not overlap. Call before pci_bus_plug. Returns the
 * capability offset, 0 on error. */
uint8_t pci_msix_init(PciDevice *pd, unsigned nvectors, unsigned table_bar, uint32_t table_offset,
                      unsigned pba_bar, uint32_t pba_offset, GError **errp);

unsigned pci_msix_vector_count(PciDevice *pd);
/* MSI-X enable bit set (the device must then not use INTx). */
bool pci_msix_enabled(PciDevice *pd);

/* Signal `vector`: delivered now if enabled and unmasked, else left pending
 * while enabled. Returns false (nothing done) when MSI-X is disabled or the
 * vector does not exist, so the caller can fall back to INTx. */
bool pci_msix_notify(PciDevice *pd, unsigned vector);

/* An eventfd that raises `vector` (created on first use, owned by the
 * device: valid until pci_msix_vector_release or the device goes away).
 * Returns -1 with errp set on failure. */
int pci_msix_vector_irqfd(PciDevice *pd, unsigned vector, GError **errp);
/* Drop the vector's irqfd and route (a backend no longer needs it). */
void pci_msix_vector_release(PciDevice *pd, unsigned vector);

/* Inspection (tests, debug): whether the vector is masked in effect (MSI-X
 * disabled, function or vector mask), its PBA bit, and the GSI of its
 * route (false if it has none). */
bool pci_msix_vector_masked(PciDevice *pd, unsigned vector);
bool pci_msix_vector_pending(PciDevice *pd, unsigned vector);
bool pci_msix_vector_gsi(PciDevice *pd, unsigned vector, uint32_t *gsi);
