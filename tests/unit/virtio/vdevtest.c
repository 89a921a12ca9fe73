/* See vdevtest.h. */
#include "vdevtest.h"

#include "pci/host.h"
#include "support/fake_accel.h"

#include <check.h>
#include <string.h>

#define ECAM_BASE 0xb0000000ull
#define ECAM_SIZE (16ull << 20)

/* Common configuration offsets (virtio 1.2, 4.1.4.3). */
enum {
    DFSELECT = 0x00, DF = 0x04, GFSELECT = 0x08, GF = 0x0c, NUMQ = 0x12, STATUS = 0x14,
    CFGGEN = 0x15, QSELECT = 0x16, QSIZE = 0x18, QENABLE = 0x1c, QNOFF = 0x1e, QDESC = 0x20,
    QDRIVER = 0x28, QDEVICE = 0x30,
};

static void on_stop(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
}

static uint64_t mmio_read(VdevTest *t, uint64_t addr, unsigned size)
{
    uint8_t b[8] = { 0 };
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, b, size, false);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void mmio_write(VdevTest *t, uint64_t addr, uint64_t v, unsigned size)
{
    uint8_t b[8];
    for (unsigned i = 0; i < size; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, b, size, true);
}

static uint32_t cfg_read(VdevTest *t, uint32_t reg, unsigned size)
{
    return (uint32_t)mmio_read(t, ECAM_BASE + ((uint64_t)t->devfn << 12) + reg, size);
}

static void cfg_write(VdevTest *t, uint32_t reg, uint32_t v, unsigned size)
{
    mmio_write(t, ECAM_BASE + ((uint64_t)t->devfn << 12) + reg, v, size);
}

VdevTest *vdevtest_new(VdevRamKind kind, uint64_t ram_size)
{
    VdevTest *t = g_new0(VdevTest, 1);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) cfg = vm_config_new_default();
    t->accel = fake_accel_new();
    t->loop = evloop_new("control");
    t->vm = vm_new(t->accel, t->loop, cfg, on_stop, t, &err);
    ck_assert_msg(t->vm, "vm_new: %s", err ? err->message : "?");
    vm_set_irq_router(t->vm, irq_router_new(vm_accel_vm(t->vm), NULL, 0, 24, 1023));
    t->ram_size = ram_size;
    if (kind == VDEV_RAM_GUARDED) {
        virtq_driver_guarded_ram(vm_memory(t->vm), 0, ram_size, &t->guarded);
    } else {
        MemoryBacking b = { .shared = kind == VDEV_RAM_SHARED };
        t->ram = memory_add_ram(vm_memory(t->vm), "ram", 0, ram_size, &b, &err);
        ck_assert_msg(t->ram, "ram: %s", err ? err->message : "?");
    }
    PciHostConfig hc = {
        .ecam_base = ECAM_BASE, .ecam_size = ECAM_SIZE, .pio_cf8 = true,
        .mmio32_base = 0xc0000000ull, .mmio32_size = 0x20000000ull,
        .mmio64_base = 0x10000000000ull, .mmio64_size = 0x1000000000ull,
        .io_base = 0xc000, .io_size = 0x4000, .intx_gsi_base = 16,
    };
    ck_assert_msg(device_create(t->vm, &pci_host_ops, PCI_HOST_DEFAULT_ID, &hc, &err), "host: %s",
                  err ? err->message : "?");
    return t;
}

void vdevtest_free(VdevTest *t)
{
    if (!t)
        return;
    vm_free(t->vm);
    virtq_driver_guarded_ram_free(&t->guarded);
    evloop_free(t->loop);
    accel_close(t->accel);
    g_free(t);
}

static void walk_caps(VdevTest *t)
{
    bool common = false, notify = false, isr = false;
    unsigned guard = 0;
    for (uint8_t p = (uint8_t)cfg_read(t, PCI_CAPABILITY_LIST, 1); p;
         p = (uint8_t)cfg_read(t, p + 1, 1)) {
        ck_assert_uint_lt(++guard, 48);
        if ((uint8_t)cfg_read(t, p, 1) != PCI_CAP_ID_VENDOR)
            continue;
        uint8_t type = (uint8_t)cfg_read(t, p + 3, 1);
        uint32_t off = cfg_read(t, p + 8, 4);
        switch (type) {
        case 1:
            t->common = off, common = true;
            break;
        case 2:
            t->notify = off, notify = true;
            t->mult = cfg_read(t, p + 16, 4);
            break;
        case 3:
            t->isr = off, isr = true;
            break;
        case 4:
            t->device = off;
            break;
        }
    }
    ck_assert(common && notify && isr);
}

