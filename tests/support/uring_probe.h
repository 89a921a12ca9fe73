/* io_uring may be refused (seccomp in containers, old kernels, user-mode
 * QEMU, which does not emulate it): tests of the io_uring engine then skip
 * that case with a note on stderr, and their sync half still runs. */
#pragma once
#include <glib.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>

static inline bool uring_probe_missing(void)
{
    struct io_uring ring;
    int r = io_uring_queue_init(4, &ring, 0);
    if (r < 0) {
        fprintf(stderr, "io_uring unavailable (%s): io_uring case skipped\n", g_strerror(-r));
        return true;
    }
    io_uring_queue_exit(&ring);
    return false;
}
