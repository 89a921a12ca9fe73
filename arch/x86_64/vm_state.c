/* x86_64 VM-wide in-kernel state: description, save and restore (see
 * vm_state.h). */
#include "arch/x86_64/vm_state.h"

#include "arch/x86_64/vcpu_state.h"
#include "hypervisor/error.h"
#include "migration/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- description ----------------------------------------------------------- */

static bool pic_valid(const struct kvm_pic_state *p)
{
    return p->priority_add <= 7 && p->read_reg_select <= 1 && p->poll <= 1 &&
           p->special_mask <= 1 && p->init_state <= 3 && p->auto_eoi <= 1 &&
           p->rotate_on_auto_eoi <= 1 && p->special_fully_nested_mode <= 1 && p->init4 <= 1;
}

static bool irqchip_valid(const struct kvm_irqchip *c, uint32_t chip_id, const char *name,
                          GError **errp)
{
    if (c->chip_id != chip_id || c->pad)
        return state_invalid(errp, "x86-vm", "%s: chip id %u", name, c->chip_id);
    if (chip_id == KVM_IRQCHIP_IOAPIC) {
        if (c->chip.ioapic.ioregsel > 0xff)
            return state_invalid(errp, "x86-vm", "%s: register select %#x", name, c->chip.ioapic.ioregsel);
    } else if (!pic_valid(&c->chip.pic)) {
        return state_invalid(errp, "x86-vm", "%s: a register is out of range", name);
    }
    return true;
}

#define CLOCK_FLAGS (KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)
/* KVM resets a PIT channel's mode to 0xff until the guest programs it (a
 * guest on hardware-reduced ACPI never does). */
#define PIT_MODE_UNPROGRAMMED 0xff

static bool vm_post_load(void *obj, unsigned version, GError **errp)
{
    X86VmState *s = obj;
    if (!irqchip_valid(&s->kpic_master, KVM_IRQCHIP_PIC_MASTER, "PIC master", errp) ||
        !irqchip_valid(&s->kpic_slave, KVM_IRQCHIP_PIC_SLAVE, "PIC slave", errp) ||
        !irqchip_valid(&s->kioapic, KVM_IRQCHIP_IOAPIC, "IOAPIC", errp))
        return false;
    if (s->kclock.flags & ~CLOCK_FLAGS)
        return state_invalid(errp, "x86-vm", "clock: unknown flags %#x", s->kclock.flags);
    if (!s->has_pit)
        return true;
    if (s->kpit.flags & ~(KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON))
        return state_invalid(errp, "x86-vm", "PIT: unknown flags %#x", s->kpit.flags);
    for (unsigned i = 0; i < 3; i++) {
        const struct kvm_pit_channel_state *c = &s->kpit.channels[i];
        if (c->count > 0x10000 || c->count_latched > 4 || c->status_latched > 1 ||
            c->read_state > 4 || c->write_state > 4 || c->rw_mode > 3 ||
            (c->mode > 7 && c->mode != PIT_MODE_UNPROGRAMMED) ||
            c->bcd > 1 || c->gate > 1)
            return state_invalid(errp, "x86-vm", "PIT channel %u: a register is out of range", i);
    }
    return true;
}

static const StateField pit_fields[] = {
    STATE_BOOL(X86VmState, has_pit, 1),
    STATE_BYTES(X86VmState, pit, 2),
    STATE_END,
};

const StateDesc x86_vm_pit_state_desc = {
    .name = "x86-vm/pit",
    .version = 1,
    .min_version = 1,
    .size = sizeof(X86VmState),
    .fields = pit_fields,
};

static bool pit_needed(const void *obj)
{
    return ((const X86VmState *)obj)->has_pit;
}

static const StateField vm_fields[] = {
    STATE_BYTES(X86VmState, pic_master, 1),
    STATE_BYTES(X86VmState, pic_slave, 2),
    STATE_BYTES(X86VmState, ioapic, 3),
    STATE_BYTES(X86VmState, clock, 4),
    STATE_END,
};

static const StateSection vm_sections[] = {
    { &x86_vm_pit_state_desc, pit_needed, 0 },
    { NULL },
};

const StateDesc x86_vm_state_desc = {
    .name = "x86-vm",
    .version = 1,
    .min_version = 1,
    .size = sizeof(X86VmState),
    .fields = vm_fields,
    .sections = vm_sections,
    .post_load = vm_post_load,
};

/* ---- save / restore ---------------------------------------------------------- */

bool x86_vm_state_save(AccelVm *vm, X86VmState *out, GError **errp)
{
    memset(out, 0, sizeof(*out));
    if (!accel_vm_get(vm, ACCEL_VMSTATE_PIC_MASTER, "PIC master", out->pic_master,
                   sizeof(out->pic_master), errp) ||
        !accel_vm_get(vm, ACCEL_VMSTATE_PIC_SLAVE, "PIC slave", out->pic_slave, sizeof(out->pic_slave),
                   errp) ||
        !accel_vm_get(vm, ACCEL_VMSTATE_IOAPIC, "IOAPIC", out->ioapic, sizeof(out->ioapic), errp))
        return false;
    int r = vm->ops->vm_get_state(vm, ACCEL_VMSTATE_PIT, out->pit, sizeof(out->pit));
    if (r == -ENXIO) {
        memset(out->pit, 0, sizeof(out->pit)); /* the machine has no in-kernel PIT */
    } else if (r < 0) {
        error_set_errno(errp, r, "cannot read the VM's PIT");
        return false;
    } else {
        out->has_pit = true;
    }
    /* Last: the closer to the pause, the less the guest clock is ahead. */
    return accel_vm_get(vm, ACCEL_VMSTATE_CLOCK, "clock", out->clock, sizeof(out->clock), errp);
}

