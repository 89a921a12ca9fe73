#include "pci/device.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "pci/internal.h"
#include "pci/pcie.h"

#define BAR_IO_MAX 256u /* PCI Local Bus 3.0 6.2.5.1: I/O BARs decode at most 256 bytes */
#define BAR_MEM_MIN 16u
#define BAR_IO_MIN 4u
#define BAR_MEM_MAX32 0x80000000ull
#define BAR_IO_SPACE 0x1u
#define BAR_MEM_TYPE_64 0x4u
#define BAR_MEM_PREFETCH 0x8u
#define X86_IO_SPACE_END 0x10000u

static uint32_t bar_reg(unsigned i)
{
    return PCI_BAR0 + 4 * i;
}

static unsigned bar_kind(const PciBar *b)
{
    return b->type & PCI_BAR_KIND_MASK;
}

static AddrSpace *bar_space(PciDevice *pd, const PciBar *b)
{
    return bar_kind(b) == PCI_BAR_IO ? vm_pio(pd->dev.vm) : vm_mmio(pd->dev.vm);
}

void pci_device_init(PciDevice *pd, const PciDeviceInfo *info, const PciDeviceHooks *hooks)
{
    g_assert(pd->dev.vm && !pd->initialized);
    g_assert(info->intx_pin <= 4);
    g_mutex_init(&pd->lock);
    g_mutex_init(&pd->intx_lock);
    ratelimit_init(&pd->guest_err, 1000, 10);
    pd->hooks = hooks;
    PciConfig *c = &pd->config;
    pci_config_init(c);
    pci_config_set16(c, PCI_VENDOR_ID, info->vendor_id);
    pci_config_set16(c, PCI_DEVICE_ID, info->device_id);
    pci_config_set16(c, PCI_SUBSYSTEM_VENDOR_ID, info->subsystem_vendor_id);
    pci_config_set16(c, PCI_SUBSYSTEM_ID, info->subsystem_id);
    pci_config_set8(c, PCI_REVISION_ID, info->revision);
    pci_config_set8(c, PCI_CLASS_PROG, (uint8_t)info->class_code);
    pci_config_set16(c, PCI_CLASS_PROG + 1, (uint16_t)(info->class_code >> 8));
    pci_config_set8(c, PCI_HEADER_TYPE, info->multi_function ? PCI_HEADER_TYPE_MULTI_FUNCTION : 0);
    pci_config_set8(c, PCI_INTERRUPT_PIN, info->intx_pin);
    pd->initialized = true;
}

/* ---- BARs ------------------------------------------------------------- */

static uint64_t bar_read(void *opaque, uint64_t offset, unsigned size)
{
    PciBar *b = opaque;
    uint64_t v;
    if (b->pd->msix && pci_msix_bar_read(b->pd->msix, b->index, offset, size, &v))
        return v;
    if (b->ops)
        return b->ops->read(b->opaque, offset, size);
    log_guest_error(&b->pd->guest_err, b->pd->dev.id,
                    "read of %u bytes at unused offset 0x%" G_GINT64_MODIFIER "x of %s", size,
                    offset, b->name);
    return ~0ull;
}

static void bar_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    PciBar *b = opaque;
    if (b->pd->msix && pci_msix_bar_write(b->pd->msix, b->index, offset, value, size))
        return;
    if (b->ops) {
        b->ops->write(b->opaque, offset, value, size);
        return;
    }
    log_guest_error(&b->pd->guest_err, b->pd->dev.id,
                    "write of %u bytes at unused offset 0x%" G_GINT64_MODIFIER "x of %s", size,
                    offset, b->name);
}

static bool bar_params_valid(PciDevice *pd, unsigned index, uint64_t size, unsigned type,
                             GError **errp)
{
    unsigned kind = type & PCI_BAR_KIND_MASK;
    const char *why = NULL;
    if (index >= PCI_NUM_BARS || (kind == PCI_BAR_MEM64 && index + 1 >= PCI_NUM_BARS))
        why = "index out of range";
    else if (kind == 0 || (type & ~(unsigned)(PCI_BAR_KIND_MASK | PCI_BAR_PREFETCH)))
        why = "unknown type";
    else if (kind == PCI_BAR_IO && (type & PCI_BAR_PREFETCH))
        why = "I/O BARs cannot be prefetchable";
    else if (size == 0 || (size & (size - 1)))
        why = "size is not a power of two";
    else if (kind == PCI_BAR_IO && (size < BAR_IO_MIN || size > BAR_IO_MAX))
        why = "I/O BAR size must be 4..256";
    else if (kind != PCI_BAR_IO && size < BAR_MEM_MIN)
        why = "memory BAR size must be at least 16";
    else if (kind == PCI_BAR_MEM32 && size > BAR_MEM_MAX32)
        why = "32-bit BAR larger than 2 GiB";
    else if (pd->bars[index].size || (kind == PCI_BAR_MEM64 && pd->bars[index + 1].size) ||
             (index > 0 && bar_kind(&pd->bars[index - 1]) == PCI_BAR_MEM64))
        why = "slot already in use";
    else if (pd->bus)
        why = "device already plugged";
    if (why)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "BAR %u (size 0x%" G_GINT64_MODIFIER "x): %s", index, size, why);
    return why == NULL;
}

