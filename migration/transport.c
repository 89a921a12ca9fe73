/* The connection of a live migration (see transport.h). */
#include "migration/transport.h"

#include "hypervisor/error.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct MigAddr {
    bool is_unix;
    char *path;
    char *host, *port;
} MigAddr;

static void addr_clear(MigAddr *a)
{
    g_free(a->path);
    g_free(a->host);
    g_free(a->port);
}

static bool parse_url(const char *url, MigAddr *a, GError **errp)
{
    memset(a, 0, sizeof *a);
    if (url && g_str_has_prefix(url, "unix:")) {
        const char *p = url + 5;
        if (!*p || strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            goto bad_url;
        a->is_unix = true;
        a->path = g_strdup(p);
        return true;
    }
    if (url && g_str_has_prefix(url, "tcp:")) {
        const char *hp = url + 4;
        const char *colon = strrchr(hp, ':');
        if (!colon || colon == hp || !colon[1])
            goto bad_url;
        a->host = g_strndup(hp, (gsize)(colon - hp));
        if (a->host[0] == '[' && a->host[strlen(a->host) - 1] == ']') {
            char *h = g_strndup(a->host + 1, strlen(a->host) - 2);
            g_free(a->host);
            a->host = h;
        }
        a->port = g_strdup(colon + 1);
        return true;
    }
bad_url:
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "migration URL '%s' must be unix:PATH or tcp:HOST:PORT", url ? url : "");
    return false;
}


/* ---- waiting, with a cancel and a deadline --------------------------------- */

typedef struct Waiter {
    const MigWait *w;
    gint64 deadline; /* monotonic us; 0: none */
} Waiter;

static void waiter_init(Waiter *wt, const MigWait *w, unsigned default_ms)
{
    unsigned ms = w && w->timeout_ms ? w->timeout_ms : default_ms;
    wt->w = w;
    wt->deadline = ms ? g_get_monotonic_time() + (gint64)ms * 1000 : 0;
}

/* 0 while the wait may go on, else ECANCELED or ETIMEDOUT. */
static int waiter_check(const Waiter *wt)
{
    if (wt->w && wt->w->cancelled && wt->w->cancelled(wt->w->opaque))
        return ECANCELED;
    if (wt->deadline && g_get_monotonic_time() >= wt->deadline)
        return ETIMEDOUT;
    return 0;
}

/* Poll fd for events for one slice; 1 ready, 0 not yet, -errno. */
static int poll_slice(int fd, short events)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int n = poll(&pfd, 1, (int)MIG_WAIT_SLICE_MS);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    return n > 0;
}

static int set_nonblocking(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
        return errno;
    return 0;
}

/* Connect fd to sa, waiting in slices: 0 or an errno (ECANCELED, ETIMEDOUT
 * included). A unix listener with a full backlog answers EAGAIN: retried. */
static int connect_waiting(int fd, const struct sockaddr *sa, socklen_t len, const Waiter *wt)
{
    int err = set_nonblocking(fd, true);
    while (!err) {
        if (connect(fd, sa, len) == 0)
            break;
        err = errno;
        if (err == EINTR) {
            err = 0;
        } else if (err == EAGAIN) {
            err = waiter_check(wt);
            if (!err)
                poll(NULL, 0, (int)MIG_WAIT_SLICE_MS);
        } else if (err == EINPROGRESS || err == EALREADY) { /* EALREADY: after an EINTR */
            int r;
            while ((r = poll_slice(fd, POLLOUT)) == 0 && !(err = waiter_check(wt)))
                ;
            if (r < 0) {
                err = -r;
            } else if (r > 0) {
                socklen_t sl = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                    err = errno;
            }
            break;
        }
    }
    return err ? err : set_nonblocking(fd, false);
}

