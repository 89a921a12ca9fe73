/* Guest-side split-virtqueue driver for unit tests; see virtq_driver.h. */
#include "support/virtq_driver.h"

#include "hypervisor/le.h"

#include <check.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- guarded RAM ---- */

void virtq_driver_guarded_ram(GuestMemory *mem, Gpa gpa, uint64_t size, GuardedRam *out)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    ck_assert_msg(size && size % page == 0, "guarded RAM size must be a page multiple");
    memset(out, 0, sizeof(*out));
    out->map_size = size + 2 * page;
    out->map = mmap(NULL, out->map_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(out->map, MAP_FAILED);
    out->hva = out->map + page;
    ck_assert_int_eq(mprotect(out->hva, size, PROT_READ | PROT_WRITE), 0);
    out->size = size;
    out->gpa = gpa;
    g_autoptr(GError) err = NULL;
    MemRegion *r = memory_add_mapping(mem, "guarded", gpa, size, out->hva, 0, &err);
    ck_assert_msg(r != NULL, "guarded RAM: %s", err ? err->message : "?");
}

void virtq_driver_guarded_ram_free(GuardedRam *g)
{
    if (g->map)
        munmap(g->map, g->map_size);
    memset(g, 0, sizeof(*g));
}

bool virtq_driver_guarded_contains(const GuardedRam *g, const void *p, uint64_t len)
{
    const uint8_t *b = p;
    return b >= g->hva && len <= g->size && (uint64_t)(b - g->hva) <= g->size - len;
}

/* ---- guest memory helpers ---- */

static void wr(VirtqDriver *d, Gpa gpa, const void *buf, uint64_t len)
{
    ck_assert_msg(memory_write(d->mem, gpa, buf, len),
                  "driver write outside RAM at 0x%" G_GINT64_MODIFIER "x", gpa);
}

static void rd(VirtqDriver *d, Gpa gpa, void *buf, uint64_t len)
{
    ck_assert_msg(memory_read(d->mem, gpa, buf, len),
                  "driver read outside RAM at 0x%" G_GINT64_MODIFIER "x", gpa);
}

static void wr16(VirtqDriver *d, Gpa gpa, uint16_t v)
{
    uint8_t b[2];
    le_store16(b, v);
    wr(d, gpa, b, 2);
}

static uint16_t rd16(VirtqDriver *d, Gpa gpa)
{
    uint8_t b[2];
    rd(d, gpa, b, 2);
    return le_load16(b);
}

static uint32_t rd32(VirtqDriver *d, Gpa gpa)
{
    uint8_t b[4];
    rd(d, gpa, b, 4);
    return le_load32(b);
}

