/* Character backends (modes: see chardev.h).
 *
 * Threads. chardev_write() runs on vCPU threads: it holds out_lock for one
 * non-blocking write, so it never waits on the host side. Everything else
 * about input (the fd watch, the socket listener, client connect and
 * disconnect) happens on the event loop's thread; the one input call made
 * from other threads, chardev_accept_input(), only schedules a resume on that
 * loop. chardev_new, chardev_set_receiver and chardev_free run on the loop's
 * thread (or while nobody runs the loop). */
#include "devices/chardev/chardev.h"

#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

/* Largest chunk read from the host per wakeup; the frontend usually takes
 * less (a UART FIFO is 16 bytes). */
#define CHARDEV_READ_MAX 256

struct Chardev {
    ConsoleMode mode;
    EventLoop *loop;

    /* Output. out_lock orders writes against a socket client going away. */
    GMutex out_lock;
    int out_fd;         /* -1: output is discarded */
    bool out_is_socket; /* send() with MSG_DONTWAIT: per-call non-blocking, no SIGPIPE */
    uint64_t dropped;

    /* Input (loop thread only). in_fd may equal out_fd (socket client, pty). */
    int in_fd; /* -1: no input (none in this mode, EOF, or no client) */
    bool in_is_socket;
    GSource *in_watch; /* NULL while stopped or while the frontend is full */
    ChardevCanReceive can_receive;
    ChardevReceive receive;
    void *opaque;

    /* A resume requested by chardev_accept_input() from any thread. */
    GMutex resume_lock;
    GSource *resume_source;

    /* socket */
    char *socket_path; /* set once we bound it: ours to unlink */
    int listen_fd;
    GSource *listen_watch;

    /* pty: we keep the slave open ourselves, so the master never reports a
     * hangup while no client is attached (which would make its watch spin). */
    int pty_slave;
    char *pty_path;

    /* tty */
    bool tty_raw;
    struct termios tty_saved;
};

static void input_stop(Chardev *c);

/* ---- input ---------------------------------------------------------- */

static ssize_t input_read(Chardev *c, uint8_t *buf, size_t len)
{
    if (c->in_is_socket)
        return recv(c->in_fd, buf, len, MSG_DONTWAIT);
    return read(c->in_fd, buf, len);
}