static void set_wait_error(GError **errp, int err, const MigWait *w, const char *what, const char *url,
                           unsigned timeout_ms)
{
    if (err == ECANCELED)
        g_set_error_literal(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED,
                            w && w->cancel_message ? w->cancel_message : "migration: cancelled");
    else if (err == ETIMEDOUT)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "migration: cannot %s %s: no answer within %u %s", what,
                    url, timeout_ms % 1000 ? timeout_ms : timeout_ms / 1000, timeout_ms % 1000 ? "ms" : "s");
    else
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "migration: cannot %s %s: %s", what, url,
                    g_strerror(err ? err : EINVAL));
}

/* ---- sockets ----------------------------------------------------------------- */

/* A socket left at path by an earlier run is replaced; any other file is
 * not ours to delete (EEXIST). 0 or an errno. */
static int remove_stale_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : errno;
    if (!S_ISSOCK(st.st_mode))
        return EEXIST;
    return unlink(path) < 0 && errno != ENOENT ? errno : 0;
}

/* Bind and listen on fd, or connect it: 0 or an errno. */
static int socket_attach(int fd, const struct sockaddr *sa, socklen_t len, bool listening, const Waiter *wt)
{
    if (!listening)
        return connect_waiting(fd, sa, len, wt);
    if (bind(fd, sa, len) < 0 || listen(fd, 1) < 0)
        return errno;
    return 0;
}

static int open_socket(const char *url, bool listening, const MigWait *w, GError **errp)
{
    MigAddr a;
    if (!parse_url(url, &a, errp))
        return -1;
    Waiter wt;
    waiter_init(&wt, w, listening ? 0 : MIG_CONNECT_TIMEOUT_MS);
    int fd = -1, err = 0;
    if (a.is_unix) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, a.path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
        } else {
            err = listening ? remove_stale_socket(a.path) : 0;
            if (!err)
                err = socket_attach(fd, (struct sockaddr *)&sa, sizeof sa, listening, &wt);
        }
    } else {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = listening ? AI_PASSIVE : 0 };
        struct addrinfo *res = NULL;
        int gr = getaddrinfo(a.host, a.port, &hints, &res);
        if (gr != 0) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration: cannot resolve '%s': %s", url,
                        gai_strerror(gr));
            addr_clear(&a);
            return -1;
        }
        /* Each address in turn; a cancel or the deadline ends the search. */
        err = ENOENT;
        for (struct addrinfo *ai = res; ai && err && err != ECANCELED && err != ETIMEDOUT; ai = ai->ai_next) {
            if (fd >= 0)
                close(fd);
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd < 0) {
                err = errno;
                continue;
            }
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            err = socket_attach(fd, ai->ai_addr, ai->ai_addrlen, listening, &wt);
        }
        freeaddrinfo(res);
    }
    addr_clear(&a);
    if (err) {
        if (fd >= 0)
            close(fd);
        set_wait_error(errp, err, w, listening ? "listen on" : "connect to", url,
                       w && w->timeout_ms ? w->timeout_ms : MIG_CONNECT_TIMEOUT_MS);
        return -1;
    }
    return fd;
}

int mig_connect(const char *url, const MigWait *wait, GError **errp)
{
    return open_socket(url, false, wait, errp);
}

int mig_listen(const char *url, GError **errp)
{
    return open_socket(url, true, NULL, errp);
}

void mig_unlisten(const char *url)
{
    MigAddr a;
    if (!parse_url(url, &a, NULL))
        return;
    if (a.is_unix)
        remove_stale_socket(a.path);
    addr_clear(&a);
}

int mig_accept(int listen_fd, const MigWait *wait, GError **errp)
{
    Waiter wt;
    waiter_init(&wt, wait, 0);
    /* Non-blocking: a connection that is gone again between the poll and
     * the accept must not block us. The accepted socket blocks. */
    int err = set_nonblocking(listen_fd, true);
    while (!err) {
        int r = poll_slice(listen_fd, POLLIN);
        if (r < 0) {
            err = -r;
        } else if (r > 0) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                return fd;
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                err = errno;
        } else {
            err = waiter_check(&wt);
        }
    }
    set_wait_error(errp, err, wait, "accept a connection on", "the migration socket",
                   wait ? wait->timeout_ms : 0);
    return -1;
}
