/* File-descriptor helpers (GLib 2.74 has no g_autofd). */
#pragma once
#include <unistd.h>

static inline void fd_closep(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}
/* int fd __attribute__((cleanup(fd_closep))) = open(...); */
#define AUTO_FD __attribute__((cleanup(fd_closep)))

/* Take ownership of *fd, leaving -1 behind, so that AUTO_FD does not close it. */
static inline int fd_steal(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

/* write() all of buf, retrying on EINTR and short writes; -errno on failure. */
int fd_write_all(int fd, const void *buf, size_t len);
/* read() up to len bytes, retrying on EINTR; bytes read or -errno. */
ssize_t fd_read_retry(int fd, void *buf, size_t len);
