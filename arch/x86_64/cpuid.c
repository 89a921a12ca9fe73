#include "arch/x86_64/cpuid.h"

#include <string.h>

/* Leaf 1 */
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)
/* Leaf 0x80000001 */
#define CPUID_EXT1_ECX_CMP_LEGACY (1u << 1)
/* Leaf 0xB / 0x1F level types */
#define TOPO_LEVEL_SMT 1
#define TOPO_LEVEL_CORE 2

uint32_t cpuid_id_bits(uint32_t n)
{
    uint32_t bits = 0;
    while ((1u << bits) < n)
        bits++;
    return bits;
}

const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c, uint32_t function,
                                          uint32_t index)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function != function)
            continue;
        if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
            return e;
    }
    return NULL;
}

/* Extended topology (leaf 0xB, and 0x1F where the host has it): level 0 is
 * SMT with one thread per core, level 1 the cores of the single package. */
static void topology_leaf(struct kvm_cpuid_entry2 *out, uint32_t function, uint32_t sub,
                          uint32_t index, uint32_t n_vcpus)
{
    memset(out, 0, sizeof *out);
    out->function = function;
    out->index = sub;
    out->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    out->edx = index; /* x2APIC ID on every subleaf */
    switch (sub) {
    case 0:
        out->eax = 0;
        out->ebx = 1;
        out->ecx = sub | (TOPO_LEVEL_SMT << 8);
        break;
    case 1:
        out->eax = cpuid_id_bits(n_vcpus);
        out->ebx = n_vcpus;
        out->ecx = sub | (TOPO_LEVEL_CORE << 8);
        break;
    default:
        out->ecx = sub; /* level type 0: end of the list */
        break;
    }
}

static void fix_entry(struct kvm_cpuid_entry2 *e, uint32_t index, uint32_t n_vcpus)
{
    uint32_t bits = cpuid_id_bits(n_vcpus);
    switch (e->function) {
    case 0x1:
        /* APIC ID, logical processors per package, CLFLUSH line size (8*8). */
        e->ebx = (index << 24) | ((n_vcpus & 0xff) << 16) | (8 << 8) | (e->ebx & 0xff);
        e->ecx |= CPUID_1_ECX_HYPERVISOR;
        if (n_vcpus > 1)
            e->edx |= CPUID_1_EDX_HTT;
        else
            e->edx &= ~CPUID_1_EDX_HTT;
        break;
    case 0x4:
        /* Deterministic cache parameters: cores per package, and which
         * logical processors share each cache (L1/L2 per core, L3 all). */
        if ((e->eax & 0x1f) != 0) {
            uint32_t level = (e->eax >> 5) & 7;
            uint32_t sharing = level >= 3 ? (1u << bits) - 1 : 0;
            e->eax = (e->eax & 0x3fff) | (sharing << 14) | ((((1u << bits) - 1) & 0x3f) << 26);
        }
        break;
    case 0x6:
        /* No thermal/power management for the guest to poke. */
        e->eax = e->ebx = e->ecx = e->edx = 0;
        break;
    case 0x80000001:
        if (n_vcpus > 1)
            e->ecx |= CPUID_EXT1_ECX_CMP_LEGACY;
        else
            e->ecx &= ~CPUID_EXT1_ECX_CMP_LEGACY;
        break;
    case 0x80000008:
        /* AMD: NC = cores - 1, ApicIdCoreIdSize. */
        e->ecx = (e->ecx & ~0xf0ffu) | (bits << 12) | ((n_vcpus - 1) & 0xff);
        break;
    case 0x8000001e:
        /* AMD: extended APIC ID, compute unit = core (1 thread), node 0. */
        e->eax = index;
        e->ebx = index & 0xff;
        e->ecx = 0;
        e->edx = 0;
        break;
    default:
        break;
    }
}

struct kvm_cpuid2 *cpuid_build(const struct kvm_cpuid2 *supported, uint32_t index,
                               uint32_t n_vcpus)
{
    /* Room for the supported entries plus three subleaves for each of the
     * two topology leaves, which replace what the host reported. */
    uint32_t cap = supported->nent + 6;
    struct kvm_cpuid2 *c =
        g_malloc0(sizeof *c + cap * sizeof(struct kvm_cpuid_entry2));
    bool has_1f = false, has_b = false;

    for (uint32_t i = 0; i < supported->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &supported->entries[i];
        if (e->function == 0xb) {
            has_b = true;
            continue;
        }
        if (e->function == 0x1f) {
            has_1f = true;
            continue;
        }
        struct kvm_cpuid_entry2 *o = &c->entries[c->nent++];
        *o = *e;
        fix_entry(o, index, n_vcpus);
    }
    const struct kvm_cpuid_entry2 *leaf0 = cpuid_find(supported, 0, 0);
    uint32_t max_leaf = leaf0 ? leaf0->eax : 0;
    if (has_b || max_leaf >= 0xb)
        for (uint32_t sub = 0; sub < 3; sub++)
            topology_leaf(&c->entries[c->nent++], 0xb, sub, index, n_vcpus);
    if (has_1f)
        for (uint32_t sub = 0; sub < 3; sub++)
            topology_leaf(&c->entries[c->nent++], 0x1f, sub, index, n_vcpus);
    return c;
}