static gboolean input_ready(int fd, GIOCondition cond, void *opaque)
{
    Chardev *c = opaque;
    size_t room = c->can_receive ? c->can_receive(c->opaque) : 0;
    if (room == 0) {
        /* Stop polling until the frontend has room again, rather than spin
         * on a readable fd; chardev_accept_input() restarts the watch. */
        evloop_remove(c->in_watch);
        c->in_watch = NULL;
        return G_SOURCE_REMOVE;
    }
    uint8_t buf[CHARDEV_READ_MAX];
    ssize_t n = input_read(c, buf, MIN(room, sizeof(buf)));
    if (n > 0) {
        c->receive(c->opaque, buf, (size_t)n);
        return G_SOURCE_CONTINUE;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    /* EOF or a hard error: the client left, or stdin ended. */
    input_stop(c);
    return G_SOURCE_REMOVE;
}

static void input_watch_start(Chardev *c)
{
    if (c->in_fd < 0 || c->in_watch || !c->receive)
        return;
    c->in_watch = evloop_add_fd(c->loop, c->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, input_ready, c);
}

/* The input side ended. A socket client is dropped entirely (it is also the
 * output); other modes just stop reading. */
static void input_stop(Chardev *c)
{
    evloop_remove(c->in_watch);
    c->in_watch = NULL;
    if (c->mode == CONSOLE_MODE_SOCKET) {
        g_mutex_lock(&c->out_lock);
        c->out_fd = -1;
        g_mutex_unlock(&c->out_lock);
        close(c->in_fd);
        g_info("console socket %s: client disconnected", c->socket_path);
    } else if (c->in_fd != c->out_fd) {
        close(c->in_fd);
    }
    c->in_fd = -1;
}

static gboolean input_resume(gpointer opaque)
{
    Chardev *c = opaque;
    g_mutex_lock(&c->resume_lock);
    /* The context keeps its own reference until we return REMOVE. */
    g_source_unref(c->resume_source);
    c->resume_source = NULL;
    g_mutex_unlock(&c->resume_lock);
    input_watch_start(c);
    return G_SOURCE_REMOVE;
}

void chardev_accept_input(Chardev *c)
{
    if (c->mode == CONSOLE_MODE_NULL || c->mode == CONSOLE_MODE_FILE)
        return; /* output-only modes */
    /* Any request made after the frontend said "full" schedules a resume
     * that runs after that callback on the loop thread, so no wakeup is lost. */
    g_mutex_lock(&c->resume_lock);
    if (!c->resume_source) {
        c->resume_source = g_idle_source_new();
        g_source_set_priority(c->resume_source, G_PRIORITY_DEFAULT);
        g_source_set_callback(c->resume_source, input_resume, c, NULL);
        g_source_attach(c->resume_source, evloop_context(c->loop));
    }
    g_mutex_unlock(&c->resume_lock);
}

void chardev_set_receiver(Chardev *c, ChardevCanReceive can_receive, ChardevReceive receive,
                          void *opaque)
{
    evloop_remove(c->in_watch);
    c->in_watch = NULL;
    c->can_receive = can_receive;
    c->receive = receive;
    c->opaque = opaque;
    input_watch_start(c);
}

/* ---- output --------------------------------------------------------- */

size_t chardev_write(Chardev *c, const uint8_t *buf, size_t len)
{
    g_mutex_lock(&c->out_lock);
    if (c->out_fd < 0) {
        /* Nowhere to go (null mode, socket without a client): discarded by
         * design, so not counted as dropped. */
        g_mutex_unlock(&c->out_lock);
        return len;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = c->out_is_socket
                        ? send(c->out_fd, buf + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL)
                        : write(c->out_fd, buf + done, len - done);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break; /* would block, or the peer is gone: drop the rest */
    }
    c->dropped += len - done;
    g_mutex_unlock(&c->out_lock);
    return done;
}

uint64_t chardev_dropped_bytes(Chardev *c)
{
    g_mutex_lock(&c->out_lock);
    uint64_t n = c->dropped;
    g_mutex_unlock(&c->out_lock);
    return n;
}

const char *chardev_pty_path(Chardev *c)
{
    return c->pty_path;
}

/* ---- backends ------------------------------------------------------- */

static bool open_file(Chardev *c, const char *path, GError **errp)
{
    /* 0600: a console log can hold whatever the guest prints, secrets included. */
    c->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
    if (c->out_fd < 0) {
        error_set_errno(errp, -errno, "cannot open console file '%s'", path);
        return false;
    }
    return true;
}

/* A private descriptor for stdin/stdout. Setting O_NONBLOCK on fd 0/1
 * themselves would change the open file description we share with the shell
 * (and with stderr, when both are the terminal), so reopen the same object
 * through /proc to get a description of our own. Sockets need no flag
 * (MSG_DONTWAIT), and regular files never block. */
static int std_fd_open(int std_fd, int flags, bool *is_socket)
{
    struct stat st;
    *is_socket = false;
    if (fstat(std_fd, &st) < 0)
        return -1; /* closed: no input / output */
    if (S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode)) {
        *is_socket = S_ISSOCK(st.st_mode);
        return fcntl(std_fd, F_DUPFD_CLOEXEC, 3);
    }
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", std_fd);
    int fd = open(proc, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    /* No /proc: share the description and accept that a write may block. */
    g_debug("cannot reopen fd %d (%s); console I/O may block", std_fd, g_strerror(errno));
    return fcntl(std_fd, F_DUPFD_CLOEXEC, 3);
}

static bool open_tty(Chardev *c, GError **errp)
{
    c->out_fd = std_fd_open(STDOUT_FILENO, O_WRONLY, &c->out_is_socket);
    c->in_fd = std_fd_open(STDIN_FILENO, O_RDONLY, &c->in_is_socket);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->tty_saved) == 0) {
        /* Raw input, so every key (Ctrl-C included) goes to the guest, as
         * with cloud-hypervisor. Output processing stays as it was: our own
         * log lines on the same terminal still end in CR LF. */
        struct termios raw = c->tty_saved;
        cfmakeraw(&raw);
        raw.c_oflag = c->tty_saved.c_oflag;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
            error_set_errno(errp, -errno, "cannot put the terminal in raw mode");
            return false;
        }
        c->tty_raw = true;
    }
    return true;
}

static bool open_pty(Chardev *c, GError **errp)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) {
        error_set_errno(errp, -errno, "cannot allocate a pseudo-terminal");
        return false;
    }
    c->out_fd = c->in_fd = m;
    char name[128];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
        error_set_errno(errp, -errno, "cannot set up the pseudo-terminal");
        return false;
    }
    /* Raw on both ends: without it the line discipline would echo guest
     * output straight back as guest input. */
    struct termios t;
    if (tcgetattr(m, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(m, TCSANOW, &t);
    }
    int fl = fcntl(m, F_GETFL);
    if (fl < 0 || fcntl(m, F_SETFL, fl | O_NONBLOCK) < 0) {
        error_set_errno(errp, -errno, "cannot make the pseudo-terminal non-blocking");
        return false;
    }
    c->pty_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (c->pty_slave < 0) {
        error_set_errno(errp, -errno, "cannot open '%s'", name);
        return false;
    }
    c->pty_path = g_strdup(name);
    return true;
}

