/* VmConfig <-> cloud-hypervisor's VmConfig JSON (the vm.create body and the
 * config in vm.info). Parsing is strict: unknown fields and wrong types are
 * errors naming the field by its dotted path ("disks[1].readonly"). */
#pragma once
#include "hypervisor/vm_config.h"

#include <json-glib/json-glib.h>
#include <stddef.h>

/* Parse a vm.create body. Besides payload{kernel,cmdline,initramfs} the older
 * top-level form kernel{path}, cmdline{args}, initramfs{path} is accepted
 * (what libvirt's ch driver sends). Defaults differ from the command line's
 * where cloud-hypervisor's do: serial Null, console Off, reboot restarts. */
VmConfig *vm_config_from_json(const char *data, size_t len, GError **errp);

/* The config as vm.info reports it. serial_pty/console_pty, when non-NULL,
 * are reported as the "file" of a Pty serial/console. */
JsonNode *vm_config_to_json(const VmConfig *cfg, const char *serial_pty, const char *console_pty);
