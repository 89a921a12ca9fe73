/* What every UART does with its console backend at realize: refuse a
 * missing one, open it on the VM's control loop, publish a pty's path (log
 * and vm.info), and route its input to the UART. */
#pragma once
#include "devices/chardev/chardev.h"
#include "hypervisor/device.h"

Chardev *serial_console_open(Device *d, const ConsoleConfig *console, ChardevCanReceive can_receive,
                             ChardevReceive receive, void *opaque, GError **errp);
