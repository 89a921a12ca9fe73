/* The accelerator interface: the narrow set of operations the VMM needs from
 * a hypervisor. KVM (hypervisor/kvm/) is the production implementation;
 * tests/fakes/fake_accel.c records calls for unit tests.
 *
 * Register blocks use the KVM UAPI structs as their data types: KVM is the
 * only production backend and inventing a parallel set of structs would only
 * add copying. Operations return 0 or -errno (syscall layer, DESIGN §2.5). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Accel Accel;         /* an open hypervisor (/dev/kvm) */
typedef struct AccelVm AccelVm;     /* one VM */
typedef struct AccelVcpu AccelVcpu; /* one vCPU */

typedef enum {
    ACCEL_EXIT_NONE,
    ACCEL_EXIT_IO,           /* port I/O (x86) */
    ACCEL_EXIT_MMIO,         /* MMIO access outside any memory slot */
    ACCEL_EXIT_INTR,         /* KVM_RUN interrupted by a kick (signal / immediate_exit) */
    ACCEL_EXIT_HLT,          /* only without an in-kernel irqchip */
    ACCEL_EXIT_SHUTDOWN,     /* x86 triple fault: the machine resets */
    ACCEL_EXIT_SYSTEM_RESET, /* PSCI SYSTEM_RESET and friends */
    ACCEL_EXIT_SYSTEM_OFF,   /* PSCI SYSTEM_OFF */
    ACCEL_EXIT_GUEST_CRASH,
    ACCEL_EXIT_INTERNAL_ERROR, /* the accelerator could not emulate something */
    ACCEL_EXIT_FAIL_ENTRY,     /* the hardware refused to enter the guest */
    ACCEL_EXIT_UNKNOWN,
} AccelExitReason;

/* What KVM_RUN returned. data points into the shared run page: the handler
 * of a read fills it before the next run. */
typedef struct AccelExit {
    AccelExitReason reason;
    uint64_t addr;  /* port or guest-physical address */
    uint32_t size;  /* access size in bytes (1, 2, 4, 8) */
    uint32_t count; /* repetitions for string port I/O (data holds count*size bytes) */
    bool is_write;
    uint8_t *data;
    uint64_t hw_code; /* internal error suberror / entry failure reason / raw exit */
} AccelExit;

/* Flags of a memory slot. */
enum {
    ACCEL_MEM_READONLY = 1u << 0,
    ACCEL_MEM_LOG_DIRTY = 1u << 1,
};

/* One GSI routing entry: an interrupt-controller pin or an MSI message. */
typedef enum { ACCEL_ROUTE_IRQCHIP, ACCEL_ROUTE_MSI } AccelRouteKind;
typedef struct AccelRoute {
    uint32_t gsi;
    AccelRouteKind kind;
    union {
        struct {
            uint32_t chip; /* x86: 0 PIC master, 1 PIC slave, 2 IOAPIC; arm: 0 GIC */
            uint32_t pin;
        } irqchip;
        struct {
            uint64_t addr;
            uint32_t data;
            uint32_t devid; /* arm ITS device id; valid when has_devid */
            bool has_devid;
        } msi;
    };
} AccelRoute;

/* Register blocks moved as a whole. The size of each is fixed by the backend. */
typedef enum {
    ACCEL_REG_REGS,       /* struct kvm_regs */
    ACCEL_REG_SREGS,      /* struct kvm_sregs */
    ACCEL_REG_FPU,        /* struct kvm_fpu */
    ACCEL_REG_LAPIC,      /* struct kvm_lapic_state */
    ACCEL_REG_XSAVE,      /* struct kvm_xsave */
    ACCEL_REG_XCRS,       /* struct kvm_xcrs */
    ACCEL_REG_EVENTS,     /* struct kvm_vcpu_events */
    ACCEL_REG_MP_STATE,   /* struct kvm_mp_state */
    ACCEL_REG_DEBUGREGS,  /* struct kvm_debugregs */
    ACCEL_REG_COUNT
} AccelRegBlock;

/* VM-wide state blocks (in-kernel devices and clocks). */
typedef enum {
    ACCEL_VMSTATE_PIC_MASTER, /* struct kvm_irqchip, chip_id 0 */
    ACCEL_VMSTATE_PIC_SLAVE,  /* struct kvm_irqchip, chip_id 1 */
    ACCEL_VMSTATE_IOAPIC,     /* struct kvm_irqchip, chip_id 2 */
    ACCEL_VMSTATE_PIT,        /* struct kvm_pit_state2 */
    ACCEL_VMSTATE_CLOCK,      /* struct kvm_clock_data */
    ACCEL_VMSTATE_COUNT
} AccelVmState;

