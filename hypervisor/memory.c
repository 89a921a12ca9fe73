#include "hypervisor/memory.h"

#include "hypervisor/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct GuestMemory {
    AccelVm *avm;
    GRWLock lock;
    GPtrArray *regions; /* MemRegion *, sorted by gpa, non-overlapping */
    uint64_t slots_used; /* bitmap of slot ids in use (first 64 suffice for now) */
};

GuestMemory *memory_new(AccelVm *avm)
{
    GuestMemory *m = g_new0(GuestMemory, 1);
    m->avm = avm;
    g_rw_lock_init(&m->lock);
    m->regions = g_ptr_array_new();
    return m;
}

static void region_release(GuestMemory *m, MemRegion *r)
{
    if (m->avm)
        m->avm->ops->vm_set_memslot(m->avm, r->slot, r->gpa, 0, r->hva, 0);
    m->slots_used &= ~(1ull << r->slot);
    if (r->owns_mapping)
        munmap(r->hva, r->size);
    if (r->fd >= 0)
        close(r->fd);
    g_free(r->dev_dirty);
    g_free(r->name);
    g_free(r);
}

void memory_detach_accel(GuestMemory *m)
{
    if (!m)
        return;
    g_rw_lock_writer_lock(&m->lock);
    m->avm = NULL;
    g_rw_lock_writer_unlock(&m->lock);
}

void memory_free(GuestMemory *m)
{
    if (!m)
        return;
    for (guint i = 0; i < m->regions->len; i++)
        region_release(m, m->regions->pdata[i]);
    g_ptr_array_free(m->regions, TRUE);
    g_rw_lock_clear(&m->lock);
    g_free(m);
}

static bool overlaps(GuestMemory *m, Gpa gpa, uint64_t size)
{
    for (guint i = 0; i < m->regions->len; i++) {
        MemRegion *r = m->regions->pdata[i];
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return true;
    }
    return false;
}

static gint region_cmp(gconstpointer a, gconstpointer b)
{
    const MemRegion *ra = *(MemRegion *const *)a, *rb = *(MemRegion *const *)b;
    return ra->gpa < rb->gpa ? -1 : ra->gpa > rb->gpa;
}

/* Insert r (hva/size/gpa filled) and register its slot. Takes ownership. */
static MemRegion *region_insert(GuestMemory *m, MemRegion *r, GError **errp)
{
    g_rw_lock_writer_lock(&m->lock);
    if (r->size == 0 || r->gpa + r->size < r->gpa || overlaps(m, r->gpa, r->size)) {
        g_rw_lock_writer_unlock(&m->lock);
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "memory region '%s' [0x%" G_GINT64_MODIFIER "x, +0x%" G_GINT64_MODIFIER
                    "x) is empty or overlaps another region",
                    r->name, r->gpa, r->size);
        goto fail;
    }
    if (m->slots_used == UINT64_MAX) {
        g_rw_lock_writer_unlock(&m->lock);
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "too many memory regions");
        goto fail;
    }
    r->slot = (uint32_t)__builtin_ctzll(~m->slots_used);
    if (m->avm) {
        int e = m->avm->ops->vm_set_memslot(m->avm, r->slot, r->gpa, r->size, r->hva, r->flags);
        if (e < 0) {
            g_rw_lock_writer_unlock(&m->lock);
            error_set_errno(errp, e, "cannot map memory region '%s' into the guest", r->name);
            goto fail;
        }
    }
    m->slots_used |= 1ull << r->slot;
    g_ptr_array_add(m->regions, r);
    g_ptr_array_sort(m->regions, region_cmp);
    g_rw_lock_writer_unlock(&m->lock);
    return r;
fail:
    if (r->owns_mapping)
        munmap(r->hva, r->size);
    if (r->fd >= 0)
        close(r->fd);
    g_free(r->name);
    g_free(r);
    return NULL;
}

static unsigned hugepage_flag(uint64_t size)
{
    if (!size)
        return 0;
    return (unsigned)__builtin_ctzll(size) << MFD_HUGE_SHIFT;
}

