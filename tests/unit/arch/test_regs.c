/* Tests of arch/x86_64/regs.c (the pure parts): GDT descriptor encoding and
 * decoding, the boot GDT and special registers of both entry modes, and the
 * identity page tables and GDT written into guest memory. */
#include "arch/x86_64/layout.h"
#include "arch/x86_64/regs.h"
#include "support/check_main.h"

#include <errno.h>
#include <string.h>

#define MiB (1ull << 20)

#define CR0_PE (1ull << 0)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

typedef struct DescCase {
    const char *what;
    uint16_t flags;
    uint32_t base, limit;
    uint8_t type, s, dpl, present, db, l, g;
    uint32_t seg_limit; /* the byte-granular limit KVM wants */
} DescCase;

static const DescCase desc_cases[] = {
    { "code64", 0xa09b, 0, 0xfffff, 0xb, 1, 0, 1, 0, 1, 1, 0xffffffff },
    { "code32", 0xc09b, 0, 0xfffff, 0xb, 1, 0, 1, 1, 0, 1, 0xffffffff },
    { "data", 0xc093, 0, 0xfffff, 0x3, 1, 0, 1, 1, 0, 1, 0xffffffff },
    { "tss", 0x008b, 0, 0x67, 0xb, 0, 0, 1, 0, 0, 0, 0x67 },
    { "odd-base-g", 0xc0f3, 0x12345678, 0xabcde, 0x3, 1, 3, 1, 1, 0, 1, 0xabcdefff },
    { "byte-gran", 0x4093, 0xff00ff00, 0x12345, 0x3, 1, 0, 1, 1, 0, 0, 0x12345 },
    { "not-present", 0xc01b, 0x1000, 0xffff, 0xb, 1, 0, 0, 1, 0, 1, 0xfffffff },
};

START_TEST(test_descriptor_round_trip)
{
    const DescCase *c = &desc_cases[_i];
    uint64_t d = regs_gdt_entry(c->flags, c->base, c->limit);
    /* The raw layout (Intel SDM vol. 3 fig. 3-8). */
    ck_assert_uint_eq(d & 0xffff, c->limit & 0xffff);
    ck_assert_uint_eq((d >> 48) & 0xf, (c->limit >> 16) & 0xf);
    ck_assert_uint_eq((d >> 16) & 0xffffff, c->base & 0xffffff);
    ck_assert_uint_eq(d >> 56, c->base >> 24);
    ck_assert_uint_eq((d >> 40) & 0xff, c->flags & 0xff);
    ck_assert_uint_eq((d >> 52) & 0xf, c->flags >> 12);

    struct kvm_segment s = regs_segment_from_gdt(d, 0x28);
    ck_assert_msg(s.base == c->base, "%s base %#llx", c->what, (unsigned long long)s.base);
    ck_assert_msg(s.limit == c->seg_limit, "%s limit %#x", c->what, s.limit);
    ck_assert_uint_eq(s.selector, 0x28);
    ck_assert_uint_eq(s.type, c->type);
    ck_assert_uint_eq(s.s, c->s);
    ck_assert_uint_eq(s.dpl, c->dpl);
    ck_assert_uint_eq(s.present, c->present);
    ck_assert_uint_eq(s.db, c->db);
    ck_assert_uint_eq(s.l, c->l);
    ck_assert_uint_eq(s.g, c->g);
    ck_assert_uint_eq(s.avl, 0);
    ck_assert_uint_eq(s.unusable, !c->present);
}
END_TEST

START_TEST(test_descriptor_ignores_bits_8_to_11_of_flags)
{
    /* Bits 8-11 of the flags word overlap the limit's high nibble: ignored. */
    ck_assert_uint_eq(regs_gdt_entry(0xaf9b, 0, 0xfffff), regs_gdt_entry(0xa09b, 0, 0xfffff));
    ck_assert_uint_eq(regs_gdt_entry(0xa09b, 0, 0xffffffff), regs_gdt_entry(0xa09b, 0, 0xfffff));
    ck_assert_uint_eq(regs_gdt_entry(0, 0, 0), 0);
}
END_TEST

