/* See vdevtest.h. */
#include "vdevtest.h"

#include "pci/host.h"
#include "pci/msix.h"
#include "support/fake_accel.h"

#include <check.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#define ECAM_BASE 0xb0000000ull
#define ECAM_SIZE (16ull << 20)
#define MSI_ADDR 0xfee00000ull

/* virtio PCI capability types (virtio 1.2, 4.1.4). */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

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

uint32_t vdevtest_cfg_read(VdevTest *t, uint32_t reg, unsigned size)
{
    return (uint32_t)mmio_read(t, ECAM_BASE + ((uint64_t)t->devfn << 12) + reg, size);
}

void vdevtest_cfg_write(VdevTest *t, uint32_t reg, uint32_t v, unsigned size)
{
    mmio_write(t, ECAM_BASE + ((uint64_t)t->devfn << 12) + reg, v, size);
}

uint64_t vdevtest_bar_read(VdevTest *t, uint64_t off, unsigned size)
{
    return mmio_read(t, t->bar + off, size);
}

void vdevtest_bar_write(VdevTest *t, uint64_t off, uint64_t v, unsigned size)
{
    mmio_write(t, t->bar + off, v, size);
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
        .mmio64_base = VDEV_MMIO64_BASE, .mmio64_size = 0x1000000000ull,
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

/* One vendor capability: check it against the spec and note where it points. */
static void note_virtio_cap(VdevTest *t, uint8_t p, bool *seen)
{
    uint8_t type = (uint8_t)vdevtest_cfg_read(t, p + 3, 1);
    uint8_t bar = (uint8_t)vdevtest_cfg_read(t, p + 4, 1);
    uint32_t off = vdevtest_cfg_read(t, p + 8, 4), len = vdevtest_cfg_read(t, p + 12, 4);
    ck_assert_uint_ge(vdevtest_cfg_read(t, p + 2, 1), 16);
    if (type >= CAP_COMMON && type <= CAP_DEVICE)
        ck_assert_uint_eq(bar, 4);
    switch (type) {
    case CAP_COMMON:
        ck_assert_uint_ge(len, 0x38);
        t->common = off;
        break;
    case CAP_NOTIFY:
        ck_assert_uint_eq(vdevtest_cfg_read(t, p + 2, 1), 20);
        ck_assert_uint_ge(len, 2);
        t->notify = off;
        t->mult = vdevtest_cfg_read(t, p + 16, 4);
        break;
    case CAP_ISR:
        t->isr = off;
        break;
    case CAP_DEVICE:
        t->device = off;
        t->device_len = len;
        break;
    case CAP_PCI_CFG:
        t->cfg_cap = p;
        break;
    default:
        return;
    }
    seen[type] = true;
}

static void walk_caps(VdevTest *t)
{
    ck_assert(vdevtest_cfg_read(t, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    bool seen[CAP_PCI_CFG + 1] = { false };
    unsigned guard = 0;
    for (uint8_t p = (uint8_t)vdevtest_cfg_read(t, PCI_CAPABILITY_LIST, 1); p;
         p = (uint8_t)vdevtest_cfg_read(t, p + 1, 1)) {
        ck_assert_uint_lt(++guard, 48);
        uint8_t id = (uint8_t)vdevtest_cfg_read(t, p, 1);
        if (id == PCI_CAP_ID_MSIX)
            t->msix_cap = p;
        else if (id == PCI_CAP_ID_VENDOR)
            note_virtio_cap(t, p, seen);
    }
    ck_assert(seen[CAP_COMMON] && seen[CAP_NOTIFY] && seen[CAP_ISR] && seen[CAP_PCI_CFG]);
    ck_assert_uint_ne(t->msix_cap, 0);
}

Device *vdevtest_add(VdevTest *t, const DeviceOps *ops, const char *id, const void *cfg)
{
    g_autoptr(GError) err = NULL;
    Device *d = device_create(t->vm, ops, id, cfg, &err);
    ck_assert_msg(d, "%s: %s", id, err ? err->message : "?");
    t->dev = d;
    t->vdev = VIRTIO_DEVICE(d);
    t->devfn = t->vdev->pci.devfn;
    ck_assert_uint_eq(vdevtest_cfg_read(t, PCI_VENDOR_ID, 2), 0x1af4);
    walk_caps(t);
    /* BAR 4 is 64-bit memory, placed by the bus; turn decode on. */
    uint32_t lo = vdevtest_cfg_read(t, PCI_BAR0 + 16, 4);
    ck_assert_uint_eq(lo & 0x7, 0x4);
    t->bar = ((uint64_t)vdevtest_cfg_read(t, PCI_BAR0 + 20, 4) << 32) | (lo & ~0xfu);
    ck_assert_uint_ne(t->bar, 0);
    vdevtest_cfg_write(t, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
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

void vdevtest_cc_write64(VdevTest *t, uint32_t off, uint64_t v)
{
    vdevtest_cc_write(t, off, (uint32_t)v, 4);
    vdevtest_cc_write(t, off + 4, v >> 32, 4);
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
    return (uint8_t)vdevtest_cc_read(t, VDEV_CC_STATUS, 1);
}

void vdevtest_set_status(VdevTest *t, uint8_t status)
{
    vdevtest_cc_write(t, VDEV_CC_STATUS, status, 1);
}

uint8_t vdevtest_config_generation(VdevTest *t)
{
    return (uint8_t)vdevtest_cc_read(t, VDEV_CC_CFGGEN, 1);
}

uint16_t vdevtest_num_queues(VdevTest *t)
{
    return (uint16_t)vdevtest_cc_read(t, VDEV_CC_NUMQ, 2);
}

void vdevtest_msix_enable(VdevTest *t)
{
    uint32_t table = vdevtest_cfg_read(t, t->msix_cap + PCI_MSIX_TABLE, 4);
    ck_assert_uint_eq(table & 7, 4);
    uint64_t base = table & ~7u;
    for (unsigned v = VDEV_VEC_CONFIG; v <= VDEV_VEC_QUEUE; v++) {
        vdevtest_bar_write(t, base + v * 16 + 0, MSI_ADDR, 4);
        vdevtest_bar_write(t, base + v * 16 + 4, 0, 4);
        vdevtest_bar_write(t, base + v * 16 + 8, 0x40 + v, 4);
        vdevtest_bar_write(t, base + v * 16 + 12, 0, 4);
    }
    vdevtest_cfg_write(t, t->msix_cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
    t->msix = true;
}

uint64_t vdevtest_irqfd_events(VdevTest *t, unsigned vector)
{
    int fd = pci_msix_vector_irqfd(&t->vdev->pci, vector, NULL);
    ck_assert_int_ge(fd, 0);
    uint64_t n = 0;
    if (read(fd, &n, sizeof n) != sizeof n)
        n = 0;
    return n;
}

uint64_t vdevtest_irqfd_wait(VdevTest *t, unsigned vector)
{
    int fd = pci_msix_vector_irqfd(&t->vdev->pci, vector, NULL);
    ck_assert_int_ge(fd, 0);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    (void)poll(&p, 1, VDEV_WAIT_MS);
    return vdevtest_irqfd_events(t, vector);
}

uint64_t vdevtest_offered(VdevTest *t)
{
    vdevtest_cc_write(t, VDEV_CC_DFSELECT, 0, 4);
    uint64_t f = vdevtest_cc_read(t, VDEV_CC_DF, 4);
    vdevtest_cc_write(t, VDEV_CC_DFSELECT, 1, 4);
    return f | vdevtest_cc_read(t, VDEV_CC_DF, 4) << 32;
}

bool vdevtest_negotiate(VdevTest *t, uint64_t features)
{
    vdevtest_set_status(t, 0);
    ck_assert_uint_eq(vdevtest_status(t), 0);
    vdevtest_set_status(t, VIRTIO_STATUS_ACKNOWLEDGE);
    vdevtest_set_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    ck_assert(vdevtest_offered(t) & (1ull << VIRTIO_F_VERSION_1));
    vdevtest_cc_write(t, VDEV_CC_GFSELECT, 0, 4);
    vdevtest_cc_write(t, VDEV_CC_GF, (uint32_t)features, 4);
    vdevtest_cc_write(t, VDEV_CC_GFSELECT, 1, 4);
    vdevtest_cc_write(t, VDEV_CC_GF, (uint32_t)(features >> 32), 4);
    vdevtest_set_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                               VIRTIO_STATUS_FEATURES_OK);
    return vdevtest_status(t) & VIRTIO_STATUS_FEATURES_OK;
}

void vdevtest_queue(VdevTest *t, uint16_t q, uint16_t size)
{
    ck_assert_uint_lt(q, VDEV_MAX_QUEUES);
    VirtqDriver *d = &t->q[q];
    virtq_driver_init(d, vm_memory(t->vm), size, VDEV_RINGS(q), VDEV_DATA(q), VDEV_DATA_SIZE);
    vdevtest_cc_write(t, VDEV_CC_QSELECT, q, 2);
    t->queue_max[q] = (uint16_t)vdevtest_cc_read(t, VDEV_CC_QSIZE, 2);
    ck_assert_uint_ge(t->queue_max[q], size);
    vdevtest_cc_write(t, VDEV_CC_QSIZE, size, 2);
    ck_assert_uint_eq(vdevtest_cc_read(t, VDEV_CC_QSIZE, 2), size);
    uint16_t vector = t->msix ? VDEV_VEC_QUEUE : VDEV_NO_VECTOR;
    vdevtest_cc_write(t, VDEV_CC_QMSIX, vector, 2);
    ck_assert_uint_eq(vdevtest_cc_read(t, VDEV_CC_QMSIX, 2), vector);
    vdevtest_cc_write64(t, VDEV_CC_QDESC, d->desc);
    vdevtest_cc_write64(t, VDEV_CC_QDRIVER, d->avail);
    vdevtest_cc_write64(t, VDEV_CC_QDEVICE, d->used);
    ck_assert_uint_eq(vdevtest_cc_read(t, VDEV_CC_QDESC, 4) |
                          vdevtest_cc_read(t, VDEV_CC_QDESC + 4, 4) << 32,
                      d->desc);
    vdevtest_cc_write(t, VDEV_CC_QENABLE, 1, 2);
    ck_assert_uint_eq(vdevtest_cc_read(t, VDEV_CC_QENABLE, 2), 1);
}

void vdevtest_driver_ok(VdevTest *t)
{
    vdevtest_set_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                               VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    ck_assert(vdevtest_status(t) & VIRTIO_STATUS_DRIVER_OK);
}

void vdevtest_bring_up(VdevTest *t, uint64_t features, unsigned nq, uint16_t size)
{
    ck_assert(vdevtest_negotiate(t, features | (1ull << VIRTIO_F_VERSION_1)));
    if (t->msix) {
        vdevtest_cc_write(t, VDEV_CC_MSIXCFG, VDEV_VEC_CONFIG, 2);
        ck_assert_uint_eq(vdevtest_cc_read(t, VDEV_CC_MSIXCFG, 2), VDEV_VEC_CONFIG);
    }
    for (unsigned q = 0; q < nq; q++)
        vdevtest_queue(t, (uint16_t)q, size);
    vdevtest_driver_ok(t);
}

void vdevtest_kick(VdevTest *t, uint16_t q)
{
    vdevtest_cc_write(t, VDEV_CC_QSELECT, q, 2);
    uint64_t off = vdevtest_cc_read(t, VDEV_CC_QNOFF, 2);
    mmio_write(t, t->bar + t->notify + off * t->mult, q, 2);
}

uint16_t vdevtest_post_raw(VdevTest *t, uint16_t q, Gpa gpa, uint32_t len, bool writable)
{
    ck_assert_uint_lt(q, VDEV_MAX_QUEUES);
    VirtqDriverBuf b = { gpa, len, writable };
    return virtq_driver_add(&t->q[q], &b, 1);
}

Gpa vdevtest_post(VdevTest *t, uint16_t q, const void *data, uint32_t len, bool writable,
                  uint16_t *head)
{
    ck_assert_uint_lt(q, VDEV_MAX_QUEUES);
    Gpa g = virtq_driver_alloc(&t->q[q], len ? len : 1, 16);
    if (data)
        ck_assert(memory_write(vm_memory(t->vm), g, data, len));
    else
        virtq_driver_fill(&t->q[q], g, VDEV_FILL, len);
    uint16_t h = vdevtest_post_raw(t, q, g, len, writable);
    if (head)
        *head = h;
    return g;
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