static bool peer_gone(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static gboolean client_arrived(int fd, GIOCondition cond, void *opaque)
{
    Chardev *c = opaque;
    int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0)
        return G_SOURCE_CONTINUE;
    if (c->in_fd >= 0 && peer_gone(c->in_fd)) {
        /* The previous client closed while we were not watching (the guest
         * had no room for input, so its watch was paused): drop it now, or
         * nobody could reconnect until the guest reads its serial port. */
        input_stop(c);
    }
    if (c->in_fd >= 0) {
        /* One client at a time: a second one is turned away rather than
         * interleaving two users' keystrokes. */
        close(client);
        g_info("console socket %s: busy, refused another client", c->socket_path);
        return G_SOURCE_CONTINUE;
    }
    g_mutex_lock(&c->out_lock);
    c->out_fd = client;
    c->out_is_socket = true;
    g_mutex_unlock(&c->out_lock);
    c->in_fd = client;
    c->in_is_socket = true;
    g_info("console socket %s: client connected", c->socket_path);
    input_watch_start(c);
    return G_SOURCE_CONTINUE;
}

/* Remove a stale socket left by a dead process at path; refuse to touch a
 * live socket (another VMM is using it) or anything that is not a socket. */
static bool socket_clear_stale(const char *path, const struct sockaddr_un *sa, GError **errp)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return true;
        error_set_errno(errp, -errno, "console socket '%s'", path);
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "console socket '%s' exists and is not a socket", path);
        return false;
    }
    int probe AUTO_FD = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) {
        error_set_errno(errp, -errno, "socket");
        return false;
    }
    /* Non-blocking: a live listener with a full backlog answers EAGAIN
     * instead of making us wait, and counts as live. */
    if (connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "console socket '%s' is in use by another process", path);
        return false;
    }
    if (errno != ECONNREFUSED) {
        error_set_errno(errp, -errno, "cannot probe console socket '%s'", path);
        return false;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        error_set_errno(errp, -errno, "cannot remove stale console socket '%s'", path);
        return false;
    }
    return true;
}

static bool open_socket(Chardev *c, const char *path, GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "console socket path '%s' is longer than %zu bytes", path,
                    sizeof(sa.sun_path) - 1);
        return false;
    }
    strcpy(sa.sun_path, path);
    if (!socket_clear_stale(path, &sa, errp))
        return false;
    c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->listen_fd < 0) {
        error_set_errno(errp, -errno, "socket");
        return false;
    }
    if (bind(c->listen_fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
        error_set_errno(errp, -errno, "cannot bind console socket '%s'", path);
        return false;
    }
    c->socket_path = g_strdup(path);
    if (listen(c->listen_fd, 1) < 0) {
        error_set_errno(errp, -errno, "cannot listen on console socket '%s'", path);
        return false;
    }
    c->listen_watch = evloop_add_fd(c->loop, c->listen_fd, G_IO_IN, client_arrived, c);
    return true;
}

Chardev *chardev_new(const ConsoleConfig *cfg, EventLoop *loop, GError **errp)
{
    Chardev *c = g_new0(Chardev, 1);
    c->mode = cfg->mode;
    c->loop = loop;
    c->out_fd = c->in_fd = c->listen_fd = c->pty_slave = -1;
    g_mutex_init(&c->out_lock);
    g_mutex_init(&c->resume_lock);
    /* Modes with input need the loop that reads it. */
    g_assert(loop || cfg->mode == CONSOLE_MODE_NULL || cfg->mode == CONSOLE_MODE_FILE);

    bool ok = true;
    switch (cfg->mode) {
    case CONSOLE_MODE_NULL:
        break;
    case CONSOLE_MODE_FILE:
    case CONSOLE_MODE_SOCKET:
        if (!cfg->path) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "console mode %s needs a path",
                        vm_config_console_mode_name(cfg->mode));
            ok = false;
        } else {
            ok = cfg->mode == CONSOLE_MODE_FILE ? open_file(c, cfg->path, errp)
                                                : open_socket(c, cfg->path, errp);
        }
        break;
    case CONSOLE_MODE_TTY:
        ok = open_tty(c, errp);
        break;
    case CONSOLE_MODE_PTY:
        ok = open_pty(c, errp);
        break;
    default:
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "console mode %s has no backend",
                    vm_config_console_mode_name(cfg->mode));
        ok = false;
        break;
    }
    if (!ok) {
        chardev_free(c);
        return NULL;
    }
    return c;
}

void chardev_free(Chardev *c)
{
    if (!c)
        return;
    evloop_remove(c->in_watch);
    evloop_remove(c->listen_watch);
    g_mutex_lock(&c->resume_lock);
    evloop_remove(c->resume_source);
    c->resume_source = NULL;
    g_mutex_unlock(&c->resume_lock);

    if (c->tty_raw)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &c->tty_saved);
    if (c->in_fd >= 0 && c->in_fd != c->out_fd)
        close(c->in_fd);
    fd_closep(&c->out_fd);
    fd_closep(&c->pty_slave);
    fd_closep(&c->listen_fd);
    if (c->socket_path)
        unlink(c->socket_path);
    g_free(c->socket_path);
    g_free(c->pty_path);
    g_mutex_clear(&c->out_lock);
    g_mutex_clear(&c->resume_lock);
    g_free(c);
}
