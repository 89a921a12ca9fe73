#include "pcitest.h"

#include "pci/msi.h"
#include "pci/pcie.h"

#include "support/fake_accel.h"

#include <check.h>

/* ---- a recording wrapper around the fake accelerator's VM --------------
 * The IRQ router gets this AccelVm: the GSI routing table is recorded here,
 * everything else is forwarded to the fake (which the Vm owns). */

typedef struct RecVm {
    AccelVm base;
    AccelVm *inner;
    GArray *routes; /* AccelRoute, as last committed */
} RecVm;

static AccelOps rec_ops;

static int rec_set_irq_line(AccelVm *vm, uint32_t gsi, bool level)
{
    RecVm *r = (RecVm *)vm;
    return r->inner->ops->vm_set_irq_line(r->inner, gsi, level);
}

static int rec_set_gsi_routing(AccelVm *vm, const AccelRoute *routes, size_t n)
{
    RecVm *r = (RecVm *)vm;
    g_array_set_size(r->routes, 0);
    g_array_append_vals(r->routes, routes, (guint)n);
    return 0;
}

static int rec_signal_msi(AccelVm *vm, uint64_t addr, uint32_t data, uint32_t devid, bool has_devid)
{
    RecVm *r = (RecVm *)vm;
    return r->inner->ops->vm_signal_msi(r->inner, addr, data, devid, has_devid);
}

static int rec_irqfd(AccelVm *vm, int fd, uint32_t gsi, int resample_fd, bool assign)
{
    RecVm *r = (RecVm *)vm;
    return r->inner->ops->vm_irqfd(r->inner, fd, gsi, resample_fd, assign);
}

typedef struct PciTestPriv {
    PciTest pub;
    RecVm rec;
} PciTestPriv;

static void on_stop(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
}

PciTest *pcitest_new(void)
{
    PciTestPriv *p = g_new0(PciTestPriv, 1);
    PciTest *t = &p->pub;
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) cfg = vm_config_new_default();
    t->accel = fake_accel_new();
    t->loop = evloop_new("control");
    t->vm = vm_new(t->accel, t->loop, cfg, on_stop, t, &err);
    ck_assert_msg(t->vm, "vm_new: %s", err ? err->message : "?");

    AccelVm *inner = vm_accel_vm(t->vm);
    rec_ops = *inner->ops;
    rec_ops.vm_set_irq_line = rec_set_irq_line;
    rec_ops.vm_set_gsi_routing = rec_set_gsi_routing;
    rec_ops.vm_signal_msi = rec_signal_msi;
    rec_ops.vm_irqfd = rec_irqfd;
    p->rec.base.ops = &rec_ops;
    p->rec.inner = inner;
    p->rec.routes = g_array_new(FALSE, FALSE, sizeof(AccelRoute));
    vm_set_irq_router(t->vm, irq_router_new(&p->rec.base, NULL, 0, 24, 1023));

    PciHostConfig hc = {
        .ecam_base = T_ECAM_BASE, .ecam_size = T_ECAM_SIZE, .pio_cf8 = true,
        .mmio32_base = T_MMIO32_BASE, .mmio32_size = T_MMIO32_SIZE,
        .mmio64_base = T_MMIO64_BASE, .mmio64_size = T_MMIO64_SIZE,
        .io_base = T_IO_BASE, .io_size = T_IO_SIZE, .intx_gsi_base = T_INTX_GSI,
    };
    Device *d = device_create(t->vm, &pci_host_ops, PCI_HOST_DEFAULT_ID, &hc, &err);
    ck_assert_msg(d, "pci host: %s", err ? err->message : "?");
    t->host = pci_host_find(t->vm, PCI_HOST_DEFAULT_ID);
    ck_assert_ptr_nonnull(t->host);
    t->bus = pci_host_bus(t->host);
    return t;
}

void pcitest_free(PciTest *t)
{
    if (!t)
        return;
    PciTestPriv *p = (PciTestPriv *)t;
    vm_free(t->vm); /* frees the router too, before our recorder goes */
    g_array_free(p->rec.routes, TRUE);
    evloop_free(t->loop);
    accel_close(t->accel);
    g_free(p);
}

static uint64_t le_get(const uint8_t *b, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void le_put(uint8_t *b, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

uint64_t pcitest_mmio_read(PciTest *t, uint64_t addr, unsigned size)
{
    uint8_t b[8] = { 0 };
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, b, size, false);
    return le_get(b, size);
}

void pcitest_mmio_write(PciTest *t, uint64_t addr, uint64_t value, unsigned size)
{
    uint8_t b[8];
    le_put(b, value, size);
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, b, size, true);
}

uint32_t pcitest_in(PciTest *t, uint16_t port, unsigned size)
{
    uint8_t b[4] = { 0 };
    addrspace_dispatch(vm_pio(t->vm), NULL, port, b, size, false);
    return (uint32_t)le_get(b, size);
}

void pcitest_out(PciTest *t, uint16_t port, uint32_t value, unsigned size)
{
    uint8_t b[4];
    le_put(b, value, size);
    addrspace_dispatch(vm_pio(t->vm), NULL, port, b, size, true);
}

