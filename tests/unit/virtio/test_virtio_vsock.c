/* virtio-vsock: the pure parts (header codec and validation, credit
 * arithmetic, iovec helpers, the byte ring, the connection table) and the
 * device end to end: the test plays the guest driver through ECAM and BAR
 * accesses (the fixture of test_virtio_pci.c) with rx, tx and event queues
 * in guarded guest RAM, and plays host software on the hybrid UNIX sockets,
 * while the device's I/O thread does the work. No KVM. */
#include "devices/virtio/virtio.h"
#include "devices/virtio/vsock/vsock.h"
#include "devices/virtio/vsock/vsock_conn.h"
#include "devices/virtio/vsock/vsock_packet.h"
#include "hypervisor/le.h"
#include "hypervisor/vm.h"
#include "hypervisor/vm_config.h"
#include "pci/host.h"
#include "support/check_main.h"
#include "support/fake_accel.h"
#include "support/virtq_driver.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ======================================================================= */
/* Pure parts                                                              */
/* ======================================================================= */

static VsockHdr mkhdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
    return (VsockHdr){ .src_cid = 3, .dst_cid = VSOCK_CID_HOST, .src_port = src_port,
                       .dst_port = dst_port, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
                       .buf_alloc = 65536 };
}

START_TEST(test_hdr_codec)
{
    VsockHdr h = { .src_cid = 0x0102030405060708ull, .dst_cid = 2, .src_port = 0xa1a2a3a4,
                   .dst_port = 1234, .len = 77, .type = 1, .op = VSOCK_OP_RW, .flags = 3,
                   .buf_alloc = 0x10000, .fwd_cnt = 0xfffffff0 };
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_encode(&h, raw);
    /* The wire layout, field by field (little-endian, packed). */
    ck_assert_uint_eq(le_load64(raw + 0), h.src_cid);
    ck_assert_uint_eq(raw[0], 0x08);
    ck_assert_uint_eq(le_load64(raw + 8), 2);
    ck_assert_uint_eq(le_load32(raw + 16), 0xa1a2a3a4);
    ck_assert_uint_eq(le_load32(raw + 20), 1234);
    ck_assert_uint_eq(le_load32(raw + 24), 77);
    ck_assert_uint_eq(le_load16(raw + 28), 1);
    ck_assert_uint_eq(le_load16(raw + 30), VSOCK_OP_RW);
    ck_assert_uint_eq(le_load32(raw + 32), 3);
    ck_assert_uint_eq(le_load32(raw + 36), 0x10000);
    ck_assert_uint_eq(le_load32(raw + 40), 0xfffffff0);
    VsockHdr back;
    vsock_hdr_decode(&back, raw);
    ck_assert_uint_eq(back.src_cid, h.src_cid);
    ck_assert_uint_eq(back.dst_cid, h.dst_cid);
    ck_assert_uint_eq(back.src_port, h.src_port);
    ck_assert_uint_eq(back.dst_port, h.dst_port);
    ck_assert_uint_eq(back.len, h.len);
    ck_assert_uint_eq(back.type, h.type);
    ck_assert_uint_eq(back.op, h.op);
    ck_assert_uint_eq(back.flags, h.flags);
    ck_assert_uint_eq(back.buf_alloc, h.buf_alloc);
    ck_assert_uint_eq(back.fwd_cnt, h.fwd_cnt);
    ck_assert_str_eq(vsock_op_name(VSOCK_OP_CREDIT_REQUEST), "CREDIT_REQUEST");
    ck_assert_str_eq(vsock_op_name(999), "unknown");
}
END_TEST

START_TEST(test_packet_check)
{
    const char *why;
    VsockHdr h = mkhdr(VSOCK_OP_RW, 100, 200, 10);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 10, &why), VSOCK_PKT_ACCEPT);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 9, &why), VSOCK_PKT_RESET); /* len past buffers */
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(vsock_packet_check(&h, 4, 10, &why), VSOCK_PKT_DROP); /* spoofed source */
    h.dst_cid = 7;
    ck_assert_int_eq(vsock_packet_check(&h, 3, 10, &why), VSOCK_PKT_DROP);
    h = mkhdr(VSOCK_OP_RW, 1, 2, VSOCK_MAX_PAYLOAD + 1);
    ck_assert_int_eq(vsock_packet_check(&h, 3, UINT32_MAX, &why), VSOCK_PKT_RESET);
    h = mkhdr(0, 1, 2, 0);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RESET);
    h = mkhdr(8, 1, 2, 0);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RESET);
    h = mkhdr(VSOCK_OP_REQUEST, 1, 2, 0);
    h.type = 2; /* seqpacket: not offered */
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RESET);
    /* Control packets: a stray len is ignored, not trusted. */
    h = mkhdr(VSOCK_OP_CREDIT_UPDATE, 1, 2, 5000);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, NULL), VSOCK_PKT_ACCEPT);
    for (uint16_t op = VSOCK_OP_REQUEST; op <= VSOCK_OP_CREDIT_REQUEST; op++) {
        h = mkhdr(op, 1, 2, 0);
        ck_assert_int_eq(vsock_packet_check(&h, 3, 0, NULL), VSOCK_PKT_ACCEPT);
    }
}
END_TEST

