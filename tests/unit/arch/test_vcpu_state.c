/* The x86_64 vCPU and VM state descriptions (arch/x86_64/vcpu_state.c,
 * vm_state.c) through the state engine, without KVM: random contents round
 * trip byte-exactly, post_load refuses values KVM must never see, hostile
 * buffers (every truncation, bit flips) are refused cleanly, and the JSON
 * dump is valid JSON naming every field. */
#include "arch/x86_64/vcpu_state.h"
#include "arch/x86_64/vm_state.h"
#include "support/check_main.h"

#include <json-glib/json-glib.h>
#include <string.h>

static void fill_random(void *obj, size_t size, GRand *rand)
{
    uint8_t *p = obj;
    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)g_rand_int(rand);
}

/* Random contents that post_load accepts. */
static X86VcpuState *vcpu_random(GRand *rand)
{
    X86VcpuState *s = g_new0(X86VcpuState, 1);
    fill_random(s, sizeof(*s), rand);
    memset(s->ksregs.interrupt_bitmap, 0, sizeof(s->ksregs.interrupt_bitmap));
    if (g_rand_boolean(rand))
        s->ksregs.interrupt_bitmap[g_rand_int_range(rand, 0, 4)] = 1ull << g_rand_int_range(rand, 0, 64);
    static const uint32_t mp[] = { KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_UNINITIALIZED,
                                   KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_HALTED,
                                   KVM_MP_STATE_SIPI_RECEIVED };
    s->kmp_state.mp_state = mp[g_rand_int_range(rand, 0, G_N_ELEMENTS(mp))];
    s->kxcrs.nr_xcrs = (uint32_t)g_rand_int_range(rand, 0, KVM_MAX_XCRS + 1);
    s->kxcrs.flags = 0;
    struct kvm_vcpu_events *ev = &s->kevents;
    ev->flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
    ev->exception.injected &= 1;
    ev->exception.pending &= 1;
    ev->exception.has_error_code &= 1;
    ev->interrupt.injected &= 1;
    ev->interrupt.soft &= 1;
    ev->nmi.injected &= 1;
    ev->nmi.pending &= 1;
    ev->nmi.masked &= 1;
    s->kdebugregs.flags = 0;
    s->n_msrs = (uint32_t)g_rand_int_range(rand, 0, X86_VCPU_MSRS_MAX + 1);
    uint32_t base = g_rand_int(rand);
    for (uint32_t i = 0; i < s->n_msrs; i++)
        s->msrs[i].index = base + i * 3u; /* distinct */
    return s;
}

static X86VmState *vm_random(GRand *rand, bool pit)
{
    X86VmState *s = g_new0(X86VmState, 1);
    fill_random(s, sizeof(*s), rand);
    struct kvm_irqchip *chips[] = { &s->kpic_master, &s->kpic_slave };
    for (uint32_t i = 0; i < 2; i++) {
        chips[i]->chip_id = i;
        chips[i]->pad = 0;
        struct kvm_pic_state *p = &chips[i]->chip.pic;
        p->priority_add &= 7;
        p->read_reg_select &= 1;
        p->poll &= 1;
        p->special_mask &= 1;
        p->init_state &= 3;
        p->auto_eoi &= 1;
        p->rotate_on_auto_eoi &= 1;
        p->special_fully_nested_mode &= 1;
        p->init4 &= 1;
    }
    s->kioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    s->kioapic.pad = 0;
    s->kioapic.chip.ioapic.ioregsel &= 0xff;
    s->kclock.flags &= KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
    s->has_pit = pit;
    if (pit) {
        s->kpit.flags &= KVM_PIT_FLAGS_HPET_LEGACY;
        for (unsigned i = 0; i < 3; i++) {
            struct kvm_pit_channel_state *c = &s->kpit.channels[i];
            c->count &= 0xffff;
            c->count_latched %= 5;
            c->status_latched &= 1;
            c->read_state %= 5;
            c->write_state %= 5;
            c->rw_mode &= 3;
            c->mode &= 7;
            c->bcd &= 1;
            c->gate &= 1;
        }
    } else {
        memset(s->pit, 0, sizeof(s->pit));
    }
    return s;
}

