/* A fixture for virtio device tests: a Vm on the fake accelerator with a
 * PCI host bridge and guest RAM, one virtio device under test, and the test
 * playing its driver through ECAM config accesses and BAR 4 (common config,
 * device config, notify), with split virtqueues laid out by VirtqDriver.
 * Interrupts stay on INTx; the tests poll the used rings (the device works
 * on its I/O thread). */
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

typedef enum {
    VDEV_RAM_GUARDED, /* host mapping between PROT_NONE guards (no memfd) */
    VDEV_RAM_PRIVATE, /* memfd RAM, MAP_PRIVATE */
    VDEV_RAM_SHARED,  /* memfd RAM, MAP_SHARED */
} VdevRamKind;

typedef struct VdevTest {
    Accel *accel;
    EventLoop *loop;
    Vm *vm;
    GuardedRam guarded;
    MemRegion *ram; /* memfd kinds */
    uint64_t ram_size;
    Device *dev;
    VirtioDevice *vdev;
    uint8_t devfn;
    uint64_t bar;
    uint32_t common, notify, isr, device, mult;
    VirtqDriver q[VDEV_MAX_QUEUES];
} VdevTest;

/* ram_size >= 8 MiB is plenty; a multiple of the page size. */
VdevTest *vdevtest_new(VdevRamKind kind, uint64_t ram_size);
void vdevtest_free(VdevTest *t);
/* Create the device (asserts success), find its capabilities, enable decode. */
Device *vdevtest_add(VdevTest *t, const DeviceOps *ops, const char *id, const void *cfg);
/* Host pointer of guest RAM at gpa. */
void *vdevtest_hva(VdevTest *t, Gpa gpa, uint64_t len);

uint64_t vdevtest_cc_read(VdevTest *t, uint32_t off, unsigned size);
void vdevtest_cc_write(VdevTest *t, uint32_t off, uint64_t v, unsigned size);
uint64_t vdevtest_devcfg_read(VdevTest *t, uint32_t off, unsigned size);
void vdevtest_devcfg_write(VdevTest *t, uint32_t off, uint64_t v, unsigned size);
uint8_t vdevtest_status(VdevTest *t);
uint8_t vdevtest_config_generation(VdevTest *t);
uint16_t vdevtest_num_queues(VdevTest *t);

uint64_t vdevtest_offered(VdevTest *t);
/* Reset, ACKNOWLEDGE|DRIVER, write features, FEATURES_OK; true if accepted. */
bool vdevtest_negotiate(VdevTest *t, uint64_t features);
/* Lay out queue q (size entries) and enable it. */
void vdevtest_queue(VdevTest *t, uint16_t q, uint16_t size);
void vdevtest_driver_ok(VdevTest *t);
/* negotiate(VERSION_1 | features) + queues 0..nq-1 of `size` + DRIVER_OK. */
void vdevtest_bring_up(VdevTest *t, uint64_t features, unsigned nq, uint16_t size);
void vdevtest_kick(VdevTest *t, uint16_t q);

/* Wait (polling) for the next used entry of queue q. */
bool vdevtest_wait_used(VdevTest *t, uint16_t q, uint32_t *id, uint32_t *len,
                        unsigned timeout_ms);
/* Wait until (status & mask) == mask. */
bool vdevtest_wait_status(VdevTest *t, uint8_t mask, unsigned timeout_ms);
/* Run fn on the device's I/O loop and wait: everything queued before is done. */
void vdevtest_sync_io(VdevTest *t);
