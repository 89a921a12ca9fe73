#include "hypervisor/vmm.h"

#include "hypervisor/error.h"
#include "hypervisor/log.h"

#include <signal.h>

struct Vmm {
    const MachineOps *machine;
    const VmmSnapshotOps *snapshot;
    EventLoop *loop;
    Accel *accel;
    VmConfig *config;
    Vm *vm;
    bool exit_with_guest;
    bool stopped; /* the VM was booted and has stopped since */
    bool quitting;
    int exit_status;
    GSource *signal_sources[3];
    int last_signal;
    GSource *hard_stop_timer; /* armed by a power-button press on SIGTERM */
    bool acpi_shutdown;         /* vm.shutdown presses the power button first */
    GSource *shutdown_timer;    /* armed by such a vm.shutdown */
    bool migrating;             /* a live migration is in progress */
    void (*migration_cancel)(void *opaque, const char *why);
    void *migration_cancel_opaque;
    /* Deferred until the migration ends (vmm_migration_end). */
    VmStopReason deferred_stop;
    char *deferred_stop_detail;
    int deferred_signal;
    gpointer migration_record;  /* vmm_migration_set_record() */
    GDestroyNotify migration_record_destroy;
};

Vmm *vmm_new(const MachineOps *machine)
{
    Vmm *vmm = g_new0(Vmm, 1);
    vmm->machine = machine;
    vmm->loop = evloop_new("control");
    return vmm;
}

void vmm_free(Vmm *vmm)
{
    if (!vmm)
        return;
    vm_free(vmm->vm);
    vmm_migration_set_record(vmm, NULL, NULL);
    evloop_remove(vmm->hard_stop_timer);
    for (unsigned i = 0; i < G_N_ELEMENTS(vmm->signal_sources); i++)
        evloop_remove(vmm->signal_sources[i]);
    vm_config_free(vmm->config);
    g_free(vmm->deferred_stop_detail);
    accel_close(vmm->accel);
    evloop_free(vmm->loop);
    g_free(vmm);
}

EventLoop *vmm_loop(Vmm *vmm)
{
    return vmm->loop;
}

static bool not_migrating(Vmm *vmm, GError **errp)
{
    if (vmm->migrating)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "a live migration is in progress");
    return !vmm->migrating;
}

bool vmm_vm_create(Vmm *vmm, const VmConfig *cfg, GError **errp)
{
    if (!not_migrating(vmm, errp))
        return false;
    if (vmm->config) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "a VM is already created");
        return false;
    }
    /* Everything that can be checked without KVM is checked first, so that
     * a bad configuration gets its own error even on a host without KVM. */
    if (!vm_config_validate(cfg, UINT32_MAX, errp) || !vmm->machine->check_config(cfg, errp))
        return false;
    vmm->config = vm_config_copy(cfg);
    return true;
}

static void vm_stopped(Vm *vm, VmStopReason reason, const char *detail, void *opaque);

/* Open KVM if needed and build a Vm from the stored configuration; not
 * started. */
static Vm *build(Vmm *vmm, GError **errp)
{
    if (!vmm->accel) {
        vmm->accel = accel_open_kvm(errp);
        if (!vmm->accel)
            return NULL;
    }
    uint32_t limit = vmm->machine->max_vcpus(vmm->accel);
    if (!vm_config_validate(vmm->config, limit, errp))
        return NULL;
    Vm *vm = vm_new(vmm->accel, vmm->loop, vmm->config, vm_stopped, vmm, errp);
    if (!vm)
        return NULL;
    if (!vmm->machine->build(vm, errp)) {
        vm_free(vm);
        return NULL;
    }
    return vm;
}

static bool build_and_start(Vmm *vmm, GError **errp)
{
    Vm *vm = build(vmm, errp);
    if (!vm)
        return false;
    if (!vm_start(vm, errp)) {
        vm_free(vm);
        return false;
    }
    vmm->vm = vm;
    vmm->stopped = false;
    g_info("VM started: %u vCPU(s), %" G_GUINT64_FORMAT " MiB", vmm->config->cpus.boot_vcpus,
           vmm->config->memory.size >> 20);
    return true;
}

