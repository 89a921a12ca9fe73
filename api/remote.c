/* nimbus-remote: command-line client of the nimbus (cloud-hypervisor
 * compatible) REST API over its UNIX socket, in the style of ch-remote.
 *
 *   nimbus-remote --api-socket PATH COMMAND [ARG]
 *
 * Prints the reply body as indented JSON (ping, info, counters), one plain
 * line for snapshot and restore, a progress display and the final
 * statistics for the migrations (remote_migration.c); exit status
 * 0 on success, 1 on any failure with the server's error message on stderr. */
#include "api/remote_migration.h"
#include "hypervisor/version.h"

#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    ARG_NONE,
    ARG_FILE,     /* a JSON file ("-": stdin) sent as the body */
    ARG_SNAPSHOT, /* DESTINATION_URL (or destination_url=URL) */
    ARG_RESTORE,  /* SOURCE_URL or source_url=URL[,prefault=on][,resume=on] */
    ARG_SEND_MIGRATION,    /* unix:PATH | tcp:HOST:PORT */
    ARG_RECEIVE_MIGRATION, /* unix:PATH | tcp:HOST:PORT */
} ArgKind;

typedef struct Command {
    const char *name;
    const char *method;
    const char *endpoint;
    ArgKind arg;
    const char *help;
} Command;

static const Command commands[] = {
    { "ping", "GET", "vmm.ping", ARG_NONE, "show the VMM's version and pid" },
    { "shutdown-vmm", "PUT", "vmm.shutdown", ARG_NONE, "stop the VM and end the nimbus process" },
    { "create", "PUT", "vm.create", ARG_FILE, "create a VM from a VmConfig JSON file (- for stdin)" },
    { "boot", "PUT", "vm.boot", ARG_NONE, "boot the created VM" },
    { "shutdown", "PUT", "vm.shutdown", ARG_NONE, "stop the VM (it can be booted again)" },
    { "reboot", "PUT", "vm.reboot", ARG_NONE, "reset the VM" },
    { "power-button", "PUT", "vm.power-button", ARG_NONE, "press the guest's power button (ACPI on x86_64, a GPIO key on aarch64)" },
    { "pause", "PUT", "vm.pause", ARG_NONE, "pause the VM's vCPUs" },
    { "resume", "PUT", "vm.resume", ARG_NONE, "resume a paused VM" },
    { "delete", "PUT", "vm.delete", ARG_NONE, "stop the VM and forget its configuration" },
    { "info", "GET", "vm.info", ARG_NONE, "show the VM's configuration and state" },
    { "counters", "GET", "vm.counters", ARG_NONE, "show the devices' I/O counters" },
    { "snapshot", "PUT", "vm.snapshot", ARG_SNAPSHOT,
      "write the paused VM to file:///DIR (DIR absent or empty)" },
    { "restore", "PUT", "vm.restore", ARG_RESTORE,
      "restore a snapshot into this empty nimbus; the VM is left paused unless resume=on" },
    { "send-migration", "PUT", "vm.send-migration", ARG_SEND_MIGRATION,
      "live-migrate the running VM; waits until it is done" },
    { "receive-migration", "PUT", "vm.receive-migration", ARG_RECEIVE_MIGRATION,
      "receive a migrating VM into this empty nimbus; waits until it runs" },
    { "cancel-migration", "PUT", "vm.cancel-migration", ARG_NONE,
      "cancel the migration here (a source keeps its VM, a destination discards it)" },
    { "migration-progress", "GET", "vm.migration-progress", ARG_NONE,
      "show the progress of the current or last migration" },
};

static const char *const arg_names[] = {
    [ARG_NONE] = "",
    [ARG_FILE] = "FILE: ",
    [ARG_SNAPSHOT] = "DESTINATION_URL: ",
    [ARG_RESTORE] = "SOURCE_URL | source_url=URL[,prefault=on][,resume=on]: ",
    [ARG_SEND_MIGRATION] = "unix:PATH | tcp:HOST:PORT: ",
    [ARG_RECEIVE_MIGRATION] = "unix:PATH | tcp:HOST:PORT: ",
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: nimbus-remote --api-socket PATH COMMAND [ARG]\n\nCommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-19s %s%s\n", commands[i].name, arg_names[commands[i].arg], commands[i].help);
    fprintf(out, "\nsend-migration options: --local (pass the memory fds; memory shared=on, unix: only),\n"
                 "  --downtime-ms N (the downtime target); --no-progress (only the final statistics).\n");
    fprintf(out, "\nExit status: 0 on success, 1 on an error (the server's message on stderr).\n");
}

