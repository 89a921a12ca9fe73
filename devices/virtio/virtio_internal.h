/* Calls between the virtio core (virtio.c) and its PCI transport
 * (transport_pci.c). Not for device models: they only see virtio.h.
 *
 * Split of responsibilities:
 *   virtio.c         device status machine, feature negotiation, config
 *                    generation, the queues and their notifier eventfds on
 *                    the I/O loop, activation/reset/pause/resume, NEEDS_RESET.
 *   transport_pci.c  the PCI function: capabilities, BAR 4 register file
 *                    (common/ISR/device/notify), MSI-X vectors and the INTx
 *                    fallback, ioeventfd registration on the BAR.
 *
 * Locks: VirtioCore.lock and VirtioTransport.lock are leaves with respect to
 * each other: neither file calls into the other while holding its own lock
 * (a reset waits for the I/O thread, which may itself take either lock).
 * Device callbacks (activate, reset, queue_notify) all run on the I/O loop. */
#pragma once
#include "devices/virtio/virtio.h"

#define VIRTIO_NO_VECTOR 0xffffu

/* Queue address registers (common configuration). */
typedef enum { VIRTIO_QADDR_DESC, VIRTIO_QADDR_DRIVER, VIRTIO_QADDR_DEVICE, VIRTIO_QADDR_COUNT } VirtioQueueAddr;

typedef struct VirtioQueueCtx {
    VirtioDevice *vdev;
    unsigned index;
    int kick_fd;     /* eventfd: ioeventfd target and MMIO-notify fallback */
    GSource *source; /* kick_fd watched on the I/O loop (NULL while paused) */
    char *name;      /* "<id> q<n>" for guest-error logs */
    uint64_t addr[VIRTIO_QADDR_COUNT]; /* staged by the driver, used at enable */
} VirtioQueueCtx;

struct VirtioCore {
    GMutex lock;              /* everything below except the atomics */
    EventLoop *io;
    uint64_t host_features;   /* offered (device's + core's) */
    uint64_t guest_features;  /* as written by the driver */
    uint64_t features;        /* negotiated: valid once FEATURES_OK was accepted */
    uint8_t status;           /* device_status (atomic reads allowed) */
    uint8_t config_generation;
    gint active;              /* atomic: DRIVER_OK accepted and activated, no NEEDS_RESET */
    gint paused;              /* atomic */
    VirtioQueueCtx *q;        /* info.num_queues */
};

/* ---- core, called by the transport (vCPU threads) ---- */

uint64_t virtio_core_host_features(VirtioDevice *vdev);
uint64_t virtio_core_guest_features(VirtioDevice *vdev);
/* Write 32 bits of the driver's features (word 0: bits 0-31, 1: 32-63);
 * ignored outside the DRIVER..FEATURES_OK window. */
void virtio_core_set_guest_features(VirtioDevice *vdev, unsigned word, uint32_t value);
/* A driver write of device_status (0: reset, which completes before return). */
void virtio_core_write_status(VirtioDevice *vdev, uint8_t status);
uint8_t virtio_core_config_generation(VirtioDevice *vdev);

/* Queue registers of queue `q` (< num_queues). */
uint16_t virtio_core_queue_size(VirtioDevice *vdev, unsigned q);
void virtio_core_queue_set_size(VirtioDevice *vdev, unsigned q, uint16_t size);
uint64_t virtio_core_queue_addr(VirtioDevice *vdev, unsigned q, VirtioQueueAddr which);
/* Replace the bits in `mask` of a staged address (32-bit halves). */
void virtio_core_queue_set_addr(VirtioDevice *vdev, unsigned q, VirtioQueueAddr which,
                                uint64_t value, uint64_t mask);
bool virtio_core_queue_enabled(VirtioDevice *vdev, unsigned q);
/* queue_enable = 1: validate and enable; errors put the device in NEEDS_RESET. */
void virtio_core_queue_enable(VirtioDevice *vdev, unsigned q);
/* The driver notified queue q through an MMIO write the accelerator did not
 * catch: signal the queue's eventfd, as the ioeventfd would have. */
void virtio_core_kick(VirtioDevice *vdev, unsigned q);
int virtio_core_kick_fd(VirtioDevice *vdev, unsigned q);

/* ---- transport, called by the core ---- */

/* The PCI function: identification, BAR 4, capabilities, MSI-X, plug. */
bool virtio_pci_init(VirtioDevice *vdev, GError **errp);
/* Unplug and free (accepts a partial init). */
void virtio_pci_cleanup(VirtioDevice *vdev);
/* Transport registers back to reset values (selectors, vectors, ISR, INTx).
 * `function_reset`: also a PCI function reset (VM reset, not driver reset). */
void virtio_pci_reset(VirtioDevice *vdev, bool function_reset);
/* DRIVER_OK: bind the vectors in use to irqfds so that interrupts from the
 * I/O thread go straight to the accelerator. */
void virtio_pci_activate(VirtioDevice *vdev);
/* Raise the interrupt of queue q, or the configuration interrupt (q < 0). */
void virtio_pci_interrupt(VirtioDevice *vdev, int q);

/* ---- state (virtio_state.c) ---- */

/* Core part: status, features, config generation, queues (virtq_save/load)
 * and their staged addresses; on LOAD it also re-activates the device model
 * when the state has DRIVER_OK. */
bool virtio_core_state_sync(VirtioDevice *vdev, VirtioState *st, DeviceStateDir dir, GError **errp);
/* Transport part: selectors, vectors, ISR. */
void virtio_pci_state_sync(VirtioDevice *vdev, VirtioState *st, DeviceStateDir dir);
