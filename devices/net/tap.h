/* TAP backend for virtio-net: a Linux tap interface opened through
 * /dev/net/tun, one file descriptor per queue pair (IFF_MULTI_QUEUE when
 * there is more than one).
 *
 * Every fd is non-blocking and carries a 12-byte virtio-net header in front
 * of each frame (IFF_VNET_HDR + TUNSETVNETHDRSZ): the virtio 1.x
 * struct virtio_net_hdr including num_buffers. Frames read from the tap get
 * the header filled by the kernel except num_buffers (left as it was in the
 * caller's buffer); frames written to the tap must start with one.
 *
 * Two ways in:
 *   tap_open()    an existing tap the user made (e.g. `ip tuntap add mode tap
 *                 multi_queue` for several queue pairs); its addresses and
 *                 link state are left alone.
 *   tap_create()  a new tap named nimbus%d, optionally given an IPv4 address
 *                 and netmask, and brought up. It is not persistent: the
 *                 kernel deletes it when the last fd closes.
 *
 * Control-plane calls report errors through GError (NIMBUS_ERROR); the data
 * and offload calls return -errno. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Bytes of the virtio-net header carried on every frame. */
#define TAP_VNET_HDR_LEN 12u
/* Most queue pairs a tap can have here (the kernel allows up to 256). */
#define TAP_MAX_QUEUES 64u

/* Offload bits for tap_set_offload() (the kernel's TUN_F_* values): what the
 * reader of the tap (the guest) accepts in frames it receives. */
enum {
    TAP_OFFLOAD_CSUM = 0x01,    /* partial checksums (NEEDS_CSUM) */
    TAP_OFFLOAD_TSO4 = 0x02,
    TAP_OFFLOAD_TSO6 = 0x04,
    TAP_OFFLOAD_TSO_ECN = 0x08,
    TAP_OFFLOAD_UFO = 0x10,
};

typedef struct Tap Tap;

/* Open the existing tap `name` with `nqueues` (1..TAP_MAX_QUEUES) fds.
 * Errors: no such interface (NOT_FOUND), not a tap or multi-queue mismatch,
 * busy (another process holds a single-queue tap), permission denied. */
Tap *tap_open(const char *name, unsigned nqueues, GError **errp);
/* Create nimbus%d with `nqueues` fds. `ip`/`mask` (dotted IPv4, both
 * optional; mask needs ip) are assigned to the host side; the link is
 * brought up. */
Tap *tap_create(const char *ip, const char *mask, unsigned nqueues, GError **errp);
void tap_close(Tap *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Tap, tap_close)

const char *tap_name(const Tap *t);
unsigned tap_queue_count(const Tap *t);
int tap_fd(const Tap *t, unsigned queue);
/* True when nimbus created the interface (it goes away with tap_close). */
bool tap_created(const Tap *t);
/* TAP_OFFLOAD_* bits the kernel accepted when probed at open time. */
unsigned tap_offloads_supported(const Tap *t);

/* Set the offloads (TAP_OFFLOAD_*; TSO and UFO bits only count with CSUM).
 * Device-wide. 0 or -errno. */
int tap_set_offload(Tap *t, unsigned offloads);
/* Multi-queue: attach (frames are steered to it) or detach queue `queue`.
 * Idempotent; a single-queue tap accepts only enabling queue 0. 0 or -errno. */
int tap_set_queue_enabled(Tap *t, unsigned queue, bool enabled);
bool tap_queue_enabled(const Tap *t, unsigned queue);

/* One frame (vnet header first) from queue `queue`: bytes read, -EAGAIN when
 * none is waiting, or another -errno. */
ssize_t tap_read(Tap *t, unsigned queue, void *buf, size_t len);
/* Write one frame given as an iovec array (vnet header first): bytes
 * written or -errno (-EAGAIN: try again when the fd is writable). */
ssize_t tap_writev(Tap *t, unsigned queue, const struct iovec *iov, int iovcnt);