static int die(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nimbus-remote: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static bool read_input(const char *path, char **data, gsize *len, GError **errp)
{
    if (strcmp(path, "-") != 0)
        return g_file_get_contents(path, data, len, errp);
    GString *s = g_string_new(NULL);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        g_string_append_len(s, buf, (gssize)n);
    *len = s->len;
    *data = g_string_free(s, FALSE);
    return true;
}

/* The server's {"error": "..."} message, else the raw body, else the status. */
static char *error_message(unsigned status, const char *reason, GBytes *body)
{
    gsize len = 0;
    const char *data = body ? g_bytes_get_data(body, &len) : NULL;
    if (len) {
        g_autoptr(JsonParser) p = json_parser_new();
        if (json_parser_load_from_data(p, data, (gssize)len, NULL)) {
            JsonNode *root = json_parser_get_root(p);
            if (root && JSON_NODE_HOLDS_OBJECT(root)) {
                const char *m = json_object_get_string_member_with_default(
                    json_node_get_object(root), "error", NULL);
                if (m)
                    return g_strdup_printf("%s (HTTP %u)", m, status);
            }
        }
        return g_strdup_printf("%.*s (HTTP %u)", (int)MIN(len, 4096), data, status);
    }
    return g_strdup_printf("HTTP %u %s", status, reason ? reason : "");
}

static bool parse_on_off(const char *key, const char *v, bool *out, GError **errp)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0)
        *out = false;
    else {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s=%s: expected on or off", key, v);
        return false;
    }
    return true;
}

/* The vm.snapshot / vm.restore body from the command's argument: a bare URL,
 * or key=value pairs as cloud-hypervisor's ch-remote takes them. */
static char *url_body(ArgKind kind, const char *arg, GError **errp)
{
    const char *url_key = kind == ARG_SNAPSHOT ? "destination_url" : "source_url";
    const char *url = NULL;
    bool prefault = false, resume = false;
    g_auto(GStrv) parts = g_strsplit(arg, ",", -1);
    if (!strchr(arg, '=') || g_str_has_prefix(arg, "file:")) {
        url = arg;
    } else {
        for (char **p = parts; *p; p++) {
            char *eq = strchr(*p, '=');
            if (!eq) {
                g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "'%s' is not key=value", *p);
                return NULL;
            }
            *eq = '\0';
            const char *k = *p, *v = eq + 1;
            if (strcmp(k, url_key) == 0)
                url = v;
            else if (kind == ARG_RESTORE && strcmp(k, "prefault") == 0) {
                if (!parse_on_off(k, v, &prefault, errp))
                    return NULL;
            } else if (kind == ARG_RESTORE && strcmp(k, "resume") == 0) {
                if (!parse_on_off(k, v, &resume, errp))
                    return NULL;
            } else {
                g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unknown key '%s'", k);
                return NULL;
            }
        }
    }
    if (!url || !*url) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s is missing", url_key);
        return NULL;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, url_key);
    json_builder_add_string_value(b, url);
    if (kind == ARG_RESTORE) {
        json_builder_set_member_name(b, "prefault");
        json_builder_add_boolean_value(b, prefault);
        json_builder_set_member_name(b, "resume");
        json_builder_add_boolean_value(b, resume);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static void print_body(GBytes *body)
{
    gsize len = 0;
    const char *data = g_bytes_get_data(body, &len);
    if (!len)
        return;
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json_parser_load_from_data(p, data, (gssize)len, NULL)) {
        fwrite(data, 1, len, stdout);
        fputc('\n', stdout);
        return;
    }
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, json_parser_get_root(p));
    g_autofree char *text = json_generator_to_data(gen, NULL);
    puts(text);
}

static bool migration_arg(ArgKind k)
{
    return k == ARG_SEND_MIGRATION || k == ARG_RECEIVE_MIGRATION;
}

