#include "hypervisor/vm.h"

#include "hypervisor/error.h"
#include "hypervisor/log.h"

#include <string.h>

struct Vm {
    VmConfig *config;
    Accel *accel;
    AccelVm *avm;
    GuestMemory *memory;
    AddrSpace *pio, *mmio;
    IrqRouter *irq;
    EventLoop *control;
    EventLoop *io; /* device I/O thread, started on first use */
    GPtrArray *vcpus;   /* Vcpu * */
    GPtrArray *devices; /* Device *, ordered by stage */
    unsigned next_device_id;

    VmState state;
    VmStopFunc on_stop;
    void *on_stop_opaque;
    GMutex stop_lock;
    VmStopReason stop_reason;
    char *stop_detail;
    GSource *stop_source;
    GHashTable *console_ptys; /* device id -> PTY path (vm_set_console_pty) */
};

/* The lifecycle, as one table (rows: from, columns: to). */
static const bool transitions[VM_STATE_COUNT][VM_STATE_COUNT] = {
    [VM_STATE_CREATED] = { [VM_STATE_RUNNING] = true, [VM_STATE_PAUSED] = true, [VM_STATE_SHUTDOWN] = true },
    [VM_STATE_RUNNING] = { [VM_STATE_PAUSED] = true, [VM_STATE_SHUTDOWN] = true },
    [VM_STATE_PAUSED] = { [VM_STATE_RUNNING] = true, [VM_STATE_SHUTDOWN] = true },
    [VM_STATE_SHUTDOWN] = { 0 },
};

const char *vm_state_name(VmState s)
{
    static const char *const names[VM_STATE_COUNT] = { "Created", "Running", "Paused", "Shutdown" };
    return s < VM_STATE_COUNT ? names[s] : "?";
}

bool vm_state_can_transition(VmState from, VmState to)
{
    return from < VM_STATE_COUNT && to < VM_STATE_COUNT && transitions[from][to];
}

const char *vm_stop_reason_name(VmStopReason r)
{
    static const char *const names[] = { "none", "reset", "poweroff", "crash", "failed", "host" };
    return r < G_N_ELEMENTS(names) ? names[r] : "?";
}

static bool transition(Vm *vm, VmState to, GError **errp)
{
    if (!vm_state_can_transition(vm->state, to)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "the VM is %s and cannot become %s",
                    vm_state_name(vm->state), vm_state_name(to));
        return false;
    }
    return true;
}

/* start and resume both lead to RUNNING, start and pause to PAUSED: each
 * also names the state it leaves. */
static bool transition_from(Vm *vm, VmState from, VmState to, GError **errp)
{
    if (vm->state != from) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "the VM is %s, not %s",
                    vm_state_name(vm->state), vm_state_name(from));
        return false;
    }
    return transition(vm, to, errp);
}

static void vcpu_event(void *opaque, Vcpu *vcpu, VcpuEvent ev, const char *detail)
{
    Vm *vm = opaque;
    static const VmStopReason map[] = {
        [VCPU_EVENT_RESET] = VM_STOP_RESET,
        [VCPU_EVENT_POWEROFF] = VM_STOP_POWEROFF,
        [VCPU_EVENT_CRASH] = VM_STOP_CRASH,
        [VCPU_EVENT_FAILED] = VM_STOP_FAILED,
    };
    g_autofree char *d = g_strdup_printf("vcpu%u: %s", vcpu_index(vcpu), detail);
    vm_request_stop(vm, map[ev], d);
}

Vm *vm_new(Accel *accel, EventLoop *control, const VmConfig *cfg, VmStopFunc on_stop, void *opaque,
           GError **errp)
{
    AccelVm *avm = NULL;
    int e = accel->ops->vm_create(accel, &avm);
    if (e < 0) {
        error_set_errno(errp, e, "cannot create a VM with %s", accel->ops->name);
        return NULL;
    }
    Vm *vm = g_new0(Vm, 1);
    vm->config = vm_config_copy(cfg);
    vm->accel = accel;
    vm->avm = avm;
    vm->control = control;
    vm->on_stop = on_stop;
    vm->on_stop_opaque = opaque;
    vm->memory = memory_new(avm);
    vm->pio = addrspace_new(ADDRSPACE_PIO, avm);
    vm->mmio = addrspace_new(ADDRSPACE_MMIO, avm);
    vm->vcpus = g_ptr_array_new();
    vm->devices = g_ptr_array_new();
    g_mutex_init(&vm->stop_lock);
    vm->console_ptys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    vm->state = VM_STATE_CREATED;
    return vm;
}

