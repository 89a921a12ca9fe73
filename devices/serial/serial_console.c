#include "devices/serial/serial_console.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"

Chardev *serial_console_open(Device *d, const ConsoleConfig *console, ChardevCanReceive can_receive,
                             ChardevReceive receive, void *opaque, GError **errp)
{
    if (!console || console->mode == CONSOLE_MODE_OFF) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "a console backend is required");
        return NULL;
    }
    Chardev *chr = chardev_new(console, vm_control_loop(d->vm), errp);
    if (!chr)
        return NULL;
    if (chardev_pty_path(chr)) {
        g_message("serial: pty at %s", chardev_pty_path(chr));
        vm_set_console_pty(d->vm, d->id, chardev_pty_path(chr)); /* for vm.info */
    }
    chardev_set_receiver(chr, can_receive, receive, opaque);
    return chr;
}
