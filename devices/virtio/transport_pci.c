/* Virtio over PCI, modern interface only (virtio 1.2 section 4.1).
 *
 * The function is 1af4:(1040 + device id), revision 1. Everything lives in
 * one 64-bit memory BAR (BAR 4):
 *
 *   0x0000  common configuration    (VIRTIO_PCI_CAP_COMMON_CFG)
 *   0x1000  ISR status, 1 byte      (VIRTIO_PCI_CAP_ISR_CFG)
 *   0x2000  device configuration    (VIRTIO_PCI_CAP_DEVICE_CFG, if any)
 *   0x3000  notification addresses  (VIRTIO_PCI_CAP_NOTIFY_CFG): queue q at
 *           0x3000 + q * 4, each backed by an ioeventfd on the queue's
 *           eventfd; a write the accelerator did not catch signals the
 *           same eventfd from here
 *   0x4000  MSI-X table (num_queues + 1 vectors), then the PBA
 *
 * plus a VIRTIO_PCI_CAP_PCI_CFG window in config space that reaches the
 * structures below 0x4000. */
#include "devices/virtio/virtio_internal.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "pci/bus.h"
#include "pci/host.h"
#include "pci/msix.h"
#include "pci/pcie.h"

#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040
#define VIRTIO_PCI_SUBSYSTEM_ID 0x0040 /* spec: modern-only devices use >= 0x40 */
#define VIRTIO_PCI_REVISION 1

#define VIRTIO_PCI_BAR 4
#define COMMON_OFF 0x0000u
#define COMMON_LEN 0x38u /* up to queue_device; no notify_data/queue_reset */
#define ISR_OFF 0x1000u
#define DEVICE_OFF 0x2000u
#define NOTIFY_OFF 0x3000u
#define NOTIFY_MULT 4u
#define MSIX_OFF 0x4000u
#define STRUCT_END MSIX_OFF /* what the PCI_CFG window may reach */

/* virtio_pci_cap cfg_type values. */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };
/* Capability layout (bytes from the capability start). */
#define CAP_LEN 2
#define CAP_TYPE 3
#define CAP_BAR 4
#define CAP_ID 5
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_NOTIFY_MULT 16
#define CAP_CFG_DATA 16
#define CAP_SIZE 16
#define CAP_EXT_SIZE 20

#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2

struct VirtioTransport {
    GMutex lock; /* selectors and vectors below */
    uint32_t device_feature_select;
    uint32_t driver_feature_select;
    uint16_t queue_select;
    uint16_t msix_config;   /* atomic reads from the I/O thread */
    uint16_t *queue_vector; /* num_queues, same */
    unsigned nvectors;
    GMutex isr_lock; /* isr and the INTx level it drives */
    uint8_t isr;
    GMutex ioev_lock; /* ioeventfd registration */
    uint8_t cfg_cap;  /* the PCI_CFG capability */
};

/* Common configuration fields (offset, size). */
enum {
    CC_DFSELECT = 0x00, CC_DF = 0x04, CC_GFSELECT = 0x08, CC_GF = 0x0c, CC_MSIX = 0x10,
    CC_NUMQ = 0x12, CC_STATUS = 0x14, CC_CFGGEN = 0x15, CC_QSELECT = 0x16, CC_QSIZE = 0x18,
    CC_QMSIX = 0x1a, CC_QENABLE = 0x1c, CC_QNOFF = 0x1e, CC_QDESC = 0x20, CC_QDRIVER = 0x28,
    CC_QDEVICE = 0x30,
};

static unsigned field_size(uint32_t off)
{
    if (off < CC_MSIX)
        return 4;
    if (off < CC_STATUS)
        return 2;
    if (off < CC_QSELECT)
        return 1;
    if (off < CC_QDESC)
        return 2;
    return off < COMMON_LEN ? 8 : 0;
}

/* Start of the field holding byte `off` (fields are naturally aligned). */
static uint32_t field_start(uint32_t off)
{
    unsigned s = field_size(off);
    return s ? off & ~(s - 1) : off;
}

