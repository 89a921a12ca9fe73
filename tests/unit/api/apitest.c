#include "apitest.h"

#include "api/vm_snapshot.h"
#include "migration/stream.h"
#include "support/fake_accel.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int apitest_power_button_presses;

static bool fake_check(const VmConfig *cfg, GError **errp)
{
    return true;
}

static uint32_t fake_max_vcpus(Accel *accel)
{
    return 64;
}

static bool fake_build(Vm *vm, GError **errp)
{
    if (vm_config(vm)->serial.mode == CONSOLE_MODE_PTY)
        vm_set_console_pty(vm, "serial0", "/dev/pts/fake");
    /* A little RAM (whatever the config says) for snapshots. */
    const MemoryBacking b = { 0 };
    return memory_add_ram(vm_memory(vm), "ram", 0, APITEST_RAM_SIZE, &b, errp) != NULL;
}

/* The machine's "state": one counter, saved and loaded as a section. */
uint64_t apitest_machine_counter;

typedef struct FakeState {
    uint64_t counter;
} FakeState;

static const StateField fake_state_fields[] = {
    STATE_U64(FakeState, counter, 1),
    STATE_END,
};
static const StateDesc fake_state_desc = {
    .name = "apitest-machine", .version = 1, .min_version = 1, .size = sizeof(FakeState),
    .fields = fake_state_fields,
};

static bool fake_save_state(Vm *vm, GByteArray *stream, GError **errp)
{
    FakeState st = { .counter = apitest_machine_counter };
    state_stream_add(stream, "apitest-machine", &fake_state_desc, &st);
    return true;
}

static bool fake_lookup(void *opaque, const char *id, const StateDesc **desc, void **obj)
{
    *desc = &fake_state_desc;
    *obj = opaque;
    return strcmp(id, "apitest-machine") == 0;
}

static bool fake_load_state(Vm *vm, const uint8_t *buf, size_t len, GError **errp)
{
    FakeState st = { 0 };
    if (!state_stream_load(buf, len, fake_lookup, &st, errp))
        return false;
    apitest_machine_counter = st.counter;
    return true;
}

static bool fake_power_button(Vm *vm)
{
    apitest_power_button_presses++;
    return true;
}

static const MachineOps fake_machine = {
    .check_config = fake_check,
    .max_vcpus = fake_max_vcpus,
    .build = fake_build,
    .power_button = fake_power_button,
    .save_state = fake_save_state,
    .load_state = fake_load_state,
};

static gpointer control_thread(gpointer opaque)
{
    ApiTest *t = opaque;
    t->exit_status = vmm_run(t->vmm);
    g_atomic_int_set(&t->done, 1);
    return NULL;
}

ApiTest *apitest_start(void)
{
    ApiTest *t = g_new0(ApiTest, 1);
    t->dir = g_dir_make_tmp("nimbus-api-XXXXXX", NULL);
    g_assert(t->dir);
    t->sock = g_build_filename(t->dir, "api.sock", NULL);
    t->kernel = g_build_filename(t->dir, "vmlinux", NULL);
    g_assert(g_file_set_contents(t->kernel, "not a kernel", -1, NULL));
    t->vmm = vmm_new(&fake_machine);
    vmm_set_accel(t->vmm, fake_accel_new());
    vmm_set_snapshot_ops(t->vmm, &api_snapshot_ops);
    g_autoptr(GError) err = NULL;
    t->server = api_server_new_path(t->vmm, t->sock, &err);
    if (!t->server)
        g_error("api_server_new_path: %s", err->message);
    t->control = g_thread_new("control", control_thread, t);
    return t;
}

bool apitest_wait_exit(ApiTest *t, unsigned timeout_ms)
{
    for (unsigned waited = 0; waited < timeout_ms; waited += 10) {
        if (g_atomic_int_get(&t->done))
            return true;
        g_usleep(10000);
    }
    return false;
}

