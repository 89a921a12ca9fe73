/* Split virtqueue ring logic; see queue.h for the contract. Written from the
 * virtio 1.2 specification, section 2.7 ("Split Virtqueues").
 *
 * Guest-shared ring fields (avail idx/flags/ring/used_event, used
 * idx/flags/avail_event) are accessed with 16-bit atomics so that the compiler
 * reads each exactly once; descriptors are copied to a local buffer behind a
 * compiler barrier and only the copy is validated and used. */
#include "devices/virtio/queue.h"

#include "hypervisor/le.h"

#include <endian.h>
#include <stdarg.h>
#include <string.h>

/* Used when the device passes no limiter of its own. */
static RateLimit shared_rl = RATELIMIT_INIT(5000, 10);

typedef struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} Desc;

/* State of one chain walk. */
typedef struct Walk {
    VirtQueue *vq;
    VirtqElement *e;
    uint16_t head;
    uint64_t total; /* bytes, every descriptor */
    bool seen_write;
} Walk;

const char *virtq_strerror(VirtqStatus st)
{
    switch (st) {
    case VIRTQ_OK: return "ok";
    case VIRTQ_EMPTY: return "queue empty";
    case VIRTQ_NOT_READY: return "queue not enabled";
    case VIRTQ_ERR_SIZE: return "invalid queue size";
    case VIRTQ_ERR_ALIGN: return "misaligned ring address";
    case VIRTQ_ERR_RING_RANGE: return "ring outside guest RAM";
    case VIRTQ_ERR_BUSY: return "queue reconfigured while enabled";
    case VIRTQ_ERR_STATE: return "inconsistent saved queue state";
    case VIRTQ_ERR_AVAIL_IDX: return "available index too far ahead";
    case VIRTQ_ERR_HEAD_INDEX: return "chain head index out of range";
    case VIRTQ_ERR_NEXT_INDEX: return "next descriptor index out of range";
    case VIRTQ_ERR_CHAIN_LOOP: return "descriptor chain too long (loop)";
    case VIRTQ_ERR_BUF_ADDR: return "buffer outside guest RAM";
    case VIRTQ_ERR_BUF_WRAP: return "buffer wraps the address space";
    case VIRTQ_ERR_TOTAL_LEN: return "descriptor chain longer than 4 GiB";
    case VIRTQ_ERR_INDIRECT_FEATURE: return "indirect descriptor not negotiated";
    case VIRTQ_ERR_INDIRECT_LEN: return "invalid indirect table length";
    case VIRTQ_ERR_INDIRECT_NESTED: return "nested indirect descriptor";
    case VIRTQ_ERR_INDIRECT_NEXT: return "indirect descriptor with NEXT flag";
    case VIRTQ_ERR_ORDER: return "readable descriptor after a writable one";
    }
    return "unknown virtqueue status";
}

/* ---- guest-shared accesses ---- */

static inline uint16_t shared_load16(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static inline uint16_t shared_load16_acquire(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE));
}

static inline void shared_store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static inline void shared_store16_release(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELEASE);
}

static inline void shared_store32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

static void desc_decode(const uint8_t raw[16], Desc *d)
{
    d->addr = le_load64(raw);
    d->len = le_load32(raw + 8);
    d->flags = le_load16(raw + 12);
    d->next = le_load16(raw + 14);
}

/* Copy one descriptor out of guest memory, then decode the private copy. */
static void desc_fetch(const uint8_t *src, Desc *d)
{
    uint8_t raw[16];
    memcpy(raw, src, sizeof(raw));
    /* Compiler barrier: the decode below must use `raw`, never re-read `src`. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    desc_decode(raw, d);
}

static inline uint8_t *avail_ring(VirtQueue *vq, uint16_t slot)
{
    return vq->avail_hva + 4 + 2u * slot;
}

static inline uint8_t *avail_used_event(VirtQueue *vq)
{
    return vq->avail_hva + 4 + 2u * vq->s.size;
}

static inline uint8_t *used_avail_event(VirtQueue *vq)
{
    return vq->used_hva + 4 + 8u * vq->s.size;
}

/* ---- errors ---- */

static VirtqStatus G_GNUC_PRINTF(3, 4) guest_error(VirtQueue *vq, VirtqStatus st, const char *fmt, ...)
{
    if (log_guest_errors_enabled()) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        log_guest_error(vq->rl, vq->name, "%s: %s", virtq_strerror(st), msg);
    }
    return st;
}

