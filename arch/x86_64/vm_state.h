/* The VM-wide x86_64 state KVM keeps in the kernel, for snapshot and live
 * migration: the two 8259 PICs and the IOAPIC (KVM_GET_IRQCHIP), the 8254
 * PIT (KVM_GET_PIT2, when the machine has one) and the KVM clock
 * (KVM_GET_CLOCK). As in vcpu_state.h the stream carries KVM's fixed-layout
 * little-endian UAPI structs as byte fields, validated after load.
 *
 * The clock: on restore the guest's clock continues from the saved value
 * plus the wall-clock time that passed since the save, so guest time is not
 * left behind by the downtime (a snapshot restored days later jumps ahead,
 * as a laptop resumed from suspend does). When the source kernel stamped the
 * value with host CLOCK_REALTIME (KVM_CLOCK_REALTIME, Linux 5.16+), the
 * destination kernel does the addition itself at KVM_SET_CLOCK, which is
 * the most exact; when the destination kernel does not take the flag we add
 * the elapsed time ourselves; without a stamp the saved value is set as is. */
#pragma once
#include "hypervisor/accel.h"
#include "hypervisor/vm.h"
#include "migration/state.h"

#include <glib.h>
#include <linux/kvm.h>
#include <stdbool.h>

typedef struct X86VmState {
    union {
        uint8_t pic_master[sizeof(struct kvm_irqchip)];
        struct kvm_irqchip kpic_master;
    };
    union {
        uint8_t pic_slave[sizeof(struct kvm_irqchip)];
        struct kvm_irqchip kpic_slave;
    };
    union {
        uint8_t ioapic[sizeof(struct kvm_irqchip)];
        struct kvm_irqchip kioapic;
    };
    union {
        uint8_t clock[sizeof(struct kvm_clock_data)];
        struct kvm_clock_data kclock;
    };
    /* Subsection "x86-vm/pit", sent when the machine has an in-kernel PIT. */
    bool has_pit;
    union {
        uint8_t pit[sizeof(struct kvm_pit_state2)];
        struct kvm_pit_state2 kpit;
    };
} X86VmState;

/* Description "x86-vm" (version 1). */
extern const StateDesc x86_vm_state_desc;
extern const StateDesc x86_vm_pit_state_desc;

/* Read the in-kernel irqchip, PIT and clock of a VM whose vCPUs are parked. */
bool x86_vm_state_save(AccelVm *vm, X86VmState *out, GError **errp);
/* Set them on a VM built from the same config. Call after the vCPUs were
 * restored: the IOAPIC re-delivers its pending edge interrupts to the
 * restored LAPICs, and the clock comes last so that the kvmclock pages of
 * every vCPU are refreshed from it. */
bool x86_vm_state_restore(AccelVm *vm, const X86VmState *s, GError **errp);

/* ---- the machine's part of a state stream (MachineOps.save_state/load_state) */

/* Append section "vcpuN" (x86_vcpu_state_desc) for every vCPU and "x86-vm"
 * (x86_vm_state_desc) to `stream`, begun with state_stream_begin() and not
 * yet finished. The VM is paused: its vCPUs are parked. */
bool x86_machine_state_save(Vm *vm, GByteArray *stream, GError **errp);
/* Load a complete stream holding exactly those sections (every vCPU's and
 * "x86-vm"; anything else is refused) into a VM built from the same config
 * whose vCPUs have not run or are parked, then set it into KVM: vCPUs in
 * index order, then the irqchips, PIT and clock. On failure the VM is
 * half-loaded and must be discarded. */
bool x86_machine_state_load(Vm *vm, const uint8_t *buf, size_t len, GError **errp);
