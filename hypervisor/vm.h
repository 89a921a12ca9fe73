/* The Vm: one running machine. Owns the accelerator VM, guest memory, the
 * two address spaces, the interrupt router, the vCPUs and the devices.
 * Everything a device or the machine builder needs is reachable from it;
 * there is no global VM.
 *
 * Lifecycle: CREATED -> RUNNING <-> PAUSED -> SHUTDOWN (and CREATED ->
 * PAUSED for a restore), with the legal
 * transitions in one table (vm_state_can_transition). Only the control
 * thread calls the lifecycle functions; vCPU and I/O threads report events
 * with vm_request_stop(), which is thread-safe. */
#pragma once
#include "hypervisor/accel.h"
#include "hypervisor/addrspace.h"
#include "hypervisor/device.h"
#include "hypervisor/evloop.h"
#include "hypervisor/irq.h"
#include "hypervisor/memory.h"
#include "hypervisor/vcpu.h"
#include "hypervisor/vm_config.h"

typedef enum {
    VM_STATE_CREATED,
    VM_STATE_RUNNING,
    VM_STATE_PAUSED,
    VM_STATE_SHUTDOWN,
    VM_STATE_COUNT
} VmState;

typedef enum {
    VM_STOP_NONE,
    VM_STOP_RESET,    /* guest reboot (i8042, triple fault, PSCI reset) */
    VM_STOP_POWEROFF, /* guest power-off (ACPI S5, PSCI off) */
    VM_STOP_CRASH,    /* guest panic notification */
    VM_STOP_FAILED,   /* the VMM could not continue running the guest */
    VM_STOP_HOST,     /* the host asked (signal, API) */
} VmStopReason;

/* Called on the control thread after vm_request_stop(). */
typedef void (*VmStopFunc)(Vm *vm, VmStopReason reason, const char *detail, void *opaque);

const char *vm_state_name(VmState s);
bool vm_state_can_transition(VmState from, VmState to);
const char *vm_stop_reason_name(VmStopReason r);

Vm *vm_new(Accel *accel, EventLoop *control, const VmConfig *cfg, VmStopFunc on_stop,
           void *opaque, GError **errp);
void vm_free(Vm *vm); /* stops vCPUs, unrealizes devices, frees memory */

/* Create the vCPUs (boot_vcpus of them); the arch sets them up afterwards. */
bool vm_create_vcpus(Vm *vm, GError **errp);
bool vm_start(Vm *vm, GError **errp);   /* CREATED -> RUNNING */
/* CREATED -> PAUSED: vCPU threads started but parked before their first
 * instruction, devices paused; vm_resume() runs the guest. A restore loads
 * the saved state in between. On failure, vm_free() the VM. */
bool vm_start_paused(Vm *vm, GError **errp);
bool vm_pause(Vm *vm, GError **errp);   /* RUNNING -> PAUSED */
bool vm_resume(Vm *vm, GError **errp);  /* PAUSED -> RUNNING */
bool vm_shutdown(Vm *vm, GError **errp); /* any -> SHUTDOWN: vCPUs stopped */
VmState vm_state(Vm *vm);

/* Thread-safe: record why the VM must stop and let the control thread act.
 * Only the first request counts. */
void vm_request_stop(Vm *vm, VmStopReason reason, const char *detail);
/* Thread-safe: the reason of the stop requested so far (VM_STOP_NONE if
 * none), for a thread that works on a running VM (live migration). */
VmStopReason vm_stop_requested(Vm *vm);

/* Accessors for the machine builder and devices. */
const VmConfig *vm_config(Vm *vm);
Accel *vm_accel(Vm *vm);
AccelVm *vm_accel_vm(Vm *vm);
GuestMemory *vm_memory(Vm *vm);
AddrSpace *vm_pio(Vm *vm);
AddrSpace *vm_mmio(Vm *vm);
IrqRouter *vm_irq(Vm *vm);
EventLoop *vm_control_loop(Vm *vm);
/* The device I/O thread's loop (role THREAD_ROLE_IO, named "io0"), started
 * on first use from the control thread; stopped after the devices are gone. */
EventLoop *vm_io_loop(Vm *vm, GError **errp);
unsigned vm_vcpu_count(Vm *vm);
Vcpu *vm_vcpu(Vm *vm, unsigned index);
/* The router is created by the machine (it knows the irqchip's pins). */
void vm_set_irq_router(Vm *vm, IrqRouter *router);

/* Device list (ordered by stage, then creation). */
void vm_attach_device(Vm *vm, Device *d);
void vm_detach_device(Vm *vm, Device *d);
Device *vm_find_device(Vm *vm, const char *id);
unsigned vm_device_count(Vm *vm);
Device *vm_device(Vm *vm, unsigned index);
/* Generate a unique id "<prefix><n>". */
char *vm_device_id_new(Vm *vm, const char *prefix);
void vm_reset_devices(Vm *vm);
/* The PTY a console backend of mode pty allocated, by the owning device's id
 * ("serial0": the UART; the virtio-console's id for config.console), so the
 * API can report it (vm.info config.serial/console.file). Set by the device
 * at realize; control thread only. NULL: none. */
void vm_set_console_pty(Vm *vm, const char *device_id, const char *path);
const char *vm_console_pty(Vm *vm, const char *device_id);
/* Log each vCPU's pc/sp/flags (debug level); vCPUs must be stopped or parked. */
void vm_log_vcpu_state(Vm *vm);