static const char *dev_id(VirtioDevice *vdev)
{
    return vdev->pci.dev.id;
}

static uint16_t load16(const uint16_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store16(uint16_t *p, uint16_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The queue selected now, or -1 when queue_select names no queue. */
static int selected_queue(VirtioDevice *vdev)
{
    VirtioTransport *t = vdev->transport;
    g_mutex_lock(&t->lock);
    unsigned q = t->queue_select;
    g_mutex_unlock(&t->lock);
    return q < vdev->info.num_queues ? (int)q : -1;
}

static uint16_t vector_checked(VirtioTransport *t, uint32_t v)
{
    return v < t->nvectors ? (uint16_t)v : VIRTIO_NO_VECTOR;
}

/* ---- common configuration ----------------------------------------------- */

static uint64_t common_field_read(VirtioDevice *vdev, uint32_t field)
{
    VirtioTransport *t = vdev->transport;
    int q = field >= CC_QSIZE ? selected_queue(vdev) : 0;
    if (q < 0)
        return 0; /* no such queue: queue_size 0 says so */
    switch (field) {
    case CC_DFSELECT:
    case CC_GFSELECT: {
        g_mutex_lock(&t->lock);
        uint32_t v = field == CC_DFSELECT ? t->device_feature_select : t->driver_feature_select;
        g_mutex_unlock(&t->lock);
        return v;
    }
    case CC_DF:
    case CC_GF: {
        g_mutex_lock(&t->lock);
        uint32_t sel = field == CC_DF ? t->device_feature_select : t->driver_feature_select;
        g_mutex_unlock(&t->lock);
        uint64_t f = field == CC_DF ? virtio_core_host_features(vdev)
                                    : virtio_core_guest_features(vdev);
        return sel == 0 ? (uint32_t)f : sel == 1 ? (uint32_t)(f >> 32) : 0;
    }
    case CC_MSIX:
        return load16(&t->msix_config);
    case CC_NUMQ:
        return vdev->info.num_queues;
    case CC_STATUS:
        return virtio_device_status(vdev);
    case CC_CFGGEN:
        return virtio_core_config_generation(vdev);
    case CC_QSELECT:
        g_mutex_lock(&t->lock);
        uint16_t sel = t->queue_select;
        g_mutex_unlock(&t->lock);
        return sel;
    case CC_QSIZE:
        return virtio_core_queue_size(vdev, (unsigned)q);
    case CC_QMSIX:
        return load16(&t->queue_vector[q]);
    case CC_QENABLE:
        return virtio_core_queue_enabled(vdev, (unsigned)q);
    case CC_QNOFF:
        return (unsigned)q; /* notification address: NOTIFY_OFF + q * NOTIFY_MULT */
    case CC_QDESC:
        return virtio_core_queue_addr(vdev, (unsigned)q, VIRTIO_QADDR_DESC);
    case CC_QDRIVER:
        return virtio_core_queue_addr(vdev, (unsigned)q, VIRTIO_QADDR_DRIVER);
    case CC_QDEVICE:
        return virtio_core_queue_addr(vdev, (unsigned)q, VIRTIO_QADDR_DEVICE);
    }
    return 0;
}

static uint64_t common_read(VirtioDevice *vdev, uint32_t off, unsigned size)
{
    uint32_t field = field_start(off);
    unsigned fsize = field_size(off);
    if (!fsize || off + size > field + fsize) {
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "common config read of %u bytes at 0x%x", size, off);
        return ~0ull;
    }
    uint64_t v = common_field_read(vdev, field) >> (8 * (off - field));
    return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

static void common_queue_write(VirtioDevice *vdev, uint32_t field, uint32_t off, uint64_t value,
                               unsigned size)
{
    VirtioTransport *t = vdev->transport;
    int q = selected_queue(vdev);
    if (q < 0) {
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "write to queue register 0x%x with no queue selected", field);
        return;
    }
    switch (field) {
    case CC_QSIZE:
        virtio_core_queue_set_size(vdev, (unsigned)q, (uint16_t)value);
        return;
    case CC_QMSIX:
        store16(&t->queue_vector[q], vector_checked(t, (uint32_t)value));
        return;
    case CC_QENABLE:
        if (value == 1)
            virtio_core_queue_enable(vdev, (unsigned)q);
        else
            log_guest_error(&vdev->guest_err, dev_id(vdev),
                            "queue_enable write of %" G_GINT64_MODIFIER "u ignored", value);
        return;
    case CC_QDESC:
    case CC_QDRIVER:
    case CC_QDEVICE: {
        VirtioQueueAddr which = field == CC_QDESC     ? VIRTIO_QADDR_DESC
                                : field == CC_QDRIVER ? VIRTIO_QADDR_DRIVER
                                                      : VIRTIO_QADDR_DEVICE;
        unsigned shift = 8 * (off - field);
        uint64_t mask = size == 8 ? ~0ull : 0xffffffffull << shift;
        virtio_core_queue_set_addr(vdev, (unsigned)q, which, value << shift, mask);
        return;
    }
    default: /* queue_notify_off is read-only */
        log_guest_error(&vdev->guest_err, dev_id(vdev), "write to read-only queue_notify_off");
    }
}

static void common_write(VirtioDevice *vdev, uint32_t off, uint64_t value, unsigned size)
{
    VirtioTransport *t = vdev->transport;
    uint32_t field = field_start(off);
    unsigned fsize = field_size(off);
    /* Natural accesses only; 64-bit fields also as two 32-bit halves. */
    bool ok = fsize && ((size == fsize && off == field) || (fsize == 8 && size == 4));
    if (!ok) {
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "common config write of %u bytes at 0x%x", size, off);
        return;
    }
    switch (field) {
    case CC_DFSELECT:
    case CC_GFSELECT:
        g_mutex_lock(&t->lock);
        *(field == CC_DFSELECT ? &t->device_feature_select : &t->driver_feature_select) =
            (uint32_t)value;
        g_mutex_unlock(&t->lock);
        return;
    case CC_GF: {
        g_mutex_lock(&t->lock);
        uint32_t sel = t->driver_feature_select;
        g_mutex_unlock(&t->lock);
        virtio_core_set_guest_features(vdev, sel, (uint32_t)value);
        return;
    }
    case CC_MSIX:
        store16(&t->msix_config, vector_checked(t, (uint32_t)value));
        return;
    case CC_STATUS:
        virtio_core_write_status(vdev, (uint8_t)value);
        return;
    case CC_QSELECT:
        g_mutex_lock(&t->lock);
        t->queue_select = (uint16_t)value;
        g_mutex_unlock(&t->lock);
        return;
    case CC_DF:
    case CC_NUMQ:
    case CC_CFGGEN:
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "write to read-only common config field 0x%x", field);
        return;
    default:
        common_queue_write(vdev, field, off, value, size);
    }
}

