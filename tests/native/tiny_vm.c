#include "native/tiny_vm.h"

#include <check.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TINY_MAX_EXITS 16
#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

struct TinyVm {
    Accel *accel;
    EventLoop *loop;
    Vm *vm;
    TinyMode mode;
    unsigned exits_needed;

    GMutex lock; /* guards the fields below, written by vCPU threads */
    GArray *reports; /* TinyReport */
    unsigned exits;
    uint8_t exit_status[TINY_MAX_EXITS];
    uint64_t progress_writes;
    uint32_t progress_last;

    /* control thread only */
    bool stopped;
    bool timed_out;
    VmStopReason stop_reason;
    char *stop_detail;
};

bool tiny_vm_kvm_usable(char **reason)
{
    g_autoptr(GError) err = NULL;
    Accel *a = accel_open_kvm(&err);
    if (!a) {
        *reason = g_strdup(err->message);
        return false;
    }
    accel_close(a);
    return true;
}

static pid_t gettid_now(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* ---- the test ports ---------------------------------------------------- */

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
    return GUEST_PORT_READ_VALUE;
}

static void report_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    TinyVm *t = opaque;
    TinyReport r = { .value = (uint32_t)value, .size = size, .tid = gettid_now() };
    g_mutex_lock(&t->lock);
    g_array_append_val(t->reports, r);
    g_mutex_unlock(&t->lock);
}

static void progress_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    TinyVm *t = opaque;
    g_mutex_lock(&t->lock);
    t->progress_writes++;
    t->progress_last = (uint32_t)value;
    g_mutex_unlock(&t->lock);
}

static void exit_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    TinyVm *t = opaque;
    g_mutex_lock(&t->lock);
    if (t->exits < TINY_MAX_EXITS)
        t->exit_status[t->exits] = (uint8_t)value;
    bool done = ++t->exits == t->exits_needed;
    g_mutex_unlock(&t->lock);
    if (done)
        vm_request_stop(t->vm, VM_STOP_POWEROFF, "test exit");
}

static const RegionOps report_ops = {
    .read = port_read, .write = report_write, .valid_min = 1, .valid_max = 4,
};
static const RegionOps progress_ops = {
    .read = port_read, .write = progress_write, .valid_min = 4, .valid_max = 4,
};
static const RegionOps exit_ops = {
    .read = port_read, .write = exit_write, .valid_min = 1, .valid_max = 1,
};

/* ---- machine ------------------------------------------------------------- */

/* The x86 interrupt wiring: GSI 0-15 on the PICs, GSI 0-23 on the IOAPIC
 * (the timer's GSI 0 on IOAPIC pin 2). */
static IrqRouter *router_new(AccelVm *avm)
{
    AccelRoute routes[16 + 24];
    size_t n = 0;
    for (uint32_t gsi = 0; gsi < 16; gsi++) {
        if (gsi == 2)
            continue; /* the cascade */
        routes[n++] = (AccelRoute){ .gsi = gsi, .kind = ACCEL_ROUTE_IRQCHIP,
                                    .irqchip = { .chip = gsi < 8 ? 0 : 1, .pin = gsi % 8 } };
    }
    for (uint32_t gsi = 0; gsi < 24; gsi++)
        routes[n++] = (AccelRoute){ .gsi = gsi, .kind = ACCEL_ROUTE_IRQCHIP,
                                    .irqchip = { .chip = 2, .pin = gsi == 0 ? 2 : gsi } };
    return irq_router_new(avm, routes, n, 24, 1023);
}

static void write_guest(TinyVm *t, uint64_t gpa, const void *buf, size_t len)
{
    ck_assert_msg(memory_write(vm_memory(t->vm), gpa, buf, len),
                  "cannot write %zu bytes at guest 0x%" G_GINT64_MODIFIER "x", len, gpa);
}

