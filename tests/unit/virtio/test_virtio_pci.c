/* The virtio core and its modern PCI transport, driven end to end through a
 * virtio-rng device: the test plays the Linux driver through ECAM config
 * accesses and BAR accesses on the MMIO dispatcher (vdevtest.c), with a split
 * virtqueue laid out in guarded guest RAM by the fake driver, and the
 * device's I/O thread doing the work. No KVM: the fake accelerator. */
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_internal.h"
#include "pci/host.h"
#include "pci/msix.h"
#include "support/check_main.h"
#include "support/fake_accel.h"
#include "vdevtest.h"

#include <check.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE (8ull << 20)
#define RINGS_GPA VDEV_RINGS(0)
#define SRC_LEN 4096u

static VdevTest *T;
static char *src_path;
static uint8_t src[SRC_LEN];

/* ---- interrupts ------------------------------------------------------- */

static unsigned msi_count(void)
{
    return fake_accel_msi_count(vm_accel_vm(T->vm));
}

static bool intx_level(void)
{
    PciBus *bus = pci_host_bus(pci_host_find(T->vm, PCI_HOST_DEFAULT_ID));
    return fake_accel_irq_level(vm_accel_vm(T->vm), pci_bus_intx_gsi(bus, PCI_SLOT(T->devfn), 1));
}

/* ---- fixture ------------------------------------------------------------ */

static void setup(void)
{
    T = vdevtest_new(VDEV_RAM_GUARDED, RAM_SIZE);
    g_autoptr(GError) err = NULL;
    for (unsigned i = 0; i < SRC_LEN; i++)
        src[i] = (uint8_t)(i * 7 + 3);
    int fd = g_file_open_tmp("nimbus-rng-XXXXXX", &src_path, &err);
    ck_assert_msg(fd >= 0, "tmp: %s", err ? err->message : "?");
    ck_assert_int_eq(write(fd, src, SRC_LEN), SRC_LEN);
    close(fd);

    RngConfig rc = { .src = src_path };
    vdevtest_add(T, &virtio_rng_ops, "rng0", &rc);
    ck_assert_uint_eq(vdevtest_cfg_read(T, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
    ck_assert_uint_eq(vdevtest_cfg_read(T, PCI_REVISION_ID, 1), 1);
    ck_assert_uint_eq(vdevtest_cfg_read(T, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
    ck_assert_uint_ge(vdevtest_cfg_read(T, PCI_SUBSYSTEM_ID, 2), 0x40);
}

static void teardown(void)
{
    vdevtest_free(T);
    T = NULL;
    g_unlink(src_path);
    g_clear_pointer(&src_path, g_free);
}

/* The one queue came up at the size the device offers for rng. */
static void check_queue(void)
{
    ck_assert_uint_eq(T->queue_max[0], VIRTIO_RNG_QUEUE_SIZE);
    ck_assert_uint_eq(vdevtest_num_queues(T), 1);
}

/* The whole Linux-style bring-up with MSI-X; returns the device ready. */
static void bring_up(uint64_t features)
{
    vdevtest_msix_enable(T);
    vdevtest_bring_up(T, features, 1, 16);
    check_queue();
}

static Gpa post(uint32_t len)
{
    return vdevtest_post(T, 0, NULL, len, true, NULL);
}

static bool wait_used(uint32_t *id, uint32_t *len)
{
    return vdevtest_wait_used(T, 0, id, len, VDEV_WAIT_MS);
}

static bool wait_status(uint8_t bit)
{
    return vdevtest_wait_status(T, bit, VDEV_WAIT_MS);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_rng_end_to_end)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    Gpa buf = post(64);
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 64);
    uint8_t got[64];
    ck_assert(memory_read(vm_memory(T->vm), buf, got, sizeof got));
    ck_assert_mem_eq(got, src, 64);
    ck_assert_uint_ge(vdevtest_irqfd_wait(T, VDEV_VEC_QUEUE), 1);

    /* The next request continues in the source. */
    buf = post(32);
    vdevtest_kick(T, 0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 32);
    ck_assert(memory_read(vm_memory(T->vm), buf, got, 32));
    ck_assert_mem_eq(got, src + 64, 32);
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
    uint64_t moved = VDEV_MMIO64_BASE + 0x100000;
    vdevtest_cfg_write(T, PCI_BAR0 + 16, (uint32_t)moved | 0x4, 4);
    vdevtest_cfg_write(T, PCI_BAR0 + 20, (uint32_t)(moved >> 32), 4);
    uint64_t where;
    ck_assert(pci_device_bar_mapped(&T->vdev->pci, 4, &where));
    ck_assert_uint_eq(where, moved);
    T->bar = moved;
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_NUMQ, 2), 1);
    post(8);
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 8);
    /* Decode off and on again (the ioeventfds are re-registered). */
    vdevtest_cfg_write(T, PCI_COMMAND, 0, 2);
    ck_assert(!pci_device_bar_mapped(&T->vdev->pci, 4, NULL));
    vdevtest_cfg_write(T, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    post(8);
    vdevtest_kick(T, 0);
    ck_assert(wait_used(&id, &len));
}
END_TEST

