/* The state description registry of the tests (see state_registry.h) and the
 * test descriptions: every field type, nesting, arrays, a custom field, a
 * subsection, and a description at several versions. */
#include "state_registry.h"

#include "arch/aarch64/vcpu_state.h"
#include "arch/aarch64/vm_state.h"
#include "devices/acpi/ged.h"
#include "devices/gpio/pl061.h"
#include "devices/misc/i8042.h"
#include "devices/misc/port_sink.h"
#include "devices/rtc/cmos_rtc.h"
#include "devices/rtc/pl031.h"
#include "devices/serial/pl011.h"
#include "devices/serial/uart16550.h"
#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/console/console.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/vsock/vsock.h"
#include "hypervisor/le.h"
#include "pci/device.h"

#include <string.h>

/* ---- test descriptions --------------------------------------------------- */

static const StateField test_inner_fields[] = {
    STATE_U32(TestInner, a, 1),
    STATE_U16(TestInner, b, 2),
    STATE_BYTES(TestInner, tag, 3),
    STATE_END
};

const StateDesc test_inner_state = {
    .name = "test-inner", .version = 1, .min_version = 1, .size = sizeof(TestInner),
    .fields = test_inner_fields,
};

static bool test_elem_post_load(void *obj, unsigned version, GError **errp)
{
    const TestElem *e = obj;
    if (e->size & (e->size - 1)) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "size %u is not a power of two", e->size);
        return false;
    }
    return true;
}

static const StateField test_elem_fields[] = {
    STATE_U64(TestElem, addr, 1),
    STATE_U16(TestElem, size, 2),
    STATE_BOOL(TestElem, ready, 3),
    STATE_END
};

const StateDesc test_elem_state = {
    .name = "test-elem", .version = 1, .min_version = 1, .size = sizeof(TestElem),
    .fields = test_elem_fields, .post_load = test_elem_post_load,
};

/* Custom field: clen, then the first clen bytes of cbuf. */
static void cbuf_save(const void *obj, const StateField *f, GByteArray *out)
{
    const TestAll *t = obj;
    g_assert(t->clen <= TEST_CBUF);
    g_byte_array_append(out, &t->clen, 1);
    g_byte_array_append(out, t->cbuf, t->clen);
}

static bool cbuf_load(void *obj, const StateField *f, const uint8_t *buf, size_t len, GError **errp)
{
    TestAll *t = obj;
    if (len < 1 || buf[0] > TEST_CBUF || len != 1u + buf[0]) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "bad buffer encoding (%zu bytes)", len);
        return false;
    }
    t->clen = buf[0];
    memcpy(t->cbuf, buf + 1, t->clen);
    return true;
}

static const StateCustomOps cbuf_ops = { .save = cbuf_save, .load = cbuf_load };

static bool test_all_extra_needed(const void *obj)
{
    return ((const TestAll *)obj)->has_extra;
}

static const StateField test_all_extra_fields[] = {
    STATE_U64(TestAll, extra, 1),
    STATE_U32_MAX(TestAll, extra_count, 2, 7),
    STATE_END
};

const StateDesc test_all_extra_state = {
    .name = "test-all/extra", .version = 1, .min_version = 1, .size = sizeof(TestAll),
    .fields = test_all_extra_fields,
};

static bool test_all_post_load(void *obj, unsigned version, GError **errp)
{
    const TestAll *t = obj;
    if (!t->has_extra && t->extra) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "extra without has_extra");
        return false;
    }
    return true;
}

static const StateField test_all_fields[] = {
    STATE_U8(TestAll, u8v, 1),
    STATE_U16(TestAll, u16v, 2),
    STATE_U32(TestAll, u32v, 3),
    STATE_U64(TestAll, u64v, 4),
    STATE_BOOL(TestAll, flag, 5),
    STATE_I32(TestAll, i32v, 6),
    STATE_I64(TestAll, i64v, 7),
    STATE_BYTES(TestAll, bytes, 8),
    STATE_U16_ARRAY(TestAll, words, 9),
    STATE_U32_ARRAY(TestAll, regs, 10),
    STATE_U64_ARRAY(TestAll, big, 11),
    STATE_U32_MAX(TestAll, mode, 12, TEST_MODE_C),
    STATE_U32_MAX(TestAll, bounded, 13, 100),
    STATE_STRUCT(TestAll, inner, 14, &test_inner_state),
    STATE_STRUCT_ARRAY(TestAll, elems, nelems, 15, &test_elem_state),
    STATE_CUSTOM(TestAll, cbuf, 16, &cbuf_ops),
    STATE_BOOL(TestAll, has_extra, 17),
    STATE_END
};

const StateDesc test_all_state = {
    .name = "test-all", .version = 1, .min_version = 1, .size = sizeof(TestAll),
    .fields = test_all_fields, .post_load = test_all_post_load,
    .sections = (const StateSection[]){ { &test_all_extra_state, test_all_extra_needed, 0 }, { NULL } },
};

