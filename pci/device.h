/* PciDevice: the PCI function every PCI device model embeds (first member,
 * so a PciDevice is a Device). It owns the function's configuration space,
 * its six base address registers and their mapping into the VM's address
 * spaces, INTx, and (optionally) MSI-X (pci/msix.h).
 *
 * Setting up a device, in its realize():
 *     pci_device_init(pd, &info, &hooks);
 *     pci_device_register_bar(pd, 0, 0x4000, PCI_BAR_MEM64, &my_ops, me, errp);
 *     pci_msix_init(pd, ...);            optional
 *     pci_config_add_capability(...);    device-specific capabilities
 *     pci_bus_plug(bus, pd, -1, errp);   slot, BAR addresses, INTx line
 * and in its unrealize(): pci_device_cleanup(pd) (works on partial setups).
 *
 * BARs behave as the PCI spec says: the type bits are read-only, the address
 * bits below the size are read-only zero, so writing all-ones and reading
 * back gives the size. A BAR is mapped (its RegionOps see offsets inside the
 * BAR) while its decode bit in COMMAND is set and it holds an address;
 * reprogramming an enabled BAR moves the region.
 *
 * Threads and locks: config accesses come from vCPU threads (through the
 * host bridge), INTx and MSI-X notifications from any thread. `lock` covers
 * the config space and BARs; INTx and MSI-X have leaf locks of their own, so
 * BAR region handlers and I/O threads never take `lock` (a config write
 * holding it may wait in addrspace_unmap for those handlers to return). */
#pragma once
#include "hypervisor/addrspace.h"
#include "hypervisor/device.h"
#include "hypervisor/log.h"
#include "pci/config.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_NUM_BARS 6

/* BAR kinds, optionally or'ed with PCI_BAR_PREFETCH (memory BARs only). */
enum {
    PCI_BAR_IO = 1,
    PCI_BAR_MEM32 = 2,
    PCI_BAR_MEM64 = 3, /* takes two BAR slots: index and index + 1 */
    PCI_BAR_KIND_MASK = 0x3,
    PCI_BAR_PREFETCH = 0x10,
};

typedef struct PciBus PciBus;
typedef struct PciMsix PciMsix;
typedef struct PciMsi PciMsi;
typedef struct PciDevice PciDevice;

typedef struct PciDeviceInfo {
    uint16_t vendor_id, device_id;
    uint16_t subsystem_vendor_id, subsystem_id;
    uint32_t class_code; /* base class << 16 | subclass << 8 | programming interface */
    uint8_t revision;
    uint8_t intx_pin; /* 1 = INTA# ... 4 = INTD#; 0: no INTx */
    bool multi_function;
} PciDeviceInfo;

/* What a device model (virtio transport, VFIO) adds to the generic config
 * space handling. Both are optional and called without `lock` held. */
typedef struct PciDeviceHooks {
    /* Replace the value of a guest config read (pass-through registers).
     * Return false to let the emulated config space answer. */
    bool (*config_read)(PciDevice *pd, uint32_t offset, unsigned size, uint32_t *value);
    /* After a guest config write went through the masks and the core acted
     * on it (BAR mapping, INTx disable, MSI-X control). */
    void (*config_write)(PciDevice *pd, uint32_t offset, uint32_t value, unsigned size);
} PciDeviceHooks;

typedef struct PciBar {
    uint64_t size; /* 0: not implemented (or the upper half of a 64-bit BAR) */
    unsigned type; /* PCI_BAR_* */
    const RegionOps *ops; /* the device's handler; NULL: only MSI-X structures */
    void *opaque;
    RegionOps region_ops; /* what is mapped: the device's rules, the core's handler */
    PciDevice *pd;
    unsigned index;
    char *name;
    uint64_t assigned; /* address given at plug time, restored on reset */
    bool mapped;
    uint64_t mapped_addr;
} PciBar;

struct PciDevice {
    Device dev; /* first: a PciDevice is a Device */
    const PciDeviceHooks *hooks;
    bool initialized;
    GMutex lock; /* config space, BARs, bus/devfn */
    PciConfig config;
    PciBar bars[PCI_NUM_BARS];
    PciMsix *msix;
    PciMsi *msi;
    uint8_t pcie_cap; /* offset of the PCI Express capability, 0: none (pci/pcie.h) */
    PciBus *bus; /* while plugged */
    uint8_t devfn;
    /* INTx: the device's level, and what reaches the bus (not disabled). */
    GMutex intx_lock;
    bool intx_level, intx_out, intx_disabled;
    RateLimit guest_err;
};

