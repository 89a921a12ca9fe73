/* VmConfig from and to cloud-hypervisor's VmConfig JSON. Every object is read
 * the same way: first its member names are checked against the fields we
 * know, then each field is fetched with a typed getter that names the field
 * on a type error. JSON null counts as absent. */
#include "api/vm_config_json.h"

#include "hypervisor/error.h"

#include <string.h>

/* Disk and net queue size when the body gives none (the command line's). */
#define JSON_QUEUE_SIZE_DEFAULT 256

static bool field_error(GError **errp, const char *where, const char *name, const char *what)
{
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "field '%s%s': %s", where, name, what);
    return false;
}

static bool check_known(JsonObject *o, const char *where, const char *const *known, GError **errp)
{
    g_autoptr(GList) names = json_object_get_members(o);
    for (GList *l = names; l; l = l->next) {
        if (!g_strv_contains(known, l->data)) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "unknown field '%s%s'", where,
                        (const char *)l->data);
            return false;
        }
    }
    return true;
}

/* The member, or NULL when absent or null. */
static JsonNode *member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

static bool get_str(JsonObject *o, const char *where, const char *name, char **out, GError **errp)
{
    JsonNode *n = member(o, name);
    if (!n)
        return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return field_error(errp, where, name, "expected a string");
    g_free(*out);
    *out = g_strdup(json_node_get_string(n));
    return true;
}

static bool get_bool(JsonObject *o, const char *where, const char *name, bool *out, GError **errp)
{
    JsonNode *n = member(o, name);
    if (!n)
        return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return field_error(errp, where, name, "expected true or false");
    *out = json_node_get_boolean(n);
    return true;
}

static bool get_u64(JsonObject *o, const char *where, const char *name, uint64_t *out, GError **errp)
{
    JsonNode *n = member(o, name);
    if (!n)
        return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0)
        return field_error(errp, where, name, "expected a non-negative integer");
    *out = (uint64_t)json_node_get_int(n);
    return true;
}

static bool get_u32(JsonObject *o, const char *where, const char *name, uint32_t *out, GError **errp)
{
    uint64_t v = *out;
    if (!get_u64(o, where, name, &v, errp))
        return false;
    if (v > UINT32_MAX)
        return field_error(errp, where, name, "out of range");
    *out = (uint32_t)v;
    return true;
}

/* *out = the member object, NULL when absent. */
static bool get_obj(JsonObject *o, const char *where, const char *name, JsonObject **out,
                    GError **errp)
{
    JsonNode *n = member(o, name);
    *out = NULL;
    if (!n)
        return true;
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return field_error(errp, where, name, "expected an object");
    *out = json_node_get_object(n);
    return true;
}

static bool get_array(JsonObject *o, const char *where, const char *name, JsonArray **out,
                      GError **errp)
{
    JsonNode *n = member(o, name);
    *out = NULL;
    if (!n)
        return true;
    if (!JSON_NODE_HOLDS_ARRAY(n))
        return field_error(errp, where, name, "expected an array");
    *out = json_node_get_array(n);
    return true;
}

static bool require(JsonObject *o, const char *where, const char *name, GError **errp)
{
    return member(o, name) ? true : field_error(errp, where, name, "is required");
}

static bool parse_payload(JsonObject *o, PayloadConfig *p, GError **errp)
{
    static const char *const known[] = { "kernel", "cmdline", "initramfs", NULL };
    return check_known(o, "payload.", known, errp) &&
           get_str(o, "payload.", "kernel", &p->kernel, errp) &&
           get_str(o, "payload.", "cmdline", &p->cmdline, errp) &&
           get_str(o, "payload.", "initramfs", &p->initramfs, errp);
}

/* The pre-payload form: "kernel": {"path": ...}, "cmdline": {"args": ...}. */
static bool parse_legacy_payload(JsonObject *top, const char *name, const char *key, char **out,
                                 GError **errp)
{
    JsonNode *n = member(top, name);
    if (!n)
        return true;
    if (*out) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "field '%s': given both at top level and in payload", name);
        return false;
    }
    if (JSON_NODE_HOLDS_VALUE(n))
        return get_str(top, "", name, out, errp);
    JsonObject *o;
    const char *const known[] = { key, NULL };
    g_autofree char *where = g_strdup_printf("%s.", name);
    if (!get_obj(top, "", name, &o, errp) || !check_known(o, where, known, errp) ||
        !require(o, where, key, errp))
        return false;
    return get_str(o, where, key, out, errp);
}