static void check_flat(const struct kvm_segment *s, uint16_t sel, uint8_t type)
{
    ck_assert_uint_eq(s->selector, sel);
    ck_assert_uint_eq(s->base, 0);
    ck_assert_uint_eq(s->limit, 0xffffffff);
    ck_assert_uint_eq(s->type, type);
    ck_assert_uint_eq(s->present, 1);
    ck_assert_uint_eq(s->s, 1);
    ck_assert_uint_eq(s->dpl, 0);
    ck_assert_uint_eq(s->g, 1);
    ck_assert_uint_eq(s->unusable, 0);
}

static void check_tr(const struct kvm_segment *tr)
{
    ck_assert_uint_eq(tr->selector, X86_BOOT_TSS);
    ck_assert_uint_eq(tr->present, 1);
    ck_assert_uint_eq(tr->unusable, 0);
    ck_assert_uint_eq(tr->s, 0);       /* a system descriptor */
    ck_assert_uint_eq(tr->type, 0xb);  /* busy 32-bit TSS, as VM entry requires */
    ck_assert_uint_ge(tr->limit, 0x67);
}

static void check_common_sregs(const struct kvm_sregs *s)
{
    ck_assert_uint_eq(s->gdt.base, X86_GDT_ADDR);
    ck_assert_uint_eq(s->gdt.limit, X86_GDT_ENTRIES * 8 - 1);
    ck_assert_uint_eq(s->idt.base, X86_IDT_ADDR);
    ck_assert_uint_ge(X86_IDT_ADDR, X86_GDT_ADDR + X86_GDT_ENTRIES * 8);
    ck_assert_uint_gt(X86_GDT_ENTRIES * 8, X86_BOOT_TSS);
    check_tr(&s->tr);
    const struct kvm_segment *data[] = { &s->ds, &s->es, &s->fs, &s->gs, &s->ss };
    for (unsigned i = 0; i < G_N_ELEMENTS(data); i++) {
        check_flat(data[i], X86_BOOT_DS, 0x3);
        ck_assert_uint_eq(data[i]->db, 1);
    }
}

