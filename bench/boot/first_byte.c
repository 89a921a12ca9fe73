/*
 * first_byte.c — time from exec of a command to the first byte on its stdout.
 *
 *   first_byte [-t TIMEOUT_S] [-o FILE] -- CMD [ARG...]
 *
 * Runs CMD with stdin from /dev/null and stdout on a pipe.  The child takes
 * CLOCK_MONOTONIC immediately before execvp() and hands it to the parent
 * through a shared page; the parent takes the clock when the first byte can
 * be read from the pipe.  The rest of the output is drained (and copied to
 * FILE with -o) until end of file, then the child is reaped.  When it has
 * not exited TIMEOUT_S seconds (default 10) after the start it is killed with
 * SIGKILL.  The child's stderr is first_byte's.
 *
 * Prints one line on stdout:
 *   first_byte_ms=<ms, 3 decimals> exit_ms=<ms> byte=0x<hex> rc=<status>
 * first_byte_ms and byte are -1 when nothing was written; rc is the exit
 * status, 128+N for a signal, 124 for a timeout.  Exits with rc, or 125 when
 * the command could not be started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void usage(void)
{
    fprintf(stderr, "usage: first_byte [-t TIMEOUT_S] [-o FILE] -- CMD [ARG...]\n");
    exit(2);
}

/* What the child reports through the shared page. */
struct shared {
    double exec_ms; /* CLOCK_MONOTONIC just before execvp */
    int exec_errno; /* execvp failed with this (0: it did not fail) */
};

int main(int argc, char **argv)
{
    double timeout_s = 10;
    const char *copy_path = NULL;
    int opt;

    while ((opt = getopt(argc, argv, "+t:o:")) != -1) {
        switch (opt) {
        case 't':
            timeout_s = atof(optarg);
            if (timeout_s <= 0)
                usage();
            break;
        case 'o':
            copy_path = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    char **cmd = argv + optind;

    int copy_fd = -1;
    if (copy_path) {
        copy_fd = open(copy_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (copy_fd < 0) {
            fprintf(stderr, "first_byte: %s: %s\n", copy_path, strerror(errno));
            return 125;
        }
    }
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("first_byte: mmap");
        return 125;
    }
    memset(sh, 0, sizeof *sh);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        perror("first_byte: pipe");
        return 125;
    }

    double start_ms = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        perror("first_byte: fork");
        return 125;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(pfd[1], STDOUT_FILENO) < 0)
            _exit(125);
        sh->exec_ms = now_ms();
        execvp(cmd[0], cmd);
        sh->exec_errno = errno;
        _exit(125);
    }
    close(pfd[1]);

    double deadline_ms = start_ms + timeout_s * 1e3;
    double first_ms = -1;
    int first_byte = -1, timed_out = 0;
    char buf[4096];

    /* Read until end of file (every writer closed the pipe) or the deadline. */
    for (;;) {
        double left = deadline_ms - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        int n = poll(&p, 1, (int)left + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("first_byte: poll");
            break;
        }
        if (n == 0)
            continue;
        ssize_t r = read(pfd[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (first_ms < 0) {
            first_ms = now_ms();
            first_byte = (unsigned char)buf[0];
        }
        if (copy_fd >= 0 && write(copy_fd, buf, (size_t)r) != r) {
            perror("first_byte: write");
            copy_fd = -1;
        }
    }
    close(pfd[0]);

    /* Reap the child, killing it at the deadline. */
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            perror("first_byte: waitpid");
            return 125;
        }
        if (timed_out || now_ms() >= deadline_ms) {
            timed_out = 1;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = { 0, 200 * 1000 }; /* 0.2 ms */
        nanosleep(&ts, NULL);
    }
    double exit_ms = now_ms();

    if (sh->exec_errno) {
        fprintf(stderr, "first_byte: %s: %s\n", cmd[0], strerror(sh->exec_errno));
        return 125;
    }
    int rc;
    if (timed_out)
        rc = 124;
    else if (WIFEXITED(status))
        rc = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        rc = 128 + WTERMSIG(status);
    else
        rc = 125;

    double t0 = sh->exec_ms > 0 ? sh->exec_ms : start_ms;
    printf("first_byte_ms=%.3f exit_ms=%.3f byte=", first_ms < 0 ? -1.0 : first_ms - t0,
           exit_ms - t0);
    if (first_byte < 0)
        printf("-1");
    else
        printf("0x%02x", first_byte);
    printf(" rc=%d\n", rc);
    return rc;
}
