/* Hostile loads for every registered description (state_registry.c): every
 * truncation, every single bit flipped, oversized lengths at every offset,
 * random garbage and random mutations. Raw corruption must be refused (the
 * CRC catches it); corruption with a recomputed CRC reaches the parser and
 * must be refused cleanly or give an object that saves and loads again.
 * Nothing may crash: run it under ASan+UBSan too. Objects are allocated at
 * exactly desc->size so that ASan sees any write outside them. */
#include "hypervisor/le.h"
#include "migration/state.h"
#include "state_registry.h"
#include "support/check_main.h"

#include <string.h>

static const StateRegistryEntry *entry(int i)
{
    return &state_descs_all[i];
}

static int entry_count(void)
{
    int n = 0;
    while (state_descs_all[n].desc)
        n++;
    return n;
}

/* Load a private copy of exactly len bytes; returns whether it loaded. */
static bool try_load(const StateDesc *d, const uint8_t *buf, size_t len)
{
    g_autofree uint8_t *copy = len ? g_memdup2(buf, len) : NULL;
    g_autofree uint8_t *obj = g_malloc0(d->size);
    g_autoptr(GError) err = NULL;
    bool ok = state_load(d, obj, copy, len, &err);
    ck_assert(ok == (err == NULL));
    if (!ok) {
        ck_assert(err->domain == STATE_ERROR);
        ck_assert_msg(strstr(err->message, d->name), "error '%s' does not name '%s'", err->message, d->name);
        return false;
    }
    /* Accepted: the object must be consistent enough to save and reload. */
    g_autoptr(GByteArray) again = g_byte_array_new();
    state_save(d, obj, again);
    g_autofree uint8_t *obj2 = g_malloc0(d->size);
    g_autoptr(GError) err2 = NULL;
    ck_assert_msg(state_load(d, obj2, again->data, again->len, &err2), "re-load of accepted state failed: %s",
                  err2 ? err2->message : "?");
    return true;
}

static void must_fail(const StateDesc *d, const uint8_t *buf, size_t len, const char *what, size_t where)
{
    ck_assert_msg(!try_load(d, buf, len), "'%s': %s at %zu was accepted", d->name, what, where);
}

static GByteArray *sample(const StateRegistryEntry *e, guint32 seed)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
    g_autofree uint8_t *obj = g_malloc0(e->desc->size);
    state_test_fill(e, obj, rand);
    GByteArray *b = g_byte_array_new();
    state_save(e->desc, obj, b);
    return b;
}

/* Make body_len match the buffer and recompute the CRC (when the header is
 * still readable), so that the record parser sees whatever we did. */
static void reframe(uint8_t *buf, size_t len)
{
    if (len < 4 + 4 + 4)
        return;
    size_t at = 4 + (size_t)buf[2];
    if (at + 8 > len)
        return;
    le_store32(buf + at, (uint32_t)(len - at - 8));
    state_test_reseal(buf, len);
}

/* Positions to try in a buffer of len bytes: all of them for small sections;
 * for large ones (a virtio device's 4 KiB of PCI config) every byte near the
 * ends, where the framing lives, and a stride through the bulk, so each test
 * stays linear in practice (ASan CI runs them all). */
static size_t next_pos(size_t n, size_t len)
{
    if (len <= 4096 || n < 512 || n + 512 >= len)
        return n + 1;
    return n + len / 2048;
}

START_TEST(test_truncated)
{
    const StateRegistryEntry *e = entry(_i);
    g_autoptr(GByteArray) b = sample(e, 1);
    g_autofree uint8_t *tmp = g_malloc(b->len);
    for (size_t n = 0; n < b->len; n = next_pos(n, b->len)) {
        must_fail(e->desc, b->data, n, "truncation", n);
        memcpy(tmp, b->data, n);
        state_test_reseal(tmp, n);
        must_fail(e->desc, tmp, n, "resealed truncation", n);
    }
    /* The body cut at every offset, with its length and CRC made to match:
     * the record parser meets a truncated entry at every position. */
    size_t body = 4 + (size_t)b->data[2] + 4;
    for (size_t n = body; n < b->len - 4; n = next_pos(n, b->len)) {
        memcpy(tmp, b->data, n);
        memset(tmp + n, 0, 4);
        reframe(tmp, n + 4);
        try_load(e->desc, tmp, n + 4);
    }
}
END_TEST