START_TEST(test_credit_math)
{
    ck_assert_uint_eq(vsock_credit_free(1000, 0, 0), 1000);
    ck_assert_uint_eq(vsock_credit_free(1000, 0, 400), 600);
    ck_assert_uint_eq(vsock_credit_free(1000, 400, 400), 1000);
    ck_assert_uint_eq(vsock_credit_free(1000, 0, 1000), 0);
    /* Counters wrap at 2^32. */
    ck_assert_uint_eq(vsock_credit_free(1000, 0xfffffff0u, 0x10), 1000 - 0x20);
    /* A hostile fwd_cnt ahead of what we sent, or more in flight than the
     * buffer: no credit, never a huge number. */
    ck_assert_uint_eq(vsock_credit_free(1000, 5000, 10), 0);
    ck_assert_uint_eq(vsock_credit_free(0, 0, 0), 0);

    VsockConn *c = vsock_conn_new(1, 2, -1);
    VsockHdr h = mkhdr(VSOCK_OP_CREDIT_UPDATE, 2, 1, 0);
    h.buf_alloc = 100;
    h.fwd_cnt = 0;
    vsock_conn_peer_credit_update(c, &h);
    c->tx_cnt = 60;
    ck_assert_uint_eq(vsock_conn_peer_credit(c), 40);
    /* Our side: the guest may send what the ring holds. */
    ck_assert(vsock_conn_rx_fits(c, VSOCK_CONN_BUF_ALLOC));
    ck_assert(!vsock_conn_rx_fits(c, VSOCK_CONN_BUF_ALLOC + 1));
    /* Credit update due once the guest's view of our free space is low and
     * something was forwarded since we last told it. */
    ck_assert(!vsock_conn_credit_update_due(c));
    c->rx_cnt = VSOCK_CONN_BUF_ALLOC - 10;
    ck_assert(!vsock_conn_credit_update_due(c)); /* nothing forwarded yet */
    c->fwd_cnt = 100;
    ck_assert(vsock_conn_credit_update_due(c));
    VsockHdr out = { 0 };
    vsock_conn_stamp(c, &out);
    ck_assert_uint_eq(out.fwd_cnt, 100);
    ck_assert_uint_eq(out.buf_alloc, VSOCK_CONN_BUF_ALLOC);
    ck_assert(!vsock_conn_credit_update_due(c));
    vsock_conn_free(c);
}
END_TEST

START_TEST(test_iov_helpers)
{
    uint8_t a[3], b[5], c[7];
    struct iovec iov[] = { { a, 3 }, { b, 0 }, { b, 5 }, { c, 7 } };
    uint8_t src[15], dst[15];
    for (unsigned i = 0; i < 15; i++)
        src[i] = (uint8_t)(i + 1);
    ck_assert_uint_eq(vsock_iov_from_buf(iov, 4, 0, src, 15), 15);
    ck_assert_uint_eq(a[2], 3);
    ck_assert_uint_eq(b[0], 4);
    ck_assert_uint_eq(c[6], 15);
    memset(dst, 0, sizeof dst);
    ck_assert_uint_eq(vsock_iov_to_buf(iov, 4, 2, dst, 100), 13); /* ends with the iovecs */
    ck_assert_mem_eq(dst, src + 2, 13);
    struct iovec out[4];
    size_t covered;
    unsigned k = vsock_iov_slice(iov, 4, 4, 6, out, 4, &covered);
    ck_assert_uint_eq(covered, 6);
    ck_assert_uint_eq(k, 2);
    ck_assert_ptr_eq(out[0].iov_base, b + 1);
    ck_assert_uint_eq(out[0].iov_len, 4);
    ck_assert_ptr_eq(out[1].iov_base, c);
    ck_assert_uint_eq(out[1].iov_len, 2);
    k = vsock_iov_slice(iov, 4, 0, 15, out, 2, &covered); /* out[] too short */
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(covered, 8);
    k = vsock_iov_slice(iov, 4, 100, 5, out, 4, &covered);
    ck_assert_uint_eq(k, 0);
    ck_assert_uint_eq(covered, 0);
}
END_TEST

START_TEST(test_ring)
{
    VsockRing r;
    vsock_ring_init(&r, 8);
    ck_assert_uint_eq(vsock_ring_free(&r), 8);
    ck_assert_uint_eq(vsock_ring_push(&r, "abcdef", 6), 6);
    vsock_ring_consume(&r, 4);
    ck_assert_uint_eq(vsock_ring_push(&r, "ghijklmn", 8), 6); /* only 6 free */
    struct iovec v[2];
    unsigned k = vsock_ring_peek(&r, v);
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(v[0].iov_len + v[1].iov_len, 8);
    char flat[8];
    memcpy(flat, v[0].iov_base, v[0].iov_len);
    memcpy(flat + v[0].iov_len, v[1].iov_base, v[1].iov_len);
    ck_assert_mem_eq(flat, "efghijkl", 8);
    vsock_ring_consume(&r, 8);
    ck_assert_uint_eq(vsock_ring_peek(&r, v), 0);
    vsock_ring_clear(&r);
}
END_TEST

