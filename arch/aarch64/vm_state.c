/* arm64 VM-wide in-kernel state: description, save and restore (see
 * vm_state.h). Register offsets and encodings are the GICv3 architecture's;
 * attribute groups are KVM's (checked against <asm/kvm.h> on arm64). */
#include "arch/aarch64/vm_state.h"

#include "hypervisor/error.h"
#include "migration/stream.h"

#include <errno.h>
#include <string.h>

/* KVM device attribute groups and controls of the vGICv3 and ITS. */
#define GRP_DIST_REGS 1u
#define GRP_NR_IRQS 3u
#define GRP_CTRL 4u
#define GRP_REDIST_REGS 5u
#define GRP_CPU_SYSREGS 6u
#define GRP_LEVEL_INFO 7u
#define GRP_ITS_REGS 8u
#define CTRL_ITS_SAVE_TABLES 1u
#define CTRL_ITS_RESTORE_TABLES 2u
#define CTRL_SAVE_PENDING_TABLES 3u
#define LEVEL_INFO_LINE_LEVEL_SHIFT 10

#ifdef __aarch64__
#include <linux/kvm.h>
_Static_assert(GRP_DIST_REGS == KVM_DEV_ARM_VGIC_GRP_DIST_REGS && GRP_NR_IRQS == KVM_DEV_ARM_VGIC_GRP_NR_IRQS && GRP_CTRL == KVM_DEV_ARM_VGIC_GRP_CTRL &&
               GRP_REDIST_REGS == KVM_DEV_ARM_VGIC_GRP_REDIST_REGS &&
               GRP_CPU_SYSREGS == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS &&
               GRP_LEVEL_INFO == KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO && GRP_ITS_REGS == KVM_DEV_ARM_VGIC_GRP_ITS_REGS,
               "vGIC attribute groups");
_Static_assert(CTRL_ITS_SAVE_TABLES == KVM_DEV_ARM_ITS_SAVE_TABLES &&
               CTRL_ITS_RESTORE_TABLES == KVM_DEV_ARM_ITS_RESTORE_TABLES &&
               CTRL_SAVE_PENDING_TABLES == KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES &&
               LEVEL_INFO_LINE_LEVEL_SHIFT == KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT,
               "vGIC controls");
#endif

/* Distributor */
#define GICD_CTLR 0x0000u
#define GICD_IGROUPR 0x0080u
#define GICD_ISENABLER 0x0100u
#define GICD_ICENABLER 0x0180u
#define GICD_ISPENDR 0x0200u
#define GICD_ICPENDR 0x0280u
#define GICD_ISACTIVER 0x0300u
#define GICD_ICACTIVER 0x0380u
#define GICD_IPRIORITYR 0x0400u
#define GICD_ICFGR 0x0c00u
#define GICD_IGRPMODR 0x0d00u
#define GICD_IROUTER 0x6000u
/* Redistributor: RD_base, then SGI_base 64 KiB above it */
#define GICR_CTLR 0x0000u
#define GICR_PROPBASER 0x0070u
#define GICR_PENDBASER 0x0078u
#define GICR_SGI 0x10000u
/* ITS */
#define GITS_CTLR 0x0000u
#define GITS_IIDR 0x0004u
#define GITS_CBASER 0x0080u
#define GITS_CWRITER 0x0088u
#define GITS_CREADR 0x0090u
#define GITS_BASER 0x0100u
/* CPU interface */
#define ICC_PMR_EL1 ARM_SYSREG_ENC(3, 0, 4, 6, 0)
#define ICC_BPR0_EL1 ARM_SYSREG_ENC(3, 0, 12, 8, 3)
#define ICC_AP0R_EL1(n) ARM_SYSREG_ENC(3, 0, 12, 8, 4 + (n))
#define ICC_AP1R_EL1(n) ARM_SYSREG_ENC(3, 0, 12, 9, (n))
#define ICC_BPR1_EL1 ARM_SYSREG_ENC(3, 0, 12, 12, 3)
#define ICC_CTLR_EL1 ARM_SYSREG_ENC(3, 0, 12, 12, 4)
#define ICC_SRE_EL1 ARM_SYSREG_ENC(3, 0, 12, 12, 5)
#define ICC_IGRPEN0_EL1 ARM_SYSREG_ENC(3, 0, 12, 12, 6)
#define ICC_IGRPEN1_EL1 ARM_SYSREG_ENC(3, 0, 12, 12, 7)