/* A broken ring: the error sticks until virtq_reset(). */
#define broken(vq, st, ...) ((vq)->error = (st), guest_error((vq), (st), __VA_ARGS__))

/* ---- configuration ---- */

void virtq_init(VirtQueue *vq, GuestMemory *mem, const char *name, RateLimit *rl,
                uint16_t max_size)
{
    g_assert(max_size >= 1 && max_size <= VIRTQ_MAX_SIZE && !(max_size & (max_size - 1)));
    memset(vq, 0, sizeof(*vq));
    vq->mem = mem;
    vq->name = name ? name : "virtqueue";
    vq->rl = rl ? rl : &shared_rl;
    vq->max_size = max_size;
    virtq_reset(vq);
}

void virtq_reset(VirtQueue *vq)
{
    memset(&vq->s, 0, sizeof(vq->s));
    vq->s.size = vq->max_size;
    vq->error = VIRTQ_OK;
    vq->shadow_avail_idx = 0;
    vq->pending_used = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->notify_enabled = true;
    vq->desc_hva = vq->avail_hva = vq->used_hva = NULL;
}

static bool size_valid(const VirtQueue *vq, uint32_t size)
{
    return size >= 1 && size <= vq->max_size && !(size & (size - 1));
}

VirtqStatus virtq_set_size(VirtQueue *vq, uint32_t size)
{
    if (vq->s.ready)
        return guest_error(vq, VIRTQ_ERR_BUSY, "size %u written to an enabled queue", size);
    if (!size_valid(vq, size))
        return guest_error(vq, VIRTQ_ERR_SIZE, "size %u (maximum %u, power of 2)", size,
                           vq->max_size);
    vq->s.size = (uint16_t)size;
    return VIRTQ_OK;
}

static bool aligned(Gpa desc, Gpa avail, Gpa used)
{
    return !(desc & 15) && !(avail & 1) && !(used & 3);
}

VirtqStatus virtq_set_addresses(VirtQueue *vq, Gpa desc, Gpa avail, Gpa used)
{
    if (vq->s.ready)
        return guest_error(vq, VIRTQ_ERR_BUSY, "ring addresses written to an enabled queue");
    if (!aligned(desc, avail, used))
        return guest_error(vq, VIRTQ_ERR_ALIGN,
                           "desc 0x%" G_GINT64_MODIFIER "x avail 0x%" G_GINT64_MODIFIER
                           "x used 0x%" G_GINT64_MODIFIER "x",
                           desc, avail, used);
    vq->s.desc_gpa = desc;
    vq->s.avail_gpa = avail;
    vq->s.used_gpa = used;
    return VIRTQ_OK;
}

void virtq_set_features(VirtQueue *vq, uint64_t features)
{
    vq->s.event_idx = (features & VIRTQ_F_EVENT_IDX) != 0;
    vq->s.indirect_desc = (features & VIRTQ_F_INDIRECT_DESC) != 0;
}

/* Host pointer to a whole ring, which must lie in one RAM region and keep
 * its guest alignment on the host (atomics on the index fields need it). */
static uint8_t *ring_hva(VirtQueue *vq, Gpa gpa, uint64_t bytes, unsigned align)
{
    uint8_t *p = memory_hva(vq->mem, gpa, bytes);
    if (p && ((uintptr_t)p & (align - 1)))
        return NULL;
    return p;
}

