/* Populated pages of a RAM region (see ram_scan.h). */
#include "migration/ram_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096u
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_CHUNK 4096u /* entries read at a time */

static void mark(uint64_t *bitmap, uint64_t first, uint64_t count)
{
    for (uint64_t pg = first; pg < first + count; pg++)
        bitmap[pg / 64] |= 1ull << (pg % 64);
}

/* The memfd's data ranges. */
static bool scan_fd(const MemRegion *r, uint64_t *bitmap)
{
    off_t pos = 0, end = (off_t)r->size;
    while (pos < end) {
        off_t data = lseek(r->fd, pos, SEEK_DATA);
        if (data < 0)
            return errno == ENXIO; /* no data after pos */
        if (data >= end)
            break;
        off_t hole = lseek(r->fd, data, SEEK_HOLE);
        if (hole < 0)
            return false;
        hole = hole > end ? end : hole;
        uint64_t first = (uint64_t)data / PAGE, last = ((uint64_t)hole + PAGE - 1) / PAGE;
        mark(bitmap, first, last - first);
        pos = hole;
    }
    return true;
}

/* Pages our page tables map (the private copies of a MAP_PRIVATE region
 * live only there). */
static bool scan_pagemap(const MemRegion *r, uint64_t *bitmap)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    uint64_t pages = r->size / PAGE, base = (uint64_t)(uintptr_t)r->hva / PAGE;
    uint64_t buf[PAGEMAP_CHUNK];
    bool ok = true;
    for (uint64_t pg = 0; pg < pages && ok;) {
        uint64_t n = pages - pg < PAGEMAP_CHUNK ? pages - pg : PAGEMAP_CHUNK;
        ssize_t got = pread(fd, buf, n * 8, (off_t)((base + pg) * 8));
        if (got != (ssize_t)(n * 8)) {
            ok = false;
            break;
        }
        for (uint64_t i = 0; i < n; i++)
            if (buf[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))
                bitmap[(pg + i) / 64] |= 1ull << ((pg + i) % 64);
        pg += n;
    }
    close(fd);
    return ok;
}

GPtrArray *ram_scan_regions(GuestMemory *mem)
{
    g_autoptr(GPtrArray) all = memory_regions(mem);
    GPtrArray *ram = g_ptr_array_new();
    for (guint i = 0; i < all->len; i++)
        if (((MemRegion *)all->pdata[i])->ram)
            g_ptr_array_add(ram, all->pdata[i]);
    return ram;
}

bool ram_scan_populated(const MemRegion *r, uint64_t *bitmap)
{
    memset(bitmap, 0, (r->size / PAGE + 63) / 64 * 8);
    /* Without a memfd (anonymous RAM) only the page tables hold data. */
    return (r->fd < 0 || scan_fd(r, bitmap)) && scan_pagemap(r, bitmap);
}
