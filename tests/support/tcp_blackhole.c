/* See tcp_blackhole.h. */
#include "support/tcp_blackhole.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

void tcp_blackhole_open(TcpBlackhole *b)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(b->listen_fd, 0);
    /* Backlog 0: the accept queue holds one connection, never accepted. */
    ck_assert_int_eq(bind(b->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(b->listen_fd, 0), 0);
    ck_assert_int_eq(getsockname(b->listen_fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(b->url, sizeof b->url, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
    /* Fill the queue: the first filler completes, the second may hang (its
     * SYN dropped), so both are non-blocking. */
    for (int i = 0; i < 2; i++) {
        b->fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(b->fillers[i], 0);
        int r = connect(b->fillers[i], (struct sockaddr *)&sa, sizeof sa);
        ck_assert_msg(r == 0 || errno == EINPROGRESS, "filler connect: %m");
        if (i == 0) {
            struct pollfd p = { .fd = b->fillers[0], .events = POLLOUT };
            ck_assert_int_eq(poll(&p, 1, 2000), 1);
        }
    }
}

void tcp_blackhole_close(TcpBlackhole *b)
{
    for (int i = 0; i < 2; i++)
        close(b->fillers[i]);
    close(b->listen_fd);
}