bool vmm_vm_boot(Vmm *vmm, GError **errp)
{
    if (!vmm->config) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "no VM is created");
        return false;
    }
    if (vmm->vm) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "the VM is already booted (%s)",
                    vm_state_name(vm_state(vmm->vm)));
        return false;
    }
    return build_and_start(vmm, errp);
}

static bool need_vm(Vmm *vmm, GError **errp)
{
    if (!not_migrating(vmm, errp))
        return false;
    if (!vmm->vm)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE,
                    vmm->config ? "the VM is not booted" : "no VM is created");
    return vmm->vm != NULL;
}

bool vmm_vm_pause(Vmm *vmm, GError **errp)
{
    return need_vm(vmm, errp) && vm_pause(vmm->vm, errp);
}

bool vmm_vm_resume(Vmm *vmm, GError **errp)
{
    return need_vm(vmm, errp) && vm_resume(vmm->vm, errp);
}

static void stop_vm(Vmm *vmm);

void vmm_set_snapshot_ops(Vmm *vmm, const VmmSnapshotOps *ops)
{
    vmm->snapshot = ops;
}

static bool need_snapshot_ops(Vmm *vmm, GError **errp)
{
    if (!vmm->snapshot)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "snapshots are not supported here");
    return vmm->snapshot != NULL;
}

bool vmm_vm_snapshot(Vmm *vmm, const char *url, GError **errp)
{
    if (!need_vm(vmm, errp) || !need_snapshot_ops(vmm, errp))
        return false;
    if (vm_state(vmm->vm) != VM_STATE_PAUSED) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "the VM is %s: pause it before taking a snapshot",
                    vm_state_name(vm_state(vmm->vm)));
        return false;
    }
    gint64 t0 = g_get_monotonic_time();
    if (!vmm->snapshot->save(vmm->vm, vmm->machine, url, errp))
        return false;
    g_info("snapshot written to %s in %" G_GINT64_FORMAT " ms", url, (g_get_monotonic_time() - t0) / 1000);
    return true;
}

bool vmm_vm_restore(Vmm *vmm, const char *url, bool prefault, bool resume, GError **errp)
{
    if (!not_migrating(vmm, errp))
        return false;
    if (vmm->config) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "a VM is already created: restore needs an empty nimbus");
        return false;
    }
    if (!need_snapshot_ops(vmm, errp))
        return false;
    gint64 t0 = g_get_monotonic_time();
    VmConfig *cfg = NULL;
    void *snap = vmm->snapshot->open(url, &cfg, errp);
    if (!snap) {
        g_prefix_error(errp, "cannot restore from %s: ", url);
        return false;
    }
    Vm *vm = NULL;
    bool ok = vmm_vm_create(vmm, cfg, errp);
    vm_config_free(cfg);
    if (ok) {
        /* Built, vCPUs parked before their first instruction, devices
         * paused: the state is loaded into a machine that never ran. */
        vm = build(vmm, errp);
        ok = vm && vm_start_paused(vm, errp) &&
             vmm->snapshot->load(snap, vm, vmm->machine, prefault, errp);
    }
    vmm->snapshot->close(snap);
    if (!ok) {
        g_prefix_error(errp, "cannot restore from %s: ", url);
        vm_free(vm);
        vm_config_free(g_steal_pointer(&vmm->config));
        return false;
    }
    vmm->vm = vm;
    vmm->stopped = false;
    g_info("VM restored from %s in %" G_GINT64_FORMAT " ms (paused)", url, (g_get_monotonic_time() - t0) / 1000);
    if (resume && !vm_resume(vm, errp)) {
        g_prefix_error(errp, "restored, but cannot resume: ");
        stop_vm(vmm);
        vm_config_free(g_steal_pointer(&vmm->config));
        vmm->stopped = false;
        return false;
    }
    return true;
}

/* Tear the running VM down; the configuration stays. */
static void stop_vm(Vmm *vmm)
{
    vm_free(g_steal_pointer(&vmm->vm));
    evloop_remove(g_steal_pointer(&vmm->hard_stop_timer));
    evloop_remove(g_steal_pointer(&vmm->shutdown_timer));
    vmm->stopped = true;
}

