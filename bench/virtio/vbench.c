/* vbench — the measuring tool of the virtio benchmarks (bench/virtio).
 *
 * Built static on the host (cc -static -O2) and put into the L2 initramfs
 * (the guest has busybox only: no fio, no iperf) and into L1.
 *
 *   vbench blk MODE DEV BS SECONDS [SEED]
 *       MODE: seqread | seqwrite | randread | randwrite.  O_DIRECT, queue
 *       depth 1, BS-byte requests (BS a multiple of 4096) on the raw device
 *       for SECONDS; sequential wraps at the end of the device, random picks
 *       BS-aligned offsets with a seeded xorshift PRNG.  Prints
 *       "VBENCH blk <mode> bs=<BS> ops=<n> bytes=<n> secs=<s> iops=<x> mbps=<x>"
 *   vbench tcp-server PORT
 *       L1 side; serves connections one after the other, forever:
 *       first byte 'S': sink — read to EOF, answer the byte count (8 bytes,
 *       little endian), close; 'R' + 4-byte seconds: source — send for that
 *       long, close.
 *   vbench tcp-send HOST PORT SECONDS    guest -> server throughput
 *   vbench tcp-recv HOST PORT SECONDS    server -> guest throughput
 *       Print "VBENCH tcp <send|recv> bytes=<n> secs=<s> mbps=<x>", measured
 *       on the client from connect to the server's answer (send) or EOF
 *       (recv), so everything in flight is counted.
 *   vbench mktap NAME
 *       Create a persistent tap (TUNSETIFF + TUNSETPERSIST) for a peer VMM
 *       that needs an existing one (busybox's ip has no tuntap).
 *   vbench rmtap NAME
 *       Remove it again (TUNSETPERSIST 0).
 *
 * MB/s are 10^6 bytes per second.  Exit status 0, or 1 with a message.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NET_CHUNK (128 * 1024)

static void die(const char *what)
{
    fprintf(stderr, "vbench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: vbench blk seqread|seqwrite|randread|randwrite DEV BS SECONDS [SEED]\n"
                    "       vbench tcp-server PORT\n"
                    "       vbench tcp-send|tcp-recv HOST PORT SECONDS\n"
                    "       vbench mktap|rmtap NAME\n");
    exit(2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static long parse_num(const char *s, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min) {
        fprintf(stderr, "vbench: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static int cmd_blk(int argc, char **argv)
{
    if (argc < 5 || argc > 6)
        usage();
    const char *mode = argv[1], *dev = argv[2];
    long bs = parse_num(argv[3], 4096), secs = parse_num(argv[4], 1);
    uint64_t seed = argc == 6 ? (uint64_t)parse_num(argv[5], 1) : 0x9e3779b97f4a7c15ull;
    int wr = strstr(mode, "write") != NULL, rnd = strncmp(mode, "rand", 4) == 0;
    if (bs % 4096 || (strcmp(mode, "seqread") && strcmp(mode, "seqwrite") && strcmp(mode, "randread") &&
                      strcmp(mode, "randwrite")))
        usage();

    int fd = open(dev, (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0)
        die(dev);
    uint64_t size;
    if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            die("fstat");
        size = (uint64_t)st.st_size;
    }
    uint64_t nblocks = size / (uint64_t)bs;
    if (nblocks == 0) {
        fprintf(stderr, "vbench: %s is smaller than one %ld-byte block\n", dev, bs);
        return 1;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, (size_t)bs))
        die("posix_memalign");
    /* Incompressible, non-zero data for writes. */
    uint64_t fill = seed;
    for (size_t i = 0; i < (size_t)bs / 8; i++)
        ((uint64_t *)buf)[i] = xorshift64(&fill);

    uint64_t ops = 0, blk = 0, rng = seed;
    double t0 = now(), deadline = t0 + (double)secs, t;
    do {
        /* Check the clock every 8 ops: cheap enough, and the loop
         * overshoots the deadline by at most 8 requests. */
        for (int k = 0; k < 8; k++) {
            uint64_t b = rnd ? xorshift64(&rng) % nblocks : blk++ % nblocks;
            off_t off = (off_t)(b * (uint64_t)bs);
            ssize_t n = wr ? pwrite(fd, buf, (size_t)bs, off) : pread(fd, buf, (size_t)bs, off);
            if (n != bs) {
                if (n < 0)
                    die(wr ? "pwrite" : "pread");
                fprintf(stderr, "vbench: short %s: %zd of %ld bytes\n", wr ? "write" : "read", n, bs);
                return 1;
            }
            ops++;
        }
        t = now();
    } while (t < deadline);
    double el = t - t0;
    printf("VBENCH blk %s bs=%ld ops=%llu bytes=%llu secs=%.3f iops=%.1f mbps=%.2f\n", mode, bs,
           (unsigned long long)ops, (unsigned long long)(ops * (uint64_t)bs), el, (double)ops / el,
           (double)ops * (double)bs / el / 1e6);
    close(fd);
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static void serve_one(int c, char *buf)
{
    unsigned char cmd;
    if (read_full(c, &cmd, 1) < 0)
        return;
    if (cmd == 'S') {
        uint64_t total = 0;
        ssize_t r;
        while ((r = read(c, buf, NET_CHUNK)) > 0 || (r < 0 && errno == EINTR))
            if (r > 0)
                total += (uint64_t)r;
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)(total >> (8 * i));
        write_all(c, le, 8);
    } else if (cmd == 'R') {
        unsigned char s[4];
        if (read_full(c, s, 4) < 0)
            return;
        uint32_t secs = s[0] | s[1] << 8 | s[2] << 16 | (uint32_t)s[3] << 24;
        double deadline = now() + secs;
        do {
            if (write_all(c, buf, NET_CHUNK) < 0)
                return;
        } while (now() < deadline);
    }
}