void apitest_stop(ApiTest *t)
{
    vmm_quit(t->vmm, 0);
    if (t->control)
        g_thread_join(t->control);
    api_server_free(t->server);
    vmm_free(t->vmm);
    unlink(t->kernel);
    unlink(t->sock);
    rmdir(t->dir);
    g_free(t->kernel);
    g_free(t->sock);
    g_free(t->dir);
    g_free(t);
}

void http_reply_clear(HttpReply *r)
{
    g_free(r->headers);
    g_free(r->body);
    memset(r, 0, sizeof(*r));
}

int http_connect(const char *sock)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

bool http_send(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Read more into buf; false on EOF, error or timeout. */
static bool read_more(int fd, GString *buf, unsigned timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, (int)timeout_ms) <= 0)
        return false;
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0)
        return false;
    g_string_append_len(buf, tmp, n);
    return true;
}

/* Bytes read past one response stay here for the next (keep-alive). */
static GHashTable *leftovers;

bool http_read_reply(int fd, HttpReply *r, unsigned timeout_ms)
{
    http_reply_clear(r);
    if (!leftovers)
        leftovers = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, NULL);
    GString *buf = g_string_new(NULL);
    GString *left = g_hash_table_lookup(leftovers, GINT_TO_POINTER(fd));
    if (left) {
        g_string_append_len(buf, left->str, left->len);
        g_string_free(left, TRUE);
        g_hash_table_remove(leftovers, GINT_TO_POINTER(fd));
    }
    bool ok = false;
    for (;;) {
        char *end = strstr(buf->str, "\r\n\r\n");
        if (!end) {
            if (!read_more(fd, buf, timeout_ms))
                goto out;
            continue;
        }
        size_t hlen = (size_t)(end - buf->str) + 4;
        int status = 0;
        if (sscanf(buf->str, "HTTP/1.%*d %d", &status) != 1)
            goto out;
        if (status == 100) {
            r->got_continue = true;
            g_string_erase(buf, 0, (gssize)hlen);
            continue;
        }
        r->status = status;
        r->headers = g_strndup(buf->str, hlen);
        size_t clen = 0;
        char *cl = strcasestr(r->headers, "\r\nContent-Length:");
        if (cl)
            clen = strtoul(cl + 17, NULL, 10);
        while (buf->len < hlen + clen)
            if (!read_more(fd, buf, timeout_ms))
                goto out;
        r->body = g_strndup(buf->str + hlen, clen);
        g_string_erase(buf, 0, (gssize)(hlen + clen));
        ok = true;
        break;
    }
out:
    if (ok && buf->len)
        g_hash_table_insert(leftovers, GINT_TO_POINTER(fd), buf);
    else
        g_string_free(buf, TRUE);
    return ok;
}

int http_do(const char *sock, const char *method, const char *path, const char *body,
            HttpReply *r)
{
    int fd = http_connect(sock);
    if (fd < 0)
        return -1;
    g_autofree char *req = g_strdup_printf(
        "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: %zu\r\n\r\n%s",
        method, path, body ? strlen(body) : 0, body ? body : "");
    bool ok = http_send(fd, req, strlen(req)) && http_read_reply(fd, r, 5000);
    close(fd);
    return ok ? r->status : -1;
}

char *json_get(const char *json, const char *path)
{
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json || !json_parser_load_from_data(p, json, -1, NULL))
        return NULL;
    JsonNode *n = json_parser_get_root(p);
    g_auto(GStrv) parts = g_strsplit(path, ".", -1);
    for (char **part = parts; *part; part++) {
        if (!n || !JSON_NODE_HOLDS_OBJECT(n))
            return NULL;
        n = json_object_get_member(json_node_get_object(n), *part);
    }
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return NULL;
    if (json_node_get_value_type(n) == G_TYPE_STRING)
        return g_strdup(json_node_get_string(n));
    if (json_node_get_value_type(n) == G_TYPE_INT64)
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    if (json_node_get_value_type(n) == G_TYPE_BOOLEAN)
        return g_strdup(json_node_get_boolean(n) ? "true" : "false");
    return NULL;
}
