#include "pci/bus.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "pci/internal.h"

enum { WIN_MMIO32, WIN_MMIO64, WIN_IO, WIN_COUNT };

typedef struct Allocation {
    uint64_t base, size;
    PciDevice *owner;
} Allocation;

typedef struct Window {
    PciWindow range;
    GArray *used; /* Allocation, sorted by base */
} Window;

struct PciBus {
    Vm *vm;
    PciBusConfig cfg;
    /* Writers: plug/unplug. Readers: config accesses, which therefore never
     * see a device that is being torn down. */
    GRWLock lock;
    PciDevice *devices[PCI_DEVFNS];
    Window windows[WIN_COUNT];
    /* INTx lines are shared: a GSI is high while any device asserts it. */
    GMutex intx_lock;
    unsigned intx_count[4];
};

static const char *const window_names[WIN_COUNT] = { "32-bit MMIO", "64-bit MMIO", "I/O" };

PciBus *pci_bus_new(Vm *vm, const PciBusConfig *cfg)
{
    PciBus *bus = g_new0(PciBus, 1);
    bus->vm = vm;
    bus->cfg = *cfg;
    g_rw_lock_init(&bus->lock);
    g_mutex_init(&bus->intx_lock);
    bus->windows[WIN_MMIO32].range = cfg->mmio32;
    bus->windows[WIN_MMIO64].range = cfg->mmio64;
    bus->windows[WIN_IO].range = cfg->io;
    for (unsigned w = 0; w < WIN_COUNT; w++)
        bus->windows[w].used = g_array_new(FALSE, FALSE, sizeof(Allocation));
    return bus;
}

void pci_bus_free(PciBus *bus)
{
    if (!bus)
        return;
    for (unsigned i = 0; i < PCI_DEVFNS; i++) {
        if (bus->devices[i]) {
            g_warning("PCI device '%s' still plugged at bus teardown", bus->devices[i]->dev.id);
            pci_bus_unplug(bus, bus->devices[i]);
        }
    }
    for (unsigned w = 0; w < WIN_COUNT; w++)
        g_array_free(bus->windows[w].used, TRUE);
    g_mutex_clear(&bus->intx_lock);
    g_rw_lock_clear(&bus->lock);
    g_free(bus);
}

Vm *pci_bus_vm(PciBus *bus)
{
    return bus->vm;
}

/* ---- address allocation (bus lock held for writing) -------------------- */

static gint alloc_cmp(gconstpointer a, gconstpointer b)
{
    const Allocation *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

/* First fit, naturally aligned (BARs decode aligned to their size). */
static bool window_alloc(Window *w, uint64_t size, PciDevice *owner, uint64_t *out)
{
    if (w->range.size == 0)
        return false;
    uint64_t end = w->range.base + w->range.size; /* exclusive; 0 means 2^64 */
    uint64_t cand = (w->range.base + size - 1) & ~(size - 1);
    if (cand < w->range.base)
        return false;
    for (guint i = 0; i < w->used->len; i++) {
        const Allocation *a = &g_array_index(w->used, Allocation, i);
        if (a->base + a->size <= cand)
            continue;
        if (a->base >= cand + size)
            break;
        uint64_t next = (a->base + a->size + size - 1) & ~(size - 1);
        if (next < cand)
            return false; /* wrapped */
        cand = next;
    }
    if (cand + size < cand || (end != 0 && cand + size > end) || cand < w->range.base)
        return false;
    Allocation a = { .base = cand, .size = size, .owner = owner };
    g_array_append_val(w->used, a);
    g_array_sort(w->used, alloc_cmp);
    *out = cand;
    return true;
}

static void windows_release(PciBus *bus, PciDevice *owner)
{
    for (unsigned w = 0; w < WIN_COUNT; w++) {
        GArray *used = bus->windows[w].used;
        for (guint i = used->len; i-- > 0;)
            if (g_array_index(used, Allocation, i).owner == owner)
                g_array_remove_index(used, i);
    }
}

static unsigned bar_window(PciBus *bus, const PciBar *b)
{
    switch (b->type & PCI_BAR_KIND_MASK) {
    case PCI_BAR_IO:
        return WIN_IO;
    case PCI_BAR_MEM64:
        return bus->windows[WIN_MMIO64].range.size ? WIN_MMIO64 : WIN_MMIO32;
    default:
        return WIN_MMIO32;
    }
}

/* Addresses for every BAR of pd, largest first (less fragmentation). */
static bool bars_allocate(PciBus *bus, PciDevice *pd, uint64_t *addrs, GError **errp)
{
    unsigned order[PCI_NUM_BARS], n = 0;
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        if (!pd->bars[i].size)
            continue;
        unsigned j = n++;
        while (j > 0 && pd->bars[order[j - 1]].size < pd->bars[i].size) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (unsigned k = 0; k < n; k++) {
        const PciBar *b = &pd->bars[order[k]];
        unsigned w = bar_window(bus, b);
        if (!window_alloc(&bus->windows[w], b->size, pd, &addrs[order[k]])) {
            windows_release(bus, pd);
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED,
                        "no room for BAR %u (0x%" G_GINT64_MODIFIER "x bytes) in the %s window",
                        order[k], b->size, window_names[w]);
            return false;
        }
    }
    return true;
}

