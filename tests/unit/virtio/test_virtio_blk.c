/* virtio-blk end to end: the test plays the guest driver through ECAM and
 * BAR accesses (the fixture of test_virtio_pci.c), with a split virtqueue in
 * guarded guest RAM and the device's I/O thread doing the work on a
 * temporary image. Every loop test runs with the sync engine (_i = 0) and
 * with io_uring (_i = 1, through NIMBUS_BLOCK_ENGINE). No KVM. */
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/blk/blk_req.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_internal.h"
#include "hypervisor/le.h"
#include "hypervisor/vm.h"
#include "pci/host.h"
#include "pci/msix.h"
#include "support/check_main.h"
#include "support/fake_accel.h"
#include "support/virtq_driver.h"

#include <check.h>
#include <fcntl.h>
#include <glib/gstdio.h>
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
#define IMG_SIZE (1u << 20)

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
    char *img;
    uint32_t devcfg;
    bool have_devcfg;
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
        case 4:
            ck_assert_uint_eq(bar, 4);
            T->devcfg = off;
            T->have_devcfg = true;
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

    int fd = g_file_open_tmp("nimbus-blk-XXXXXX", &T->img, &err);
    ck_assert_msg(fd >= 0, "tmp: %s", err ? err->message : "?");
    ck_assert_int_eq(ftruncate(fd, IMG_SIZE), 0);
    close(fd);
}