START_TEST(test_interrupt_suppression)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    virtq_driver_set_avail_flags(&T->q[0], VIRTQ_AVAIL_F_NO_INTERRUPT);
    post(8);
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(vdevtest_irqfd_events(T, VDEV_VEC_QUEUE), 0);
    virtq_driver_set_avail_flags(&T->q[0], 0);
    post(8);
    vdevtest_kick(T, 0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(vdevtest_irqfd_events(T, VDEV_VEC_QUEUE), 1);
}
END_TEST

START_TEST(test_event_idx)
{
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX);
    bring_up(f);
    ck_assert(virtio_device_has_feature(T->vdev, VIRTIO_F_RING_EVENT_IDX));
    /* The first completion interrupts (nothing known yet). */
    post(8);
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    vdevtest_irqfd_events(T, VDEV_VEC_QUEUE);
    /* used_event = 2: no interrupt when used idx becomes 2, one at 3. */
    virtq_driver_set_used_event(&T->q[0], 2);
    post(8);
    vdevtest_kick(T, 0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(vdevtest_irqfd_events(T, VDEV_VEC_QUEUE), 0);
    post(8);
    vdevtest_kick(T, 0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(vdevtest_irqfd_events(T, VDEV_VEC_QUEUE), 1);
}
END_TEST

START_TEST(test_intx_fallback)
{
    /* MSI-X left disabled: the ISR and INTx carry the interrupt. */
    vdevtest_bring_up(T, 0, 1, 8);
    check_queue();
    ck_assert(!intx_level());
    post(8);
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    for (int i = 0; i < 1000 && !intx_level(); i++)
        g_usleep(1000);
    ck_assert(intx_level());
    ck_assert(vdevtest_cfg_read(T, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    ck_assert_uint_eq(vdevtest_bar_read(T, T->isr, 1), 1);
    ck_assert(!intx_level());
    ck_assert_uint_eq(vdevtest_bar_read(T, T->isr, 1), 0);
}
END_TEST

START_TEST(test_feature_negotiation)
{
    /* A legacy-only driver (no VERSION_1) is refused. */
    ck_assert(!vdevtest_negotiate(T, 0));
    ck_assert_uint_eq(vdevtest_status(T) & VIRTIO_STATUS_FEATURES_OK, 0);
    /* Features never offered are refused too. */
    ck_assert(!vdevtest_negotiate(T, (1ull << VIRTIO_F_VERSION_1) | (1ull << 40)));
    /* DRIVER_OK without FEATURES_OK: NEEDS_RESET. */
    vdevtest_set_status(T,
                        VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    /* A proper driver afterwards. */
    ck_assert(
        vdevtest_negotiate(T, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_RING_INDIRECT_DESC));
    ck_assert_uint_eq(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET, 0);
    /* driver_feature is frozen once FEATURES_OK is set. */
    vdevtest_cc_write(T, VDEV_CC_GFSELECT, 0, 4);
    vdevtest_cc_write(T, VDEV_CC_GF, 0, 4);
    vdevtest_cc_write(T, VDEV_CC_GFSELECT, 1, 4);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_GF, 4), 1);
    vdevtest_cc_write(T, VDEV_CC_GFSELECT, 0, 4);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_GF, 4), 1u << VIRTIO_F_RING_INDIRECT_DESC);
}
END_TEST

