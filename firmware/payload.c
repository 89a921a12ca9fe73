#include "firmware/payload.h"

#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_SIZE 4096ull

int payload_open(const char *path, const char *what, uint64_t *size, GError **errp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_set_errno(errp, -errno, "%s %s: cannot open", what, path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s %s: not a regular file", what,
                    path);
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

bool payload_load(GuestMemory *mem, int fd, const char *path, uint64_t off, uint64_t len, Gpa gpa,
                  GError **errp)
{
    uint8_t *hva = memory_hva(mem, gpa, len);
    if (!hva) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: %" G_GUINT64_FORMAT " bytes at %#" G_GINT64_MODIFIER
                    "x do not fit in guest RAM (give more --memory)",
                    path, len, gpa);
        return false;
    }
    while (len) {
        ssize_t n = pread(fd, hva, MIN(len, (uint64_t)1 << 30), (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                error_set_errno(errp, -errno, "%s: read failed", path);
            else
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "%s: file shrank while loading",
                            path);
            return false;
        }
        hva += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return true;
}

bool payload_place_initrd(uint64_t size, uint64_t floor, uint64_t limit, uint64_t *addr)
{
    if (size == 0 || size > limit)
        return false;
    uint64_t a = (limit - size) & ~(PAGE_SIZE - 1);
    if (a < floor)
        return false;
    *addr = a;
    return true;
}

bool payload_load_initrd(GuestMemory *mem, const char *path, uint64_t floor, uint64_t limit,
                         uint64_t *addr, uint64_t *size, GError **errp)
{
    AUTO_FD int fd = payload_open(path, "initramfs", size, errp);
    if (fd < 0)
        return false;
    if (*size == 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "initramfs %s: empty file", path);
        return false;
    }
    if (!payload_place_initrd(*size, floor, limit, addr)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "initramfs %s: %" G_GUINT64_FORMAT " MiB do not fit between the kernel and "
                    "%" G_GUINT64_FORMAT " MiB (give more --memory)",
                    path, *size >> 20, limit >> 20);
        return false;
    }
    return payload_load(mem, fd, path, 0, *size, *addr, errp);
}