static bool parse_cpus(JsonObject *o, CpusConfig *c, GError **errp)
{
    static const char *const known[] = { "boot_vcpus", "max_vcpus", NULL };
    if (!check_known(o, "cpus.", known, errp) || !require(o, "cpus.", "boot_vcpus", errp) ||
        !get_u32(o, "cpus.", "boot_vcpus", &c->boot_vcpus, errp))
        return false;
    c->max_vcpus = c->boot_vcpus;
    if (!get_u32(o, "cpus.", "max_vcpus", &c->max_vcpus, errp))
        return false;
    if (c->boot_vcpus == 0)
        return field_error(errp, "cpus.", "boot_vcpus", "must be at least 1");
    if (c->max_vcpus < c->boot_vcpus)
        return field_error(errp, "cpus.", "max_vcpus", "is less than boot_vcpus");
    return true;
}

static bool parse_memory(JsonObject *o, MemoryConfig *m, GError **errp)
{
    static const char *const known[] = { "size", "shared", "hugepages", "hugepage_size", NULL };
    if (!check_known(o, "memory.", known, errp) || !require(o, "memory.", "size", errp) ||
        !get_u64(o, "memory.", "size", &m->size, errp) ||
        !get_bool(o, "memory.", "shared", &m->shared, errp) ||
        !get_bool(o, "memory.", "hugepages", &m->hugepages, errp) ||
        !get_u64(o, "memory.", "hugepage_size", &m->hugepage_size, errp))
        return false;
    if (m->hugepage_size && !m->hugepages)
        return field_error(errp, "memory.", "hugepage_size", "needs hugepages");
    if (m->hugepage_size & (m->hugepage_size - 1))
        return field_error(errp, "memory.", "hugepage_size", "is not a power of two");
    return true;
}

static const char *const console_modes[] = {
    [CONSOLE_MODE_OFF] = "Off",       [CONSOLE_MODE_NULL] = "Null", [CONSOLE_MODE_TTY] = "Tty",
    [CONSOLE_MODE_FILE] = "File",     [CONSOLE_MODE_SOCKET] = "Socket",
    [CONSOLE_MODE_PTY] = "Pty",
};

static bool parse_console(JsonObject *o, const char *name, ConsoleConfig *c, GError **errp)
{
    static const char *const known[] = { "mode", "file", "socket", NULL };
    g_autofree char *where = g_strdup_printf("%s.", name);
    g_autofree char *mode = NULL, *file = NULL, *socket = NULL;
    if (!check_known(o, where, known, errp) || !require(o, where, "mode", errp) ||
        !get_str(o, where, "mode", &mode, errp) || !get_str(o, where, "file", &file, errp) ||
        !get_str(o, where, "socket", &socket, errp))
        return false;
    int found = -1;
    for (size_t i = 0; i < G_N_ELEMENTS(console_modes); i++)
        if (strcmp(mode, console_modes[i]) == 0)
            found = (int)i;
    if (found < 0)
        return field_error(errp, where, "mode", "expected Off, Pty, Tty, File, Socket or Null");
    g_free(c->path);
    c->path = NULL;
    c->mode = (ConsoleMode)found;
    if (c->mode == CONSOLE_MODE_FILE) {
        if (!file)
            return field_error(errp, where, "file", "is required with mode File");
        c->path = g_steal_pointer(&file);
    } else if (c->mode == CONSOLE_MODE_SOCKET) {
        if (!socket)
            return field_error(errp, where, "socket", "is required with mode Socket");
        c->path = g_steal_pointer(&socket);
    }
    return true;
}

