#include "support/fake_accel.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#define FAKE_MAX_GSI 1024
#define FAKE_MAX_SLOTS 64

typedef struct {
    AccelVm base;
    bool level[FAKE_MAX_GSI];
    unsigned edges[FAKE_MAX_GSI];
    unsigned msis;
    uint64_t slot_size[FAKE_MAX_SLOTS];
} FakeVm;

typedef struct {
    AccelVcpu base;
} FakeVcpu;

static const AccelOps fake_ops;

static void fake_close(Accel *a)
{
    g_free(a);
}

static int fake_vm_create(Accel *a, AccelVm **out)
{
    FakeVm *vm = g_new0(FakeVm, 1);
    vm->base.ops = &fake_ops;
    *out = &vm->base;
    return 0;
}

static void fake_vm_destroy(AccelVm *vm)
{
    g_free(vm);
}

static int fake_setup_platform(AccelVm *vm, const AccelPlatform *p)
{
    return 0;
}

static int fake_max_vcpus(AccelVm *vm)
{
    return 288;
}

static int fake_max_memslots(AccelVm *vm)
{
    return FAKE_MAX_SLOTS;
}

static int fake_set_memslot(AccelVm *avm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
                            uint32_t flags)
{
    FakeVm *vm = (FakeVm *)avm;
    if (slot >= FAKE_MAX_SLOTS)
        return -EINVAL;
    vm->slot_size[slot] = size;
    return 0;
}

static int fake_get_dirty_log(AccelVm *vm, uint32_t slot, uint64_t *bitmap)
{
    return -ENOTSUP;
}

static int fake_set_irq_line(AccelVm *avm, uint32_t gsi, bool level)
{
    FakeVm *vm = (FakeVm *)avm;
    if (gsi >= FAKE_MAX_GSI)
        return -EINVAL;
    if (level && !vm->level[gsi])
        vm->edges[gsi]++;
    vm->level[gsi] = level;
    return 0;
}

static int fake_set_gsi_routing(AccelVm *vm, const AccelRoute *routes, size_t n)
{
    return 0;
}

static int fake_signal_msi(AccelVm *avm, uint64_t addr, uint32_t data, uint32_t devid,
                           bool has_devid)
{
    ((FakeVm *)avm)->msis++;
    return 1;
}

static int fake_irqfd(AccelVm *vm, int fd, uint32_t gsi, int resample_fd, bool assign)
{
    return 0;
}

static int fake_ioeventfd(AccelVm *vm, int fd, uint64_t addr, uint32_t len, bool pio,
                          bool has_datamatch, uint64_t datamatch, bool assign)
{
    return 0;
}

static int fake_get_state(AccelVm *vm, AccelVmState which, void *buf, size_t size)
{
    memset(buf, 0, size);
    return 0;
}

static int fake_set_state(AccelVm *vm, AccelVmState which, const void *buf, size_t size)
{
    return 0;
}

static int fake_vcpu_create(AccelVm *vm, uint32_t id, AccelVcpu **out)
{
    FakeVcpu *v = g_new0(FakeVcpu, 1);
    v->base.ops = &fake_ops;
    *out = &v->base;
    return 0;
}

static void fake_vcpu_destroy(AccelVcpu *v)
{
    g_free(v);
}

static int fake_vcpu_run(AccelVcpu *v, AccelExit *exit)
{
    return -ENOTSUP;
}

static void fake_vcpu_request_exit(AccelVcpu *v)
{
}

static int fake_vcpu_get_regs(AccelVcpu *v, AccelRegBlock which, void *buf, size_t size)
{
    memset(buf, 0, size);
    return 0;
}

static int fake_vcpu_set_regs(AccelVcpu *v, AccelRegBlock which, const void *buf, size_t size)
{
    return 0;
}

static int fake_vcpu_msrs(AccelVcpu *v, void *msrs)
{
    return 0;
}

static int fake_vcpu_set_msrs(AccelVcpu *v, const void *msrs)
{
    return 0;
}

static int fake_vcpu_set_cpuid(AccelVcpu *v, const void *cpuid)
{
    return 0;
}

static const AccelOps fake_ops = {
    .name = "fake",
    .close = fake_close,
    .vm_create = fake_vm_create,
    .vm_destroy = fake_vm_destroy,
    .vm_setup_platform = fake_setup_platform,
    .vm_max_vcpus = fake_max_vcpus,
    .vm_max_memslots = fake_max_memslots,
    .vm_set_memslot = fake_set_memslot,
    .vm_get_dirty_log = fake_get_dirty_log,
    .vm_set_irq_line = fake_set_irq_line,
    .vm_set_gsi_routing = fake_set_gsi_routing,
    .vm_signal_msi = fake_signal_msi,
    .vm_irqfd = fake_irqfd,
    .vm_ioeventfd = fake_ioeventfd,
    .vm_get_state = fake_get_state,
    .vm_set_state = fake_set_state,
    .vcpu_create = fake_vcpu_create,
    .vcpu_destroy = fake_vcpu_destroy,
    .vcpu_run = fake_vcpu_run,
    .vcpu_request_exit = fake_vcpu_request_exit,
    .vcpu_clear_exit_request = fake_vcpu_request_exit,
    .vcpu_get_regs = fake_vcpu_get_regs,
    .vcpu_set_regs = fake_vcpu_set_regs,
    .vcpu_get_msrs = fake_vcpu_msrs,
    .vcpu_set_msrs = fake_vcpu_set_msrs,
    .vcpu_set_cpuid = fake_vcpu_set_cpuid,
};

Accel *fake_accel_new(void)
{
    Accel *a = g_new0(Accel, 1);
    a->ops = &fake_ops;
    return a;
}

bool fake_accel_irq_level(AccelVm *vm, uint32_t gsi)
{
    return gsi < FAKE_MAX_GSI && ((FakeVm *)vm)->level[gsi];
}

unsigned fake_accel_irq_edges(AccelVm *vm, uint32_t gsi)
{
    return gsi < FAKE_MAX_GSI ? ((FakeVm *)vm)->edges[gsi] : 0;
}

unsigned fake_accel_msi_count(AccelVm *vm)
{
    return ((FakeVm *)vm)->msis;
}

unsigned fake_accel_memslot_count(AccelVm *vm)
{
    FakeVm *f = (FakeVm *)vm;
    unsigned n = 0;
    for (unsigned i = 0; i < FAKE_MAX_SLOTS; i++)
        n += f->slot_size[i] != 0;
    return n;
}
