/* One virtio-net queue pair's data path: frames from a file descriptor (the
 * tap queue) into the receive virtqueue, and transmit chains out to a file
 * descriptor. It knows virtqueues, fds and its event loop, but not the
 * transport: the owner (net.c) passes hooks for interrupts and for
 * NEEDS_RESET, so the tests drive it with a fake driver and a socketpair.
 *
 * Everything here runs on `loop`'s thread (start/stop through
 * evloop_run_sync from elsewhere).
 *
 * Receive: while running with receive on, the fd is watched. Each readable
 * event reads up to NET_QUEUE_BUDGET frames into a bounce buffer and copies
 * each into guest buffers (net_rx_copy). When the guest has no buffers left
 * the frame stays pending, the fd is no longer watched, and the next
 * receive kick (net_queue_rx_kick) delivers it and watches again.
 *
 * Transmit: a kick pops up to NET_QUEUE_BUDGET chains, writes each to the fd
 * (header as is), and publishes them with one interrupt decision; more work
 * continues from a zero-delay timer on the loop, so other sources run in
 * between. Guest kicks are suppressed while the queue is being drained. A
 * full fd (EAGAIN) puts the chain back and waits for the fd to be writable.
 *
 * Bad chains: a transmit chain that fails net_tx_check is dropped (used
 * length 0, counted, guest error logged); a receive buffer smaller than the
 * header or a broken ring calls hooks->broken. */
#pragma once
#include "devices/virtio/net/net.h"
#include "devices/virtio/queue.h"
#include "hypervisor/evloop.h"
#include "hypervisor/log.h"

#include <stdbool.h>
#include <stdint.h>

#define NET_QUEUE_BUDGET 64u

typedef struct NetQueueHooks {
    /* Used entries were published on `vq`: interrupt unless suppressed. */
    void (*notify)(void *opaque, VirtQueue *vq);
    /* The driver broke the protocol: put the device in NEEDS_RESET. The
     * owner must stop this queue (net_queue_stop) before returning. */
    void (*broken)(void *opaque, const char *why);
} NetQueueHooks;

typedef struct NetQueue {
    /* Set by the owner before net_queue_start(). */
    VirtQueue *rxq, *txq;
    int rx_fd, tx_fd;
    EventLoop *loop;
    const NetQueueHooks *hooks;
    void *opaque;
    NetCounters *counters;
    RateLimit *rl;      /* guest errors */
    const char *name;   /* "net0 q0" in logs */
    uint64_t features;  /* negotiated */

    /* private */
    bool running, rx_on;
    GSource *rx_watch, *tx_watch, *tx_later;
    uint8_t *rx_buf;
    size_t rx_len; /* a pending frame (0: none) */
    VirtqElement *rx_elems;
    uint32_t *rx_lens;
    unsigned rx_cap;
    VirtqElement tx_elem;
    uint8_t *tx_buf;
    RateLimit host_rl; /* host-side I/O errors */
} NetQueue;

/* Allocate the buffers (rxq->max_size chains per frame at most) and start:
 * transmit kicks are served; receive starts if `rx_on`. */
void net_queue_start(NetQueue *q, bool rx_on);
/* Stop watching and processing. A pending receive frame is kept for the
 * next start unless `discard`. */
void net_queue_stop(NetQueue *q, bool discard);
/* Turn receive on/off while running (multi-queue pair changes). */
void net_queue_set_rx(NetQueue *q, bool on);
/* The driver added receive buffers / transmit chains. */
void net_queue_rx_kick(NetQueue *q);
void net_queue_tx_kick(NetQueue *q);
/* Free the buffers (after stop). */
void net_queue_free(NetQueue *q);