static void test_elem_fixup(void *obj, GRand *rand)
{
    ((TestElem *)obj)->size = (uint16_t)(1u << g_rand_int_range(rand, 0, 16));
}

void test_all_fixup(void *obj, GRand *rand)
{
    TestAll *t = obj;
    for (unsigned i = 0; i < TEST_ELEMS; i++)
        t->elems[i].size = (uint16_t)(1u << g_rand_int_range(rand, 0, 16));
    t->clen = (uint8_t)g_rand_int_range(rand, 0, TEST_CBUF + 1);
    for (unsigned i = 0; i < t->clen; i++)
        t->cbuf[i] = (uint8_t)g_rand_int(rand);
    if (!t->has_extra)
        t->extra = t->extra_count = 0;
}

static const StateField evo_v1_fields[] = {
    STATE_U32(EvoV1, a, 1),
    STATE_U32(EvoV1, b, 2),
    STATE_END
};

const StateDesc evo_v1_state = {
    .name = "evo", .version = 1, .min_version = 1, .size = sizeof(EvoV1), .fields = evo_v1_fields,
};

static const StateField evo_v2_fields[] = {
    STATE_U32(EvoV2, a, 1),
    STATE_U32(EvoV2, b, 2),
    STATE_U64(EvoV2, c, 3, STATE_OPTIONAL),
    STATE_END
};

const StateDesc evo_v2_state = {
    .name = "evo", .version = 2, .min_version = 1, .size = sizeof(EvoV2), .fields = evo_v2_fields,
};

static const StateField evo_v2_req_fields[] = {
    STATE_U32(EvoV2, a, 1),
    STATE_U32(EvoV2, b, 2),
    STATE_U64(EvoV2, c, 3),
    STATE_END
};

const StateDesc evo_v2_req_state = {
    .name = "evo", .version = 2, .min_version = 1, .size = sizeof(EvoV2), .fields = evo_v2_req_fields,
};

const StateDesc evo_v3_state = {
    .name = "evo", .version = 3, .min_version = 2, .size = sizeof(EvoV2), .fields = evo_v2_fields,
};

/* ---- device fixups -------------------------------------------------------- */

static void cmos_rtc_state_fixup(void *obj, GRand *rand)
{
    CmosRtcState *st = obj;
    st->offset_s = g_rand_int_range(rand, -1000000, 1000000) * (int64_t)1000;
    st->last_c_read_s = (int64_t)g_rand_int(rand);
}

static void pl031_state_fixup(void *obj, GRand *rand)
{
    ((Pl031State *)obj)->offset_s = g_rand_int_range(rand, -1000000, 1000000) * (int64_t)1000;
}

static void virtq_state_fixup(void *obj, GRand *rand)
{
    VirtqState *q = obj;
    q->size = (uint16_t)(1u << g_rand_int_range(rand, 0, 16));
    q->used_idx = (uint16_t)(q->last_avail_idx - g_rand_int_range(rand, 0, q->size + 1));
}

/* Few vectors and queues: the hostile tests are quadratic in section size. */
static void pci_device_state_fixup(void *obj, GRand *rand)
{
    PciDeviceState *st = obj;
    st->msix_count = (uint16_t)(st->msix_count % 9);
}

static void virtio_core_only_state_fixup(void *obj, GRand *rand)
{
    VirtioState *st = &((VirtioCoreOnlyState *)obj)->common;
    pci_device_state_fixup(&st->pci, rand);
    st->num_queues = (uint16_t)(st->num_queues % 5);
    for (unsigned i = 0; i < st->num_queues; i++)
        virtq_state_fixup(&st->queues[i].vq, rand);
}

/* ---- machine fixups (arm64: vm_state.c, vcpu_state.c) ---------------------- */

static void arm_reg_entry_fixup(void *obj, GRand *rand)
{
    ArmRegEntry *e = obj;
    /* U32, U64 or U128, like the core, system and FP/SIMD registers. */
    static const uint64_t sizes[] = { 0x0020000000000000ull, 0x0030000000000000ull, 0x0040000000000000ull };
    uint64_t size = sizes[g_rand_int_range(rand, 0, 3)];
    e->id = ARM_ONE_REG_ARCH_ARM64 | size | (e->id & 0xffffffffull);
    if (arm_one_reg_size(e->id) <= 8)
        e->hi = 0;
    if (arm_one_reg_size(e->id) == 4)
        e->lo &= 0xffffffffull;
}

/* Few registers: the hostile tests are quadratic in section size. */
static void arm_vcpu_state_fixup(void *obj, GRand *rand)
{
    static const uint32_t mp[] = { ARM_MP_STATE_RUNNABLE, ARM_MP_STATE_STOPPED, ARM_MP_STATE_SUSPENDED };
    ArmVcpuState *s = obj;
    s->n_regs %= 17;
    for (uint32_t i = 0; i < s->n_regs; i++) {
        s->regs[i].id = i; /* distinct */
        arm_reg_entry_fixup(&s->regs[i], rand);
    }
    s->mp_state = mp[g_rand_int_range(rand, 0, 3)];
    for (unsigned i = 0; i < 3; i++)
        s->events[i] &= 1;
    memset(s->events + 3, 0, 5);
    memset(s->events + 16, 0, sizeof(s->events) - 16);
}

