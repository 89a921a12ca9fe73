#include "arch/machine_common.h"

#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/console/console.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/vsock/vsock.h"
#include "hypervisor/error.h"

bool machine_check_common_config(const VmConfig *cfg, GError **errp)
{
    /* Both consoles on our stdin would steal each other's input. */
    if (cfg->serial.mode == CONSOLE_MODE_TTY && cfg->console.mode == CONSOLE_MODE_TTY) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "--serial tty and --console tty cannot share the terminal; "
                    "give one of them another mode");
        return false;
    }
    if (cfg->balloon && cfg->balloon->size > cfg->memory.size) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "--balloon: size=%" G_GUINT64_FORMAT " MiB is more than the guest's %"
                    G_GUINT64_FORMAT " MiB of memory",
                    cfg->balloon->size >> 20, cfg->memory.size >> 20);
        return false;
    }
    return true;
}

bool machine_create_virtio_devices(Vm *vm, GError **errp)
{
    const VmConfig *cfg = vm_config(vm);
    for (guint i = 0; cfg->disks && i < cfg->disks->len; i++) {
        const DiskConfig *d = cfg->disks->pdata[i];
        g_autofree char *id = d->id ? g_strdup(d->id) : g_strdup_printf("disk%u", i);
        if (!device_create(vm, &virtio_blk_ops, id, d, errp)) {
            g_prefix_error(errp, "--disk %s: ", d->path);
            return false;
        }
    }
    for (guint i = 0; cfg->nets && i < cfg->nets->len; i++) {
        const NetConfig *n = cfg->nets->pdata[i];
        g_autofree char *id = n->id ? g_strdup(n->id) : g_strdup_printf("net%u", i);
        if (!device_create(vm, &virtio_net_ops, id, n, errp)) {
            g_prefix_error(errp, "--net: ");
            return false;
        }
    }
    if (cfg->rng && !device_create(vm, &virtio_rng_ops, "rng0", cfg->rng, errp)) {
        g_prefix_error(errp, "--rng: ");
        return false;
    }
    if (cfg->console.mode != CONSOLE_MODE_OFF &&
        !device_create(vm, &virtio_console_ops, "console0", &cfg->console, errp)) {
        g_prefix_error(errp, "--console: ");
        return false;
    }
    if (cfg->vsock) {
        const char *id = cfg->vsock->id ? cfg->vsock->id : "vsock0";
        if (!device_create(vm, &virtio_vsock_ops, id, cfg->vsock, errp)) {
            g_prefix_error(errp, "--vsock: ");
            return false;
        }
    }
    if (cfg->balloon && !device_create(vm, &virtio_balloon_ops, "balloon0", cfg->balloon, errp)) {
        g_prefix_error(errp, "--balloon: ");
        return false;
    }
    return true;
}