/* ---- the BAR ---------------------------------------------------------------- */

static uint8_t isr_read_clear(VirtioDevice *vdev)
{
    VirtioTransport *t = vdev->transport;
    g_mutex_lock(&t->isr_lock);
    uint8_t v = t->isr;
    t->isr = 0;
    pci_device_set_intx(&vdev->pci, false);
    g_mutex_unlock(&t->isr_lock);
    return v;
}

static bool device_cfg_range(VirtioDevice *vdev, uint64_t off, unsigned size)
{
    return off < vdev->info.config_size && size <= vdev->info.config_size - off;
}

static uint64_t device_cfg_read(VirtioDevice *vdev, uint32_t off, unsigned size)
{
    if (!vdev->ops->config_read)
        return 0;
    if (size == 8)
        return device_cfg_read(vdev, off, 4) | device_cfg_read(vdev, off + 4, 4) << 32;
    uint8_t b[4] = { 0 };
    vdev->ops->config_read(vdev, off, b, size);
    return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
}

static void device_cfg_write(VirtioDevice *vdev, uint32_t off, uint64_t value, unsigned size)
{
    if (!vdev->ops->config_write)
        return;
    if (size == 8) {
        device_cfg_write(vdev, off, (uint32_t)value, 4);
        device_cfg_write(vdev, off + 4, value >> 32, 4);
        return;
    }
    uint8_t b[4] = { (uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                     (uint8_t)(value >> 24) };
    vdev->ops->config_write(vdev, off, b, size);
}

static bool notify_queue(VirtioDevice *vdev, uint64_t off, unsigned *q)
{
    uint64_t rel = off - NOTIFY_OFF;
    if (off < NOTIFY_OFF || rel >= (uint64_t)vdev->info.num_queues * NOTIFY_MULT)
        return false;
    *q = (unsigned)(rel / NOTIFY_MULT);
    return true;
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    VirtioDevice *vdev = opaque;
    unsigned q;
    if (off < COMMON_OFF + 0x1000)
        return common_read(vdev, (uint32_t)off, size);
    if (off == ISR_OFF)
        return isr_read_clear(vdev);
    if (off >= DEVICE_OFF && device_cfg_range(vdev, off - DEVICE_OFF, size))
        return device_cfg_read(vdev, (uint32_t)(off - DEVICE_OFF), size);
    if (notify_queue(vdev, off, &q))
        return 0;
    log_guest_error(&vdev->guest_err, dev_id(vdev),
                    "read of %u bytes at unused BAR offset 0x%" G_GINT64_MODIFIER "x", size, off);
    return ~0ull;
}

static void bar_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    VirtioDevice *vdev = opaque;
    unsigned q;
    if (off < COMMON_OFF + 0x1000) {
        common_write(vdev, (uint32_t)off, value, size);
    } else if (notify_queue(vdev, off, &q)) {
        virtio_core_kick(vdev, q);
    } else if (off >= DEVICE_OFF && device_cfg_range(vdev, off - DEVICE_OFF, size)) {
        device_cfg_write(vdev, (uint32_t)(off - DEVICE_OFF), value, size);
    } else {
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "write of %u bytes at BAR offset 0x%" G_GINT64_MODIFIER "x ignored", size,
                        off);
    }
}

