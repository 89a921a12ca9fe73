/* The endpoint handlers and the route table. Each runs on the control thread
 * (api/server.c queues requests there), turns the body into typed input,
 * calls one vmm_* function and maps its result to a status and JSON body. */
#include "api/routes.h"

#include "api/vm_config_json.h"
#include "api/vm_migration.h"
#include "hypervisor/error.h"
#include "hypervisor/version.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

/* Device ids whose PTY is reported as config.serial.file / config.console.file. */
#define API_SERIAL_DEVICE_ID "serial0"
#define API_CONSOLE_DEVICE_ID "console0"

unsigned api_status_for_error(const GError *err)
{
    static const struct {
        NimbusErrorCode code;
        unsigned status;
    } table[] = {
        { NIMBUS_ERROR_INVALID, 400 },     /* bad body or config */
        { NIMBUS_ERROR_NOT_FOUND, 400 },   /* a file the config names is missing */
        { NIMBUS_ERROR_STATE, 405 },       /* wrong VM state (cloud-hypervisor's 405) */
        { NIMBUS_ERROR_UNSUPPORTED, 500 },
        { NIMBUS_ERROR_IO, 500 },
        { NIMBUS_ERROR_ACCEL, 500 },
        { NIMBUS_ERROR_FAILED, 500 },
    };
    if (err->domain == NIMBUS_ERROR) {
        for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
            if ((int)table[i].code == err->code)
                return table[i].status;
    }
    return 500;
}

static char *node_to_string(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

void api_reply_error(ApiReply *reply, unsigned status, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    reply->status = status;
    g_free(reply->body);
    reply->body = node_to_string(root);
}

static void reply_json(ApiReply *reply, JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    reply->status = 200;
    reply->body = node_to_string(root);
}

/* 204 on success, else the error's status and message. */
static void reply_result(ApiReply *reply, bool ok, GError *err)
{
    if (ok)
        reply->status = 204;
    else
        api_reply_error(reply, api_status_for_error(err), err->message);
}

/* 404 (cloud-hypervisor's "VM not created") when there is no VM. */
static bool need_created(Vmm *vmm, ApiReply *reply)
{
    if (vmm_vm_config(vmm))
        return true;
    api_reply_error(reply, 404, "no VM is created");
    return false;
}

static void handle_vmm_ping(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "build_version");
    json_builder_add_string_value(b, "nimbus v" NIMBUS_VERSION);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, "v" NIMBUS_VERSION);
    json_builder_set_member_name(b, "pid");
    json_builder_add_int_value(b, getpid());
    json_builder_set_member_name(b, "features");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    reply_json(reply, b);
}

static void handle_vmm_shutdown(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    g_autoptr(GError) err = NULL;
    vmm_vm_delete(vmm, &err);
    reply->status = 204;
    reply->quit_after = true;
}

static void handle_vm_create(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    gsize len;
    const char *data = g_bytes_get_data(body, &len);
    if (len == 0) {
        api_reply_error(reply, 400, "vm.create needs a VmConfig JSON body");
        return;
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) cfg = vm_config_from_json(data, len, &err);
    bool ok = cfg && vmm_vm_create(vmm, cfg, &err);
    reply_result(reply, ok, err);
}

#define SIMPLE_ACTION(name, call)                                  \
    static void name(Vmm *vmm, GBytes *body, ApiReply *reply)      \
    {                                                              \
        if (!need_created(vmm, reply))                             \
            return;                                                \
        g_autoptr(GError) err = NULL;                              \
        bool ok = call(vmm, &err);                                 \
        reply_result(reply, ok, err);                              \
    }

SIMPLE_ACTION(handle_vm_boot, vmm_vm_boot)
SIMPLE_ACTION(handle_vm_shutdown, vmm_vm_shutdown)
SIMPLE_ACTION(handle_vm_reboot, vmm_vm_reboot)
SIMPLE_ACTION(handle_vm_power_button, vmm_vm_power_button)
SIMPLE_ACTION(handle_vm_pause, vmm_vm_pause)
SIMPLE_ACTION(handle_vm_resume, vmm_vm_resume)

static void handle_vm_delete(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    g_autoptr(GError) err = NULL;
    bool ok = vmm_vm_delete(vmm, &err);
    reply_result(reply, ok, err);
}

/* A request body that must be a JSON object with only the `known` members
 * (NULL-terminated); NULL after replying 400. */
