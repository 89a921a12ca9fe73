/* Tests of arch/x86_64/cpuid.c against a synthetic KVM_GET_SUPPORTED_CPUID
 * table shaped like an AMD EPYC host (64 cores / 128 threads): the per-vCPU
 * APIC IDs and topology for several vCPU counts, which leaves are passed
 * through untouched, and the lookup helpers. */
#include "arch/x86_64/cpuid.h"
#include "support/check_main.h"

#include <string.h>

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define MAX_ENT 64

/* Host values that must survive (or be rewritten) recognisably. */
#define HOST_1_EAX 0x00a00f11u
#define HOST_1_EBX 0x3f800805u /* APIC ID 0x3f, 128 logical, CLFLUSH 8, brand 5 */
#define HOST_1_ECX 0x7ef8320bu
#define HOST_1_EDX 0x178bfbffu /* HTT (bit 28) set */
#define HOST_EXT1_ECX 0x75c237ffu /* CMP_LEGACY (bit 1) and TOPOEXT (bit 22) set */
#define HOST_EXT8_ECX 0x0003707fu /* PerfTscSize 3, ApicIdSize 7, NC 127 */

static struct kvm_cpuid2 *new_table(void)
{
    return g_malloc0(sizeof(struct kvm_cpuid2) + MAX_ENT * sizeof(struct kvm_cpuid_entry2));
}

static void add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t flags, uint32_t eax,
                uint32_t ebx, uint32_t ecx, uint32_t edx)
{
    ck_assert_uint_lt(c->nent, MAX_ENT);
    c->entries[c->nent++] = (struct kvm_cpuid_entry2){ .function = fn, .index = idx,
                                                       .flags = flags, .eax = eax, .ebx = ebx,
                                                       .ecx = ecx, .edx = edx };
}

/* Leaf 4 EAX as the host reports it: type, level, self-initialising, the
 * host's sharing and core counts. */
static uint32_t leaf4_eax(uint32_t type, uint32_t level, uint32_t sharing)
{
    return type | level << 5 | 1u << 8 | sharing << 14 | 63u << 26;
}

static struct kvm_cpuid2 *epyc_supported(bool with_1f, bool with_b)
{
    struct kvm_cpuid2 *c = new_table();
    add(c, 0x0, 0, 0, with_1f ? 0x1f : 0xd, 0x68747541, 0x444d4163, 0x69746e65);
    add(c, 0x1, 0, 0, HOST_1_EAX, HOST_1_EBX, HOST_1_ECX, HOST_1_EDX);
    add(c, 0x4, 0, SIG, leaf4_eax(1, 1, 1), 0x01c0003f, 0x3f, 0);  /* L1d */
    add(c, 0x4, 1, SIG, leaf4_eax(2, 1, 1), 0x01c0003f, 0x3f, 0);  /* L1i */
    add(c, 0x4, 2, SIG, leaf4_eax(3, 2, 1), 0x01c0003f, 0x3ff, 0); /* L2 */
    add(c, 0x4, 3, SIG, leaf4_eax(3, 3, 15), 0x03c0003f, 0x7fff, 1); /* L3 */
    add(c, 0x4, 4, SIG, 0, 0, 0, 0);                               /* no more */
    add(c, 0x6, 0, 0, 0x4, 0, 0x1, 0);
    add(c, 0x7, 0, SIG, 0, 0x219c97a9, 0x0040069c, 0x10);
    if (with_b) {
        add(c, 0xb, 0, SIG, 1, 2, 0x100, 0x3f);
        add(c, 0xb, 1, SIG, 7, 128, 0x201, 0x3f);
        add(c, 0xb, 2, SIG, 0, 0, 0x2, 0x3f);
    }
    add(c, 0xd, 0, SIG, 0x207, 0x988, 0x988, 0);
    add(c, 0xd, 1, SIG, 0xf, 0x348, 0x1800, 0);
    if (with_1f) {
        add(c, 0x1f, 0, SIG, 1, 2, 0x100, 0x3f);
        add(c, 0x1f, 1, SIG, 7, 128, 0x201, 0x3f);
        add(c, 0x1f, 2, SIG, 0, 0, 0x2, 0x3f);
    }
    add(c, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
    add(c, 0x40000001, 0, 0, 0x01007afb, 0, 0, 0x1);
    add(c, 0x80000000, 0, 0, 0x8000001f, 0x68747541, 0x444d4163, 0x69746e65);
    add(c, 0x80000001, 0, 0, 0x00a00f11, 0x40000000, HOST_EXT1_ECX, 0x2fd3fbff);
    add(c, 0x80000008, 0, 0, 0x3030, 0x91bef75f, HOST_EXT8_ECX, 0);
    add(c, 0x8000001e, 0, 0, 0x3f, 0x11f, 0x0, 0);
    add(c, 0x8000001f, 0, 0, 0x1, 0xb3, 0, 0);
    return c;
}

static const struct kvm_cpuid_entry2 *must_find(const struct kvm_cpuid2 *c, uint32_t fn,
                                                uint32_t idx)
{
    const struct kvm_cpuid_entry2 *e = cpuid_find(c, fn, idx);
    ck_assert_msg(e != NULL, "leaf %#x.%u missing", fn, idx);
    return e;
}

static unsigned count_fn(const struct kvm_cpuid2 *c, uint32_t fn)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < c->nent; i++)
        n += c->entries[i].function == fn;
    return n;
}