START_TEST(test_sregs_linux64)
{
    struct kvm_sregs s;
    memset(&s, 0, sizeof s);
    s.apic_base = 0xfee00900; /* untouched fields survive */
    regs_build_sregs(X86_ENTRY_LINUX64, &s);
    ck_assert_uint_eq(s.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
    ck_assert(s.cr4 & CR4_PAE);
    ck_assert_uint_eq(s.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
    ck_assert_uint_eq(s.cr3, X86_PML4_ADDR);
    ck_assert_uint_eq(s.cs.selector, 0x10);
    check_flat(&s.cs, X86_BOOT_CS, 0xb);
    ck_assert_uint_eq(s.cs.l, 1);
    ck_assert_uint_eq(s.cs.db, 0); /* L=1 requires D=0 */
    ck_assert_uint_eq(s.ds.selector, 0x18);
    check_common_sregs(&s);
    ck_assert_uint_eq(s.apic_base, 0xfee00900);
}
END_TEST

START_TEST(test_sregs_pvh32)
{
    struct kvm_sregs s;
    memset(&s, 0xff, sizeof s); /* stale long-mode state must be cleared */
    memset(&s.interrupt_bitmap, 0, sizeof s.interrupt_bitmap);
    regs_build_sregs(X86_ENTRY_PVH32, &s);
    ck_assert(s.cr0 & CR0_PE);
    ck_assert(!(s.cr0 & CR0_PG));
    ck_assert_uint_eq(s.cr4, 0);
    ck_assert_uint_eq(s.efer, 0);
    ck_assert_uint_eq(s.cr3, 0);
    check_flat(&s.cs, X86_BOOT_CS, 0xb);
    ck_assert_uint_eq(s.cs.db, 1);
    ck_assert_uint_eq(s.cs.l, 0);
    check_common_sregs(&s);
}
END_TEST

START_TEST(test_build_gdt)
{
    uint64_t gdt[X86_GDT_ENTRIES];
    regs_build_gdt(X86_ENTRY_LINUX64, gdt);
    ck_assert_uint_eq(gdt[0], 0); /* null descriptor */
    ck_assert_uint_eq(gdt[1], 0);
    struct kvm_segment cs = regs_segment_from_gdt(gdt[X86_BOOT_CS / 8], X86_BOOT_CS);
    ck_assert_uint_eq(cs.l, 1);
    regs_build_gdt(X86_ENTRY_PVH32, gdt);
    cs = regs_segment_from_gdt(gdt[X86_BOOT_CS / 8], X86_BOOT_CS);
    ck_assert_uint_eq(cs.l, 0);
    ck_assert_uint_eq(cs.db, 1);
    struct kvm_segment tr = regs_segment_from_gdt(gdt[X86_BOOT_TSS / 8], X86_BOOT_TSS);
    check_tr(&tr);
}
END_TEST

static GuestMemory *mem;

static void mem_setup(void)
{
    static const MemoryBacking ram = { 0 };
    g_autoptr(GError) err = NULL;
    mem = memory_new(NULL);
    ck_assert_ptr_nonnull(memory_add_ram(mem, "ram", 0, 2 * MiB, &ram, &err));
}

static void mem_teardown(void)
{
    memory_free(mem);
    mem = NULL;
}

static uint64_t rd_guest64(Gpa gpa)
{
    uint64_t v;
    ck_assert(memory_read(mem, gpa, &v, sizeof v));
    return v;
}

/* Translate through the guest's page tables as the MMU would (4-level,
 * 2 MiB leaves at the PD level). */
static uint64_t walk(uint64_t va)
{
    uint64_t pml4e = rd_guest64(X86_PML4_ADDR + ((va >> 39) & 511) * 8);
    ck_assert_msg(pml4e & 1, "PML4E for %#llx not present", (unsigned long long)va);
    uint64_t pdpte = rd_guest64((pml4e & 0x000ffffffffff000ull) + ((va >> 30) & 511) * 8);
    ck_assert_msg(pdpte & 1, "PDPTE for %#llx not present", (unsigned long long)va);
    ck_assert(!(pdpte & (1 << 7)));
    uint64_t pde = rd_guest64((pdpte & 0x000ffffffffff000ull) + ((va >> 21) & 511) * 8);
    ck_assert_msg(pde & 1, "PDE for %#llx not present", (unsigned long long)va);
    ck_assert(pde & (1 << 7)); /* 2 MiB page */
    ck_assert(pde & (1 << 1)); /* writable */
    return (pde & 0x000fffffffe00000ull) | (va & 0x1fffff);
}

START_TEST(test_write_tables_linux64)
{
    g_autoptr(GError) err = NULL;
    ck_assert(regs_write_boot_tables(mem, X86_ENTRY_LINUX64, &err));
    ck_assert_ptr_null(err);

    static const uint64_t addrs[] = { 0, 0x1234567, 0xfee00000, 0xffffffff, 0x1000000,
                                      0x200000, 0x40000000, 0xbfffffff, 0xc0000000 };
    for (unsigned i = 0; i < G_N_ELEMENTS(addrs); i++)
        ck_assert_uint_eq(walk(addrs[i]), addrs[i]);
    for (uint64_t va = 0; va < X86_IDENTITY_MAPPED_SIZE; va += 2 * MiB + 4097)
        ck_assert_uint_eq(walk(va), va);
    /* Nothing above 4 GiB: PDPT entry 4 and PML4 entry 1 are empty. */
    ck_assert_uint_eq(rd_guest64(X86_PDPT_ADDR + 4 * 8), 0);
    ck_assert_uint_eq(rd_guest64(X86_PML4_ADDR + 8), 0);

    uint64_t gdt[X86_GDT_ENTRIES], want[X86_GDT_ENTRIES];
    ck_assert(memory_read(mem, X86_GDT_ADDR, gdt, sizeof gdt));
    regs_build_gdt(X86_ENTRY_LINUX64, want);
    ck_assert_mem_eq(gdt, want, sizeof gdt);
    ck_assert_uint_eq(rd_guest64(X86_IDT_ADDR), 0);
    /* The sregs describe exactly what was written. */
    struct kvm_sregs s = { 0 };
    regs_build_sregs(X86_ENTRY_LINUX64, &s);
    struct kvm_segment cs = regs_segment_from_gdt(gdt[s.cs.selector / 8], s.cs.selector);
    ck_assert_mem_eq(&cs, &s.cs, sizeof cs);
}
END_TEST

START_TEST(test_write_tables_pvh32)
{
    uint8_t junk[4096];
    memset(junk, 0x5a, sizeof junk);
    ck_assert(memory_write(mem, X86_PML4_ADDR, junk, sizeof junk));
    ck_assert(regs_write_boot_tables(mem, X86_ENTRY_PVH32, NULL));
    uint64_t gdt[X86_GDT_ENTRIES], want[X86_GDT_ENTRIES];
    ck_assert(memory_read(mem, X86_GDT_ADDR, gdt, sizeof gdt));
    regs_build_gdt(X86_ENTRY_PVH32, want);
    ck_assert_mem_eq(gdt, want, sizeof gdt);
    /* No page tables for a paging-off entry. */
    ck_assert_uint_eq(rd_guest64(X86_PML4_ADDR), 0x5a5a5a5a5a5a5a5aull);
}
END_TEST

START_TEST(test_write_tables_no_ram)
{
    g_autoptr(GuestMemory) empty = memory_new(NULL);
    g_autoptr(GError) err = NULL;
    ck_assert(!regs_write_boot_tables(empty, X86_ENTRY_LINUX64, &err));
    ck_assert_ptr_nonnull(err);
    /* RAM that holds the GDT but not the page tables. */
    static const MemoryBacking ram = { 0 };
    g_autoptr(GuestMemory) tiny = memory_new(NULL);
    ck_assert_ptr_nonnull(memory_add_ram(tiny, "tiny", 0, 0x1000, &ram, NULL));
    g_autoptr(GError) err2 = NULL;
    ck_assert(!regs_write_boot_tables(tiny, X86_ENTRY_LINUX64, &err2));
    ck_assert_ptr_nonnull(err2);
    ck_assert(regs_write_boot_tables(tiny, X86_ENTRY_PVH32, NULL));
}
END_TEST


/* --- the setters, against a vCPU that records register blocks ----------- */

typedef struct RecVcpu {
    AccelVcpu base;
    uint8_t block[ACCEL_REG_COUNT][sizeof(struct kvm_lapic_state) + sizeof(struct kvm_sregs)];
    size_t size[ACCEL_REG_COUNT];
    unsigned sets[ACCEL_REG_COUNT];
    int fail_get, fail_set; /* -errno to return, 0: succeed */
} RecVcpu;

static int rec_get(AccelVcpu *v, AccelRegBlock which, void *buf, size_t size)
{
    RecVcpu *r = (RecVcpu *)v;
    if (r->fail_get)
        return r->fail_get;
    ck_assert_uint_le(size, sizeof r->block[which]);
    memcpy(buf, r->block[which], size);
    return 0;
}

static int rec_set(AccelVcpu *v, AccelRegBlock which, const void *buf, size_t size)
{
    RecVcpu *r = (RecVcpu *)v;
    if (r->fail_set)
        return r->fail_set;
    ck_assert_uint_le(size, sizeof r->block[which]);
    memcpy(r->block[which], buf, size);
    r->size[which] = size;
    r->sets[which]++;
    return 0;
}

static const AccelOps rec_ops = { .name = "rec", .vcpu_get_regs = rec_get,
                                  .vcpu_set_regs = rec_set };

static RecVcpu *rec_new(void)
{
    RecVcpu *r = g_new0(RecVcpu, 1);
    r->base.ops = &rec_ops;
    return r;
}

START_TEST(test_setup_boot_cpu_linux64)
{
    g_autofree RecVcpu *r = rec_new();
    struct kvm_sregs pre = { .apic_base = 0xfee00900, .cr8 = 0 };
    memcpy(r->block[ACCEL_REG_SREGS], &pre, sizeof pre);
    X86BootEntry e = { .mode = X86_ENTRY_LINUX64, .rip = 0x1000200,
                       .boot_info = X86_ZERO_PAGE_ADDR };
    g_autoptr(GError) err = NULL;
    ck_assert(regs_setup_boot_cpu(&r->base, &e, &err));
    ck_assert_uint_eq(r->sets[ACCEL_REG_SREGS], 1);
    ck_assert_uint_eq(r->sets[ACCEL_REG_REGS], 1);
    ck_assert_uint_eq(r->size[ACCEL_REG_SREGS], sizeof(struct kvm_sregs));
    ck_assert_uint_eq(r->size[ACCEL_REG_REGS], sizeof(struct kvm_regs));
    struct kvm_sregs s, want = pre;
    memcpy(&s, r->block[ACCEL_REG_SREGS], sizeof s);
    regs_build_sregs(X86_ENTRY_LINUX64, &want);
    ck_assert_mem_eq(&s, &want, sizeof s);
    ck_assert_uint_eq(s.apic_base, 0xfee00900); /* read-modify-write */
    struct kvm_regs regs;
    memcpy(&regs, r->block[ACCEL_REG_REGS], sizeof regs);
    ck_assert_uint_eq(regs.rip, 0x1000200);
    ck_assert_uint_eq(regs.rsi, X86_ZERO_PAGE_ADDR);
    ck_assert_uint_eq(regs.rbx, 0);
    ck_assert_uint_eq(regs.rflags, 0x2);
    ck_assert_uint_ne(regs.rsp, 0);
    ck_assert_uint_lt(regs.rsp, X86_PML4_ADDR); /* the stack sits below the page tables */
}
END_TEST

START_TEST(test_setup_boot_cpu_pvh)
{
    g_autofree RecVcpu *r = rec_new();
    X86BootEntry e = { .mode = X86_ENTRY_PVH32, .rip = 0x1000100,
                       .boot_info = X86_PVH_INFO_ADDR };
    ck_assert(regs_setup_boot_cpu(&r->base, &e, NULL));
    struct kvm_regs regs;
    memcpy(&regs, r->block[ACCEL_REG_REGS], sizeof regs);
    ck_assert_uint_eq(regs.rip, 0x1000100);
    ck_assert_uint_eq(regs.rbx, X86_PVH_INFO_ADDR);
    ck_assert_uint_eq(regs.rflags, 0x2);
    struct kvm_sregs s;
    memcpy(&s, r->block[ACCEL_REG_SREGS], sizeof s);
    ck_assert(!(s.cr0 & CR0_PG));
    ck_assert_uint_eq(s.cs.db, 1);
}
END_TEST

START_TEST(test_setup_errors)
{
    g_autofree RecVcpu *r = rec_new();
    X86BootEntry e = { .mode = X86_ENTRY_LINUX64 };
    r->fail_get = -EIO;
    g_autoptr(GError) err = NULL;
    ck_assert(!regs_setup_boot_cpu(&r->base, &e, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_uint_eq(r->sets[ACCEL_REG_SREGS] + r->sets[ACCEL_REG_REGS], 0);
    g_autoptr(GError) err2 = NULL;
    ck_assert(!regs_setup_lapic(&r->base, &err2));
    ck_assert_ptr_nonnull(err2);
    r->fail_get = 0;
    r->fail_set = -EINVAL;
    g_autoptr(GError) err3 = NULL;
    ck_assert(!regs_setup_boot_cpu(&r->base, &e, &err3));
    ck_assert_ptr_nonnull(err3);
    g_autoptr(GError) err4 = NULL;
    ck_assert(!regs_setup_fpu(&r->base, &err4));
    ck_assert_ptr_nonnull(err4);
}
END_TEST

START_TEST(test_setup_fpu)
{
    g_autofree RecVcpu *r = rec_new();
    ck_assert(regs_setup_fpu(&r->base, NULL));
    struct kvm_fpu f;
    memcpy(&f, r->block[ACCEL_REG_FPU], sizeof f);
    ck_assert_uint_eq(f.fcw, 0x37f);
    ck_assert_uint_eq(f.mxcsr, 0x1f80);
}
END_TEST

static uint32_t lapic_reg(const RecVcpu *r, unsigned off)
{
    uint32_t v;
    memcpy(&v, r->block[ACCEL_REG_LAPIC] + off, 4);
    return v;
}

START_TEST(test_setup_lapic)
{
    g_autofree RecVcpu *r = rec_new();
    /* Masked LVTs with a vector and trigger bits that must survive. */
    uint32_t lvt0 = 0x10000 | 0x8000 | 0x0031, lvt1 = 0x10000 | 0x0700 | 0x0042;
    memcpy(r->block[ACCEL_REG_LAPIC] + 0x350, &lvt0, 4);
    memcpy(r->block[ACCEL_REG_LAPIC] + 0x360, &lvt1, 4);
    memset(r->block[ACCEL_REG_LAPIC] + 0x20, 0x5a, 4); /* APIC ID register */
    ck_assert(regs_setup_lapic(&r->base, NULL));
    ck_assert_uint_eq(r->size[ACCEL_REG_LAPIC], sizeof(struct kvm_lapic_state));
    ck_assert_uint_eq((lapic_reg(r, 0x350) >> 8) & 7, 7); /* LINT0: ExtINT */
    ck_assert_uint_eq((lapic_reg(r, 0x360) >> 8) & 7, 4); /* LINT1: NMI */
    ck_assert_uint_eq(lapic_reg(r, 0x350) & ~0x700u, lvt0 & ~0x700u);
    ck_assert_uint_eq(lapic_reg(r, 0x360) & ~0x700u, lvt1 & ~0x700u);
    ck_assert_uint_eq(lapic_reg(r, 0x20), 0x5a5a5a5a);
}
END_TEST

static struct kvm_cpuid2 *xsave_cpuid(bool xsave, bool leaf_d)
{
    struct kvm_cpuid2 *c = g_malloc0(sizeof *c + 2 * sizeof(struct kvm_cpuid_entry2));
    c->entries[c->nent++] = (struct kvm_cpuid_entry2){ .function = 1,
                                                       .ecx = xsave ? 1u << 26 : 0 };
    if (leaf_d)
        c->entries[c->nent++] = (struct kvm_cpuid_entry2){
            .function = 0xd, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x2e7, .edx = 0x2 };
    return c;
}

START_TEST(test_setup_xcr0)
{
    g_autofree RecVcpu *r = rec_new();
    g_autofree struct kvm_cpuid2 *c = xsave_cpuid(true, true);
    ck_assert(regs_setup_xcr0(&r->base, c, NULL));
    ck_assert_uint_eq(r->sets[ACCEL_REG_XCRS], 1);
    struct kvm_xcrs x;
    memcpy(&x, r->block[ACCEL_REG_XCRS], sizeof x);
    ck_assert_uint_eq(x.nr_xcrs, 1);
    ck_assert_uint_eq(x.xcrs[0].xcr, 0);
    ck_assert_uint_eq(x.xcrs[0].value, 0x2000002e7ull);
    ck_assert(x.xcrs[0].value & 1); /* x87 is mandatory */

    /* No XSAVE, or no leaf 0xD: nothing to set. */
    g_autofree RecVcpu *r2 = rec_new();
    g_autofree struct kvm_cpuid2 *c2 = xsave_cpuid(false, true);
    g_autofree struct kvm_cpuid2 *c3 = xsave_cpuid(true, false);
    ck_assert(regs_setup_xcr0(&r2->base, c2, NULL));
    ck_assert(regs_setup_xcr0(&r2->base, c3, NULL));
    ck_assert_uint_eq(r2->sets[ACCEL_REG_XCRS], 0);
}
END_TEST

static Suite *regs_suite(void)
{
    Suite *s = suite_create("regs");
    TCase *tc = tcase_create("descriptors");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_descriptor_round_trip, 0, G_N_ELEMENTS(desc_cases));
    tcase_add_test(tc, test_descriptor_ignores_bits_8_to_11_of_flags);
    tcase_add_test(tc, test_sregs_linux64);
    tcase_add_test(tc, test_sregs_pvh32);
    tcase_add_test(tc, test_build_gdt);
    suite_add_tcase(s, tc);
    tc = tcase_create("tables");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
    tcase_add_test(tc, test_write_tables_linux64);
    tcase_add_test(tc, test_write_tables_pvh32);
    tcase_add_test(tc, test_write_tables_no_ram);
    suite_add_tcase(s, tc);
    tc = tcase_create("vcpu");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_setup_boot_cpu_linux64);
    tcase_add_test(tc, test_setup_boot_cpu_pvh);
    tcase_add_test(tc, test_setup_errors);
    tcase_add_test(tc, test_setup_fpu);
    tcase_add_test(tc, test_setup_lapic);
    tcase_add_test(tc, test_setup_xcr0);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(regs_suite)