START_TEST(test_conn_table)
{
    VsockConnTable t;
    vsock_conn_table_init(&t);
    VsockConn *a = vsock_conn_new(5000, 777, -1);
    VsockConn *b = vsock_conn_new(5000, 778, -1);
    VsockConn *dup = vsock_conn_new(5000, 777, -1);
    ck_assert(vsock_conn_table_insert(&t, a));
    ck_assert(vsock_conn_table_insert(&t, b));
    ck_assert(!vsock_conn_table_insert(&t, dup));
    ck_assert_uint_eq(vsock_conn_table_count(&t), 2);
    ck_assert_ptr_eq(vsock_conn_table_lookup(&t, 5000, 777), a);
    ck_assert_ptr_eq(vsock_conn_table_lookup(&t, 5000, 778), b);
    ck_assert_ptr_null(vsock_conn_table_lookup(&t, 777, 5000));
    vsock_conn_table_remove(&t, dup); /* not the entry under its key: no-op */
    ck_assert_ptr_eq(vsock_conn_table_lookup(&t, 5000, 777), a);
    uint32_t p1 = vsock_conn_table_alloc_port(&t, 1234);
    ck_assert_uint_ge(p1, VSOCK_EPHEMERAL_BASE);
    VsockConn *h = vsock_conn_new(p1, 1234, -1);
    ck_assert(vsock_conn_table_insert(&t, h));
    uint32_t p2 = vsock_conn_table_alloc_port(&t, 1234);
    ck_assert_uint_ne(p1, p2);
    /* The allocator skips taken keys even after wrapping. */
    t.next_port = UINT32_MAX - 1;
    VsockConn *w = vsock_conn_new(UINT32_MAX - 1, 9, -1);
    ck_assert(vsock_conn_table_insert(&t, w));
    uint32_t p3 = vsock_conn_table_alloc_port(&t, 9);
    ck_assert_uint_eq(p3, VSOCK_EPHEMERAL_BASE);
    unsigned n;
    g_autofree uint64_t *keys = vsock_conn_table_keys(&t, &n);
    ck_assert_uint_eq(n, 4);
    for (unsigned i = 0; i < n; i++) {
        VsockConn *c = vsock_conn_table_lookup_key(&t, keys[i]);
        ck_assert_ptr_nonnull(c);
        vsock_conn_table_remove(&t, c);
        vsock_conn_free(c);
    }
    ck_assert_uint_eq(vsock_conn_table_count(&t), 0);
    vsock_conn_free(dup);
    vsock_conn_table_destroy(&t);
}
END_TEST

/* ======================================================================= */
/* End to end                                                              */
/* ======================================================================= */

#define ECAM_BASE 0xb0000000ull
#define ECAM_SIZE (16ull << 20)
#define MMIO32_BASE 0xc0000000ull
#define MMIO64_BASE 0x10000000000ull
#define INTX_GSI 16u
#define RAM_GPA 0x0ull
#define RAM_SIZE (2ull << 20)
#define QSIZE_USED 64
#define GUEST_CID 3
#define RX_BUF (4096u + VSOCK_HDR_SIZE)
#define NQ 3
#define WAIT_MS 3000

enum {
    DFSELECT = 0x00, DF = 0x04, GFSELECT = 0x08, GF = 0x0c, MSIXCFG = 0x10, NUMQ = 0x12,
    STATUS = 0x14, CFGGEN = 0x15, QSELECT = 0x16, QSIZE = 0x18, QMSIX = 0x1a, QENABLE = 0x1c,
    QNOFF = 0x1e, QDESC = 0x20, QDRIVER = 0x28, QDEVICE = 0x30,
};

typedef struct VsTest {
    Accel *accel;
    EventLoop *loop;
    Vm *vm;
    VirtioDevice *vdev;
    GuardedRam ram;
    char *dir;
    char *path;
    uint8_t devfn;
    uint64_t bar;
    uint32_t common, notify, mult, devcfg;
    VirtqDriver q[NQ];
    Gpa rx_buf[QSIZE_USED]; /* rx head -> buffer */
    unsigned rx_posted;
} VsTest;

static VsTest *T;

static void on_stop(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
}

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

static void cc_write64(uint32_t off, uint64_t v)
{
    cc_write(off, (uint32_t)v, 4);
    cc_write(off + 4, v >> 32, 4);
}

static uint8_t status(void)
{
    return (uint8_t)cc_read(STATUS, 1);
}

static void kick(uint16_t q)
{
    cc_write(QSELECT, q, 2);
    uint64_t addr = T->bar + T->notify + (uint64_t)cc_read(QNOFF, 2) * T->mult;
    mmio_write(addr, q, 2);
}

static void *gpa_ptr(Gpa gpa)
{
    return T->ram.hva + (gpa - RAM_GPA);
}

static void walk_caps(void)
{
    for (uint8_t p = (uint8_t)cfg_read(PCI_CAPABILITY_LIST, 1); p; p = (uint8_t)cfg_read(p + 1, 1)) {
        if ((uint8_t)cfg_read(p, 1) != PCI_CAP_ID_VENDOR)
            continue;
        uint8_t type = (uint8_t)cfg_read(p + 3, 1);
        uint32_t off = cfg_read(p + 8, 4);
        if (type == 1)
            T->common = off;
        else if (type == 2) {
            T->notify = off;
            T->mult = cfg_read(p + 16, 4);
        } else if (type == 4) {
            T->devcfg = off;
            ck_assert_uint_ge(cfg_read(p + 12, 4), 8);
        }
    }
    ck_assert_uint_ne(T->devcfg, 0);
}

static bool create_device(const char *path, uint64_t cid, GError **errp)
{
    VsockConfig vc = { .cid = cid, .socket = (char *)path, .id = NULL };
    Device *d = device_create(T->vm, &virtio_vsock_ops, "vsock0", &vc, errp);
    if (!d)
        return false;
    T->vdev = VIRTIO_DEVICE(d);
    T->devfn = T->vdev->pci.devfn;
    return true;
}

