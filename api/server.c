/* HTTP side of the API: a SoupServer on the API thread's own context. A
 * request goes through three steps:
 *   1. early handler (headers read): route lookup (404/405), Content-Length
 *      over the limit (413, the body is never read), body collection set up;
 *   2. handler (body read): the message is paused and an ApiCall is queued to
 *      the control loop, where the route's handler runs;
 *   3. back on the API thread: the reply is set and the message resumed.
 * A client that goes away meanwhile only marks its call "gone". */
#include "api/api.h"

#include "api/routes.h"
#include "hypervisor/error.h"
#include "hypervisor/evloop.h"
#include "hypervisor/log.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define API_LISTEN_BACKLOG 64
#define CALL_KEY "nimbus-api-call"

struct ApiServer {
    Vmm *vmm;
    EventLoop *loop; /* the API thread */
    SoupServer *soup;
    GSocket *listener;
    char *path;      /* socket file we created (removed at free) */
    dev_t dev;
    ino_t ino;
    bool closing;    /* API thread only */
    GError *setup_error;
};

typedef struct ApiCall {
    gint refs;
    ApiServer *server;
    SoupServerMessage *msg; /* referenced while the control thread works */
    const ApiRoute *route;
    GByteArray *body;
    bool too_big;
    bool gone; /* finished or disconnected: the message's I/O is over */
    ApiReply reply;
} ApiCall;

static void call_unref(gpointer p)
{
    ApiCall *c = p;
    if (!g_atomic_int_dec_and_test(&c->refs))
        return;
    g_byte_array_unref(c->body);
    g_free(c->reply.body);
    g_free(c);
}

/* Every reply closes its connection. libsoup 3.2 (Debian 12) never notices a
 * client closing an idle kept-alive connection (fixed upstream in 3.3), so
 * each client that went away would leave an fd behind in nimbus until the API
 * stopped accepting. Management calls are rare and a UNIX-socket connect is
 * cheap; clients (curl, libvirt, nimbus-remote) reconnect on "close". */
static void set_json(SoupServerMessage *msg, unsigned status, char *body)
{
    soup_server_message_set_status(msg, status, NULL);
    if (body)
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, body,
                                         strlen(body));
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                 "close");
}

static void set_error(SoupServerMessage *msg, unsigned status, const char *message)
{
    ApiReply r = { 0 };
    api_reply_error(&r, status, message);
    set_json(msg, r.status, r.body);
}

/* 404 or 405 for requests no route takes; true if one does. */
static const ApiRoute *route_or_error(SoupServerMessage *msg)
{
    const char *method = soup_server_message_get_method(msg);
    const char *path = g_uri_get_path(soup_server_message_get_uri(msg));
    bool known;
    const ApiRoute *r = api_route_find(method, path, &known);
    if (r)
        return r;
    if (known) {
        g_autofree char *m = g_strdup_printf("%s is not allowed on %s", method, path);
        for (const ApiRoute *o = api_routes; o->path; o++)
            if (strcmp(o->path, path) == 0)
                soup_message_headers_append(soup_server_message_get_response_headers(msg),
                                            "Allow", o->method);
        set_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, m);
    } else {
        g_autofree char *m = g_strdup_printf("no such endpoint: %s", path);
        set_error(msg, SOUP_STATUS_NOT_FOUND, m);
    }
    return NULL;
}

static void on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer opaque)
{
    ApiCall *c = opaque;
    gsize len = g_bytes_get_size(chunk);
    if (c->too_big || c->body->len + len > API_BODY_LIMIT) {
        c->too_big = true; /* keep reading (and dropping) so we can answer 413 */
        return;
    }
    g_byte_array_append(c->body, g_bytes_get_data(chunk, NULL), (guint)len);
}

static void on_message_over(SoupServerMessage *msg, gpointer opaque)
{
    ((ApiCall *)opaque)->gone = true;
}

static void early_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                          GHashTable *query, gpointer opaque)
{
    ApiServer *s = opaque;
    if (!route_or_error(msg))
        return;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(h) > API_BODY_LIMIT) {
        set_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body too large");
        return;
    }
    ApiCall *c = g_new0(ApiCall, 1);
    c->refs = 1;
    c->server = s;
    c->body = g_byte_array_new();
    g_object_set_data_full(G_OBJECT(msg), CALL_KEY, c, call_unref);
    /* We collect the body ourselves, up to the limit. */
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), c);
    g_signal_connect(msg, "finished", G_CALLBACK(on_message_over), c);
    g_signal_connect(msg, "disconnected", G_CALLBACK(on_message_over), c);
}

static gboolean quit_vmm(gpointer opaque)
{
    vmm_quit(opaque, VMM_EXIT_OK);
    return G_SOURCE_REMOVE;
}

static void on_reply_sent(SoupServerMessage *msg, gpointer opaque)
{
    ApiServer *s = opaque;
    evloop_invoke(vmm_loop(s->vmm), quit_vmm, s->vmm);
}

/* API thread: the control thread has answered. */
static gboolean call_done(gpointer opaque)
{
    ApiCall *c = opaque;
    ApiServer *s = c->server;
    bool live = !c->gone && !s->closing;
    if (live) {
        set_json(c->msg, c->reply.status, g_steal_pointer(&c->reply.body));
        if (c->reply.quit_after)
            g_signal_connect(c->msg, "finished", G_CALLBACK(on_reply_sent), s);
        soup_server_message_unpause(c->msg);
    } else if (c->reply.quit_after) {
        evloop_invoke(vmm_loop(s->vmm), quit_vmm, s->vmm);
    }
    g_clear_object(&c->msg);
    call_unref(c);
    return G_SOURCE_REMOVE;
}

