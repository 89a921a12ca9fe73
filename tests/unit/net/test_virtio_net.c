/* virtio-net end to end: the test plays the guest driver through ECAM and
 * BAR accesses (the harness of tests/unit/virtio/test_virtio_blk.c), with
 * split virtqueues in guarded guest RAM, the device's I/O thread doing the
 * work, and a real tap made by the device whose other side the test reaches
 * through an AF_PACKET socket. Each test runs in its own process and, as
 * root, in a private network namespace. Skipped (77) without a usable tap. */
#include "devices/net/tap.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_packet.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_internal.h"
#include "hypervisor/le.h"
#include "hypervisor/vm.h"
#include "hypervisor/vm_config.h"
#include "pci/host.h"
#include "pci/msix.h"
#include "support/check_main.h"
#include "support/fake_accel.h"
#include "support/virtq_driver.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECAM_BASE 0xb0000000ull
#define ECAM_SIZE (16ull << 20)
#define MMIO32_BASE 0xc0000000ull
#define MMIO64_BASE 0x10000000000ull
#define INTX_GSI 16u
#define RAM_GPA 0x0ull
#define RAM_SIZE (4ull << 20)

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
    uint32_t devcfg;
    bool have_devcfg;
    uint8_t devfn;
    /* what the capability walk found (BAR 4 offsets) */
    uint64_t bar;
    uint32_t common, notify, isr, mult;
    uint8_t msix_cap, cfg_cap;
    bool have_common, have_notify, have_isr, have_cfg;
    VirtqDriver drv[5];
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

}