/* Create the disk (after setup; tests choose read-only and the engine). */
static void create_disk(bool readonly, uint32_t num_queues)
{
    g_autoptr(GError) err = NULL;
    DiskConfig dc = { .path = T->img, .readonly = readonly, .num_queues = num_queues,
                      .queue_size = 128, .serial = (char *)"nimbus-serial-0001" };
    Device *d = device_create(T->vm, &virtio_blk_ops, "disk0", &dc, &err);
    ck_assert_msg(d, "blk: %s", err ? err->message : "?");
    T->vdev = VIRTIO_DEVICE(d);
    T->devfn = T->vdev->pci.devfn;

    ck_assert_uint_eq(cfg_read(PCI_VENDOR_ID, 2), 0x1af4);
    ck_assert_uint_eq(cfg_read(PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_BLOCK);
    walk_caps();
    ck_assert(T->have_devcfg);

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
    g_unlink(T->img);
    g_free(T->img);
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
    ck_assert_uint_eq(cc_read(QSIZE, 2), 128);
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
    queue_setup(64, VEC_QUEUE);
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
               VIRTIO_STATUS_DRIVER_OK);
    ck_assert_uint_eq(status() & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
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

/* ---- virtio-blk requests ------------------------------------------------ */

#define F_SEG_MAX (1ull << 2)
#define F_RO (1ull << 5)
#define F_BLK_SIZE (1ull << 6)
#define F_FLUSH (1ull << 9)
#define F_MQ (1ull << 12)
#define F_DISCARD (1ull << 13)
#define F_WRITE_ZEROES (1ull << 14)
#define F_ALL (F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_DISCARD | F_WRITE_ZEROES)

static void use_engine(int i)
{
    g_setenv("NIMBUS_BLOCK_ENGINE", i ? "uring" : "sync", TRUE);
}

static uint64_t offered_features(void)
{
    cc_write(DFSELECT, 0, 4);
    uint64_t f = cc_read(DF, 4);
    cc_write(DFSELECT, 1, 4);
    return f | cc_read(DF, 4) << 32;
}

static uint64_t devcfg(uint32_t off, unsigned size)
{
    return mmio_read(T->bar + T->devcfg + off, size);
}

typedef struct Req {
    Gpa hdr, data, status;
    uint32_t len;
} Req;

/* Post {header} [data] {status}; data is writable for IN and GET_ID. */
static Req post_req(uint32_t type, uint64_t sector, const void *out, uint32_t len, bool writable)
{
    Req r = { .len = len };
    uint8_t h[16] = { 0 };
    le_store32(h, type);
    le_store64(h + 8, sector);
    r.hdr = virtq_driver_alloc(&T->drv, 16, 16);
    ck_assert(memory_write(vm_memory(T->vm), r.hdr, h, 16));
    VirtqDriverBuf b[3];
    unsigned n = 0;
    b[n++] = (VirtqDriverBuf){ r.hdr, 16, false };
    if (len) {
        r.data = virtq_driver_alloc(&T->drv, len, 512);
        if (out)
            ck_assert(memory_write(vm_memory(T->vm), r.data, out, len));
        else
            virtq_driver_fill(&T->drv, r.data, 0xee, len);
        b[n++] = (VirtqDriverBuf){ r.data, len, writable };
    }
    r.status = virtq_driver_alloc(&T->drv, 1, 1);
    virtq_driver_fill(&T->drv, r.status, 0x77, 1);
    b[n++] = (VirtqDriverBuf){ r.status, 1, true };
    virtq_driver_add(&T->drv, b, n);
    return r;
}

/* Kick, wait for the request's completion; returns the status byte. */
static uint8_t complete(const Req *r, uint32_t *used_len)
{
    kick(0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    if (used_len)
        *used_len = len;
    uint8_t st;
    ck_assert(memory_read(vm_memory(T->vm), r->status, &st, 1));
    return st;
}

static uint8_t do_req(uint32_t type, uint64_t sector, const void *out, uint32_t len,
                      bool writable, uint32_t *used_len)
{
    Req r = post_req(type, sector, out, len, writable);
    return complete(&r, used_len);
}

static void file_read(uint64_t off, void *buf, size_t len)
{
    int fd = open(T->img, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

START_TEST(test_config_and_features)
{
    use_engine(_i);
    create_disk(false, 2);
    uint64_t f = offered_features();
    ck_assert_uint_eq(f & F_ALL, F_ALL);
    ck_assert(f & F_MQ);
    ck_assert(!(f & F_RO));
    ck_assert_uint_eq(devcfg(0, 4) | devcfg(4, 4) << 32, IMG_SIZE / 512);
    ck_assert_uint_eq(devcfg(12, 4), 126);  /* seg_max = queue_size - 2 */
    ck_assert_uint_eq(devcfg(20, 4), 512);  /* blk_size */
    ck_assert_uint_eq(devcfg(34, 2), 2);    /* num_queues */
    ck_assert_uint_ne(devcfg(36, 4), 0);    /* max_discard_sectors */
    ck_assert_uint_ne(devcfg(40, 4), 0);    /* max_discard_seg */
    ck_assert_uint_eq(devcfg(44, 4), 1);    /* discard_sector_alignment */
    ck_assert_uint_ne(devcfg(48, 4), 0);    /* max_write_zeroes_sectors */
    ck_assert_uint_eq(devcfg(56, 1), 1);    /* write_zeroes_may_unmap */
}
END_TEST

START_TEST(test_rw_flush_get_id)
{
    use_engine(_i);
    create_disk(false, 1);
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    uint8_t w[4096], back[4096];
    for (unsigned i = 0; i < sizeof w; i++)
        w[i] = (uint8_t)(i * 13 + 1);
    uint32_t len;
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 8, w, sizeof w, false, &len), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, &len), VIRTIO_BLK_S_OK);
    file_read(8 * 512, back, sizeof back);
    ck_assert_mem_eq(back, w, sizeof w);

    Req r = post_req(VIRTIO_BLK_T_IN, 8, NULL, 4096, true);
    ck_assert_uint_eq(complete(&r, &len), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(len, 4097);
    ck_assert(memory_read(vm_memory(T->vm), r.data, back, sizeof back));
    ck_assert_mem_eq(back, w, sizeof w);

    r = post_req(VIRTIO_BLK_T_GET_ID, 0, NULL, 20, true);
    ck_assert_uint_eq(complete(&r, &len), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(len, 21);
    char id[21] = { 0 };
    ck_assert(memory_read(vm_memory(T->vm), r.data, id, 20));
    ck_assert_str_eq(id, "nimbus-serial-0001");

    /* Write zeroes and discard over what was written. */
    uint8_t seg[16];
    le_store64(seg, 8);
    le_store32(seg + 8, 4);
    le_store32(seg + 12, 0);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
                      VIRTIO_BLK_S_OK);
    le_store64(seg, 12);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_OK);
    uint8_t zero[4096] = { 0 };
    file_read(8 * 512, back, sizeof back);
    ck_assert_mem_eq(back, zero, sizeof back);

    VirtioBlkCounters c;
    virtio_blk_get_counters(&T->vdev->pci.dev, &c);
    ck_assert_uint_eq(c.write_ops, 1);
    ck_assert_uint_eq(c.write_bytes, 4096);
    ck_assert_uint_eq(c.read_ops, 1);
    ck_assert_uint_eq(c.read_bytes, 4096);
    ck_assert_uint_eq(c.flush_ops, 1);
    ck_assert_uint_eq(c.get_id_ops, 1);
    ck_assert_uint_eq(c.write_zeroes_ops, 1);
    ck_assert_uint_eq(c.discard_ops, 1);
    ck_assert_uint_ge(irqfd_events(VEC_QUEUE), 1);
}
END_TEST

START_TEST(test_errors_keep_device_alive)
{
    use_engine(_i);
    create_disk(false, 1);
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    /* Beyond the capacity: IOERR. Unknown type: UNSUPP. Neither resets. */
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, IMG_SIZE / 512, NULL, 512, true, NULL),
                      VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, UINT64_MAX, NULL, 512, true, NULL),
                      VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(do_req(77, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_GET_ID, 0, NULL, 8, true, NULL), VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
    VirtioBlkCounters c;
    virtio_blk_get_counters(&T->vdev->pci.dev, &c);
    ck_assert_uint_eq(c.io_errors, 3);
    ck_assert_uint_eq(c.unsupported, 1);
    /* No status byte (only readable buffers): DEVICE_NEEDS_RESET. */
    Gpa h = virtq_driver_alloc(&T->drv, 16, 16);
    virtq_driver_fill(&T->drv, h, 0, 16);
    VirtqDriverBuf b = { h, 16, false };
    virtq_driver_add(&T->drv, &b, 1);
    kick(0);
    ck_assert(wait_status(VIRTIO_STATUS_NEEDS_RESET));
    /* A reset and a new bring-up work again. */
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_readonly_disk)
{
    use_engine(_i);
    create_disk(true, 1);
    uint64_t f = offered_features();
    ck_assert(f & F_RO);
    ck_assert(!(f & (F_DISCARD | F_WRITE_ZEROES | F_MQ)));
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_RO | F_FLUSH);
    uint8_t w[512] = { 1, 2, 3 };
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 0, w, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    uint8_t seg[16] = { 0 };
    le_store32(seg + 8, 1);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 0, NULL, 512, true, NULL), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_OK);
    uint8_t back[512], zero[512] = { 0 };
    file_read(0, back, 512);
    ck_assert_mem_eq(back, zero, 512);
}
END_TEST

