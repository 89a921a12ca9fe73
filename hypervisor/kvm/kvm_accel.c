/* The KVM implementation of AccelOps: thin ioctl wrappers returning -errno. */
#include "hypervisor/kvm/kvm_internal.h"

#include "hypervisor/error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR && req != KVM_RUN);
    return r < 0 ? -errno : r;
}

static KvmVm *to_vm(AccelVm *v)
{
    return (KvmVm *)v;
}
static KvmVcpu *to_vcpu(AccelVcpu *v)
{
    return (KvmVcpu *)v;
}

static int kvmx_vm_create(Accel *a, AccelVm **out)
{
    KvmAccel *k = (KvmAccel *)a;
    int fd = kvm_ioctl(k->fd, KVM_CREATE_VM, 0);
    if (fd < 0)
        return fd;
    KvmVm *vm = g_new0(KvmVm, 1);
    vm->base.ops = k->base.ops;
    vm->accel = k;
    vm->fd = fd;
    vm->gic_fd = vm->its_fd = -1;
    kvm_dirty_ring_enable(vm);
    *out = (AccelVm *)vm;
    return 0;
}

static void kvmx_vm_destroy(AccelVm *v)
{
    KvmVm *vm = to_vm(v);
    if (!vm)
        return;
    if (vm->its_fd >= 0)
        close(vm->its_fd);
    if (vm->gic_fd >= 0)
        close(vm->gic_fd);
    close(vm->fd);
    kvm_dirty_ring_free(vm);
    g_free(vm);
}

static int kvmx_vm_setup_platform(AccelVm *v, const AccelPlatform *p)
{
    return kvm_arch_setup_platform(to_vm(v), p);
}

static int kvmx_vm_max_vcpus(AccelVm *v)
{
    return to_vm(v)->accel->max_vcpus;
}

static int kvmx_max_vcpus(Accel *a)
{
    return ((KvmAccel *)a)->max_vcpus;
}

static int kvmx_vm_max_memslots(AccelVm *v)
{
    return to_vm(v)->accel->max_memslots;
}

static int kvmx_vm_set_memslot(AccelVm *v, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
                               uint32_t flags)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)hva,
        .flags = ((flags & ACCEL_MEM_READONLY) ? KVM_MEM_READONLY : 0) |
                 ((flags & ACCEL_MEM_LOG_DIRTY) ? KVM_MEM_LOG_DIRTY_PAGES : 0),
    };
    int e = kvm_ioctl(to_vm(v)->fd, KVM_SET_USER_MEMORY_REGION, &r);
    if (e == 0)
        kvm_dirty_ring_slot_set(to_vm(v), slot, size, flags & ACCEL_MEM_LOG_DIRTY);
    return e;
}

static int kvmx_vm_get_dirty_log(AccelVm *v, uint32_t slot, uint64_t *bitmap)
{
    if (to_vm(v)->ring) /* KVM refuses KVM_GET_DIRTY_LOG with the ring on */
        return kvm_dirty_ring_get_log(to_vm(v), slot, bitmap);
    struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };
    return kvm_ioctl(to_vm(v)->fd, KVM_GET_DIRTY_LOG, &log);
}

static int kvmx_vm_set_irq_line(AccelVm *v, uint32_t gsi, bool level)
{
    struct kvm_irq_level l = { .irq = kvm_arch_irq_line(gsi), .level = level };
    return kvm_ioctl(to_vm(v)->fd, KVM_IRQ_LINE, &l);
}

static int kvmx_vm_set_gsi_routing(AccelVm *v, const AccelRoute *routes, size_t n)
{
    g_autofree struct kvm_irq_routing *r =
        g_malloc0(sizeof(*r) + n * sizeof(struct kvm_irq_routing_entry));
    r->nr = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        struct kvm_irq_routing_entry *e = &r->entries[i];
        e->gsi = routes[i].gsi;
        if (routes[i].kind == ACCEL_ROUTE_IRQCHIP) {
            e->type = KVM_IRQ_ROUTING_IRQCHIP;
            e->u.irqchip.irqchip = routes[i].irqchip.chip;
            e->u.irqchip.pin = routes[i].irqchip.pin;
        } else {
            e->type = KVM_IRQ_ROUTING_MSI;
            e->u.msi.address_lo = (uint32_t)routes[i].msi.addr;
            e->u.msi.address_hi = (uint32_t)(routes[i].msi.addr >> 32);
            e->u.msi.data = routes[i].msi.data;
            if (routes[i].msi.has_devid) {
                e->flags = KVM_MSI_VALID_DEVID;
                e->u.msi.devid = routes[i].msi.devid;
            }
        }
    }
    return kvm_ioctl(to_vm(v)->fd, KVM_SET_GSI_ROUTING, r);
}