/* Shared or hugetlbfs RAM: a memfd, so that its pages can be handed to
 * another process (vhost-user, local migration) or come from the huge-page
 * pool. Returns the fd and the mapping, or -1. */
static int map_memfd(const char *name, uint64_t size, const MemoryBacking *b, void **hva,
                     GError **errp)
{
    unsigned flags = MFD_CLOEXEC;
    if (b->hugepages)
        flags |= MFD_HUGETLB | hugepage_flag(b->hugepage_size);
    int fd = memfd_create(name, flags);
    if (fd < 0) {
        error_set_errno(errp, -errno, "cannot create %smemory for '%s'",
                        b->hugepages ? "huge-page " : "", name);
        return -1;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        error_set_errno(errp, -errno, "cannot size guest memory '%s' to %" G_GUINT64_FORMAT " MiB",
                        name, size >> 20);
        close(fd);
        return -1;
    }
    *hva = mmap(NULL, size, PROT_READ | PROT_WRITE, b->shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    if (*hva == MAP_FAILED) {
        int e = -errno;
        if (b->hugepages && e == -ENOMEM)
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO,
                        "not enough huge pages for %" G_GUINT64_FORMAT
                        " MiB of guest memory (see /proc/sys/vm/nr_hugepages)",
                        size >> 20);
        else
            error_set_errno(errp, e, "cannot map %" G_GUINT64_FORMAT " MiB of guest memory",
                            size >> 20);
        close(fd);
        return -1;
    }
    return fd;
}

MemRegion *memory_add_ram(GuestMemory *m, const char *name, Gpa gpa, uint64_t size,
                          const MemoryBacking *b, GError **errp)
{
    void *hva;
    int fd = -1;
    if (b->shared || b->hugepages) {
        fd = map_memfd(name, size, b, &hva, errp);
        if (fd < 0)
            return NULL;
    } else {
        /* Private RAM is anonymous memory. A private mapping of a memfd
         * would copy each page on its first write (two faults per page and
         * 4 KiB copies that never become transparent huge pages): the arm64
         * nested lab booted 2.5-5x slower that way. */
        hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (hva == MAP_FAILED) {
            error_set_errno(errp, -errno, "cannot map %" G_GUINT64_FORMAT " MiB of guest memory",
                            size >> 20);
            return NULL;
        }
        madvise(hva, size, MADV_HUGEPAGE);
    }
    /* Guest RAM stays out of core dumps: it is large and it is the tenant's data. */
    madvise(hva, size, MADV_DONTDUMP);
    MemRegion *r = g_new0(MemRegion, 1);
    r->name = g_strdup(name);
    r->gpa = gpa;
    r->size = size;
    r->hva = hva;
    r->fd = fd;
    r->ram = true;
    r->owns_mapping = true;
    return region_insert(m, r, errp);
}

MemRegion *memory_add_mapping(GuestMemory *m, const char *name, Gpa gpa, uint64_t size, void *hva,
                              uint32_t flags, GError **errp)
{
    MemRegion *r = g_new0(MemRegion, 1);
    r->name = g_strdup(name);
    r->gpa = gpa;
    r->size = size;
    r->hva = hva;
    r->fd = -1;
    r->flags = flags;
    return region_insert(m, r, errp);
}

bool memory_remove(GuestMemory *m, Gpa gpa, GError **errp)
{
    g_rw_lock_writer_lock(&m->lock);
    for (guint i = 0; i < m->regions->len; i++) {
        MemRegion *r = m->regions->pdata[i];
        if (r->gpa == gpa) {
            g_ptr_array_remove_index(m->regions, i);
            region_release(m, r);
            g_rw_lock_writer_unlock(&m->lock);
            return true;
        }
    }
    g_rw_lock_writer_unlock(&m->lock);
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND,
                "no memory region at 0x%" G_GINT64_MODIFIER "x", gpa);
    return false;
}