static uint64_t ecam_addr(uint8_t devfn, uint32_t reg)
{
    return T_ECAM_BASE + ((uint64_t)devfn << 12) + reg;
}

uint32_t pcitest_cfg_read(PciTest *t, uint8_t devfn, uint32_t reg, unsigned size)
{
    return (uint32_t)pcitest_mmio_read(t, ecam_addr(devfn, reg), size);
}

void pcitest_cfg_write(PciTest *t, uint8_t devfn, uint32_t reg, uint32_t value, unsigned size)
{
    pcitest_mmio_write(t, ecam_addr(devfn, reg), value, size);
}

bool pcitest_route(PciTest *t, uint32_t gsi, uint64_t *addr, uint32_t *data)
{
    PciTestPriv *p = (PciTestPriv *)t;
    for (guint i = 0; i < p->rec.routes->len; i++) {
        AccelRoute *r = &g_array_index(p->rec.routes, AccelRoute, i);
        if (r->gsi == gsi && r->kind == ACCEL_ROUTE_MSI) {
            *addr = r->msi.addr;
            *data = r->msi.data;
            return true;
        }
    }
    return false;
}

bool pcitest_mapped(AddrSpace *as, uint64_t addr)
{
    uint64_t base, size;
    return addrspace_lookup(as, addr, &base, &size);
}

unsigned pcitest_msi_count(PciTest *t)
{
    return fake_accel_msi_count(vm_accel_vm(t->vm));
}

bool pcitest_irq_level(PciTest *t, uint32_t gsi)
{
    return fake_accel_irq_level(vm_accel_vm(t->vm), gsi);
}

/* ---- the test device ---------------------------------------------------- */

typedef struct BarCtx {
    TestDev *dev;
    unsigned bar;
} BarCtx;

typedef struct TestDevFull {
    TestDev pub;
    BarCtx ctx[PCI_NUM_BARS];
} TestDevFull;

static uint64_t testdev_bar_read(void *opaque, uint64_t offset, unsigned size)
{
    BarCtx *c = opaque;
    return TESTDEV_READ(c->bar, offset);
}

static void testdev_bar_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    BarCtx *c = opaque;
    c->dev->bar_writes++;
    c->dev->last_bar = c->bar;
    c->dev->last_offset = offset;
    c->dev->last_value = value;
}

static const RegionOps testdev_bar_ops = {
    .read = testdev_bar_read,
    .write = testdev_bar_write,
    .valid_min = 1,
    .valid_max = 8,
};

static void testdev_config_write(PciDevice *pd, uint32_t offset, uint32_t value, unsigned size)
{
    TestDev *d = (TestDev *)pd;
    d->hook_writes++;
    d->hook_offset = offset;
    d->hook_value = value;
}

static const PciDeviceHooks testdev_hooks = { .config_write = testdev_config_write };

static bool testdev_realize(Device *dev, const void *opaque, GError **errp)
{
    TestDevFull *f = DEVICE_CAST(TestDevFull, dev);
    const TestDevConfig *cfg = opaque;
    PciDeviceInfo info = {
        .vendor_id = 0x1af4, .device_id = 0x10ff, .subsystem_vendor_id = 0x1af4,
        .subsystem_id = 0x0001, .class_code = 0xff0000, .revision = 1, .intx_pin = cfg->intx_pin,
    };
    pci_device_init(&f->pub.pci, &info, &testdev_hooks);
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        if (!cfg->bars[i].type)
            continue;
        f->ctx[i] = (BarCtx){ &f->pub, i };
        if (!pci_device_register_bar(&f->pub.pci, i, cfg->bars[i].size, cfg->bars[i].type,
                                     &testdev_bar_ops, &f->ctx[i], errp))
            return false;
    }
    if (cfg->msix_vectors &&
        !pci_msix_init(&f->pub.pci, cfg->msix_vectors, cfg->msix_bar, cfg->msix_table,
                       cfg->msix_bar, cfg->msix_pba, errp))
        return false;
    if (cfg->msi && !pci_msi_init(&f->pub.pci, errp))
        return false;
    if (cfg->pcie && !pci_pcie_init(&f->pub.pci, errp))
        return false;
    return pci_bus_plug(cfg->bus, &f->pub.pci, cfg->devfn, errp);
}

static void testdev_reset(Device *dev)
{
    pci_device_reset(DEVICE_CAST(PciDevice, dev));
}

static void testdev_unrealize(Device *dev)
{
    pci_device_cleanup(DEVICE_CAST(PciDevice, dev));
}

const DeviceOps testdev_ops = {
    .type = "pci-testdev",
    .instance_size = sizeof(TestDevFull),
    .stage = DEVICE_STAGE_PCI_DEVICE,
    .realize = testdev_realize,
    .reset = testdev_reset,
    .unrealize = testdev_unrealize,
};

TestDev *pcitest_add(PciTest *t, const char *id, const TestDevConfig *cfg, GError **errp)
{
    return (TestDev *)device_create(t->vm, &testdev_ops, id, cfg, errp);
}

TestDevConfig pcitest_simple(PciTest *t)
{
    return (TestDevConfig){
        .bus = t->bus,
        .devfn = -1,
        .intx_pin = 1,
        .bars = { [0] = { 0x1000, PCI_BAR_MEM32 } },
    };
}
