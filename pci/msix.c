#include "pci/msix.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "pci/internal.h"

#include <poll.h>

typedef struct MsixVector {
    uint32_t addr_lo, addr_hi, data, ctrl;
    bool pending;     /* an event arrived while masked */
    IrqFd *irqfd;     /* NULL until someone asks for it */
    uint32_t gsi;     /* the MSI route behind irqfd */
    bool attached;    /* irqfd currently bound in the accelerator */
    bool route_stale; /* address/data changed since the route was written */
} MsixVector;

struct PciMsix {
    PciDevice *pd;
    GMutex lock; /* everything below; a leaf (only the IRQ router inside) */
    unsigned n;
    uint8_t cap;
    unsigned table_bar, pba_bar;
    uint32_t table_offset, pba_offset;
    bool enabled, function_masked;
    MsixVector *vec;
};

static IrqRouter *router(PciMsix *m)
{
    return vm_irq(m->pd->dev.vm);
}

static uint64_t vector_addr(const MsixVector *v)
{
    return (uint64_t)v->addr_hi << 32 | v->addr_lo;
}

static bool vector_masked(const PciMsix *m, const MsixVector *v)
{
    return !m->enabled || m->function_masked || (v->ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* Bind or unbind the irqfd in the accelerator, keeping the eventfd: what a
 * backend signals while it is unbound accumulates in the eventfd's counter,
 * and KVM injects it as soon as the fd is bound again. The IRQ router has
 * no call for this (irqfd_new binds for life), hence the accelerator op. */
static void irqfd_attach(PciMsix *m, MsixVector *v, bool on)
{
    AccelVm *avm = vm_accel_vm(m->pd->dev.vm);
    if (v->attached == on)
        return;
    int e = avm ? avm->ops->vm_irqfd(avm, irqfd_fd(v->irqfd), v->gsi, -1, on) : 0;
    if (e < 0)
        g_warning("%s: cannot %s the irqfd of GSI %u: %s", m->pd->dev.id,
                  on ? "bind" : "unbind", v->gsi, g_strerror(-e));
    v->attached = on;
}

static bool irqfd_signalled(MsixVector *v)
{
    struct pollfd p = { .fd = irqfd_fd(v->irqfd), .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void route_refresh(PciMsix *m, MsixVector *v)
{
    uint32_t devid;
    bool has_devid = pci_device_msi_devid(m->pd, &devid);
    g_autoptr(GError) err = NULL;
    if (!irq_msi_route_update(router(m), v->gsi, vector_addr(v), v->data, devid, has_devid, &err) ||
        !irq_router_commit(router(m), &err))
        g_warning("%s: MSI-X route update: %s", m->pd->dev.id, err->message);
    v->route_stale = false;
}

static void deliver(PciMsix *m, MsixVector *v)
{
    if (v->irqfd) {
        irqfd_trigger(v->irqfd);
        return;
    }
    uint32_t devid;
    bool has_devid = pci_device_msi_devid(m->pd, &devid);
    irq_msi_send(router(m), vector_addr(v), v->data, devid, has_devid);
}

/* Make the vector's delivery state match its mask state; called after
 * anything that may have changed it. Lock held. */
static void vector_sync(PciMsix *m, MsixVector *v)
{
    if (vector_masked(m, v)) {
        if (v->irqfd)
            irqfd_attach(m, v, false);
        return;
    }
    if (v->irqfd) {
        if (v->route_stale)
            route_refresh(m, v);
        irqfd_attach(m, v, true);
    }
    if (v->pending) {
        v->pending = false;
        deliver(m, v);
    }
}

/* ---- setup ------------------------------------------------------------ */

static bool range_in_bar(PciDevice *pd, unsigned bar, uint32_t offset, uint32_t len,
                         const char *what, GError **errp)
{
    if (bar >= PCI_NUM_BARS || !pd->bars[bar].size) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "MSI-X %s: BAR %u is not registered",
                    what, bar);
        return false;
    }
    if ((offset & 7) || (uint64_t)offset + len > pd->bars[bar].size) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "MSI-X %s at 0x%x (+0x%x) is misaligned or outside BAR %u", what, offset, len,
                    bar);
        return false;
    }
    return true;
}