Device *vdevtest_add(VdevTest *t, const DeviceOps *ops, const char *id, const void *cfg)
{
    g_autoptr(GError) err = NULL;
    Device *d = device_create(t->vm, ops, id, cfg, &err);
    ck_assert_msg(d, "%s: %s", id, err ? err->message : "?");
    t->dev = d;
    t->vdev = VIRTIO_DEVICE(d);
    t->devfn = t->vdev->pci.devfn;
    ck_assert_uint_eq(cfg_read(t, PCI_VENDOR_ID, 2), 0x1af4);
    walk_caps(t);
    uint32_t lo = cfg_read(t, PCI_BAR0 + 16, 4);
    t->bar = ((uint64_t)cfg_read(t, PCI_BAR0 + 20, 4) << 32) | (lo & ~0xfu);
    ck_assert_uint_ne(t->bar, 0);
    cfg_write(t, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    return d;
}

void *vdevtest_hva(VdevTest *t, Gpa gpa, uint64_t len)
{
    void *p = memory_hva(vm_memory(t->vm), gpa, len);
    ck_assert_ptr_nonnull(p);
    return p;
}

uint64_t vdevtest_cc_read(VdevTest *t, uint32_t off, unsigned size)
{
    return mmio_read(t, t->bar + t->common + off, size);
}

void vdevtest_cc_write(VdevTest *t, uint32_t off, uint64_t v, unsigned size)
{
    mmio_write(t, t->bar + t->common + off, v, size);
}

uint64_t vdevtest_devcfg_read(VdevTest *t, uint32_t off, unsigned size)
{
    ck_assert_uint_ne(t->device, 0);
    return mmio_read(t, t->bar + t->device + off, size);
}

void vdevtest_devcfg_write(VdevTest *t, uint32_t off, uint64_t v, unsigned size)
{
    ck_assert_uint_ne(t->device, 0);
    mmio_write(t, t->bar + t->device + off, v, size);
}

uint8_t vdevtest_status(VdevTest *t)
{
    return (uint8_t)vdevtest_cc_read(t, STATUS, 1);
}

uint8_t vdevtest_config_generation(VdevTest *t)
{
    return (uint8_t)vdevtest_cc_read(t, CFGGEN, 1);
}

uint16_t vdevtest_num_queues(VdevTest *t)
{
    return (uint16_t)vdevtest_cc_read(t, NUMQ, 2);
}

uint64_t vdevtest_offered(VdevTest *t)
{
    vdevtest_cc_write(t, DFSELECT, 0, 4);
    uint64_t f = vdevtest_cc_read(t, DF, 4);
    vdevtest_cc_write(t, DFSELECT, 1, 4);
    return f | vdevtest_cc_read(t, DF, 4) << 32;
}

bool vdevtest_negotiate(VdevTest *t, uint64_t features)
{
    vdevtest_cc_write(t, STATUS, 0, 1);
    ck_assert_uint_eq(vdevtest_status(t), 0);
    vdevtest_cc_write(t, STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 1);
    vdevtest_cc_write(t, STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
    vdevtest_cc_write(t, GFSELECT, 0, 4);
    vdevtest_cc_write(t, GF, (uint32_t)features, 4);
    vdevtest_cc_write(t, GFSELECT, 1, 4);
    vdevtest_cc_write(t, GF, (uint32_t)(features >> 32), 4);
    vdevtest_cc_write(t, STATUS,
                      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK,
                      1);
    return vdevtest_status(t) & VIRTIO_STATUS_FEATURES_OK;
}

static void cc_write64(VdevTest *t, uint32_t off, uint64_t v)
{
    vdevtest_cc_write(t, off, (uint32_t)v, 4);
    vdevtest_cc_write(t, off + 4, v >> 32, 4);
}

void vdevtest_queue(VdevTest *t, uint16_t q, uint16_t size)
{
    ck_assert_uint_lt(q, VDEV_MAX_QUEUES);
    VirtqDriver *d = &t->q[q];
    virtq_driver_init(d, vm_memory(t->vm), size, VDEV_RINGS(q), VDEV_DATA(q), VDEV_DATA_SIZE);
    vdevtest_cc_write(t, QSELECT, q, 2);
    ck_assert_uint_ge(vdevtest_cc_read(t, QSIZE, 2), size);
    vdevtest_cc_write(t, QSIZE, size, 2);
    cc_write64(t, QDESC, d->desc);
    cc_write64(t, QDRIVER, d->avail);
    cc_write64(t, QDEVICE, d->used);
    vdevtest_cc_write(t, QENABLE, 1, 2);
    ck_assert_uint_eq(vdevtest_cc_read(t, QENABLE, 2), 1);
}

void vdevtest_driver_ok(VdevTest *t)
{
    vdevtest_cc_write(t, STATUS,
                      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                          VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK,
                      1);
    ck_assert(vdevtest_status(t) & VIRTIO_STATUS_DRIVER_OK);
}

void vdevtest_bring_up(VdevTest *t, uint64_t features, unsigned nq, uint16_t size)
{
    ck_assert(vdevtest_negotiate(t, features | (1ull << VIRTIO_F_VERSION_1)));
    for (unsigned q = 0; q < nq; q++)
        vdevtest_queue(t, (uint16_t)q, size);
    vdevtest_driver_ok(t);
}

void vdevtest_kick(VdevTest *t, uint16_t q)
{
    vdevtest_cc_write(t, QSELECT, q, 2);
    uint64_t off = vdevtest_cc_read(t, QNOFF, 2);
    mmio_write(t, t->bar + t->notify + off * t->mult, q, 2);
}

bool vdevtest_wait_used(VdevTest *t, uint16_t q, uint32_t *id, uint32_t *len,
                        unsigned timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        if (virtq_driver_get_used(&t->q[q], id, len))
            return true;
        if (g_get_monotonic_time() >= end)
            return false;
        g_usleep(500);
    }
}

bool vdevtest_wait_status(VdevTest *t, uint8_t mask, unsigned timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        if ((vdevtest_status(t) & mask) == mask)
            return true;
        if (g_get_monotonic_time() >= end)
            return false;
        g_usleep(500);
    }
}

static void noop(void *opaque)
{
}

void vdevtest_sync_io(VdevTest *t)
{
    evloop_run_sync(virtio_device_io_loop(t->vdev), noop, NULL);
}