#define NS_PER_S 1000000000ull

/* ---- description ----------------------------------------------------------- */

static const StateField its_fields[] = {
    STATE_U64(ArmItsState, ctlr, 1),
    STATE_U64(ArmItsState, iidr, 2),
    STATE_U64(ArmItsState, cbaser, 3),
    STATE_U64(ArmItsState, cwriter, 4),
    STATE_U64(ArmItsState, creadr, 5),
    STATE_U64_ARRAY(ArmItsState, baser, 6),
    STATE_END,
};

const StateDesc arm_its_state_desc = {
    .name = "arm64-its",
    .version = 1,
    .min_version = 1,
    .size = sizeof(ArmItsState),
    .fields = its_fields,
};

static const StateField vm_its_fields[] = {
    STATE_BOOL(ArmVmState, has_its, 1),
    STATE_STRUCT(ArmVmState, its, 2, &arm_its_state_desc),
    STATE_END,
};

const StateDesc arm_vm_its_state_desc = {
    .name = "arm64-vm/its",
    .version = 1,
    .min_version = 1,
    .size = sizeof(ArmVmState),
    .fields = vm_its_fields,
};

static bool its_needed(const void *obj)
{
    return ((const ArmVmState *)obj)->has_its;
}

static bool vm_post_load(void *obj, unsigned version, GError **errp)
{
    const ArmVmState *s = obj;
    if (s->nr_irqs < 64 || s->nr_irqs % 32) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID,
                    "arm64-vm: %u interrupt IDs (KVM takes 64..1024, by 32)", s->nr_irqs);
        return false;
    }
    return true;
}

static const StateField vm_fields[] = {
    STATE_U64(ArmVmState, counter, 1),
    STATE_U64(ArmVmState, realtime_ns, 2),
    STATE_U64(ArmVmState, counter_hz, 3),
    STATE_U32_MAX(ArmVmState, nr_irqs, 4, ARM_GIC_IRQS_MAX),
    STATE_U32(ArmVmState, gicd_ctlr, 5),
    STATE_U32_ARRAY(ArmVmState, igroupr, 6),
    STATE_U32_ARRAY(ArmVmState, igrpmodr, 7),
    STATE_U32_ARRAY(ArmVmState, isenabler, 8),
    STATE_U32_ARRAY(ArmVmState, ispendr, 9),
    STATE_U32_ARRAY(ArmVmState, isactiver, 10),
    STATE_U32_ARRAY(ArmVmState, level, 11),
    STATE_U32_ARRAY(ArmVmState, ipriorityr, 12),
    STATE_U32_ARRAY(ArmVmState, icfgr, 13),
    STATE_U64_ARRAY(ArmVmState, irouter, 14),
    STATE_END,
};

static const StateSection vm_sections[] = {
    { &arm_vm_its_state_desc, its_needed, 0 },
    { NULL },
};

const StateDesc arm_vm_state_desc = {
    .name = "arm64-vm",
    .version = 1,
    .min_version = 1,
    .size = sizeof(ArmVmState),
    .fields = vm_fields,
    .sections = vm_sections,
    .post_load = vm_post_load,
};

/* ---- attribute access ---------------------------------------------------------- */

/* One GIC or ITS attribute; errors name the register. */
typedef struct GicIo {
    AccelVm *vm;
    AccelArmGicDev dev;
    bool set;
    GError **errp;
} GicIo;

static bool attr_io(GicIo *io, uint32_t group, uint64_t attr, void *val, const char *what)
{
    int r = io->vm->ops->vm_arm_gic_attr(io->vm, io->dev, io->set, group, attr, val);
    if (r < 0) {
        error_set_errno(io->errp, r, "cannot %s the %s's %s (attribute %#" G_GINT64_MODIFIER "x)",
                        io->set ? "restore" : "read", io->dev == ACCEL_ARM_ITS ? "ITS" : "GIC", what,
                        attr);
        return false;
    }
    return true;
}

static bool reg32(GicIo *io, uint32_t group, uint64_t attr, uint32_t *val, const char *what)
{
    return attr_io(io, group, attr, val, what);
}