/* Long mode: identity-map the low 4 GiB with 2 MiB pages, and a GDT. */
static void build_long_mode_tables(TinyVm *t)
{
    uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 }, pd[512];
    uint64_t pdpt_gpa = GUEST_PT_ADDR + 0x1000, pd_gpa = GUEST_PT_ADDR + 0x2000;
    pml4[0] = pdpt_gpa | PTE_P | PTE_RW;
    for (unsigned i = 0; i < 4; i++) {
        pdpt[i] = (pd_gpa + i * 0x1000ull) | PTE_P | PTE_RW;
        for (unsigned j = 0; j < 512; j++)
            pd[j] = ((uint64_t)i << 30) + ((uint64_t)j << 21) + (PTE_P | PTE_RW | PTE_PS);
        write_guest(t, pd_gpa + i * 0x1000ull, pd, sizeof(pd));
    }
    write_guest(t, GUEST_PT_ADDR, pml4, sizeof(pml4));
    write_guest(t, pdpt_gpa, pdpt, sizeof(pdpt));

    const uint64_t gdt[] = {
        0,
        0x00af9b000000ffffull, /* 0x08: code, 64-bit, DPL 0 */
        0x00cf93000000ffffull, /* 0x10: data, 4 GiB, DPL 0 */
        0x00008b0000000067ull, /* 0x18: 64-bit TSS (busy) at base 0, low half */
        0,                     /* 0x20: its high half */
    };
    write_guest(t, GUEST_GDT_ADDR, gdt, sizeof(gdt));
}

static void seg_real(struct kvm_segment *s, uint8_t type)
{
    *s = (struct kvm_segment){ .base = 0, .limit = 0xffff, .selector = 0, .type = type,
                               .present = 1, .s = 1 };
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
    *s = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
                               .present = 1, .s = 1, .g = 1, .db = code64 ? 0 : 1,
                               .l = code64 ? 1 : 0 };
}

/* CPUID as KVM supports it, with this vCPU's APIC ID in leaves 1, 0xb and 0x1f. */
static void setup_cpuid(TinyVm *t, AccelVcpu *a, unsigned index)
{
    g_autoptr(GError) err = NULL;
    g_autofree struct kvm_cpuid2 *cpuid = accel_kvm_supported_cpuid(t->accel, &err);
    ck_assert_msg(cpuid, "%s", err ? err->message : "");
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
        if (e->function == 1)
            e->ebx = (e->ebx & 0x00ffffffu) | (index << 24);
        else if (e->function == 0xb || e->function == 0x1f)
            e->edx = index;
    }
    int r = a->ops->vcpu_set_cpuid(a, cpuid);
    ck_assert_msg(r == 0, "KVM_SET_CPUID2 on vCPU %u: %s", index, g_strerror(-r));
}

static void setup_vcpu(TinyVm *t, unsigned index)
{
    AccelVcpu *a = vcpu_accel(vm_vcpu(t->vm, index));
    const AccelOps *ops = a->ops;
    setup_cpuid(t, a, index);

    /* APs wait for INIT/SIPI under an in-kernel irqchip; ours run at once. */
    struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
    int r = ops->vcpu_set_regs(a, ACCEL_REG_MP_STATE, &mp, sizeof(mp));
    ck_assert_msg(r == 0, "set MP state of vCPU %u: %s", index, g_strerror(-r));

    struct kvm_sregs sregs;
    r = ops->vcpu_get_regs(a, ACCEL_REG_SREGS, &sregs, sizeof(sregs));
    ck_assert_msg(r == 0, "get sregs of vCPU %u: %s", index, g_strerror(-r));
    if (t->mode == TINY_MODE_REAL) {
        seg_real(&sregs.cs, 11);
        seg_real(&sregs.ds, 3);
        seg_real(&sregs.es, 3);
        seg_real(&sregs.fs, 3);
        seg_real(&sregs.gs, 3);
        seg_real(&sregs.ss, 3);
    } else {
        seg_flat(&sregs.cs, GUEST_SEL_CODE64, 11, true);
        seg_flat(&sregs.ds, GUEST_SEL_DATA, 3, false);
        sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
        sregs.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = GUEST_SEL_TSS,
                                         .type = 11, .present = 1 };
        sregs.gdt.base = GUEST_GDT_ADDR;
        sregs.gdt.limit = 5 * 8 - 1;
        sregs.cr3 = GUEST_PT_ADDR;
        sregs.cr4 = X86_CR4_PAE;
        sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
        sregs.efer = X86_EFER_LME | X86_EFER_LMA;
    }
    r = ops->vcpu_set_regs(a, ACCEL_REG_SREGS, &sregs, sizeof(sregs));
    ck_assert_msg(r == 0, "set sregs of vCPU %u: %s", index, g_strerror(-r));

    /* rdi carries the vCPU index, a value only the harness could have put there. */
    struct kvm_regs regs = {
        .rip = GUEST_LOAD_ADDR,
        .rsp = GUEST_STACK_TOP - index * 0x1000ull,
        .rflags = 0x2,
        .rdi = index,
    };
    r = ops->vcpu_set_regs(a, ACCEL_REG_REGS, &regs, sizeof(regs));
    ck_assert_msg(r == 0, "set regs of vCPU %u: %s", index, g_strerror(-r));
}