static bool parse_disk(JsonObject *o, const char *where, DiskConfig *d, GError **errp)
{
    static const char *const known[] = { "path", "readonly", "direct", "num_queues",
                                         "queue_size", "id", "serial", NULL };
    if (!check_known(o, where, known, errp) || !require(o, where, "path", errp) ||
        !get_str(o, where, "path", &d->path, errp) ||
        !get_bool(o, where, "readonly", &d->readonly, errp) ||
        !get_bool(o, where, "direct", &d->direct, errp) ||
        !get_u32(o, where, "num_queues", &d->num_queues, errp) ||
        !get_u32(o, where, "queue_size", &d->queue_size, errp) ||
        !get_str(o, where, "id", &d->id, errp) || !get_str(o, where, "serial", &d->serial, errp))
        return false;
    if (!vm_config_check_disk(d, errp)) {
        g_prefix_error(errp, "%s ", where);
        return false;
    }
    return true;
}

static bool parse_net(JsonObject *o, const char *where, NetConfig *n, GError **errp)
{
    static const char *const known[] = { "tap", "ip", "mask", "mac", "num_queues",
                                         "queue_size", "id", NULL };
    g_autofree char *mac = NULL;
    if (!check_known(o, where, known, errp) || !get_str(o, where, "tap", &n->tap, errp) ||
        !get_str(o, where, "ip", &n->ip, errp) || !get_str(o, where, "mask", &n->mask, errp) ||
        !get_str(o, where, "mac", &mac, errp) ||
        !get_u32(o, where, "num_queues", &n->num_queues, errp) ||
        !get_u32(o, where, "queue_size", &n->queue_size, errp) ||
        !get_str(o, where, "id", &n->id, errp))
        return false;
    if (mac) {
        if (!vm_config_parse_mac(mac, n->mac, NULL))
            return field_error(errp, where, "mac", "expected a unicast MAC xx:xx:xx:xx:xx:xx");
        n->mac_set = true;
    }
    if (!vm_config_check_net(n, errp)) {
        g_prefix_error(errp, "%s ", where);
        return false;
    }
    return true;
}

static bool parse_disks(JsonArray *a, GPtrArray *out, GError **errp)
{
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *where = g_strdup_printf("disks[%u].", i);
        JsonNode *n = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_OBJECT(n))
            return field_error(errp, "disks", "", "expected an array of objects");
        DiskConfig *d = g_new0(DiskConfig, 1);
        d->num_queues = 1;
        d->queue_size = JSON_QUEUE_SIZE_DEFAULT;
        g_ptr_array_add(out, d);
        if (!parse_disk(json_node_get_object(n), where, d, errp))
            return false;
    }
    return true;
}

static bool parse_nets(JsonArray *a, GPtrArray *out, GError **errp)
{
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *where = g_strdup_printf("net[%u].", i);
        JsonNode *n = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_OBJECT(n))
            return field_error(errp, "net", "", "expected an array of objects");
        NetConfig *c = g_new0(NetConfig, 1);
        c->num_queues = 2;
        c->queue_size = JSON_QUEUE_SIZE_DEFAULT;
        g_ptr_array_add(out, c);
        if (!parse_net(json_node_get_object(n), where, c, errp))
            return false;
    }
    return true;
}

static bool parse_rng(JsonObject *o, VmConfig *cfg, GError **errp)
{
    static const char *const known[] = { "src", NULL };
    cfg->rng = g_new0(RngConfig, 1);
    if (!check_known(o, "rng.", known, errp) || !get_str(o, "rng.", "src", &cfg->rng->src, errp))
        return false;
    if (!cfg->rng->src)
        cfg->rng->src = g_strdup("/dev/urandom");
    return true;
}

static bool parse_vsock(JsonObject *o, VmConfig *cfg, GError **errp)
{
    static const char *const known[] = { "cid", "socket", "id", NULL };
    VsockConfig *v = cfg->vsock = g_new0(VsockConfig, 1);
    if (!check_known(o, "vsock.", known, errp) || !require(o, "vsock.", "cid", errp) ||
        !require(o, "vsock.", "socket", errp) || !get_u64(o, "vsock.", "cid", &v->cid, errp) ||
        !get_str(o, "vsock.", "socket", &v->socket, errp) ||
        !get_str(o, "vsock.", "id", &v->id, errp))
        return false;
    if (v->cid < 3 || v->cid > UINT32_MAX - 1)
        return field_error(errp, "vsock.", "cid", "must be between 3 and 4294967294");
    return true;
}

