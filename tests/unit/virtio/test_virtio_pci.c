/* The virtio core and its modern PCI transport, driven end to end through a
 * virtio-rng device: the test plays the Linux driver through ECAM config
 * accesses and BAR accesses on the MMIO dispatcher, with a split virtqueue
 * laid out in guarded guest RAM by the fake driver, and the device's I/O
 * thread doing the work. No KVM: the fake accelerator. */
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_internal.h"
#include "hypervisor/vm.h"
#include "pci/host.h"
#include "pci/msix.h"
#include "support/check_main.h"
#include "support/fake_accel.h"
#include "support/virtq_driver.h"

#include <check.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define ECAM_BASE 0xb0000000ull
#define ECAM_SIZE (16ull << 20)
#define MMIO32_BASE 0xc0000000ull
#define MMIO64_BASE 0x10000000000ull
#define INTX_GSI 16u
#define RAM_GPA 0x0ull
#define RAM_SIZE (1ull << 20)
#define RINGS_GPA 0x10000ull
#define DATA_GPA 0x20000ull
#define SRC_LEN 4096u

#define MSI_ADDR 0xfee00000ull
#define VEC_CONFIG 0
#define VEC_QUEUE 1

/* Offsets in the common configuration (virtio 1.2, 4.1.4.3). */
enum {
    DFSELECT = 0x00, DF = 0x04, GFSELECT = 0x08, GF = 0x0c, MSIXCFG = 0x10, NUMQ = 0x12,
    STATUS = 0x14, CFGGEN = 0x15, QSELECT = 0x16, QSIZE = 0x18, QMSIX = 0x1a, QENABLE = 0x1c,
    QNOFF = 0x1e, QDESC = 0x20, QDRIVER = 0x28, QDEVICE = 0x30,
};

typedef struct VirtioTest {
    Accel *accel;
    EventLoop *loop;
    Vm *vm;
    PciBus *bus;
    VirtioDevice *vdev;
    GuardedRam ram;
    char *src_path;
    uint8_t src[SRC_LEN];
    uint8_t devfn;
    /* what the capability walk found (BAR 4 offsets) */
    uint64_t bar;
    uint32_t common, notify, isr, mult;
    uint8_t msix_cap, cfg_cap;
    bool have_common, have_notify, have_isr, have_cfg;
    VirtqDriver drv;
    uint16_t qsize;
} VirtioTest;

static VirtioTest *T;

static void on_stop(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
}

/* ---- guest accesses --------------------------------------------------- */