/* Sizes are checked per structure above; the MSI-X part needs 4 and 8. */
static const RegionOps bar_ops = {
    .read = bar_read,
    .write = bar_write,
    .valid_min = 1,
    .valid_max = 8,
};

/* ---- ioeventfds: follow BAR 4 -------------------------------------------- */

/* Make sure every queue's notification address has its ioeventfd where
 * the BAR is now. A BAR move carries them along (addrspace_move); an unmap
 * drops them with the region, so they are added again when it comes back.
 * Removing first makes this idempotent. */
static void ioeventfds_sync(VirtioDevice *vdev)
{
    VirtioTransport *t = vdev->transport;
    AddrSpace *mmio = vm_mmio(vdev->pci.dev.vm);
    uint64_t base;
    g_mutex_lock(&t->ioev_lock);
    if (pci_device_bar_mapped(&vdev->pci, VIRTIO_PCI_BAR, &base)) {
        for (unsigned q = 0; q < vdev->info.num_queues; q++) {
            int fd = virtio_core_kick_fd(vdev, q);
            uint64_t off = NOTIFY_OFF + (uint64_t)q * NOTIFY_MULT;
            g_autoptr(GError) err = NULL;
            addrspace_remove_ioeventfd(mmio, base, off, fd, NULL);
            if (!addrspace_add_ioeventfd(mmio, base, off, 2, false, 0, fd, &err))
                g_debug("%s: q%u notifications through MMIO exits: %s", dev_id(vdev), q,
                        err->message);
        }
    }
    g_mutex_unlock(&t->ioev_lock);
}

/* ---- config space: the PCI_CFG window ---------------------------------------- */

typedef struct CfgWindow {
    uint8_t bar;
    uint32_t offset, length;
} CfgWindow;

