/* Shared by vsock.c (the virtio device: queues and packets) and
 * vsock_events.c (the host side: the listening socket, handshakes,
 * connection sockets and the timer). Everything here runs on the device's
 * I/O loop once realize has returned. */
#pragma once
#include "devices/virtio/virtio.h"
#include "devices/virtio/vsock/vsock.h"
#include "devices/virtio/vsock/vsock_conn.h"
#include "devices/virtio/vsock/vsock_packet.h"

/* Control packets waiting for rx buffers: tx processing pauses above SOFT
 * (each tx packet adds at most one); host events beyond HARD are refused. */
#define VSOCK_CTRL_SOFT_MAX 256u
#define VSOCK_CTRL_HARD_MAX 512u

/* A host client that has not sent its CONNECT line yet. */
typedef struct VsockPending {
    struct VirtioVsock *owner;
    int fd;
    GSource *watch;
    int64_t deadline_us;
    char line[32];
    unsigned len;
} VsockPending;

typedef struct VirtioVsock {
    VirtioDevice vdev; /* first */
    uint64_t guest_cid;
    char *path;
    int listen_fd;
    bool path_created; /* we bound PATH: unlink it at unrealize */
    EventLoop *io;     /* set once virtio_device_init succeeded */

    /* I/O loop only: */
    GSource *listen_watch;
    GSource *timer;
    VsockConnTable conns;
    GList *pending; /* VsockPending* */
    unsigned npending;
    GQueue ctrl; /* VsockHdr* to send the guest */
    bool driver_ok;
    bool paused;
    bool rx_starved; /* the rx queue ran dry: socket reads wait for buffers */
    bool tx_blocked; /* tx processing stopped at VSOCK_CTRL_SOFT_MAX */
    unsigned rx_pushed; /* used rx buffers not yet signalled */
    VirtqElement rx_elem;
    VirtqElement tx_elem;
} VirtioVsock;

/* ---- vsock.c ---- */

/* Whether the queues may be touched now (driver running, not paused, no
 * NEEDS_RESET). */
bool vsock_queues_usable(VirtioVsock *v);
/* Queue a control packet for the guest (credit fields from c when given) and
 * try to deliver it. False when the control queue is full. */
bool vsock_send_ctrl(VirtioVsock *v, VsockConn *c, uint16_t op, uint32_t flags,
                     uint32_t local_port, uint32_t peer_port);
/* Deliver queued control packets; false if some remain (no rx buffers). */
bool vsock_flush_ctrl(VirtioVsock *v);
/* Interrupt the driver for rx buffers used since the last call. */
void vsock_rx_signal(VirtioVsock *v);

/* ---- vsock_events.c ---- */

bool vsock_listen(VirtioVsock *v, GError **errp);
void vsock_listener_start(VirtioVsock *v);
/* Host socket of guest-initiated connections to port: "PATH_<port>". */
int vsock_connect_host(VirtioVsock *v, uint32_t port);
/* Recompute what c's socket is watched for (reads only while the guest can
 * take data, writes only while data waits). */
void vsock_conn_update_watch(VirtioVsock *v, VsockConn *c);
void vsock_update_all_watches(VirtioVsock *v);
/* Write buffered guest data (and the OK line) to the socket. False when the
 * connection was reset and freed. */
bool vsock_conn_flush(VirtioVsock *v, VsockConn *c);
/* Forget c: watch, socket, table entry, memory. */
void vsock_conn_destroy(VirtioVsock *v, VsockConn *c);
/* Send the guest an RST for c, then destroy it. */
void vsock_conn_reset(VirtioVsock *v, VsockConn *c);
/* A guest-visible write of guest payload into c's socket: directly when
 * nothing is buffered, the rest into the ring. False: c was reset. */
bool vsock_conn_write_payload(VirtioVsock *v, VsockConn *c, const struct iovec *iov,
                              unsigned n, size_t off, uint32_t len);
/* Make sure the timer runs (handshakes or closings under way). */
void vsock_timer_arm(VirtioVsock *v);
/* Close every connection and pending client; stop watches and the timer. */
void vsock_drop_all(VirtioVsock *v, bool pending_too);