static bool parse_balloon(JsonObject *o, VmConfig *cfg, GError **errp)
{
    static const char *const known[] = { "size", "deflate_on_oom", "free_page_reporting", NULL };
    BalloonConfig *b = cfg->balloon = g_new0(BalloonConfig, 1);
    return check_known(o, "balloon.", known, errp) && require(o, "balloon.", "size", errp) &&
           get_u64(o, "balloon.", "size", &b->size, errp) &&
           get_bool(o, "balloon.", "deflate_on_oom", &b->deflate_on_oom, errp) &&
           get_bool(o, "balloon.", "free_page_reporting", &b->free_page_reporting, errp);
}

static bool parse_top(JsonObject *top, VmConfig *cfg, GError **errp)
{
    static const char *const known[] = { "payload", "kernel", "cmdline", "initramfs", "cpus",
                                         "memory",  "serial", "console", "disks",     "net",
                                         "rng",     "vsock",  "balloon", NULL };
    JsonObject *o;
    JsonArray *a;
    if (!check_known(top, "", known, errp))
        return false;
    if (!get_obj(top, "", "payload", &o, errp) || (o && !parse_payload(o, &cfg->payload, errp)))
        return false;
    if (!parse_legacy_payload(top, "kernel", "path", &cfg->payload.kernel, errp) ||
        !parse_legacy_payload(top, "cmdline", "args", &cfg->payload.cmdline, errp) ||
        !parse_legacy_payload(top, "initramfs", "path", &cfg->payload.initramfs, errp))
        return false;
    if (!cfg->payload.kernel)
        return field_error(errp, "", "payload.kernel", "is required");
    if (!get_obj(top, "", "cpus", &o, errp) || (o && !parse_cpus(o, &cfg->cpus, errp)))
        return false;
    if (!get_obj(top, "", "memory", &o, errp) || (o && !parse_memory(o, &cfg->memory, errp)))
        return false;
    if (!get_obj(top, "", "serial", &o, errp) || (o && !parse_console(o, "serial", &cfg->serial, errp)))
        return false;
    if (!get_obj(top, "", "console", &o, errp) ||
        (o && !parse_console(o, "console", &cfg->console, errp)))
        return false;
    if (!get_array(top, "", "disks", &a, errp) || !parse_disks(a, cfg->disks, errp))
        return false;
    if (!get_array(top, "", "net", &a, errp) || !parse_nets(a, cfg->nets, errp))
        return false;
    if (!get_obj(top, "", "rng", &o, errp) || (o && !parse_rng(o, cfg, errp)))
        return false;
    if (!get_obj(top, "", "vsock", &o, errp) || (o && !parse_vsock(o, cfg, errp)))
        return false;
    if (!get_obj(top, "", "balloon", &o, errp) || (o && !parse_balloon(o, cfg, errp)))
        return false;
    return true;
}

VmConfig *vm_config_from_json(const char *data, size_t len, GError **errp)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) perr = NULL;
    if (!json_parser_load_from_data(parser, data, (gssize)len, &perr)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "invalid JSON: %s", perr->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "invalid JSON: empty document");
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "the VM config must be a JSON object");
        return NULL;
    }
    g_autoptr(VmConfig) cfg = vm_config_new_default();
    cfg->serial.mode = CONSOLE_MODE_NULL;
    cfg->console.mode = CONSOLE_MODE_OFF;
    cfg->reboot_policy = REBOOT_POLICY_RESTART;
    if (!parse_top(json_node_get_object(root), cfg, errp))
        return NULL;
    return g_steal_pointer(&cfg);
}

static void add_str(JsonBuilder *b, const char *name, const char *value)
{
    if (value) {
        json_builder_set_member_name(b, name);
        json_builder_add_string_value(b, value);
    }
}

