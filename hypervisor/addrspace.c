#include "hypervisor/addrspace.h"

#include "hypervisor/error.h"
#include "hypervisor/log.h"

#include <string.h>

typedef struct IoEventFd {
    uint64_t offset;
    uint32_t len;
    bool has_datamatch;
    uint64_t datamatch;
    int fd;
} IoEventFd;

struct AsRegion {
    char *name;
    uint64_t base, size;
    const RegionOps *ops;
    void *opaque;
    GArray *ioeventfds; /* IoEventFd */
    gint users;         /* vCPUs inside a handler, +1 while mapped */
    GMutex idle_lock;
    GCond idle_cond;
};

struct AddrSpace {
    AddrSpaceKind kind;
    AccelVm *avm;
    GRWLock lock;
    GPtrArray *regions; /* AsRegion *, sorted by base */
    uint64_t generation;
    RateLimit guest_err;
};

/* The region whose handler the current thread is running (for unmap-from-handler). */
static __thread AsRegion *handler_region;

static const char *kind_name(AddrSpace *as)
{
    return as->kind == ADDRSPACE_PIO ? "pio" : "mmio";
}

AddrSpace *addrspace_new(AddrSpaceKind kind, AccelVm *avm)
{
    AddrSpace *as = g_new0(AddrSpace, 1);
    as->kind = kind;
    as->avm = avm;
    g_rw_lock_init(&as->lock);
    as->regions = g_ptr_array_new();
    ratelimit_init(&as->guest_err, 1000, 10);
    return as;
}

static void region_unref(AsRegion *r)
{
    g_mutex_lock(&r->idle_lock);
    bool last = --r->users == 0;
    if (!last)
        g_cond_broadcast(&r->idle_cond);
    g_mutex_unlock(&r->idle_lock);
    if (!last)
        return;
    g_array_free(r->ioeventfds, TRUE);
    g_mutex_clear(&r->idle_lock);
    g_cond_clear(&r->idle_cond);
    g_free(r->name);
    g_free(r);
}

static bool ioeventfd_set(AddrSpace *as, AsRegion *r, const IoEventFd *e, uint64_t base, bool assign)
{
    if (!as->avm)
        return true;
    return as->avm->ops->vm_ioeventfd(as->avm, e->fd, base + e->offset, e->len,
                                      as->kind == ADDRSPACE_PIO, e->has_datamatch, e->datamatch,
                                      assign) == 0;
}

void addrspace_free(AddrSpace *as)
{
    if (!as)
        return;
    for (guint i = 0; i < as->regions->len; i++) {
        AsRegion *r = as->regions->pdata[i];
        for (guint j = 0; j < r->ioeventfds->len; j++)
            ioeventfd_set(as, r, &g_array_index(r->ioeventfds, IoEventFd, j), r->base, false);
        region_unref(r);
    }
    g_ptr_array_free(as->regions, TRUE);
    g_rw_lock_clear(&as->lock);
    ratelimit_clear(&as->guest_err);
    g_free(as);
}

/* Index of the region containing addr, or -1. Caller holds the lock. */
static int find_index(AddrSpace *as, uint64_t addr)
{
    int lo = 0, hi = (int)as->regions->len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        AsRegion *r = as->regions->pdata[mid];
        if (addr < r->base)
            hi = mid - 1;
        else if (addr - r->base >= r->size)
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

static bool range_free(AddrSpace *as, uint64_t base, uint64_t size, AsRegion *ignore)
{
    for (guint i = 0; i < as->regions->len; i++) {
        AsRegion *r = as->regions->pdata[i];
        /* Inclusive ends: a region may end exactly at 2^64. */
        if (r != ignore && base <= r->base + (r->size - 1) && r->base <= base + (size - 1))
            return false;
    }
    return true;
}

static gint region_cmp(gconstpointer a, gconstpointer b)
{
    const AsRegion *ra = *(AsRegion *const *)a, *rb = *(AsRegion *const *)b;
    return ra->base < rb->base ? -1 : ra->base > rb->base;
}

static bool ops_valid(const RegionOps *ops)
{
    unsigned sizes[] = { ops->valid_min, ops->valid_max, ops->impl_min, ops->impl_max };
    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++)
        if (sizes[i] > 8 || (sizes[i] & (sizes[i] - 1)))
            return false;
    return ops->read && ops->write;
}