static uint64_t mmio_read(uint64_t addr, unsigned size)
{
    uint8_t b[8] = { 0 };
    addrspace_dispatch(vm_mmio(T->vm), NULL, addr, b, size, false);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void mmio_write(uint64_t addr, uint64_t v, unsigned size)
{
    uint8_t b[8];
    for (unsigned i = 0; i < size; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    addrspace_dispatch(vm_mmio(T->vm), NULL, addr, b, size, true);
}

static uint32_t cfg_read(uint32_t reg, unsigned size)
{
    return (uint32_t)mmio_read(ECAM_BASE + ((uint64_t)T->devfn << 12) + reg, size);
}

static void cfg_write(uint32_t reg, uint32_t v, unsigned size)
{
    mmio_write(ECAM_BASE + ((uint64_t)T->devfn << 12) + reg, v, size);
}

static uint64_t cc_read(uint32_t off, unsigned size)
{
    return mmio_read(T->bar + T->common + off, size);
}

static void cc_write(uint32_t off, uint64_t v, unsigned size)
{
    mmio_write(T->bar + T->common + off, v, size);
}

static uint8_t status(void)
{
    return (uint8_t)cc_read(STATUS, 1);
}

static void set_status(uint8_t s)
{
    cc_write(STATUS, s, 1);
}

static void cc_write64(uint32_t off, uint64_t v)
{
    cc_write(off, (uint32_t)v, 4);
    cc_write(off + 4, v >> 32, 4);
}

static uint64_t notify_addr(uint16_t q)
{
    cc_write(QSELECT, q, 2);
    return T->bar + T->notify + (uint64_t)cc_read(QNOFF, 2) * T->mult;
}

/* ---- interrupts ------------------------------------------------------- */

static unsigned msi_count(void)
{
    return fake_accel_msi_count(vm_accel_vm(T->vm));
}

/* Events on a vector's irqfd since the last call (the vector must have one:
 * the core binds the vectors in use at DRIVER_OK). */
static uint64_t irqfd_events(unsigned vector)
{
    int fd = pci_msix_vector_irqfd(&T->vdev->pci, vector, NULL);
    ck_assert_int_ge(fd, 0);
    uint64_t n = 0;
    if (read(fd, &n, sizeof n) != sizeof n)
        n = 0;
    return n;
}

static bool intx_level(void)
{
    return fake_accel_irq_level(vm_accel_vm(T->vm),
                                pci_bus_intx_gsi(T->bus, PCI_SLOT(T->devfn), 1));
}

/* ---- fixture ------------------------------------------------------------ */

static void walk_caps(void)
{
    ck_assert(cfg_read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    unsigned guard = 0;
    for (uint8_t p = (uint8_t)cfg_read(PCI_CAPABILITY_LIST, 1); p; p = (uint8_t)cfg_read(p + 1, 1)) {
        ck_assert_uint_lt(++guard, 48);
        uint8_t id = (uint8_t)cfg_read(p, 1);
        if (id == PCI_CAP_ID_MSIX) {
            T->msix_cap = p;
            continue;
        }
        if (id != PCI_CAP_ID_VENDOR)
            continue;
        uint8_t type = (uint8_t)cfg_read(p + 3, 1);
        uint8_t bar = (uint8_t)cfg_read(p + 4, 1);
        uint32_t off = cfg_read(p + 8, 4), len = cfg_read(p + 12, 4);
        ck_assert_uint_ge(cfg_read(p + 2, 1), 16);
        switch (type) {
        case 1:
            ck_assert_uint_eq(bar, 4);
            ck_assert_uint_ge(len, 0x38);
            T->common = off;
            T->have_common = true;
            break;
        case 2:
            ck_assert_uint_eq(bar, 4);
            ck_assert_uint_eq(cfg_read(p + 2, 1), 20);
            T->notify = off;
            T->mult = cfg_read(p + 16, 4);
            ck_assert_uint_ge(len, 2);
            T->have_notify = true;
            break;
        case 3:
            ck_assert_uint_eq(bar, 4);
            T->isr = off;
            T->have_isr = true;
            break;
        case 5:
            T->cfg_cap = p;
            T->have_cfg = true;
            break;
        }
    }
    ck_assert(T->have_common && T->have_notify && T->have_isr && T->have_cfg);
    ck_assert_uint_ne(T->msix_cap, 0);
}

static void setup(void)
{
    T = g_new0(VirtioTest, 1);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) cfg = vm_config_new_default();
    T->accel = fake_accel_new();
    T->loop = evloop_new("control");
    T->vm = vm_new(T->accel, T->loop, cfg, on_stop, T, &err);
    ck_assert_msg(T->vm, "vm_new: %s", err ? err->message : "?");
    vm_set_irq_router(T->vm, irq_router_new(vm_accel_vm(T->vm), NULL, 0, 24, 1023));
    virtq_driver_guarded_ram(vm_memory(T->vm), RAM_GPA, RAM_SIZE, &T->ram);

    PciHostConfig hc = {
        .ecam_base = ECAM_BASE, .ecam_size = ECAM_SIZE, .pio_cf8 = true,
        .mmio32_base = MMIO32_BASE, .mmio32_size = 0x20000000ull,
        .mmio64_base = MMIO64_BASE, .mmio64_size = 0x1000000000ull,
        .io_base = 0xc000, .io_size = 0x4000, .intx_gsi_base = INTX_GSI,
    };
    ck_assert_msg(device_create(T->vm, &pci_host_ops, PCI_HOST_DEFAULT_ID, &hc, &err), "host: %s",
                  err ? err->message : "?");
    T->bus = pci_host_bus(pci_host_find(T->vm, PCI_HOST_DEFAULT_ID));

    for (unsigned i = 0; i < SRC_LEN; i++)
        T->src[i] = (uint8_t)(i * 7 + 3);
    int fd = g_file_open_tmp("nimbus-rng-XXXXXX", &T->src_path, &err);
    ck_assert_msg(fd >= 0, "tmp: %s", err ? err->message : "?");
    ck_assert_int_eq(write(fd, T->src, SRC_LEN), SRC_LEN);
    close(fd);

    RngConfig rc = { .src = T->src_path };
    Device *d = device_create(T->vm, &virtio_rng_ops, "rng0", &rc, &err);
    ck_assert_msg(d, "rng: %s", err ? err->message : "?");
    T->vdev = VIRTIO_DEVICE(d);
    T->devfn = T->vdev->pci.devfn;

    ck_assert_uint_eq(cfg_read(PCI_VENDOR_ID, 2), 0x1af4);
    ck_assert_uint_eq(cfg_read(PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
    ck_assert_uint_eq(cfg_read(PCI_REVISION_ID, 1), 1);
    ck_assert_uint_eq(cfg_read(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
    ck_assert_uint_ge(cfg_read(PCI_SUBSYSTEM_ID, 2), 0x40);
    walk_caps();

    /* BAR 4 is 64-bit memory, placed by the bus; turn decode on. */
    uint32_t lo = cfg_read(PCI_BAR0 + 16, 4);
    ck_assert_uint_eq(lo & 0x7, 0x4);
    T->bar = ((uint64_t)cfg_read(PCI_BAR0 + 20, 4) << 32) | (lo & ~0xfu);
    ck_assert_uint_ne(T->bar, 0);
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void teardown(void)
{
    vm_free(T->vm);
    virtq_driver_guarded_ram_free(&T->ram);
    evloop_free(T->loop);
    accel_close(T->accel);
    g_unlink(T->src_path);
    g_free(T->src_path);
    g_free(T);
    T = NULL;
}

/* MSI-X on, vector 0 (config) and 1 (queue) programmed and unmasked. */
static void msix_enable(void)
{
    uint32_t table = cfg_read(T->msix_cap + PCI_MSIX_TABLE, 4);
    ck_assert_uint_eq(table & 7, 4);
    uint64_t base = T->bar + (table & ~7u);
    for (unsigned v = 0; v < 2; v++) {
        mmio_write(base + v * 16 + 0, MSI_ADDR, 4);
        mmio_write(base + v * 16 + 4, 0, 4);
        mmio_write(base + v * 16 + 8, 0x40 + v, 4);
        mmio_write(base + v * 16 + 12, 0, 4);
    }
    cfg_write(T->msix_cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
}

/* Reset, ACKNOWLEDGE|DRIVER, negotiate `features`; true if FEATURES_OK stuck. */
static bool negotiate(uint64_t features)
{
    set_status(0);
    ck_assert_uint_eq(status(), 0);
    set_status(VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    cc_write(DFSELECT, 0, 4);
    uint64_t offered = cc_read(DF, 4);
    cc_write(DFSELECT, 1, 4);
    offered |= cc_read(DF, 4) << 32;
    ck_assert(offered & (1ull << VIRTIO_F_VERSION_1));
    cc_write(GFSELECT, 0, 4);
    cc_write(GF, (uint32_t)features, 4);
    cc_write(GFSELECT, 1, 4);
    cc_write(GF, (uint32_t)(features >> 32), 4);
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    return status() & VIRTIO_STATUS_FEATURES_OK;
}

/* Queue 0 of `size` entries with the fake driver's rings, enabled. */
static void queue_setup(uint16_t size, uint16_t vector)
{
    T->qsize = size;
    virtq_driver_init(&T->drv, vm_memory(T->vm), size, RINGS_GPA, DATA_GPA, 0x10000);
    cc_write(QSELECT, 0, 2);
    ck_assert_uint_eq(cc_read(QSIZE, 2), VIRTIO_RNG_QUEUE_SIZE);
    cc_write(QSIZE, size, 2);
    ck_assert_uint_eq(cc_read(QSIZE, 2), size);
    cc_write(QMSIX, vector, 2);
    ck_assert_uint_eq(cc_read(QMSIX, 2), vector);
    cc_write64(QDESC, T->drv.desc);
    cc_write64(QDRIVER, T->drv.avail);
    cc_write64(QDEVICE, T->drv.used);
    ck_assert_uint_eq(cc_read(QDESC, 4) | cc_read(QDESC + 4, 4) << 32, T->drv.desc);
    cc_write(QENABLE, 1, 2);
    ck_assert_uint_eq(cc_read(QENABLE, 2), 1);
}

/* The whole Linux-style bring-up with MSI-X; returns the device ready. */
static void bring_up(uint64_t features)
{
    msix_enable();
    ck_assert(negotiate(features));
    cc_write(MSIXCFG, VEC_CONFIG, 2);
    ck_assert_uint_eq(cc_read(MSIXCFG, 2), VEC_CONFIG);
    ck_assert_uint_eq(cc_read(NUMQ, 2), 1);
    queue_setup(16, VEC_QUEUE);
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
               VIRTIO_STATUS_DRIVER_OK);
    ck_assert_uint_eq(status() & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
}

static Gpa post(uint32_t len)
{
    Gpa buf = virtq_driver_alloc(&T->drv, len, 16);
    virtq_driver_fill(&T->drv, buf, 0xee, len);
    VirtqDriverBuf b = { buf, len, true };
    virtq_driver_add(&T->drv, &b, 1);
    return buf;
}

/* Wait (up to 5 s) for the next used element. */
static bool wait_used(uint32_t *id, uint32_t *len)
{
    for (int i = 0; i < 5000; i++) {
        if (virtq_driver_get_used(&T->drv, id, len))
            return true;
        g_usleep(1000);
    }
    return false;
}

static bool wait_status(uint8_t bit)
{
    for (int i = 0; i < 5000; i++) {
        if (status() & bit)
            return true;
        g_usleep(1000);
    }
    return false;
}

static void kick(uint16_t q)
{
    mmio_write(notify_addr(q), q, 2);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_rng_end_to_end)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    Gpa buf = post(64);
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 64);
    uint8_t got[64];
    ck_assert(memory_read(vm_memory(T->vm), buf, got, sizeof got));
    ck_assert_mem_eq(got, T->src, 64);
    ck_assert_uint_ge(irqfd_events(VEC_QUEUE), 1);

    /* The next request continues in the source. */
    buf = post(32);
    kick(0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 32);
    ck_assert(memory_read(vm_memory(T->vm), buf, got, 32));
    ck_assert_mem_eq(got, T->src + 64, 32);
}
END_TEST

START_TEST(test_ioeventfd_path)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    post(16);
    /* What KVM does on a notify write with the ioeventfd registered. */
    uint64_t one = 1;
    ck_assert_int_eq(write(virtio_core_kick_fd(T->vdev, 0), &one, 8), 8);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 16);
}
END_TEST

START_TEST(test_bar_move)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    uint64_t moved = MMIO64_BASE + 0x100000;
    cfg_write(PCI_BAR0 + 16, (uint32_t)moved | 0x4, 4);
    cfg_write(PCI_BAR0 + 20, (uint32_t)(moved >> 32), 4);
    uint64_t where;
    ck_assert(pci_device_bar_mapped(&T->vdev->pci, 4, &where));
    ck_assert_uint_eq(where, moved);
    T->bar = moved;
    ck_assert_uint_eq(cc_read(NUMQ, 2), 1);
    post(8);
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 8);
    /* Decode off and on again (the ioeventfds are re-registered). */
    cfg_write(PCI_COMMAND, 0, 2);
    ck_assert(!pci_device_bar_mapped(&T->vdev->pci, 4, NULL));
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    post(8);
    kick(0);
    ck_assert(wait_used(&id, &len));
}
END_TEST

START_TEST(test_interrupt_suppression)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    virtq_driver_set_avail_flags(&T->drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
    post(8);
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(irqfd_events(VEC_QUEUE), 0);
    virtq_driver_set_avail_flags(&T->drv, 0);
    post(8);
    kick(0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(irqfd_events(VEC_QUEUE), 1);
}
END_TEST

START_TEST(test_event_idx)
{
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX);
    bring_up(f);
    ck_assert(virtio_device_has_feature(T->vdev, VIRTIO_F_RING_EVENT_IDX));
    /* The first completion interrupts (nothing known yet). */
    post(8);
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    irqfd_events(VEC_QUEUE);
    /* used_event = 2: no interrupt when used idx becomes 2, one at 3. */
    virtq_driver_set_used_event(&T->drv, 2);
    post(8);
    kick(0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(irqfd_events(VEC_QUEUE), 0);
    post(8);
    kick(0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(irqfd_events(VEC_QUEUE), 1);
}
END_TEST

START_TEST(test_intx_fallback)
{
    /* MSI-X left disabled: the ISR and INTx carry the interrupt. */
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1));
    queue_setup(8, 0xffff);
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
               VIRTIO_STATUS_DRIVER_OK);
    ck_assert(!intx_level());
    post(8);
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    for (int i = 0; i < 1000 && !intx_level(); i++)
        g_usleep(1000);
    ck_assert(intx_level());
    ck_assert(cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    ck_assert_uint_eq(mmio_read(T->bar + T->isr, 1), 1);
    ck_assert(!intx_level());
    ck_assert_uint_eq(mmio_read(T->bar + T->isr, 1), 0);
}
END_TEST

START_TEST(test_feature_negotiation)
{
    /* A legacy-only driver (no VERSION_1) is refused. */
    ck_assert(!negotiate(0));
    ck_assert_uint_eq(status() & VIRTIO_STATUS_FEATURES_OK, 0);
    /* Features never offered are refused too. */
    ck_assert(!negotiate((1ull << VIRTIO_F_VERSION_1) | (1ull << 40)));
    /* DRIVER_OK without FEATURES_OK: NEEDS_RESET. */
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    /* A proper driver afterwards. */
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_RING_INDIRECT_DESC));
    ck_assert_uint_eq(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
    /* driver_feature is frozen once FEATURES_OK is set. */
    cc_write(GFSELECT, 0, 4);
    cc_write(GF, 0, 4);
    cc_write(GFSELECT, 1, 4);
    ck_assert_uint_eq(cc_read(GF, 4), 1);
    cc_write(GFSELECT, 0, 4);
    ck_assert_uint_eq(cc_read(GF, 4), 1u << VIRTIO_F_RING_INDIRECT_DESC);
}
END_TEST

START_TEST(test_reset_clears_everything)
{
    bring_up((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX));
    post(8);
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    set_status(0);
    ck_assert_uint_eq(status(), 0);
    ck_assert_uint_eq(virtio_device_features(T->vdev), 0);
    cc_write(GFSELECT, 0, 4);
    ck_assert_uint_eq(cc_read(GF, 4), 0);
    ck_assert_uint_eq(cc_read(MSIXCFG, 2), 0xffff);
    ck_assert_uint_eq(cc_read(QSELECT, 2), 0);
    ck_assert_uint_eq(cc_read(QSIZE, 2), VIRTIO_RNG_QUEUE_SIZE);
    ck_assert_uint_eq(cc_read(QENABLE, 2), 0);
    ck_assert_uint_eq(cc_read(QMSIX, 2), 0xffff);
    ck_assert_uint_eq(cc_read(QDESC, 4), 0);
    ck_assert_uint_eq(cc_read(QDEVICE, 4), 0);
    ck_assert(!virtq_is_ready(virtio_device_queue(T->vdev, 0)));
    /* A kick on the reset device does nothing. */
    post(8);
    kick(0);
    g_usleep(20000);
    ck_assert(!virtq_driver_get_used(&T->drv, &id, &len));
    /* And it comes back as new (fresh rings). */
    virtq_driver_fill(&T->drv, RINGS_GPA, 0, virtq_driver_rings_bytes(16));
    bring_up(1ull << VIRTIO_F_VERSION_1);
    post(8);
    kick(0);
    ck_assert(wait_used(&id, &len));

    /* A VM reset also resets the PCI function: decode off, MSI-X off. */
    vm_reset_devices(T->vm);
    ck_assert(!pci_device_bar_mapped(&T->vdev->pci, 4, NULL));
    ck_assert(!pci_msix_enabled(&T->vdev->pci));
    ck_assert_uint_eq(virtio_device_status(T->vdev), 0);
}
END_TEST

START_TEST(test_pci_cfg_window)
{
    uint8_t c = T->cfg_cap;
    cfg_write(c + 4, 4, 1);
    cfg_write(c + 8, T->common + NUMQ, 4);
    cfg_write(c + 12, 2, 4);
    ck_assert_uint_eq(cfg_read(c + 16, 2), 1);
    /* queue_select through the window, read back through the BAR. */
    cfg_write(c + 8, T->common + QSELECT, 4);
    cfg_write(c + 16, 7, 2);
    ck_assert_uint_eq(cc_read(QSELECT, 2), 7);
    ck_assert_uint_eq(cc_read(QSIZE, 2), 0); /* no such queue */
    /* A bad window reads all-ones and writes nothing. */
    cfg_write(c + 12, 3, 4);
    ck_assert_uint_eq(cfg_read(c + 16, 4), 0xffffffffu);
    cfg_write(c + 4, 2, 1);
    cfg_write(c + 12, 2, 4);
    cfg_write(c + 16, 0, 2);
    ck_assert_uint_eq(cc_read(QSELECT, 2), 7);
}
END_TEST

/* ---- hostile drivers ------------------------------------------------------ */

START_TEST(test_hostile_queue_size)
{
    msix_enable();
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1));
    cc_write(MSIXCFG, VEC_CONFIG, 2);
    unsigned before = msi_count();
    cc_write(QSELECT, 0, 2);
    cc_write(QSIZE, 100, 2);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_gt(msi_count(), before); /* configuration interrupt */
    ck_assert_uint_eq(mmio_read(T->bar + T->isr, 1) & 2, 2);
    /* Bigger than the maximum, and 0, are refused the same way. */
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1));
    cc_write(QSIZE, 512, 2);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1));
    cc_write(QSIZE, 0, 2);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    /* A device in NEEDS_RESET does not start. */
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
               VIRTIO_STATUS_DRIVER_OK);
    ck_assert(!g_atomic_int_get(&T->vdev->core->active));
}
END_TEST

