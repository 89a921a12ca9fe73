/* The Vmm: the process-level controller. Runs the control event loop on the
 * main thread, owns the VM configuration and the current Vm, and decides
 * what a guest reset, power-off or failure means (exit, restart). The API
 * server (api/) drives the same functions as the command line.
 *
 * The machine builder is injected (MachineOps from arch/), which keeps the
 * core free of arch and device dependencies. */
#pragma once
#include "hypervisor/evloop.h"
#include "hypervisor/vm.h"
#include "hypervisor/vm_config.h"

typedef struct MachineOps {
    /* Checks that need no accelerator: the payload's format, arch limits. */
    bool (*check_config)(const VmConfig *cfg, GError **errp);
    /* The most vCPUs this arch and accelerator can run. */
    uint32_t (*max_vcpus)(Accel *accel);
    /* Populate a fresh Vm: irqchip, RAM, platform devices, vCPUs, payload. */
    bool (*build)(Vm *vm, GError **errp);
    /* Press the guest's power button; false if the machine has none. */
    bool (*power_button)(Vm *vm);
    /* Snapshot and migration of the machine's own state: vCPUs and the
     * accelerator's in-kernel devices (irqchip, timers, clock); devices on
     * the device list are saved separately (migration/device_state.h).
     * Optional (NULL: the machine cannot be saved). The VM is paused.
     * save_state appends the machine's sections (x86_64: "vcpu0".."vcpuN-1",
     * "x86-vm") to `stream`, begun with state_stream_begin() and finished by
     * the caller (migration/stream.h). */
    bool (*save_state)(Vm *vm, GByteArray *stream, GError **errp);
    /* Load a complete stream holding exactly the sections save_state wrote
     * into a VM freshly built from the same config (vCPUs not run yet or
     * parked) and put them into the accelerator. On failure the VM is
     * half-loaded and must be discarded. */
    bool (*load_state)(Vm *vm, const uint8_t *buf, size_t len, GError **errp);
} MachineOps;

/* Snapshot storage (vm.snapshot, vm.restore, --restore), injected like
 * MachineOps: the core knows neither the on-disk format (migration/) nor
 * the configuration's JSON (api/). api/vm_snapshot.c provides the one
 * implementation. url: "file:///DIR". */
typedef struct VmmSnapshotOps {
    /* Write the paused vm (config, machine and device state, memory) to url. */
    bool (*save)(Vm *vm, const MachineOps *machine, const char *url, GError **errp);
    /* Open and validate the snapshot at url; *cfg gets its configuration.
     * Returns a handle for load/close, NULL on error. */
    void *(*open)(const char *url, VmConfig **cfg, GError **errp);
    /* Load memory and state into vm, built from *cfg, paused, never run. */
    bool (*load)(void *snap, Vm *vm, const MachineOps *machine, bool prefault, GError **errp);
    void (*close)(void *snap);
} VmmSnapshotOps;

/* How long a guest has to power off after SIGTERM pressed its power button. */
#define VMM_POWER_BUTTON_TIMEOUT_S 30

/* Exit statuses of the nimbus process. */
enum {
    VMM_EXIT_OK = 0,      /* guest powered off or rebooted (policy exit), or asked to */
    VMM_EXIT_ERROR = 1,   /* configuration or runtime error */
    VMM_EXIT_SIGNAL = 128 /* + signal number: stopped by a host signal */
};

typedef struct Vmm Vmm;

Vmm *vmm_new(const MachineOps *machine);
void vmm_free(Vmm *vmm);
EventLoop *vmm_loop(Vmm *vmm);

/* vm.create: validate and store the configuration (no VM is built yet). */
bool vmm_vm_create(Vmm *vmm, const VmConfig *cfg, GError **errp);
/* vm.boot: open the accelerator if needed, build the VM and start it. */
bool vmm_vm_boot(Vmm *vmm, GError **errp);
bool vmm_vm_pause(Vmm *vmm, GError **errp);
bool vmm_vm_resume(Vmm *vmm, GError **errp);
/* Stop the vCPUs and tear the VM down; the configuration stays. */
bool vmm_vm_shutdown(Vmm *vmm, GError **errp);
/* Tear down and build again from the stored configuration. */
bool vmm_vm_reboot(Vmm *vmm, GError **errp);
/* vm.power-button: press the guest's ACPI power button (VM must be running). */
bool vmm_vm_power_button(Vmm *vmm, GError **errp);
/* vm.delete: shut the VM down if it runs and forget its configuration.
 * Succeeds (doing nothing) when no VM is created. */