static void on_stop(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
    TinyVm *t = opaque;
    t->stopped = true;
    t->stop_reason = reason;
    t->stop_detail = g_strdup(detail);
    evloop_quit(t->loop);
}

static void map_port(TinyVm *t, const char *name, uint64_t port, uint64_t size,
                     const RegionOps *ops)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(addrspace_map(vm_pio(t->vm), name, port, size, ops, t, &err), "%s",
                  err ? err->message : "");
}

TinyVm *tiny_vm_new(const TinyVmOptions *o)
{
    g_autoptr(GError) err = NULL;
    TinyVm *t = g_new0(TinyVm, 1);
    unsigned vcpus = o->vcpus ? o->vcpus : 1;
    t->mode = o->mode;
    t->exits_needed = o->exits_needed ? o->exits_needed : vcpus;
    g_mutex_init(&t->lock);
    t->reports = g_array_new(FALSE, FALSE, sizeof(TinyReport));

    t->accel = accel_open_kvm(&err);
    ck_assert_msg(t->accel, "%s", err ? err->message : "");
    t->loop = evloop_new("control");

    VmConfig cfg = {
        .cpus = { .boot_vcpus = vcpus, .max_vcpus = vcpus },
        .memory = { .size = GUEST_RAM_SIZE, .shared = o->shared_memory },
        .serial = { .mode = CONSOLE_MODE_OFF },
    };
    t->vm = vm_new(t->accel, t->loop, &cfg, on_stop, t, &err);
    ck_assert_msg(t->vm, "%s", err ? err->message : "");

    /* The irqchip must exist before the vCPUs. Addresses as on a PC: just
     * below the 4 GiB firmware area, outside RAM and the MMIO test windows. */
    AccelVm *avm = vm_accel_vm(t->vm);
    AccelPlatform plat = { .x86_tss_gpa = 0xfffbd000, .x86_identity_map_gpa = 0xfffbc000 };
    int r = avm->ops->vm_setup_platform(avm, &plat);
    ck_assert_msg(r == 0, "vm_setup_platform: %s", g_strerror(-r));
    vm_set_irq_router(t->vm, router_new(avm));
    ck_assert_msg(irq_router_commit(vm_irq(t->vm), &err), "%s", err ? err->message : "");

    MemoryBacking backing = { .shared = o->shared_memory };
    ck_assert_msg(memory_add_ram(vm_memory(t->vm), "ram", 0, GUEST_RAM_SIZE, &backing, &err), "%s",
                  err ? err->message : "");
    size_t len = (size_t)(o->image_end - o->image);
    ck_assert(len > 0 && len < GUEST_PT_ADDR - GUEST_LOAD_ADDR);
    write_guest(t, GUEST_LOAD_ADDR, o->image, len);
    if (t->mode == TINY_MODE_LONG)
        build_long_mode_tables(t);

    map_port(t, "test-report", GUEST_PORT_REPORT, 4, &report_ops);
    map_port(t, "test-exit", GUEST_PORT_EXIT, 1, &exit_ops);
    map_port(t, "test-progress", GUEST_PORT_PROGRESS, 4, &progress_ops);

    ck_assert_msg(vm_create_vcpus(t->vm, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(vm_vcpu_count(t->vm), vcpus);
    for (unsigned i = 0; i < vcpus; i++)
        setup_vcpu(t, i);
    return t;
}

void tiny_vm_free(TinyVm *t)
{
    if (!t)
        return;
    vm_free(t->vm);
    evloop_free(t->loop);
    accel_close(t->accel);
    g_array_free(t->reports, TRUE);
    g_mutex_clear(&t->lock);
    g_free(t->stop_detail);
    g_free(t);
}

Vm *tiny_vm_vm(TinyVm *t)
{
    return t->vm;
}

EventLoop *tiny_vm_loop(TinyVm *t)
{
    return t->loop;
}

void tiny_vm_start(TinyVm *t)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(vm_start(t->vm, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(vm_state(t->vm), VM_STATE_RUNNING);
}

static gboolean on_timeout(gpointer opaque)
{
    TinyVm *t = opaque;
    t->timed_out = true;
    evloop_quit(t->loop);
    return G_SOURCE_REMOVE;
}

bool tiny_vm_run(TinyVm *t, unsigned timeout_ms)
{
    if (vm_state(t->vm) == VM_STATE_CREATED)
        tiny_vm_start(t);
    t->timed_out = false;
    GSource *timer = evloop_add_timer(t->loop, timeout_ms, on_timeout, t);
    if (!t->stopped)
        evloop_run(t->loop);
    evloop_remove(timer);
    return t->stopped;
}

void tiny_vm_run_to_exit(TinyVm *t, unsigned timeout_ms)
{
    bool stopped = tiny_vm_run(t, timeout_ms);
    ck_assert_msg(stopped, "the guest did not stop within %u ms (%u report(s), %u exit(s))",
                  timeout_ms, tiny_vm_report_count(t), tiny_vm_exit_count(t));
    ck_assert_msg(t->stop_reason == VM_STOP_POWEROFF && g_strcmp0(t->stop_detail, "test exit") == 0,
                  "the VM stopped for another reason: %s (%s)", vm_stop_reason_name(t->stop_reason),
                  t->stop_detail);
}

VmStopReason tiny_vm_stop_reason(TinyVm *t)
{
    return t->stop_reason;
}

const char *tiny_vm_stop_detail(TinyVm *t)
{
    return t->stop_detail;
}

unsigned tiny_vm_report_count(TinyVm *t)
{
    g_mutex_lock(&t->lock);
    unsigned n = t->reports->len;
    g_mutex_unlock(&t->lock);
    return n;
}

TinyReport tiny_vm_report(TinyVm *t, unsigned index)
{
    g_mutex_lock(&t->lock);
    ck_assert_uint_lt(index, t->reports->len);
    TinyReport r = g_array_index(t->reports, TinyReport, index);
    g_mutex_unlock(&t->lock);
    return r;
}

/* Poll: the tests' waits are short and this keeps the harness free of
 * condition variables the vCPU side would have to signal. */
static bool wait_until(TinyVm *t, bool (*done)(TinyVm *t, uint64_t n), uint64_t n,
                       unsigned timeout_ms)
{
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;
    while (!done(t, n)) {
        if (g_get_monotonic_time() > deadline)
            return false;
        g_usleep(1000);
    }
    return true;
}

static bool have_reports(TinyVm *t, uint64_t n)
{
    return tiny_vm_report_count(t) >= n;
}

bool tiny_vm_wait_reports(TinyVm *t, unsigned n, unsigned timeout_ms)
{
    return wait_until(t, have_reports, n, timeout_ms);
}

void tiny_vm_assert_reports(TinyVm *t, const uint32_t *values, size_t n)
{
    unsigned count = tiny_vm_report_count(t);
    for (unsigned i = 0; i < count && i < n; i++) {
        TinyReport r = tiny_vm_report(t, i);
        ck_assert_msg(r.value == values[i], "report %u: guest wrote 0x%x, expected 0x%x", i,
                      r.value, values[i]);
    }
    ck_assert_msg(count == n, "the guest made %u report(s), expected %zu", count, n);
}

uint64_t tiny_vm_progress_writes(TinyVm *t)
{
    g_mutex_lock(&t->lock);
    uint64_t n = t->progress_writes;
    g_mutex_unlock(&t->lock);
    return n;
}

uint32_t tiny_vm_progress_last(TinyVm *t)
{
    g_mutex_lock(&t->lock);
    uint32_t v = t->progress_last;
    g_mutex_unlock(&t->lock);
    return v;
}

static bool have_progress(TinyVm *t, uint64_t n)
{
    return tiny_vm_progress_writes(t) >= n;
}

bool tiny_vm_wait_progress(TinyVm *t, uint64_t n, unsigned timeout_ms)
{
    return wait_until(t, have_progress, n, timeout_ms);
}

unsigned tiny_vm_exit_count(TinyVm *t)
{
    g_mutex_lock(&t->lock);
    unsigned n = t->exits;
    g_mutex_unlock(&t->lock);
    return n;
}

uint8_t tiny_vm_exit_status(TinyVm *t, unsigned index)
{
    g_mutex_lock(&t->lock);
    ck_assert_uint_lt(index, MIN(t->exits, TINY_MAX_EXITS));
    uint8_t s = t->exit_status[index];
    g_mutex_unlock(&t->lock);
    return s;
}

char *tiny_vm_thread_name(pid_t tid)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/comm", (int)tid);
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    g_strchomp(text);
    return text;
}

bool tiny_vm_wait_thread_gone(pid_t tid, unsigned timeout_ms)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d", (int)tid);
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;
    while (g_file_test(path, G_FILE_TEST_EXISTS)) {
        if (g_get_monotonic_time() > deadline)
            return false;
        g_usleep(1000);
    }
    return true;
}
