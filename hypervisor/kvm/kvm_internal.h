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

typedef struct KvmVm {
    AccelVm base;
    KvmAccel *accel;
    int fd;
    int gic_fd, its_fd; /* arm64 in-kernel devices; -1: none */
} KvmVm;

typedef struct KvmVcpu {
    AccelVcpu base;
    KvmVm *vm;
    int fd;
    uint32_t id;
    struct kvm_run *run;
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