/* A 64-bit GIC register through its two 32-bit halves, as KVM moves them. */
static bool reg64_halves(GicIo *io, uint32_t group, uint64_t attr, uint64_t *val, const char *what)
{
    uint32_t lo = (uint32_t)*val, hi = (uint32_t)(*val >> 32);
    if (!reg32(io, group, attr, &lo, what) || !reg32(io, group, attr + 4, &hi, what))
        return false;
    *val = ((uint64_t)hi << 32) | lo;
    return true;
}

/* A write-1-to-set bank: on restore clear every bit first (through the
 * write-1-to-clear twin) so that exactly the saved ones are set. */
static bool w1s_bank(GicIo *io, uint32_t group, uint64_t set_attr, uint64_t clear_attr, uint32_t *val,
                     const char *what)
{
    if (io->set) {
        uint32_t all = ~0u;
        GicIo clear = *io;
        if (!reg32(&clear, group, clear_attr, &all, what))
            return false;
    }
    return reg32(io, group, set_attr, val, what);
}

static uint64_t vcpu_mpidr_attr(uint64_t mpidr)
{
    /* Aff3 (MPIDR bits 39:32) next to Aff2..Aff0, in attribute bits 63:32. */
    uint64_t aff = ((mpidr >> 8) & 0xff000000ull) | (mpidr & 0xffffffull);
    return aff << 32;
}

static bool read_mpidr(AccelVcpu *v, uint64_t *attr, GError **errp)
{
    uint64_t mpidr = 0;
    int r = v->ops->vcpu_get_one_reg(v, ARM_ONE_REG_MPIDR_EL1, &mpidr);
    if (r < 0) {
        error_set_errno(errp, r, "cannot read the vCPU's MPIDR_EL1");
        return false;
    }
    *attr = vcpu_mpidr_attr(mpidr);
    return true;
}

/* ---- distributor ------------------------------------------------------------------ */

static bool dist_io(GicIo *io, uint64_t mp0, ArmVmState *s)
{
    const uint32_t n = s->nr_irqs;
    const uint32_t g = GRP_DIST_REGS;
    /* Configuration before state: whether a line is level-triggered
     * decides what its pending bit means. Private IDs (0-31) are the
     * redistributors'. */
    for (uint32_t i = 1; i < n / 32; i++)
        if (!reg32(io, g, GICD_IGROUPR + 4 * i, &s->igroupr[i], "GICD_IGROUPR") ||
            !reg32(io, g, GICD_IGRPMODR + 4 * i, &s->igrpmodr[i], "GICD_IGRPMODR"))
            return false;
    for (uint32_t i = 2; i < n / 16; i++)
        if (!reg32(io, g, GICD_ICFGR + 4 * i, &s->icfgr[i], "GICD_ICFGR"))
            return false;
    for (uint32_t i = 8; i < n / 4; i++)
        if (!reg32(io, g, GICD_IPRIORITYR + 4 * i, &s->ipriorityr[i], "GICD_IPRIORITYR"))
            return false;
    for (uint32_t i = 32; i < n; i++)
        if (!reg64_halves(io, g, GICD_IROUTER + 8 * i, &s->irouter[i], "GICD_IROUTER"))
            return false;
    for (uint32_t i = 1; i < n / 32; i++) {
        /* Line levels are addressed through a vCPU, any will do. */
        uint64_t level_attr = mp0 | ((uint64_t)0 << LEVEL_INFO_LINE_LEVEL_SHIFT) | (32 * i);
        if (!reg32(io, GRP_LEVEL_INFO, level_attr, &s->level[i], "line levels") ||
            !w1s_bank(io, g, GICD_ISPENDR + 4 * i, GICD_ICPENDR + 4 * i, &s->ispendr[i], "GICD_ISPENDR") ||
            !w1s_bank(io, g, GICD_ISACTIVER + 4 * i, GICD_ICACTIVER + 4 * i, &s->isactiver[i],
                      "GICD_ISACTIVER") ||
            !w1s_bank(io, g, GICD_ISENABLER + 4 * i, GICD_ICENABLER + 4 * i, &s->isenabler[i],
                      "GICD_ISENABLER"))
            return false;
    }
    return reg32(io, g, GICD_CTLR, &s->gicd_ctlr, "GICD_CTLR");
}

/* ---- redistributor and CPU interface ------------------------------------------------- */