/* Region containing gpa, or NULL. Caller holds the lock. */
static MemRegion *find_locked(GuestMemory *m, Gpa gpa)
{
    guint lo = 0, hi = m->regions->len;
    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        MemRegion *r = m->regions->pdata[mid];
        if (gpa < r->gpa)
            hi = mid;
        else if (gpa - r->gpa >= r->size)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

/* Record a write by device emulation to [off, off+len) of r (lock held). */
static void mark_dev_dirty(MemRegion *r, uint64_t off, uint64_t len)
{
    uint64_t *bm = __atomic_load_n(&r->dev_dirty, __ATOMIC_ACQUIRE);
    if (!bm || !len)
        return;
    for (uint64_t pg = off >> 12, last = (off + len - 1) >> 12; pg <= last; pg++)
        __atomic_fetch_or(&bm[pg / 64], 1ull << (pg % 64), __ATOMIC_RELAXED);
}

void *memory_hva(GuestMemory *m, Gpa gpa, uint64_t len)
{
    void *p = NULL;
    g_rw_lock_reader_lock(&m->lock);
    MemRegion *r = find_locked(m, gpa);
    if (r && len <= r->size - (gpa - r->gpa)) {
        p = r->hva + (gpa - r->gpa);
        mark_dev_dirty(r, gpa - r->gpa, len);
    }
    g_rw_lock_reader_unlock(&m->lock);
    return p;
}

/* Walk [gpa, gpa+len) chunk by chunk; with check_only, only validate. */
static bool copy_range(GuestMemory *m, Gpa gpa, uint8_t *buf, uint64_t len, bool to_guest,
                       bool check_only)
{
    g_rw_lock_reader_lock(&m->lock);
    bool ok = true;
    while (len > 0) {
        MemRegion *r = find_locked(m, gpa);
        if (!r) {
            ok = false;
            break;
        }
        uint64_t off = gpa - r->gpa;
        uint64_t n = MIN(len, r->size - off);
        if (!check_only) {
            if (to_guest) {
                memcpy(r->hva + off, buf, n);
                mark_dev_dirty(r, off, n);
            } else
                memcpy(buf, r->hva + off, n);
        }
        buf += n;
        gpa += n;
        len -= n;
        if (len && gpa == 0) { /* wrapped around the address space */
            ok = false;
            break;
        }
    }
    g_rw_lock_reader_unlock(&m->lock);
    return ok;
}

bool memory_read(GuestMemory *m, Gpa gpa, void *buf, uint64_t len)
{
    return copy_range(m, gpa, buf, len, false, false);
}

bool memory_write(GuestMemory *m, Gpa gpa, const void *buf, uint64_t len)
{
    /* Validate first so that a partly invalid range writes nothing. */
    if (!copy_range(m, gpa, (uint8_t *)buf, len, true, true))
        return false;
    return copy_range(m, gpa, (uint8_t *)buf, len, true, false);
}

GPtrArray *memory_regions(GuestMemory *m)
{
    g_rw_lock_reader_lock(&m->lock);
    GPtrArray *copy = g_ptr_array_sized_new(m->regions->len);
    for (guint i = 0; i < m->regions->len; i++)
        g_ptr_array_add(copy, m->regions->pdata[i]);
    g_rw_lock_reader_unlock(&m->lock);
    return copy;
}

static size_t bitmap_words(uint64_t size)
{
    return (size_t)(((size + 4095) / 4096 + 63) / 64);
}

bool memory_set_dirty_logging(GuestMemory *m, bool on, GError **errp)
{
    if (!m->avm || !m->avm->ops->vm_get_dirty_log) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "dirty-page logging needs an accelerator");
        return false;
    }
    bool ok = true;
    g_rw_lock_writer_lock(&m->lock);
    for (guint i = 0; i < m->regions->len; i++) {
        MemRegion *r = m->regions->pdata[i];
        if (!r->ram || !!(r->flags & ACCEL_MEM_LOG_DIRTY) == on)
            continue;
        uint32_t flags = on ? (r->flags | ACCEL_MEM_LOG_DIRTY) : (r->flags & ~(uint32_t)ACCEL_MEM_LOG_DIRTY);
        int e = m->avm->ops->vm_set_memslot(m->avm, r->slot, r->gpa, r->size, r->hva, flags);
        if (e < 0) {
            if (on) {
                error_set_errno(errp, e, "cannot turn dirty logging on for memory region '%s'", r->name);
                ok = false;
                break;
            }
            continue;
        }
        r->flags = flags;
        if (on) {
            __atomic_store_n(&r->dev_dirty, g_new0(uint64_t, bitmap_words(r->size)), __ATOMIC_RELEASE);
        } else {
            /* Readers hold the read lock: none is inside mark_dev_dirty. */
            g_free(r->dev_dirty);
            r->dev_dirty = NULL;
        }
    }
    g_rw_lock_writer_unlock(&m->lock);
    if (!ok)
        memory_set_dirty_logging(m, false, NULL);
    return ok;
}