/* Arch platform description handed to vm_setup_platform(). */
typedef struct AccelPlatform {
    uint64_t x86_tss_gpa;          /* x86: 3 pages KVM needs for the TSS */
    uint64_t x86_identity_map_gpa; /* x86: 1 page for real-mode EPT identity map */
    bool x86_pit;                  /* create the in-kernel PIT */
    /* arm64: the in-kernel GICv3, initialized by vm_finalize_platform(). */
    uint64_t arm_gic_dist;         /* distributor frame */
    uint64_t arm_gic_redist;       /* redistributor region (one frame pair per vCPU) */
    uint64_t arm_gic_its;          /* ITS frames; 0: no ITS */
    uint32_t arm_gic_nr_irqs;      /* interrupt IDs incl. the 32 private ones */
} AccelPlatform;

/* arm64 vCPU features for vcpu_arm_init(). */
enum {
    ACCEL_ARM_VCPU_POWER_OFF = 1u << 0, /* start powered off (waits for PSCI CPU_ON) */
    ACCEL_ARM_VCPU_PMU = 1u << 1,       /* a PMUv3 (see vm_arm_has_pmu) */
};

/* The arm64 in-kernel interrupt controller devices (vm_arm_gic_attr). */
typedef enum { ACCEL_ARM_GIC, ACCEL_ARM_ITS } AccelArmGicDev;

/* A few registers, arch-neutral, for diagnostics (logs on a hang or failure). */
typedef struct VcpuRegSummary {
    uint64_t pc, sp, flags;
    uint64_t cr0, cr3; /* x86; 0 elsewhere */
    uint32_t mp_state;
} VcpuRegSummary;