bool addrspace_map(AddrSpace *as, const char *name, uint64_t base, uint64_t size,
                   const RegionOps *ops, void *opaque, GError **errp)
{
    g_assert(ops_valid(ops));
    if (size == 0 || base + size - 1 < base) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s region '%s' at 0x%" G_GINT64_MODIFIER "x has an invalid size 0x%" G_GINT64_MODIFIER "x",
                    kind_name(as), name, base, size);
        return false;
    }
    AsRegion *r = g_new0(AsRegion, 1);
    r->name = g_strdup(name);
    r->base = base;
    r->size = size;
    r->ops = ops;
    r->opaque = opaque;
    r->ioeventfds = g_array_new(FALSE, FALSE, sizeof(IoEventFd));
    r->users = 1;
    g_mutex_init(&r->idle_lock);
    g_cond_init(&r->idle_cond);

    g_rw_lock_writer_lock(&as->lock);
    if (!range_free(as, base, size, NULL)) {
        g_rw_lock_writer_unlock(&as->lock);
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s region '%s' [0x%" G_GINT64_MODIFIER "x, +0x%" G_GINT64_MODIFIER
                    "x) overlaps an existing region",
                    kind_name(as), name, base, size);
        region_unref(r);
        return false;
    }
    g_ptr_array_add(as->regions, r);
    g_ptr_array_sort(as->regions, region_cmp);
    as->generation++;
    g_rw_lock_writer_unlock(&as->lock);
    return true;
}

static AsRegion *take_region(AddrSpace *as, uint64_t base)
{
    int i = find_index(as, base);
    if (i < 0)
        return NULL;
    AsRegion *r = as->regions->pdata[i];
    return r->base == base ? r : NULL;
}

bool addrspace_unmap(AddrSpace *as, uint64_t base, GError **errp)
{
    g_rw_lock_writer_lock(&as->lock);
    AsRegion *r = take_region(as, base);
    if (!r) {
        g_rw_lock_writer_unlock(&as->lock);
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND,
                    "no %s region at 0x%" G_GINT64_MODIFIER "x", kind_name(as), base);
        return false;
    }
    g_ptr_array_remove(as->regions, r);
    as->generation++;
    g_rw_lock_writer_unlock(&as->lock);

    for (guint j = 0; j < r->ioeventfds->len; j++)
        ioeventfd_set(as, r, &g_array_index(r->ioeventfds, IoEventFd, j), r->base, false);
    /* Wait for other vCPUs to leave the handlers; our own call (if we are
     * inside one of them) holds one reference that is dropped on return. */
    gint self = handler_region == r ? 1 : 0;
    g_mutex_lock(&r->idle_lock);
    while (r->users > 1 + self)
        g_cond_wait(&r->idle_cond, &r->idle_lock);
    g_mutex_unlock(&r->idle_lock);
    region_unref(r);
    return true;
}

bool addrspace_move(AddrSpace *as, uint64_t old_base, uint64_t new_base, GError **errp)
{
    g_rw_lock_writer_lock(&as->lock);
    AsRegion *r = take_region(as, old_base);
    if (!r) {
        g_rw_lock_writer_unlock(&as->lock);
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND,
                    "no %s region at 0x%" G_GINT64_MODIFIER "x", kind_name(as), old_base);
        return false;
    }
    if (new_base + r->size - 1 < new_base || !range_free(as, new_base, r->size, r)) {
        g_rw_lock_writer_unlock(&as->lock);
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "cannot move %s region '%s' to 0x%" G_GINT64_MODIFIER "x: overlap",
                    kind_name(as), r->name, new_base);
        return false;
    }
    for (guint j = 0; j < r->ioeventfds->len; j++) {
        IoEventFd *e = &g_array_index(r->ioeventfds, IoEventFd, j);
        ioeventfd_set(as, r, e, old_base, false);
        ioeventfd_set(as, r, e, new_base, true);
    }
    r->base = new_base;
    g_ptr_array_sort(as->regions, region_cmp);
    as->generation++;
    g_rw_lock_writer_unlock(&as->lock);
    return true;
}

bool addrspace_add_ioeventfd(AddrSpace *as, uint64_t base, uint64_t offset, uint32_t len,
                             bool has_datamatch, uint64_t datamatch, int fd, GError **errp)
{
    g_rw_lock_writer_lock(&as->lock);
    AsRegion *r = take_region(as, base);
    bool ok = false;
    if (!r || offset >= r->size || len > r->size - offset) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "ioeventfd at 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                    "x is outside any %s region",
                    base, offset, kind_name(as));
    } else {
        IoEventFd e = { offset, len, has_datamatch, datamatch, fd };
        if (!ioeventfd_set(as, r, &e, r->base, true)) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_ACCEL,
                        "cannot register ioeventfd for '%s' at offset 0x%" G_GINT64_MODIFIER "x",
                        r->name, offset);
        } else {
            g_array_append_val(r->ioeventfds, e);
            ok = true;
        }
    }
    g_rw_lock_writer_unlock(&as->lock);
    return ok;
}

bool addrspace_remove_ioeventfd(AddrSpace *as, uint64_t base, uint64_t offset, int fd, GError **errp)
{
    g_rw_lock_writer_lock(&as->lock);
    AsRegion *r = take_region(as, base);
    if (r) {
        for (guint j = 0; j < r->ioeventfds->len; j++) {
            IoEventFd *e = &g_array_index(r->ioeventfds, IoEventFd, j);
            if (e->offset == offset && e->fd == fd) {
                ioeventfd_set(as, r, e, r->base, false);
                g_array_remove_index_fast(r->ioeventfds, j);
                g_rw_lock_writer_unlock(&as->lock);
                return true;
            }
        }
    }
    g_rw_lock_writer_unlock(&as->lock);
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND, "no such ioeventfd");
    return false;
}