static GByteArray *save(const StateDesc *d, const void *obj)
{
    GByteArray *out = g_byte_array_new();
    state_save(d, obj, out);
    return out;
}

/* Load buf into a fresh object; the object is returned, or NULL with *err. */
static void *load(const StateDesc *d, const uint8_t *buf, size_t len, GError **err)
{
    g_autofree uint8_t *copy = len ? g_memdup2(buf, len) : NULL;
    void *obj = g_malloc0(d->size);
    if (!state_load(d, obj, copy, len, err)) {
        g_free(obj);
        return NULL;
    }
    return obj;
}

static void assert_refused(const StateDesc *d, const void *obj, int code)
{
    g_autoptr(GByteArray) b = save(d, obj);
    g_autoptr(GError) err = NULL;
    void *back = load(d, b->data, b->len, &err);
    ck_assert_msg(!back, "a hostile %s loaded", d->name);
    ck_assert(err && err->domain == STATE_ERROR);
    ck_assert_msg(err->code == code, "%s: code %d, expected %d", err->message, err->code, code);
}

START_TEST(descs_are_consistent)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(state_desc_check(&x86_vcpu_state_desc, &err), "%s", err ? err->message : "");
    ck_assert_msg(state_desc_check(&x86_vm_state_desc, &err), "%s", err ? err->message : "");
    ck_assert_msg(state_desc_check(&x86_msr_entry_desc, &err), "%s", err ? err->message : "");
}
END_TEST

START_TEST(vcpu_round_trip)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(0x5eed0000u + (uint32_t)_i);
    g_autofree X86VcpuState *s = vcpu_random(rand);
    if (_i == 0)
        s->n_msrs = 0;
    if (_i == 1)
        s->n_msrs = X86_VCPU_MSRS_MAX;
    g_autoptr(GByteArray) b = save(&x86_vcpu_state_desc, s);
    g_autoptr(GError) err = NULL;
    g_autofree X86VcpuState *back = load(&x86_vcpu_state_desc, b->data, b->len, &err);
    ck_assert_msg(back, "%s", err ? err->message : "");
    /* Every KVM struct byte for byte, the live MSRs exactly. */
    ck_assert_mem_eq(back->regs, s->regs, sizeof(s->regs));
    ck_assert_mem_eq(back->sregs, s->sregs, sizeof(s->sregs));
    ck_assert_mem_eq(back->fpu, s->fpu, sizeof(s->fpu));
    ck_assert_mem_eq(back->xsave, s->xsave, sizeof(s->xsave));
    ck_assert_mem_eq(back->xcrs, s->xcrs, sizeof(s->xcrs));
    ck_assert_mem_eq(back->lapic, s->lapic, sizeof(s->lapic));
    ck_assert_mem_eq(back->events, s->events, sizeof(s->events));
    ck_assert_mem_eq(back->mp_state, s->mp_state, sizeof(s->mp_state));
    ck_assert_mem_eq(back->debugregs, s->debugregs, sizeof(s->debugregs));
    ck_assert_uint_eq(back->n_msrs, s->n_msrs);
    for (uint32_t i = 0; i < s->n_msrs; i++) {
        ck_assert_uint_eq(back->msrs[i].index, s->msrs[i].index);
        ck_assert_uint_eq(back->msrs[i].value, s->msrs[i].value);
    }
    g_autoptr(GByteArray) again = save(&x86_vcpu_state_desc, back);
    ck_assert_uint_eq(again->len, b->len);
    ck_assert_mem_eq(again->data, b->data, b->len);
}
END_TEST

