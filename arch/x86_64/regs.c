#include "arch/x86_64/regs.h"

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/layout.h"
#include "hypervisor/error.h"

#include <string.h>

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE (1ull << 1)
#define PTE_HUGE (1ull << 7)

/* Descriptor flags: high nibble G D/B L AVL, low byte P DPL S type. */
#define GDT_CODE64 0xa09b
#define GDT_CODE32 0xc09b
#define GDT_DATA 0xc093
#define GDT_TSS32 0x008b

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

uint64_t regs_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
           ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
           (uint64_t)(limit & 0x0000ffffu);
}

struct kvm_segment regs_segment_from_gdt(uint64_t e, uint16_t selector)
{
    uint32_t limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000));
    bool g = (e >> 55) & 1;
    struct kvm_segment s = {
        .base = (uint32_t)(((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000)),
        .limit = g ? (limit << 12) | 0xfff : limit,
        .selector = selector,
        .type = (e >> 40) & 0xf,
        .present = (e >> 47) & 1,
        .dpl = (e >> 45) & 3,
        .db = (e >> 54) & 1,
        .s = (e >> 44) & 1,
        .l = (e >> 53) & 1,
        .g = g,
        .avl = (e >> 52) & 1,
    };
    s.unusable = !s.present;
    return s;
}

void regs_build_gdt(X86EntryMode mode, uint64_t gdt[])
{
    memset(gdt, 0, X86_GDT_ENTRIES * sizeof gdt[0]);
    gdt[X86_BOOT_CS / 8] =
        regs_gdt_entry(mode == X86_ENTRY_LINUX64 ? GDT_CODE64 : GDT_CODE32, 0, 0xfffff);
    gdt[X86_BOOT_DS / 8] = regs_gdt_entry(GDT_DATA, 0, 0xfffff);
    /* PVH requires TR to hold a valid 32-bit TSS; long mode keeps one too so
     * the guest never sees an unusable task register. */
    gdt[X86_BOOT_TSS / 8] = regs_gdt_entry(GDT_TSS32, 0, 0x67);
}

static bool write_page_tables(GuestMemory *mem, GError **errp)
{
    uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 };
    g_autofree uint64_t *pd = g_new0(uint64_t, 512 * 4);
    pml4[0] = X86_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
    for (unsigned i = 0; i < 4; i++)
        pdpt[i] = (X86_PD_ADDR + i * 0x1000) | PTE_PRESENT | PTE_WRITE;
    for (uint64_t i = 0; i < 512 * 4; i++)
        pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
    if (!memory_write(mem, X86_PML4_ADDR, pml4, sizeof pml4) ||
        !memory_write(mem, X86_PDPT_ADDR, pdpt, sizeof pdpt) ||
        !memory_write(mem, X86_PD_ADDR, pd, 512 * 4 * sizeof(uint64_t))) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write boot page tables");
        return false;
    }
    return true;
}

bool regs_write_boot_tables(GuestMemory *mem, X86EntryMode mode, GError **errp)
{
    uint64_t gdt[X86_GDT_ENTRIES];
    uint64_t idt = 0;
    regs_build_gdt(mode, gdt);
    if (!memory_write(mem, X86_GDT_ADDR, gdt, sizeof gdt) ||
        !memory_write(mem, X86_IDT_ADDR, &idt, sizeof idt)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write the boot GDT");
        return false;
    }
    return mode == X86_ENTRY_PVH32 || write_page_tables(mem, errp);
}

void regs_build_sregs(X86EntryMode mode, struct kvm_sregs *s)
{
    uint64_t gdt[X86_GDT_ENTRIES];
    regs_build_gdt(mode, gdt);
    struct kvm_segment code = regs_segment_from_gdt(gdt[X86_BOOT_CS / 8], X86_BOOT_CS);
    struct kvm_segment data = regs_segment_from_gdt(gdt[X86_BOOT_DS / 8], X86_BOOT_DS);
    s->cs = code;
    s->ds = s->es = s->fs = s->gs = s->ss = data;
    s->tr = regs_segment_from_gdt(gdt[X86_BOOT_TSS / 8], X86_BOOT_TSS);
    s->gdt.base = X86_GDT_ADDR;
    s->gdt.limit = X86_GDT_ENTRIES * 8 - 1;
    s->idt.base = X86_IDT_ADDR;
    s->idt.limit = 7;
    if (mode == X86_ENTRY_LINUX64) {
        s->cr0 = CR0_PE | CR0_ET | CR0_PG;
        s->cr3 = X86_PML4_ADDR;
        s->cr4 = CR4_PAE;
        s->efer = EFER_LME | EFER_LMA;
    } else {
        s->cr0 = CR0_PE | CR0_ET;
        s->cr3 = 0;
        s->cr4 = 0;
        s->efer = 0;
    }
}

bool regs_setup_boot_cpu(AccelVcpu *v, const X86BootEntry *entry, GError **errp)
{
    struct kvm_sregs sregs;
    if (!accel_vcpu_get(v, ACCEL_REG_SREGS, "special registers", &sregs, sizeof sregs, errp))
        return false;
    regs_build_sregs(entry->mode, &sregs);
    if (!accel_vcpu_set(v, ACCEL_REG_SREGS, "special registers", &sregs, sizeof sregs, errp))
        return false;

    struct kvm_regs regs = { .rflags = 0x2, .rip = entry->rip };
    if (entry->mode == X86_ENTRY_LINUX64) {
        regs.rsi = entry->boot_info;
        regs.rsp = regs.rbp = X86_BOOT_STACK_ADDR;
    } else {
        regs.rbx = entry->boot_info;
    }
    return accel_vcpu_set(v, ACCEL_REG_REGS, "registers", &regs, sizeof regs, errp);
}

bool regs_setup_fpu(AccelVcpu *v, GError **errp)
{
    /* The x87 and SSE control words as after FNINIT / reset. */
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    return accel_vcpu_set(v, ACCEL_REG_FPU, "FPU state", &fpu, sizeof fpu, errp);
}

static void lvt_set_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
    uint32_t val;
    memcpy(&val, &l->regs[reg], 4);
    val = (val & ~0x700u) | (mode << 8);
    memcpy(&l->regs[reg], &val, 4);
}

bool regs_setup_lapic(AccelVcpu *v, GError **errp)
{
    struct kvm_lapic_state lapic;
    if (!accel_vcpu_get(v, ACCEL_REG_LAPIC, "local APIC", &lapic, sizeof lapic, errp))
        return false;
    lvt_set_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
    lvt_set_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
    return accel_vcpu_set(v, ACCEL_REG_LAPIC, "local APIC", &lapic, sizeof lapic, errp);
}

#define CPUID_1_ECX_XSAVE (1u << 26)
#define XCR0_X87 1ull

bool regs_setup_xcr0(AccelVcpu *v, const struct kvm_cpuid2 *cpuid, GError **errp)
{
    const struct kvm_cpuid_entry2 *l1 = cpuid_find(cpuid, 1, 0);
    const struct kvm_cpuid_entry2 *xs = cpuid_find(cpuid, 0xd, 0);
    if (!l1 || !(l1->ecx & CPUID_1_ECX_XSAVE) || !xs)
        return true;
    struct kvm_xcrs xcrs = { .nr_xcrs = 1 };
    xcrs.xcrs[0].xcr = 0;
    xcrs.xcrs[0].value = (xs->eax | (uint64_t)xs->edx << 32) | XCR0_X87;
    return accel_vcpu_set(v, ACCEL_REG_XCRS, "XCR0", &xcrs, sizeof xcrs, errp);
}