static bool restore_clock(AccelVm *vm, const struct kvm_clock_data *saved, GError **errp)
{
    struct kvm_clock_data c = { .clock = saved->clock, .realtime = saved->realtime };
    if (saved->flags & KVM_CLOCK_REALTIME) {
        c.flags = KVM_CLOCK_REALTIME;
        int r = vm->ops->vm_set_state(vm, ACCEL_VMSTATE_CLOCK, &c, sizeof(c));
        if (r == 0)
            return true;
        if (r != -EINVAL) {
            error_set_errno(errp, r, "cannot restore the VM's clock");
            return false;
        }
        /* An older destination kernel: add the elapsed wall time ourselves. */
        uint64_t now = (uint64_t)g_get_real_time() * 1000u;
        if (now > saved->realtime)
            c.clock += now - saved->realtime;
        c.flags = 0;
    }
    c.realtime = 0;
    return accel_vm_set(vm, ACCEL_VMSTATE_CLOCK, "clock", &c, sizeof(c), errp);
}

bool x86_vm_state_restore(AccelVm *vm, const X86VmState *s, GError **errp)
{
    if (!accel_vm_set(vm, ACCEL_VMSTATE_PIC_MASTER, "PIC master", s->pic_master,
                   sizeof(s->pic_master), errp) ||
        !accel_vm_set(vm, ACCEL_VMSTATE_PIC_SLAVE, "PIC slave", s->pic_slave, sizeof(s->pic_slave),
                   errp) ||
        !accel_vm_set(vm, ACCEL_VMSTATE_IOAPIC, "IOAPIC", s->ioapic, sizeof(s->ioapic), errp))
        return false;
    /* A machine without a PIT refuses a saved one (ENXIO). */
    if (s->has_pit && !accel_vm_set(vm, ACCEL_VMSTATE_PIT, "PIT", s->pit, sizeof(s->pit), errp))
        return false;
    return restore_clock(vm, &s->kclock, errp);
}

/* ---- the machine's sections ------------------------------------------------------ */

#define VM_SECTION_ID "x86-vm"

bool x86_machine_state_save(Vm *vm, GByteArray *stream, GError **errp)
{
    g_autoptr(GArray) msrs = x86_vcpu_state_msr_list(vm_accel(vm), errp);
    if (!msrs)
        return false;
    g_autofree X86VcpuState *vs = g_new0(X86VcpuState, 1);
    for (unsigned i = 0; i < vm_vcpu_count(vm); i++) {
        if (!x86_vcpu_state_save(vcpu_accel(vm_vcpu(vm, i)), msrs, vs, errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
        char id[16];
        g_snprintf(id, sizeof(id), "vcpu%u", i);
        state_stream_add(stream, id, &x86_vcpu_state_desc, vs);
    }
    g_autofree X86VmState *ms = g_new0(X86VmState, 1);
    if (!x86_vm_state_save(vm_accel_vm(vm), ms, errp))
        return false;
    state_stream_add(stream, VM_SECTION_ID, &x86_vm_state_desc, ms);
    return true;
}

typedef struct MachineLoad {
    unsigned n_vcpus;
    X86VcpuState *vcpus;
    bool *vcpu_loaded;
    X86VmState vm;
    bool vm_loaded;
} MachineLoad;

/* "vcpu<N>" with N a decimal index below n, without leading zeros. */
static bool parse_vcpu_id(const char *id, unsigned n, unsigned *index)
{
    if (strncmp(id, "vcpu", 4) != 0)
        return false;
    const char *d = id + 4;
    size_t len = strlen(d);
    if (len == 0 || len > 3 || (len > 1 && d[0] == '0') || strspn(d, "0123456789") != len)
        return false;
    unsigned v = (unsigned)strtoul(d, NULL, 10);
    if (v >= n)
        return false;
    *index = v;
    return true;
}

static bool machine_lookup(void *opaque, const char *id, const StateDesc **desc, void **obj)
{
    MachineLoad *m = opaque;
    unsigned i;
    if (strcmp(id, VM_SECTION_ID) == 0) {
        m->vm_loaded = true;
        *desc = &x86_vm_state_desc;
        *obj = &m->vm;
        return true;
    }
    if (!parse_vcpu_id(id, m->n_vcpus, &i))
        return false;
    m->vcpu_loaded[i] = true;
    *desc = &x86_vcpu_state_desc;
    *obj = &m->vcpus[i];
    return true;
}

bool x86_machine_state_load(Vm *vm, const uint8_t *buf, size_t len, GError **errp)
{
    g_autofree MachineLoad *m = g_new0(MachineLoad, 1);
    m->n_vcpus = vm_vcpu_count(vm);
    g_autofree X86VcpuState *vcpus = g_new0(X86VcpuState, MAX(m->n_vcpus, 1));
    g_autofree bool *loaded = g_new0(bool, MAX(m->n_vcpus, 1));
    m->vcpus = vcpus;
    m->vcpu_loaded = loaded;
    if (!state_stream_load(buf, len, machine_lookup, m, errp))
        return false;
    for (unsigned i = 0; i < m->n_vcpus; i++) {
        if (!m->vcpu_loaded[i]) {
            g_set_error(errp, STATE_ERROR, STATE_ERROR_MISSING,
                        "state stream: no section for vCPU %u (the machine has %u)", i,
                        m->n_vcpus);
            return false;
        }
    }
    if (!m->vm_loaded) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_MISSING,
                    "state stream: no section '" VM_SECTION_ID "'");
        return false;
    }
    for (unsigned i = 0; i < m->n_vcpus; i++) {
        if (!x86_vcpu_state_restore(vcpu_accel(vm_vcpu(vm, i)), &m->vcpus[i], errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
    }
    return x86_vm_state_restore(vm_accel_vm(vm), &m->vm, errp);
}