static int cmd_server(int argc, char **argv)
{
    if (argc != 2)
        usage();
    int port = (int)parse_num(argv[1], 1);
    signal(SIGPIPE, SIG_IGN);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("bind");
    if (listen(s, 4) < 0)
        die("listen");
    char *buf = malloc(NET_CHUNK);
    if (!buf)
        die("malloc");
    memset(buf, 0x5a, NET_CHUNK);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            die("accept");
        }
        serve_one(c, buf);
        close(c);
    }
    return 0; /* not reached */
}

static int connect_to(const char *host, const char *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)parse_num(port, 1)) };
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "vbench: bad IPv4 address '%s'\n", host);
        exit(2);
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("connect");
    return s;
}

static int cmd_tcp(int argc, char **argv, int send_dir)
{
    if (argc != 4)
        usage();
    long secs = parse_num(argv[3], 1);
    signal(SIGPIPE, SIG_IGN);
    char *buf = malloc(NET_CHUNK);
    if (!buf)
        die("malloc");
    memset(buf, 0xa5, NET_CHUNK);
    double t0 = now();
    int s = connect_to(argv[1], argv[2]);
    uint64_t bytes = 0;
    if (send_dir) {
        unsigned char cmd = 'S', le[8];
        if (write_all(s, &cmd, 1) < 0)
            die("send");
        double deadline = t0 + (double)secs;
        do {
            if (write_all(s, buf, NET_CHUNK) < 0)
                die("send");
        } while (now() < deadline);
        shutdown(s, SHUT_WR);
        if (read_full(s, le, 8) < 0) {
            fprintf(stderr, "vbench: no byte count from the server\n");
            return 1;
        }
        for (int i = 0; i < 8; i++)
            bytes |= (uint64_t)le[i] << (8 * i);
    } else {
        unsigned char req[5] = { 'R', (unsigned char)secs, (unsigned char)(secs >> 8),
                                 (unsigned char)(secs >> 16), (unsigned char)(secs >> 24) };
        if (write_all(s, req, sizeof(req)) < 0)
            die("send");
        ssize_t r;
        while ((r = read(s, buf, NET_CHUNK)) > 0 || (r < 0 && errno == EINTR))
            if (r > 0)
                bytes += (uint64_t)r;
        if (r < 0)
            die("recv");
    }
    double el = now() - t0;
    close(s);
    printf("VBENCH tcp %s bytes=%llu secs=%.3f mbps=%.2f\n", send_dir ? "send" : "recv",
           (unsigned long long)bytes, el, (double)bytes / el / 1e6);
    return bytes ? 0 : 1;
}

static int cmd_tap(int argc, char **argv, int persist)
{
    if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ)
        usage();
    int fd = open("/dev/net/tun", O_RDWR);
    if (fd < 0)
        die("/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    strcpy(ifr.ifr_name, argv[1]);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        die("TUNSETIFF");
    if (ioctl(fd, TUNSETPERSIST, persist) < 0)
        die("TUNSETPERSIST");
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "blk"))
        return cmd_blk(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tcp-server"))
        return cmd_server(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tcp-send"))
        return cmd_tcp(argc - 1, argv + 1, 1);
    if (!strcmp(argv[1], "tcp-recv"))
        return cmd_tcp(argc - 1, argv + 1, 0);
    if (!strcmp(argv[1], "mktap"))
        return cmd_tap(argc - 1, argv + 1, 1);
    if (!strcmp(argv[1], "rmtap"))
        return cmd_tap(argc - 1, argv + 1, 0);
    usage();
}