static JsonParser *parse_object_body(GBytes *body, const char *endpoint, const char *const *known,
                                     ApiReply *reply)
{
    gsize len;
    const char *data = g_bytes_get_data(body, &len);
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    if (len == 0) {
        g_autofree char *m = g_strdup_printf("%s needs a JSON body", endpoint);
        api_reply_error(reply, 400, m);
        return NULL;
    }
    if (!json_parser_load_from_data(p, data, (gssize)len, &err)) {
        g_autofree char *m = g_strdup_printf("%s: invalid JSON: %s", endpoint, err->message);
        api_reply_error(reply, 400, m);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_autofree char *m = g_strdup_printf("%s: the body must be a JSON object", endpoint);
        api_reply_error(reply, 400, m);
        return NULL;
    }
    g_autoptr(GList) names = json_object_get_members(json_node_get_object(root));
    for (GList *l = names; l; l = l->next) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, l->data) == 0;
        if (!ok) {
            g_autofree char *m = g_strdup_printf("%s: unknown field '%s'", endpoint, (const char *)l->data);
            api_reply_error(reply, 400, m);
            return NULL;
        }
    }
    return g_steal_pointer(&p);
}

/* Member `name` of the body's object as a string (required) or boolean
 * (optional, default false); false after replying 400. */
static bool body_string(JsonParser *p, const char *endpoint, const char *name, const char **out,
                        ApiReply *reply)
{
    JsonNode *n = json_object_get_member(json_node_get_object(json_parser_get_root(p)), name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        g_autofree char *m = g_strdup_printf("%s: '%s' %s", endpoint, name, n ? "must be a string" : "is required");
        api_reply_error(reply, 400, m);
        return false;
    }
    *out = json_node_get_string(n);
    return true;
}

static bool body_bool(JsonParser *p, const char *endpoint, const char *name, bool *out, ApiReply *reply)
{
    JsonNode *n = json_object_get_member(json_node_get_object(json_parser_get_root(p)), name);
    *out = false;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        g_autofree char *m = g_strdup_printf("%s: '%s' must be a boolean", endpoint, name);
        api_reply_error(reply, 400, m);
        return false;
    }
    *out = json_node_get_boolean(n);
    return true;
}

static void handle_vm_snapshot(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    static const char *const known[] = { "destination_url", NULL };
    g_autoptr(JsonParser) p = parse_object_body(body, "vm.snapshot", known, reply);
    const char *url;
    if (!p || !body_string(p, "vm.snapshot", "destination_url", &url, reply) || !need_created(vmm, reply))
        return;
    g_autoptr(GError) err = NULL;
    bool ok = vmm_vm_snapshot(vmm, url, &err);
    reply_result(reply, ok, err);
}

static void handle_vm_restore(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    static const char *const known[] = { "source_url", "prefault", "resume", NULL };
    g_autoptr(JsonParser) p = parse_object_body(body, "vm.restore", known, reply);
    const char *url;
    bool prefault, resume;
    if (!p || !body_string(p, "vm.restore", "source_url", &url, reply) ||
        !body_bool(p, "vm.restore", "prefault", &prefault, reply) ||
        !body_bool(p, "vm.restore", "resume", &resume, reply))
        return;
    if (vmm_vm_config(vmm)) {
        /* cloud-hypervisor's 404: "it is already created". */
        api_reply_error(reply, 404, "a VM is already created: vm.restore needs an empty nimbus");
        return;
    }
    g_autoptr(GError) err = NULL;
    bool ok = vmm_vm_restore(vmm, url, prefault, resume, &err);
    reply_result(reply, ok, err);
}

static void handle_vm_send_migration(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    static const char *const known[] = { "destination_url", "local", "downtime_ms", NULL };
    g_autoptr(JsonParser) p = parse_object_body(body, "vm.send-migration", known, reply);
    const char *url;
    bool local;
    if (!p || !body_string(p, "vm.send-migration", "destination_url", &url, reply) ||
        !body_bool(p, "vm.send-migration", "local", &local, reply) || !need_created(vmm, reply))
        return;
    unsigned downtime_ms = 0;
    JsonNode *n = json_object_get_member(json_node_get_object(json_parser_get_root(p)), "downtime_ms");
    if (n && !JSON_NODE_HOLDS_NULL(n)) {
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 || json_node_get_int(n) < 1 ||
            json_node_get_int(n) > 600000) {
            api_reply_error(reply, 400, "vm.send-migration: 'downtime_ms' must be an integer in 1..600000");
            return;
        }
        downtime_ms = (unsigned)json_node_get_int(n);
    }
    g_autoptr(GError) err = NULL;
    if (!api_migration_send(vmm, url, local, downtime_ms, reply, &err))
        reply_result(reply, false, err);
}

