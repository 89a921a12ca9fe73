/* Calls between the files of nimbus_pci that are not part of its public
 * API: the bus programs and detaches devices, the device core forwards BAR
 * and config accesses to MSI-X. Not for device models. */
#pragma once
#include "pci/bus.h"
#include "pci/device.h"
#include "pci/msix.h"

/* device.c, called by the bus. attach: the device is now at devfn; BARs get
 * the addresses in addrs (by index; 0 for unused slots). detach: BARs are
 * unmapped and INTx is withdrawn; the device is no longer reachable. */
void pci_device_attach(PciDevice *pd, PciBus *bus, uint8_t devfn, const uint64_t *addrs);
void pci_device_detach(PciDevice *pd);

/* bus.c, called by devices: count the devices asserting a shared INTx line. */
void pci_bus_intx_change(PciBus *bus, uint32_t gsi, bool assert);
bool pci_bus_msi_devid(PciBus *bus, uint32_t *devid, uint8_t devfn);
/* The same for a device (false with devid 0 while it is on no bus): what
 * MSI and MSI-X tag their messages with. */
bool pci_device_msi_devid(PciDevice *pd, uint32_t *devid);

/* msix.c, called by the device core. */
/* Handle a BAR access if it falls in the MSI-X table or PBA; false if not. */
bool pci_msix_bar_read(PciMsix *m, unsigned bar, uint64_t offset, unsigned size, uint64_t *value);
bool pci_msix_bar_write(PciMsix *m, unsigned bar, uint64_t offset, uint64_t value, unsigned size);
/* The guest wrote config bytes [offset, offset+size): pick up MSI-X
 * control changes. Called with pd->lock held. */
void pci_msix_config_written(PciMsix *m, uint32_t offset, unsigned size);
/* MSI (msi.c): config writes refresh its cache; pending bits patched into reads. */
void pci_msi_config_written(PciMsi *m, uint32_t offset, unsigned size);
uint32_t pci_msi_config_read_fixup(PciMsi *m, uint32_t offset, unsigned size, uint32_t v);
void pci_msi_reset(PciMsi *m);
void pci_msi_free(PciMsi *m);
void pci_msix_reset(PciMsix *m);
void pci_msix_free(PciMsix *m);

/* msix.c, for pci_state.c: copy the table and PBA (and, on LOAD, the
 * enable/mask bits from the config space, already loaded) without
 * signalling anything; post_load re-syncs every vector (routes, irqfds,
 * pending delivery). */
bool pci_msix_state_sync(PciMsix *m, PciDeviceState *st, DeviceStateDir dir, GError **errp);
void pci_msix_post_load(PciMsix *m);