bool memory_fetch_dirty(GuestMemory *m, MemRegion *r, uint64_t *bitmap, GError **errp)
{
    size_t words = bitmap_words(r->size);
    g_rw_lock_reader_lock(&m->lock);
    if (!(r->flags & ACCEL_MEM_LOG_DIRTY) || !r->dev_dirty) {
        g_rw_lock_reader_unlock(&m->lock);
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "dirty logging is off for memory region '%s'",
                    r->name);
        return false;
    }
    memset(bitmap, 0, words * 8);
    int e = m->avm->ops->vm_get_dirty_log(m->avm, r->slot, bitmap);
    if (e >= 0)
        for (size_t i = 0; i < words; i++)
            bitmap[i] |= __atomic_exchange_n(&r->dev_dirty[i], 0, __ATOMIC_RELAXED);
    g_rw_lock_reader_unlock(&m->lock);
    if (e < 0) {
        error_set_errno(errp, e, "cannot read the dirty log of memory region '%s'", r->name);
        return false;
    }
    return true;
}

uint64_t memory_ram_size(GuestMemory *m)
{
    uint64_t total = 0;
    g_rw_lock_reader_lock(&m->lock);
    for (guint i = 0; i < m->regions->len; i++) {
        MemRegion *r = m->regions->pdata[i];
        if (r->ram)
            total += r->size;
    }
    g_rw_lock_reader_unlock(&m->lock);
    return total;
}

bool memory_parse_size(const char *text, uint64_t *out, GError **errp)
{
    if (!text || !*text || !g_ascii_isdigit(*text))
        goto bad;
    char *end = NULL;
    errno = 0;
    guint64 v = g_ascii_strtoull(text, &end, 10);
    if (errno)
        goto bad;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    case 'T': case 't': shift = 40; end++; break;
    default:
        goto bad;
    }
    /* Accept an optional "iB"/"B" suffix: 512MiB, 512MB. */
    if (shift && (g_str_equal(end, "iB") || g_str_equal(end, "B")))
        end += strlen(end);
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        goto bad;
    v <<= shift;
    if (v == 0)
        goto bad;
    *out = v;
    return true;
bad:
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "invalid size '%s' (expected a positive number with an optional K, M, G or T suffix)",
                text ? text : "");
    return false;
}

#define ZERO_CHECK_PAGE 4096u

bool memory_page_is_zero(const void *p)
{
    const uint64_t *w = p;
    for (unsigned i = 0; i < ZERO_CHECK_PAGE / 8; i += 4)
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
            return false;
    return true;
}

void memory_zero_region(const MemRegion *r)
{
    /* Dropping the pages zeroes RAM: punch the memfd, then drop the mapping's
     * pages (anonymous private RAM reads back zero afterwards). */
    bool punched = r->fd < 0 ||
                   fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)r->size) == 0;
    if (r->ram && punched && madvise(r->hva, r->size, MADV_DONTNEED) == 0)
        return;
    for (uint64_t off = 0; off < r->size; off += ZERO_CHECK_PAGE)
        if (!memory_page_is_zero(r->hva + off))
            memset(r->hva + off, 0, ZERO_CHECK_PAGE);
}
