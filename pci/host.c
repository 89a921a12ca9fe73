#include "pci/host.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"

#define CF8_ENABLE 0x80000000u
/* Bus, device, function and dword-aligned register; bits 30:24 and 1:0
 * are reserved and read back as zero. */
#define CF8_MASK 0x80fffffcu
#define ECAM_MAX_BUSES 256u

struct PciHost {
    PciDevice pci; /* first: the host bridge is function 00:00.0 */
    PciHostConfig cfg;
    PciBus *bus;
    bool ecam_mapped, cf8_mapped, cfc_mapped;
    uint32_t cf8; /* the address register of configuration mechanism #1 */
};

static const PciDeviceInfo host_info = {
    .vendor_id = PCI_HOST_VENDOR_ID,
    .device_id = PCI_HOST_DEVICE_ID,
    .subsystem_vendor_id = PCI_HOST_VENDOR_ID,
    .subsystem_id = PCI_HOST_DEVICE_ID,
    .class_code = PCI_CLASS_BRIDGE_HOST,
};

static uint32_t ones(unsigned size)
{
    return size >= 4 ? ~0u : (1u << (8 * size)) - 1;
}

/* ---- ECAM: offset = bus << 20 | device << 15 | function << 12 | register */

static uint64_t ecam_read(void *opaque, uint64_t offset, unsigned size)
{
    PciHost *h = opaque;
    if (offset >> 20 != 0) /* only bus 0 is populated */
        return ones(size);
    return pci_bus_config_read(h->bus, (uint8_t)(offset >> 12), offset & 0xfff, size);
}

static void ecam_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    PciHost *h = opaque;
    if (offset >> 20 != 0)
        return;
    pci_bus_config_write(h->bus, (uint8_t)(offset >> 12), offset & 0xfff, (uint32_t)value, size);
}

static const RegionOps ecam_ops = {
    .read = ecam_read,
    .write = ecam_write,
    .valid_min = 1,
    .valid_max = 4,
};

/* ---- configuration mechanism #1 ---------------------------------------- */

/* Only dword accesses reach the address register; narrower ones are not
 * configuration cycles on real chipsets (Linux probes with a byte write to
 * 0xCFB and checks that the dword is unaffected). */
static uint64_t cf8_read(void *opaque, uint64_t offset, unsigned size)
{
    PciHost *h = opaque;
    return size == 4 ? g_atomic_int_get((gint *)&h->cf8) : ones(size);
}

static void cf8_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    PciHost *h = opaque;
    if (size == 4)
        g_atomic_int_set((gint *)&h->cf8, (gint)((uint32_t)value & CF8_MASK));
}

static const RegionOps cf8_ops = {
    .read = cf8_read,
    .write = cf8_write,
    .valid_min = 1,
    .valid_max = 4,
};

/* The target of a data-port access, or false when config cycles are off or
 * aimed at a bus that does not exist. */
static bool cfc_target(PciHost *h, uint64_t offset, uint8_t *devfn, uint32_t *reg)
{
    uint32_t a = (uint32_t)g_atomic_int_get((gint *)&h->cf8);
    if (!(a & CF8_ENABLE) || ((a >> 16) & 0xff) != 0)
        return false;
    *devfn = (uint8_t)(a >> 8);
    *reg = (a & 0xfc) + (uint32_t)offset; /* byte lanes select within the dword */
    return true;
}

static uint64_t cfc_read(void *opaque, uint64_t offset, unsigned size)
{
    PciHost *h = opaque;
    uint8_t devfn;
    uint32_t reg;
    return cfc_target(h, offset, &devfn, &reg) ? pci_bus_config_read(h->bus, devfn, reg, size)
                                                 : ones(size);
}

static void cfc_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    PciHost *h = opaque;
    uint8_t devfn;
    uint32_t reg;
    if (cfc_target(h, offset, &devfn, &reg))
        pci_bus_config_write(h->bus, devfn, reg, (uint32_t)value, size);
}

static const RegionOps cfc_ops = {
    .read = cfc_read,
    .write = cfc_write,
    .valid_min = 1,
    .valid_max = 4,
};

/* ---- device ------------------------------------------------------------ */