static bool redist_io(GicIo *io, uint64_t mp, ArmGicCpuState *c)
{
    const uint32_t g = GRP_REDIST_REGS;
    /* The LPI tables' addresses before EnableLPIs (ignored once set). */
    if (!reg64_halves(io, g, mp | GICR_PROPBASER, &c->propbaser, "GICR_PROPBASER") ||
        !reg64_halves(io, g, mp | GICR_PENDBASER, &c->pendbaser, "GICR_PENDBASER") ||
        !reg32(io, g, mp | (GICR_SGI + GICD_IGROUPR), &c->igroupr0, "GICR_IGROUPR0") ||
        !reg32(io, g, mp | (GICR_SGI + GICD_IGRPMODR), &c->igrpmodr0, "GICR_IGRPMODR0") ||
        !reg32(io, g, mp | (GICR_SGI + GICD_ICFGR + 4), &c->icfgr1, "GICR_ICFGR1"))
        return false;
    for (uint32_t i = 0; i < G_N_ELEMENTS(c->ipriorityr); i++)
        if (!reg32(io, g, mp | (GICR_SGI + GICD_IPRIORITYR + 4 * i), &c->ipriorityr[i], "GICR_IPRIORITYR"))
            return false;
    return w1s_bank(io, g, mp | (GICR_SGI + GICD_ISPENDR), mp | (GICR_SGI + GICD_ICPENDR), &c->ispendr0,
                    "GICR_ISPENDR0") &&
           w1s_bank(io, g, mp | (GICR_SGI + GICD_ISACTIVER), mp | (GICR_SGI + GICD_ICACTIVER),
                    &c->isactiver0, "GICR_ISACTIVER0") &&
           w1s_bank(io, g, mp | (GICR_SGI + GICD_ISENABLER), mp | (GICR_SGI + GICD_ICENABLER),
                    &c->isenabler0, "GICR_ISENABLER0") &&
           /* Last: enabling LPIs makes KVM read the pending table. */
           reg32(io, g, mp | GICR_CTLR, &c->ctlr, "GICR_CTLR");
}

/* ICC_AP0R/AP1R registers implemented: 1, 2 or 4 for 5, 6 or 7 priority
 * bits (ICC_CTLR_EL1.PRIbits is that number minus one). */
static uint32_t apr_count(uint64_t icc_ctlr)
{
    uint32_t bits = (uint32_t)((icc_ctlr >> 8) & 7) + 1;
    return bits >= 7 ? 4 : bits == 6 ? 2 : 1;
}

static bool cpuif_io(GicIo *io, uint64_t mp, ArmGicCpuState *c)
{
    const uint32_t g = GRP_CPU_SYSREGS;
    /* ICC_CTLR_EL1 first: its PRIbits say how many APRs there are. */
    if (!attr_io(io, g, mp | ICC_SRE_EL1, &c->icc_sre, "ICC_SRE_EL1") ||
        !attr_io(io, g, mp | ICC_CTLR_EL1, &c->icc_ctlr, "ICC_CTLR_EL1") ||
        !attr_io(io, g, mp | ICC_PMR_EL1, &c->icc_pmr, "ICC_PMR_EL1") ||
        !attr_io(io, g, mp | ICC_BPR0_EL1, &c->icc_bpr0, "ICC_BPR0_EL1") ||
        !attr_io(io, g, mp | ICC_BPR1_EL1, &c->icc_bpr1, "ICC_BPR1_EL1"))
        return false;
    for (uint32_t i = 0; i < apr_count(c->icc_ctlr); i++)
        if (!attr_io(io, g, mp | ICC_AP0R_EL1(i), &c->icc_ap0r[i], "ICC_AP0R_EL1") ||
            !attr_io(io, g, mp | ICC_AP1R_EL1(i), &c->icc_ap1r[i], "ICC_AP1R_EL1"))
            return false;
    return attr_io(io, g, mp | ICC_IGRPEN0_EL1, &c->icc_igrpen0, "ICC_IGRPEN0_EL1") &&
           attr_io(io, g, mp | ICC_IGRPEN1_EL1, &c->icc_igrpen1, "ICC_IGRPEN1_EL1");
}

/* ---- ITS --------------------------------------------------------------------------- */