static void setup_machine(void)
{
    T = g_new0(VsTest, 1);
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
    T->dir = g_dir_make_tmp("nimbus-vsock-XXXXXX", &err);
    ck_assert_msg(T->dir, "tmpdir: %s", err ? err->message : "?");
    T->path = g_build_filename(T->dir, "v.sock", NULL);
}

static void setup(void)
{
    setup_machine();
    g_autoptr(GError) err = NULL;
    ck_assert_msg(create_device(T->path, GUEST_CID, &err), "vsock: %s", err ? err->message : "?");
    walk_caps();
    uint32_t lo = cfg_read(PCI_BAR0 + 16, 4);
    T->bar = ((uint64_t)cfg_read(PCI_BAR0 + 20, 4) << 32) | (lo & ~0xfu);
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void teardown(void)
{
    if (T->vm)
        vm_free(T->vm);
    virtq_driver_guarded_ram_free(&T->ram);
    evloop_free(T->loop);
    accel_close(T->accel);
    g_autoptr(GDir) d = g_dir_open(T->dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(T->dir, name, NULL);
        g_unlink(p);
    }
    g_rmdir(T->dir);
    g_free(T->dir);
    g_free(T->path);
    g_free(T);
    T = NULL;
}

/* Bring the driver up: VERSION_1, three queues, DRIVER_OK. */
static void bring_up(void)
{
    cc_write(STATUS, 0, 1);
    cc_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
    cc_write(DFSELECT, 0, 4);
    ck_assert(cc_read(DF, 4) & 1); /* VIRTIO_VSOCK_F_STREAM */
    cc_write(GFSELECT, 0, 4);
    cc_write(GF, 1, 4);
    cc_write(GFSELECT, 1, 4);
    cc_write(GF, 1, 4); /* VERSION_1 */
    cc_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
    ck_assert(status() & VIRTIO_STATUS_FEATURES_OK);
    ck_assert_uint_eq(cc_read(NUMQ, 2), NQ);
    for (uint16_t q = 0; q < NQ; q++) {
        Gpa rings = 0x10000ull + q * 0x4000ull;
        Gpa data = 0x40000ull + q * 0x80000ull;
        virtq_driver_init(&T->q[q], vm_memory(T->vm), QSIZE_USED, rings, data, 0x80000);
        cc_write(QSELECT, q, 2);
        ck_assert_uint_eq(cc_read(QSIZE, 2), VIRTIO_VSOCK_QUEUE_SIZE);
        cc_write(QSIZE, QSIZE_USED, 2);
        cc_write(QMSIX, 0xffff, 2);
        cc_write64(QDESC, T->q[q].desc);
        cc_write64(QDRIVER, T->q[q].avail);
        cc_write64(QDEVICE, T->q[q].used);
        cc_write(QENABLE, 1, 2);
    }
    cc_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                         VIRTIO_STATUS_DRIVER_OK, 1);
    ck_assert(status() & VIRTIO_STATUS_DRIVER_OK);
    /* guest_cid in the device configuration, le64 */
    ck_assert_uint_eq(mmio_read(T->bar + T->devcfg, 4), GUEST_CID);
    ck_assert_uint_eq(mmio_read(T->bar + T->devcfg + 4, 4), 0);
    ck_assert_uint_eq(mmio_read(T->bar + T->devcfg + 0, 1), GUEST_CID);
}

static void post_rx_len(unsigned n, uint32_t len)
{
    for (unsigned i = 0; i < n; i++) {
        Gpa g = virtq_driver_alloc(&T->q[0], len, 16);
        VirtqDriverBuf b = { g, len, true };
        uint16_t head = virtq_driver_add(&T->q[0], &b, 1);
        T->rx_buf[head] = g;
        T->rx_posted++;
    }
    kick(VIRTIO_VSOCK_QUEUE_RX);
}

static void post_rx(unsigned n)
{
    post_rx_len(n, RX_BUF);
}

/* The next rx packet within ms; false if none. */
static bool rx_get_ms(VsockHdr *h, uint8_t *payload, unsigned ms)
{
    uint32_t id, len;
    for (unsigned t = 0; t <= ms; t++) {
        if (virtq_driver_get_used(&T->q[0], &id, &len)) {
            ck_assert_uint_ge(len, VSOCK_HDR_SIZE);
            const uint8_t *p = gpa_ptr(T->rx_buf[id]);
            vsock_hdr_decode(h, p);
            ck_assert_uint_eq(len, VSOCK_HDR_SIZE + h->len);
            if (payload)
                memcpy(payload, p + VSOCK_HDR_SIZE, h->len);
            T->rx_posted--;
            post_rx(1); /* keep the driver's supply up */
            return true;
        }
        g_usleep(1000);
    }
    return false;
}

static void rx_expect(VsockHdr *h, uint8_t *payload, uint16_t op)
{
    ck_assert_msg(rx_get_ms(h, payload, WAIT_MS), "no rx packet (wanted %s)", vsock_op_name(op));
    ck_assert_msg(h->op == op, "got %s, wanted %s", vsock_op_name(h->op), vsock_op_name(op));
    ck_assert_uint_eq(h->src_cid, VSOCK_CID_HOST);
    ck_assert_uint_eq(h->dst_cid, GUEST_CID);
    ck_assert_uint_eq(h->type, VSOCK_TYPE_STREAM);
}

