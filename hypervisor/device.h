/* The device model: every device is a plain struct that embeds Device as its
 * first member and has one const DeviceOps table. The Vm walks its device
 * list to realize, reset, pause, resume, save, load and unrealize them all the
 * same way; no per-device code lives in the machine or the VM. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Vm Vm;
typedef struct Device Device;
typedef struct StateDesc StateDesc; /* migration/state.h */

/* Realize/load run in ascending stage, pause/unrealize in descending stage. */
typedef enum {
    DEVICE_STAGE_IRQCHIP,
    DEVICE_STAGE_PLATFORM,
    DEVICE_STAGE_PCI_HOST,
    DEVICE_STAGE_PCI_DEVICE,
    DEVICE_STAGE_COUNT
} DeviceStage;

typedef enum { DEVICE_STATE_SAVE, DEVICE_STATE_LOAD } DeviceStateDir;

typedef void (*DeviceCounterFunc)(void *opaque, const char *name, uint64_t value);

typedef struct DeviceOps {
    const char *type;     /* "uart16550", "virtio-blk", ... */
    size_t instance_size; /* of the struct embedding Device first */
    DeviceStage stage;
    /* Claim resources and map regions; cfg is the type's own config struct.
     * On failure the caller calls unrealize, which must therefore accept a
     * partially realized device. */
    bool (*realize)(Device *d, const void *cfg, GError **errp);
    /* Back to power-on state; local state only (no IRQ changes, no DMA). */
    void (*reset)(Device *d);
    /* Quiesce: after return the device's state is frozen (in-flight I/O done). */
    bool (*pause)(Device *d, GError **errp);
    bool (*resume)(Device *d, GError **errp);
    /* Declarative state for snapshot/migration (save and load go through it,
     * migration/device_state.h). NULL only for a device without any state. */
    const StateDesc *state;
    /* Optional: the device's state lives in a plain struct (state->size bytes)
     * that `state` describes, not in the device struct itself. SAVE copies
     * device -> st; LOAD copies st (already validated by state's post_load)
     * into the paused device and may refuse what does not fit this device
     * (queue counts, sizes). One function, branching on direction. Without
     * it, `state` describes the device struct itself. */
    bool (*state_sync)(Device *d, void *st, DeviceStateDir dir, GError **errp);
    /* Optional: after every device loaded its state, in stage order
     * (cross-device fix-ups: IRQ line levels, MSI routes, irqfds). */
    bool (*post_load_all)(Device *d, GError **errp);
    void (*unrealize)(Device *d);
    /* Optional: report the device's I/O counters (vm.counters) by calling
     * add(opaque, name, value) once per counter. Runs on the control thread
     * while the device runs: read counters with relaxed atomics. */
    void (*counters)(Device *d, DeviceCounterFunc add, void *opaque);
} DeviceOps;

struct Device {
    const DeviceOps *ops;
    char *id; /* unique within the VM */
    Vm *vm;
    bool realized;
};

#define DEVICE_CAST(type, dev) ((type *)(void *)(dev))

/* Allocate, realize and attach a device to vm. On failure nothing is left
 * behind. The returned device is owned by the VM. */
Device *device_create(Vm *vm, const DeviceOps *ops, const char *id, const void *cfg, GError **errp);
/* Unrealize, detach and free. */
void device_destroy(Device *d);