static void arm_vm_state_fixup(void *obj, GRand *rand)
{
    ((ArmVmState *)obj)->nr_irqs = 32u * (uint32_t)g_rand_int_range(rand, 2, 33);
}

/* ---- the registry ---------------------------------------------------------- */

const StateRegistryEntry state_descs_all[] = {
    /* devices: { &<dev>_state, <dev>_state_fixup }, one line each, sorted */
    { &arm_gic_cpu_state_desc, NULL },
    { &arm_its_state_desc, NULL },
    { &arm_reg_entry_desc, arm_reg_entry_fixup },
    { &arm_vcpu_state_desc, arm_vcpu_state_fixup },
    { &arm_vm_state_desc, arm_vm_state_fixup },
    { &cmos_rtc_state, cmos_rtc_state_fixup },
    { &ged_state, NULL },
    { &i8042_state, NULL },
    { &pci_device_state, pci_device_state_fixup },
    { &pl011_state, NULL },
    { &pl031_state, pl031_state_fixup },
    { &pl061_state, NULL },
    { &port_sink_state, NULL },
    { &uart16550_state, NULL },
    { &virtio_balloon_state, virtio_core_only_state_fixup },
    { &virtio_blk_state, virtio_core_only_state_fixup },
    { &virtio_console_state, virtio_core_only_state_fixup },
    { &virtio_net_state, virtio_core_only_state_fixup },
    { &virtio_rng_state, virtio_core_only_state_fixup },
    { &virtio_vsock_state, virtio_core_only_state_fixup },
    { &virtq_state, virtq_state_fixup },
    { &evo_v1_state, NULL },
    { &evo_v2_req_state, NULL },
    { &evo_v2_state, NULL },
    { &evo_v3_state, NULL },
    { &test_all_state, test_all_fixup },
    { &test_elem_state, test_elem_fixup },
    { &test_inner_state, NULL },
    { NULL, NULL },
};

/* ---- helpers ------------------------------------------------------------------ */

static void fill_desc(const StateDesc *d, uint8_t *obj, GRand *rand);

static uint64_t rand_u64(GRand *rand)
{
    return (uint64_t)g_rand_int(rand) << 32 | g_rand_int(rand);
}

static void fill_field(const StateField *f, uint8_t *obj, GRand *rand)
{
    uint8_t *p = obj + f->offset;
    switch (f->type) {
    case STATE_TYPE_BYTES:
        for (size_t i = 0; i < f->size; i++)
            p[i] = (uint8_t)g_rand_int(rand);
        break;
    case STATE_TYPE_STRUCT:
        fill_desc(f->desc, p, rand);
        break;
    case STATE_TYPE_ARRAY: {
        uint32_t cap = (uint32_t)(f->size / f->elem_size);
        uint32_t n = (uint32_t)g_rand_int_range(rand, 0, (gint32)cap + 1);
        for (uint32_t i = 0; i < n; i++)
            fill_desc(f->desc, p + (size_t)i * f->elem_size, rand);
        /* store n in the count member (host order) */
        if (f->count_size == 1) {
            obj[f->count_offset] = (uint8_t)n;
        } else if (f->count_size == 2) {
            uint16_t v = (uint16_t)n;
            memcpy(obj + f->count_offset, &v, 2);
        } else {
            memcpy(obj + f->count_offset, &n, 4);
        }
        break;
    }
    case STATE_TYPE_CUSTOM:
        break; /* the entry's fixup fills it */
    default:
        for (size_t off = 0; off < f->size; off += f->elem_size) {
            uint64_t v = rand_u64(rand);
            if (f->type == STATE_TYPE_BOOL)
                v &= 1;
            if (f->has_max)
                v = f->max == UINT64_MAX ? v : v % (f->max + 1);
            switch (f->elem_size) {
            case 1: p[off] = (uint8_t)v; break;
            case 2: { uint16_t x = (uint16_t)v; memcpy(p + off, &x, 2); break; }
            case 4: { uint32_t x = (uint32_t)v; memcpy(p + off, &x, 4); break; }
            default: memcpy(p + off, &v, 8); break;
            }
        }
        break;
    }
}

static void fill_desc(const StateDesc *d, uint8_t *obj, GRand *rand)
{
    for (const StateField *f = d->fields; f->name; f++)
        fill_field(f, obj, rand);
    for (const StateSection *s = d->sections; s && s->desc; s++)
        fill_desc(s->desc, obj, rand);
}

void state_test_fill(const StateRegistryEntry *e, void *obj, GRand *rand)
{
    fill_desc(e->desc, obj, rand);
    if (e->fixup)
        e->fixup(obj, rand);
}

void state_test_reseal(uint8_t *buf, size_t len)
{
    if (len >= 4)
        le_store32(buf + len - 4, state_crc32(0, buf, len - 4));
}