void vmm_set_acpi_shutdown(Vmm *vmm, bool on)
{
    vmm->acpi_shutdown = on;
}

static gboolean on_shutdown_timeout(gpointer opaque)
{
    Vmm *vmm = opaque;
    vmm->shutdown_timer = NULL;
    g_warning("the guest did not power off within %u s of vm.shutdown's power button: "
              "stopping it",
              VMM_POWER_BUTTON_TIMEOUT_S);
    stop_vm(vmm);
    return G_SOURCE_REMOVE;
}

bool vmm_vm_shutdown(Vmm *vmm, GError **errp)
{
    if (!need_vm(vmm, errp))
        return false;
    /* With --shutdown-mode acpi (libvirt's "virsh shutdown" sends vm.shutdown)
     * a running guest is asked first; it is stopped if it does not comply. */
    if (vmm->acpi_shutdown && !vmm->shutdown_timer && vm_state(vmm->vm) == VM_STATE_RUNNING &&
        vmm->machine->power_button && vmm->machine->power_button(vmm->vm)) {
        g_message("vm.shutdown: pressed the guest's power button; stopping it in %u s",
                  VMM_POWER_BUTTON_TIMEOUT_S);
        vmm->shutdown_timer =
            evloop_add_timer(vmm->loop, VMM_POWER_BUTTON_TIMEOUT_S * 1000, on_shutdown_timeout, vmm);
        return true;
    }
    stop_vm(vmm);
    return true;
}

bool vmm_vm_reboot(Vmm *vmm, GError **errp)
{
    if (!need_vm(vmm, errp))
        return false;
    stop_vm(vmm);
    return build_and_start(vmm, errp);
}

bool vmm_vm_power_button(Vmm *vmm, GError **errp)
{
    if (!need_vm(vmm, errp))
        return false;
    if (vm_state(vmm->vm) != VM_STATE_RUNNING) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "the VM is not running (%s)",
                    vm_state_name(vm_state(vmm->vm)));
        return false;
    }
    if (!vmm->machine->power_button || !vmm->machine->power_button(vmm->vm)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "the machine has no power button");
        return false;
    }
    return true;
}

bool vmm_vm_delete(Vmm *vmm, GError **errp)
{
    if (!not_migrating(vmm, errp))
        return false;
    if (vmm->vm)
        stop_vm(vmm);
    vm_config_free(g_steal_pointer(&vmm->config));
    vmm->stopped = false;
    return true;
}

const MachineOps *vmm_machine(Vmm *vmm)
{
    return vmm->machine;
}

bool vmm_migration_begin(Vmm *vmm, bool outgoing, GError **errp)
{
    if (!not_migrating(vmm, errp))
        return false;
    if (outgoing && (!vmm->vm || vm_state(vmm->vm) != VM_STATE_RUNNING)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "the VM is not running: nothing to migrate");
        return false;
    }
    if (!outgoing && vmm->config) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE,
                    "a VM is already created: receiving a migration needs an empty nimbus");
        return false;
    }
    vmm->migrating = true;
    return true;
}

void vmm_migration_set_canceller(Vmm *vmm, void (*cancel)(void *opaque, const char *why), void *opaque)
{
    vmm->migration_cancel = cancel;
    vmm->migration_cancel_opaque = opaque;
}

/* A guest stop or a signal while migrating: it must not free the VM under
 * the migrating thread, so the migration is cancelled and this waits. */
static void cancel_migration_for(Vmm *vmm, const char *why)
{
    g_message("%s during the migration: cancelling it; handled when it has ended", why);
    if (vmm->migration_cancel)
        vmm->migration_cancel(vmm->migration_cancel_opaque, why);
}

static void hard_stop(Vmm *vmm, int signum);

