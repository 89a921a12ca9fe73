/* arm64 vCPU state: description, save and restore (see vcpu_state.h). */
#include "arch/aarch64/vcpu_state.h"

#include "hypervisor/error.h"
#include "hypervisor/le.h"

#include <errno.h>
#include <string.h>

#ifdef __aarch64__
#include <linux/kvm.h>
_Static_assert(ARM_ONE_REG_TIMER_CNT == KVM_REG_ARM_TIMER_CNT, "TIMER_CNT id");
_Static_assert(ARM_ONE_REG_MPIDR_EL1 == ARM64_SYS_REG(3, 0, 0, 0, 5), "MPIDR_EL1 id");
_Static_assert(ARM_VCPU_EVENTS_SIZE == sizeof(struct kvm_vcpu_events), "kvm_vcpu_events size");
_Static_assert(ARM_MP_STATE_STOPPED == KVM_MP_STATE_STOPPED &&
               ARM_MP_STATE_SUSPENDED == KVM_MP_STATE_SUSPENDED, "MP states");
#endif

/* struct kvm_vcpu_events on arm64: serror_pending, serror_has_esr,
 * ext_dabt_pending, 5 bytes of padding, u64 serror_esr, 48 reserved bytes. */
#define EVENTS_FLAGS_END 3u
#define EVENTS_PAD_END 8u
#define EVENTS_ESR_END 16u

/* ---- description ----------------------------------------------------------- */

static bool reg_post_load(void *obj, unsigned version, GError **errp)
{
    const ArmRegEntry *e = obj;
    if ((e->id & ARM_ONE_REG_ARCH_MASK) != ARM_ONE_REG_ARCH_ARM64)
        return state_invalid(errp, "arm64-vcpu", "register id %#" G_GINT64_MODIFIER "x is not an arm64 one", e->id);
    uint32_t size = arm_one_reg_size(e->id);
    if (size > ARM_VCPU_REG_BYTES_MAX)
        return state_invalid(errp, "arm64-vcpu", "register %#" G_GINT64_MODIFIER "x: %u bytes", e->id, size);
    if (size <= 8 && (e->hi || (size < 8 && e->lo >> (size * 8))))
        return state_invalid(errp, "arm64-vcpu", "register %#" G_GINT64_MODIFIER "x: value wider than %u bytes", e->id,
                       size);
    return true;
}

static const StateField reg_entry_fields[] = {
    STATE_U64(ArmRegEntry, id, 1),
    STATE_U64(ArmRegEntry, lo, 2),
    STATE_U64(ArmRegEntry, hi, 3),
    STATE_END,
};

const StateDesc arm_reg_entry_desc = {
    .name = "arm64-reg",
    .version = 1,
    .min_version = 1,
    .size = sizeof(ArmRegEntry),
    .fields = reg_entry_fields,
    .post_load = reg_post_load,
};

static const StateField gic_cpu_fields[] = {
    STATE_U32(ArmGicCpuState, ctlr, 1),
    STATE_U64(ArmGicCpuState, propbaser, 2),
    STATE_U64(ArmGicCpuState, pendbaser, 3),
    STATE_U32(ArmGicCpuState, igroupr0, 4),
    STATE_U32(ArmGicCpuState, igrpmodr0, 5),
    STATE_U32(ArmGicCpuState, isenabler0, 6),
    STATE_U32(ArmGicCpuState, ispendr0, 7),
    STATE_U32(ArmGicCpuState, isactiver0, 8),
    STATE_U32_ARRAY(ArmGicCpuState, ipriorityr, 9),
    STATE_U32(ArmGicCpuState, icfgr1, 10),
    STATE_U64(ArmGicCpuState, icc_ctlr, 11),
    STATE_U64(ArmGicCpuState, icc_sre, 12),
    STATE_U64(ArmGicCpuState, icc_pmr, 13),
    STATE_U64(ArmGicCpuState, icc_bpr0, 14),
    STATE_U64(ArmGicCpuState, icc_bpr1, 15),
    STATE_U64(ArmGicCpuState, icc_igrpen0, 16),
    STATE_U64(ArmGicCpuState, icc_igrpen1, 17),
    STATE_U64_ARRAY(ArmGicCpuState, icc_ap0r, 18),
    STATE_U64_ARRAY(ArmGicCpuState, icc_ap1r, 19),
    STATE_END,
};

const StateDesc arm_gic_cpu_state_desc = {
    .name = "arm64-gic-cpu",
    .version = 1,
    .min_version = 1,
    .size = sizeof(ArmGicCpuState),
    .fields = gic_cpu_fields,
};