/* Plain lines from the stats of a finished migration. */
static void print_migration(bool sent, GBytes *body)
{
    gsize len = 0;
    const char *data = g_bytes_get_data(body, &len);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o = NULL;
    if (len && json_parser_load_from_data(p, data, (gssize)len, NULL) && json_parser_get_root(p) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        o = json_node_get_object(json_parser_get_root(p));
    printf("migration %s\n", sent ? "sent (the VM here is stopped)" : "received (the VM runs here)");
    if (!o)
        return;
    static const char *const keys[] = { "iterations", "bytes_sent", "pages_sent", "downtime_ms", "total_ms" };
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
        printf("%s: %" G_GINT64_FORMAT "\n", keys[i], json_object_get_int_member_with_default(o, keys[i], 0));
}

int main(int argc, char **argv)
{
    g_autofree char *socket_path = NULL;
    gboolean version = FALSE, help = FALSE, local = FALSE, no_progress = FALSE;
    gint downtime_ms = 0;
    const GOptionEntry entries[] = {
        { "api-socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path, "The API socket of nimbus",
          "PATH" },
        { "local", 0, 0, G_OPTION_ARG_NONE, &local, "send-migration: pass the memory fds", NULL },
        { "downtime-ms", 0, 0, G_OPTION_ARG_INT, &downtime_ms, "send-migration: the downtime target", "N" },
        { "no-progress", 0, 0, G_OPTION_ARG_NONE, &no_progress, "migrations: no progress display", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
        { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show the usage and exit", NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new("COMMAND [ARG]");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_help_enabled(ctx, FALSE);
    g_autoptr(GError) err = NULL;
    bool ok = g_option_context_parse(ctx, &argc, &argv, &err);
    g_option_context_free(ctx);
    if (!ok)
        return die("%s", err->message);
    if (version) {
        printf("nimbus-remote v%s\n", NIMBUS_VERSION);
        return 0;
    }
    if (help || (argc >= 2 && strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!socket_path)
        return die("--api-socket PATH is required");
    const Command *cmd = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            cmd = &commands[i];
    if (!cmd)
        return die("unknown command '%s' (see nimbus-remote --help)", argv[1]);
    int nargs = cmd->arg != ARG_NONE ? 1 : 0;
    if (argc - 2 != nargs)
        return die("%s takes %s", cmd->name,
                   cmd->arg == ARG_FILE ? "one argument: a JSON file"
                   : cmd->arg == ARG_NONE ? "no argument"
                   : migration_arg(cmd->arg) ? "one argument: unix:PATH or tcp:HOST:PORT"
                                             : "one argument: a file:///DIR URL");

    g_autofree char *data = NULL;
    gsize len = 0;
    if (cmd->arg == ARG_FILE && !read_input(argv[2], &data, &len, &err))
        return die("%s", err->message);
    if (cmd->arg == ARG_SNAPSHOT || cmd->arg == ARG_RESTORE) {
        data = url_body(cmd->arg, argv[2], &err);
        if (!data)
            return die("%s: %s", cmd->name, err->message);
        len = strlen(data);
    }
    bool migration = migration_arg(cmd->arg);
    if ((local || downtime_ms) && cmd->arg != ARG_SEND_MIGRATION)
        return die("--local and --downtime-ms are options of send-migration");
    if (downtime_ms < 0)
        return die("--downtime-ms must be positive");
    bool resumes = data && cmd->arg == ARG_RESTORE && strstr(data, "\"resume\":true");

    g_autoptr(GBytes) reply = NULL;
    unsigned status = 0;
    const char *reason = NULL;
    g_autoptr(SoupMessage) msg = NULL;
    if (migration) {
        RemoteMigration m = { .outgoing = cmd->arg == ARG_SEND_MIGRATION, .url = argv[2], .local = local,
                              .downtime_ms = (unsigned)downtime_ms, .progress = !no_progress };
        if (!remote_migration_run(socket_path, &m, &status, &reply, &err))
            return die("cannot reach nimbus at %s: %s", socket_path, err->message);
    } else {
        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
        g_autoptr(SoupSession) session =
            soup_session_new_with_options("remote-connectable", addr, "timeout", 60, NULL);
        g_autofree char *url = g_strdup_printf("http://localhost/api/v1/%s", cmd->endpoint);
        msg = soup_message_new(cmd->method, url);
        remote_one_shot(msg);
        if (cmd->arg != ARG_NONE) {
            g_autoptr(GBytes) body = g_bytes_new_take(g_steal_pointer(&data), len);
            soup_message_set_request_body_from_bytes(msg, "application/json", body);
        } else if (strcmp(cmd->method, "PUT") == 0) {
            soup_message_headers_set_content_length(soup_message_get_request_headers(msg), 0);
        }
        reply = soup_session_send_and_read(session, msg, NULL, &err);
        if (!reply)
            return die("cannot reach nimbus at %s: %s", socket_path, err->message);
        status = soup_message_get_status(msg);
        reason = soup_message_get_reason_phrase(msg);
    }
    if (status < 200 || status >= 300) {
        g_autofree char *m = error_message(status, reason, reply);
        return die("%s: %s", cmd->name, m);
    }
    if (cmd->arg == ARG_SNAPSHOT)
        printf("snapshot written\n");
    else if (cmd->arg == ARG_RESTORE)
        printf("VM restored (%s)\n", resumes ? "running" : "paused");
    else if (migration)
        print_migration(cmd->arg == ARG_SEND_MIGRATION, reply);
    else if (strcmp(cmd->endpoint, "vm.cancel-migration") == 0)
        printf("cancel accepted: the migration stops (a source keeps running the VM)\n");
    else
        print_body(reply);
    return 0;
}