static bool cfg_window(VirtioDevice *vdev, CfgWindow *w)
{
    PciDevice *pd = &vdev->pci;
    uint8_t cap = vdev->transport->cfg_cap;
    w->bar = (uint8_t)pci_device_config_read(pd, cap + CAP_BAR, 1);
    w->offset = pci_device_config_read(pd, cap + CAP_OFFSET, 4);
    w->length = pci_device_config_read(pd, cap + CAP_LENGTH, 4);
    bool ok = w->bar == VIRTIO_PCI_BAR && (w->length == 1 || w->length == 2 || w->length == 4) &&
              (w->offset & (w->length - 1)) == 0 && w->offset < STRUCT_END;
    if (!ok)
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "PCI_CFG window: bar %u offset 0x%x length %u", w->bar, w->offset,
                        w->length);
    return ok;
}

static bool hook_config_read(PciDevice *pd, uint32_t offset, unsigned size, uint32_t *value)
{
    VirtioDevice *vdev = VIRTIO_DEVICE(pd);
    uint32_t data = vdev->transport->cfg_cap + CAP_CFG_DATA;
    CfgWindow w;
    if (offset < data || offset >= data + 4)
        return false;
    uint64_t v = cfg_window(vdev, &w) ? bar_read(vdev, w.offset, w.length) : ~0ull;
    v >>= 8 * (offset - data);
    *value = size >= 4 ? (uint32_t)v : (uint32_t)v & ((1u << (8 * size)) - 1);
    return true;
}

static void hook_config_write(PciDevice *pd, uint32_t offset, uint32_t value, unsigned size)
{
    VirtioDevice *vdev = VIRTIO_DEVICE(pd);
    if (pci_config_overlaps(offset, size, PCI_COMMAND, 2) ||
        pci_config_overlaps(offset, size, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, 8))
        ioeventfds_sync(vdev);
    uint32_t data = vdev->transport->cfg_cap + CAP_CFG_DATA;
    CfgWindow w;
    if (pci_config_overlaps(offset, size, data, 4) && cfg_window(vdev, &w)) {
        /* The bytes just written (a config read of them would go to the BAR). */
        g_mutex_lock(&pd->lock);
        uint32_t v = pci_config_get32(&pd->config, data);
        g_mutex_unlock(&pd->lock);
        bar_write(vdev, w.offset, v & (uint32_t)((1ull << (8 * w.length)) - 1), w.length);
    }
}

static const PciDeviceHooks hooks = {
    .config_read = hook_config_read,
    .config_write = hook_config_write,
};

/* ---- setup ------------------------------------------------------------------- */

static uint32_t class_code(uint16_t id)
{
    switch (id) {
    case VIRTIO_ID_NET:
        return 0x020000; /* network controller, Ethernet */
    case VIRTIO_ID_BLOCK:
        return 0x018000; /* mass storage, other */
    case VIRTIO_ID_CONSOLE:
        return 0x078000; /* communication controller, other */
    default:
        return 0x00ff00; /* unclassified */
    }
}

static uint8_t add_cap(PciDevice *pd, uint8_t type, unsigned size, uint32_t offset,
                       uint32_t length, GError **errp)
{
    uint8_t cap = pci_config_add_capability(&pd->config, PCI_CAP_ID_VENDOR, size, errp);
    if (!cap)
        return 0;
    pci_config_set8(&pd->config, cap + CAP_LEN, (uint8_t)size);
    pci_config_set8(&pd->config, cap + CAP_TYPE, type);
    pci_config_set8(&pd->config, cap + CAP_BAR, VIRTIO_PCI_BAR);
    pci_config_set8(&pd->config, cap + CAP_ID, 0);
    pci_config_set32(&pd->config, cap + CAP_OFFSET, offset);
    pci_config_set32(&pd->config, cap + CAP_LENGTH, length);
    return cap;
}

