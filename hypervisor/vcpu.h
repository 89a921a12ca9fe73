/* vCPU threads: one thread per vCPU, named vcpuN, running a bare KVM_RUN loop
 * that dispatches port I/O and MMIO exits to the address spaces and reports
 * machine-level events (reset, power-off, failure) to its host (the Vm).
 *
 * Kick: the controller sets a request flag, sets the run page's
 * immediate_exit and sends a signal, so a vCPU leaves KVM_RUN promptly
 * whether it is inside the guest or about to enter it. Pause parks the thread
 * on a condition variable until resumed. */
#pragma once
#include "hypervisor/accel.h"
#include "hypervisor/addrspace.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Vcpu Vcpu;

typedef enum {
    VCPU_EVENT_RESET,    /* the guest asked for a reset (or triple-faulted) */
    VCPU_EVENT_POWEROFF, /* the guest powered off */
    VCPU_EVENT_CRASH,    /* the guest reported a crash */
    VCPU_EVENT_FAILED,   /* the accelerator could not run the guest */
} VcpuEvent;

/* What a vCPU needs from the machine; kept as an interface so vcpu.c does not
 * depend on vm.c. on_event is called from the vCPU thread; the vCPU parks
 * itself afterwards until resumed or stopped. */
typedef struct VcpuHost {
    AddrSpace *pio;
    AddrSpace *mmio;
    void (*on_event)(void *opaque, Vcpu *vcpu, VcpuEvent event, const char *detail);
    void *opaque;
} VcpuHost;

typedef struct VcpuStats {
    uint64_t exits_io, exits_mmio, exits_intr;
} VcpuStats;

Vcpu *vcpu_new(AccelVm *avm, uint32_t index, const VcpuHost *host, GError **errp);
void vcpu_free(Vcpu *v); /* stops the thread first */
AccelVcpu *vcpu_accel(Vcpu *v);
uint32_t vcpu_index(Vcpu *v);

/* Start the thread. With start_paused it parks before the first KVM_RUN. */
bool vcpu_start(Vcpu *v, bool start_paused, GError **errp);
/* Ask the vCPU to park, without waiting. */
void vcpu_request_pause(Vcpu *v);
/* Wait until the vCPU is parked (or its thread has ended). */
void vcpu_wait_parked(Vcpu *v);
void vcpu_resume(Vcpu *v);
/* Ask the thread to end and join it. Idempotent. */
void vcpu_stop(Vcpu *v);

/* Kernel thread id (for libvirt's vcpuinfo, affinity, seccomp); 0 before start. */
pid_t vcpu_tid(Vcpu *v);
void vcpu_stats(Vcpu *v, VcpuStats *out);