void vm_free(Vm *vm)
{
    if (!vm)
        return;
    gint64 t0 = g_get_monotonic_time();
    for (guint i = 0; i < vm->vcpus->len; i++)
        vcpu_stop(vm->vcpus->pdata[i]);
    /* Devices go in reverse order (descending stage). */
    while (vm->devices->len)
        device_destroy(vm->devices->pdata[vm->devices->len - 1]);
    if (vm->io) {
        evloop_stop_thread(vm->io);
        evloop_free(vm->io);
    }
    for (guint i = 0; i < vm->vcpus->len; i++)
        vcpu_free(vm->vcpus->pdata[i]);
    g_ptr_array_free(vm->vcpus, TRUE);
    g_ptr_array_free(vm->devices, TRUE);
    irq_router_free(vm->irq);
    addrspace_free(vm->pio);
    addrspace_free(vm->mmio);
    if (vm->stop_source) {
        g_source_destroy(vm->stop_source);
        g_source_unref(vm->stop_source);
    }
    /* The VM before its RAM: see memory_detach_accel. */
    memory_detach_accel(vm->memory);
    vm->avm->ops->vm_destroy(vm->avm);
    memory_free(vm->memory);
    g_debug("VM torn down in %.1f ms", (g_get_monotonic_time() - t0) / 1000.0);
    vm_config_free(vm->config);
    g_free(vm->stop_detail);
    g_mutex_clear(&vm->stop_lock);
    g_hash_table_unref(vm->console_ptys);
    g_free(vm);
}

bool vm_create_vcpus(Vm *vm, GError **errp)
{
    VcpuHost host = { .pio = vm->pio, .mmio = vm->mmio, .on_event = vcpu_event, .opaque = vm };
    for (uint32_t i = vm->vcpus->len; i < vm->config->cpus.boot_vcpus; i++) {
        Vcpu *v = vcpu_new(vm->avm, i, &host, errp);
        if (!v)
            return false;
        g_ptr_array_add(vm->vcpus, v);
    }
    return true;
}

bool vm_start(Vm *vm, GError **errp)
{
    if (!transition_from(vm, VM_STATE_CREATED, VM_STATE_RUNNING, errp))
        return false;
    for (guint i = 0; i < vm->vcpus->len; i++) {
        if (!vcpu_start(vm->vcpus->pdata[i], false, errp)) {
            g_prefix_error(errp, "cannot start vCPU %u: ", i);
            return false;
        }
    }
    vm->state = VM_STATE_RUNNING;
    return true;
}

bool vm_start_paused(Vm *vm, GError **errp)
{
    if (!transition_from(vm, VM_STATE_CREATED, VM_STATE_PAUSED, errp))
        return false;
    for (guint i = 0; i < vm->vcpus->len; i++) {
        if (!vcpu_start(vm->vcpus->pdata[i], true, errp)) {
            g_prefix_error(errp, "cannot start vCPU %u: ", i);
            return false;
        }
    }
    for (guint i = 0; i < vm->vcpus->len; i++)
        vcpu_wait_parked(vm->vcpus->pdata[i]);
    /* Devices pause as in vm_pause (descending stage), so that a later
     * vm_resume finds them in the state it expects. */
    for (guint i = vm->devices->len; i-- > 0;) {
        Device *d = vm->devices->pdata[i];
        if (d->ops->pause && !d->ops->pause(d, errp)) {
            g_prefix_error(errp, "cannot pause device '%s': ", d->id);
            return false;
        }
    }
    vm->state = VM_STATE_PAUSED;
    return true;
}

