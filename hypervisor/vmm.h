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
} MachineOps;

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
/* SIGTERM presses the guest's power button (hard stop after
 * VMM_POWER_BUTTON_TIMEOUT_S or on a second signal); SIGINT/SIGHUP stop the
 * VM at once and end the loop with 128+signal. */
void vmm_watch_signals(Vmm *vmm);

/* Run the control loop until vmm_quit(); returns the exit status. */
int vmm_run(Vmm *vmm);
void vmm_quit(Vmm *vmm, int status);