/* The order arm-vgic-its.rst prescribes: IIDR (the ABI revision), CBASER
 * (which resets CREADR), the other registers, the tables, CTLR last. */
static bool its_io(GicIo *io, ArmItsState *t)
{
    const uint32_t g = GRP_ITS_REGS;
    if (!attr_io(io, g, GITS_IIDR, &t->iidr, "GITS_IIDR") ||
        !attr_io(io, g, GITS_CBASER, &t->cbaser, "GITS_CBASER") ||
        !attr_io(io, g, GITS_CREADR, &t->creadr, "GITS_CREADR") ||
        !attr_io(io, g, GITS_CWRITER, &t->cwriter, "GITS_CWRITER"))
        return false;
    for (uint32_t i = 0; i < ARM_ITS_BASER_COUNT; i++) {
        /* Tables KVM does not implement read as 0; leave them alone. */
        if (io->set && !t->baser[i])
            continue;
        if (!attr_io(io, g, GITS_BASER + 8 * i, &t->baser[i], "GITS_BASER"))
            return false;
    }
    if (io->set && !attr_io(io, GRP_CTRL, CTRL_ITS_RESTORE_TABLES, NULL, "tables"))
        return false;
    return attr_io(io, g, GITS_CTLR, &t->ctlr, "GITS_CTLR");
}

/* ---- counter ------------------------------------------------------------------------ */

static uint64_t host_counter_hz(void)
{
#ifdef __aarch64__
    uint64_t hz;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
    return hz;
#else
    return 0;
#endif
}

/* The saved count advanced by the wall time since the save. */
static uint64_t counter_now(const ArmVmState *s)
{
    uint64_t now = (uint64_t)g_get_real_time() * 1000u;
    if (!s->counter_hz || now <= s->realtime_ns)
        return s->counter;
    uint64_t ns = now - s->realtime_ns;
    return s->counter + ns / NS_PER_S * s->counter_hz + ns % NS_PER_S * s->counter_hz / NS_PER_S;
}

static bool counter_restore(Vm *vm, const ArmVmState *s, GError **errp)
{
    uint64_t hz = host_counter_hz();
    if (hz && s->counter_hz && hz != s->counter_hz)
        g_warning("the counter runs at %" G_GUINT64_FORMAT " Hz here and ran at %" G_GUINT64_FORMAT
                  " Hz where the VM was saved; the guest's clocks will drift",
                  hz, s->counter_hz);
    uint64_t cnt = counter_now(s);
    /* On 6.1 each write moves the whole VM's offset; writing every vCPU
     * also covers kernels that keep one offset per vCPU. */
    for (unsigned i = 0; i < vm_vcpu_count(vm); i++) {
        AccelVcpu *v = vcpu_accel(vm_vcpu(vm, i));
        int r = v->ops->vcpu_set_one_reg(v, ARM_ONE_REG_TIMER_CNT, &cnt);
        if (r < 0) {
            error_set_errno(errp, r, "vCPU %u: cannot set the virtual counter", i);
            return false;
        }
    }
    return true;
}

/* ---- save / restore ------------------------------------------------------------------ */

static bool gic_io(Vm *vm, GicIo *io, ArmVmState *s, ArmVcpuState *vcpus)
{
    uint64_t mp0;
    if (!read_mpidr(vcpu_accel(vm_vcpu(vm, 0)), &mp0, io->errp) || !dist_io(io, mp0, s))
        return false;
    for (unsigned i = 0; i < vm_vcpu_count(vm); i++) {
        uint64_t mp;
        if (!read_mpidr(vcpu_accel(vm_vcpu(vm, i)), &mp, io->errp) || !redist_io(io, mp, &vcpus[i].gic) ||
            !cpuif_io(io, mp, &vcpus[i].gic)) {
            g_prefix_error(io->errp, "vCPU %u: ", i);
            return false;
        }
    }
    return true;
}

typedef struct ArmVgic {
    Device dev;
    GError *flush_error; /* why the last pause could not write the tables */
} ArmVgic;