void vmm_migration_end(Vmm *vmm)
{
    vmm->migrating = false;
    vmm->migration_cancel = NULL;
    int signum = vmm->deferred_signal;
    VmStopReason reason = vmm->deferred_stop;
    g_autofree char *detail = g_steal_pointer(&vmm->deferred_stop_detail);
    vmm->deferred_signal = 0;
    vmm->deferred_stop = VM_STOP_NONE;
    if (signum)
        hard_stop(vmm, signum);
    else if (reason != VM_STOP_NONE && vmm->vm) /* else the VM went to the destination */
        vm_stopped(vmm->vm, reason, detail, vmm);
}

bool vmm_migration_busy(Vmm *vmm)
{
    return vmm->migrating;
}

Vm *vmm_migration_build(Vmm *vmm, const VmConfig *cfg, GError **errp)
{
    g_assert(vmm->migrating && !vmm->config);
    if (!vm_config_validate(cfg, UINT32_MAX, errp) || !vmm->machine->check_config(cfg, errp))
        return NULL;
    vmm->config = vm_config_copy(cfg);
    Vm *vm = build(vmm, errp);
    if (vm && !vm_start_paused(vm, errp)) {
        vm_free(vm);
        vm = NULL;
    }
    if (!vm)
        vm_config_free(g_steal_pointer(&vmm->config));
    return vm;
}

void vmm_migration_discard(Vmm *vmm, Vm *vm)
{
    vm_free(vm);
    vm_config_free(g_steal_pointer(&vmm->config));
    vmm->stopped = false;
}

bool vmm_migration_adopt(Vmm *vmm, Vm *vm, GError **errp)
{
    if (!vm_resume(vm, errp))
        return false;
    vmm->vm = vm;
    vmm->stopped = false;
    return true;
}

void vmm_migration_sent(Vmm *vmm)
{
    if (vmm->vm)
        stop_vm(vmm);
}

void vmm_migration_set_record(Vmm *vmm, gpointer record, GDestroyNotify destroy)
{
    if (vmm->migration_record && vmm->migration_record_destroy)
        vmm->migration_record_destroy(vmm->migration_record);
    vmm->migration_record = record;
    vmm->migration_record_destroy = destroy;
}

gpointer vmm_migration_record(Vmm *vmm)
{
    return vmm->migration_record;
}

bool vmm_vm_state(Vmm *vmm, VmState *out)
{
    if (!vmm->config)
        return false;
    if (vmm->vm)
        *out = vm_state(vmm->vm);
    else
        *out = vmm->stopped ? VM_STATE_SHUTDOWN : VM_STATE_CREATED;
    return true;
}

void vmm_set_accel(Vmm *vmm, Accel *accel)
{
    g_assert(!vmm->vm);
    accel_close(vmm->accel);
    vmm->accel = accel;
}

Vm *vmm_vm(Vmm *vmm)
{
    return vmm->vm;
}

const VmConfig *vmm_vm_config(Vmm *vmm)
{
    return vmm->config;
}

void vmm_set_exit_with_guest(Vmm *vmm, bool on)
{
    vmm->exit_with_guest = on;
}

/* On the control thread: the guest (or a vCPU failure) stopped the VM. */
static void vm_stopped(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
    Vmm *vmm = opaque;
    g_assert(vm == vmm->vm);
    if (vmm->migrating) {
        if (vmm->deferred_stop == VM_STOP_NONE) {
            vmm->deferred_stop = reason;
            vmm->deferred_stop_detail = g_strdup(detail);
        }
        g_autofree char *why = g_strdup_printf("guest %s (%s)", vm_stop_reason_name(reason), detail);
        cancel_migration_for(vmm, why);
        return;
    }
    switch (reason) {
    case VM_STOP_RESET:
        g_info("guest reset (%s)", detail);
        if (vmm->config->reboot_policy == REBOOT_POLICY_RESTART) {
            g_autoptr(GError) err = NULL;
            if (!vmm_vm_reboot(vmm, &err)) {
                g_warning("cannot restart the VM: %s", err->message);
                vmm_quit(vmm, VMM_EXIT_ERROR);
            }
            return;
        }
        break;
    case VM_STOP_POWEROFF:
        g_info("guest powered off (%s)", detail);
        break;
    case VM_STOP_CRASH:
        g_warning("guest crashed (%s)", detail);
        break;
    case VM_STOP_FAILED:
        g_warning("the VM stopped on an error: %s", detail);
        break;
    default:
        g_info("VM stopped: %s (%s)", vm_stop_reason_name(reason), detail);
        break;
    }
    stop_vm(vmm);
    if (vmm->exit_with_guest) {
        bool ok = reason == VM_STOP_RESET || reason == VM_STOP_POWEROFF;
        vmm_quit(vmm, ok ? VMM_EXIT_OK : VMM_EXIT_ERROR);
    }
}