START_TEST(test_hostile_ring_outside_ram)
{
    msix_enable();
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1));
    cc_write(MSIXCFG, VEC_CONFIG, 2);
    unsigned before = msi_count();
    cc_write(QSELECT, 0, 2);
    cc_write(QSIZE, 16, 2);
    cc_write64(QDESC, RAM_SIZE + 0x1000); /* past the end of RAM */
    cc_write64(QDRIVER, RINGS_GPA + 0x1000);
    cc_write64(QDEVICE, RINGS_GPA + 0x2000);
    cc_write(QENABLE, 1, 2);
    ck_assert_uint_eq(cc_read(QENABLE, 2), 0);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_gt(msi_count(), before);
    /* A ring straddling the end of RAM, and a misaligned one. */
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1));
    cc_write64(QDESC, RAM_SIZE - 16);
    cc_write64(QDRIVER, RINGS_GPA + 0x1000);
    cc_write64(QDEVICE, RINGS_GPA + 0x2000);
    cc_write(QENABLE, 1, 2);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert(negotiate(1ull << VIRTIO_F_VERSION_1));
    cc_write64(QDESC, RINGS_GPA + 8);
    cc_write(QENABLE, 1, 2);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_eq(cc_read(QENABLE, 2), 0);
}
END_TEST