static int kvmx_vm_signal_msi(AccelVm *v, uint64_t addr, uint32_t data, uint32_t devid,
                              bool has_devid)
{
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr,
        .address_hi = (uint32_t)(addr >> 32),
        .data = data,
        .flags = has_devid ? KVM_MSI_VALID_DEVID : 0,
        .devid = devid,
    };
    return kvm_ioctl(to_vm(v)->fd, KVM_SIGNAL_MSI, &msi);
}

static int kvmx_vm_irqfd(AccelVm *v, int fd, uint32_t gsi, int resample_fd, bool assign)
{
    struct kvm_irqfd r = { .fd = (uint32_t)fd, .gsi = gsi };
    if (!assign)
        r.flags |= KVM_IRQFD_FLAG_DEASSIGN;
    else if (resample_fd >= 0) {
        r.flags |= KVM_IRQFD_FLAG_RESAMPLE;
        r.resamplefd = (uint32_t)resample_fd;
    }
    return kvm_ioctl(to_vm(v)->fd, KVM_IRQFD, &r);
}

static int kvmx_vm_ioeventfd(AccelVm *v, int fd, uint64_t addr, uint32_t len, bool pio,
                             bool has_datamatch, uint64_t datamatch, bool assign)
{
    struct kvm_ioeventfd r = {
        .datamatch = datamatch,
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
                 (has_datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
                 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    return kvm_ioctl(to_vm(v)->fd, KVM_IOEVENTFD, &r);
}

static int vm_block_io(AccelVm *v, AccelVmState which, void *buf, size_t size, bool set)
{
    const KvmBlock *b = kvm_arch_vm_block(which);
    if (!b || !b->get)
        return -ENOTSUP;
    if (size != b->size)
        return -EINVAL;
    if (b->get == KVM_GET_IRQCHIP)
        ((struct kvm_irqchip *)buf)->chip_id = b->chip_id;
    return kvm_ioctl(to_vm(v)->fd, set ? b->set : b->get, buf);
}

static int kvmx_vm_get_state(AccelVm *v, AccelVmState which, void *buf, size_t size)
{
    return vm_block_io(v, which, buf, size, false);
}

static int kvmx_vm_set_state(AccelVm *v, AccelVmState which, const void *buf, size_t size)
{
    /* KVM_SET_IRQCHIP reads chip_id from the buffer: work on a copy. */
    g_autofree void *copy = g_memdup2(buf, size);
    return vm_block_io(v, which, copy, size, true);
}

static int kvmx_vcpu_create(AccelVm *v, uint32_t id, AccelVcpu **out)
{
    KvmVm *vm = to_vm(v);
    int fd = kvm_ioctl(vm->fd, KVM_CREATE_VCPU, (void *)(uintptr_t)id);
    if (fd < 0)
        return fd;
    void *run = mmap(NULL, vm->accel->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) {
        int e = -errno;
        close(fd);
        return e;
    }
    KvmVcpu *c = g_new0(KvmVcpu, 1);
    c->base.ops = vm->base.ops;
    c->vm = vm;
    c->fd = fd;
    c->id = id;
    c->run = run;
    int e = kvm_dirty_ring_vcpu_add(c);
    if (e < 0) {
        munmap(run, vm->accel->run_size);
        close(fd);
        g_free(c);
        return e;
    }
    *out = (AccelVcpu *)c;
    return 0;
}

static void kvmx_vcpu_destroy(AccelVcpu *v)
{
    KvmVcpu *c = to_vcpu(v);
    if (!c)
        return;
    kvm_dirty_ring_vcpu_remove(c);
    munmap(c->run, c->vm->accel->run_size);
    close(c->fd);
    g_free(c);
}

static void fill_exit(KvmVcpu *c, AccelExit *e)
{
    struct kvm_run *run = c->run;
    memset(e, 0, sizeof(*e));
    e->hw_code = run->exit_reason;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        e->reason = ACCEL_EXIT_IO;
        e->addr = run->io.port;
        e->size = run->io.size;
        e->count = run->io.count;
        e->is_write = run->io.direction == KVM_EXIT_IO_OUT;
        e->data = (uint8_t *)run + run->io.data_offset;
        break;
    case KVM_EXIT_MMIO:
        e->reason = ACCEL_EXIT_MMIO;
        e->addr = run->mmio.phys_addr;
        e->size = run->mmio.len;
        e->count = 1;
        e->is_write = run->mmio.is_write;
        e->data = run->mmio.data;
        break;
    case KVM_EXIT_INTR:
        e->reason = ACCEL_EXIT_INTR;
        break;
    case KVM_EXIT_HLT:
        e->reason = ACCEL_EXIT_HLT;
        break;
    case KVM_EXIT_SHUTDOWN:
        e->reason = ACCEL_EXIT_SHUTDOWN;
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            e->reason = ACCEL_EXIT_SYSTEM_OFF;
            break;
        case KVM_SYSTEM_EVENT_RESET:
            e->reason = ACCEL_EXIT_SYSTEM_RESET;
            break;
        case KVM_SYSTEM_EVENT_CRASH:
            e->reason = ACCEL_EXIT_GUEST_CRASH;
            break;
        default:
            e->reason = ACCEL_EXIT_UNKNOWN;
        }
        e->hw_code = run->system_event.type;
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        e->reason = ACCEL_EXIT_INTERNAL_ERROR;
        e->hw_code = run->internal.suberror;
        break;
    case KVM_EXIT_FAIL_ENTRY:
        e->reason = ACCEL_EXIT_FAIL_ENTRY;
        e->hw_code = run->fail_entry.hardware_entry_failure_reason;
        break;
    default:
        e->reason = ACCEL_EXIT_UNKNOWN;
    }
}