START_TEST(vm_round_trip)
{
    bool pit = _i & 1;
    g_autoptr(GRand) rand = g_rand_new_with_seed(0xc10c0000u + (uint32_t)_i);
    g_autofree X86VmState *s = vm_random(rand, pit);
    g_autoptr(GByteArray) b = save(&x86_vm_state_desc, s);
    g_autoptr(GError) err = NULL;
    g_autofree X86VmState *back = load(&x86_vm_state_desc, b->data, b->len, &err);
    ck_assert_msg(back, "%s", err ? err->message : "");
    ck_assert_mem_eq(back->pic_master, s->pic_master, sizeof(s->pic_master));
    ck_assert_mem_eq(back->pic_slave, s->pic_slave, sizeof(s->pic_slave));
    ck_assert_mem_eq(back->ioapic, s->ioapic, sizeof(s->ioapic));
    ck_assert_mem_eq(back->clock, s->clock, sizeof(s->clock));
    ck_assert_int_eq(back->has_pit, pit);
    ck_assert_mem_eq(back->pit, s->pit, sizeof(s->pit));
    g_autoptr(GByteArray) again = save(&x86_vm_state_desc, back);
    ck_assert_mem_eq(again->data, b->data, b->len);
    /* Without a PIT the subsection is not even on the wire. */
    g_autoptr(GByteArray) with_pit = save(&x86_vm_state_desc, &(X86VmState){ .has_pit = true,
        .kpic_slave.chip_id = 1, .kioapic.chip_id = 2 });
    g_autoptr(GByteArray) no_pit = save(&x86_vm_state_desc, &(X86VmState){ .kpic_slave.chip_id = 1,
        .kioapic.chip_id = 2 });
    ck_assert_uint_gt(with_pit->len, no_pit->len + sizeof(struct kvm_pit_state2));
}
END_TEST

START_TEST(vcpu_post_load_refuses)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(7);
    g_autofree X86VcpuState *good = vcpu_random(rand);
    good->n_msrs = 4;
    g_autofree X86VcpuState *s = g_memdup2(good, sizeof(*good));

    s->kmp_state.mp_state = KVM_MP_STATE_OPERATING; /* s390 only */
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);
    s->kmp_state.mp_state = 0xffffffffu;
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);

    memcpy(s, good, sizeof(*s));
    s->kxcrs.nr_xcrs = KVM_MAX_XCRS + 1;
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);

    memcpy(s, good, sizeof(*s));
    s->ksregs.interrupt_bitmap[0] = 0x3;
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);

    memcpy(s, good, sizeof(*s));
    s->kevents.flags = 0x80000000u;
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);

    memcpy(s, good, sizeof(*s));
    s->kevents.nmi.pending = 2;
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);

    memcpy(s, good, sizeof(*s));
    s->kdebugregs.flags = 1;
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);

    memcpy(s, good, sizeof(*s));
    s->msrs[3].index = s->msrs[1].index;
    assert_refused(&x86_vcpu_state_desc, s, STATE_ERROR_INVALID);

    /* More MSRs than the capacity: patch the count on the wire (the engine
     * checks it against the array's capacity before reading an element). */
    memcpy(s, good, sizeof(*s));
    g_autoptr(GByteArray) b = save(&x86_vcpu_state_desc, s);
    bool patched = false;
    for (size_t i = 0; i + 12 <= b->len; i++) {
        /* entry header: tag 10, type ARRAY, flags 0, len; then u32 count */
        if (b->data[i] == 10 && b->data[i + 1] == 0 && b->data[i + 2] == STATE_TYPE_ARRAY &&
            b->data[i + 3] == 0 && b->data[i + 8] == 4 && !b->data[i + 9]) {
            uint32_t big = X86_VCPU_MSRS_MAX + 1;
            memcpy(&b->data[i + 8], &big, 4);
            patched = true;
            break;
        }
    }
    ck_assert(patched);
    uint32_t crc = state_crc32(0, b->data, b->len - 4);
    memcpy(b->data + b->len - 4, &crc, 4);
    g_autoptr(GError) err = NULL;
    g_autofree void *back = load(&x86_vcpu_state_desc, b->data, b->len, &err);
    ck_assert(!back && err && err->domain == STATE_ERROR);
}
END_TEST

START_TEST(vm_post_load_refuses)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(9);
    g_autofree X86VmState *good = vm_random(rand, true);
    g_autofree X86VmState *s = g_memdup2(good, sizeof(*good));
    s->kpic_master.chip_id = KVM_IRQCHIP_IOAPIC;
    assert_refused(&x86_vm_state_desc, s, STATE_ERROR_INVALID);
    memcpy(s, good, sizeof(*s));
    s->kpic_slave.chip.pic.init_state = 4;
    assert_refused(&x86_vm_state_desc, s, STATE_ERROR_INVALID);
    memcpy(s, good, sizeof(*s));
    s->kioapic.chip.ioapic.ioregsel = 0x100;
    assert_refused(&x86_vm_state_desc, s, STATE_ERROR_INVALID);
    memcpy(s, good, sizeof(*s));
    s->kclock.flags = 1u << 30;
    assert_refused(&x86_vm_state_desc, s, STATE_ERROR_INVALID);
    memcpy(s, good, sizeof(*s));
    s->kpit.channels[2].mode = 8;
    assert_refused(&x86_vm_state_desc, s, STATE_ERROR_INVALID);
    memcpy(s, good, sizeof(*s));
    s->kpit.channels[0].count = 0x10001;
    assert_refused(&x86_vm_state_desc, s, STATE_ERROR_INVALID);
}
END_TEST

