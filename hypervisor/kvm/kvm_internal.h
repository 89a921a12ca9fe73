/* Private to the KVM backend: the structs behind the opaque Accel* types and
 * the per-arch hooks (kvm_x86.c / kvm_arm64.c). */
#pragma once
#include "hypervisor/accel.h"

#include <linux/kvm.h>

typedef struct KvmAccel {
    Accel base;
    int fd;             /* /dev/kvm */
    size_t run_size;    /* KVM_GET_VCPU_MMAP_SIZE */
    int max_vcpus;
    int max_memslots;
} KvmAccel;

typedef struct KvmDirtyRing KvmDirtyRing;

typedef struct KvmVm {
    AccelVm base;
    KvmAccel *accel;
    int fd;
    int gic_fd, its_fd; /* arm64 in-kernel devices; -1: none */
    KvmDirtyRing *ring; /* NULL: dirty pages come from KVM_GET_DIRTY_LOG */
} KvmVm;

typedef struct KvmVcpu {
    AccelVcpu base;
    KvmVm *vm;
    int fd;
    uint32_t id;
    struct kvm_run *run;
    struct kvm_dirty_gfn *ring; /* this vCPU's dirty ring; NULL without one */
    uint32_t ring_next;         /* next entry to harvest (free-running) */
} KvmVcpu;

/* An ioctl number per register/state block and its size (arch tables). */
typedef struct KvmBlock {
    unsigned long get, set;
    size_t size;
    uint32_t chip_id; /* for KVM_GET/SET_IRQCHIP blocks; otherwise unused */
} KvmBlock;

/* ioctl that retries on EINTR where that is safe; returns >= 0 or -errno. */
int kvm_ioctl(int fd, unsigned long req, void *arg);

/* A capability by number and name (KVM_CAP_<name>). */
typedef struct KvmCap {
    int cap;
    const char *name;
} KvmCap;
/* Fails naming the first of caps that /dev/kvm lacks. */
bool kvm_require_caps(KvmAccel *k, const KvmCap *caps, size_t n, GError **errp);

/* The dirty ring (kvm_dirty_ring.c). enable() before any vCPU exists; it
 * logs which dirty-page tracking the VM uses. The rest are no-ops (add: 0)
 * without a ring; collect() and get_log() need one. */
void kvm_dirty_ring_enable(KvmVm *vm);
void kvm_dirty_ring_free(KvmVm *vm);
int kvm_dirty_ring_vcpu_add(KvmVcpu *c);
void kvm_dirty_ring_vcpu_remove(KvmVcpu *c);
void kvm_dirty_ring_slot_set(KvmVm *vm, uint32_t slot, uint64_t size, bool log_dirty);
/* Harvest every vCPU's ring and reset them (also on a ring-full exit). */
int kvm_dirty_ring_collect(KvmVm *vm);
/* vm_get_dirty_log from the rings: copy and clear the slot's pages. */
int kvm_dirty_ring_get_log(KvmVm *vm, uint32_t slot, uint64_t *bitmap);

/* arch hooks */
const KvmBlock *kvm_arch_reg_block(AccelRegBlock which);
const KvmBlock *kvm_arch_vm_block(AccelVmState which);
int kvm_arch_setup_platform(KvmVm *vm, const AccelPlatform *p);
bool kvm_arch_check_caps(KvmAccel *k, GError **errp);
int kvm_arch_vcpu_summary(KvmVcpu *v, VcpuRegSummary *out);
/* The KVM_IRQ_LINE number of a GSI (arm64 encodes the interrupt type). */
uint32_t kvm_arch_irq_line(uint32_t gsi);

#ifdef KVM_REG_ARM_CORE
/* arm64-only operations (kvm_arm64.c). */
int kvm_arm_vm_finalize_platform(AccelVm *vm);
bool kvm_arm_vm_has_pmu(AccelVm *vm);
int kvm_arm_vcpu_init(AccelVcpu *vcpu, uint32_t features);
int kvm_arm_vcpu_pmu_init(AccelVcpu *vcpu, uint32_t ppi);
int kvm_arm_vcpu_get_one_reg(AccelVcpu *vcpu, uint64_t id, void *val);
int kvm_arm_vcpu_set_one_reg(AccelVcpu *vcpu, uint64_t id, const void *val);
/* State for snapshot and migration (kvm_arm64_state.c). */
int kvm_arm_vcpu_reg_list(AccelVcpu *vcpu, uint64_t *ids, uint32_t *n);
int kvm_arm_vcpu_events(AccelVcpu *vcpu, bool set, void *events, size_t size);
int kvm_arm_vm_gic_attr(AccelVm *vm, AccelArmGicDev dev, bool set, uint32_t group, uint64_t attr,
                        void *val);
#endif