static void check_no_duplicates(const struct kvm_cpuid2 *c)
{
    for (uint32_t i = 0; i < c->nent; i++)
        for (uint32_t j = i + 1; j < c->nent; j++) {
            const struct kvm_cpuid_entry2 *a = &c->entries[i], *b = &c->entries[j];
            if (a->function != b->function)
                continue;
            /* Same function twice is only legal as distinct subleaves. */
            ck_assert_msg((a->flags & SIG) && (b->flags & SIG) && a->index != b->index,
                          "leaf %#x.%u duplicated (entries %u and %u)", a->function, a->index,
                          i, j);
        }
}

static void check_same(const struct kvm_cpuid2 *out, const struct kvm_cpuid2 *sup, uint32_t fn,
                       uint32_t idx)
{
    const struct kvm_cpuid_entry2 *a = must_find(out, fn, idx), *b = must_find(sup, fn, idx);
    ck_assert_msg(a->eax == b->eax && a->ebx == b->ebx && a->ecx == b->ecx && a->edx == b->edx &&
                      a->flags == b->flags && a->index == b->index,
                  "leaf %#x.%u changed", fn, idx);
}

static void check_topology_leaf(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t index,
                                uint32_t n)
{
    uint32_t bits = cpuid_id_bits(n);
    ck_assert_uint_eq(count_fn(c, fn), 3);
    for (uint32_t sub = 0; sub < 3; sub++) {
        const struct kvm_cpuid_entry2 *e = must_find(c, fn, sub);
        ck_assert_uint_eq(e->index, sub);
        ck_assert(e->flags & SIG);
        ck_assert_uint_eq(e->ecx & 0xff, sub);   /* level number echoes the subleaf */
        ck_assert_uint_eq(e->edx, index);        /* x2APIC ID on every subleaf */
    }
    const struct kvm_cpuid_entry2 *smt = must_find(c, fn, 0), *core = must_find(c, fn, 1),
                                  *end = must_find(c, fn, 2);
    ck_assert_uint_eq((smt->ecx >> 8) & 0xff, 1);  /* SMT */
    ck_assert_uint_eq(smt->eax & 0x1f, 0);         /* one thread per core */
    ck_assert_uint_eq(smt->ebx & 0xffff, 1);
    ck_assert_uint_eq((core->ecx >> 8) & 0xff, 2); /* core */
    ck_assert_uint_eq(core->eax & 0x1f, bits);
    ck_assert_uint_eq(core->ebx & 0xffff, n);
    ck_assert_uint_eq((end->ecx >> 8) & 0xff, 0);  /* invalid: end of the list */
    ck_assert_uint_eq(end->eax, 0);
    ck_assert_uint_eq(end->ebx, 0);
    /* The shift puts every vCPU into package 0, and distinct IDs stay distinct. */
    ck_assert_uint_eq((n - 1) >> (core->eax & 0x1f), 0);
    ck_assert_uint_eq(index >> (core->eax & 0x1f), 0);
}