static uint64_t pow2_ceil(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

bool virtio_pci_init(VirtioDevice *vdev, GError **errp)
{
    PciDevice *pd = &vdev->pci;
    Vm *vm = pd->dev.vm;
    unsigned nq = vdev->info.num_queues;
    PciHost *host = pci_host_find(vm, PCI_HOST_DEFAULT_ID);
    if (!host) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND, "no PCI host bridge '%s'",
                    PCI_HOST_DEFAULT_ID);
        return false;
    }
    VirtioTransport *t = g_new0(VirtioTransport, 1);
    vdev->transport = t;
    g_mutex_init(&t->lock);
    g_mutex_init(&t->isr_lock);
    g_mutex_init(&t->ioev_lock);
    t->nvectors = nq + 1;
    t->msix_config = VIRTIO_NO_VECTOR;
    t->queue_vector = g_new(uint16_t, nq);
    for (unsigned i = 0; i < nq; i++)
        t->queue_vector[i] = VIRTIO_NO_VECTOR;

    PciDeviceInfo info = {
        .vendor_id = VIRTIO_PCI_VENDOR_ID,
        .device_id = (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + vdev->info.device_id),
        .subsystem_vendor_id = VIRTIO_PCI_VENDOR_ID,
        .subsystem_id = VIRTIO_PCI_SUBSYSTEM_ID,
        .class_code = class_code(vdev->info.device_id),
        .revision = VIRTIO_PCI_REVISION,
        .intx_pin = 1,
    };
    pci_device_init(pd, &info, &hooks);

    uint32_t table_len = t->nvectors * PCI_MSIX_ENTRY_SIZE;
    uint32_t pba_off = MSIX_OFF + ((table_len + 0xfffu) & ~0xfffu);
    uint64_t bar_size = pow2_ceil(pba_off + PCI_MSIX_PBA_SIZE(t->nvectors));
    if (!pci_device_register_bar(pd, VIRTIO_PCI_BAR, bar_size, PCI_BAR_MEM64, &bar_ops, vdev, errp))
        return false;
    /* MSI-X first: Linux looks for it early, and its capability is fixed size. */
    if (!pci_msix_init(pd, t->nvectors, VIRTIO_PCI_BAR, MSIX_OFF, VIRTIO_PCI_BAR, pba_off, errp))
        return false;
    /* A PCIe function: the guest then uses the 4 KiB ECAM config space. */
    if (!pci_pcie_init(pd, errp))
        return false;
    if (!add_cap(pd, CAP_COMMON, CAP_SIZE, COMMON_OFF, COMMON_LEN, errp))
        return false;
    uint8_t notify = add_cap(pd, CAP_NOTIFY, CAP_EXT_SIZE, NOTIFY_OFF, nq * NOTIFY_MULT, errp);
    if (!notify)
        return false;
    pci_config_set32(&pd->config, notify + CAP_NOTIFY_MULT, NOTIFY_MULT);
    if (!add_cap(pd, CAP_ISR, CAP_SIZE, ISR_OFF, 1, errp))
        return false;
    if (vdev->info.config_size &&
        !add_cap(pd, CAP_DEVICE, CAP_SIZE, DEVICE_OFF, vdev->info.config_size, errp))
        return false;
    /* The window's bar/offset/length/data are the driver's to write. */
    t->cfg_cap = add_cap(pd, CAP_PCI_CFG, CAP_EXT_SIZE, 0, 0, errp);
    if (!t->cfg_cap)
        return false;
    pci_config_set8(&pd->config, t->cfg_cap + CAP_BAR, 0);
    pci_config_set_wmask(&pd->config, t->cfg_cap + CAP_BAR, 0xff, 1);
    pci_config_set_wmask(&pd->config, t->cfg_cap + CAP_OFFSET, ~0u, 4);
    pci_config_set_wmask(&pd->config, t->cfg_cap + CAP_LENGTH, ~0u, 4);
    pci_config_set_wmask(&pd->config, t->cfg_cap + CAP_CFG_DATA, ~0u, 4);

    return pci_bus_plug(pci_host_bus(host), pd, -1, errp);
}

void virtio_pci_cleanup(VirtioDevice *vdev)
{
    pci_device_cleanup(&vdev->pci); /* unplugged: BARs and their ioeventfds gone */
    VirtioTransport *t = vdev->transport;
    if (!t)
        return;
    g_free(t->queue_vector);
    g_mutex_clear(&t->lock);
    g_mutex_clear(&t->isr_lock);
    g_mutex_clear(&t->ioev_lock);
    g_free(t);
    vdev->transport = NULL;
}