/* Every truncation and a spread of single-bit flips of a valid section: all
 * refused with a STATE_ERROR, nothing crashes (run under ASan/UBSan). */
static void hostile(const StateDesc *d, const void *obj)
{
    g_autoptr(GByteArray) b = save(d, obj);
    for (size_t len = 0; len < b->len; len++) {
        g_autoptr(GError) err = NULL;
        g_autofree void *back = load(d, b->data, len, &err);
        ck_assert_msg(!back, "%s: a section cut at %zu of %u bytes loaded", d->name, len, b->len);
        ck_assert(err && err->domain == STATE_ERROR);
    }
    size_t step = b->len / 3000 + 1;
    for (size_t i = 0; i < b->len * 8; i += step) {
        g_autofree uint8_t *copy = g_memdup2(b->data, b->len);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        g_autoptr(GError) err = NULL;
        g_autofree void *back = load(d, copy, b->len, &err);
        ck_assert_msg(!back, "%s: bit %zu flipped and it loaded", d->name, i);
        ck_assert(err && err->domain == STATE_ERROR);
    }
    /* A trailing byte after the section. */
    g_byte_array_append(b, (const uint8_t *)"", 1);
    g_autoptr(GError) err = NULL;
    g_autofree void *back = load(d, b->data, b->len, &err);
    ck_assert(!back && err);
}

START_TEST(hostile_loads)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(11);
    g_autofree X86VcpuState *v = vcpu_random(rand);
    v->n_msrs = 40;
    hostile(&x86_vcpu_state_desc, v);
    g_autofree X86VmState *m = vm_random(rand, true);
    hostile(&x86_vm_state_desc, m);
}
END_TEST

static void assert_json(const StateDesc *d, const void *obj, const char *const *names)
{
    g_autofree char *json = state_dump_json(d, obj);
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    ck_assert_msg(json_parser_load_from_data(p, json, -1, &err), "%s", err ? err->message : "");
    ck_assert(strstr(json, d->name));
    for (size_t i = 0; names[i]; i++)
        ck_assert_msg(strstr(json, names[i]), "the dump has no '%s'", names[i]);
}

START_TEST(json_dump)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(13);
    g_autofree X86VcpuState *v = vcpu_random(rand);
    v->n_msrs = 3;
    static const char *const vcpu_names[] = { "\"regs\"", "\"sregs\"", "\"fpu\"", "\"xsave\"",
                                              "\"xcrs\"", "\"lapic\"", "\"events\"", "\"mp_state\"",
                                              "\"debugregs\"", "\"msrs\"", "\"index\"", NULL };
    assert_json(&x86_vcpu_state_desc, v, vcpu_names);
    g_autofree X86VmState *m = vm_random(rand, true);
    static const char *const vm_names[] = { "\"pic_master\"", "\"pic_slave\"", "\"ioapic\"",
                                            "\"clock\"", "\"pit\"", "x86-vm/pit", NULL };
    assert_json(&x86_vm_state_desc, m, vm_names);
}
END_TEST

static Suite *vcpu_state_suite(void)
{
    Suite *s = suite_create("x86_vcpu_state");
    TCase *tc = tcase_create("state");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, descs_are_consistent);
    tcase_add_loop_test(tc, vcpu_round_trip, 0, 8);
    tcase_add_loop_test(tc, vm_round_trip, 0, 4);
    tcase_add_test(tc, vcpu_post_load_refuses);
    tcase_add_test(tc, vm_post_load_refuses);
    tcase_add_test(tc, hostile_loads);
    tcase_add_test(tc, json_dump);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(vcpu_state_suite)