/* ---- plug / unplug --------------------------------------------------- */

static bool slot_free(PciBus *bus, unsigned slot)
{
    for (unsigned fn = 0; fn < 8; fn++)
        if (bus->devices[PCI_DEVFN(slot, fn)])
            return false;
    return true;
}

static bool devfn_choose(PciBus *bus, int want, uint8_t *devfn, GError **errp)
{
    if (want >= 0) {
        if (want >= PCI_DEVFNS || bus->devices[want]) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "PCI address %02x.%x is %s",
                        PCI_SLOT(want & 0xff), PCI_FUNC(want & 0xff),
                        want >= PCI_DEVFNS ? "out of range" : "in use");
            return false;
        }
        *devfn = (uint8_t)want;
        return true;
    }
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        if (slot_free(bus, slot)) {
            *devfn = PCI_DEVFN(slot, 0);
            return true;
        }
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "no free PCI slot on bus 0");
    return false;
}

bool pci_bus_plug(PciBus *bus, PciDevice *pd, int devfn, GError **errp)
{
    g_assert(pd->initialized && !pd->bus);
    uint64_t addrs[PCI_NUM_BARS] = { 0 };
    uint8_t at;
    g_rw_lock_writer_lock(&bus->lock);
    bool ok = devfn_choose(bus, devfn, &at, errp) && bars_allocate(bus, pd, addrs, errp);
    if (ok) {
        /* Fully programmed before it becomes reachable. */
        pci_device_attach(pd, bus, at, addrs);
        bus->devices[at] = pd;
    }
    g_rw_lock_writer_unlock(&bus->lock);
    if (!ok)
        g_prefix_error(errp, "cannot plug '%s': ", pd->dev.id);
    return ok;
}

void pci_bus_unplug(PciBus *bus, PciDevice *pd)
{
    g_rw_lock_writer_lock(&bus->lock);
    g_assert(pd->bus == bus && bus->devices[pd->devfn] == pd);
    bus->devices[pd->devfn] = NULL;
    windows_release(bus, pd);
    g_rw_lock_writer_unlock(&bus->lock);
    /* No config access can reach pd any more; unmapping its BARs waits for
     * vCPUs still inside their handlers. */
    pci_device_detach(pd);
}

PciDevice *pci_bus_find(PciBus *bus, uint8_t devfn)
{
    g_rw_lock_reader_lock(&bus->lock);
    PciDevice *pd = bus->devices[devfn];
    g_rw_lock_reader_unlock(&bus->lock);
    return pd;
}

/* ---- config access ---------------------------------------------------- */

uint32_t pci_bus_config_read(PciBus *bus, uint8_t devfn, uint32_t offset, unsigned size)
{
    g_rw_lock_reader_lock(&bus->lock);
    PciDevice *pd = bus->devices[devfn];
    /* No function there: the read is a master abort, which returns all-ones. */
    uint32_t v = pd ? pci_device_config_read(pd, offset, size) : ~0u;
    g_rw_lock_reader_unlock(&bus->lock);
    return size >= 4 ? v : v & ((1u << (8 * size)) - 1);
}

void pci_bus_config_write(PciBus *bus, uint8_t devfn, uint32_t offset, uint32_t value,
                          unsigned size)
{
    g_rw_lock_reader_lock(&bus->lock);
    PciDevice *pd = bus->devices[devfn];
    if (pd)
        pci_device_config_write(pd, offset, value, size);
    g_rw_lock_reader_unlock(&bus->lock);
}

/* ---- interrupts -------------------------------------------------------- */

uint32_t pci_bus_intx_gsi(PciBus *bus, unsigned slot, unsigned pin)
{
    g_assert(pin >= 1 && pin <= 4);
    return bus->cfg.intx_gsi_base + (slot + pin - 1) % 4;
}

void pci_bus_intx_change(PciBus *bus, uint32_t gsi, bool assert)
{
    unsigned line = gsi - bus->cfg.intx_gsi_base;
    g_assert(line < 4);
    g_mutex_lock(&bus->intx_lock);
    unsigned before = bus->intx_count[line];
    if (assert)
        bus->intx_count[line]++;
    else if (before > 0)
        bus->intx_count[line]--;
    bool was = before > 0, now = bus->intx_count[line] > 0;
    IrqRouter *r = vm_irq(bus->vm);
    if (was != now && r)
        irq_line_set(r, gsi, now);
    g_mutex_unlock(&bus->intx_lock);
}

bool pci_bus_msi_devid(PciBus *bus, uint32_t *devid, uint8_t devfn)
{
    *devid = devfn; /* requester id: bus 0 << 8 | devfn */
    return bus->cfg.msi_devid;
}

bool pci_device_msi_devid(PciDevice *pd, uint32_t *devid)
{
    *devid = 0;
    return pd->bus && pci_bus_msi_devid(pd->bus, devid, pd->devfn);
}