/* Create the NIC on a new tap (after setup). */
static void create_nic(uint32_t num_queues)
{
    g_autoptr(GError) err = NULL;
    NetConfig nc = { .ip = (char *)"10.211.79.1", .mask = (char *)"255.255.255.0",
                     .mac = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }, .mac_set = true,
                     .num_queues = num_queues, .queue_size = 128 };
    Device *d = device_create(T->vm, &virtio_net_ops, "net0", &nc, &err);
    ck_assert_msg(d, "net: %s", err ? err->message : "?");
    T->vdev = VIRTIO_DEVICE(d);
    T->devfn = T->vdev->pci.devfn;
    ck_assert_uint_eq(cfg_read(PCI_VENDOR_ID, 2), 0x1af4);
    ck_assert_uint_eq(cfg_read(PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_NET);
    walk_caps();
    ck_assert(T->have_devcfg);
    uint32_t lo = cfg_read(PCI_BAR0 + 16, 4);
    T->bar = ((uint64_t)cfg_read(PCI_BAR0 + 20, 4) << 32) | (lo & ~0xfu);
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void teardown(void)
{
    vm_free(T->vm);
    virtq_driver_guarded_ram_free(&T->ram);
    evloop_free(T->loop);
    accel_close(T->accel);
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

/* Queue `q` with its own rings and data area, enabled. */
static void queue_setup(uint16_t q, uint16_t size, uint16_t vector)
{
    Gpa rings = 0x10000ull + q * 0x10000ull, data = 0x100000ull + q * 0x80000ull;
    virtq_driver_init(&T->drv[q], vm_memory(T->vm), size, rings, data, 0x80000);
    cc_write(QSELECT, q, 2);
    cc_write(QSIZE, size, 2);
    cc_write(QMSIX, vector, 2);
    cc_write64(QDESC, T->drv[q].desc);
    cc_write64(QDRIVER, T->drv[q].avail);
    cc_write64(QDEVICE, T->drv[q].used);
    cc_write(QENABLE, 1, 2);
    ck_assert_uint_eq(cc_read(QENABLE, 2), 1);
}

static void bring_up(uint64_t features, unsigned nqueues)
{
    msix_enable();
    ck_assert(negotiate(features));
    cc_write(MSIXCFG, VEC_CONFIG, 2);
    for (unsigned q = 0; q < nqueues; q++)
        queue_setup((uint16_t)q, 64, VEC_QUEUE);
    set_status(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
               VIRTIO_STATUS_DRIVER_OK);
    ck_assert_uint_eq(status() & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
}

static bool wait_used(unsigned q, uint32_t *id, uint32_t *len)
{
    for (int i = 0; i < 5000; i++) {
        if (virtq_driver_get_used(&T->drv[q], id, len))
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


#define TEST_ETHERTYPE 0x88b5
#define F(x) NET_FEATURE(VIRTIO_NET_F_##x)
#define BASE_FEATURES                                                                     \
    ((1ull << VIRTIO_F_VERSION_1) | F(MAC) | F(STATUS) | F(MRG_RXBUF) | F(CSUM) |         \
     F(GUEST_CSUM))

static void net_setup(void)
{
    if (unshare(CLONE_NEWNET) == 0) {
        /* Keep IPv6 autoconfiguration chatter off the new tap. */
        int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
        if (fd >= 0) {
            (void)!write(fd, "1", 1);
            close(fd);
        }
    }
    setup();
}

static uint64_t devcfg(uint32_t off, unsigned size)
{
    return mmio_read(T->bar + T->devcfg + off, size);
}

static uint64_t offered_features(void)
{
    cc_write(DFSELECT, 0, 4);
    uint64_t f = cc_read(DF, 4);
    cc_write(DFSELECT, 1, 4);
    return f | cc_read(DF, 4) << 32;
}

static int packet_socket(void)
{
    const char *ifname = virtio_net_tap_name(&T->vdev->pci.dev);
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
    ck_assert_msg(s >= 0, "AF_PACKET: %s", g_strerror(errno));
    struct sockaddr_ll sll = { .sll_family = AF_PACKET,
                               .sll_protocol = htons(TEST_ETHERTYPE),
                               .sll_ifindex = (int)if_nametoindex(ifname) };
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sll, sizeof sll), 0);
    return s;
}

static size_t make_eth(uint8_t *f, size_t payload, uint8_t seed)
{
    memset(f, 0xff, 6);
    memcpy(f + 6, (uint8_t[]){ 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }, 6);
    f[12] = TEST_ETHERTYPE >> 8;
    f[13] = TEST_ETHERTYPE & 0xff;
    for (size_t i = 0; i < payload; i++)
        f[14 + i] = (uint8_t)(seed + i);
    return 14 + payload;
}

static Gpa rx_gpa[128];

static void rx_post(uint32_t len)
{
    VirtqDriverBuf b = { virtq_driver_alloc(&T->drv[0], len, 16), len, true };
    uint16_t head = virtq_driver_add(&T->drv[0], &b, 1);
    rx_gpa[head] = b.gpa;
}

START_TEST(test_config_and_features)
{
    create_nic(2);
    uint64_t f = offered_features();
    uint64_t want = F(MAC) | F(STATUS) | F(MRG_RXBUF) | F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) |
                    F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6);
    ck_assert_uint_eq(f & want, want);
    ck_assert(!(f & F(MQ)) && !(f & F(CTRL_VQ)));
    ck_assert(f & (1ull << VIRTIO_F_VERSION_1));
    static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_eq(devcfg(i, 1), mac[i]);
    ck_assert_uint_eq(devcfg(NET_CFG_STATUS, 2), NET_STATUS_LINK_UP);
    ck_assert_uint_eq(devcfg(NET_CFG_MAX_VQ_PAIRS, 2), 1);
    ck_assert(g_str_has_prefix(virtio_net_tap_name(&T->vdev->pci.dev), "nimbus"));
    /* A dependency broken (GUEST_TSO4 without GUEST_CSUM): FEATURES_OK refused. */
    msix_enable();
    ck_assert(!negotiate((1ull << VIRTIO_F_VERSION_1) | F(GUEST_TSO4)));
    ck_assert(negotiate(BASE_FEATURES | F(GUEST_TSO4)));
}
END_TEST

START_TEST(test_transmit_and_receive)
{
    create_nic(2);
    bring_up(BASE_FEATURES, 2);
    int ps = packet_socket();

    /* Guest -> host. */
    uint8_t frame[NET_HDR_LEN + 256] = { 0 };
    size_t elen = make_eth(frame + NET_HDR_LEN, 200, 3);
    VirtqDriverBuf tb = { virtq_driver_alloc(&T->drv[1], NET_HDR_LEN + elen, 16),
                          (uint32_t)(NET_HDR_LEN + elen), false };
    ck_assert(memory_write(vm_memory(T->vm), tb.gpa, frame, NET_HDR_LEN + elen));
    virtq_driver_add(&T->drv[1], &tb, 1);
    kick(1);
    uint32_t id, len;
    ck_assert(wait_used(1, &id, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_ge(irqfd_events(VEC_QUEUE), 1); /* the used buffer was signalled */
    struct pollfd p = { .fd = ps, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    uint8_t got[2048];
    ck_assert_int_eq(recv(ps, got, sizeof got, 0), (ssize_t)elen);
    ck_assert_mem_eq(got, frame + NET_HDR_LEN, elen);

    /* Host -> guest. */
    for (int i = 0; i < 16; i++)
        rx_post(1536);
    kick(0);
    elen = make_eth(frame, 100, 77);
    struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE),
                              .sll_ifindex = (int)if_nametoindex(
                                  virtio_net_tap_name(&T->vdev->pci.dev)),
                              .sll_halen = 6 };
    memset(to.sll_addr, 0xff, 6);
    ck_assert_int_eq(sendto(ps, frame, elen, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)elen);
    bool found = false;
    for (int n = 0; n < 16 && !found; n++) {
        ck_assert(wait_used(0, &id, &len));
        ck_assert_uint_ge(len, NET_HDR_LEN);
        ck_assert(memory_read(vm_memory(T->vm), rx_gpa[id], got, len));
        ck_assert_uint_eq(le_load16(got + NET_HDR_OFF_NUM_BUFFERS), 1);
        if (len == NET_HDR_LEN + elen && !memcmp(got + NET_HDR_LEN, frame, elen))
            found = true;
    }
    ck_assert(found);
    NetCounters c;
    virtio_net_counters(&T->vdev->pci.dev, &c);
    ck_assert_uint_eq(c.tx_frames, 1);
    ck_assert_uint_eq(c.tx_bytes, 214);
    ck_assert_uint_ge(c.rx_frames, 1);
    ck_assert_uint_eq(c.tx_dropped, 0);
    close(ps);
}
END_TEST

/* One control command on queue `q`; returns the ack byte. */
static uint8_t ctrl_cmd(unsigned q, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    uint8_t out[16] = { cls, cmd };
    if (len)
        memcpy(out + 2, data, len);
    VirtqDriverBuf b[2] = {
        { virtq_driver_alloc(&T->drv[q], 2 + len, 16), 2 + len, false },
        { virtq_driver_alloc(&T->drv[q], 1, 1), 1, true },
    };
    ck_assert(memory_write(vm_memory(T->vm), b[0].gpa, out, 2 + len));
    virtq_driver_fill(&T->drv[q], b[1].gpa, 0x77, 1);
    virtq_driver_add(&T->drv[q], b, 2);
    kick((uint16_t)q);
    uint32_t id, used;
    ck_assert(wait_used(q, &id, &used));
    ck_assert_uint_eq(used, 1);
    uint8_t ack;
    ck_assert(memory_read(vm_memory(T->vm), b[1].gpa, &ack, 1));
    return ack;
}

START_TEST(test_multiqueue_control)
{
    create_nic(4);
    uint64_t f = offered_features();
    ck_assert(f & F(MQ));
    ck_assert(f & F(CTRL_VQ));
    ck_assert_uint_eq(devcfg(NET_CFG_MAX_VQ_PAIRS, 2), 2);
    bring_up(BASE_FEATURES | F(MQ) | F(CTRL_VQ) | F(CTRL_GUEST_OFFLOADS), 5);
    uint8_t two[2] = { 2, 0 }, three[2] = { 3, 0 }, zero[2] = { 0, 0 };
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, two, 2), NET_CTRL_OK);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, three, 2),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, zero, 2),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, two, 1),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, 9, 0, NULL, 0), NET_CTRL_ERR);
    uint8_t offl[8] = { 0 };
    le_store64(offl, F(GUEST_CSUM));
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_GUEST_OFFLOADS, NET_CTRL_GUEST_OFFLOADS_SET, offl, 8),
                      NET_CTRL_OK);
    le_store64(offl, F(GUEST_TSO4)); /* not negotiated */
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_GUEST_OFFLOADS, NET_CTRL_GUEST_OFFLOADS_SET, offl, 8),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, (uint8_t[]){ 1, 0 }, 2),
                      NET_CTRL_OK);

    /* A command without an ack byte is a driver bug: NEEDS_RESET. */
    VirtqDriverBuf b = { virtq_driver_alloc(&T->drv[4], 4, 16), 4, false };
    virtq_driver_add(&T->drv[4], &b, 1);
    kick(4);
    ck_assert(wait_status(VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(test_small_mergeable_buffer_needs_reset)
{
    create_nic(2);
    bring_up(BASE_FEATURES, 2);
    VirtqDriverBuf b = { virtq_driver_alloc(&T->drv[0], 8, 16), 8, true };
    virtq_driver_add(&T->drv[0], &b, 1);
    kick(0);
    int ps = packet_socket();
    uint8_t frame[64];
    size_t elen = make_eth(frame, 40, 0);
    struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE),
                              .sll_ifindex = (int)if_nametoindex(
                                  virtio_net_tap_name(&T->vdev->pci.dev)),
                              .sll_halen = 6 };
    memset(to.sll_addr, 0xff, 6);
    ck_assert_int_eq(sendto(ps, frame, elen, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)elen);
    ck_assert(wait_status(VIRTIO_STATUS_NEEDS_RESET));
    /* A reset and a fresh bring-up work again. */
    bring_up(BASE_FEATURES, 2);
    ck_assert(!(status() & VIRTIO_STATUS_NEEDS_RESET));
    close(ps);
}
END_TEST