static void check_vcpu(const struct kvm_cpuid2 *sup, uint32_t index, uint32_t n, bool has_1f)
{
    g_autofree struct kvm_cpuid2 *c = cpuid_build(sup, index, n);
    ck_assert_ptr_nonnull(c);
    uint32_t bits = cpuid_id_bits(n);
    check_no_duplicates(c);
    ck_assert_uint_eq(c->nent, sup->nent); /* host 0xb/0x1f replaced one for one */

    /* Leaf 1: APIC ID, logical count, HTT iff more than one, hypervisor bit. */
    const struct kvm_cpuid_entry2 *l1 = must_find(c, 1, 0);
    ck_assert_uint_eq(l1->eax, HOST_1_EAX);
    ck_assert_uint_eq(l1->ebx >> 24, index);
    ck_assert_uint_eq((l1->ebx >> 16) & 0xff, n);
    ck_assert_uint_eq((l1->ebx >> 8) & 0xff, 8);
    ck_assert_uint_eq(l1->ebx & 0xff, HOST_1_EBX & 0xff);
    ck_assert(l1->ecx & (1u << 31));
    ck_assert_uint_eq(l1->ecx & ~(1u << 31), HOST_1_ECX);
    ck_assert_uint_eq(!!(l1->edx & (1u << 28)), n > 1);
    ck_assert_uint_eq(l1->edx & ~(1u << 28), HOST_1_EDX & ~(1u << 28));

    /* Leaf 4: cores per package and sharing, cache description kept. */
    for (uint32_t sub = 0; sub < 5; sub++) {
        const struct kvm_cpuid_entry2 *o = must_find(c, 4, sub), *h = must_find(sup, 4, sub);
        ck_assert_uint_eq(o->ebx, h->ebx);
        ck_assert_uint_eq(o->ecx, h->ecx);
        ck_assert_uint_eq(o->edx, h->edx);
        if ((h->eax & 0x1f) == 0) {
            ck_assert_uint_eq(o->eax, 0);
            continue;
        }
        uint32_t level = (h->eax >> 5) & 7;
        ck_assert_uint_eq(o->eax & 0x3fff, h->eax & 0x3fff);
        /* Addressable core IDs - 1: the SDM's power-of-two form of cores-1. */
        ck_assert_uint_eq(o->eax >> 26, ((1u << bits) - 1) & 0x3f);
        ck_assert_uint_ge((o->eax >> 26) + 1, MIN(n, 64u));
        uint32_t sharing = (o->eax >> 14) & 0xfff;
        if (level >= 3)
            ck_assert_uint_eq(sharing, (1u << bits) - 1); /* L3: the whole package */
        else
            ck_assert_uint_eq(sharing, 0);                /* L1/L2: this core only */
    }

    /* Leaf 6: no thermal/power interface. */
    const struct kvm_cpuid_entry2 *l6 = must_find(c, 6, 0);
    ck_assert(!l6->eax && !l6->ebx && !l6->ecx && !l6->edx);

    /* Topology leaves. */
    check_topology_leaf(c, 0xb, index, n);
    if (has_1f)
        check_topology_leaf(c, 0x1f, index, n);
    else
        ck_assert_ptr_null(cpuid_find(c, 0x1f, 0));

    /* AMD extended leaves. */
    const struct kvm_cpuid_entry2 *e1 = must_find(c, 0x80000001, 0);
    ck_assert_uint_eq(!!(e1->ecx & 2), n > 1);
    ck_assert_uint_eq(e1->ecx & ~2u, HOST_EXT1_ECX & ~2u);
    const struct kvm_cpuid_entry2 *e8 = must_find(c, 0x80000008, 0), *h8 =
        must_find(sup, 0x80000008, 0);
    ck_assert_uint_eq(e8->ecx & 0xff, n - 1);              /* NC */
    ck_assert_uint_eq((e8->ecx >> 12) & 0xf, bits);        /* ApicIdSize */
    ck_assert_uint_eq(e8->ecx & ~0xf0ffu, HOST_EXT8_ECX & ~0xf0ffu);
    ck_assert_uint_eq(e8->eax, h8->eax);
    ck_assert_uint_eq(e8->ebx, h8->ebx);
    const struct kvm_cpuid_entry2 *e1e = must_find(c, 0x8000001e, 0);
    ck_assert_uint_eq(e1e->eax, index);            /* extended APIC ID */
    ck_assert_uint_eq(e1e->ebx & 0xff, index);     /* compute unit = core */
    ck_assert_uint_eq((e1e->ebx >> 8) & 0xff, 0);  /* one thread per unit */
    ck_assert_uint_eq(e1e->ecx, 0);                /* node 0, one node */

    /* Passed through untouched. */
    check_same(c, sup, 0x0, 0);
    check_same(c, sup, 0x7, 0);
    check_same(c, sup, 0xd, 0);
    check_same(c, sup, 0xd, 1);
    check_same(c, sup, 0x40000000, 0);
    check_same(c, sup, 0x40000001, 0);
    check_same(c, sup, 0x80000000, 0);
    check_same(c, sup, 0x8000001f, 0);
}