/* Put a packet on the tx queue (header and payload in separate descriptors
 * when split) and wait until the device used it. */
static void tx_raw(const uint8_t *bytes, uint32_t len, bool split)
{
    VirtqDriver *d = &T->q[1];
    Gpa g = virtq_driver_alloc(d, len ? len : 1, 16);
    memcpy(gpa_ptr(g), bytes, len);
    VirtqDriverBuf b[2] = { { g, len, false } };
    unsigned n = 1;
    if (split && len > VSOCK_HDR_SIZE) {
        b[0].len = VSOCK_HDR_SIZE;
        b[1] = (VirtqDriverBuf){ g + VSOCK_HDR_SIZE, len - VSOCK_HDR_SIZE, false };
        n = 2;
    }
    uint16_t before = virtq_driver_used_idx(d);
    virtq_driver_add(d, b, n);
    kick(VIRTIO_VSOCK_QUEUE_TX);
    for (unsigned t = 0; t < WAIT_MS && virtq_driver_used_idx(d) == before; t++)
        g_usleep(1000);
    uint32_t id, ulen;
    ck_assert_msg(virtq_driver_get_used(d, &id, &ulen), "tx packet not consumed");
}

static void tx_send(VsockHdr h, const void *payload, bool split)
{
    uint8_t buf[VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD];
    vsock_hdr_encode(&h, buf);
    uint32_t plen = h.op == VSOCK_OP_RW ? h.len : 0;
    if (plen && payload)
        memcpy(buf + VSOCK_HDR_SIZE, payload, plen);
    tx_raw(buf, VSOCK_HDR_SIZE + plen, split);
}

static VsockHdr guest_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
    VsockHdr h = mkhdr(op, src_port, dst_port, len);
    h.src_cid = GUEST_CID;
    h.buf_alloc = 65536;
    return h;
}

/* ---- host sockets ---- */

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", path,
                  g_strerror(errno));
    return fd;
}

static int unix_listen(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

/* Read exactly len bytes within WAIT_MS; returns bytes read (short at EOF). */
static size_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, WAIT_MS) <= 0)
            break;
        ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Whether fd reads EOF (or a reset: closed with our data unread) within ms. */
static bool sees_eof(int fd, unsigned ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, (int)ms) <= 0)
        return false;
    char c;
    return read(fd, &c, 1) <= 0;
}

static void write_all(int fd, const void *buf, size_t len)
{
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
}

/* Host-initiated: connect, CONNECT port, REQUEST -> RESPONSE, "OK <p>\n".
 * Returns the client fd; *local gets the device's host port. */