static void hard_stop(Vmm *vmm, int signum)
{
    if (vmm->migrating) {
        vmm->deferred_signal = signum;
        g_autofree char *why = g_strdup_printf("signal %d (%s)", signum, g_strsignal(signum));
        cancel_migration_for(vmm, why);
        return;
    }
    if (vmm->vm)
        vm_shutdown(vmm->vm, NULL); /* logs the vCPUs' state at debug level */
    vm_free(g_steal_pointer(&vmm->vm));
    vmm_quit(vmm, VMM_EXIT_SIGNAL + signum);
}

static gboolean on_hard_stop_timeout(gpointer opaque)
{
    Vmm *vmm = opaque;
    vmm->hard_stop_timer = NULL;
    g_warning("the guest did not power off within %u s of the power button: stopping it",
              VMM_POWER_BUTTON_TIMEOUT_S);
    hard_stop(vmm, SIGTERM);
    return G_SOURCE_REMOVE;
}

/* SIGTERM asks politely, as a cloud stop does: press the guest's power button
 * and give it VMM_POWER_BUTTON_TIMEOUT_S to power off (exit status 0). A
 * second signal, SIGINT or SIGHUP, or a machine without a power button stops
 * the VM at once (exit status 128 + signal). */
static gboolean on_signal(gpointer opaque, int signum)
{
    Vmm *vmm = opaque;
    if (signum == SIGTERM && !vmm->hard_stop_timer && vmm->vm &&
        vm_state(vmm->vm) == VM_STATE_RUNNING && vmm->machine->power_button &&
        vmm->machine->power_button(vmm->vm)) {
        g_message("received signal %d (%s): pressed the guest's power button; stopping it in %u s "
                  "or on a second signal",
                  signum, g_strsignal(signum), VMM_POWER_BUTTON_TIMEOUT_S);
        /* The host asked nimbus to stop: once the guest is off, exit (status
         * 0), even with an API socket, which otherwise outlives the guest. */
        vmm->exit_with_guest = true;
        vmm->hard_stop_timer =
            evloop_add_timer(vmm->loop, VMM_POWER_BUTTON_TIMEOUT_S * 1000, on_hard_stop_timeout, vmm);
        return G_SOURCE_CONTINUE;
    }
    g_message("received signal %d (%s), stopping", signum, g_strsignal(signum));
    evloop_remove(g_steal_pointer(&vmm->hard_stop_timer));
    hard_stop(vmm, signum);
    return G_SOURCE_CONTINUE;
}

static gboolean on_sigterm(gpointer opaque)
{
    return on_signal(opaque, SIGTERM);
}
static gboolean on_sigint(gpointer opaque)
{
    return on_signal(opaque, SIGINT);
}
static gboolean on_sighup(gpointer opaque)
{
    return on_signal(opaque, SIGHUP);
}

void vmm_watch_signals(Vmm *vmm)
{
    vmm->signal_sources[0] = evloop_add_signal(vmm->loop, SIGTERM, on_sigterm, vmm);
    vmm->signal_sources[1] = evloop_add_signal(vmm->loop, SIGINT, on_sigint, vmm);
    vmm->signal_sources[2] = evloop_add_signal(vmm->loop, SIGHUP, on_sighup, vmm);
}

int vmm_run(Vmm *vmm)
{
    if (!vmm->quitting)
        evloop_run(vmm->loop);
    return vmm->exit_status;
}

void vmm_quit(Vmm *vmm, int status)
{
    if (vmm->quitting)
        return;
    vmm->quitting = true;
    vmm->exit_status = status;
    evloop_quit(vmm->loop);
}