bool pci_device_register_bar(PciDevice *pd, unsigned index, uint64_t size, unsigned type,
                             const RegionOps *ops, void *opaque, GError **errp)
{
    g_assert(pd->initialized);
    if (!bar_params_valid(pd, index, size, type, errp))
        return false;
    PciBar *b = &pd->bars[index];
    b->size = size;
    b->type = type;
    b->ops = ops;
    b->opaque = opaque;
    b->pd = pd;
    b->index = index;
    b->name = g_strdup_printf("%s-bar%u", pd->dev.id, index);
    /* The device's access rules, our handler in front: MSI-X structures
     * may share the BAR with the device's registers. A BAR of MSI-X alone
     * lets every size through; msix.c checks its own rules. */
    if (ops)
        b->region_ops = *ops;
    else
        b->region_ops = (RegionOps){ .valid_min = 1, .valid_max = 8 };
    b->region_ops.read = bar_read;
    b->region_ops.write = bar_write;

    uint32_t reg = bar_reg(index);
    PciConfig *c = &pd->config;
    if (type == PCI_BAR_IO) {
        pci_config_set32(c, reg, BAR_IO_SPACE);
        pci_config_set_wmask(c, reg, (uint32_t)~(size - 1) & ~3u, 4);
        return true;
    }
    uint32_t low = (type & PCI_BAR_PREFETCH) ? BAR_MEM_PREFETCH : 0;
    uint64_t mask = ~(size - 1) & ~0xfull;
    if ((type & PCI_BAR_KIND_MASK) == PCI_BAR_MEM64) {
        low |= BAR_MEM_TYPE_64;
        pci_config_set_wmask(c, reg + 4, (uint32_t)(mask >> 32), 4);
    }
    pci_config_set32(c, reg, low);
    pci_config_set_wmask(c, reg, (uint32_t)mask, 4);
    return true;
}

/* The address bits of BAR i as the guest sees them, and their write mask. */
static uint64_t bar_bits(PciDevice *pd, unsigned i, const uint8_t *bytes)
{
    const PciBar *b = &pd->bars[i];
    uint32_t off = bar_reg(i);
    uint64_t v = (uint64_t)bytes[off] | (uint64_t)bytes[off + 1] << 8 |
                 (uint64_t)bytes[off + 2] << 16 | (uint64_t)bytes[off + 3] << 24;
    if (bar_kind(b) == PCI_BAR_MEM64) {
        off += 4;
        v |= ((uint64_t)bytes[off] | (uint64_t)bytes[off + 1] << 8 |
              (uint64_t)bytes[off + 2] << 16 | (uint64_t)bytes[off + 3] << 24)
             << 32;
    }
    return v & (bar_kind(b) == PCI_BAR_IO ? ~3ull : ~0xfull);
}

uint64_t pci_device_bar_address(PciDevice *pd, unsigned index)
{
    g_assert(index < PCI_NUM_BARS);
    g_mutex_lock(&pd->lock);
    uint64_t a = pd->bars[index].size ? bar_bits(pd, index, pd->config.data) : 0;
    g_mutex_unlock(&pd->lock);
    return a;
}

bool pci_device_bar_mapped(PciDevice *pd, unsigned index, uint64_t *addr)
{
    g_assert(index < PCI_NUM_BARS);
    g_mutex_lock(&pd->lock);
    bool mapped = pd->bars[index].mapped;
    if (mapped && addr)
        *addr = pd->bars[index].mapped_addr;
    g_mutex_unlock(&pd->lock);
    return mapped;
}

/* Where BAR i should be decoded now, if anywhere. */
static bool bar_target(PciDevice *pd, unsigned i, uint64_t *addr)
{
    const PciBar *b = &pd->bars[i];
    uint16_t cmd = pci_config_get16(&pd->config, PCI_COMMAND);
    bool io = bar_kind(b) == PCI_BAR_IO;
    if (!(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) || !pd->bus)
        return false;
    uint64_t a = bar_bits(pd, i, pd->config.data);
    uint64_t writable = bar_bits(pd, i, pd->config.wmask);
    /* All address bits set: the guest is sizing the BAR, not placing it
     * (no sane placement ends at the top of the address space). Address 0
     * is how firmware leaves a BAR unassigned. */
    if (a == 0 || a == writable)
        return false;
    if (a + b->size - 1 < a || (io && a + b->size > X86_IO_SPACE_END))
        return false;
    *addr = a;
    return true;
}

