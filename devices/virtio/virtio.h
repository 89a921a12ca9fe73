/* The virtio core as device models see it (virtio 1.2, modern only).
 *
 * A virtio device is a PCI function: VirtioDevice embeds PciDevice first
 * (which embeds Device first), so one DeviceOps table drives it like any
 * device. A model (virtio-blk, -net, -rng, ...) provides VirtioDeviceOps and
 * calls, in its DeviceOps.realize:
 *
 *     virtio_device_init(&me->vdev, &my_virtio_ops, &(VirtioDeviceInfo){...}, errp)
 *
 * which sets up the PCI function (virtio vendor/device ids, the common,
 * notify, ISR and device configuration capabilities in BAR 4, MSI-X with one
 * vector per queue plus one for configuration changes), plugs it into the
 * VM's PCI bus and registers an ioeventfd per queue notification address.
 * DeviceOps.reset/pause/resume/unrealize call virtio_device_reset/_pause/
 * _resume/_cleanup.
 *
 * Threads: config-space and BAR accesses run on vCPU threads; queue
 * notifications (ioeventfd) are delivered on the device's I/O event loop
 * (virtio_device_io_loop), where queue_notify runs. activate and reset run
 * there too (the vCPU writing device_status waits for them), so a device's
 * callbacks never race each other. After activate, and after resume, the
 * core calls queue_notify once per enabled queue, so buffers made available
 * before DRIVER_OK (or while paused) are not missed. Devices raise interrupts
 * with virtio_notify() from any thread: it honours the queue's interrupt
 * suppression and signals the vector's irqfd (or INTx when MSI-X is off).
 *
 * Hostile drivers: anything a queue reports as an error, or a protocol
 * violation the device finds, goes to virtio_device_set_needs_reset(): the
 * device stops processing, sets DEVICE_NEEDS_RESET and interrupts the driver
 * with a configuration change, as the spec says. The VMM never crashes. */
#pragma once
#include "devices/virtio/queue.h"
#include "hypervisor/evloop.h"
#include "pci/device.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Device ids (virtio 1.2, 5). */
enum {
    VIRTIO_ID_NET = 1,
    VIRTIO_ID_BLOCK = 2,
    VIRTIO_ID_CONSOLE = 3,
    VIRTIO_ID_RNG = 4,
    VIRTIO_ID_BALLOON = 5,
    VIRTIO_ID_VSOCK = 19,
};

/* Transport-level feature bits the core handles itself. */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Device status bits. */
enum {
    VIRTIO_STATUS_ACKNOWLEDGE = 1,
    VIRTIO_STATUS_DRIVER = 2,
    VIRTIO_STATUS_DRIVER_OK = 4,
    VIRTIO_STATUS_FEATURES_OK = 8,
    VIRTIO_STATUS_NEEDS_RESET = 64,
    VIRTIO_STATUS_FAILED = 128,
};

typedef struct VirtioDevice VirtioDevice;

typedef struct VirtioDeviceOps {
    /* Device-specific feature bits offered (the core adds VERSION_1,
     * INDIRECT_DESC and EVENT_IDX). */
    uint64_t (*features)(VirtioDevice *vdev);
    /* Optional: the driver set FEATURES_OK with `features` (already known to
     * be a subset of the offer that includes VERSION_1). Return false to
     * refuse the combination (FEATURES_OK then stays clear). */
    bool (*features_ok)(VirtioDevice *vdev, uint64_t features);
    /* Device configuration space (the device-specific BAR window): reads
     * and writes of 1, 2, 4 bytes inside [0, info.config_size). Optional. */
    void (*config_read)(VirtioDevice *vdev, uint32_t offset, void *buf, unsigned size);
    void (*config_write)(VirtioDevice *vdev, uint32_t offset, const void *buf, unsigned size);
    /* DRIVER_OK: the negotiated features (virtio_device_features) and the
     * enabled queues are final; start processing. False (with an error)
     * puts the device in NEEDS_RESET. */
    bool (*activate)(VirtioDevice *vdev, GError **errp);
    /* The driver reset the device (or the VM resets): stop processing and
     * forget driver-visible state. Queues are reset by the core after. */
    void (*reset)(VirtioDevice *vdev);
    /* The driver notified `queue` (runs on the I/O loop, only while active). */
    void (*queue_notify)(VirtioDevice *vdev, unsigned queue);
} VirtioDeviceOps;

typedef struct VirtioDeviceInfo {
    uint16_t device_id;       /* VIRTIO_ID_* */
    unsigned num_queues;
    uint16_t queue_max_size;  /* power of two, <= 32768 */
    uint32_t config_size;     /* bytes of device configuration */
} VirtioDeviceInfo;

typedef struct VirtioTransport VirtioTransport; /* transport_pci.c */
typedef struct VirtioCore VirtioCore;           /* virtio.c: status, features, notifiers */

struct VirtioDevice {
    PciDevice pci; /* first: a VirtioDevice is a PciDevice and a Device */
    const VirtioDeviceOps *ops;
    VirtioDeviceInfo info;
    VirtioTransport *transport;
    VirtioCore *core;
    VirtQueue *queues; /* info.num_queues of them */
    RateLimit guest_err;
};