static void add_int(JsonBuilder *b, const char *name, uint64_t value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)value);
}

static void add_bool(JsonBuilder *b, const char *name, bool value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, value);
}

static void add_console(JsonBuilder *b, const char *name, const ConsoleConfig *c, const char *pty)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    add_str(b, "mode", console_modes[c->mode]);
    if (c->mode == CONSOLE_MODE_FILE)
        add_str(b, "file", c->path);
    else if (c->mode == CONSOLE_MODE_SOCKET)
        add_str(b, "socket", c->path);
    else if (c->mode == CONSOLE_MODE_PTY)
        add_str(b, "file", pty);
    json_builder_end_object(b);
}

static void add_disks(JsonBuilder *b, const GPtrArray *disks)
{
    json_builder_set_member_name(b, "disks");
    json_builder_begin_array(b);
    for (guint i = 0; i < disks->len; i++) {
        const DiskConfig *d = disks->pdata[i];
        json_builder_begin_object(b);
        add_str(b, "path", d->path);
        add_bool(b, "readonly", d->readonly);
        add_bool(b, "direct", d->direct);
        add_int(b, "num_queues", d->num_queues);
        add_int(b, "queue_size", d->queue_size);
        add_str(b, "id", d->id);
        add_str(b, "serial", d->serial);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void add_nets(JsonBuilder *b, const GPtrArray *nets)
{
    json_builder_set_member_name(b, "net");
    json_builder_begin_array(b);
    for (guint i = 0; i < nets->len; i++) {
        const NetConfig *n = nets->pdata[i];
        json_builder_begin_object(b);
        add_str(b, "tap", n->tap);
        add_str(b, "ip", n->ip);
        add_str(b, "mask", n->mask);
        if (n->mac_set) {
            g_autofree char *mac =
                g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
                                n->mac[3], n->mac[4], n->mac[5]);
            add_str(b, "mac", mac);
        }
        add_int(b, "num_queues", n->num_queues);
        add_int(b, "queue_size", n->queue_size);
        add_str(b, "id", n->id);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

JsonNode *vm_config_to_json(const VmConfig *cfg, const char *serial_pty, const char *console_pty)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);

    json_builder_set_member_name(b, "payload");
    json_builder_begin_object(b);
    add_str(b, "kernel", cfg->payload.kernel);
    add_str(b, "cmdline", cfg->payload.cmdline);
    add_str(b, "initramfs", cfg->payload.initramfs);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "cpus");
    json_builder_begin_object(b);
    add_int(b, "boot_vcpus", cfg->cpus.boot_vcpus);
    add_int(b, "max_vcpus", cfg->cpus.max_vcpus);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "memory");
    json_builder_begin_object(b);
    add_int(b, "size", cfg->memory.size);
    add_bool(b, "shared", cfg->memory.shared);
    add_bool(b, "hugepages", cfg->memory.hugepages);
    if (cfg->memory.hugepage_size)
        add_int(b, "hugepage_size", cfg->memory.hugepage_size);
    json_builder_end_object(b);

    add_console(b, "serial", &cfg->serial, serial_pty);
    add_console(b, "console", &cfg->console, console_pty);
    add_disks(b, cfg->disks);
    add_nets(b, cfg->nets);
    if (cfg->rng) {
        json_builder_set_member_name(b, "rng");
        json_builder_begin_object(b);
        add_str(b, "src", cfg->rng->src);
        json_builder_end_object(b);
    }
    if (cfg->vsock) {
        json_builder_set_member_name(b, "vsock");
        json_builder_begin_object(b);
        add_int(b, "cid", cfg->vsock->cid);
        add_str(b, "socket", cfg->vsock->socket);
        add_str(b, "id", cfg->vsock->id);
        json_builder_end_object(b);
    }
    if (cfg->balloon) {
        json_builder_set_member_name(b, "balloon");
        json_builder_begin_object(b);
        add_int(b, "size", cfg->balloon->size);
        add_bool(b, "deflate_on_oom", cfg->balloon->deflate_on_oom);
        add_bool(b, "free_page_reporting", cfg->balloon->free_page_reporting);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
