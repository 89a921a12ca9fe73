/* A fixture for virtio device tests: a Vm on the fake accelerator with a
 * PCI host bridge and guest RAM, one virtio device under test, and the test
 * playing its driver through ECAM config accesses and BAR 4 (common config,
 * device config, notify), with split virtqueues laid out by VirtqDriver.
 * Interrupts stay on INTx unless the test turns MSI-X on
 * (vdevtest_msix_enable); the tests poll the used rings either way (the
 * device works on its I/O thread). */
#pragma once
#include "devices/virtio/virtio.h"
#include "hypervisor/vm.h"
#include "support/virtq_driver.h"

#include <stdbool.h>
#include <stdint.h>

#define VDEV_MAX_QUEUES 8
/* Guest-physical layout: RAM [0, ram_size); queue q's rings at
 * VDEV_RINGS(q), its buffers in [VDEV_DATA(q), + VDEV_DATA_SIZE). */
#define VDEV_RINGS(q) (0x10000ull + (uint64_t)(q) * 0x10000ull)
#define VDEV_DATA(q) (0x100000ull + (uint64_t)(q) * 0x40000ull)
#define VDEV_DATA_SIZE 0x40000ull
#define VDEV_FREE_GPA 0x400000ull /* first byte no queue uses */
/* Where the host bridge places 64-bit BARs (a test may move BAR 4 there). */
#define VDEV_MMIO64_BASE 0x10000000000ull

/* How long the fixture's callers usually wait for the device. */
#define VDEV_WAIT_MS 5000
/* vdevtest_post fills a buffer given no contents with this byte. */
#define VDEV_FILL 0xee

/* MSI-X routing once vdevtest_msix_enable ran: configuration changes on
 * vector 0, every queue on vector 1. */
#define VDEV_VEC_CONFIG 0
#define VDEV_VEC_QUEUE 1
#define VDEV_NO_VECTOR 0xffff

/* Common configuration offsets (virtio 1.2, 4.1.4.3). */
enum {
    VDEV_CC_DFSELECT = 0x00, VDEV_CC_DF = 0x04, VDEV_CC_GFSELECT = 0x08, VDEV_CC_GF = 0x0c,
    VDEV_CC_MSIXCFG = 0x10, VDEV_CC_NUMQ = 0x12, VDEV_CC_STATUS = 0x14, VDEV_CC_CFGGEN = 0x15,
    VDEV_CC_QSELECT = 0x16, VDEV_CC_QSIZE = 0x18, VDEV_CC_QMSIX = 0x1a, VDEV_CC_QENABLE = 0x1c,
    VDEV_CC_QNOFF = 0x1e, VDEV_CC_QDESC = 0x20, VDEV_CC_QDRIVER = 0x28, VDEV_CC_QDEVICE = 0x30,
};

typedef enum {
    VDEV_RAM_GUARDED, /* host mapping between PROT_NONE guards (no memfd) */
    VDEV_RAM_PRIVATE, /* memfd RAM, MAP_PRIVATE */
    VDEV_RAM_SHARED,  /* memfd RAM, MAP_SHARED */
} VdevRamKind;

typedef struct VdevTest {
    Accel *accel;
    EventLoop *loop;
    Vm *vm; /* a test may free it early (and set NULL) to check unrealize */
    GuardedRam guarded;
    MemRegion *ram; /* memfd kinds */
    uint64_t ram_size;
    Device *dev;
    VirtioDevice *vdev;
    uint8_t devfn;
    uint64_t bar; /* BAR 4; a test that moves it updates this */
    /* what the capability walk found: BAR 4 offsets, and config space
     * offsets of the MSI-X capability and the PCI_CFG access window */
    uint32_t common, notify, isr, device, device_len, mult;
    uint8_t msix_cap, cfg_cap;
    bool msix; /* vdevtest_msix_enable ran: bring-ups route vectors */
    /* the maximum queue_size the device showed at the last vdevtest_queue */
    uint16_t queue_max[VDEV_MAX_QUEUES];
    VirtqDriver q[VDEV_MAX_QUEUES];
} VdevTest;

/* ram_size >= 8 MiB is plenty; a multiple of the page size. */
VdevTest *vdevtest_new(VdevRamKind kind, uint64_t ram_size);
void vdevtest_free(VdevTest *t);
/* Create the device (asserts success), check and walk its capabilities,
 * find BAR 4 and enable memory decode and bus mastering. */