START_TEST(test_bit_flips)
{
    const StateRegistryEntry *e = entry(_i);
    for (guint32 seed = 1; seed <= 3; seed++) {
        g_autoptr(GByteArray) b = sample(e, seed);
        g_autofree uint8_t *tmp = g_malloc(b->len);
        size_t bits = b->len * 8, step = bits > 4096 ? bits / 4096 : 1;
        for (size_t bit = 0; bit < bits; bit += step) {
            memcpy(tmp, b->data, b->len);
            tmp[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            must_fail(e->desc, tmp, b->len, "bit flip", bit);
            /* With a valid CRC the parser must cope (refuse, or load sanely). */
            state_test_reseal(tmp, b->len);
            try_load(e->desc, tmp, b->len);
        }
    }
}
END_TEST

START_TEST(test_oversized_lengths)
{
    const StateRegistryEntry *e = entry(_i);
    g_autoptr(GByteArray) b = sample(e, 7);
    g_autofree uint8_t *tmp = g_malloc(b->len);
    const uint32_t lens[] = { 0xffffffffu, 0x80000000u, STATE_SECTION_MAX + 1, (uint32_t)b->len, 0x10000u };
    for (size_t off = 0; off + 4 <= b->len - 4; off = next_pos(off, b->len)) {
        for (size_t k = 0; k < G_N_ELEMENTS(lens); k++) {
            memcpy(tmp, b->data, b->len);
            le_store32(tmp + off, lens[k]);
            state_test_reseal(tmp, b->len);
            try_load(e->desc, tmp, b->len);
        }
        memcpy(tmp, b->data, b->len);
        le_store16(tmp + off, 0xffff);
        state_test_reseal(tmp, b->len);
        try_load(e->desc, tmp, b->len);
    }
}
END_TEST

START_TEST(test_too_large)
{
    size_t n = STATE_SECTION_MAX + 1;
    g_autofree uint8_t *buf = g_malloc0(n);
    TestAll t;
    g_autoptr(GError) err = NULL;
    ck_assert(!state_load(&test_all_state, &t, buf, n, &err));
    ck_assert(g_error_matches(err, STATE_ERROR, STATE_ERROR_TOO_LARGE));
    g_clear_error(&err);
    ck_assert(!state_load(&test_all_state, &t, NULL, 0, &err));
    ck_assert(g_error_matches(err, STATE_ERROR, STATE_ERROR_CORRUPT));
}
END_TEST

START_TEST(test_garbage)
{
    const StateRegistryEntry *e = entry(_i);
    g_autoptr(GRand) rand = g_rand_new_with_seed(0x5eed + (guint32)_i);
    const char *name = e->desc->name;
    size_t nlen = strlen(name);
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = (size_t)g_rand_int_range(rand, 0, 1024);
        g_autofree uint8_t *buf = g_malloc(len + 64);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)g_rand_int(rand);
        must_fail(e->desc, buf, len, "garbage of length", len);
        state_test_reseal(buf, len);
        try_load(e->desc, buf, len);
        /* A valid header for this description and a random body. */
        size_t total = 4 + nlen + 4 + len + 4;
        g_autofree uint8_t *sec = g_malloc(total);
        le_store16(sec, e->desc->version);
        sec[2] = (uint8_t)nlen;
        sec[3] = 0;
        memcpy(sec + 4, name, nlen);
        memcpy(sec + 4 + nlen + 4, buf, len);
        reframe(sec, total);
        try_load(e->desc, sec, total);
    }
}
END_TEST

/* Random edits of a valid section (overwrite, insert, delete, duplicate a
 * span), re-framed each time: a small structure-aware fuzzer. */
START_TEST(test_mutations)
{
    const StateRegistryEntry *e = entry(_i);
    g_autoptr(GRand) rand = g_rand_new_with_seed(0xf00d + (guint32)_i);
    for (int iter = 0; iter < 3000; iter++) {
        g_autoptr(GByteArray) b = sample(e, (guint32)iter);
        size_t head = 4 + (size_t)b->data[2] + 4;
        int edits = g_rand_int_range(rand, 1, 6);
        for (int k = 0; k < edits && b->len > head + 4; k++) {
            guint pos = (guint)g_rand_int_range(rand, (gint32)head, (gint32)(b->len - 4));
            switch (g_rand_int_range(rand, 0, 4)) {
            case 0:
                b->data[pos] = (uint8_t)g_rand_int(rand);
                break;
            case 1: {
                uint8_t v = (uint8_t)g_rand_int(rand);
                g_array_insert_vals((GArray *)b, pos, &v, 1);
                break;
            }
            case 2:
                g_byte_array_remove_index(b, pos);
                break;
            default: {
                guint n = MIN(16u, b->len - 4 - pos);
                g_autofree uint8_t *span = g_memdup2(b->data + pos, n);
                g_array_insert_vals((GArray *)b, pos, span, n);
                break;
            }
            }
        }
        reframe(b->data, b->len);
        try_load(e->desc, b->data, b->len);
    }
}
END_TEST

static Suite *state_hostile_suite(void)
{
    Suite *s = suite_create("state-hostile");
    int n = entry_count();
    /* Three cases of about equal cost, which ctest runs in parallel
     * (CK_RUN_CASE, CMakeLists.txt): the whole takes minutes under ASan and
     * under qemu-aarch64. */
    TCase *framing = tcase_create("framing");
    tcase_add_loop_test(framing, test_truncated, 0, n);
    tcase_add_loop_test(framing, test_oversized_lengths, 0, n);
    tcase_add_test(framing, test_too_large);
    TCase *flips = tcase_create("flips");
    tcase_add_loop_test(flips, test_bit_flips, 0, n);
    TCase *fuzz = tcase_create("fuzz");
    tcase_add_loop_test(fuzz, test_garbage, 0, n);
    tcase_add_loop_test(fuzz, test_mutations, 0, n);
    TCase *cases[] = { framing, flips, fuzz };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        tcase_set_timeout(cases[i], 120);
        suite_add_tcase(s, cases[i]);
    }
    return s;
}

CHECK_MAIN(state_hostile_suite)
