/* Giving guest pages back to the host, and balloon statistics parsing
 * (see balloon_pages.h). */
#include "devices/virtio/balloon/balloon_pages.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- RAM lookup ---------------------------------------------------------- */

static bool is_ram(const MemRegion *r)
{
    return r->ram && r->hva && r->size > 0;
}

MemRegion *balloon_ram_region(GPtrArray *regions, Gpa gpa, uint64_t len)
{
    if (len == 0)
        return NULL;
    for (guint i = 0; i < regions->len; i++) {
        MemRegion *r = g_ptr_array_index(regions, i);
        if (is_ram(r) && gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
            return r;
    }
    return NULL;
}

/* The RAM region holding all of host range [hva, hva + len), or NULL. */
static MemRegion *ram_region_hva(GPtrArray *regions, const void *hva, uint64_t len)
{
    uintptr_t p = (uintptr_t)hva;
    if (len == 0)
        return NULL;
    for (guint i = 0; i < regions->len; i++) {
        MemRegion *r = g_ptr_array_index(regions, i);
        uintptr_t base = (uintptr_t)r->hva;
        if (is_ram(r) && p >= base && len <= r->size && p - base <= r->size - len)
            return r;
    }
    return NULL;
}

/* ---- discarding ---------------------------------------------------------- */

int balloon_discard(MemRegion *r, uint64_t off, uint64_t len)
{
    g_assert(off <= r->size && len <= r->size - off);
    if (len == 0)
        return 0;
    void *p = r->hva + off;
    /* Shared mappings: free the memfd's pages (a plain DONTNEED would only
     * drop our mapping of them). Private mappings refuse MADV_REMOVE
     * (EACCES); dropping the private copy is what frees memory there. */
    if (madvise(p, len, MADV_REMOVE) == 0)
        return 0;
    if (madvise(p, len, MADV_DONTNEED) == 0)
        return 0;
    return -errno;
}

static void flush(BalloonDiscarder *d)
{
    if (!d->cur || !d->len)
        goto out;
    /* Only whole host pages can be discarded. */
    uint64_t mask = d->host_page - 1;
    uint64_t start = (d->start + mask) & ~mask;
    uint64_t end = (d->start + d->len) & ~mask;
    if (end > start) {
        int ret = balloon_discard(d->cur, start, end - start);
        if (ret == 0) {
            d->discarded_bytes += end - start;
        } else {
            d->failed_bytes += end - start;
            d->last_errno = -ret;
        }
    }
out:
    d->cur = NULL;
    d->start = d->len = 0;
}

static void add_run(BalloonDiscarder *d, MemRegion *r, uint64_t off, uint64_t len)
{
    if (d->cur == r && d->start + d->len == off) {
        d->len += len;
        return;
    }
    flush(d);
    d->cur = r;
    d->start = off;
    d->len = len;
}

void balloon_discarder_begin(BalloonDiscarder *d, GuestMemory *mem)
{
    memset(d, 0, sizeof *d);
    d->regions = memory_regions(mem);
    long ps = sysconf(_SC_PAGESIZE);
    d->host_page = ps > 0 ? (uint64_t)ps : VIRTIO_BALLOON_PAGE_SIZE;
}

bool balloon_discarder_add_pfn(BalloonDiscarder *d, uint64_t pfn)
{
    MemRegion *r = NULL;
    if (pfn <= (UINT64_MAX >> VIRTIO_BALLOON_PAGE_SHIFT))
        r = balloon_ram_region(d->regions, pfn << VIRTIO_BALLOON_PAGE_SHIFT,
                               VIRTIO_BALLOON_PAGE_SIZE);
    if (!r) {
        d->rejected++;
        return false;
    }
    add_run(d, r, (pfn << VIRTIO_BALLOON_PAGE_SHIFT) - r->gpa, VIRTIO_BALLOON_PAGE_SIZE);
    return true;
}

bool balloon_discarder_add_range(BalloonDiscarder *d, const void *hva, uint64_t len)
{
    MemRegion *r = ram_region_hva(d->regions, hva, len);
    if (!r) {
        d->rejected++;
        return false;
    }
    add_run(d, r, (uint64_t)((const uint8_t *)hva - r->hva), len);
    return true;
}

void balloon_discarder_flush(BalloonDiscarder *d)
{
    flush(d);
}

void balloon_discarder_end(BalloonDiscarder *d)
{
    flush(d);
    g_clear_pointer(&d->regions, g_ptr_array_unref);
}

/* ---- statistics ------------------------------------------------------------ */

#define STAT_ENTRY_BYTES 10

unsigned balloon_stats_parse(const struct iovec *iov, unsigned n, size_t max_bytes,
                             BalloonStats *out, unsigned *unknown)
{
    uint8_t entry[STAT_ENTRY_BYTES];
    unsigned have = 0, entries = 0;
    *unknown = 0;
    out->valid = 0;
    for (unsigned i = 0; i < n && max_bytes > 0; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = MIN(iov[i].iov_len, max_bytes);
        max_bytes -= len;
        for (size_t k = 0; k < len; k++) {
            entry[have++] = p[k];
            if (have < STAT_ENTRY_BYTES)
                continue;
            have = 0;
            entries++;
            unsigned tag = (unsigned)entry[0] | (unsigned)entry[1] << 8;
            uint64_t val = 0;
            for (int b = 7; b >= 0; b--)
                val = val << 8 | entry[2 + b];
            if (tag >= BALLOON_STAT_COUNT) {
                (*unknown)++;
                continue;
            }
            out->value[tag] = val;
            out->valid |= 1u << tag;
        }
    }
    return entries;
}

static const char *const stat_names[BALLOON_STAT_COUNT] = {
    [BALLOON_STAT_SWAP_IN] = "swap_in",
    [BALLOON_STAT_SWAP_OUT] = "swap_out",
    [BALLOON_STAT_MAJFLT] = "major_faults",
    [BALLOON_STAT_MINFLT] = "minor_faults",
    [BALLOON_STAT_MEMFREE] = "free_memory",
    [BALLOON_STAT_MEMTOT] = "total_memory",
    [BALLOON_STAT_AVAIL] = "available_memory",
    [BALLOON_STAT_CACHES] = "disk_caches",
    [BALLOON_STAT_HTLB_PGALLOC] = "hugetlb_allocations",
    [BALLOON_STAT_HTLB_PGFAIL] = "hugetlb_failures",
    [BALLOON_STAT_OOM_KILLS] = "oom_kills",
    [BALLOON_STAT_ALLOC_STALLS] = "alloc_stalls",
    [BALLOON_STAT_ASYNC_SCANS] = "async_scans",
    [BALLOON_STAT_DIRECT_SCANS] = "direct_scans",
    [BALLOON_STAT_ASYNC_RECLAIMS] = "async_reclaims",
    [BALLOON_STAT_DIRECT_RECLAIMS] = "direct_reclaims",
};

const char *balloon_stat_name(unsigned tag)
{
    return tag < BALLOON_STAT_COUNT ? stat_names[tag] : NULL;
}
