/* A loopback TCP address whose connects hang, as an unreachable host's do:
 * a listener with a full accept queue drops further SYNs (Linux), so a
 * connect() there waits for the kernel's SYN retries (about 2 min). */
#pragma once

typedef struct TcpBlackhole {
    int listen_fd;
    int fillers[2];
    char url[64]; /* "tcp:127.0.0.1:PORT" */
} TcpBlackhole;

/* Fails the test (Check) when the host cannot set one up. */
void tcp_blackhole_open(TcpBlackhole *b);
void tcp_blackhole_close(TcpBlackhole *b);
