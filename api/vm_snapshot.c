/* VmmSnapshotOps over migration/snapshot.c, with config.json in the
 * vm.create format (api/vm_config_json.c). */
#include "api/vm_snapshot.h"

#include "api/vm_config_json.h"
#include "migration/snapshot.h"

static bool snap_save(Vm *vm, const MachineOps *machine, const char *url, GError **errp)
{
    g_autofree char *dir = snapshot_url_to_dir(url, errp);
    if (!dir)
        return false;
    g_autoptr(JsonNode) node = vm_config_to_json(vm_config(vm), NULL, NULL);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, node);
    g_autofree char *json = json_generator_to_data(gen, NULL);
    return snapshot_save(vm, machine, json, dir, errp);
}

static void *snap_open(const char *url, VmConfig **cfg, GError **errp)
{
    g_autofree char *dir = snapshot_url_to_dir(url, errp);
    if (!dir)
        return NULL;
    g_autoptr(Snapshot) s = snapshot_open(dir, errp);
    if (!s)
        return NULL;
    size_t len;
    const char *json = snapshot_config_json(s, &len);
    *cfg = vm_config_from_json(json, len, errp);
    if (!*cfg) {
        g_prefix_error(errp, "snapshot: config.json: ");
        return NULL;
    }
    return g_steal_pointer(&s);
}

static bool snap_load(void *snap, Vm *vm, const MachineOps *machine, bool prefault, GError **errp)
{
    return snapshot_load(snap, vm, machine, prefault, errp);
}

static void snap_close(void *snap)
{
    snapshot_free(snap);
}

const VmmSnapshotOps api_snapshot_ops = {
    .save = snap_save,
    .open = snap_open,
    .load = snap_load,
    .close = snap_close,
};