Device *vdevtest_add(VdevTest *t, const DeviceOps *ops, const char *id, const void *cfg);
/* Host pointer of guest RAM at gpa. */
void *vdevtest_hva(VdevTest *t, Gpa gpa, uint64_t len);

/* Raw accesses: the function's config space through ECAM, BAR 4 by offset. */
uint32_t vdevtest_cfg_read(VdevTest *t, uint32_t reg, unsigned size);
void vdevtest_cfg_write(VdevTest *t, uint32_t reg, uint32_t v, unsigned size);
uint64_t vdevtest_bar_read(VdevTest *t, uint64_t off, unsigned size);
void vdevtest_bar_write(VdevTest *t, uint64_t off, uint64_t v, unsigned size);

uint64_t vdevtest_cc_read(VdevTest *t, uint32_t off, unsigned size);
void vdevtest_cc_write(VdevTest *t, uint32_t off, uint64_t v, unsigned size);
void vdevtest_cc_write64(VdevTest *t, uint32_t off, uint64_t v);
uint64_t vdevtest_devcfg_read(VdevTest *t, uint32_t off, unsigned size);
void vdevtest_devcfg_write(VdevTest *t, uint32_t off, uint64_t v, unsigned size);
uint8_t vdevtest_status(VdevTest *t);
void vdevtest_set_status(VdevTest *t, uint8_t status);
uint8_t vdevtest_config_generation(VdevTest *t);
uint16_t vdevtest_num_queues(VdevTest *t);

/* Program MSI-X table entries VDEV_VEC_CONFIG and VDEV_VEC_QUEUE (unmasked)
 * and enable MSI-X; from now on bring-ups route the configuration and queue
 * interrupts there. Again after anything that may have scribbled on them. */
void vdevtest_msix_enable(VdevTest *t);
/* Events on a vector's irqfd since the last call (the core binds the
 * vectors in use at DRIVER_OK). */
uint64_t vdevtest_irqfd_events(VdevTest *t, unsigned vector);
/* The same, but first wait up to VDEV_WAIT_MS for at least one event: for
 * interrupts a device thread raises just after it publishes a used buffer
 * (the test may see the buffer before the eventfd is written). */
uint64_t vdevtest_irqfd_wait(VdevTest *t, unsigned vector);

uint64_t vdevtest_offered(VdevTest *t);
/* Reset, ACKNOWLEDGE|DRIVER, write features, FEATURES_OK; true if accepted.
 * Asserts that the device offers VIRTIO_F_VERSION_1. */
bool vdevtest_negotiate(VdevTest *t, uint64_t features);
/* Lay out queue q (size entries, fresh zeroed rings), route it (see
 * vdevtest_msix_enable), enable it; asserts the registers read back. */
void vdevtest_queue(VdevTest *t, uint16_t q, uint16_t size);
void vdevtest_driver_ok(VdevTest *t);
/* negotiate(VERSION_1 | features), the configuration vector with MSI-X,
 * queues 0..nq-1 of `size`, DRIVER_OK. */
void vdevtest_bring_up(VdevTest *t, uint64_t features, unsigned nq, uint16_t size);
void vdevtest_kick(VdevTest *t, uint16_t q);

/* Make one buffer of len bytes in q's data area available to the device:
 * data copied in, or VDEV_FILL bytes without data. Returns its gpa; *head
 * (if not NULL) gets the chain head, the id the used ring will name. */
Gpa vdevtest_post(VdevTest *t, uint16_t q, const void *data, uint32_t len, bool writable,
                  uint16_t *head);
/* Hostile drivers: a one-descriptor chain naming any gpa (outside RAM, say),
 * made available on q; returns its head. */
uint16_t vdevtest_post_raw(VdevTest *t, uint16_t q, Gpa gpa, uint32_t len, bool writable);

/* Wait (polling) for the next used entry of queue q. */
bool vdevtest_wait_used(VdevTest *t, uint16_t q, uint32_t *id, uint32_t *len,
                        unsigned timeout_ms);
/* Wait until (status & mask) == mask. */
bool vdevtest_wait_status(VdevTest *t, uint8_t mask, unsigned timeout_ms);
/* Run fn on the device's I/O loop and wait: everything queued before is done. */
void vdevtest_sync_io(VdevTest *t);
