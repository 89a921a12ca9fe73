/* The VM-wide arm64 state KVM keeps in the kernel, for snapshot and live
 * migration: the GICv3 distributor, every vCPU's redistributor and CPU
 * interface, the ITS, and the virtual counter; plus the machine's part of a
 * state stream (MachineOps.save_state/load_state).
 *
 * GIC and ITS registers go through KVM's device attributes (arm-vgic-v3.rst,
 * arm-vgic-its.rst); LPI pending bits and the ITS's device, collection and
 * interrupt translation tables live in guest RAM. KVM writes its cached
 * copy of them there when asked (KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES,
 * KVM_DEV_ARM_ITS_SAVE_TABLES), which must happen before guest memory is
 * sent: the "vgic" device (arm_vgic_ops) does it when the VM pauses, after
 * every other device has quiesced and before the final dirty-page pass of a
 * migration or the memory files of a snapshot. On restore the same tables
 * are read back (GICR_CTLR.EnableLPIs, KVM_DEV_ARM_ITS_RESTORE_TABLES) once
 * memory and the redistributors are in place.
 *
 * The counter: the guest's virtual counter continues from the saved value
 * plus the wall-clock time that passed since the save (at the counter's
 * frequency), so the guest's clocks, all derived from it, neither stop
 * during the downtime nor fall behind the world afterwards (as x86's
 * kvmclock does with KVM_CLOCK_REALTIME); it only ever moves forward. It is
 * set through KVM_REG_ARM_TIMER_CNT, which on Linux 6.1 moves the counter
 * offset of every vCPU of the VM (KVM_ARM_SET_COUNTER_OFFSET is 6.4+). */
#pragma once
#include "arch/aarch64/vcpu_state.h"
#include "hypervisor/accel.h"
#include "hypervisor/device.h"
#include "hypervisor/vm.h"
#include "migration/state.h"

#include <glib.h>
#include <stdint.h>

/* Interrupt IDs a GICv3 distributor may have (KVM: 64..1024, by 32). */
#define ARM_GIC_IRQS_MAX 1024u
#define ARM_ITS_BASER_COUNT 8u

typedef struct ArmItsState {
    uint64_t ctlr, iidr, cbaser, cwriter, creadr;
    uint64_t baser[ARM_ITS_BASER_COUNT];
} ArmItsState;

typedef struct ArmVmState {
    uint64_t counter;     /* the guest's virtual counter when saved */
    uint64_t realtime_ns; /* host CLOCK_REALTIME at the same moment */
    uint64_t counter_hz;  /* CNTFRQ_EL0 of the source host; 0: unknown */
    uint32_t nr_irqs;     /* interrupt IDs, private ones included */
    uint32_t gicd_ctlr;
    /* Distributor banks, indexed as the registers (entry n covers the
     * interrupt IDs of GICD_<reg>n); the private IDs' entries stay 0. */
    uint32_t igroupr[ARM_GIC_IRQS_MAX / 32];
    uint32_t igrpmodr[ARM_GIC_IRQS_MAX / 32];
    uint32_t isenabler[ARM_GIC_IRQS_MAX / 32];
    uint32_t ispendr[ARM_GIC_IRQS_MAX / 32];
    uint32_t isactiver[ARM_GIC_IRQS_MAX / 32];
    uint32_t level[ARM_GIC_IRQS_MAX / 32]; /* line levels of the SPIs */
    uint32_t ipriorityr[ARM_GIC_IRQS_MAX / 4];
    uint32_t icfgr[ARM_GIC_IRQS_MAX / 16];
    uint64_t irouter[ARM_GIC_IRQS_MAX];
    /* Subsection "arm64-vm/its", sent when the machine has an ITS. */
    bool has_its;
    ArmItsState its;
} ArmVmState;

/* Description "arm64-vm" (version 1). */
extern const StateDesc arm_vm_state_desc;
extern const StateDesc arm_vm_its_state_desc;
extern const StateDesc arm_its_state_desc;

/* The "vgic" device of the machine (stage IRQCHIP, no state of its own):
 * when the VM pauses it has KVM write the LPI pending tables and the ITS
 * tables into guest memory. Config: none (NULL). */
extern const DeviceOps arm_vgic_ops;
#define ARM_VGIC_DEVICE_ID "vgic"

/* Distributor, redistributors, CPU interfaces, ITS and counter of a VM whose
 * vCPUs are parked; vcpus[i].gic is filled for every vCPU. */
bool arm_vm_state_save(Vm *vm, ArmVmState *out, ArmVcpuState *vcpus, GError **errp);

/* Set them on a VM built from the same config, after guest memory and the
 * vCPUs' registers: distributor, redistributors and CPU interfaces, the
 * counter, then the ITS (its tables are read from guest memory and need
 * the redistributors). */
bool arm_vm_state_restore(Vm *vm, const ArmVmState *s, const ArmVcpuState *vcpus, GError **errp);

/* ---- the machine's part of a state stream ------------------------------------ */

/* Append "vcpuN" (arm_vcpu_state_desc) for every vCPU and "arm64-vm". */
bool arm_machine_state_save(Vm *vm, GByteArray *stream, GError **errp);
/* Load a complete stream holding exactly those sections into a VM built from
 * the same config whose vCPUs have not run; on failure discard the VM. */
bool arm_machine_state_load(Vm *vm, const uint8_t *buf, size_t len, GError **errp);