START_TEST(test_reset_clears_everything)
{
    bring_up((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX));
    post(8);
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    vdevtest_set_status(T, 0);
    ck_assert_uint_eq(vdevtest_status(T), 0);
    ck_assert_uint_eq(virtio_device_features(T->vdev), 0);
    vdevtest_cc_write(T, VDEV_CC_GFSELECT, 0, 4);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_GF, 4), 0);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_MSIXCFG, 2), 0xffff);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QSELECT, 2), 0);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QSIZE, 2), VIRTIO_RNG_QUEUE_SIZE);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QENABLE, 2), 0);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QMSIX, 2), 0xffff);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QDESC, 4), 0);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QDEVICE, 4), 0);
    ck_assert(!virtq_is_ready(virtio_device_queue(T->vdev, 0)));
    /* A kick on the reset device does nothing. */
    post(8);
    vdevtest_kick(T, 0);
    g_usleep(20000);
    ck_assert(!virtq_driver_get_used(&T->q[0], &id, &len));
    /* And it comes back as new (fresh rings). */
    virtq_driver_fill(&T->q[0], RINGS_GPA, 0, virtq_driver_rings_bytes(16));
    bring_up(1ull << VIRTIO_F_VERSION_1);
    post(8);
    vdevtest_kick(T, 0);
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
    vdevtest_cfg_write(T, c + 4, 4, 1);
    vdevtest_cfg_write(T, c + 8, T->common + VDEV_CC_NUMQ, 4);
    vdevtest_cfg_write(T, c + 12, 2, 4);
    ck_assert_uint_eq(vdevtest_cfg_read(T, c + 16, 2), 1);
    /* queue_select through the window, read back through the BAR. */
    vdevtest_cfg_write(T, c + 8, T->common + VDEV_CC_QSELECT, 4);
    vdevtest_cfg_write(T, c + 16, 7, 2);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QSELECT, 2), 7);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QSIZE, 2), 0); /* no such queue */
    /* A bad window reads all-ones and writes nothing. */
    vdevtest_cfg_write(T, c + 12, 3, 4);
    ck_assert_uint_eq(vdevtest_cfg_read(T, c + 16, 4), 0xffffffffu);
    vdevtest_cfg_write(T, c + 4, 2, 1);
    vdevtest_cfg_write(T, c + 12, 2, 4);
    vdevtest_cfg_write(T, c + 16, 0, 2);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QSELECT, 2), 7);
}
END_TEST

/* ---- hostile drivers ------------------------------------------------------ */

START_TEST(test_hostile_queue_size)
{
    vdevtest_msix_enable(T);
    ck_assert(vdevtest_negotiate(T, 1ull << VIRTIO_F_VERSION_1));
    vdevtest_cc_write(T, VDEV_CC_MSIXCFG, VDEV_VEC_CONFIG, 2);
    unsigned before = msi_count();
    vdevtest_cc_write(T, VDEV_CC_QSELECT, 0, 2);
    vdevtest_cc_write(T, VDEV_CC_QSIZE, 100, 2);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_gt(msi_count(), before); /* configuration interrupt */
    ck_assert_uint_eq(vdevtest_bar_read(T, T->isr, 1) & 2, 2);
    /* Bigger than the maximum, and 0, are refused the same way. */
    ck_assert(vdevtest_negotiate(T, 1ull << VIRTIO_F_VERSION_1));
    vdevtest_cc_write(T, VDEV_CC_QSIZE, 512, 2);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert(vdevtest_negotiate(T, 1ull << VIRTIO_F_VERSION_1));
    vdevtest_cc_write(T, VDEV_CC_QSIZE, 0, 2);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    /* A device in NEEDS_RESET does not start. */
    vdevtest_set_status(T, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                               VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    ck_assert(!g_atomic_int_get(&T->vdev->core->active));
}
END_TEST

START_TEST(test_hostile_ring_outside_ram)
{
    vdevtest_msix_enable(T);
    ck_assert(vdevtest_negotiate(T, 1ull << VIRTIO_F_VERSION_1));
    vdevtest_cc_write(T, VDEV_CC_MSIXCFG, VDEV_VEC_CONFIG, 2);
    unsigned before = msi_count();
    vdevtest_cc_write(T, VDEV_CC_QSELECT, 0, 2);
    vdevtest_cc_write(T, VDEV_CC_QSIZE, 16, 2);
    vdevtest_cc_write64(T, VDEV_CC_QDESC, RAM_SIZE + 0x1000); /* past the end of RAM */
    vdevtest_cc_write64(T, VDEV_CC_QDRIVER, RINGS_GPA + 0x1000);
    vdevtest_cc_write64(T, VDEV_CC_QDEVICE, RINGS_GPA + 0x2000);
    vdevtest_cc_write(T, VDEV_CC_QENABLE, 1, 2);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QENABLE, 2), 0);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_gt(msi_count(), before);
    /* A ring straddling the end of RAM, and a misaligned one. */
    ck_assert(vdevtest_negotiate(T, 1ull << VIRTIO_F_VERSION_1));
    vdevtest_cc_write64(T, VDEV_CC_QDESC, RAM_SIZE - 16);
    vdevtest_cc_write64(T, VDEV_CC_QDRIVER, RINGS_GPA + 0x1000);
    vdevtest_cc_write64(T, VDEV_CC_QDEVICE, RINGS_GPA + 0x2000);
    vdevtest_cc_write(T, VDEV_CC_QENABLE, 1, 2);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert(vdevtest_negotiate(T, 1ull << VIRTIO_F_VERSION_1));
    vdevtest_cc_write64(T, VDEV_CC_QDESC, RINGS_GPA + 8);
    vdevtest_cc_write(T, VDEV_CC_QENABLE, 1, 2);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QENABLE, 2), 0);
}
END_TEST

