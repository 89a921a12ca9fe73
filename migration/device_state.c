/* Device state <-> state stream (see device_state.h). */
#include "migration/device_state.h"

#include "migration/stream.h"

#include <string.h>

/* The object the description sees: a plain state struct filled from the
 * device (state_sync) or the device itself. */
static void *state_obj_get(Device *d)
{
    const DeviceOps *ops = d->ops;
    if (!ops->state_sync)
        return d;
    void *st = g_malloc0(ops->state->size);
    g_autoptr(GError) err = NULL;
    bool ok = ops->state_sync(d, st, DEVICE_STATE_SAVE, &err);
    g_assert(ok); /* saving never fails */
    return st;
}

static void state_obj_put(Device *d, void *st)
{
    if (st != d)
        g_free(st);
}

void device_state_save(Device *d, GByteArray *out)
{
    g_assert(d->ops->state);
    void *st = state_obj_get(d);
    state_save(d->ops->state, st, out);
    state_obj_put(d, st);
}

static bool apply(Device *d, void *st, GError **errp)
{
    if (st == d || d->ops->state_sync(d, st, DEVICE_STATE_LOAD, errp))
        return true;
    g_prefix_error(errp, "%s '%s': ", d->ops->type, d->id);
    return false;
}

bool device_state_load(Device *d, const uint8_t *buf, size_t len, GError **errp)
{
    g_assert(d->ops->state);
    void *st = state_obj_get(d);
    bool ok = state_load(d->ops->state, st, buf, len, errp) && apply(d, st, errp);
    state_obj_put(d, st);
    return ok;
}

void device_state_save_all(Vm *vm, GByteArray *out)
{
    state_stream_begin(out);
    for (unsigned i = 0; i < vm_device_count(vm); i++) {
        Device *d = vm_device(vm, i);
        if (!d->ops->state)
            continue;
        void *st = state_obj_get(d);
        state_stream_add(out, d->id, d->ops->state, st);
        state_obj_put(d, st);
    }
    state_stream_finish(out);
}

/* ---- load ------------------------------------------------------------------ */

typedef struct LoadCtx {
    Vm *vm;
    GHashTable *objs; /* Device * -> state object, loaded but not applied */
} LoadCtx;

static bool lookup(void *opaque, const char *id, const StateDesc **desc, void **obj)
{
    LoadCtx *c = opaque;
    Device *d = vm_find_device(c->vm, id);
    if (!d || !d->ops->state || g_hash_table_contains(c->objs, d))
        return false;
    void *st = state_obj_get(d);
    g_hash_table_insert(c->objs, d, st);
    *desc = d->ops->state;
    *obj = st;
    return true;
}

bool device_state_load_all(Vm *vm, const uint8_t *buf, size_t len, GError **errp)
{
    if (vm_state(vm) == VM_STATE_RUNNING) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "device state loaded into a running VM");
        return false;
    }
    LoadCtx c = { .vm = vm, .objs = g_hash_table_new(NULL, NULL) };
    /* Stage 1: parse and validate every section into its state object (the
     * stream is verified as a whole first; plain state structs are not
     * applied to their devices yet). */
    bool ok = state_stream_load(buf, len, lookup, &c, errp);
    /* Every device with state must have been in the stream. */
    for (unsigned i = 0; ok && i < vm_device_count(vm); i++) {
        Device *d = vm_device(vm, i);
        if (d->ops->state && !g_hash_table_contains(c.objs, d)) {
            g_set_error(errp, STATE_ERROR, STATE_ERROR_MISSING, "no state for device '%s'", d->id);
            ok = false;
        }
    }
    /* Stage 2: apply, in the device list's order (ascending stage). */
    for (unsigned i = 0; ok && i < vm_device_count(vm); i++) {
        Device *d = vm_device(vm, i);
        if (d->ops->state)
            ok = apply(d, g_hash_table_lookup(c.objs, d), errp);
    }
    /* Stage 3: cross-device fix-ups. */
    for (unsigned i = 0; ok && i < vm_device_count(vm); i++) {
        Device *d = vm_device(vm, i);
        if (d->ops->post_load_all && !d->ops->post_load_all(d, errp)) {
            g_prefix_error(errp, "%s '%s': ", d->ops->type, d->id);
            ok = false;
        }
    }
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, c.objs);
    while (g_hash_table_iter_next(&it, &k, &v))
        state_obj_put(k, v);
    g_hash_table_destroy(c.objs);
    return ok;
}