bool arm_vm_state_save(Vm *vm, ArmVmState *out, ArmVcpuState *vcpus, GError **errp)
{
    memset(out, 0, sizeof(*out));
    AccelVm *avm = vm_accel_vm(vm);
    ArmVgic *g = DEVICE_CAST(ArmVgic, vm_find_device(vm, ARM_VGIC_DEVICE_ID));
    if (!g) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "the machine has no '%s' device",
                    ARM_VGIC_DEVICE_ID);
        return false;
    }
    if (g->flush_error) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED,
                    "the GIC's tables could not be written to guest memory: %s", g->flush_error->message);
        return false;
    }
    uint32_t nr = 0;
    int r = avm->ops->vm_arm_gic_attr(avm, ACCEL_ARM_GIC, false, GRP_NR_IRQS, 0, &nr);
    if (r < 0) {
        error_set_errno(errp, r, "cannot read the GIC's interrupt count");
        return false;
    }
    if (nr < 64 || nr > ARM_GIC_IRQS_MAX || nr % 32) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the GIC reports %u interrupt IDs", nr);
        return false;
    }
    out->nr_irqs = nr;
    GicIo io = { avm, ACCEL_ARM_GIC, false, errp };
    if (!gic_io(vm, &io, out, vcpus))
        return false;
    GicIo its = { avm, ACCEL_ARM_ITS, false, errp };
    uint64_t iidr;
    r = avm->ops->vm_arm_gic_attr(avm, ACCEL_ARM_ITS, false, GRP_ITS_REGS, GITS_IIDR, &iidr);
    if (r != -ENODEV) {
        out->has_its = true;
        if (!its_io(&its, &out->its))
            return false;
    }
    /* Last: the closer to the pause, the less the guest's clock is ahead. */
    AccelVcpu *v0 = vcpu_accel(vm_vcpu(vm, 0));
    r = v0->ops->vcpu_get_one_reg(v0, ARM_ONE_REG_TIMER_CNT, &out->counter);
    if (r < 0) {
        error_set_errno(errp, r, "cannot read the virtual counter");
        return false;
    }
    out->realtime_ns = (uint64_t)g_get_real_time() * 1000u;
    out->counter_hz = host_counter_hz();
    return true;
}

bool arm_vm_state_restore(Vm *vm, const ArmVmState *s, const ArmVcpuState *vcpus, GError **errp)
{
    AccelVm *avm = vm_accel_vm(vm);
    uint32_t nr = 0;
    int r = avm->ops->vm_arm_gic_attr(avm, ACCEL_ARM_GIC, false, GRP_NR_IRQS, 0, &nr);
    if (r < 0) {
        error_set_errno(errp, r, "cannot read the GIC's interrupt count");
        return false;
    }
    if (nr != s->nr_irqs) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_MISMATCH,
                    "the saved GIC has %u interrupt IDs, this machine's %u", s->nr_irqs, nr);
        return false;
    }
    /* The io functions write from the structs they would read into. */
    g_autofree ArmVmState *w = g_memdup2(s, sizeof(*s));
    g_autofree ArmVcpuState *wv = g_memdup2(vcpus, sizeof(*vcpus) * vm_vcpu_count(vm));
    GicIo io = { avm, ACCEL_ARM_GIC, true, errp };
    if (!gic_io(vm, &io, w, wv) || !counter_restore(vm, s, errp))
        return false;
    uint64_t iidr;
    bool have_its = avm->ops->vm_arm_gic_attr(avm, ACCEL_ARM_ITS, false, GRP_ITS_REGS, GITS_IIDR, &iidr) != -ENODEV;
    if (have_its != s->has_its) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_MISMATCH, "the saved machine %s an ITS, this one %s",
                    s->has_its ? "has" : "has no", have_its ? "has" : "has none");
        return false;
    }
    GicIo its = { avm, ACCEL_ARM_ITS, true, errp };
    return !s->has_its || its_io(&its, &w->its);
}

/* ---- the vgic device: tables to guest memory on pause ------------------------------------ */

/* Never fails the pause itself (a plain vm.pause must work whatever the
 * guest put in its GIC); a snapshot or migration refuses later instead. */