void virtio_pci_reset(VirtioDevice *vdev, bool function_reset)
{
    VirtioTransport *t = vdev->transport;
    if (!t)
        return;
    g_mutex_lock(&t->lock);
    t->device_feature_select = t->driver_feature_select = 0;
    t->queue_select = 0;
    store16(&t->msix_config, VIRTIO_NO_VECTOR);
    for (unsigned i = 0; i < vdev->info.num_queues; i++)
        store16(&t->queue_vector[i], VIRTIO_NO_VECTOR);
    g_mutex_unlock(&t->lock);
    isr_read_clear(vdev);
    if (function_reset)
        pci_device_reset(&vdev->pci);
}

void virtio_pci_activate(VirtioDevice *vdev)
{
    VirtioTransport *t = vdev->transport;
    PciDevice *pd = &vdev->pci;
    for (int q = -1; q < (int)vdev->info.num_queues; q++) {
        uint16_t v = q < 0 ? load16(&t->msix_config) : load16(&t->queue_vector[q]);
        if (v == VIRTIO_NO_VECTOR || (q >= 0 && !virtio_core_queue_enabled(vdev, (unsigned)q)))
            continue;
        g_autoptr(GError) err = NULL;
        if (pci_msix_vector_irqfd(pd, v, &err) < 0) /* else MSIs are sent one by one */
            g_debug("%s: vector %u without irqfd: %s", dev_id(vdev), v, err->message);
    }
}

void virtio_pci_interrupt(VirtioDevice *vdev, int q)
{
    VirtioTransport *t = vdev->transport;
    PciDevice *pd = &vdev->pci;
    if (!t)
        return;
    uint16_t v = q < 0 ? load16(&t->msix_config) : load16(&t->queue_vector[q]);
    if (q < 0) {
        g_mutex_lock(&t->isr_lock);
        t->isr |= ISR_CONFIG;
        g_mutex_unlock(&t->isr_lock);
    }
    if (v != VIRTIO_NO_VECTOR && pci_msix_notify(pd, v))
        return;
    if (pci_msix_enabled(pd))
        return; /* MSI-X on and no vector: the driver asked for no interrupt */
    g_mutex_lock(&t->isr_lock);
    t->isr |= q < 0 ? ISR_CONFIG : ISR_QUEUE;
    pci_device_set_intx(pd, true);
    g_mutex_unlock(&t->isr_lock);
}

void virtio_pci_state_sync(VirtioDevice *vdev, VirtioState *st, DeviceStateDir dir)
{
    VirtioTransport *t = vdev->transport;
    g_mutex_lock(&t->lock);
    if (dir == DEVICE_STATE_SAVE) {
        st->device_feature_select = t->device_feature_select;
        st->driver_feature_select = t->driver_feature_select;
        st->queue_select = t->queue_select;
        st->msix_config = load16(&t->msix_config);
        for (unsigned i = 0; i < vdev->info.num_queues; i++)
            st->queues[i].vector = load16(&t->queue_vector[i]);
    } else {
        t->device_feature_select = st->device_feature_select;
        t->driver_feature_select = st->driver_feature_select;
        t->queue_select = st->queue_select;
        /* A vector the function does not have means "none", as for a
         * guest write of one. */
        store16(&t->msix_config, st->msix_config < t->nvectors ? st->msix_config : VIRTIO_NO_VECTOR);
        for (unsigned i = 0; i < vdev->info.num_queues; i++) {
            uint16_t v = st->queues[i].vector;
            store16(&t->queue_vector[i], v < t->nvectors ? v : VIRTIO_NO_VECTOR);
        }
    }
    g_mutex_unlock(&t->lock);
    g_mutex_lock(&t->isr_lock);
    if (dir == DEVICE_STATE_SAVE)
        st->isr = t->isr;
    else
        t->isr = st->isr & (ISR_QUEUE | ISR_CONFIG);
    g_mutex_unlock(&t->isr_lock);
}
