/* Machine-building steps that are the same on every arch: configuration
 * checks that do not depend on the platform, and the virtio-pci devices of
 * the configuration (the PCI host must exist already). */
#pragma once
#include "hypervisor/vm.h"
#include "hypervisor/vm_config.h"

#include <glib.h>
#include <stdbool.h>

/* The arch-independent checks of check_config: consoles sharing the
 * terminal, a balloon larger than RAM. */
bool machine_check_common_config(const VmConfig *cfg, GError **errp);

/* The virtio devices of the configuration, in a stable order (so slots and
 * guest device names stay the same from boot to boot). */
bool machine_create_virtio_devices(Vm *vm, GError **errp);