START_TEST(test_hostile_descriptor)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    ck_assert_uint_eq(irqfd_events(VEC_CONFIG), 0);
    uint8_t gen = (uint8_t)cc_read(CFGGEN, 1);
    VirtqDriverBuf b = { 0x7fff00000000ull, 64, true };
    virtq_driver_add(&T->drv, &b, 1);
    kick(0);
    ck_assert(wait_status(VIRTIO_STATUS_NEEDS_RESET));
    ck_assert_uint_eq(irqfd_events(VEC_CONFIG), 1);
    ck_assert_uint_eq((uint8_t)cc_read(CFGGEN, 1), gen);
    /* The device stopped: a good buffer is not consumed. */
    post(8);
    kick(0);
    g_usleep(20000);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->drv, &id, &len));
    /* The driver resets and starts over. */
    virtq_driver_fill(&T->drv, RINGS_GPA, 0, virtq_driver_rings_bytes(16));
    bring_up(1ull << VIRTIO_F_VERSION_1);
    ck_assert_uint_eq(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
    post(8);
    kick(0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 8);
}
END_TEST

START_TEST(test_hostile_register_access)
{
    /* Odd sizes and offsets are defined behaviour. */
    ck_assert_uint_eq(cc_read(DF + 2, 2), cc_read(DF, 4) >> 16);
    ck_assert_uint_eq(cc_read(DF + 1, 2), 0xffff); /* unaligned: refused by the dispatcher */
    cc_write(STATUS, 0xffff, 2);          /* spans two fields: dropped */
    ck_assert_uint_eq(status(), 0);
    ck_assert_uint_eq(cc_read(0x38, 2), 0xffff);
    ck_assert_uint_eq(cc_read(0x800, 4), 0xffffffffu);
    cc_write(NUMQ, 9, 2);
    ck_assert_uint_eq(cc_read(NUMQ, 2), 1);
    cc_write(QMSIX, 99, 2);               /* no such vector */
    ck_assert_uint_eq(cc_read(QMSIX, 2), 0xffff);
    mmio_write(T->bar + T->notify + 0x100, 0, 2); /* no such queue */
    mmio_write(T->bar + T->notify, 0, 2);         /* queue not enabled */
    ck_assert_uint_eq(mmio_read(T->bar + 0x2000, 4), 0xffffffffu); /* rng has no device config */
}
END_TEST