START_TEST(test_bad_configs)
{
    g_autoptr(GError) err = NULL;
    NetConfig nc = { .num_queues = 3 };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "num_queues"));
    g_clear_error(&err);
    nc = (NetConfig){ .queue_size = 100 };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "queue_size"));
    g_clear_error(&err);
    nc = (NetConfig){ .tap = (char *)"nbt-nosuch" };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "no such"));
    g_clear_error(&err);
    nc = (NetConfig){ .tap = (char *)"lo", .ip = (char *)"10.0.0.1" };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "ip="));
}
END_TEST

static Suite *virtio_net_suite(void)
{
    Suite *s = suite_create("virtio_net");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_checked_fixture(tc, net_setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_config_and_features);
    tcase_add_test(tc, test_transmit_and_receive);
    tcase_add_test(tc, test_multiqueue_control);
    tcase_add_test(tc, test_small_mergeable_buffer_needs_reset);
    tcase_add_test(tc, test_bad_configs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    GError *err = NULL;
    Tap *probe = tap_create(NULL, NULL, 1, &err);
    if (!probe) {
        printf("test_virtio_net: skipped: cannot create a tap here: %s\n", err->message);
        g_error_free(err);
        return CHECK_SKIP_CODE;
    }
    tap_close(probe);
    SRunner *sr = srunner_create(virtio_net_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