bool vmm_vm_delete(Vmm *vmm, GError **errp);
/* Set the snapshot storage (without it vm.snapshot/vm.restore are
 * unsupported). */
void vmm_set_snapshot_ops(Vmm *vmm, const VmmSnapshotOps *ops);
/* vm.snapshot: write the VM, which must be Paused, to url (file:///DIR; DIR
 * must not exist or be empty). The VM stays paused. */
bool vmm_vm_snapshot(Vmm *vmm, const char *url, GError **errp);
/* vm.restore: on a Vmm without a VM, create and build the VM the snapshot
 * at url describes, load its memory (prefault: populate every page) and
 * state, and leave it Paused, or Running with resume. On any error the
 * half-built VM is torn down and no VM is left created. */
bool vmm_vm_restore(Vmm *vmm, const char *url, bool prefault, bool resume, GError **errp);
/* Live migration support (api/vm_migration.c drives migration/migrate.c).
 * While a migration is in progress (vmm_migration_begin .. _end) every
 * lifecycle call that needs the VM (pause, resume, shutdown, reboot,
 * snapshot, power button, delete, create, restore) fails with STATE.
 * What the guest or the host does meanwhile waits for the migration to end:
 * a guest reset, power-off or crash during an outgoing migration, and a
 * signal that stops nimbus, cancel the migration (the migrating thread also
 * stops at its next frame once the VM has a stop request,
 * vm_stop_requested) and take effect when vmm_migration_end() runs; the
 * migrating thread never sees its VM freed. */
const MachineOps *vmm_machine(Vmm *vmm);
/* outgoing: the VM must be Running; incoming: no VM may be created. */
bool vmm_migration_begin(Vmm *vmm, bool outgoing, GError **errp);
/* How the core cancels the migration in progress (a guest stop, a signal);
 * set by whoever drives it, after begin. */
void vmm_migration_set_canceller(Vmm *vmm, void (*cancel)(void *opaque, const char *why), void *opaque);
/* Control thread, once the migrating thread has finished: a deferred guest
 * stop or signal takes effect now. */
void vmm_migration_end(Vmm *vmm);
bool vmm_migration_busy(Vmm *vmm);
/* Incoming, control thread: create the configuration, build the VM and start
 * it paused (never run). On error nothing is left created. */
Vm *vmm_migration_build(Vmm *vmm, const VmConfig *cfg, GError **errp);
/* Incoming: drop a half-received VM and its configuration. */
void vmm_migration_discard(Vmm *vmm, Vm *vm);
/* Incoming: adopt the fully received VM as the current VM and resume it. */
bool vmm_migration_adopt(Vmm *vmm, Vm *vm, GError **errp);
/* Outgoing succeeded: the (paused) VM now runs elsewhere; stop it here. */
void vmm_migration_sent(Vmm *vmm);
/* The API's record of the current or last migration (its progress and
 * cancel), opaque to the core: destroy frees it when it is replaced and
 * with the Vmm. NULL before the first migration. */
void vmm_migration_set_record(Vmm *vmm, gpointer record, GDestroyNotify destroy);
gpointer vmm_migration_record(Vmm *vmm);

/* Current VM (NULL before boot / after shutdown) and configuration. */
Vm *vmm_vm(Vmm *vmm);
const VmConfig *vmm_vm_config(Vmm *vmm);
/* The lifecycle state as the API reports it: the running Vm's state, else
 * CREATED (configured, never booted) or SHUTDOWN (booted, since stopped).
 * Returns false when no VM is created. */
bool vmm_vm_state(Vmm *vmm, VmState *out);
/* Use this accelerator instead of opening KVM on the first boot (tests pass
 * a fake one). The Vmm takes ownership. Only before the first boot. */
void vmm_set_accel(Vmm *vmm, Accel *accel);

/* When set (command-line VMs without an API), the process exits once the
 * guest has stopped for good. */
void vmm_set_exit_with_guest(Vmm *vmm, bool on);
/* vm.shutdown of a running guest presses its power button and stops it only
 * if it has not powered off after VMM_POWER_BUTTON_TIMEOUT_S (default off:
 * an immediate stop, as cloud-hypervisor does). */
void vmm_set_acpi_shutdown(Vmm *vmm, bool on);
/* SIGTERM presses the guest's power button (hard stop after
 * VMM_POWER_BUTTON_TIMEOUT_S or on a second signal); SIGINT/SIGHUP stop the
 * VM at once and end the loop with 128+signal. */
void vmm_watch_signals(Vmm *vmm);

/* Run the control loop until vmm_quit(); returns the exit status. */
int vmm_run(Vmm *vmm);
void vmm_quit(Vmm *vmm, int status);