static uint64_t rnd_state;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

START_TEST(test_hostile_random_accesses)
{
    /* Random accesses to the virtio structures, random ring contents and
     * kicks: whatever happens, no crash, no access outside RAM (guarded),
     * and the device still comes back after a reset. */
    rnd_state = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
    bring_up(1ull << VIRTIO_F_VERSION_1);
    static const unsigned sizes[] = { 1, 2, 4, 8 };
    for (unsigned i = 0; i < 20000; i++) {
        uint64_t r = rnd();
        unsigned size = sizes[r & 3];
        uint64_t off = ((r >> 8) % 0x4100) & ~(uint64_t)(size - 1);
        if (off == T->common + STATUS && (r & 0x10000))
            continue; /* keep some runs going without resets */
        uint64_t v = rnd();
        if ((r >> 40) & 1)
            mmio_write(T->bar + off, v, size);
        else
            mmio_read(T->bar + off, size);
        if ((i & 63) == 0) {
            /* scribble on the rings */
            uint64_t at = RINGS_GPA + (rnd() % virtq_driver_rings_bytes(16));
            uint8_t byte = (uint8_t)rnd();
            memory_write(vm_memory(T->vm), at, &byte, 1);
            kick(0);
        }
    }
    g_usleep(20000);
    virtq_driver_fill(&T->drv, RINGS_GPA, 0, virtq_driver_rings_bytes(16));
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    bring_up(1ull << VIRTIO_F_VERSION_1);
    post(8);
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
}
END_TEST