static void bar_unmap(PciDevice *pd, PciBar *b)
{
    if (!b->mapped)
        return;
    g_autoptr(GError) err = NULL;
    if (!addrspace_unmap(bar_space(pd, b), b->mapped_addr, &err))
        g_warning("%s: %s", b->name, err->message);
    b->mapped = false;
}

/* Bring the address-space mappings in line with COMMAND and the BARs.
 * Conflicts with other regions are the guest's mistake: that BAR stays
 * unmapped until it is programmed again. */
static void bars_update(PciDevice *pd)
{
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &pd->bars[i];
        uint64_t addr;
        if (!b->size)
            continue;
        bool want = bar_target(pd, i, &addr);
        if (!want) {
            bar_unmap(pd, b);
            continue;
        }
        if (b->mapped && b->mapped_addr == addr)
            continue;
        AddrSpace *as = bar_space(pd, b);
        g_autoptr(GError) err = NULL;
        bool ok = b->mapped ? addrspace_move(as, b->mapped_addr, addr, &err)
                            : addrspace_map(as, b->name, addr, b->size, &b->region_ops, b, &err);
        if (ok) {
            b->mapped = true;
            b->mapped_addr = addr;
            continue;
        }
        log_guest_error(&pd->guest_err, pd->dev.id, "BAR %u not decoded: %s", i, err->message);
        bar_unmap(pd, b);
    }
}

/* ---- INTx ------------------------------------------------------------- */

/* Called with intx_lock held. */
static void intx_drive(PciDevice *pd)
{
    bool out = pd->intx_level && !pd->intx_disabled && pd->bus &&
               pci_config_get8(&pd->config, PCI_INTERRUPT_PIN);
    if (out == pd->intx_out)
        return;
    pd->intx_out = out;
    uint8_t pin = pci_config_get8(&pd->config, PCI_INTERRUPT_PIN);
    pci_bus_intx_change(pd->bus, pci_bus_intx_gsi(pd->bus, PCI_SLOT(pd->devfn), pin), out);
}

void pci_device_set_intx(PciDevice *pd, bool level)
{
    g_mutex_lock(&pd->intx_lock);
    pd->intx_level = level;
    intx_drive(pd);
    g_mutex_unlock(&pd->intx_lock);
}

static void intx_command_written(PciDevice *pd)
{
    g_mutex_lock(&pd->intx_lock);
    pd->intx_disabled = pci_config_get16(&pd->config, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
    intx_drive(pd);
    g_mutex_unlock(&pd->intx_lock);
}

/* ---- config space ----------------------------------------------------- */

static bool access_valid(PciDevice *pd, uint32_t offset, unsigned size, bool is_write)
{
    if ((size == 1 || size == 2 || size == 4) && offset < PCI_CONFIG_SIZE &&
        size <= PCI_CONFIG_SIZE - offset)
        return true;
    log_guest_error(&pd->guest_err, pd->dev.id, "config %s of %u bytes at 0x%x",
                    is_write ? "write" : "read", size, offset);
    return false;
}

uint32_t pci_device_config_read(PciDevice *pd, uint32_t offset, unsigned size)
{
    if (!access_valid(pd, offset, size, false))
        return size == 1 ? 0xff : size == 2 ? 0xffff : ~0u;
    uint32_t v;
    if (pd->hooks && pd->hooks->config_read && pd->hooks->config_read(pd, offset, size, &v))
        return v;
    g_mutex_lock(&pd->lock);
    v = pci_config_read(&pd->config, offset, size);
    g_mutex_unlock(&pd->lock);
    /* STATUS.INTERRUPT is the device's INTx level, kept outside the bytes
     * so that raising INTx never needs the config lock. */
    if (pci_config_overlaps(offset, size, PCI_STATUS, 1)) {
        unsigned shift = 8 * (PCI_STATUS - offset);
        g_mutex_lock(&pd->intx_lock);
        bool level = pd->intx_level;
        g_mutex_unlock(&pd->intx_lock);
        v &= ~((uint32_t)PCI_STATUS_INTERRUPT << shift);
        v |= (level ? (uint32_t)PCI_STATUS_INTERRUPT : 0) << shift;
    }
    if (pd->msi)
        v = pci_msi_config_read_fixup(pd->msi, offset, size, v);
    return v;
}

void pci_device_config_write(PciDevice *pd, uint32_t offset, uint32_t value, unsigned size)
{
    if (!access_valid(pd, offset, size, true))
        return;
    g_mutex_lock(&pd->lock);
    pci_config_write(&pd->config, offset, value, size);
    bool command = pci_config_overlaps(offset, size, PCI_COMMAND, 2);
    if (command || pci_config_overlaps(offset, size, PCI_BAR0, 4 * PCI_NUM_BARS))
        bars_update(pd);
    if (command)
        intx_command_written(pd);
    if (pd->msix)
        pci_msix_config_written(pd->msix, offset, size);
    if (pd->msi)
        pci_msi_config_written(pd->msi, offset, size);
    g_mutex_unlock(&pd->lock);
    if (pd->hooks && pd->hooks->config_write)
        pd->hooks->config_write(pd, offset, value, size);
}

/* ---- bus attachment, reset, cleanup ------------------------------------ */

/* The legacy line register holds the GSI, as PC firmware leaves it; a GSI
 * above 254 does not fit and reads as "unknown" (0xff). */
static void line_assign(PciDevice *pd)
{
    uint8_t pin = pci_config_get8(&pd->config, PCI_INTERRUPT_PIN);
    uint32_t gsi = pin ? pci_bus_intx_gsi(pd->bus, PCI_SLOT(pd->devfn), pin) : 0xff;
    pci_config_set8(&pd->config, PCI_INTERRUPT_LINE, gsi < 0xff ? (uint8_t)gsi : 0xff);
}

/* Write the bus-assigned addresses back into the BARs. */
static void bars_assign(PciDevice *pd)
{
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &pd->bars[i];
        if (!b->size)
            continue;
        uint32_t reg = bar_reg(i);
        uint32_t low = pci_config_get32(&pd->config, reg) & (bar_kind(b) == PCI_BAR_IO ? 3u : 0xfu);
        pci_config_set32(&pd->config, reg, low | (uint32_t)b->assigned);
        if (bar_kind(b) == PCI_BAR_MEM64)
            pci_config_set32(&pd->config, reg + 4, (uint32_t)(b->assigned >> 32));
    }
}