static bool config_valid(const PciHostConfig *cfg, GError **errp)
{
    const char *why = NULL;
    if (cfg->ecam_size == 0 || cfg->ecam_size % PCI_ECAM_BUS_SIZE ||
        cfg->ecam_size / PCI_ECAM_BUS_SIZE > ECAM_MAX_BUSES)
        why = "the ECAM size must be 1..256 MiB in whole MiB";
    else if (cfg->ecam_base % PCI_ECAM_BUS_SIZE)
        why = "the ECAM base must be 1 MiB aligned";
    else if (cfg->mmio32_size == 0)
        why = "a 32-bit MMIO window is required";
    else if (cfg->mmio32_base + cfg->mmio32_size > (1ull << 32) ||
             cfg->mmio32_base + cfg->mmio32_size < cfg->mmio32_base)
        why = "the 32-bit MMIO window must end below 4 GiB";
    else if (cfg->io_size && cfg->io_base + cfg->io_size > 0x10000)
        why = "the I/O window must end below 64 KiB";
    if (why)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s", why);
    return why == NULL;
}

static bool pci_host_realize(Device *d, const void *opaque, GError **errp)
{
    PciHost *h = DEVICE_CAST(PciHost, d);
    const PciHostConfig *cfg = opaque;
    if (!config_valid(cfg, errp))
        return false;
    h->cfg = *cfg;
    PciBusConfig bc = {
        .mmio32 = { cfg->mmio32_base, cfg->mmio32_size },
        .mmio64 = { cfg->mmio64_base, cfg->mmio64_size },
        .io = { cfg->io_base, cfg->io_size },
        .intx_gsi_base = cfg->intx_gsi_base,
        .msi_devid = cfg->msi_devid,
    };
    h->bus = pci_bus_new(d->vm, &bc);
    pci_device_init(&h->pci, &host_info, NULL);
    if (!pci_bus_plug(h->bus, &h->pci, PCI_DEVFN(0, 0), errp))
        return false;
    g_autofree char *ecam = g_strdup_printf("%s-ecam", d->id);
    h->ecam_mapped = addrspace_map(vm_mmio(d->vm), ecam, cfg->ecam_base, cfg->ecam_size,
                                   &ecam_ops, h, errp);
    if (!h->ecam_mapped || !cfg->pio_cf8)
        return h->ecam_mapped;
    g_autofree char *cf8 = g_strdup_printf("%s-cf8", d->id);
    g_autofree char *cfc = g_strdup_printf("%s-cfc", d->id);
    h->cf8_mapped = addrspace_map(vm_pio(d->vm), cf8, PCI_CF8_PORT, 4, &cf8_ops, h, errp);
    h->cfc_mapped = h->cf8_mapped &&
                    addrspace_map(vm_pio(d->vm), cfc, PCI_CFC_PORT, 4, &cfc_ops, h, errp);
    return h->cfc_mapped;
}

static void pci_host_reset(Device *d)
{
    PciHost *h = DEVICE_CAST(PciHost, d);
    g_atomic_int_set((gint *)&h->cf8, 0);
    pci_device_reset(&h->pci);
}

static void pci_host_unrealize(Device *d)
{
    PciHost *h = DEVICE_CAST(PciHost, d);
    if (h->cfc_mapped)
        addrspace_unmap(vm_pio(d->vm), PCI_CFC_PORT, NULL);
    if (h->cf8_mapped)
        addrspace_unmap(vm_pio(d->vm), PCI_CF8_PORT, NULL);
    if (h->ecam_mapped)
        addrspace_unmap(vm_mmio(d->vm), h->cfg.ecam_base, NULL);
    pci_device_cleanup(&h->pci);
    g_clear_pointer(&h->bus, pci_bus_free);
}

const DeviceOps pci_host_ops = {
    .type = "pci-host",
    .instance_size = sizeof(PciHost),
    .stage = DEVICE_STAGE_PCI_HOST,
    .realize = pci_host_realize,
    .reset = pci_host_reset,
    .unrealize = pci_host_unrealize,
};

PciHost *pci_host_from_device(Device *d)
{
    return d && d->ops == &pci_host_ops ? DEVICE_CAST(PciHost, d) : NULL;
}

PciHost *pci_host_find(Vm *vm, const char *id)
{
    return pci_host_from_device(vm_find_device(vm, id));
}

PciBus *pci_host_bus(PciHost *h)
{
    return h->bus;
}

const PciHostConfig *pci_host_config(PciHost *h)
{
    return &h->cfg;
}