uint8_t pci_msix_init(PciDevice *pd, unsigned nvectors, unsigned table_bar, uint32_t table_offset,
                      unsigned pba_bar, uint32_t pba_offset, GError **errp)
{
    g_assert(pd->initialized && !pd->msix && !pd->bus);
    if (nvectors < 1 || nvectors > PCI_MSIX_MAX_VECTORS) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "MSI-X: %u vectors (1..%u)", nvectors,
                    PCI_MSIX_MAX_VECTORS);
        return 0;
    }
    uint32_t table_len = nvectors * PCI_MSIX_ENTRY_SIZE, pba_len = PCI_MSIX_PBA_SIZE(nvectors);
    if (!range_in_bar(pd, table_bar, table_offset, table_len, "table", errp) ||
        !range_in_bar(pd, pba_bar, pba_offset, pba_len, "PBA", errp))
        return 0;
    if (table_bar == pba_bar &&
        pci_config_overlaps(table_offset, table_len, pba_offset, pba_len)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "MSI-X table and PBA overlap");
        return 0;
    }
    uint8_t cap = pci_config_add_capability(&pd->config, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_SIZE, errp);
    if (!cap)
        return 0;
    pci_config_set16(&pd->config, cap + PCI_MSIX_FLAGS, (uint16_t)(nvectors - 1));
    pci_config_set_wmask(&pd->config, cap + PCI_MSIX_FLAGS,
                         PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
    pci_config_set32(&pd->config, cap + PCI_MSIX_TABLE, table_offset | table_bar);
    pci_config_set32(&pd->config, cap + PCI_MSIX_PBA, pba_offset | pba_bar);

    PciMsix *m = g_new0(PciMsix, 1);
    m->pd = pd;
    g_mutex_init(&m->lock);
    m->n = nvectors;
    m->cap = cap;
    m->table_bar = table_bar;
    m->table_offset = table_offset;
    m->pba_bar = pba_bar;
    m->pba_offset = pba_offset;
    m->vec = g_new0(MsixVector, nvectors);
    for (unsigned i = 0; i < nvectors; i++)
        m->vec[i].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT; /* vectors come out of reset masked */
    pd->msix = m;
    return cap;
}

static void vector_release(PciMsix *m, MsixVector *v)
{
    if (!v->irqfd)
        return;
    g_clear_pointer(&v->irqfd, irqfd_free);
    irq_route_remove(router(m), v->gsi);
    g_autoptr(GError) err = NULL;
    if (!irq_router_commit(router(m), &err))
        g_warning("%s: MSI-X route removal: %s", m->pd->dev.id, err->message);
}

void pci_msix_free(PciMsix *m)
{
    for (unsigned i = 0; i < m->n; i++)
        vector_release(m, &m->vec[i]);
    g_free(m->vec);
    g_mutex_clear(&m->lock);
    g_free(m);
}

void pci_msix_reset(PciMsix *m)
{
    PciConfig *c = &m->pd->config;
    pci_config_set16(c, m->cap + PCI_MSIX_FLAGS, (uint16_t)(m->n - 1));
    g_mutex_lock(&m->lock);
    m->enabled = m->function_masked = false;
    for (unsigned i = 0; i < m->n; i++) {
        MsixVector *v = &m->vec[i];
        v->addr_lo = v->addr_hi = v->data = 0;
        v->ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
        v->pending = false;
        v->route_stale = v->irqfd != NULL;
        vector_sync(m, v);
    }
    g_mutex_unlock(&m->lock);
}

/* ---- capability ---------------------------------------------------------- */