VirtqStatus virtq_remap(VirtQueue *vq)
{
    const VirtqState *s = &vq->s;
    uint8_t *d = ring_hva(vq, s->desc_gpa, VIRTQ_DESC_BYTES(s->size), 16);
    uint8_t *a = ring_hva(vq, s->avail_gpa, VIRTQ_AVAIL_BYTES(s->size), 2);
    uint8_t *u = ring_hva(vq, s->used_gpa, VIRTQ_USED_BYTES(s->size), 4);
    if (!d || !a || !u)
        return guest_error(vq, VIRTQ_ERR_RING_RANGE,
                           "size %u desc 0x%" G_GINT64_MODIFIER "x%s avail 0x%" G_GINT64_MODIFIER
                           "x%s used 0x%" G_GINT64_MODIFIER "x%s",
                           s->size, s->desc_gpa, d ? "" : " (bad)", s->avail_gpa,
                           a ? "" : " (bad)", s->used_gpa, u ? "" : " (bad)");
    vq->desc_hva = d;
    vq->avail_hva = a;
    vq->used_hva = u;
    return VIRTQ_OK;
}

VirtqStatus virtq_enable(VirtQueue *vq)
{
    if (vq->s.ready)
        return VIRTQ_OK;
    if (!size_valid(vq, vq->s.size))
        return guest_error(vq, VIRTQ_ERR_SIZE, "enabled with size %u", vq->s.size);
    if (!aligned(vq->s.desc_gpa, vq->s.avail_gpa, vq->s.used_gpa))
        return guest_error(vq, VIRTQ_ERR_ALIGN, "enabled with misaligned rings");
    VirtqStatus st = virtq_remap(vq);
    if (st != VIRTQ_OK)
        return st;
    vq->s.ready = true;
    vq->error = VIRTQ_OK;
    vq->shadow_avail_idx = vq->s.last_avail_idx;
    vq->pending_used = 0;
    vq->signalled_used_valid = false;
    return VIRTQ_OK;
}

/* ---- elements ---- */

void virtq_element_init(VirtqElement *e)
{
    memset(e, 0, sizeof(*e));
}

void virtq_element_clear(VirtqElement *e)
{
    g_free(e->iov);
    memset(e, 0, sizeof(*e));
}

static void element_empty(VirtqElement *e)
{
    e->out_num = e->in_num = 0;
    e->out_bytes = e->in_bytes = 0;
    e->ndesc = 0;
    e->out_iov = e->in_iov = e->iov;
}

static void element_append(VirtqElement *e, void *base, uint64_t len, bool writable)
{
    uint32_t n = e->out_num + e->in_num;
    if (n == e->iov_cap) {
        /* Bounded: at most (size + indirect table) descriptors, each split at
         * most once per RAM region. */
        e->iov_cap = e->iov_cap ? e->iov_cap * 2 : 16;
        e->iov = g_renew(struct iovec, e->iov, e->iov_cap);
    }
    e->iov[n].iov_base = base;
    e->iov[n].iov_len = (size_t)len;
    if (writable) {
        e->in_num++;
        e->in_bytes += len;
    } else {
        e->out_num++;
        e->out_bytes += len;
    }
}

/* Length of the prefix of [gpa, gpa+len) that lies in the RAM region holding
 * gpa (0: gpa is not RAM). Binary search over memory_hva(): at most ~33
 * lookups for len <= 2^32, only for buffers that cross a region boundary. */
static uint64_t ram_extent(GuestMemory *mem, Gpa gpa, uint64_t len)
{
    if (!memory_hva(mem, gpa, 1))
        return 0;
    uint64_t good = 1, bad = len + 1;
    while (bad - good > 1) {
        uint64_t mid = good + (bad - good) / 2;
        if (memory_hva(mem, gpa, mid))
            good = mid;
        else
            bad = mid;
    }
    return good;
}

static bool range_wraps(uint64_t addr, uint64_t len)
{
    return len && addr > UINT64_MAX - (len - 1);
}