static void pause_vcpus(Vm *vm)
{
    for (guint i = 0; i < vm->vcpus->len; i++)
        vcpu_request_pause(vm->vcpus->pdata[i]);
    for (guint i = 0; i < vm->vcpus->len; i++)
        vcpu_wait_parked(vm->vcpus->pdata[i]);
}

bool vm_pause(Vm *vm, GError **errp)
{
    if (!transition_from(vm, VM_STATE_RUNNING, VM_STATE_PAUSED, errp))
        return false;
    /* The protocol: park every vCPU first, then quiesce devices from the
     * last stage to the first; only then is the state frozen. */
    pause_vcpus(vm);
    for (guint i = vm->devices->len; i-- > 0;) {
        Device *d = vm->devices->pdata[i];
        if (d->ops->pause && !d->ops->pause(d, errp)) {
            g_prefix_error(errp, "cannot pause device '%s': ", d->id);
            for (guint j = i + 1; j < vm->devices->len; j++) {
                Device *u = vm->devices->pdata[j];
                if (u->ops->resume)
                    u->ops->resume(u, NULL);
            }
            for (guint j = 0; j < vm->vcpus->len; j++)
                vcpu_resume(vm->vcpus->pdata[j]);
            return false;
        }
    }
    vm->state = VM_STATE_PAUSED;
    return true;
}

bool vm_resume(Vm *vm, GError **errp)
{
    if (!transition_from(vm, VM_STATE_PAUSED, VM_STATE_RUNNING, errp))
        return false;
    for (guint i = 0; i < vm->devices->len; i++) {
        Device *d = vm->devices->pdata[i];
        if (d->ops->resume && !d->ops->resume(d, errp)) {
            g_prefix_error(errp, "cannot resume device '%s': ", d->id);
            return false;
        }
    }
    for (guint i = 0; i < vm->vcpus->len; i++)
        vcpu_resume(vm->vcpus->pdata[i]);
    vm->state = VM_STATE_RUNNING;
    return true;
}

bool vm_shutdown(Vm *vm, GError **errp)
{
    if (vm->state == VM_STATE_SHUTDOWN)
        return true;
    if (!transition(vm, VM_STATE_SHUTDOWN, errp))
        return false;
    for (guint i = 0; i < vm->vcpus->len; i++)
        vcpu_stop(vm->vcpus->pdata[i]);
    vm->state = VM_STATE_SHUTDOWN;
    if (log_debug_enabled())
        vm_log_vcpu_state(vm);
    return true;
}

void vm_log_vcpu_state(Vm *vm)
{
    for (guint i = 0; i < vm->vcpus->len; i++) {
        AccelVcpu *v = vcpu_accel(vm->vcpus->pdata[i]);
        VcpuRegSummary r;
        if (v->ops->vcpu_summary && v->ops->vcpu_summary(v, &r) == 0)
            g_debug("vcpu%u: rip=%#" G_GINT64_MODIFIER "x rsp=%#" G_GINT64_MODIFIER
                    "x rflags=%#" G_GINT64_MODIFIER "x cr0=%#" G_GINT64_MODIFIER
                    "x cr3=%#" G_GINT64_MODIFIER "x mp_state=%u",
                    i, r.pc, r.sp, r.flags, r.cr0, r.cr3, r.mp_state);
    }
}

VmState vm_state(Vm *vm)
{
    return vm->state;
}

static gboolean stop_dispatch(gpointer opaque)
{
    Vm *vm = opaque;
    g_mutex_lock(&vm->stop_lock);
    VmStopReason reason = vm->stop_reason;
    g_autofree char *detail = g_strdup(vm->stop_detail);
    g_mutex_unlock(&vm->stop_lock);
    vm->on_stop(vm, reason, detail, vm->on_stop_opaque);
    return G_SOURCE_REMOVE;
}