static int host_connect(uint32_t port, uint32_t *local)
{
    int fd = unix_connect(T->path);
    g_autofree char *line = g_strdup_printf("CONNECT %u\n", port);
    write_all(fd, line, strlen(line));
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    ck_assert_uint_eq(h.dst_port, port);
    ck_assert_uint_ge(h.src_port, VSOCK_EPHEMERAL_BASE);
    ck_assert_uint_eq(h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
    *local = h.src_port;
    tx_send(guest_hdr(VSOCK_OP_RESPONSE, port, h.src_port, 0), NULL, false);
    char ok[32] = { 0 };
    g_autofree char *want = g_strdup_printf("OK %u\n", h.src_port);
    ck_assert_uint_eq(read_full(fd, ok, strlen(want)), strlen(want));
    ck_assert_str_eq(ok, want);
    return fd;
}

START_TEST(test_host_connect_echo)
{
    bring_up();
    post_rx(16);
    uint32_t local;
    int fd = host_connect(1234, &local);

    /* host -> guest */
    const char msg[] = "hello from the host";
    write_all(fd, msg, sizeof msg);
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    VsockHdr h;
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.src_port, local);
    ck_assert_uint_eq(h.dst_port, 1234);
    ck_assert_uint_eq(h.len, sizeof msg);
    ck_assert_mem_eq(payload, msg, sizeof msg);

    /* guest echoes it back, header and payload in separate descriptors */
    VsockHdr e = guest_hdr(VSOCK_OP_RW, 1234, local, sizeof msg);
    e.fwd_cnt = sizeof msg;
    tx_send(e, payload, true);
    char back[sizeof msg];
    ck_assert_uint_eq(read_full(fd, back, sizeof back), sizeof msg);
    ck_assert_mem_eq(back, msg, sizeof msg);

    /* and a larger transfer both ways */
    static uint8_t big[200000];
    for (unsigned i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    write_all(fd, big, sizeof big);
    static uint8_t got[sizeof big];
    size_t n = 0;
    uint32_t fwd = sizeof msg;
    while (n < sizeof big) {
        rx_expect(&h, payload, VSOCK_OP_RW);
        ck_assert_uint_le(h.len, 4096);
        memcpy(got + n, payload, h.len);
        n += h.len;
        fwd += h.len;
        /* the guest consumed it: tell the device */
        if (n % 32768 < 4096) {
            VsockHdr cu = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 1234, local, 0);
            cu.fwd_cnt = fwd;
            tx_send(cu, NULL, false);
        }
    }
    ck_assert_mem_eq(got, big, sizeof big);

    /* The client closes: the guest hears SHUTDOWN, answers with its own
     * full shutdown, and the device finishes with RST. */
    close(fd);
    rx_expect(&h, NULL, VSOCK_OP_SHUTDOWN);
    ck_assert(h.flags & VSOCK_SHUTDOWN_SEND);
    VsockHdr sd = guest_hdr(VSOCK_OP_SHUTDOWN, 1234, local, 0);
    sd.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    tx_send(sd, NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, local);
    /* Gone: data on it now gets RST. */
    tx_send(guest_hdr(VSOCK_OP_RW, 1234, local, 3), "abc", false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert(!(status() & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(test_guest_to_host_stream)
{
    /* Guest -> host bulk data with the host reading slowly: the device
     * buffers within its credit and sends credit updates. */
    bring_up();
    post_rx(16);
    uint32_t local;
    int fd = host_connect(42, &local);
    static uint8_t data[600000];
    for (unsigned i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i ^ (i >> 8));
    uint32_t sent = 0, peer_fwd = 0, peer_alloc = VSOCK_CONN_BUF_ALLOC;
    size_t rd = 0;
    static uint8_t got[sizeof data];
    while (rd < sizeof data) {
        /* the guest sends what its credit allows */
        uint32_t credit = vsock_credit_free(peer_alloc, peer_fwd, sent);
        uint32_t chunk = MIN(MIN(credit, 16384u), (uint32_t)sizeof data - sent);
        if (chunk) {
            tx_send(guest_hdr(VSOCK_OP_RW, 42, local, chunk), data + sent, false);
            sent += chunk;
        }
        /* the host reads a little */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, chunk ? 0 : 50) > 0) {
            ssize_t n = read(fd, got + rd, MIN((size_t)8192, sizeof data - rd));
            ck_assert_int_gt(n, 0);
            rd += (size_t)n;
        }
        /* credit updates from the device */
        VsockHdr h;
        while (rx_get_ms(&h, NULL, 0)) {
            ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
            peer_fwd = h.fwd_cnt;
            peer_alloc = h.buf_alloc;
        }
        if (!chunk && rd < sent) {
            /* stalled on credit: ask */
            tx_send(guest_hdr(VSOCK_OP_CREDIT_REQUEST, 42, local, 0), NULL, false);
        }
    }
    ck_assert_mem_eq(got, data, sizeof data);
    close(fd);
}
END_TEST

START_TEST(test_guest_connect)
{
    bring_up();
    post_rx(8);
    g_autofree char *lpath = g_strdup_printf("%s_5000", T->path);
    int lfd = unix_listen(lpath);

    tx_send(guest_hdr(VSOCK_OP_REQUEST, 777, 5000, 0), NULL, false);
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_RESPONSE);
    ck_assert_uint_eq(h.src_port, 5000);
    ck_assert_uint_eq(h.dst_port, 777);
    int fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);

    const char ping[] = "ping from the guest";
    tx_send(guest_hdr(VSOCK_OP_RW, 777, 5000, sizeof ping), ping, false);
    char buf[64];
    ck_assert_uint_eq(read_full(fd, buf, sizeof ping), sizeof ping);
    ck_assert_mem_eq(buf, ping, sizeof ping);
    write_all(fd, buf, sizeof ping); /* the host echoes */
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, sizeof ping);
    ck_assert_mem_eq(payload, ping, sizeof ping);

    /* A second connection from another guest port works alongside. */
    tx_send(guest_hdr(VSOCK_OP_REQUEST, 778, 5000, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RESPONSE);
    int fd2 = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd2, 0);

    /* The guest resets the first: the host sees EOF, nothing is sent back. */
    tx_send(guest_hdr(VSOCK_OP_RST, 777, 5000, 0), NULL, false);
    ck_assert(sees_eof(fd, WAIT_MS));
    /* Half close of the second: guest SHUTDOWN SEND -> host EOF on read,
     * the host can still write. */
    VsockHdr sd = guest_hdr(VSOCK_OP_SHUTDOWN, 778, 5000, 0);
    sd.flags = VSOCK_SHUTDOWN_SEND;
    tx_send(sd, NULL, false);
    ck_assert(sees_eof(fd2, WAIT_MS));
    write_all(fd2, "late", 4);
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.dst_port, 778);
    ck_assert_mem_eq(payload, "late", 4);
    close(fd2); /* host done too: both directions over -> RST */
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.dst_port, 778);

    /* Nobody listening on 5001: RST. */
    tx_send(guest_hdr(VSOCK_OP_REQUEST, 779, 5001, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, 5001);
    ck_assert_uint_eq(h.dst_port, 779);
    close(fd);
    close(lfd);
}
END_TEST