static void handle_vm_receive_migration(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    static const char *const known[] = { "receiver_url", NULL };
    g_autoptr(JsonParser) p = parse_object_body(body, "vm.receive-migration", known, reply);
    const char *url;
    if (!p || !body_string(p, "vm.receive-migration", "receiver_url", &url, reply))
        return;
    g_autoptr(GError) err = NULL;
    if (!api_migration_receive(vmm, url, reply, &err))
        reply_result(reply, false, err);
}

static void handle_vm_cancel_migration(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    g_autoptr(GError) err = NULL;
    bool ok = api_migration_cancel(vmm, &err);
    reply_result(reply, ok, err);
}

static void handle_vm_migration_progress(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    g_autoptr(GError) err = NULL;
    if (!api_migration_progress(vmm, reply, &err))
        reply_result(reply, false, err);
}

static const char *api_state_name(VmState s)
{
    switch (s) {
    case VM_STATE_CREATED:
        return "Created";
    case VM_STATE_RUNNING:
        return "Running";
    case VM_STATE_PAUSED:
        return "Paused";
    default:
        return "Shutdown";
    }
}

static void handle_vm_info(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    VmState state;
    if (!need_created(vmm, reply) || !vmm_vm_state(vmm, &state))
        return;
    Vm *vm = vmm_vm(vmm);
    const VmConfig *cfg = vmm_vm_config(vmm);
    const char *serial_pty = vm ? vm_console_pty(vm, API_SERIAL_DEVICE_ID) : NULL;
    const char *console_pty = vm ? vm_console_pty(vm, API_CONSOLE_DEVICE_ID) : NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "config");
    json_builder_add_value(b, vm_config_to_json(cfg, serial_pty, console_pty));
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, api_state_name(state));
    json_builder_set_member_name(b, "memory_actual_size");
    json_builder_add_int_value(b, (gint64)cfg->memory.size);
    json_builder_end_object(b);
    reply_json(reply, b);
}

static void add_counter(void *opaque, const char *name, uint64_t value)
{
    JsonBuilder *b = opaque;
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)value);
}

static void handle_vm_counters(Vmm *vmm, GBytes *body, ApiReply *reply)
{
    if (!need_created(vmm, reply))
        return;
    Vm *vm = vmm_vm(vmm);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    for (unsigned i = 0; vm && i < vm_device_count(vm); i++) {
        Device *d = vm_device(vm, i);
        if (!d->ops->counters)
            continue;
        json_builder_set_member_name(b, d->id);
        json_builder_begin_object(b);
        d->ops->counters(d, add_counter, b);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    reply_json(reply, b);
}

const ApiRoute api_routes[] = {
    { "GET", API_PATH_PREFIX "/vmm.ping", handle_vmm_ping },
    { "PUT", API_PATH_PREFIX "/vmm.shutdown", handle_vmm_shutdown },
    { "PUT", API_PATH_PREFIX "/vm.create", handle_vm_create },
    { "PUT", API_PATH_PREFIX "/vm.boot", handle_vm_boot },
    { "PUT", API_PATH_PREFIX "/vm.shutdown", handle_vm_shutdown },
    { "PUT", API_PATH_PREFIX "/vm.reboot", handle_vm_reboot },
    { "PUT", API_PATH_PREFIX "/vm.power-button", handle_vm_power_button },
    { "PUT", API_PATH_PREFIX "/vm.pause", handle_vm_pause },
    { "PUT", API_PATH_PREFIX "/vm.resume", handle_vm_resume },
    { "PUT", API_PATH_PREFIX "/vm.delete", handle_vm_delete },
    { "GET", API_PATH_PREFIX "/vm.info", handle_vm_info },
    { "GET", API_PATH_PREFIX "/vm.counters", handle_vm_counters },
    { "PUT", API_PATH_PREFIX "/vm.snapshot", handle_vm_snapshot },
    { "PUT", API_PATH_PREFIX "/vm.restore", handle_vm_restore },
    { "PUT", API_PATH_PREFIX "/vm.send-migration", handle_vm_send_migration },
    { "PUT", API_PATH_PREFIX "/vm.receive-migration", handle_vm_receive_migration },
    { "PUT", API_PATH_PREFIX "/vm.cancel-migration", handle_vm_cancel_migration },
    { "GET", API_PATH_PREFIX "/vm.migration-progress", handle_vm_migration_progress },
    { NULL, NULL, NULL },
};

const ApiRoute *api_route_find(const char *method, const char *path, bool *path_known)
{
    *path_known = false;
    for (const ApiRoute *r = api_routes; r->path; r++) {
        if (strcmp(r->path, path) != 0)
            continue;
        *path_known = true;
        if (strcmp(r->method, method) == 0)
            return r;
    }
    return NULL;
}