/* Many requests in flight, then pause (drains) and resume. */
START_TEST(test_many_and_pause)
{
    use_engine(_i);
    create_disk(false, 1);
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    enum { N = 20 };
    static uint8_t w[N][1024];
    for (int k = 0; k < N; k++) {
        memset(w[k], k + 1, sizeof w[k]);
        post_req(VIRTIO_BLK_T_OUT, (uint64_t)k * 2, w[k], sizeof w[k], false);
    }
    kick(0);
    /* Pause may come before or after the I/O thread saw the kick: whatever
     * it had popped is complete once pause returns, and nothing more moves
     * until resume, which picks up the rest. */
    ck_assert(T->vdev->pci.dev.ops->pause(&T->vdev->pci.dev, NULL));
    uint16_t done_at_pause = virtq_driver_used_idx(&T->drv);
    ck_assert_uint_le(done_at_pause, N);
    g_usleep(20000);
    ck_assert_uint_eq(virtq_driver_used_idx(&T->drv), done_at_pause);
    ck_assert(T->vdev->pci.dev.ops->resume(&T->vdev->pci.dev, NULL));
    uint8_t back[1024];
    for (int k = 0; k < N; k++) {
        uint32_t id, len;
        ck_assert(wait_used(&id, &len));
        file_read((uint64_t)k * 1024, back, sizeof back);
        ck_assert_mem_eq(back, w[k], sizeof back);
    }
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_bad_images)
{
    g_autoptr(GError) err = NULL;
    int fd = open(T->img, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    close(fd);
    DiskConfig dc = { .path = T->img, .num_queues = 1, .queue_size = 128 };
    ck_assert_ptr_null(device_create(T->vm, &virtio_blk_ops, "disk0", &dc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, T->img));
    g_clear_error(&err);
    dc.queue_size = 100;
    ck_assert_ptr_null(device_create(T->vm, &virtio_blk_ops, "disk0", &dc, &err));
    g_clear_error(&err);
    dc.path = (char *)"/nonexistent/disk.img";
    dc.queue_size = 128;
    ck_assert_ptr_null(device_create(T->vm, &virtio_blk_ops, "disk0", &dc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "/nonexistent/disk.img"));
}
END_TEST

static Suite *virtio_blk_suite(void)
{
    Suite *s = suite_create("virtio_blk");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_config_and_features, 0, 2);
    tcase_add_loop_test(tc, test_rw_flush_get_id, 0, 2);
    tcase_add_loop_test(tc, test_errors_keep_device_alive, 0, 2);
    tcase_add_loop_test(tc, test_readonly_disk, 0, 2);
    tcase_add_loop_test(tc, test_many_and_pause, 0, 2);
    tcase_add_test(tc, test_bad_images);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(virtio_blk_suite)