static bool vcpu_post_load(void *obj, unsigned version, GError **errp)
{
    const ArmVcpuState *s = obj;
    switch (s->mp_state) {
    case ARM_MP_STATE_RUNNABLE:
    case ARM_MP_STATE_STOPPED:
    case ARM_MP_STATE_SUSPENDED:
        break;
    default:
        return state_invalid(errp, "arm64-vcpu", "mp_state %u is not an arm64 MP state", s->mp_state);
    }
    for (unsigned i = 0; i < EVENTS_FLAGS_END; i++)
        if (s->events[i] > 1)
            return state_invalid(errp, "arm64-vcpu", "events: flag byte %u is %u", i, s->events[i]);
    for (unsigned i = EVENTS_FLAGS_END; i < ARM_VCPU_EVENTS_SIZE; i++)
        if (s->events[i] && (i < EVENTS_PAD_END || i >= EVENTS_ESR_END))
            return state_invalid(errp, "arm64-vcpu", "events: reserved byte %u is not 0", i);
    /* Each id once: a duplicate would make the restore order matter. */
    g_autoptr(GHashTable) seen = g_hash_table_new(g_int64_hash, g_int64_equal);
    for (uint32_t i = 0; i < s->n_regs; i++)
        if (!g_hash_table_add(seen, (gpointer)&s->regs[i].id))
            return state_invalid(errp, "arm64-vcpu", "register %#" G_GINT64_MODIFIER "x appears twice", s->regs[i].id);
    return true;
}

static const StateField vcpu_fields[] = {
    STATE_STRUCT_ARRAY(ArmVcpuState, regs, n_regs, 1, &arm_reg_entry_desc),
    STATE_U32(ArmVcpuState, mp_state, 2),
    STATE_BYTES(ArmVcpuState, events, 3),
    STATE_STRUCT(ArmVcpuState, gic, 4, &arm_gic_cpu_state_desc),
    STATE_END,
};

const StateDesc arm_vcpu_state_desc = {
    .name = "arm64-vcpu",
    .version = 1,
    .min_version = 1,
    .size = sizeof(ArmVcpuState),
    .fields = vcpu_fields,
    .post_load = vcpu_post_load,
};

/* ---- save / restore ------------------------------------------------------------ */

static bool save_regs(AccelVcpu *v, ArmVcpuState *out, GError **errp)
{
    g_autofree uint64_t *ids = g_new(uint64_t, ARM_VCPU_REGS_MAX);
    uint32_t n = ARM_VCPU_REGS_MAX;
    int r = v->ops->vcpu_arm_reg_list(v, ids, &n);
    if (r == -E2BIG) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "the vCPU has %u registers, more than the %u a state can carry", n,
                    ARM_VCPU_REGS_MAX);
        return false;
    }
    if (r < 0) {
        error_set_errno(errp, r, "cannot list the vCPU's registers");
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t size = arm_one_reg_size(ids[i]);
        if (size > ARM_VCPU_REG_BYTES_MAX) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                        "register %#" G_GINT64_MODIFIER "x has %u bytes (SVE?); not carried",
                        ids[i], size);
            return false;
        }
        uint8_t val[ARM_VCPU_REG_BYTES_MAX] __attribute__((aligned(16))) = { 0 };
        r = v->ops->vcpu_get_one_reg(v, ids[i], val);
        if (r < 0) {
            error_set_errno(errp, r, "cannot read register %#" G_GINT64_MODIFIER "x", ids[i]);
            return false;
        }
        out->regs[i] = (ArmRegEntry){ ids[i], le_load64(val), le_load64(val + 8) };
    }
    out->n_regs = n;
    return true;
}

bool arm_vcpu_state_save(AccelVcpu *v, ArmVcpuState *out, GError **errp)
{
    memset(out, 0, sizeof(*out));
    uint8_t mp[4];
    if (!save_regs(v, out, errp) ||
        !accel_vcpu_get(v, ACCEL_REG_MP_STATE, "MP state", mp, sizeof(mp), errp))
        return false;
    out->mp_state = le_load32(mp);
    int r = v->ops->vcpu_arm_events(v, false, out->events, sizeof(out->events));
    if (r < 0) {
        error_set_errno(errp, r, "cannot read the vCPU's pending events");
        return false;
    }
    return true;
}

bool arm_vcpu_state_restore(AccelVcpu *v, const ArmVcpuState *s, GError **errp)
{
    for (uint32_t i = 0; i < s->n_regs; i++) {
        const ArmRegEntry *e = &s->regs[i];
        /* Writing the counter moves the VM's counter offset: vm_state.c
         * does it once, with the time the VM spent saved added. */
        if (e->id == ARM_ONE_REG_TIMER_CNT)
            continue;
        uint8_t val[ARM_VCPU_REG_BYTES_MAX] __attribute__((aligned(16)));
        le_store64(val, e->lo);
        le_store64(val + 8, e->hi);
        int r = v->ops->vcpu_set_one_reg(v, e->id, val);
        if (r < 0) {
            error_set_errno(errp, r, "cannot restore register %#" G_GINT64_MODIFIER "x", e->id);
            return false;
        }
    }
    uint8_t mp[4];
    le_store32(mp, s->mp_state);
    if (!accel_vcpu_set(v, ACCEL_REG_MP_STATE, "MP state", mp, sizeof(mp), errp))
        return false;
    int r = v->ops->vcpu_arm_events(v, true, (void *)s->events, sizeof(s->events));
    if (r < 0) {
        error_set_errno(errp, r, "cannot restore the vCPU's pending events");
        return false;
    }
    return true;
}