START_TEST(test_host_credit_respected)
{
    bring_up();
    post_rx(8);
    int fd = unix_connect(T->path);
    write_all(fd, "CONNECT 99\n", 11);
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    uint32_t local = h.src_port;
    VsockHdr r = guest_hdr(VSOCK_OP_RESPONSE, 99, local, 0);
    r.buf_alloc = 8; /* a tiny guest buffer */
    tx_send(r, NULL, false);
    char ok[32] = { 0 };
    g_autofree char *want = g_strdup_printf("OK %u\n", local);
    ck_assert_uint_eq(read_full(fd, ok, strlen(want)), strlen(want));
    ck_assert_str_eq(ok, want);
    write_all(fd, "0123456789abcdefXYZ", 19);
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, 8);
    ck_assert_mem_eq(payload, "01234567", 8);
    ck_assert(!rx_get_ms(&h, NULL, 200)); /* no credit, no more data */
    VsockHdr cu = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 99, local, 0);
    cu.buf_alloc = 8;
    cu.fwd_cnt = 8;
    tx_send(cu, NULL, false);
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, 8);
    ck_assert_mem_eq(payload, "89abcdef", 8);
    /* CREDIT_REQUEST gets our credit. */
    tx_send(guest_hdr(VSOCK_OP_CREDIT_REQUEST, 99, local, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_CREDIT_UPDATE);
    ck_assert_uint_eq(h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
    close(fd);
}
END_TEST

START_TEST(test_handshake_failures)
{
    bring_up();
    post_rx(8);
    VsockHdr h;
    /* A malformed line: closed. */
    int fd = unix_connect(T->path);
    write_all(fd, "HELLO 1\n", 8);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    fd = unix_connect(T->path);
    write_all(fd, "CONNECT 99999999999\n", 20);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    /* A line that never ends: closed once too long. */
    fd = unix_connect(T->path);
    write_all(fd, "CONNECT 1111111111111111111111111111111111111", 45);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    ck_assert(!rx_get_ms(&h, NULL, 100)); /* none of these reached the guest */
    /* The guest refuses: the client is closed without OK. */
    fd = unix_connect(T->path);
    write_all(fd, "CONNECT 7\r\n", 11);
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    ck_assert_uint_eq(h.dst_port, 7);
    tx_send(guest_hdr(VSOCK_OP_RST, 7, h.src_port, 0), NULL, false);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    /* The guest never answers: RST to the guest and the client closed. */
    fd = unix_connect(T->path);
    write_all(fd, "CONNECT 8\n", 10);
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    uint32_t local = h.src_port;
    ck_assert(sees_eof(fd, VIRTIO_VSOCK_HANDSHAKE_MS + 2000));
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, local);
    close(fd);
}
END_TEST

START_TEST(test_no_driver_refuses)
{
    /* Before DRIVER_OK a CONNECT is refused (closed), not left hanging. */
    int fd = unix_connect(T->path);
    write_all(fd, "CONNECT 1\n", 10);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
}
END_TEST