static bool vgic_pause(Device *d, GError **errp)
{
    ArmVgic *g = DEVICE_CAST(ArmVgic, d);
    AccelVm *avm = vm_accel_vm(d->vm);
    g_clear_error(&g->flush_error);
    int r = avm->ops->vm_arm_gic_attr(avm, ACCEL_ARM_GIC, true, GRP_CTRL, CTRL_SAVE_PENDING_TABLES, NULL);
    const char *what = "LPI pending tables";
    if (r >= 0) {
        r = avm->ops->vm_arm_gic_attr(avm, ACCEL_ARM_ITS, true, GRP_CTRL, CTRL_ITS_SAVE_TABLES, NULL);
        what = "ITS tables";
        if (r == -ENODEV)
            r = 0;
    }
    if (r < 0) {
        error_set_errno(&g->flush_error, r, "cannot write the %s", what);
        g_warning("vgic: %s", g->flush_error->message);
    }
    return true;
}

static void vgic_unrealize(Device *d)
{
    g_clear_error(&DEVICE_CAST(ArmVgic, d)->flush_error);
}

const DeviceOps arm_vgic_ops = {
    .type = "arm-vgic",
    .instance_size = sizeof(ArmVgic),
    .stage = DEVICE_STAGE_IRQCHIP,
    .pause = vgic_pause,
    .unrealize = vgic_unrealize,
};

/* ---- the machine's sections ------------------------------------------------------------ */

#define VM_SECTION_ID "arm64-vm"

bool arm_machine_state_save(Vm *vm, GByteArray *stream, GError **errp)
{
    unsigned n = vm_vcpu_count(vm);
    g_autofree ArmVcpuState *vs = g_new0(ArmVcpuState, n);
    for (unsigned i = 0; i < n; i++) {
        if (!arm_vcpu_state_save(vcpu_accel(vm_vcpu(vm, i)), &vs[i], errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
    }
    g_autofree ArmVmState *ms = g_new0(ArmVmState, 1);
    if (!arm_vm_state_save(vm, ms, vs, errp))
        return false;
    for (unsigned i = 0; i < n; i++) {
        g_autofree char *id = g_strdup_printf("vcpu%u", i);
        state_stream_add(stream, id, &arm_vcpu_state_desc, &vs[i]);
    }
    state_stream_add(stream, VM_SECTION_ID, &arm_vm_state_desc, ms);
    return true;
}

typedef struct MachineLoad {
    GHashTable *vcpu_ids; /* "vcpuN" -> N + 1 for every vCPU of the machine */
    ArmVcpuState *vcpus;
    bool *vcpu_loaded;
    ArmVmState vm;
    bool vm_loaded;
} MachineLoad;

static bool machine_lookup(void *opaque, const char *id, const StateDesc **desc, void **obj)
{
    MachineLoad *m = opaque;
    if (strcmp(id, VM_SECTION_ID) == 0) {
        m->vm_loaded = true;
        *desc = &arm_vm_state_desc;
        *obj = &m->vm;
        return true;
    }
    guint i = GPOINTER_TO_UINT(g_hash_table_lookup(m->vcpu_ids, id));
    if (!i--)
        return false;
    m->vcpu_loaded[i] = true;
    *desc = &arm_vcpu_state_desc;
    *obj = &m->vcpus[i];
    return true;
}

bool arm_machine_state_load(Vm *vm, const uint8_t *buf, size_t len, GError **errp)
{
    unsigned n = vm_vcpu_count(vm);
    g_autofree MachineLoad *m = g_new0(MachineLoad, 1);
    g_autoptr(GHashTable) ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (unsigned i = 0; i < n; i++)
        g_hash_table_insert(ids, g_strdup_printf("vcpu%u", i), GUINT_TO_POINTER(i + 1));
    g_autofree ArmVcpuState *vcpus = g_new0(ArmVcpuState, MAX(n, 1));
    g_autofree bool *loaded = g_new0(bool, MAX(n, 1));
    *m = (MachineLoad){ .vcpu_ids = ids, .vcpus = vcpus, .vcpu_loaded = loaded };
    if (!state_stream_load(buf, len, machine_lookup, m, errp))
        return false;
    for (unsigned i = 0; i < n; i++) {
        if (!loaded[i]) {
            g_set_error(errp, STATE_ERROR, STATE_ERROR_MISSING,
                        "state stream: no section for vCPU %u (the machine has %u)", i, n);
            return false;
        }
    }
    if (!m->vm_loaded) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_MISSING, "state stream: no section '" VM_SECTION_ID "'");
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!arm_vcpu_state_restore(vcpu_accel(vm_vcpu(vm, i)), &vcpus[i], errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
    }
    return arm_vm_state_restore(vm, &m->vm, vcpus, errp);
}
