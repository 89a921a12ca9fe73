/* Every device's state in one state stream (stream.h), section id = device
 * id, description = DeviceOps.state. The snapshot and live-migration code
 * call these; nothing device-specific lives here.
 *
 * Save: with the VM paused and every device paused (DeviceOps.pause drained
 * its in-flight I/O), walk the device list in stage order: a device with
 * DeviceOps.state_sync copies itself into a plain state struct that is then
 * saved; any other device is saved straight from its struct.
 *
 * Load: the destination realized the same devices from the config (same ids)
 * and reset them; the VM and the devices are paused. Every section in the
 * stream must name an existing device, and every device with state must have
 * a section. Sections are loaded in device stage order (ascending): a plain
 * state struct is first filled with the device's current (reset) values, the
 * section is loaded over it (hostile input: bounds, post_load), then
 * state_sync(LOAD) applies it. After all loads, every device's post_load_all
 * runs (cross-device fix-ups: IRQ levels, MSI routes). On failure the machine
 * is half-loaded and must be discarded (never resumed). */
#pragma once
#include "hypervisor/vm.h"
#include "migration/state.h"

#include <glib.h>

/* Append a complete stream (header, one section per device with state,
 * trailer) to the empty `out`. */
void device_state_save_all(Vm *vm, GByteArray *out);
/* Load a stream written by device_state_save_all into vm's devices. */
bool device_state_load_all(Vm *vm, const uint8_t *buf, size_t len, GError **errp);

/* One device, for tests and tools: its section (state.h format) appended to
 * out, and loaded from exactly one section. */
void device_state_save(Device *d, GByteArray *out);
bool device_state_load(Device *d, const uint8_t *buf, size_t len, GError **errp);