void pci_msix_config_written(PciMsix *m, uint32_t offset, unsigned size)
{
    if (!pci_config_overlaps(offset, size, m->cap + PCI_MSIX_FLAGS, 2))
        return;
    uint16_t flags = pci_config_get16(&m->pd->config, m->cap + PCI_MSIX_FLAGS);
    g_mutex_lock(&m->lock);
    m->enabled = flags & PCI_MSIX_FLAGS_ENABLE;
    m->function_masked = flags & PCI_MSIX_FLAGS_MASKALL;
    for (unsigned i = 0; i < m->n; i++)
        vector_sync(m, &m->vec[i]);
    g_mutex_unlock(&m->lock);
}

/* ---- table and PBA ------------------------------------------------------ */

typedef enum { HIT_NONE, HIT_TABLE, HIT_PBA, HIT_BAD } Hit;

static bool overlaps(uint64_t offset, unsigned size, uint64_t start, uint64_t len)
{
    return offset < start + len && start < offset + size;
}

static Hit classify(PciMsix *m, unsigned bar, uint64_t offset, unsigned size, uint64_t *rel)
{
    uint32_t table_len = m->n * PCI_MSIX_ENTRY_SIZE, pba_len = PCI_MSIX_PBA_SIZE(m->n);
    Hit hit = HIT_NONE;
    if (bar == m->table_bar && overlaps(offset, size, m->table_offset, table_len)) {
        hit = HIT_TABLE;
        *rel = offset - m->table_offset;
        if (offset < m->table_offset || *rel + size > table_len)
            return HIT_BAD;
    } else if (bar == m->pba_bar && overlaps(offset, size, m->pba_offset, pba_len)) {
        hit = HIT_PBA;
        *rel = offset - m->pba_offset;
        if (offset < m->pba_offset || *rel + size > pba_len)
            return HIT_BAD;
    }
    /* The spec allows only aligned dword and qword accesses to both. */
    if (hit != HIT_NONE && ((size != 4 && size != 8) || (*rel & (size - 1))))
        return HIT_BAD;
    return hit;
}

static uint32_t table_read32(PciMsix *m, uint64_t rel)
{
    MsixVector *v = &m->vec[rel / PCI_MSIX_ENTRY_SIZE];
    switch (rel % PCI_MSIX_ENTRY_SIZE) {
    case PCI_MSIX_ENTRY_ADDR_LO:
        return v->addr_lo;
    case PCI_MSIX_ENTRY_ADDR_HI:
        return v->addr_hi;
    case PCI_MSIX_ENTRY_DATA:
        return v->data;
    default:
        return v->ctrl;
    }
}

static void table_write32(PciMsix *m, uint64_t rel, uint32_t value)
{
    MsixVector *v = &m->vec[rel / PCI_MSIX_ENTRY_SIZE];
    switch (rel % PCI_MSIX_ENTRY_SIZE) {
    case PCI_MSIX_ENTRY_ADDR_LO:
        v->addr_lo = value & ~3u; /* messages are dword aligned: bits 1:0 read 0 */
        v->route_stale = v->irqfd != NULL;
        break;
    case PCI_MSIX_ENTRY_ADDR_HI:
        v->addr_hi = value;
        v->route_stale = v->irqfd != NULL;
        break;
    case PCI_MSIX_ENTRY_DATA:
        v->data = value;
        v->route_stale = v->irqfd != NULL;
        break;
    default:
        v->ctrl = value & PCI_MSIX_ENTRY_CTRL_MASKBIT; /* the rest is reserved */
        break;
    }
    /* An unmasked vector's route is updated at once; a masked one's when
     * it is unmasked (drivers mask while rewriting a message). */
    vector_sync(m, v);
}

static bool vector_pending(MsixVector *v)
{
    return v->pending || (v->irqfd && !v->attached && irqfd_signalled(v));
}

static uint64_t pba_read64(PciMsix *m, uint64_t rel)
{
    uint64_t bits = 0;
    unsigned first = (unsigned)(rel / 8) * 64;
    for (unsigned i = 0; i < 64 && first + i < m->n; i++)
        bits |= (uint64_t)vector_pending(&m->vec[first + i]) << i;
    return bits;
}