static const uint32_t vcpu_counts[] = { 1, 2, 3, 4, 8, 254 };

START_TEST(test_build_every_vcpu)
{
    uint32_t n = vcpu_counts[_i];
    g_autofree struct kvm_cpuid2 *sup = epyc_supported(false, true);
    for (uint32_t index = 0; index < n; index++)
        check_vcpu(sup, index, n, false);
}
END_TEST

START_TEST(test_build_every_vcpu_with_1f)
{
    uint32_t n = vcpu_counts[_i];
    g_autofree struct kvm_cpuid2 *sup = epyc_supported(true, true);
    for (uint32_t index = 0; index < n; index++)
        check_vcpu(sup, index, n, true);
}
END_TEST

START_TEST(test_build_does_not_modify_supported)
{
    g_autofree struct kvm_cpuid2 *sup = epyc_supported(true, true);
    g_autofree struct kvm_cpuid2 *copy = epyc_supported(true, true);
    g_autofree struct kvm_cpuid2 *c = cpuid_build(sup, 3, 4);
    ck_assert_mem_eq(sup, copy, sizeof *sup + sup->nent * sizeof sup->entries[0]);
}
END_TEST

START_TEST(test_build_without_host_leaf_b)
{
    /* Max leaf 0xd but the host table lacks 0xb: it is still synthesised. */
    g_autofree struct kvm_cpuid2 *sup = epyc_supported(false, false);
    g_autofree struct kvm_cpuid2 *c = cpuid_build(sup, 1, 2);
    check_no_duplicates(c);
    ck_assert_uint_eq(c->nent, sup->nent + 3);
    check_topology_leaf(c, 0xb, 1, 2);

    /* A host whose max leaf is below 0xb gets no leaf 0xb. */
    struct kvm_cpuid_entry2 *l0 = (struct kvm_cpuid_entry2 *)cpuid_find(sup, 0, 0);
    l0->eax = 0x7;
    g_autofree struct kvm_cpuid2 *c2 = cpuid_build(sup, 1, 2);
    ck_assert_ptr_null(cpuid_find(c2, 0xb, 0));
    ck_assert_uint_eq(c2->nent, sup->nent);
}
END_TEST

