/* labvsock: the lab's vsock peer, built static so it runs in L1 and L2.
 *
 *   labvsock guest-echo PORT        (L2) accept one AF_VSOCK connection on
 *                                   PORT, echo one line back, exit
 *   labvsock guest-send PORT TEXT   (L2) connect to the host (CID 2) PORT,
 *                                   send TEXT + "\n", print the line echoed
 *   labvsock host-connect SOCK PORT TEXT
 *                                   (L1) hybrid vsock: connect to nimbus's
 *                                   UNIX socket, "CONNECT PORT", expect "OK",
 *                                   send TEXT, print the line echoed
 *   labvsock host-echo SOCK_PORT    (L1) listen on the UNIX socket path
 *                                   (nimbus's SOCK_<port>), echo one line
 *   labvsock unix-raw SOCK          (L1) send stdin as is to a UNIX stream
 *                                   socket, half-close, print the reply (raw
 *                                   HTTP requests to nimbus's API socket)
 *   labvsock mktap NAME             (L1) create a persistent single-queue tap
 *                                   (what an operator's `ip tuntap add` does)
 *   labvsock zeroout DEV OFF LEN    (L2) BLKZEROOUT a byte range of a block
 *                                   device (busybox has no tool for it)
 * Exit status 0 on success; a line on stderr otherwise. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/vm_sockets.h>

static int die(const char *what)
{
    fprintf(stderr, "labvsock: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Read one line (without the newline) into buf. */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = 0;
    return (int)n;
}

static void write_line(int fd, const char *text)
{
    char buf[512];
    int len = snprintf(buf, sizeof buf, "%s\n", text);
    if (write(fd, buf, (size_t)len) != len)
        die("write");
}

static void echo_one(int fd)
{
    char line[512];
    if (read_line(fd, line, sizeof line) < 0)
        die("read");
    write_line(fd, line);
}

static int unix_socket(const char *path, struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof sa->sun_path, "%s", path);
    return fd;
}

int main(int argc, char **argv)
{
    char line[512];
    if (argc == 3 && !strcmp(argv[1], "guest-echo")) {
        int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                  .svm_port = (unsigned)atoi(argv[2]) };
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0)
            die("vsock listen");
        printf("NIMBUS-L2-VSOCK-LISTENING %s\n", argv[2]);
        fflush(stdout);
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            die("accept");
        echo_one(c);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "guest-send")) {
        int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
                                  .svm_port = (unsigned)atoi(argv[2]) };
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            die("vsock connect");
        write_line(fd, argv[3]);
        if (read_line(fd, line, sizeof line) < 0)
            die("read");
        printf("%s\n", line);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "host-connect")) {
        struct sockaddr_un sa;
        int fd = unix_socket(argv[2], &sa);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            die("connect");
        char cmd[64];
        snprintf(cmd, sizeof cmd, "CONNECT %s", argv[3]);
        write_line(fd, cmd);
        if (read_line(fd, line, sizeof line) < 0 || strncmp(line, "OK ", 3) != 0) {
            fprintf(stderr, "labvsock: handshake answer '%s'\n", line);
            return 1;
        }
        write_line(fd, argv[4]);
        if (read_line(fd, line, sizeof line) < 0)
            die("read");
        printf("%s\n", line);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "host-echo")) {
        struct sockaddr_un sa;
        int fd = unix_socket(argv[2], &sa);
        unlink(argv[2]);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0)
            die("listen");
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            die("accept");
        echo_one(c);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "unix-raw")) {
        struct sockaddr_un sa;
        int fd = unix_socket(argv[2], &sa);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            die("connect");
        char buf[4096];
        ssize_t n;
        while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
            if (write(fd, buf, (size_t)n) != n)
                die("write");
        shutdown(fd, SHUT_WR);
        while ((n = read(fd, buf, sizeof buf)) > 0)
            if (write(STDOUT_FILENO, buf, (size_t)n) != n)
                die("write");
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "mktap")) {
        int fd = open("/dev/net/tun", O_RDWR);
        if (fd < 0)
            die("open /dev/net/tun");
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", argv[2]);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
            die("TUNSETIFF");
        if (ioctl(fd, TUNSETPERSIST, 1) < 0)
            die("TUNSETPERSIST");
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "zeroout")) {
        int fd = open(argv[2], O_RDWR);
        if (fd < 0)
            die("open");
        uint64_t range[2] = { strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0) };
        if (ioctl(fd, BLKZEROOUT, range) < 0)
            die("BLKZEROOUT");
        return 0;
    }
    fprintf(stderr, "usage: labvsock guest-echo PORT | guest-send PORT TEXT | "
                    "host-connect SOCK PORT TEXT | host-echo PATH | unix-raw SOCK | "
                    "mktap NAME | zeroout DEV OFF LEN\n");
    return 2;
}