START_TEST(test_hostile_descriptor)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    ck_assert_uint_eq(vdevtest_irqfd_events(T, VDEV_VEC_CONFIG), 0);
    uint8_t gen = (uint8_t)vdevtest_cc_read(T, VDEV_CC_CFGGEN, 1);
    vdevtest_post_raw(T, 0, 0x7fff00000000ull, 64, true);
    vdevtest_kick(T, 0);
    ck_assert(wait_status(VIRTIO_STATUS_NEEDS_RESET));
    ck_assert_uint_eq(vdevtest_irqfd_events(T, VDEV_VEC_CONFIG), 1);
    ck_assert_uint_eq((uint8_t)vdevtest_cc_read(T, VDEV_CC_CFGGEN, 1), gen);
    /* The device stopped: a good buffer is not consumed. */
    post(8);
    vdevtest_kick(T, 0);
    g_usleep(20000);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->q[0], &id, &len));
    /* The driver resets and starts over. */
    virtq_driver_fill(&T->q[0], RINGS_GPA, 0, virtq_driver_rings_bytes(16));
    bring_up(1ull << VIRTIO_F_VERSION_1);
    ck_assert_uint_eq(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET, 0);
    post(8);
    vdevtest_kick(T, 0);
    ck_assert(wait_used(&id, &len));
    ck_assert_uint_eq(len, 8);
}
END_TEST

START_TEST(test_hostile_register_access)
{
    /* Odd sizes and offsets are defined behaviour. */
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_DF + 2, 2),
                      vdevtest_cc_read(T, VDEV_CC_DF, 4) >> 16);
    /* unaligned: refused by the dispatcher */
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_DF + 1, 2), 0xffff);
    vdevtest_cc_write(T, VDEV_CC_STATUS, 0xffff, 2); /* spans two fields: dropped */
    ck_assert_uint_eq(vdevtest_status(T), 0);
    ck_assert_uint_eq(vdevtest_cc_read(T, 0x38, 2), 0xffff);
    ck_assert_uint_eq(vdevtest_cc_read(T, 0x800, 4), 0xffffffffu);
    vdevtest_cc_write(T, VDEV_CC_NUMQ, 9, 2);
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_NUMQ, 2), 1);
    vdevtest_cc_write(T, VDEV_CC_QMSIX, 99, 2); /* no such vector */
    ck_assert_uint_eq(vdevtest_cc_read(T, VDEV_CC_QMSIX, 2), 0xffff);
    vdevtest_bar_write(T, T->notify + 0x100, 0, 2); /* no such queue */
    vdevtest_bar_write(T, T->notify, 0, 2);         /* queue not enabled */
    ck_assert_uint_eq(vdevtest_bar_read(T, 0x2000, 4), 0xffffffffu); /* rng has no device config */
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
        if (off == T->common + VDEV_CC_STATUS && (r & 0x10000))
            continue; /* keep some runs going without resets */
        uint64_t v = rnd();
        if ((r >> 40) & 1)
            vdevtest_bar_write(T, off, v, size);
        else
            vdevtest_bar_read(T, off, size);
        if ((i & 63) == 0) {
            /* scribble on the rings */
            uint64_t at = RINGS_GPA + (rnd() % virtq_driver_rings_bytes(16));
            uint8_t byte = (uint8_t)rnd();
            memory_write(vm_memory(T->vm), at, &byte, 1);
            vdevtest_kick(T, 0);
        }
    }
    g_usleep(20000);
    virtq_driver_fill(&T->q[0], RINGS_GPA, 0, virtq_driver_rings_bytes(16));
    vdevtest_cfg_write(T, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    bring_up(1ull << VIRTIO_F_VERSION_1);
    post(8);
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
}
END_TEST

START_TEST(test_pause_resume)
{
    bring_up(1ull << VIRTIO_F_VERSION_1);
    virtio_device_pause(T->vdev);
    post(8);
    vdevtest_kick(T, 0);
    g_usleep(20000);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->q[0], &id, &len));
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