static void log_bad(PciMsix *m, const char *what, uint64_t offset, unsigned size)
{
    log_guest_error(&m->pd->guest_err, m->pd->dev.id,
                    "MSI-X %s of %u bytes at BAR offset 0x%" G_GINT64_MODIFIER "x", what, size,
                    offset);
}

bool pci_msix_bar_read(PciMsix *m, unsigned bar, uint64_t offset, unsigned size, uint64_t *value)
{
    uint64_t rel = 0;
    Hit hit = classify(m, bar, offset, size, &rel);
    if (hit == HIT_NONE)
        return false;
    g_mutex_lock(&m->lock);
    if (hit == HIT_TABLE) {
        *value = table_read32(m, rel);
        if (size == 8)
            *value |= (uint64_t)table_read32(m, rel + 4) << 32;
    } else if (hit == HIT_PBA) {
        uint64_t q = pba_read64(m, rel & ~7ull);
        *value = size == 8 ? q : (uint32_t)(q >> (8 * (rel & 4)));
    } else {
        *value = ~0ull;
    }
    g_mutex_unlock(&m->lock);
    if (hit == HIT_BAD)
        log_bad(m, "read", offset, size);
    return true;
}

bool pci_msix_bar_write(PciMsix *m, unsigned bar, uint64_t offset, uint64_t value, unsigned size)
{
    uint64_t rel = 0;
    Hit hit = classify(m, bar, offset, size, &rel);
    if (hit == HIT_NONE)
        return false;
    if (hit == HIT_TABLE) {
        g_mutex_lock(&m->lock);
        table_write32(m, rel, (uint32_t)value);
        if (size == 8)
            table_write32(m, rel + 4, (uint32_t)(value >> 32));
        g_mutex_unlock(&m->lock);
    } else if (hit == HIT_BAD) {
        log_bad(m, "write", offset, size);
    } /* the PBA is read-only: writes are ignored, as the spec allows */
    return true;
}

/* ---- device side -------------------------------------------------------- */

static PciMsix *msix_of(PciDevice *pd, unsigned vector)
{
    PciMsix *m = pd->msix;
    return m && vector < m->n ? m : NULL;
}

unsigned pci_msix_vector_count(PciDevice *pd)
{
    return pd->msix ? pd->msix->n : 0;
}

bool pci_msix_enabled(PciDevice *pd)
{
    PciMsix *m = pd->msix;
    if (!m)
        return false;
    g_mutex_lock(&m->lock);
    bool on = m->enabled;
    g_mutex_unlock(&m->lock);
    return on;
}

bool pci_msix_notify(PciDevice *pd, unsigned vector)
{
    PciMsix *m = msix_of(pd, vector);
    if (!m)
        return false;
    g_mutex_lock(&m->lock);
    bool on = m->enabled;
    MsixVector *v = &m->vec[vector];
    if (on && vector_masked(m, v))
        v->pending = true;
    else if (on)
        deliver(m, v);
    g_mutex_unlock(&m->lock);
    return on;
}

int pci_msix_vector_irqfd(PciDevice *pd, unsigned vector, GError **errp)
{
    PciMsix *m = msix_of(pd, vector);
    if (!m) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s: no MSI-X vector %u", pd->dev.id,
                    vector);
        return -1;
    }
    g_mutex_lock(&m->lock);
    MsixVector *v = &m->vec[vector];
    int fd = -1;
    if (v->irqfd) {
        fd = irqfd_fd(v->irqfd);
        goto out;
    }
    uint32_t devid, gsi;
    bool has_devid = pci_device_msi_devid(m->pd, &devid);
    if (!irq_msi_route_add(router(m), vector_addr(v), v->data, devid, has_devid, &gsi, errp))
        goto out;
    if (!irq_router_commit(router(m), errp) || !(v->irqfd = irqfd_new(router(m), gsi, errp))) {
        irq_route_remove(router(m), gsi);
        goto out;
    }
    v->gsi = gsi;
    v->attached = true; /* irqfd_new bound it */
    v->route_stale = false;
    vector_sync(m, v);
    fd = irqfd_fd(v->irqfd);