static uint64_t le_load(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void le_store(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* One access of an implemented size class, widening below impl_min. */
static uint64_t do_read(const RegionOps *ops, void *opaque, uint64_t off, unsigned len,
                        unsigned imin)
{
    if (len >= imin)
        return ops->read(opaque, off, len);
    uint64_t aligned = off & ~(uint64_t)(imin - 1);
    uint64_t wide = ops->read(opaque, aligned, imin);
    unsigned shift = (unsigned)(off - aligned) * 8;
    return (wide >> shift) & ((1ull << (len * 8)) - 1);
}

static void do_write(const RegionOps *ops, void *opaque, uint64_t off, unsigned len, uint64_t v,
                     unsigned imin)
{
    if (len >= imin) {
        ops->write(opaque, off, v, len);
        return;
    }
    uint64_t aligned = off & ~(uint64_t)(imin - 1);
    unsigned shift = (unsigned)(off - aligned) * 8;
    uint64_t mask = ((1ull << (len * 8)) - 1) << shift;
    uint64_t wide = ops->read(opaque, aligned, imin);
    ops->write(opaque, aligned, (wide & ~mask) | ((v << shift) & mask), imin);
}

static void region_access(AsRegion *r, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
    const RegionOps *ops = r->ops;
    unsigned imax = ops->impl_max ? ops->impl_max : (ops->valid_max ? ops->valid_max : 8);
    unsigned imin = ops->impl_min ? ops->impl_min : (ops->valid_min ? ops->valid_min : 1);
    unsigned chunk = MIN(len, imax);
    /* A narrow unaligned access that straddles two implemented units is
     * widened one byte at a time, so each piece stays inside its unit. */
    if (chunk < imin && (off & (imin - 1)) + chunk > imin)
        chunk = 1;
    for (unsigned done = 0; done < len; done += chunk) {
        if (is_write)
            do_write(ops, r->opaque, off + done, chunk, le_load(data + done, chunk), imin);
        else
            le_store(data + done, chunk, do_read(ops, r->opaque, off + done, chunk, imin));
    }
}

static bool access_valid(const RegionOps *ops, uint64_t off, unsigned len)
{
    unsigned vmin = ops->valid_min ? ops->valid_min : 1;
    unsigned vmax = ops->valid_max ? ops->valid_max : 8;
    if (len < vmin || len > vmax || (len & (len - 1)))
        return false;
    return ops->valid_unaligned || (off & (len - 1)) == 0;
}

void addrspace_dispatch(AddrSpace *as, AddrSpaceHint *hint, uint64_t addr, uint8_t *data,
                        unsigned len, bool is_write)
{
    AsRegion *r = NULL;
    g_rw_lock_reader_lock(&as->lock);
    if (hint && hint->region && hint->generation == as->generation &&
        addr - hint->region->base < hint->region->size) {
        r = hint->region;
    } else {
        int i = find_index(as, addr);
        if (i >= 0) {
            r = as->regions->pdata[i];
            if (hint) {
                hint->region = r;
                hint->generation = as->generation;
            }
        }
    }
    uint64_t off = r ? addr - r->base : 0;
    bool ok = r && len >= 1 && len <= 8 && len <= r->size - off && access_valid(r->ops, off, len);
    if (ok) {
        g_mutex_lock(&r->idle_lock);
        r->users++;
        g_mutex_unlock(&r->idle_lock);
    }
    g_rw_lock_reader_unlock(&as->lock);

    if (!ok) {
        if (!is_write)
            memset(data, 0xff, len);
        log_guest_error(&as->guest_err, kind_name(as),
                        "%s %s of %u bytes at 0x%" G_GINT64_MODIFIER "x%s%s", r ? "invalid" : "unassigned",
                        is_write ? "write" : "read", len, addr, r ? " in " : "", r ? r->name : "");
        return;
    }
    AsRegion *outer = handler_region;
    handler_region = r;
    region_access(r, off, data, len, is_write);
    handler_region = outer;
    region_unref(r);
}

unsigned addrspace_count(AddrSpace *as)
{
    g_rw_lock_reader_lock(&as->lock);
    unsigned n = as->regions->len;
    g_rw_lock_reader_unlock(&as->lock);
    return n;
}

bool addrspace_lookup(AddrSpace *as, uint64_t addr, uint64_t *base, uint64_t *size)
{
    g_rw_lock_reader_lock(&as->lock);
    int i = find_index(as, addr);
    if (i >= 0) {
        AsRegion *r = as->regions->pdata[i];
        *base = r->base;
        *size = r->size;
    }
    g_rw_lock_reader_unlock(&as->lock);
    return i >= 0;
}
