/* virtio-vsock connection state, credit arithmetic and the connection table
 * (see vsock_conn.h). */
#include "devices/virtio/vsock/vsock_conn.h"

#include <string.h>

/* ---- ring ---- */

void vsock_ring_init(VsockRing *r, uint32_t cap)
{
    memset(r, 0, sizeof *r);
    r->cap = cap;
}

void vsock_ring_clear(VsockRing *r)
{
    g_clear_pointer(&r->buf, g_free);
    r->head = r->len = 0;
}

size_t vsock_ring_push_iov(VsockRing *r, const struct iovec *iov, unsigned n, size_t off,
                           size_t len)
{
    if (len > vsock_ring_free(r))
        len = vsock_ring_free(r);
    if (len == 0)
        return 0;
    if (!r->buf)
        r->buf = g_malloc(r->cap);
    size_t done = 0;
    while (done < len) {
        uint32_t tail = (r->head + r->len) % r->cap;
        size_t chunk = MIN(len - done, (size_t)(r->cap - tail));
        size_t got = vsock_iov_to_buf(iov, n, off + done, r->buf + tail, chunk);
        r->len += (uint32_t)got;
        done += got;
        if (got < chunk)
            break; /* the iovecs ended */
    }
    return done;
}

size_t vsock_ring_push(VsockRing *r, const void *data, size_t len)
{
    struct iovec v = { .iov_base = (void *)data, .iov_len = len };
    return vsock_ring_push_iov(r, &v, 1, 0, len);
}

unsigned vsock_ring_peek(const VsockRing *r, struct iovec out[2])
{
    if (r->len == 0)
        return 0;
    uint32_t first = MIN(r->len, r->cap - r->head);
    out[0].iov_base = r->buf + r->head;
    out[0].iov_len = first;
    if (first == r->len)
        return 1;
    out[1].iov_base = r->buf;
    out[1].iov_len = r->len - first;
    return 2;
}

void vsock_ring_consume(VsockRing *r, size_t n)
{
    g_assert(n <= r->len);
    r->head = (uint32_t)((r->head + n) % r->cap);
    r->len -= (uint32_t)n;
    if (r->len == 0)
        r->head = 0;
}

/* ---- connection ---- */

VsockConn *vsock_conn_new(uint32_t local_port, uint32_t peer_port, int fd)
{
    VsockConn *c = g_new0(VsockConn, 1);
    c->local_port = local_port;
    c->peer_port = peer_port;
    c->fd = fd;
    c->state = VSOCK_CONN_ESTABLISHED;
    vsock_ring_init(&c->out, VSOCK_CONN_BUF_ALLOC);
    return c;
}

void vsock_conn_free(VsockConn *c)
{
    if (!c)
        return;
    g_assert(!c->watch);
    vsock_ring_clear(&c->out);
    g_free(c);
}

void vsock_conn_peer_credit_update(VsockConn *c, const VsockHdr *h)
{
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
}

uint32_t vsock_conn_peer_credit(const VsockConn *c)
{
    return vsock_credit_free(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
}

bool vsock_conn_rx_fits(const VsockConn *c, uint32_t len)
{
    return len <= vsock_ring_free(&c->out);
}

bool vsock_conn_credit_update_due(const VsockConn *c)
{
    if (c->fwd_cnt == c->fwd_cnt_sent)
        return false;
    /* Free space as the guest last heard of it. */
    uint32_t seen_free = vsock_credit_free(VSOCK_CONN_BUF_ALLOC, c->fwd_cnt_sent, c->rx_cnt);
    return seen_free < VSOCK_CONN_CREDIT_LOW;
}

void vsock_conn_stamp(VsockConn *c, VsockHdr *h)
{
    h->buf_alloc = VSOCK_CONN_BUF_ALLOC;
    h->fwd_cnt = c->fwd_cnt;
    c->fwd_cnt_sent = c->fwd_cnt;
}

/* ---- table ---- */

static guint key_hash(gconstpointer p)
{
    uint64_t k = *(const uint64_t *)p;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (guint)k;
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
    return *(const uint64_t *)a == *(const uint64_t *)b;
}

void vsock_conn_table_init(VsockConnTable *t)
{
    t->map = g_hash_table_new_full(key_hash, key_equal, g_free, NULL);
    t->next_port = VSOCK_EPHEMERAL_BASE;
}

void vsock_conn_table_destroy(VsockConnTable *t)
{
    g_clear_pointer(&t->map, g_hash_table_destroy);
}

unsigned vsock_conn_table_count(const VsockConnTable *t)
{
    return t->map ? g_hash_table_size(t->map) : 0;
}

VsockConn *vsock_conn_table_lookup_key(const VsockConnTable *t, uint64_t key)
{
    return g_hash_table_lookup(t->map, &key);
}

VsockConn *vsock_conn_table_lookup(const VsockConnTable *t, uint32_t local_port,
                                   uint32_t peer_port)
{
    return vsock_conn_table_lookup_key(t, vsock_conn_key(local_port, peer_port));
}

bool vsock_conn_table_insert(VsockConnTable *t, VsockConn *c)
{
    uint64_t key = vsock_conn_key(c->local_port, c->peer_port);
    if (g_hash_table_contains(t->map, &key))
        return false;
    g_hash_table_insert(t->map, g_memdup2(&key, sizeof key), c);
    return true;
}

void vsock_conn_table_remove(VsockConnTable *t, VsockConn *c)
{
    uint64_t key = vsock_conn_key(c->local_port, c->peer_port);
    if (g_hash_table_lookup(t->map, &key) == c)
        g_hash_table_remove(t->map, &key);
}

uint32_t vsock_conn_table_alloc_port(VsockConnTable *t, uint32_t peer_port)
{
    /* The table holds far fewer entries than the range, so this ends quickly. */
    for (;;) {
        uint32_t p = t->next_port;
        t->next_port = p == UINT32_MAX - 1 ? VSOCK_EPHEMERAL_BASE : p + 1;
        if (!vsock_conn_table_lookup(t, p, peer_port))
            return p;
    }
}

uint64_t *vsock_conn_table_keys(const VsockConnTable *t, unsigned *n)
{
    unsigned count = vsock_conn_table_count(t);
    uint64_t *keys = g_new(uint64_t, count ? count : 1);
    GHashTableIter it;
    gpointer k;
    unsigned i = 0;
    g_hash_table_iter_init(&it, t->map);
    while (g_hash_table_iter_next(&it, &k, NULL))
        keys[i++] = *(const uint64_t *)k;
    *n = i;
    return keys;
}