START_TEST(test_pause_resume)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    virtio_device_pause(T->vdev);
    post(8);
    kick(0);
    g_usleep(20000);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->drv, &id, &len));
    virtio_device_resume(T->vdev);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 8);
}
END_TEST

static Suite *virtio_pci_suite(void)
{
    Suite *s = suite_create("virtio_pci");
    TCase *tc = tcase_create("driver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rng_end_to_end);
    tcase_add_test(tc, test_ioeventfd_path);
    tcase_add_test(tc, test_bar_move);
    tcase_add_test(tc, test_interrupt_suppression);
    tcase_add_test(tc, test_event_idx);
    tcase_add_test(tc, test_intx_fallback);
    tcase_add_test(tc, test_feature_negotiation);
    tcase_add_test(tc, test_reset_clears_everything);
    tcase_add_test(tc, test_pci_cfg_window);
    tcase_add_test(tc, test_pause_resume);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("hostile");
    tcase_add_checked_fixture(th, setup, teardown);
    tcase_set_timeout(th, 60);
    tcase_add_test(th, test_hostile_queue_size);
    tcase_add_test(th, test_hostile_ring_outside_ram);
    tcase_add_test(th, test_hostile_descriptor);
    tcase_add_test(th, test_hostile_register_access);
    tcase_add_loop_test(th, test_hostile_random_accesses, 0, 4);
    suite_add_tcase(s, th);
    return s;
}

CHECK_MAIN(virtio_pci_suite)
