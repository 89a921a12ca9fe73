/* nimbus-remote: command-line client of the nimbus (cloud-hypervisor
 * compatible) REST API over its UNIX socket, in the style of ch-remote.
 *
 *   nimbus-remote --api-socket PATH COMMAND [ARG]
 *
 * Prints the reply body as indented JSON (ping, info, counters); exit status
 * 0 on success, 1 on any failure with the server's error message on stderr. */
#include "hypervisor/version.h"

#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct Command {
    const char *name;
    const char *method;
    const char *endpoint;
    bool takes_file; /* a JSON file argument ("-": stdin) */
    const char *help;
} Command;

static const Command commands[] = {
    { "ping", "GET", "vmm.ping", false, "show the VMM's version and pid" },
    { "shutdown-vmm", "PUT", "vmm.shutdown", false, "stop the VM and end the nimbus process" },
    { "create", "PUT", "vm.create", true, "create a VM from a VmConfig JSON file (- for stdin)" },
    { "boot", "PUT", "vm.boot", false, "boot the created VM" },
    { "shutdown", "PUT", "vm.shutdown", false, "stop the VM (it can be booted again)" },
    { "reboot", "PUT", "vm.reboot", false, "reset the VM" },
    { "power-button", "PUT", "vm.power-button", false, "press the guest's ACPI power button" },
    { "pause", "PUT", "vm.pause", false, "pause the VM's vCPUs" },
    { "resume", "PUT", "vm.resume", false, "resume a paused VM" },
    { "delete", "PUT", "vm.delete", false, "stop the VM and forget its configuration" },
    { "info", "GET", "vm.info", false, "show the VM's configuration and state" },
    { "counters", "GET", "vm.counters", false, "show the devices' I/O counters" },
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: nimbus-remote --api-socket PATH COMMAND [ARG]\n\nCommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-14s %s%s\n", commands[i].name, commands[i].takes_file ? "FILE: " : "",
                commands[i].help);
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

int main(int argc, char **argv)
{
    g_autofree char *socket_path = NULL;
    gboolean version = FALSE, help = FALSE;
    const GOptionEntry entries[] = {
        { "api-socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path, "The API socket of nimbus",
          "PATH" },
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
    int nargs = cmd->takes_file ? 1 : 0;
    if (argc - 2 != nargs)
        return die("%s takes %s", cmd->name, nargs ? "one argument: a JSON file" : "no argument");

    g_autofree char *data = NULL;
    gsize len = 0;
    if (cmd->takes_file && !read_input(argv[2], &data, &len, &err))
        return die("%s", err->message);

    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
    g_autoptr(SoupSession) session =
        soup_session_new_with_options("remote-connectable", addr, "timeout", 60, NULL);
    g_autofree char *url = g_strdup_printf("http://localhost/api/v1/%s", cmd->endpoint);
    g_autoptr(SoupMessage) msg = soup_message_new(cmd->method, url);
    if (cmd->takes_file) {
        g_autoptr(GBytes) body = g_bytes_new_take(g_steal_pointer(&data), len);
        soup_message_set_request_body_from_bytes(msg, "application/json", body);
    } else if (strcmp(cmd->method, "PUT") == 0) {
        soup_message_headers_set_content_length(soup_message_get_request_headers(msg), 0);
    }
    g_autoptr(GBytes) reply = soup_session_send_and_read(session, msg, NULL, &err);
    if (!reply)
        return die("cannot reach nimbus at %s: %s", socket_path, err->message);
    unsigned status = soup_message_get_status(msg);
    if (status < 200 || status >= 300) {
        g_autofree char *m = error_message(status, soup_message_get_reason_phrase(msg), reply);
        return die("%s: %s", cmd->name, m);
    }
    print_body(reply);
    return 0;
}