void pci_device_attach(PciDevice *pd, PciBus *bus, uint8_t devfn, const uint64_t *addrs)
{
    g_mutex_lock(&pd->lock);
    g_mutex_lock(&pd->intx_lock); /* intx_drive reads bus and devfn */
    pd->bus = bus;
    pd->devfn = devfn;
    g_mutex_unlock(&pd->intx_lock);
    for (unsigned i = 0; i < PCI_NUM_BARS; i++)
        pd->bars[i].assigned = addrs[i];
    bars_assign(pd);
    line_assign(pd);
    g_mutex_unlock(&pd->lock);
}

void pci_device_detach(PciDevice *pd)
{
    g_mutex_lock(&pd->lock);
    for (unsigned i = 0; i < PCI_NUM_BARS; i++)
        bar_unmap(pd, &pd->bars[i]);
    g_mutex_lock(&pd->intx_lock);
    pd->intx_level = false;
    intx_drive(pd);
    pd->bus = NULL;
    g_mutex_unlock(&pd->intx_lock);
    g_mutex_unlock(&pd->lock);
}

void pci_device_reset(PciDevice *pd)
{
    if (!pd->initialized)
        return;
    g_mutex_lock(&pd->lock);
    PciConfig *c = &pd->config;
    pci_config_set16(c, PCI_COMMAND, 0);
    pci_config_set16(c, PCI_STATUS, pci_config_get16(c, PCI_STATUS) & ~(uint16_t)PCI_STATUS_W1C);
    pci_config_set8(c, PCI_CACHE_LINE_SIZE, 0);
    pci_config_set8(c, PCI_LATENCY_TIMER, 0);
    bars_assign(pd);
    if (pd->bus)
        line_assign(pd);
    bars_update(pd); /* decode is off: everything unmapped */
    if (pd->msix)
        pci_msix_reset(pd->msix);
    if (pd->msi)
        pci_msi_reset(pd->msi);
    pci_pcie_reset(pd);
    g_mutex_lock(&pd->intx_lock);
    pd->intx_disabled = false;
    /* A level left asserted across reset would be a stuck interrupt. */
    pd->intx_level = false;
    intx_drive(pd);
    g_mutex_unlock(&pd->intx_lock);
    g_mutex_unlock(&pd->lock);
}

void pci_device_cleanup(PciDevice *pd)
{
    if (!pd->initialized)
        return;
    if (pd->bus)
        pci_bus_unplug(pd->bus, pd);
    g_clear_pointer(&pd->msix, pci_msix_free);
    g_clear_pointer(&pd->msi, pci_msi_free);
    for (unsigned i = 0; i < PCI_NUM_BARS; i++)
        g_clear_pointer(&pd->bars[i].name, g_free);
    ratelimit_clear(&pd->guest_err);
    g_mutex_clear(&pd->intx_lock);
    g_mutex_clear(&pd->lock);
    pd->initialized = false;
}
