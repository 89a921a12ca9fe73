/* labproxy: a one-connection forwarder that breaks a migration stream on
 * purpose, built static so it runs in L1.
 *
 *   labproxy LISTEN TARGET MODE
 *     LISTEN, TARGET: unix:PATH or tcp:IPV4:PORT
 *     MODE: pass        forward both ways unchanged
 *           cut=N       forward N bytes source -> target, then close both
 *           flip=N      invert the byte at offset N of source -> target
 *           version=V   set the protocol version of the first frame (a
 *                       nimbus Start) to V and fix the frame's CRC, so the
 *                       target sees a well-formed frame of another version
 *
 * It accepts one connection on LISTEN, connects to TARGET, forwards until
 * either side closes, prints one line saying what it did and exits 0. The
 * frame layout is nimbus's migration/protocol.h: a 12-byte header (type,
 * length, CRC-32 of those 8 bytes then the payload), and the Start payload
 * "NIMBUSMG", u32 version, u32 arch, u32 page size. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define START_FRAME 32 /* header + the 20-byte Start payload */

static int fail(const char *what)
{
    fprintf(stderr, "labproxy: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int open_url(const char *url, int listening)
{
    int fd;
    if (strncmp(url, "unix:", 5) == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(url + 5) >= sizeof sa.sun_path)
            return fail("path too long");
        strcpy(sa.sun_path, url + 5);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (listening)
            unlink(sa.sun_path);
        if (fd < 0 || (listening ? bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1)
                                 : connect(fd, (struct sockaddr *)&sa, sizeof sa)))
            return fail(url);
        return fd;
    }
    if (strncmp(url, "tcp:", 4) != 0) {
        errno = EINVAL;
        return fail(url);
    }
    /* Numeric IPv4 only: a static binary has no NSS for names. */
    struct sockaddr_in sa = { .sin_family = AF_INET };
    char host[64];
    const char *colon = strrchr(url + 4, ':');
    if (!colon || (size_t)(colon - url - 4) >= sizeof host) {
        errno = EINVAL;
        return fail(url);
    }
    memcpy(host, url + 4, (size_t)(colon - url - 4));
    host[colon - url - 4] = 0;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return fail(url);
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || (listening ? bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1)
                             : connect(fd, (struct sockaddr *)&sa, sizeof sa)))
        return fail(url);
    return fd;
}

/* CRC-32 (IEEE, reflected, as zlib's crc32() chained from 0). */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the other side is gone: the loop sees it */
        p += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: labproxy LISTEN TARGET pass|cut=N|flip=N|version=V\n");
        return 2;
    }
    const char *mode = argv[3];
    long long cut = -1, flip = -1, version = -1;
    if (strncmp(mode, "cut=", 4) == 0)
        cut = atoll(mode + 4);
    else if (strncmp(mode, "flip=", 5) == 0)
        flip = atoll(mode + 5);
    else if (strncmp(mode, "version=", 8) == 0)
        version = atoll(mode + 8);
    else if (strcmp(mode, "pass") != 0) {
        fprintf(stderr, "labproxy: unknown mode '%s'\n", mode);
        return 2;
    }
    int lfd = open_url(argv[1], 1);
    int src = accept(lfd, NULL, NULL);
    if (src < 0)
        return fail("accept");
    close(lfd);
    int dst = open_url(argv[2], 0);
    long long up = 0; /* bytes forwarded source -> target */
    uint8_t start[START_FRAME];
    size_t start_len = 0;
    const char *done = "forwarded until a side closed";
    static uint8_t buf[1 << 16];
    for (;;) {
        struct pollfd pf[2] = { { .fd = src, .events = POLLIN }, { .fd = dst, .events = POLLIN } };
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return fail("poll");
        }
        if (pf[1].revents) { /* target -> source: untouched */
            ssize_t n = recv(dst, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            write_all(src, buf, (size_t)n);
        }
        if (!pf[0].revents)
            continue;
        size_t want = sizeof buf;
        if (cut >= 0 && (long long)want > cut - up)
            want = (size_t)(cut - up);
        ssize_t n = want ? recv(src, buf, want, 0) : 0;
        if (n <= 0) {
            if (cut >= 0 && up >= cut)
                done = "cut the connection";
            break;
        }
        if (flip >= up && flip < up + n) {
            buf[flip - up] ^= 0xff;
            done = "flipped a byte";
        }
        if (version >= 0 && start_len < START_FRAME) { /* hold the Start frame until it is whole */
            size_t take = (size_t)n < START_FRAME - start_len ? (size_t)n : START_FRAME - start_len;
            memcpy(start + start_len, buf, take);
            start_len += take;
            up += n;
            if (start_len == START_FRAME) {
                put32(start + 20, (uint32_t)version);
                put32(start + 8, crc32_update(crc32_update(0, start, 8), start + 12, START_FRAME - 12));
                write_all(dst, start, START_FRAME);
                done = "rewrote the version";
            }
            if ((size_t)n > take)
                write_all(dst, buf + take, (size_t)n - take);
            continue;
        }
        write_all(dst, buf, (size_t)n);
        up += n;
        if (cut >= 0 && up >= cut) {
            done = "cut the connection";
            break;
        }
    }
    shutdown(src, SHUT_RDWR);
    shutdown(dst, SHUT_RDWR);
    close(src);
    close(dst);
    printf("labproxy %s: %s after %lld bytes\n", mode, done, up);
    return 0;
}
