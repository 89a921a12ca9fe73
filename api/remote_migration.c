/* nimbus-remote send-migration / receive-migration (see remote_migration.h).
 *
 * The PUT stays open until the migration is over, so the progress comes
 * from a second connection polling vm.migration-progress. Both run on one
 * GMainContext of our own; the answer to the PUT ends the loop. */
#include "api/remote_migration.h"

#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define POLL_TTY_MS 250
#define POLL_PLAIN_MS 1000

typedef struct Watch {
    const RemoteMigration *m;
    GMainLoop *loop;
    SoupSession *poller;
    char *progress_url;
    bool polling; /* a GET is in flight */
    bool done;
    bool tty;
    bool shown;   /* a tty line is on screen */
    char *last;   /* plain: what was printed last (without the time) */
    gint64 last_at;
    unsigned status;
    GBytes *reply;
    GError *err;
} Watch;

static char *human_bytes(uint64_t v)
{
    return g_format_size_full(v, G_FORMAT_SIZE_IEC_UNITS);
}

static gint64 member(JsonObject *o, const char *name)
{
    return json_object_get_int_member_with_default(o, name, 0);
}

/* One line from a vm.migration-progress reply. */
static char *progress_line(JsonObject *o)
{
    const char *phase = json_object_get_string_member_with_default(o, "phase", "?");
    g_autofree char *sent = human_bytes((uint64_t)member(o, "bytes_sent"));
    g_autofree char *ram = human_bytes((uint64_t)member(o, "ram_bytes"));
    g_autofree char *rate = human_bytes((uint64_t)member(o, "transfer_bytes_per_s"));
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%s %.1fs: ", phase, (double)member(o, "elapsed_ms") / 1000);
    bool outgoing = json_object_get_string_member_with_default(o, "direction", "")[0] == 'o';
    if (strcmp(phase, "setup") == 0 && !member(o, "ram_bytes")) {
        g_string_append(s, outgoing ? "connecting, Start and Config" : "waiting for the source, Start and Config");
        return g_string_free(s, FALSE);
    }
    g_string_append_printf(s, "%s of %s RAM, %s/s", sent, ram, rate);
    if (outgoing &&
        strcmp(phase, "setup") != 0) {
        g_autofree char *dirty = human_bytes((uint64_t)member(o, "dirty_bytes_per_s"));
        g_autofree char *left = human_bytes((uint64_t)member(o, "remaining_bytes"));
        g_string_append_printf(s, ", round %" G_GINT64_FORMAT ", dirty %s/s, %s left, est. downtime %" G_GINT64_FORMAT
                               " ms", member(o, "iteration"), dirty, left, member(o, "estimated_downtime_ms"));
    }
    return g_string_free(s, FALSE);
}

/* Plain lines: one when something moved, else one every PLAIN_QUIET_US. */
#define PLAIN_QUIET_US (5 * G_USEC_PER_SEC)

static void show(Watch *w, JsonObject *o, const char *line)
{
    if (!w->tty) {
        g_autofree char *key = g_strdup_printf("%s %" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                                               json_object_get_string_member_with_default(o, "phase", ""),
                                               member(o, "iteration"), member(o, "bytes_sent"));
        gint64 now = g_get_monotonic_time();
        if (w->last && !strcmp(key, w->last) && now - w->last_at < PLAIN_QUIET_US)
            return;
        g_free(w->last);
        w->last = g_steal_pointer(&key);
        w->last_at = now;
    }
    if (w->tty) {
        printf("\r%s\033[K", line);
        w->shown = true;
    } else {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *ts = g_date_time_format(now, "%H:%M:%S");
        printf("[%s.%03d] migration %s\n", ts, g_date_time_get_microsecond(now) / 1000, line);
    }
    fflush(stdout);
}

void remote_one_shot(SoupMessage *msg)
{
    /* One request per connection, closed by nimbus after its answer:
     * libsoup 3.2's server never notices a client closing an idle
     * keep-alive connection (fixed in 3.3), so each connection we left
     * open would stay in nimbus as an open fd until it runs out of them
     * and stops answering. */
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Connection", "close");
}

