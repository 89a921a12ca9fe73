#include "hypervisor/device.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"

Device *device_create(Vm *vm, const DeviceOps *ops, const char *id, const void *cfg, GError **errp)
{
    g_assert(ops->instance_size >= sizeof(Device));
    if (vm_find_device(vm, id)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "a device with id '%s' already exists",
                    id);
        return NULL;
    }
    Device *d = g_malloc0(ops->instance_size);
    d->ops = ops;
    d->id = g_strdup(id);
    d->vm = vm;
    if (ops->realize && !ops->realize(d, cfg, errp)) {
        g_prefix_error(errp, "%s '%s': ", ops->type, id);
        if (ops->unrealize)
            ops->unrealize(d);
        g_free(d->id);
        g_free(d);
        return NULL;
    }
    d->realized = true;
    if (ops->reset)
        ops->reset(d);
    vm_attach_device(vm, d);
    return d;
}

void device_destroy(Device *d)
{
    if (!d)
        return;
    vm_detach_device(d->vm, d);
    if (d->ops->unrealize)
        d->ops->unrealize(d);
    g_free(d->id);
    g_free(d);
}
