/* virtio-net (virtio 1.2, 5.1) on a TAP backend (devices/net/tap.h).
 *
 * Created through the device registry as type "virtio-net" (stage
 * DEVICE_STAGE_PCI_DEVICE) with a const NetConfig * (hypervisor/vm_config.h):
 * cfg->tap names an existing tap, otherwise nimbus creates nimbus%d with
 * cfg->ip/cfg->mask; cfg->num_queues is 2 * queue pairs (default 2), one tap
 * queue per pair; cfg->queue_size the ring size (default 256).
 *
 * Offered: MAC, STATUS (link up), MRG_RXBUF, CSUM and HOST_TSO4/TSO6/ECN
 * (frames go to the tap with their header), GUEST_CSUM/TSO4/TSO6/ECN as far
 * as the tap accepts them (TUNSETOFFLOAD follows what the driver takes), and
 * with more than one pair MQ + CTRL_VQ + CTRL_GUEST_OFFLOADS.
 *
 * Queues: receiveqN = 2(N-1), transmitqN = 2(N-1)+1, controlq last
 * (2 * pairs; index 2 when the driver did not take MQ). All queue work runs
 * on the device's I/O loop. */
#pragma once
#include "hypervisor/device.h"

#include <stdbool.h>
#include <stdint.h>

/* Per-device counters, for the API. Frame bytes exclude the virtio header. */
typedef struct NetCounters {
    uint64_t rx_bytes, rx_frames, rx_dropped;
    uint64_t tx_bytes, tx_frames, tx_dropped;
} NetCounters;

extern const DeviceOps virtio_net_ops;

/* A consistent-enough snapshot of the counters (relaxed loads). Any thread. */
void virtio_net_counters(Device *d, NetCounters *out);
/* The tap interface the device uses (e.g. "nimbus0"). */
const char *virtio_net_tap_name(Device *d);
/* The guest MAC address. */
void virtio_net_mac(Device *d, uint8_t mac[6]);

/* State (net_state.c): the virtio core only; see there. */
extern const StateDesc virtio_net_state;