static void on_progress(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Watch *w = opaque;
    w->polling = false;
    g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, NULL);
    if (!body || w->done)
        return;
    gsize len;
    const char *data = g_bytes_get_data(body, &len);
    g_autoptr(JsonParser) p = json_parser_new();
    if (!len || !json_parser_load_from_data(p, data, (gssize)len, NULL) || !json_parser_get_root(p) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        return; /* 405 until the migration has started */
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    const char *phase = json_object_get_string_member_with_default(o, "phase", "");
    /* An ended one is the previous migration (ours answers the PUT). */
    if (!strcmp(phase, "completed") || !strcmp(phase, "failed") || !strcmp(phase, "cancelled"))
        return;
    g_autofree char *line = progress_line(o);
    show(w, o, line);
}

static gboolean poll_tick(gpointer opaque)
{
    Watch *w = opaque;
    if (w->done)
        return G_SOURCE_REMOVE;
    if (!w->polling) {
        w->polling = true;
        g_autoptr(SoupMessage) msg = soup_message_new("GET", w->progress_url);
        remote_one_shot(msg);
        soup_session_send_and_read_async(w->poller, msg, G_PRIORITY_DEFAULT, NULL, on_progress, w);
    }
    return G_SOURCE_CONTINUE;
}

static void on_answer(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Watch *w = opaque;
    w->reply = soup_session_send_and_read_finish(SOUP_SESSION(src), res, &w->err);
    w->done = true;
    g_main_loop_quit(w->loop);
}

static char *request_body(const RemoteMigration *m, gsize *len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, m->outgoing ? "destination_url" : "receiver_url");
    json_builder_add_string_value(b, m->url);
    if (m->outgoing && m->local) {
        json_builder_set_member_name(b, "local");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (m->outgoing && m->downtime_ms) {
        json_builder_set_member_name(b, "downtime_ms");
        json_builder_add_int_value(b, m->downtime_ms);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, len);
}

bool remote_migration_run(const char *socket_path, const RemoteMigration *m, unsigned *status, GBytes **reply,
                          GError **errp)
{
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
    SoupSession *session = soup_session_new_with_options("remote-connectable", addr, "timeout", 0, NULL);
    Watch w = { .m = m, .loop = g_main_loop_new(ctx, FALSE), .tty = isatty(STDOUT_FILENO) };
    w.poller = soup_session_new_with_options("remote-connectable", addr, "timeout", 10, NULL);
    w.progress_url = g_strdup("http://localhost/api/v1/vm.migration-progress");

    g_autofree char *url = g_strdup_printf("http://localhost/api/v1/%s",
                                           m->outgoing ? "vm.send-migration" : "vm.receive-migration");
    g_autoptr(SoupMessage) msg = soup_message_new("PUT", url);
    remote_one_shot(msg);
    gsize len;
    char *data = request_body(m, &len);
    g_autoptr(GBytes) body = g_bytes_new_take(data, len);
    soup_message_set_request_body_from_bytes(msg, "application/json", body);
    soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, NULL, on_answer, &w);
    GSource *timer = NULL;
    if (m->progress) {
        timer = g_timeout_source_new(w.tty ? POLL_TTY_MS : POLL_PLAIN_MS);
        g_source_set_callback(timer, poll_tick, &w, NULL);
        g_source_attach(timer, ctx);
    }
    g_main_loop_run(w.loop);
    if (timer) {
        g_source_destroy(timer);
        g_source_unref(timer);
    }
    /* Let a GET still in flight finish against a live Watch. */
    while (w.polling)
        g_main_context_iteration(ctx, TRUE);
    if (w.shown)
        printf("\n");
    fflush(stdout);
    bool ok = w.reply != NULL;
    if (ok) {
        *status = soup_message_get_status(msg);
        *reply = w.reply;
    } else {
        g_propagate_error(errp, w.err);
    }
    g_object_unref(w.poller);
    g_object_unref(session);
    g_free(w.progress_url);
    g_free(w.last);
    g_main_loop_unref(w.loop);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    return ok;
}
