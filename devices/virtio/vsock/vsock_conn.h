/* virtio-vsock connections and the table that finds them.
 *
 * A connection joins a guest stream socket (peer_port on the guest's CID) to
 * a host UNIX stream socket (fd), known to the guest as port local_port on
 * the host (CID 2). It is keyed by (local_port, peer_port).
 *
 * Credit (virtio 1.2 5.10.6.3): each side advertises buf_alloc (its receive
 * buffer) and fwd_cnt (bytes it has consumed) in every packet; a sender may
 * have at most buf_alloc - (tx_cnt - fwd_cnt) bytes in flight.
 *   guest -> host: data the host socket does not take at once waits in
 *     `out`, a ring of VSOCK_CONN_BUF_ALLOC bytes; rx_cnt counts payload
 *     received, fwd_cnt payload written to the socket, so out.len ==
 *     rx_cnt - fwd_cnt. A guest that overruns its credit is reset.
 *   host -> guest: tx_cnt counts payload sent; the socket is read only while
 *     the guest advertises free space (vsock_conn_peer_credit).
 * Pure data structure: no sockets are opened or closed here. */
#pragma once
#include "devices/virtio/vsock/vsock_packet.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* Our receive buffer per connection (what we advertise as buf_alloc). */
#define VSOCK_CONN_BUF_ALLOC (128u * 1024u)
/* Send a credit update once the guest's view of our free space is below this
 * and we have forwarded data since the last advertisement. */
#define VSOCK_CONN_CREDIT_LOW (VSOCK_CONN_BUF_ALLOC / 2)
/* Host ports handed to host-initiated connections start here. */
#define VSOCK_EPHEMERAL_BASE 0x40000000u

/* A byte ring with a fixed capacity; storage allocated on first use. */
typedef struct VsockRing {
    uint8_t *buf;
    uint32_t cap;
    uint32_t head; /* offset of the first byte */
    uint32_t len;
} VsockRing;

void vsock_ring_init(VsockRing *r, uint32_t cap);
void vsock_ring_clear(VsockRing *r);
static inline uint32_t vsock_ring_free(const VsockRing *r)
{
    return r->cap - r->len;
}
/* Append up to len bytes from [off, off + len) of iov; returns bytes taken. */
size_t vsock_ring_push_iov(VsockRing *r, const struct iovec *iov, unsigned n, size_t off,
                           size_t len);
size_t vsock_ring_push(VsockRing *r, const void *data, size_t len);
/* The buffered bytes as (at most two) iovecs; returns the count. */
unsigned vsock_ring_peek(const VsockRing *r, struct iovec out[2]);
void vsock_ring_consume(VsockRing *r, size_t n);

typedef enum VsockConnState {
    VSOCK_CONN_CONNECTING,  /* host-initiated: REQUEST sent, awaiting RESPONSE */
    VSOCK_CONN_ESTABLISHED,
    VSOCK_CONN_CLOSING,     /* guest shut both ways: flushing `out`, then RST */
} VsockConnState;

typedef struct VsockConn {
    uint32_t local_port; /* host side */
    uint32_t peer_port;  /* guest side */
    VsockConnState state;
    bool host_initiated;
    void *owner;             /* the device, for socket callbacks */
    int fd;                  /* the host UNIX socket (owned by the device) */
    GSource *watch;          /* fd watch on the I/O loop (NULL: none) */
    GIOCondition watch_cond; /* what `watch` waits for */
    int64_t deadline_us;     /* CONNECTING/CLOSING: give up at this monotonic time */

    /* guest -> host */
    VsockRing out;
    char ok_line[24];  /* "OK <port>\n" for a host-initiated connection */
    uint8_t ok_len, ok_off;
    uint32_t rx_cnt;
    uint32_t fwd_cnt;
    uint32_t fwd_cnt_sent; /* fwd_cnt as last advertised to the guest */
    bool credit_update_queued;

    /* host -> guest */
    uint32_t tx_cnt;
    uint32_t peer_buf_alloc;
    uint32_t peer_fwd_cnt;

    bool peer_shut_rcv;  /* the guest receives no more */
    bool peer_shut_send; /* the guest sends no more */
    bool host_eof;       /* the host socket reached EOF (guest told SHUTDOWN SEND) */
    bool host_shut_wr;   /* shutdown(SHUT_WR) done on fd */
} VsockConn;

VsockConn *vsock_conn_new(uint32_t local_port, uint32_t peer_port, int fd);
/* Frees the struct and its buffer; the caller closed fd and removed watch. */
void vsock_conn_free(VsockConn *c);

/* Take buf_alloc/fwd_cnt from any packet the guest sent on this connection. */
void vsock_conn_peer_credit_update(VsockConn *c, const VsockHdr *h);
/* Bytes we may send the guest now. */
uint32_t vsock_conn_peer_credit(const VsockConn *c);
/* Whether `len` more payload bytes from the guest fit its credit. */
bool vsock_conn_rx_fits(const VsockConn *c, uint32_t len);
/* Whether the guest should be told our fwd_cnt now (see CREDIT_LOW). */
bool vsock_conn_credit_update_due(const VsockConn *c);
/* Fill the credit fields of a header we send and remember fwd_cnt_sent. */
void vsock_conn_stamp(VsockConn *c, VsockHdr *h);

/* ---- the table ---- */

typedef struct VsockConnTable {
    GHashTable *map; /* (local_port << 32 | peer_port) -> VsockConn* */
    uint32_t next_port;
} VsockConnTable;

void vsock_conn_table_init(VsockConnTable *t);
/* Frees the table, not the connections. */
void vsock_conn_table_destroy(VsockConnTable *t);
unsigned vsock_conn_table_count(const VsockConnTable *t);
VsockConn *vsock_conn_table_lookup(const VsockConnTable *t, uint32_t local_port,
                                   uint32_t peer_port);
/* False (nothing changed) if the key is taken. */
bool vsock_conn_table_insert(VsockConnTable *t, VsockConn *c);
void vsock_conn_table_remove(VsockConnTable *t, VsockConn *c);
/* A host port for a new connection to guest port peer_port: one at or above
 * VSOCK_EPHEMERAL_BASE whose key is free (rotating, so ports are not reused
 * at once). */
uint32_t vsock_conn_table_alloc_port(VsockConnTable *t, uint32_t peer_port);
/* The keys of every connection (g_free() the array; *n its length), for
 * loops that may free connections: look each one up again before use. */
uint64_t *vsock_conn_table_keys(const VsockConnTable *t, unsigned *n);
static inline uint64_t vsock_conn_key(uint32_t local_port, uint32_t peer_port)
{
    return (uint64_t)local_port << 32 | peer_port;
}
VsockConn *vsock_conn_table_lookup_key(const VsockConnTable *t, uint64_t key);