static void call_finish(void *opaque)
{
    ApiCall *c = opaque;
    evloop_invoke(c->server->loop, call_done, c);
}

void api_reply_finish(ApiReply *reply)
{
    reply->finish(reply->finish_ctx);
}

/* Control thread. */
static gboolean call_run(gpointer opaque)
{
    ApiCall *c = opaque;
    g_autoptr(GBytes) body = g_bytes_new(c->body->data, c->body->len);
    c->reply.finish = call_finish;
    c->reply.finish_ctx = c;
    c->route->handler(c->server->vmm, body, &c->reply);
    if (!c->reply.deferred)
        call_finish(c);
    return G_SOURCE_REMOVE;
}

static void handler(SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
                    gpointer opaque)
{
    const ApiRoute *r = route_or_error(msg);
    ApiCall *c = g_object_get_data(G_OBJECT(msg), CALL_KEY);
    if (!r || !c)
        return;
    if (c->too_big) {
        set_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body too large");
        return;
    }
    c->route = r;
    c->msg = g_object_ref(msg);
    g_atomic_int_inc(&c->refs);
    soup_server_message_pause(msg);
    evloop_invoke(vmm_loop(c->server->vmm), call_run, c);
}

/* API thread: build the SoupServer on this thread's context. */
static void setup(void *opaque)
{
    ApiServer *s = opaque;
    s->soup = soup_server_new("server-header", "nimbus", NULL);
    soup_server_add_early_handler(s->soup, NULL, early_handler, s, NULL);
    soup_server_add_handler(s->soup, NULL, handler, s, NULL);
    if (!soup_server_listen_socket(s->soup, s->listener, 0, &s->setup_error))
        g_prefix_error(&s->setup_error, "cannot serve the API: ");
}

static void teardown(void *opaque)
{
    ApiServer *s = opaque;
    s->closing = true;
    if (s->soup) {
        soup_server_disconnect(s->soup);
        g_clear_object(&s->soup);
    }
}

void api_server_free(ApiServer *s)
{
    if (!s)
        return;
    if (s->loop) {
        evloop_run_sync(s->loop, teardown, s);
        evloop_stop_thread(s->loop);
        evloop_free(s->loop);
    }
    if (s->listener) {
        g_socket_close(s->listener, NULL);
        g_object_unref(s->listener);
    }
    if (s->path) {
        /* Only if the file is still the socket we created. */
        struct stat st;
        if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
            unlink(s->path);
        g_free(s->path);
    }
    g_clear_error(&s->setup_error);
    g_free(s);
}

static ApiServer *server_start(ApiServer *s, int fd, GError **errp)
{
    s->listener = g_socket_new_from_fd(fd, errp);
    if (!s->listener) {
        close(fd);
        api_server_free(s);
        return NULL;
    }
    s->loop = evloop_new("api");
    if (!evloop_start_thread(s->loop, THREAD_ROLE_API, errp)) {
        evloop_free(g_steal_pointer(&s->loop));
        api_server_free(s);
        return NULL;
    }
    evloop_run_sync(s->loop, setup, s);
    if (s->setup_error) {
        g_propagate_error(errp, g_steal_pointer(&s->setup_error));
        api_server_free(s);
        return NULL;
    }
    return s;
}

ApiServer *api_server_new_fd(Vmm *vmm, int fd, GError **errp)
{
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
        error_set_errno(errp, -errno, "API socket fd=%d", fd);
        return NULL;
    }
    if (!listening && listen(fd, API_LISTEN_BACKLOG) < 0) {
        error_set_errno(errp, -errno, "API socket fd=%d: listen", fd);
        return NULL;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    ApiServer *s = g_new0(ApiServer, 1);
    s->vmm = vmm;
    return server_start(s, fd, errp);
}

/* A socket file at path: error if live or not a socket, removed if stale. */
static bool clear_stale_socket(const char *path, GError **errp)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? true : (error_set_errno(errp, -errno, "API socket %s", path), false);
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "API socket %s: the file exists and is not a socket", path);
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_set_errno(errp, -errno, "socket");
        return false;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(fd);
    if (r == 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE,
                    "API socket %s is in use by a running process", path);
        return false;
    }
    if (e != ECONNREFUSED) {
        error_set_errno(errp, -e, "API socket %s", path);
        return false;
    }
    g_debug("removing stale API socket %s", path);
    if (unlink(path) < 0 && errno != ENOENT) {
        error_set_errno(errp, -errno, "cannot remove stale API socket %s", path);
        return false;
    }
    return true;
}

ApiServer *api_server_new_path(Vmm *vmm, const char *path, GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "API socket path '%s' is empty or longer than %zu bytes", path,
                    sizeof(sa.sun_path) - 1);
        return NULL;
    }
    if (!clear_stale_socket(path, errp))
        return NULL;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_set_errno(errp, -errno, "socket");
        return NULL;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, API_LISTEN_BACKLOG) < 0) {
        error_set_errno(errp, -errno, "API socket %s", path);
        close(fd);
        return NULL;
    }
    ApiServer *s = g_new0(ApiServer, 1);
    s->vmm = vmm;
    struct stat st;
    if (stat(path, &st) == 0) {
        s->path = g_strdup(path);
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    g_info("API socket: %s", path);
    return server_start(s, fd, errp);
}