static int kvmx_vcpu_run(AccelVcpu *v, AccelExit *e)
{
    KvmVcpu *c = to_vcpu(v);
    int r;
    /* A full ring stops the vCPU until it is emptied: empty it here (KVM
     * allows any thread to) and go back in; a kick still ends the loop. */
    while ((r = kvm_ioctl(c->fd, KVM_RUN, NULL)) == 0 &&
           c->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
        r = kvm_dirty_ring_collect(c->vm);
        if (r < 0)
            return r;
    }
    if (r == -EINTR || r == -EAGAIN) {
        memset(e, 0, sizeof(*e));
        e->reason = ACCEL_EXIT_INTR;
        return 0;
    }
    if (r < 0)
        return r;
    fill_exit(c, e);
    return 0;
}

static void kvmx_vcpu_request_exit(AccelVcpu *v)
{
    /* Read by KVM at entry: a kick that arrives before KVM_RUN still exits. */
    __atomic_store_n(&to_vcpu(v)->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static void kvmx_vcpu_clear_exit_request(AccelVcpu *v)
{
    __atomic_store_n(&to_vcpu(v)->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static int vcpu_block_io(AccelVcpu *v, AccelRegBlock which, void *buf, size_t size, bool set)
{
    const KvmBlock *b = kvm_arch_reg_block(which);
    if (!b || !b->get)
        return -ENOTSUP;
    if (size != b->size)
        return -EINVAL;
    return kvm_ioctl(to_vcpu(v)->fd, set ? b->set : b->get, buf);
}

static int kvmx_vcpu_get_regs(AccelVcpu *v, AccelRegBlock which, void *buf, size_t size)
{
    return vcpu_block_io(v, which, buf, size, false);
}

static int kvmx_vcpu_set_regs(AccelVcpu *v, AccelRegBlock which, const void *buf, size_t size)
{
    return vcpu_block_io(v, which, (void *)buf, size, true);
}

#ifdef __x86_64__ /* KVM_GET_MSRS is defined everywhere, its struct only on x86 */
static int kvmx_vcpu_get_msrs(AccelVcpu *v, void *msrs)
{
    return kvm_ioctl(to_vcpu(v)->fd, KVM_GET_MSRS, msrs);
}

static int kvmx_vcpu_set_msrs(AccelVcpu *v, const void *msrs)
{
    return kvm_ioctl(to_vcpu(v)->fd, KVM_SET_MSRS, (void *)msrs);
}

static int kvmx_vcpu_set_cpuid(AccelVcpu *v, const void *cpuid)
{
    return kvm_ioctl(to_vcpu(v)->fd, KVM_SET_CPUID2, (void *)cpuid);
}
#endif

static void kvmx_close(Accel *a);

static int kvmx_vcpu_summary(AccelVcpu *v, VcpuRegSummary *out)
{
    return kvm_arch_vcpu_summary((KvmVcpu *)v, out);
}

static const AccelOps kvm_ops = {
    .name = "kvm",
    .close = kvmx_close,
    .vm_create = kvmx_vm_create,
    .vm_destroy = kvmx_vm_destroy,
    .vm_setup_platform = kvmx_vm_setup_platform,
    .vm_max_vcpus = kvmx_vm_max_vcpus,
    .vm_max_memslots = kvmx_vm_max_memslots,
    .vm_set_memslot = kvmx_vm_set_memslot,
    .vm_get_dirty_log = kvmx_vm_get_dirty_log,
    .vm_set_irq_line = kvmx_vm_set_irq_line,
    .vm_set_gsi_routing = kvmx_vm_set_gsi_routing,
    .vm_signal_msi = kvmx_vm_signal_msi,
    .vm_irqfd = kvmx_vm_irqfd,
    .vm_ioeventfd = kvmx_vm_ioeventfd,
    .vm_get_state = kvmx_vm_get_state,
    .vm_set_state = kvmx_vm_set_state,
    .vcpu_create = kvmx_vcpu_create,
    .vcpu_destroy = kvmx_vcpu_destroy,
    .vcpu_run = kvmx_vcpu_run,
    .vcpu_request_exit = kvmx_vcpu_request_exit,
    .vcpu_clear_exit_request = kvmx_vcpu_clear_exit_request,
    .vcpu_get_regs = kvmx_vcpu_get_regs,
    .vcpu_summary = kvmx_vcpu_summary,
    .vcpu_set_regs = kvmx_vcpu_set_regs,
#ifdef __x86_64__ /* KVM_GET_MSRS is defined everywhere, its struct only on x86 */
    .vcpu_get_msrs = kvmx_vcpu_get_msrs,
    .vcpu_set_msrs = kvmx_vcpu_set_msrs,
    .vcpu_set_cpuid = kvmx_vcpu_set_cpuid,
#endif
    .max_vcpus = kvmx_max_vcpus,
#ifdef KVM_REG_ARM_CORE
    .vm_finalize_platform = kvm_arm_vm_finalize_platform,
    .vm_arm_has_pmu = kvm_arm_vm_has_pmu,
    .vcpu_arm_init = kvm_arm_vcpu_init,
    .vcpu_arm_pmu_init = kvm_arm_vcpu_pmu_init,
    .vcpu_get_one_reg = kvm_arm_vcpu_get_one_reg,
    .vcpu_set_one_reg = kvm_arm_vcpu_set_one_reg,
    .vcpu_arm_reg_list = kvm_arm_vcpu_reg_list,
    .vcpu_arm_events = kvm_arm_vcpu_events,
    .vm_arm_gic_attr = kvm_arm_vm_gic_attr,
#endif
};

/* Capabilities every Nimbus VM relies on; missing ones are named in the error. */
static const KvmCap required_caps[] = {
    { KVM_CAP_USER_MEMORY, "USER_MEMORY" }, { KVM_CAP_IRQCHIP, "IRQCHIP" },
    { KVM_CAP_IOEVENTFD, "IOEVENTFD" },     { KVM_CAP_IRQFD, "IRQFD" },
    { KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING" }, { KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
    { KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI" },
};

bool kvm_require_caps(KvmAccel *k, const KvmCap *caps, size_t n, GError **errp)
{
    for (size_t i = 0; i < n; i++) {
        if (kvm_ioctl(k->fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)caps[i].cap) <= 0) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                        "KVM lacks the required capability KVM_CAP_%s", caps[i].name);
            return false;
        }
    }
    return true;
}

Accel *accel_open_kvm(GError **errp)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "cannot open /dev/kvm: %s%s",
                    g_strerror(e),
                    e == ENOENT ? " (KVM is not available: load kvm-intel/kvm-amd or enable "
                                  "virtualization in the firmware)"
                                : "");
        return NULL;
    }
    KvmAccel *k = g_new0(KvmAccel, 1);
    k->base.ops = &kvm_ops;
    k->fd = fd;
    int ver = kvm_ioctl(fd, KVM_GET_API_VERSION, NULL);
    if (ver != KVM_API_VERSION) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "/dev/kvm has API version %d, Nimbus needs %d", ver, KVM_API_VERSION);
        goto fail;
    }
    if (!kvm_require_caps(k, required_caps, G_N_ELEMENTS(required_caps), errp) ||
        !kvm_arch_check_caps(k, errp))
        goto fail;
    int sz = kvm_ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
    if (sz <= 0) {
        error_set_errno(errp, sz ? sz : -EINVAL, "KVM_GET_VCPU_MMAP_SIZE");
        goto fail;
    }
    k->run_size = (size_t)sz;
    k->max_vcpus = kvm_ioctl(fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_MAX_VCPUS);
    if (k->max_vcpus <= 0)
        k->max_vcpus = kvm_ioctl(fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_NR_VCPUS);
    if (k->max_vcpus <= 0)
        k->max_vcpus = 4; /* KVM documents 4 as the minimum when the cap is absent */
    k->max_memslots = kvm_ioctl(fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_NR_MEMSLOTS);
    if (k->max_memslots <= 0)
        k->max_memslots = 32;
    return &k->base;
fail:
    close(fd);
    g_free(k);
    return NULL;
}

static void kvmx_close(Accel *a)
{
    KvmAccel *k = (KvmAccel *)a;
    close(k->fd);
    g_free(k);
}