/* Set up the function and plug it into the VM's PCI bus ("pci0"). */
bool virtio_device_init(VirtioDevice *vdev, const VirtioDeviceOps *ops,
                        const VirtioDeviceInfo *info, GError **errp);
/* Undo virtio_device_init (accepts a partial setup). */
void virtio_device_cleanup(VirtioDevice *vdev);
/* DeviceOps helpers: VM reset (like a driver reset), pause (no more
 * queue_notify calls until resume; in-flight work is the device's to drain
 * before returning from its own pause), resume. */
void virtio_device_reset(VirtioDevice *vdev);
void virtio_device_pause(VirtioDevice *vdev);
void virtio_device_resume(VirtioDevice *vdev);

VirtQueue *virtio_device_queue(VirtioDevice *vdev, unsigned index);
GuestMemory *virtio_device_memory(VirtioDevice *vdev);
EventLoop *virtio_device_io_loop(VirtioDevice *vdev);
/* Negotiated features (valid from activate on). */
uint64_t virtio_device_features(VirtioDevice *vdev);
bool virtio_device_has_feature(VirtioDevice *vdev, unsigned bit);
uint8_t virtio_device_status(VirtioDevice *vdev);

/* Have queue_notify(queue) called again soon on the I/O loop, as if the
 * driver had notified (a device that stopped early to bound its work).
 * Thread-safe. */
void virtio_device_queue_kick(VirtioDevice *vdev, unsigned queue);

/* Interrupt the driver for used buffers in `queue`, unless suppressed.
 * Thread-safe. */
void virtio_notify(VirtioDevice *vdev, unsigned queue);
/* The device configuration changed (bumps config_generation). */
void virtio_notify_config(VirtioDevice *vdev);
/* A driver error or broken device state: stop and signal NEEDS_RESET. */
void virtio_device_set_needs_reset(VirtioDevice *vdev, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#define VIRTIO_DEVICE(d) ((VirtioDevice *)(void *)(d))

/* ---- state (virtio_state.c) -------------------------------------------------
 * What every virtio device carries (Firecracker's VirtioDeviceState idea, our
 * own layout): the PCI function, device status, the driver's and the
 * negotiated features, config_generation, the transport's selectors, config
 * and per-queue MSI-X vectors and ISR, and every queue: its VirtqState (size,
 * rings, ready, next avail index, used index) plus the ring addresses the
 * driver staged. A device model embeds VirtioState first in its own state
 * struct (STATE_STRUCT with &virtio_state) and calls the helpers below from
 * its DeviceOps.state_sync / post_load_all.
 *
 * In-flight work is not state: DeviceOps.pause completes (virtio-blk) or
 * gives back (virtio_unpop) every popped chain, so a queue's last_avail_idx
 * is exactly where the destination resumes. */
#define VIRTIO_STATE_QUEUES_MAX 130u /* virtio-net: 64 pairs + control, with room */

typedef struct VirtioQueueState {
    VirtqState vq;
    uint64_t addr[3]; /* staged desc/driver/device addresses (VirtioQueueAddr) */
    uint16_t vector;  /* MSI-X vector, VIRTIO_NO_VECTOR (0xffff) for none */
} VirtioQueueState;

typedef struct VirtioState {
    PciDeviceState pci;
    uint8_t status;
    uint8_t config_generation;
    uint64_t guest_features; /* as the driver wrote them */
    uint64_t features;       /* negotiated (FEATURES_OK accepted) */
    uint32_t device_feature_select, driver_feature_select;
    uint16_t queue_select;
    uint16_t msix_config;
    uint8_t isr;
    uint16_t num_queues; /* <= VIRTIO_STATE_QUEUES_MAX; must equal the device's */
    VirtioQueueState queues[VIRTIO_STATE_QUEUES_MAX];
} VirtioState;

extern const StateDesc virtio_state;
extern const StateDesc virtq_state;

/* SAVE: the paused device -> st. LOAD: st (validated) -> the paused device,
 * which was reset: refuses a queue count, feature set or queue layout this
 * device cannot take; re-enables the queues (virtq_load) and, for a driver
 * that had reached DRIVER_OK, activates the device model again (its
 * activate callback) without kicking anything: resume does. */
bool virtio_device_state_sync(VirtioDevice *vdev, VirtioState *st, DeviceStateDir dir, GError **errp);
/* After every device loaded: INTx level, MSI-X routes, irqfds re-armed. */
bool virtio_device_post_load(VirtioDevice *vdev, GError **errp);

/* The state struct of a device with nothing beyond the core (rng, blk,
 * console): its description is STATE_STRUCT(VirtioCoreOnlyState, common, ...)
 * and these two go straight into its DeviceOps (.state_sync,
 * .post_load_all). Devices with more state call virtio_device_state_sync and
 * virtio_device_post_load from their own hooks. */
typedef struct VirtioCoreOnlyState {
    VirtioState common;
} VirtioCoreOnlyState;

bool virtio_device_state_sync_hook(Device *d, void *st, DeviceStateDir dir, GError **errp);
bool virtio_device_post_load_all(Device *d, GError **errp);