typedef struct AccelOps {
    const char *name;
    void (*close)(Accel *accel);

    /* VM */
    int (*vm_create)(Accel *accel, AccelVm **out);
    void (*vm_destroy)(AccelVm *vm);
    int (*vm_setup_platform)(AccelVm *vm, const AccelPlatform *p); /* irqchip etc. */
    int (*vm_max_vcpus)(AccelVm *vm);
    int (*vm_max_memslots)(AccelVm *vm);
    int (*vm_set_memslot)(AccelVm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
                          uint32_t flags);
    /* Copy the dirty bitmap of a slot (one bit per 4 KiB page) and clear it. */
    int (*vm_get_dirty_log)(AccelVm *vm, uint32_t slot, uint64_t *bitmap);
    int (*vm_set_irq_line)(AccelVm *vm, uint32_t gsi, bool level);
    int (*vm_set_gsi_routing)(AccelVm *vm, const AccelRoute *routes, size_t n);
    int (*vm_signal_msi)(AccelVm *vm, uint64_t addr, uint32_t data, uint32_t devid, bool has_devid);
    int (*vm_irqfd)(AccelVm *vm, int fd, uint32_t gsi, int resample_fd, bool assign);
    int (*vm_ioeventfd)(AccelVm *vm, int fd, uint64_t addr, uint32_t len, bool pio,
                        bool has_datamatch, uint64_t datamatch, bool assign);
    int (*vm_get_state)(AccelVm *vm, AccelVmState which, void *buf, size_t size);
    int (*vm_set_state)(AccelVm *vm, AccelVmState which, const void *buf, size_t size);

    /* vCPU */
    int (*vcpu_create)(AccelVm *vm, uint32_t id, AccelVcpu **out);
    void (*vcpu_destroy)(AccelVcpu *vcpu);
    /* Enter the guest until an exit that needs userspace; -EINTR on a kick. */
    int (*vcpu_run)(AccelVcpu *vcpu, AccelExit *exit);
    /* Make the current or next vcpu_run return ACCEL_EXIT_INTR. Async-safe. */
    void (*vcpu_request_exit)(AccelVcpu *vcpu);
    /* Clear a pending request_exit (called by the vCPU thread itself). */
    void (*vcpu_clear_exit_request)(AccelVcpu *vcpu);
    int (*vcpu_get_regs)(AccelVcpu *vcpu, AccelRegBlock which, void *buf, size_t size);
    int (*vcpu_set_regs)(AccelVcpu *vcpu, AccelRegBlock which, const void *buf, size_t size);
    /* x86: struct kvm_msrs with nmsrs entries; returns the number processed. */
    int (*vcpu_get_msrs)(AccelVcpu *vcpu, void *kvm_msrs);
    int (*vcpu_set_msrs)(AccelVcpu *vcpu, const void *kvm_msrs);
    /* x86: struct kvm_cpuid2. */
    int (*vcpu_set_cpuid)(AccelVcpu *vcpu, const void *kvm_cpuid2);
    /* Diagnostics; the vCPU must not be running. */
    int (*vcpu_summary)(AccelVcpu *vcpu, VcpuRegSummary *out);

    /* The most vCPUs one VM may have (optional). */
    int (*max_vcpus)(Accel *accel);
    /* After every vCPU exists and is set up: finish the in-kernel platform
     * (arm64: initialize the vGIC and ITS, which freezes the vCPU count).
     * Optional. */
    int (*vm_finalize_platform)(AccelVm *vm);

    /* arm64 only (NULL elsewhere). */
    bool (*vm_arm_has_pmu)(AccelVm *vm);
    /* KVM_ARM_VCPU_INIT with the host's preferred target, PSCI 0.2+ and the
     * ACCEL_ARM_VCPU_* features in `features`. */
    int (*vcpu_arm_init)(AccelVcpu *vcpu, uint32_t features);
    /* Wire the PMU overflow interrupt (a PPI) and initialize the PMU; after
     * vm_finalize_platform(). */
    int (*vcpu_arm_pmu_init)(AccelVcpu *vcpu, uint32_t ppi);
    /* One register by its KVM ONE_REG id; val holds the id's size. */
    int (*vcpu_get_one_reg)(AccelVcpu *vcpu, uint64_t id, void *val);
    int (*vcpu_set_one_reg)(AccelVcpu *vcpu, uint64_t id, const void *val);

    /* arm64 snapshot/migration state (kvm_arm64_state.c; NULL elsewhere). */
    /* KVM_GET_REG_LIST: up to *n ids into ids; *n becomes the vCPU's count,
     * and -E2BIG says there was not room for all of them. */
    int (*vcpu_arm_reg_list)(AccelVcpu *vcpu, uint64_t *ids, uint32_t *n);
    /* KVM_GET/SET_VCPU_EVENTS: struct kvm_vcpu_events (pending SError,
     * external data abort). */
    int (*vcpu_arm_events)(AccelVcpu *vcpu, bool set, void *events, size_t size);
    /* KVM_GET/SET_DEVICE_ATTR on the in-kernel GIC or its ITS (val as the
     * attribute wants: u32 or u64, NULL for controls); -ENODEV when the VM
     * has no such device. */
    int (*vm_arm_gic_attr)(AccelVm *vm, AccelArmGicDev dev, bool set, uint32_t group,
                           uint64_t attr, void *val);
} AccelOps;

/* Every backend object starts with its ops, so callers need only the handle. */
struct Accel {
    const AccelOps *ops;
};
struct AccelVm {
    const AccelOps *ops;
};
struct AccelVcpu {
    const AccelOps *ops;
};

/* Register and state blocks with errors that name `what` ("local APIC"). */
bool accel_vcpu_get(AccelVcpu *v, AccelRegBlock which, const char *what, void *buf, size_t size,
                    GError **errp);
bool accel_vcpu_set(AccelVcpu *v, AccelRegBlock which, const char *what, const void *buf,
                    size_t size, GError **errp);
bool accel_vm_get(AccelVm *vm, AccelVmState which, const char *what, void *buf, size_t size,
                  GError **errp);
bool accel_vm_set(AccelVm *vm, AccelVmState which, const char *what, const void *buf, size_t size,
                  GError **errp);

/* Open the system's hypervisor. Fails with a clear message when /dev/kvm is
 * missing, inaccessible, or lacks a capability Nimbus needs. */
Accel *accel_open_kvm(GError **errp);
void accel_close(Accel *accel);

/* x86 only: the CPUID leaves the host+KVM support, as a g_malloc'd struct
 * kvm_cpuid2. */
void *accel_kvm_supported_cpuid(Accel *accel, GError **errp);
/* x86 only: indices of MSRs that must be saved for migration. */
GArray *accel_kvm_msr_index_list(Accel *accel, GError **errp);