START_TEST(test_build_minimal_table)
{
    /* Only leaf 0: no crash, leaf 0 kept, nothing else invented. */
    g_autofree struct kvm_cpuid2 *sup = new_table();
    add(sup, 0x0, 0, 0, 0x1, 0, 0, 0);
    g_autofree struct kvm_cpuid2 *c = cpuid_build(sup, 0, 1);
    ck_assert_uint_eq(c->nent, 1);
    g_autofree struct kvm_cpuid2 *empty = new_table();
    g_autofree struct kvm_cpuid2 *c0 = cpuid_build(empty, 0, 1);
    ck_assert_uint_eq(c0->nent, 0);
}
END_TEST

START_TEST(test_find)
{
    g_autofree struct kvm_cpuid2 *c = new_table();
    add(c, 0x1, 0, 0, 0x11, 0, 0, 0);
    add(c, 0x4, 0, SIG, 0x40, 0, 0, 0);
    add(c, 0x4, 1, SIG, 0x41, 0, 0, 0);
    add(c, 0xd, 1, SIG, 0xd1, 0, 0, 0);

    /* Without a significant index, any requested index matches. */
    ck_assert_uint_eq(must_find(c, 1, 0)->eax, 0x11);
    ck_assert_uint_eq(must_find(c, 1, 7)->eax, 0x11);
    /* With one, only the exact subleaf. */
    ck_assert_uint_eq(must_find(c, 4, 0)->eax, 0x40);
    ck_assert_uint_eq(must_find(c, 4, 1)->eax, 0x41);
    ck_assert_ptr_null(cpuid_find(c, 4, 2));
    ck_assert_ptr_null(cpuid_find(c, 0xd, 0));
    ck_assert_uint_eq(must_find(c, 0xd, 1)->eax, 0xd1);
    ck_assert_ptr_null(cpuid_find(c, 0x2, 0));
    ck_assert_ptr_eq(cpuid_find(c, 4, 1), &c->entries[2]);
}
END_TEST

START_TEST(test_id_bits)
{
    static const uint32_t expect[] = { 0, 0, 1, 2, 2, 3, 3, 3, 3, 4 };
    for (uint32_t n = 0; n < G_N_ELEMENTS(expect); n++)
        ck_assert_msg(cpuid_id_bits(n) == expect[n], "cpuid_id_bits(%u) = %u", n,
                      cpuid_id_bits(n));
    ck_assert_uint_eq(cpuid_id_bits(16), 4);
    ck_assert_uint_eq(cpuid_id_bits(17), 5);
    ck_assert_uint_eq(cpuid_id_bits(254), 8);
    ck_assert_uint_eq(cpuid_id_bits(256), 8);
    ck_assert_uint_eq(cpuid_id_bits(257), 9);
    /* The defining property: 2^bits >= n > 2^(bits-1). */
    for (uint32_t n = 2; n < 1000; n++) {
        uint32_t b = cpuid_id_bits(n);
        ck_assert_uint_ge(1u << b, n);
        ck_assert_uint_lt(1u << (b - 1), n);
    }
}
END_TEST

static Suite *cpuid_suite(void)
{
    Suite *s = suite_create("cpuid");
    TCase *tc = tcase_create("build");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_build_every_vcpu, 0, G_N_ELEMENTS(vcpu_counts));
    tcase_add_loop_test(tc, test_build_every_vcpu_with_1f, 0, G_N_ELEMENTS(vcpu_counts));
    tcase_add_test(tc, test_build_does_not_modify_supported);
    tcase_add_test(tc, test_build_without_host_leaf_b);
    tcase_add_test(tc, test_build_minimal_table);
    suite_add_tcase(s, tc);
    tc = tcase_create("helpers");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_find);
    tcase_add_test(tc, test_id_bits);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(cpuid_suite)