/* Account one data descriptor and map its buffer into the element. */
static VirtqStatus walk_buffer(Walk *w, const Desc *d, uint32_t idx, const char *where)
{
    VirtQueue *vq = w->vq;
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    if (!writable && w->seen_write)
        return broken(vq, VIRTQ_ERR_ORDER, "head %u, %s descriptor %u", w->head, where, idx);
    w->seen_write |= writable;
    w->total += d->len;
    if (w->total > (1ull << 32))
        return broken(vq, VIRTQ_ERR_TOTAL_LEN, "head %u, %s descriptor %u", w->head, where, idx);
    w->e->ndesc++;
    if (d->len == 0)
        return VIRTQ_OK; /* allowed; nothing to map */
    if (range_wraps(d->addr, d->len))
        return broken(vq, VIRTQ_ERR_BUF_WRAP,
                      "head %u, %s descriptor %u: addr 0x%" G_GINT64_MODIFIER "x len %u", w->head,
                      where, idx, d->addr, d->len);
    Gpa gpa = d->addr;
    uint64_t rem = d->len;
    while (rem) {
        uint64_t n = rem;
        void *p = memory_hva(vq->mem, gpa, n);
        if (!p) {
            n = ram_extent(vq->mem, gpa, rem);
            p = n ? memory_hva(vq->mem, gpa, n) : NULL;
        }
        if (!p)
            return broken(vq, VIRTQ_ERR_BUF_ADDR,
                          "head %u, %s descriptor %u: addr 0x%" G_GINT64_MODIFIER "x len %u",
                          w->head, where, idx, d->addr, d->len);
        element_append(w->e, p, n, writable);
        gpa += n;
        rem -= n;
    }
    return VIRTQ_OK;
}

/* The chain continues in an indirect table described by `ind`. */
static VirtqStatus walk_indirect(Walk *w, const Desc *ind, uint16_t idx)
{
    VirtQueue *vq = w->vq;
    if (!vq->s.indirect_desc)
        return broken(vq, VIRTQ_ERR_INDIRECT_FEATURE, "head %u, descriptor %u", w->head, idx);
    if (ind->flags & VIRTQ_DESC_F_NEXT)
        return broken(vq, VIRTQ_ERR_INDIRECT_NEXT, "head %u, descriptor %u", w->head, idx);
    if (ind->len == 0 || ind->len % 16 || ind->len / 16 > VIRTQ_INDIRECT_MAX)
        return broken(vq, VIRTQ_ERR_INDIRECT_LEN, "head %u, descriptor %u: table length %u",
                      w->head, idx, ind->len);
    if (range_wraps(ind->addr, ind->len))
        return broken(vq, VIRTQ_ERR_BUF_WRAP, "head %u, indirect table 0x%" G_GINT64_MODIFIER "x",
                      w->head, ind->addr);
    uint32_t entries = ind->len / 16;
    /* Usually the table is in one region; otherwise check it all is RAM and
     * copy each entry with memory_read(). */
    const uint8_t *table = memory_hva(vq->mem, ind->addr, ind->len);
    if (!table) {
        Gpa gpa = ind->addr;
        uint64_t rem = ind->len;
        while (rem) {
            uint64_t n = ram_extent(vq->mem, gpa, rem);
            if (!n)
                return broken(vq, VIRTQ_ERR_BUF_ADDR,
                              "head %u, indirect table 0x%" G_GINT64_MODIFIER "x len %u", w->head,
                              ind->addr, ind->len);
            gpa += n;
            rem -= n;
        }
    }
    uint32_t i = 0;
    for (uint32_t count = 1;; count++) {
        if (count > entries)
            return broken(vq, VIRTQ_ERR_CHAIN_LOOP, "head %u, indirect table of %u entries",
                          w->head, entries);
        Desc d;
        if (table) {
            desc_fetch(table + 16u * i, &d);
        } else {
            uint8_t raw[16];
            if (!memory_read(vq->mem, ind->addr + 16u * i, raw, sizeof(raw)))
                return broken(vq, VIRTQ_ERR_BUF_ADDR, "head %u, indirect table entry %u",
                              w->head, i);
            desc_decode(raw, &d);
        }
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return broken(vq, VIRTQ_ERR_INDIRECT_NESTED, "head %u, indirect entry %u", w->head, i);
        VirtqStatus st = walk_buffer(w, &d, i, "indirect");
        if (st != VIRTQ_OK)
            return st;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return VIRTQ_OK;
        if (d.next >= entries)
            return broken(vq, VIRTQ_ERR_NEXT_INDEX, "head %u, indirect entry %u: next %u of %u",
                          w->head, i, d.next, entries);
        i = d.next;
    }
}

