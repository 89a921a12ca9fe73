#include "pci/msi.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "pci/internal.h"

struct PciMsi {
    PciDevice *pd;
    uint8_t cap;
    GMutex lock; /* the cached registers below */
    bool enabled, masked, pending;
    uint64_t addr;
    uint32_t data;
};

uint8_t pci_msi_init(PciDevice *pd, GError **errp)
{
    g_assert(!pd->msi);
    uint8_t cap = pci_config_add_capability(&pd->config, PCI_CAP_ID_MSI, PCI_MSI_CAP_SIZE, errp);
    if (!cap)
        return 0;
    PciConfig *c = &pd->config;
    /* One message (MMC = 0), 64-bit address, per-vector mask; only the
     * enable bit of the control word is the guest's to change. */
    pci_config_set16(c, cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
    pci_config_set_wmask(c, cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
    pci_config_set_wmask(c, cap + PCI_MSI_ADDR_LO, 0xfffffffc, 4);
    pci_config_set_wmask(c, cap + PCI_MSI_ADDR_HI, 0xffffffff, 4);
    pci_config_set_wmask(c, cap + PCI_MSI_DATA, 0xffff, 2);
    pci_config_set_wmask(c, cap + PCI_MSI_MASK, 0x1, 4);
    PciMsi *m = g_new0(PciMsi, 1);
    m->pd = pd;
    m->cap = cap;
    g_mutex_init(&m->lock);
    pd->msi = m;
    return cap;
}

void pci_msi_free(PciMsi *m)
{
    if (!m)
        return;
    g_mutex_clear(&m->lock);
    g_free(m);
}

static void deliver(PciMsi *m, uint64_t addr, uint32_t data)
{
    Vm *vm = m->pd->dev.vm;
    uint32_t devid;
    bool has_devid = pci_device_msi_devid(m->pd, &devid);
    irq_msi_send(vm_irq(vm), addr, data, devid, has_devid);
}

/* Called with pd->lock held after a guest config write (device.c): refresh
 * the cache, and deliver what was pending if the write unmasked it. */
void pci_msi_config_written(PciMsi *m, uint32_t offset, unsigned size)
{
    if (!pci_config_overlaps(offset, size, m->cap, PCI_MSI_CAP_SIZE))
        return;
    PciConfig *c = &m->pd->config;
    g_mutex_lock(&m->lock);
    m->enabled = pci_config_get16(c, m->cap + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE;
    m->masked = pci_config_get32(c, m->cap + PCI_MSI_MASK) & 1;
    m->addr = pci_config_get32(c, m->cap + PCI_MSI_ADDR_LO) |
              (uint64_t)pci_config_get32(c, m->cap + PCI_MSI_ADDR_HI) << 32;
    m->data = pci_config_get16(c, m->cap + PCI_MSI_DATA);
    bool fire = m->enabled && !m->masked && m->pending;
    if (fire)
        m->pending = false;
    uint64_t addr = m->addr;
    uint32_t data = m->data;
    g_mutex_unlock(&m->lock);
    if (fire)
        deliver(m, addr, data);
}

/* Pending bits are not config bytes: patch them into a read (device.c). */
uint32_t pci_msi_config_read_fixup(PciMsi *m, uint32_t offset, unsigned size, uint32_t v)
{
    uint32_t reg = m->cap + PCI_MSI_PENDING;
    if (!pci_config_overlaps(offset, size, reg, 1))
        return v;
    g_mutex_lock(&m->lock);
    bool pending = m->pending;
    g_mutex_unlock(&m->lock);
    unsigned shift = 8 * (reg - offset);
    return (v & ~(1u << shift)) | ((pending ? 1u : 0u) << shift);
}

/* Function reset (pd->lock held): the capability back to disabled. */
void pci_msi_reset(PciMsi *m)
{
    PciConfig *c = &m->pd->config;
    pci_config_set16(c, m->cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
    pci_config_set32(c, m->cap + PCI_MSI_ADDR_LO, 0);
    pci_config_set32(c, m->cap + PCI_MSI_ADDR_HI, 0);
    pci_config_set16(c, m->cap + PCI_MSI_DATA, 0);
    pci_config_set32(c, m->cap + PCI_MSI_MASK, 0);
    g_mutex_lock(&m->lock);
    m->enabled = m->masked = m->pending = false;
    m->addr = 0;
    m->data = 0;
    g_mutex_unlock(&m->lock);
}

bool pci_msi_enabled(PciDevice *pd)
{
    PciMsi *m = pd->msi;
    if (!m)
        return false;
    g_mutex_lock(&m->lock);
    bool on = m->enabled;
    g_mutex_unlock(&m->lock);
    return on;
}

bool pci_msi_pending(PciDevice *pd)
{
    PciMsi *m = pd->msi;
    if (!m)
        return false;
    g_mutex_lock(&m->lock);
    bool p = m->pending;
    g_mutex_unlock(&m->lock);
    return p;
}

bool pci_msi_notify(PciDevice *pd)
{
    PciMsi *m = pd->msi;
    if (!m)
        return false;
    g_mutex_lock(&m->lock);
    if (!m->enabled) {
        g_mutex_unlock(&m->lock);
        return false;
    }
    bool fire = !m->masked;
    if (!fire)
        m->pending = true;
    uint64_t addr = m->addr;
    uint32_t data = m->data;
    g_mutex_unlock(&m->lock);
    if (fire)
        deliver(m, addr, data);
    return true;
}