START_TEST(test_hostile_packets)
{
    bring_up();
    post_rx(16);
    VsockHdr h;
    /* Wrong destination or spoofed source: ignored, no answer. */
    VsockHdr p = guest_hdr(VSOCK_OP_REQUEST, 1, 5000, 0);
    p.dst_cid = 7;
    tx_send(p, NULL, false);
    p = guest_hdr(VSOCK_OP_REQUEST, 1, 5000, 0);
    p.src_cid = 9;
    tx_send(p, NULL, false);
    /* Shorter than a header: dropped. */
    tx_raw((const uint8_t *)"short", 5, false);
    ck_assert(!rx_get_ms(&h, NULL, 100));
    /* Unknown op, bad type, length beyond the buffer, RW on nothing: RST. */
    tx_send(guest_hdr(99, 2, 3, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, 3);
    ck_assert_uint_eq(h.dst_port, 2);
    p = guest_hdr(VSOCK_OP_REQUEST, 4, 5, 0);
    p.type = 2;
    tx_send(p, NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    uint8_t raw[VSOCK_HDR_SIZE + 4];
    p = guest_hdr(VSOCK_OP_RW, 6, 7, 1000000);
    vsock_hdr_encode(&p, raw);
    tx_raw(raw, sizeof raw, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    tx_send(guest_hdr(VSOCK_OP_RW, 8, 9, 2), "hi", false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    /* Never an RST in answer to an RST. */
    tx_send(guest_hdr(VSOCK_OP_RST, 10, 11, 0), NULL, false);
    ck_assert(!rx_get_ms(&h, NULL, 100));

    /* A guest overrunning its credit on a live connection is reset. */
    uint32_t local;
    int fd = host_connect(1234, &local);
    static uint8_t blob[VSOCK_MAX_PAYLOAD];
    bool reset = false;
    for (unsigned i = 0; i < 64 && !reset; i++) {
        tx_send(guest_hdr(VSOCK_OP_RW, 1234, local, sizeof blob), blob, false);
        while (rx_get_ms(&h, NULL, 0)) {
            if (h.op == VSOCK_OP_RST)
                reset = true;
        }
    }
    ck_assert_msg(reset, "credit overrun not reset");
    ck_assert(!(status() & VIRTIO_STATUS_NEEDS_RESET));
    close(fd);

    /* Random headers on random ports: never a crash; the device lives on. */
    GRand *rnd = g_rand_new_with_seed(1234);
    for (unsigned i = 0; i < 400; i++) {
        uint8_t pkt[VSOCK_HDR_SIZE + 64];
        for (unsigned k = 0; k < sizeof pkt; k++)
            pkt[k] = (uint8_t)g_rand_int(rnd);
        VsockHdr r;
        vsock_hdr_decode(&r, pkt);
        r.src_cid = g_rand_boolean(rnd) ? GUEST_CID : r.src_cid;
        r.dst_cid = g_rand_boolean(rnd) ? VSOCK_CID_HOST : r.dst_cid;
        r.type = g_rand_boolean(rnd) ? VSOCK_TYPE_STREAM : r.type;
        r.op = (uint16_t)g_rand_int_range(rnd, 0, 10);
        r.dst_port = g_rand_int_range(rnd, 5000, 5003);
        r.src_port = g_rand_int_range(rnd, 1, 4);
        r.len = g_rand_int_range(rnd, 0, 100);
        vsock_hdr_encode(&r, pkt);
        tx_raw(pkt, g_rand_int_range(rnd, 0, sizeof pkt + 1), g_rand_boolean(rnd));
        while (rx_get_ms(&h, NULL, 0))
            ;
    }
    g_rand_free(rnd);
    ck_assert(!(status() & VIRTIO_STATUS_NEEDS_RESET));
    /* still working */
    tx_send(guest_hdr(VSOCK_OP_RW, 40, 41, 1), "x", false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
}
END_TEST

START_TEST(test_broken_rx_buffer)
{
    /* An rx buffer that cannot hold a header: NEEDS_RESET, no overflow. */
    bring_up();
    post_rx_len(1, 16);
    tx_send(guest_hdr(VSOCK_OP_RW, 1, 2, 0), NULL, false);
    for (unsigned t = 0; t < WAIT_MS && !(status() & VIRTIO_STATUS_NEEDS_RESET); t++)
        g_usleep(1000);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
    /* A driver reset brings it back. */
    T->rx_posted = 0;
    bring_up();
    post_rx(4);
    tx_send(guest_hdr(VSOCK_OP_RW, 1, 2, 0), NULL, false);
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_RST);
}
END_TEST

START_TEST(test_broken_tx_ring)
{
    bring_up();
    post_rx(4);
    virtq_driver_set_avail_idx(&T->q[1], (uint16_t)(T->q[1].avail_idx + 1000));
    kick(VIRTIO_VSOCK_QUEUE_TX);
    for (unsigned t = 0; t < WAIT_MS && !(status() & VIRTIO_STATUS_NEEDS_RESET); t++)
        g_usleep(1000);
    ck_assert(status() & VIRTIO_STATUS_NEEDS_RESET);
}
END_TEST

START_TEST(test_reset_drops_connections)
{
    bring_up();
    post_rx(8);
    uint32_t local;
    int fd = host_connect(1234, &local);
    cc_write(STATUS, 0, 1); /* driver reset */
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
}
END_TEST

START_TEST(test_pause_resume)
{
    bring_up();
    post_rx(8);
    uint32_t local;
    int fd = host_connect(1234, &local);
    g_autoptr(GError) err = NULL;
    Device *d = &T->vdev->pci.dev;
    ck_assert(d->ops->pause(d, &err));
    write_all(fd, "while paused", 12);
    VsockHdr h;
    ck_assert(!rx_get_ms(&h, NULL, 200)); /* guest memory untouched */
    ck_assert(d->ops->resume(d, &err));
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_mem_eq(payload, "while paused", 12);
    close(fd);
}
END_TEST

/* ---- the socket path ---- */

static void machine_only_setup(void)
{
    setup_machine();
}

START_TEST(test_socket_path_rules)
{
    g_autoptr(GError) err = NULL;
    /* A regular file: refused, left alone. */
    ck_assert(g_file_set_contents(T->path, "keep", 4, NULL));
    ck_assert(!create_device(T->path, GUEST_CID, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "not a socket"));
    g_clear_error(&err);
    g_autofree char *content = NULL;
    ck_assert(g_file_get_contents(T->path, &content, NULL, NULL));
    ck_assert_str_eq(content, "keep");
    g_unlink(T->path);
    /* A live socket: refused. */
    int live = unix_listen(T->path);
    ck_assert(!create_device(T->path, GUEST_CID, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "in use"));
    g_clear_error(&err);
    close(live);
    /* Now stale (nobody listens): replaced. */
    ck_assert_msg(create_device(T->path, GUEST_CID, &err), "%s", err ? err->message : "?");
    struct stat st;
    ck_assert_int_eq(stat(T->path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    int fd = unix_connect(T->path);
    close(fd);
    /* A bad CID or no path: refused. */
    g_autofree char *p2 = g_build_filename(T->dir, "w.sock", NULL);
    ck_assert(!create_device(p2, 2, &err));
    g_clear_error(&err);
    ck_assert(!create_device(p2, 1ull << 32, &err));
    g_clear_error(&err);
    ck_assert(!create_device("", GUEST_CID, &err));
    g_clear_error(&err);
    g_autofree char *longp = g_strnfill(200, 'x');
    ck_assert(!create_device(longp, GUEST_CID, &err));
    g_clear_error(&err);
    /* Unrealize removes the socket. */
    vm_free(T->vm);
    T->vm = NULL;
    ck_assert_int_ne(stat(T->path, &st), 0);
}
END_TEST

static Suite *vsock_suite(void)
{
    Suite *s = suite_create("virtio_vsock");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_hdr_codec);
    tcase_add_test(tc, test_packet_check);
    tcase_add_test(tc, test_credit_math);
    tcase_add_test(tc, test_iov_helpers);
    tcase_add_test(tc, test_ring);
    tcase_add_test(tc, test_conn_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("device");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_host_connect_echo);
    tcase_add_test(tc, test_guest_to_host_stream);
    tcase_add_test(tc, test_guest_connect);
    tcase_add_test(tc, test_host_credit_respected);
    tcase_add_test(tc, test_handshake_failures);
    tcase_add_test(tc, test_no_driver_refuses);
    tcase_add_test(tc, test_hostile_packets);
    tcase_add_test(tc, test_broken_rx_buffer);
    tcase_add_test(tc, test_broken_tx_ring);
    tcase_add_test(tc, test_reset_drops_connections);
    tcase_add_test(tc, test_pause_resume);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, machine_only_setup, teardown);
    tcase_add_test(tc, test_socket_path_rules);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(vsock_suite)