static VirtqStatus walk_chain(Walk *w)
{
    VirtQueue *vq = w->vq;
    uint16_t idx = w->head;
    for (uint32_t count = 1;; count++) {
        if (count > vq->s.size)
            return broken(vq, VIRTQ_ERR_CHAIN_LOOP, "head %u, chain longer than %u", w->head,
                          vq->s.size);
        Desc d;
        desc_fetch(vq->desc_hva + 16u * idx, &d);
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return walk_indirect(w, &d, idx); /* always the last of the chain */
        VirtqStatus st = walk_buffer(w, &d, idx, "direct");
        if (st != VIRTQ_OK)
            return st;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return VIRTQ_OK;
        if (d.next >= vq->s.size)
            return broken(vq, VIRTQ_ERR_NEXT_INDEX, "head %u, descriptor %u: next %u of %u",
                          w->head, idx, d.next, vq->s.size);
        idx = d.next;
    }
}

/* Read the guest's avail idx once; reject a jump beyond the queue size. */
static VirtqStatus avail_refresh(VirtQueue *vq)
{
    uint16_t idx = shared_load16_acquire(vq->avail_hva + 2);
    uint16_t pending = (uint16_t)(idx - vq->s.last_avail_idx);
    if (pending > vq->s.size)
        return broken(vq, VIRTQ_ERR_AVAIL_IDX, "avail idx %u, device at %u, size %u", idx,
                      vq->s.last_avail_idx, vq->s.size);
    vq->shadow_avail_idx = idx;
    return VIRTQ_OK;
}

VirtqStatus virtq_pop(VirtQueue *vq, VirtqElement *e)
{
    element_empty(e);
    if (!vq->s.ready)
        return VIRTQ_NOT_READY;
    if (vq->error != VIRTQ_OK)
        return vq->error;
    if (vq->shadow_avail_idx == vq->s.last_avail_idx) {
        VirtqStatus st = avail_refresh(vq);
        if (st != VIRTQ_OK)
            return st;
        if (vq->shadow_avail_idx == vq->s.last_avail_idx) {
            if (!vq->s.event_idx || !vq->notify_enabled)
                return VIRTQ_EMPTY;
            /* Ask for a kick at the next chain, then look again: a chain
             * added before the driver could see avail_event is caught here. */
            shared_store16(used_avail_event(vq), vq->s.last_avail_idx);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            st = avail_refresh(vq);
            if (st != VIRTQ_OK)
                return st;
            if (vq->shadow_avail_idx == vq->s.last_avail_idx)
                return VIRTQ_EMPTY;
        }
    }
    uint16_t slot = vq->s.last_avail_idx & (vq->s.size - 1);
    uint16_t head = shared_load16(avail_ring(vq, slot));
    if (head >= vq->s.size)
        return broken(vq, VIRTQ_ERR_HEAD_INDEX, "avail slot %u: head %u of %u", slot, head,
                      vq->s.size);
    Walk w = { .vq = vq, .e = e, .head = head };
    VirtqStatus st = walk_chain(&w);
    if (st != VIRTQ_OK) {
        element_empty(e);
        return st;
    }
    e->head = head;
    e->out_iov = e->iov;
    e->in_iov = e->iov + e->out_num;
    vq->s.last_avail_idx++;
    return VIRTQ_OK;
}

void virtq_unpop(VirtQueue *vq, uint16_t n)
{
    g_assert((uint32_t)(uint16_t)(vq->shadow_avail_idx - (uint16_t)(vq->s.last_avail_idx - n)) <=
             vq->s.size);
    vq->s.last_avail_idx -= n;
}

uint16_t virtq_avail_count(VirtQueue *vq)
{
    if (!vq->s.ready || vq->error != VIRTQ_OK || avail_refresh(vq) != VIRTQ_OK)
        return 0;
    return (uint16_t)(vq->shadow_avail_idx - vq->s.last_avail_idx);
}

/* ---- used ring ---- */