void vm_request_stop(Vm *vm, VmStopReason reason, const char *detail)
{
    g_mutex_lock(&vm->stop_lock);
    if (vm->stop_reason != VM_STOP_NONE) {
        g_mutex_unlock(&vm->stop_lock);
        return;
    }
    vm->stop_reason = reason;
    vm->stop_detail = g_strdup(detail);
    g_debug("stop requested: %s (%s)", vm_stop_reason_name(reason), detail);
    /* Kept so vm_free() can cancel it if the VM dies before it runs. */
    vm->stop_source = g_idle_source_new();
    g_source_set_callback(vm->stop_source, stop_dispatch, vm, NULL);
    g_source_attach(vm->stop_source, evloop_context(vm->control));
    g_mutex_unlock(&vm->stop_lock);
}

VmStopReason vm_stop_requested(Vm *vm)
{
    g_mutex_lock(&vm->stop_lock);
    VmStopReason r = vm->stop_reason;
    g_mutex_unlock(&vm->stop_lock);
    return r;
}

EventLoop *vm_io_loop(Vm *vm, GError **errp)
{
    if (!vm->io) {
        EventLoop *io = evloop_new("io0");
        if (!evloop_start_thread(io, THREAD_ROLE_IO, errp)) {
            evloop_free(io);
            return NULL;
        }
        vm->io = io;
    }
    return vm->io;
}

const VmConfig *vm_config(Vm *vm)
{
    return vm->config;
}
Accel *vm_accel(Vm *vm)
{
    return vm->accel;
}
AccelVm *vm_accel_vm(Vm *vm)
{
    return vm->avm;
}
GuestMemory *vm_memory(Vm *vm)
{
    return vm->memory;
}
AddrSpace *vm_pio(Vm *vm)
{
    return vm->pio;
}
AddrSpace *vm_mmio(Vm *vm)
{
    return vm->mmio;
}
IrqRouter *vm_irq(Vm *vm)
{
    return vm->irq;
}
EventLoop *vm_control_loop(Vm *vm)
{
    return vm->control;
}
unsigned vm_vcpu_count(Vm *vm)
{
    return vm->vcpus->len;
}
Vcpu *vm_vcpu(Vm *vm, unsigned index)
{
    return index < vm->vcpus->len ? vm->vcpus->pdata[index] : NULL;
}

void vm_set_irq_router(Vm *vm, IrqRouter *router)
{
    g_assert(!vm->irq);
    vm->irq = router;
}

void vm_attach_device(Vm *vm, Device *d)
{
    guint pos = vm->devices->len;
    while (pos > 0 && ((Device *)vm->devices->pdata[pos - 1])->ops->stage > d->ops->stage)
        pos--;
    g_ptr_array_insert(vm->devices, (gint)pos, d);
}

void vm_detach_device(Vm *vm, Device *d)
{
    g_ptr_array_remove(vm->devices, d);
}

Device *vm_find_device(Vm *vm, const char *id)
{
    for (guint i = 0; i < vm->devices->len; i++) {
        Device *d = vm->devices->pdata[i];
        if (strcmp(d->id, id) == 0)
            return d;
    }
    return NULL;
}

unsigned vm_device_count(Vm *vm)
{
    return vm->devices->len;
}

Device *vm_device(Vm *vm, unsigned index)
{
    g_assert(index < vm->devices->len);
    return vm->devices->pdata[index];
}

char *vm_device_id_new(Vm *vm, const char *prefix)
{
    for (;;) {
        char *id = g_strdup_printf("%s%u", prefix, vm->next_device_id++);
        if (!vm_find_device(vm, id))
            return id;
        g_free(id);
    }
}

void vm_reset_devices(Vm *vm)
{
    for (guint i = 0; i < vm->devices->len; i++) {
        Device *d = vm->devices->pdata[i];
        if (d->ops->reset)
            d->ops->reset(d);
    }
}

void vm_set_console_pty(Vm *vm, const char *device_id, const char *path)
{
    if (path)
        g_hash_table_replace(vm->console_ptys, g_strdup(device_id), g_strdup(path));
    else
        g_hash_table_remove(vm->console_ptys, device_id);
}

const char *vm_console_pty(Vm *vm, const char *device_id)
{
    return g_hash_table_lookup(vm->console_ptys, device_id);
}