#define PCI_DEVFN(slot, fn) ((uint8_t)(((slot) << 3) | (fn)))
#define PCI_SLOT(devfn) ((unsigned)(devfn) >> 3)
#define PCI_FUNC(devfn) ((unsigned)(devfn) & 7)

/* Identification registers and an empty type 0 header. pd->dev must be set
 * (the device is being realized). */
void pci_device_init(PciDevice *pd, const PciDeviceInfo *info, const PciDeviceHooks *hooks);

/* Implement BAR `index` with `size` bytes (a power of two, >= 16 for memory,
 * 4..256 for I/O), served by ops/opaque at offsets within the BAR. ops may
 * be NULL for a BAR that only holds MSI-X structures. Before pci_bus_plug. */
bool pci_device_register_bar(PciDevice *pd, unsigned index, uint64_t size, unsigned type,
                             const RegionOps *ops, void *opaque, GError **errp);

/* Guest config accesses (1, 2 or 4 bytes at any offset in the 4 KiB space).
 * Invalid ones read all-ones, are dropped, and are logged (rate-limited). */
uint32_t pci_device_config_read(PciDevice *pd, uint32_t offset, unsigned size);
void pci_device_config_write(PciDevice *pd, uint32_t offset, uint32_t value, unsigned size);

/* Drive the device's INTx level. The line reaches the interrupt controller
 * unless COMMAND.INTX_DISABLE is set; STATUS.INTERRUPT shows the level
 * either way. Thread-safe. */
void pci_device_set_intx(PciDevice *pd, bool level);

/* The address the guest programmed into BAR `index` (0 when none). */
uint64_t pci_device_bar_address(PciDevice *pd, unsigned index);
/* True if BAR `index` is mapped now; *addr gets where. */
bool pci_device_bar_mapped(PciDevice *pd, unsigned index, uint64_t *addr);

/* Function-level reset: decode off (BARs unmapped), BAR addresses and the
 * interrupt line back to what the bus assigned, status errors, MSI-X and
 * INTx cleared. For the device's DeviceOps.reset. */
void pci_device_reset(PciDevice *pd);

/* Undo everything above: unplug from the bus (BARs unmapped, slot and
 * addresses freed), MSI-X released. For DeviceOps.unrealize; accepts a
 * device that was never (fully) initialized. */
void pci_device_cleanup(PciDevice *pd);

/* ---- state (pci_state.c) ----------------------------------------------------
 * A PCI function's state: the 4 KiB configuration space (BAR addresses,
 * COMMAND decode bits, capabilities incl. the MSI-X control word), the INTx
 * level the device drives, and the MSI-X table and PBA (pending bits). Which
 * BARs are mapped where is derived from the config space on load, like the
 * BAR sizes and kinds, which come from the device's realize. Device models
 * embed PciDeviceState in their own state struct (STATE_STRUCT with
 * &pci_device_state) and call the two helpers below. */
#define PCI_STATE_MSIX_MAX 2048u /* the PCI limit */

typedef struct PciMsixVectorState {
    uint32_t addr_lo, addr_hi, data, ctrl;
    bool pending;
} PciMsixVectorState;

typedef struct PciDeviceState {
    uint8_t config[PCI_CONFIG_SIZE];
    bool intx_level;
    uint16_t msix_count; /* the device's vector count, 0 without MSI-X */
    PciMsixVectorState msix[PCI_STATE_MSIX_MAX];
} PciDeviceState;

extern const StateDesc pci_device_state;

/* SAVE: pd -> st. LOAD (device paused, st validated): take the guest-writable
 * bits of the config space (read-only bits stay as this side's realize built
 * them), re-map the BARs per COMMAND decode and the BAR registers, restore
 * the MSI-X table, PBA and enable/mask bits; refuses an MSI-X vector count
 * that differs from this device's. Nothing is signalled: call
 * pci_device_post_load() once every device is loaded. */
bool pci_device_state_sync(PciDevice *pd, PciDeviceState *st, DeviceStateDir dir, GError **errp);
/* After all devices loaded: drive INTx at the loaded level, re-program MSI
 * routes of vectors with irqfds and deliver pending unmasked vectors. */
void pci_device_post_load(PciDevice *pd);