void virtq_fill(VirtQueue *vq, uint16_t head, uint32_t written_len)
{
    if (!vq->s.ready)
        return; /* reset under an in-flight request: nothing to complete */
    g_assert(head < vq->s.size);
    g_assert(vq->pending_used < vq->s.size);
    uint16_t slot = (uint16_t)(vq->s.used_idx + vq->pending_used) & (vq->s.size - 1);
    uint8_t *elem = vq->used_hva + 4 + 8u * slot;
    shared_store32(elem, head);
    shared_store32(elem + 4, written_len);
    vq->pending_used++;
}

void virtq_flush(VirtQueue *vq)
{
    if (!vq->s.ready || !vq->pending_used)
        return;
    uint16_t idx = (uint16_t)(vq->s.used_idx + vq->pending_used);
    /* Release: the used elements (and the buffers the device filled) are
     * visible before the index that exposes them. */
    shared_store16_release(vq->used_hva + 2, idx);
    vq->s.used_idx = idx;
    vq->pending_used = 0;
}

void virtq_push(VirtQueue *vq, uint16_t head, uint32_t written_len)
{
    virtq_fill(vq, head, written_len);
    virtq_flush(vq);
}

bool virtq_should_notify(VirtQueue *vq)
{
    if (!vq->s.ready)
        return false;
    /* The used idx store must be visible before the driver's suppression
     * fields are read, or a driver re-enabling interrupts could be missed. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t now = vq->s.used_idx;
    uint16_t before = vq->signalled_used;
    bool known = vq->signalled_used_valid;
    vq->signalled_used = now;
    vq->signalled_used_valid = true;
    if (known && now == before)
        return false; /* nothing new since the last decision */
    if (vq->s.event_idx) {
        if (!known)
            return true;
        /* Notify when the entry at used_event was among those just published,
         * i.e. used_event lies in [before, now) modulo 2^16. */
        uint16_t event = shared_load16(avail_used_event(vq));
        return (uint16_t)(now - event - 1) < (uint16_t)(now - before);
    }
    return !(shared_load16(vq->avail_hva) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* ---- available-buffer notification suppression ---- */

void virtq_disable_notification(VirtQueue *vq)
{
    vq->notify_enabled = false;
    if (!vq->s.ready)
        return;
    /* With EVENT_IDX, flags must stay 0; the stale avail_event already
     * limits the driver to at most one more kick. */
    if (!vq->s.event_idx)
        shared_store16(vq->used_hva, VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_enable_notification(VirtQueue *vq)
{
    vq->notify_enabled = true;
    if (!vq->s.ready)
        return false;
    if (vq->s.event_idx)
        shared_store16(used_avail_event(vq), vq->shadow_avail_idx);
    else
        shared_store16(vq->used_hva, 0);
    if (vq->error != VIRTQ_OK)
        return true; /* let the caller's pop report it */
    /* Publish before re-reading the avail idx (pairs with the driver's
     * barrier between its idx update and reading our suppression field). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (avail_refresh(vq) != VIRTQ_OK)
        return true;
    return vq->shadow_avail_idx != vq->s.last_avail_idx;
}

/* ---- state ---- */

void virtq_save(const VirtQueue *vq, VirtqState *st)
{
    *st = vq->s;
}

VirtqStatus virtq_load(VirtQueue *vq, const VirtqState *st)
{
    virtq_reset(vq);
    VirtqStatus ret = VIRTQ_OK;
    if (!size_valid(vq, st->size))
        ret = VIRTQ_ERR_SIZE;
    else if (!aligned(st->desc_gpa, st->avail_gpa, st->used_gpa))
        ret = VIRTQ_ERR_ALIGN;
    else if ((uint16_t)(st->last_avail_idx - st->used_idx) > st->size)
        ret = VIRTQ_ERR_STATE;
    if (ret != VIRTQ_OK) {
        virtq_reset(vq);
        return ret;
    }
    vq->s = *st;
    vq->s.ready = false;
    if (st->ready) {
        ret = virtq_enable(vq);
        if (ret != VIRTQ_OK) {
            virtq_reset(vq);
            return ret;
        }
    }
    return VIRTQ_OK;
}