out:
    g_mutex_unlock(&m->lock);
    if (fd < 0)
        g_prefix_error(errp, "%s: MSI-X vector %u: ", pd->dev.id, vector);
    return fd;
}

void pci_msix_vector_release(PciDevice *pd, unsigned vector)
{
    PciMsix *m = msix_of(pd, vector);
    if (!m)
        return;
    g_mutex_lock(&m->lock);
    vector_release(m, &m->vec[vector]);
    g_mutex_unlock(&m->lock);
}

bool pci_msix_vector_masked(PciDevice *pd, unsigned vector)
{
    PciMsix *m = msix_of(pd, vector);
    if (!m)
        return true;
    g_mutex_lock(&m->lock);
    bool masked = vector_masked(m, &m->vec[vector]);
    g_mutex_unlock(&m->lock);
    return masked;
}

bool pci_msix_vector_pending(PciDevice *pd, unsigned vector)
{
    PciMsix *m = msix_of(pd, vector);
    if (!m)
        return false;
    g_mutex_lock(&m->lock);
    bool pending = vector_pending(&m->vec[vector]);
    g_mutex_unlock(&m->lock);
    return pending;
}

bool pci_msix_vector_gsi(PciDevice *pd, unsigned vector, uint32_t *gsi)
{
    PciMsix *m = msix_of(pd, vector);
    if (!m)
        return false;
    g_mutex_lock(&m->lock);
    bool has = m->vec[vector].irqfd != NULL;
    if (has)
        *gsi = m->vec[vector].gsi;
    g_mutex_unlock(&m->lock);
    return has;
}

/* ---- state ------------------------------------------------------------------ */

bool pci_msix_state_sync(PciMsix *m, PciDeviceState *st, DeviceStateDir dir, GError **errp)
{
    if (dir == DEVICE_STATE_LOAD && st->msix_count != m->n) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "MSI-X: %u vectors in the state, the device has %u", st->msix_count, m->n);
        return false;
    }
    g_assert(m->n <= PCI_STATE_MSIX_MAX);
    g_mutex_lock(&m->lock);
    if (dir == DEVICE_STATE_SAVE) {
        st->msix_count = (uint16_t)m->n;
        for (unsigned i = 0; i < m->n; i++) {
            const MsixVector *v = &m->vec[i];
            st->msix[i] = (PciMsixVectorState){ .addr_lo = v->addr_lo, .addr_hi = v->addr_hi,
                                                .data = v->data, .ctrl = v->ctrl,
                                                .pending = v->pending };
        }
    } else {
        uint16_t flags = pci_config_get16(&m->pd->config, m->cap + PCI_MSIX_FLAGS);
        m->enabled = flags & PCI_MSIX_FLAGS_ENABLE;
        m->function_masked = flags & PCI_MSIX_FLAGS_MASKALL;
        for (unsigned i = 0; i < m->n; i++) {
            MsixVector *v = &m->vec[i];
            const PciMsixVectorState *s = &st->msix[i];
            v->addr_lo = s->addr_lo;
            v->addr_hi = s->addr_hi;
            v->data = s->data;
            v->ctrl = s->ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT;
            v->pending = s->pending;
            v->route_stale = v->irqfd != NULL;
        }
    }
    g_mutex_unlock(&m->lock);
    return true;
}

void pci_msix_post_load(PciMsix *m)
{
    g_mutex_lock(&m->lock);
    for (unsigned i = 0; i < m->n; i++) {
        m->vec[i].route_stale = m->vec[i].irqfd != NULL;
        vector_sync(m, &m->vec[i]);
    }
    g_mutex_unlock(&m->lock);
}
