/* The PCI Express capability (PCIe Base 4.0 section 7.5.3), version 2.
 *
 * Our functions sit directly on the root bus of a host bridge with no root
 * port in between, which PCIe calls Root Complex Integrated Endpoints: they
 * have no link, so the link and slot registers are reserved (zero). Having
 * the capability makes a guest treat the function as PCIe: it sizes the
 * 4 KiB extended configuration space (through ECAM) instead of 256 bytes,
 * which passed-through devices' extended capabilities (VFIO) need, and it
 * negotiates payload and read-request sizes the usual way.
 *
 * Device Control keeps the guest's settings (only the bits this model
 * implements are writable); Device Status' error bits are write-1-to-clear.
 * pci_device_reset() restores the defaults through pci_pcie_reset(). */
#pragma once
#include "pci/device.h"

#include <glib.h>
#include <stdint.h>

/* Register offsets relative to the capability. */
#define PCI_EXP_FLAGS 0x02   /* PCIe Capabilities register */
#define PCI_EXP_DEVCAP 0x04
#define PCI_EXP_DEVCTL 0x08
#define PCI_EXP_DEVSTA 0x0a
#define PCI_EXP_LNKCAP 0x0c
#define PCI_EXP_DEVCAP2 0x24
#define PCI_EXP_DEVCTL2 0x28
#define PCI_EXP_CAP_SIZE 0x3c /* through Slot Status 2: the v2 layout */

#define PCI_EXP_FLAGS_VERSION2 0x0002
#define PCI_EXP_TYPE_SHIFT 4
#define PCI_EXP_TYPE_ENDPOINT 0x0
#define PCI_EXP_TYPE_RC_INTEGRATED 0x9

#define PCI_EXP_DEVCAP_RBER 0x00008000 /* role-based error reporting (required) */

#define PCI_EXP_DEVCTL_ERR_ENABLES 0x000f /* correctable .. unsupported request */
#define PCI_EXP_DEVCTL_RELAX_EN 0x0010
#define PCI_EXP_DEVCTL_PAYLOAD 0x00e0
#define PCI_EXP_DEVCTL_EXT_TAG 0x0100
#define PCI_EXP_DEVCTL_NOSNOOP_EN 0x0800
#define PCI_EXP_DEVCTL_READRQ 0x7000
#define PCI_EXP_DEVCTL_READRQ_512B 0x2000

#define PCI_EXP_DEVSTA_ERRORS 0x000f /* correctable .. unsupported request detected */

#define PCI_EXP_DEVCAP2_COMP_TMOUT_DIS 0x00000010

/* Add the capability to a function being set up (before pci_bus_plug) as
 * a Root Complex Integrated Endpoint. Returns its offset, 0 on error. */
uint8_t pci_pcie_init(PciDevice *pd, GError **errp);
/* Device Control back to its power-on value, Device Status cleared.
 * Called by pci_device_reset() with the config lock held. */
void pci_pcie_reset(PciDevice *pd);
