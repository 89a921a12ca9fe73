/* virtio-vsock (virtio 1.2 section 5.10) with cloud-hypervisor's / Firecracker's
 * "hybrid" host side: guest AF_VSOCK stream sockets meet host AF_UNIX stream
 * sockets.
 *
 *     device_create(vm, &virtio_vsock_ops, "vsock0",
 *                   &(VsockConfig){ .cid = 3, .socket = "/run/vm.vsock" }, errp)
 *
 * Queues: 0 rx (device -> driver packets), 1 tx (driver -> device), 2 event
 * (buffers are accepted and never used). Configuration: le64 guest_cid.
 *
 * Host-initiated: nimbus listens on VsockConfig.socket (PATH). A client
 * connects and writes "CONNECT <port>\n"; the guest is sent a REQUEST from
 * the host (CID 2) on a fresh local port >= 2^30. When the guest answers
 * RESPONSE, the client reads "OK <local port>\n" and the socket then carries
 * the stream. A refusal (RST), a malformed line, a device without a running
 * driver, or no answer within VIRTIO_VSOCK_HANDSHAKE_MS closes the client.
 *
 * Guest-initiated: a guest connecting to host port P is joined to the UNIX
 * socket "PATH_P" (which host software listens on); RST if nothing listens.
 *
 * PATH: an existing live socket there is an error, a stale one (nobody
 * accepting) is replaced, any other file is an error; it is removed again by
 * unrealize. Needs the PCI host bridge "pci0". */
#pragma once
#include "hypervisor/device.h"

#define VIRTIO_VSOCK_QUEUE_SIZE 256
#define VIRTIO_VSOCK_QUEUE_RX 0
#define VIRTIO_VSOCK_QUEUE_TX 1
#define VIRTIO_VSOCK_QUEUE_EVENT 2
/* Most connections at once (guest- and host-initiated together). */
#define VIRTIO_VSOCK_MAX_CONNS 256
/* Host clients waiting to send their CONNECT line. */
#define VIRTIO_VSOCK_MAX_PENDING 64
/* Time for a host client's CONNECT line plus the guest's answer, and for
 * flushing buffered data once the guest closed a connection. */
#define VIRTIO_VSOCK_HANDSHAKE_MS 5000

extern const DeviceOps virtio_vsock_ops;

/* State (vsock_state.c): the virtio core only; connections are reset on
 * restore and the guest is sent a TRANSPORT_RESET event. */
extern const StateDesc virtio_vsock_state;
bool virtio_vsock_post_load_all(Device *d, GError **errp);