/* ---- layout ---- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

uint64_t virtq_driver_rings_bytes(uint16_t size)
{
    uint64_t avail_off = 16ull * size;
    uint64_t used_off = align_up(avail_off + 6 + 2ull * size, 4);
    return used_off + 6 + 8ull * size;
}

void virtq_driver_init(VirtqDriver *d, GuestMemory *mem, uint16_t size, Gpa rings, Gpa data,
                       uint64_t data_size)
{
    ck_assert(!(rings & 15));
    memset(d, 0, sizeof(*d));
    d->mem = mem;
    d->size = size;
    d->desc = rings;
    d->avail = rings + 16ull * size;
    d->used = rings + align_up(16ull * size + 6 + 2ull * size, 4);
    d->data_base = data;
    d->data_size = data_size;
    uint64_t bytes = virtq_driver_rings_bytes(size);
    g_autofree uint8_t *zero = g_malloc0(bytes);
    wr(d, rings, zero, bytes);
}

Gpa virtq_driver_alloc(VirtqDriver *d, uint64_t len, uint64_t align)
{
    if (!align)
        align = 1;
    uint64_t off = align_up(d->data_next, align);
    if (off + len > d->data_size)
        off = 0;
    ck_assert_msg(len <= d->data_size, "driver data area too small");
    d->data_next = off + len;
    return d->data_base + off;
}

void virtq_driver_set_table_desc(VirtqDriver *d, Gpa table, uint32_t idx, uint64_t addr,
                                 uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t raw[16];
    le_store64(raw, addr);
    le_store32(raw + 8, len);
    le_store16(raw + 12, flags);
    le_store16(raw + 14, next);
    wr(d, table + 16ull * idx, raw, sizeof(raw));
}

void virtq_driver_set_desc(VirtqDriver *d, uint16_t idx, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next)
{
    ck_assert_uint_lt(idx, d->size);
    virtq_driver_set_table_desc(d, d->desc, idx, addr, len, flags, next);
}

uint16_t virtq_driver_build_chain(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n)
{
    ck_assert(n >= 1 && n <= d->size);
    uint16_t head = d->next_desc;
    uint16_t idx = head;
    for (unsigned i = 0; i < n; i++) {
        uint16_t next = (uint16_t)((idx + 1) % d->size);
        uint16_t flags = (bufs[i].writable ? 2 : 0) | (i + 1 < n ? 1 : 0);
        virtq_driver_set_desc(d, idx, bufs[i].gpa, bufs[i].len, flags, i + 1 < n ? next : 0);
        idx = next;
    }
    d->next_desc = idx;
    return head;
}

uint16_t virtq_driver_build_indirect(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n,
                                     Gpa *table_out)
{
    ck_assert(n >= 1);
    Gpa table = virtq_driver_alloc(d, 16ull * n, 16);
    for (unsigned i = 0; i < n; i++) {
        uint16_t flags = (bufs[i].writable ? 2 : 0) | (i + 1 < n ? 1 : 0);
        virtq_driver_set_table_desc(d, table, i, bufs[i].gpa, bufs[i].len, flags,
                                    i + 1 < n ? (uint16_t)(i + 1) : 0);
    }
    uint16_t head = d->next_desc;
    virtq_driver_set_desc(d, head, table, 16 * n, 4, 0);
    d->next_desc = (uint16_t)((head + 1) % d->size);
    if (table_out)
        *table_out = table;
    return head;
}

void virtq_driver_expose(VirtqDriver *d, uint16_t head)
{
    wr16(d, d->avail + 4 + 2ull * (d->avail_idx % d->size), head);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    d->avail_idx++;
    wr16(d, d->avail + 2, d->avail_idx);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint16_t virtq_driver_add(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n)
{
    uint16_t head = virtq_driver_build_chain(d, bufs, n);
    virtq_driver_expose(d, head);
    return head;
}

uint16_t virtq_driver_add_indirect(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n)
{
    uint16_t head = virtq_driver_build_indirect(d, bufs, n, NULL);
    virtq_driver_expose(d, head);
    return head;
}

bool virtq_driver_kick_needed(VirtqDriver *d, bool event_idx, uint16_t old_idx, uint16_t new_idx)
{
    if (event_idx) {
        uint16_t ev = virtq_driver_avail_event(d);
        return (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old_idx);
    }
    return !(virtq_driver_used_flags(d) & 1);
}

bool virtq_driver_get_used(VirtqDriver *d, uint32_t *id, uint32_t *len)
{
    if (virtq_driver_used_idx(d) == d->last_used)
        return false;
    virtq_driver_used_elem(d, d->last_used % d->size, id, len);
    d->last_used++;
    return true;
}

void virtq_driver_set_avail_flags(VirtqDriver *d, uint16_t flags)
{
    wr16(d, d->avail, flags);
}

void virtq_driver_set_used_event(VirtqDriver *d, uint16_t v)
{
    wr16(d, d->avail + 4 + 2ull * d->size, v);
}

void virtq_driver_set_avail_idx(VirtqDriver *d, uint16_t v)
{
    d->avail_idx = v;
    wr16(d, d->avail + 2, v);
}

void virtq_driver_set_avail_slot(VirtqDriver *d, uint16_t slot, uint16_t head)
{
    wr16(d, d->avail + 4 + 2ull * (slot % d->size), head);
}

uint16_t virtq_driver_used_flags(VirtqDriver *d)
{
    return rd16(d, d->used);
}

uint16_t virtq_driver_used_idx(VirtqDriver *d)
{
    return rd16(d, d->used + 2);
}

uint16_t virtq_driver_avail_event(VirtqDriver *d)
{
    return rd16(d, d->used + 4 + 8ull * d->size);
}

void virtq_driver_used_elem(VirtqDriver *d, uint16_t slot, uint32_t *id, uint32_t *len)
{
    Gpa e = d->used + 4 + 8ull * slot;
    *id = rd32(d, e);
    *len = rd32(d, e + 4);
}

void virtq_driver_fill(VirtqDriver *d, Gpa gpa, uint8_t byte, uint64_t len)
{
    g_autofree uint8_t *buf = g_malloc(len ? len : 1);
    memset(buf, byte, len);
    wr(d, gpa, buf, len);
}
