/* Tests of migration/stream.c: the container of sections keyed by id, its
 * framing checks, and hostile streams (truncated, bit-flipped, garbage). */
#include "hypervisor/le.h"
#include "migration/stream.h"
#include "state_registry.h"
#include "support/check_main.h"

#include <string.h>

typedef struct Machine {
    TestAll dev0;
    TestAll dev1;
    EvoV2 evo;
    int lookups;
} Machine;

static bool lookup(void *opaque, const char *id, const StateDesc **desc, void **obj)
{
    Machine *m = opaque;
    m->lookups++;
    if (strcmp(id, "dev0") == 0) {
        *desc = &test_all_state;
        *obj = &m->dev0;
    } else if (strcmp(id, "dev1") == 0) {
        *desc = &test_all_state;
        *obj = &m->dev1;
    } else if (strcmp(id, "evo") == 0) {
        *desc = &evo_v2_state;
        *obj = &m->evo;
    } else {
        return false;
    }
    return true;
}

static Machine *machine_sample(void)
{
    Machine *m = g_new0(Machine, 1);
    g_autoptr(GRand) rand = g_rand_new_with_seed(42);
    const StateRegistryEntry e = { &test_all_state, test_all_fixup };
    state_test_fill(&e, &m->dev0, rand);
    state_test_fill(&e, &m->dev1, rand);
    m->evo = (EvoV2){ 1, 2, 3 };
    return m;
}

static GByteArray *machine_save(const Machine *m)
{
    GByteArray *b = g_byte_array_new();
    state_stream_begin(b);
    state_stream_add(b, "dev0", &test_all_state, &m->dev0);
    state_stream_add(b, "dev1", &test_all_state, &m->dev1);
    state_stream_add(b, "evo", &evo_v2_state, &m->evo);
    state_stream_finish(b);
    return b;
}

static void load_fails(const uint8_t *buf, size_t len, int code, const char *needle)
{
    g_autofree Machine *m = g_new0(Machine, 1);
    g_autoptr(GError) err = NULL;
    ck_assert(!state_stream_load(buf, len, lookup, m, &err));
    ck_assert_msg(g_error_matches(err, STATE_ERROR, code), "code %d, expected %d: %s", err->code, code,
                  err->message);
    ck_assert_msg(!needle || strstr(err->message, needle), "'%s' does not mention '%s'", err->message, needle);
}

START_TEST(test_roundtrip)
{
    g_autofree Machine *src = machine_sample();
    g_autoptr(GByteArray) b = machine_save(src);
    g_autofree Machine *dst = g_new0(Machine, 1);
    g_autoptr(GError) err = NULL;
    ck_assert_msg(state_stream_load(b->data, b->len, lookup, dst, &err), "%s", err ? err->message : "?");
    ck_assert_int_eq(dst->lookups, 3);
    g_autoptr(GByteArray) again = machine_save(dst);
    ck_assert_uint_eq(again->len, b->len);
    ck_assert_mem_eq(again->data, b->data, b->len);
    ck_assert_uint_eq(dst->evo.c, 3);
}
END_TEST

START_TEST(test_empty_stream)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    state_stream_begin(b);
    state_stream_finish(b);
    Machine m = { 0 };
    g_autoptr(GError) err = NULL;
    ck_assert(state_stream_load(b->data, b->len, lookup, &m, &err));
    ck_assert_int_eq(m.lookups, 0);
}
END_TEST

START_TEST(test_unknown_and_duplicate_ids)
{
    g_autofree Machine *m = machine_sample();
    g_autoptr(GByteArray) b = g_byte_array_new();
    state_stream_begin(b);
    state_stream_add(b, "dev0", &test_all_state, &m->dev0);
    state_stream_add(b, "dev9", &test_all_state, &m->dev1);
    state_stream_finish(b);
    load_fails(b->data, b->len, STATE_ERROR_UNKNOWN, "dev9");

    g_autoptr(GByteArray) d = g_byte_array_new();
    state_stream_begin(d);
    state_stream_add(d, "dev0", &test_all_state, &m->dev0);
    state_stream_add(d, "dev0", &test_all_state, &m->dev1);
    state_stream_finish(d);
    load_fails(d->data, d->len, STATE_ERROR_CORRUPT, "twice");

    /* A section loaded into the wrong description names the device. */
    g_autoptr(GByteArray) w = g_byte_array_new();
    state_stream_begin(w);
    state_stream_add(w, "evo", &test_all_state, &m->dev0);
    state_stream_finish(w);
    load_fails(w->data, w->len, STATE_ERROR_MISMATCH, "device 'evo'");
}
END_TEST

START_TEST(test_header_checks)
{
    g_autofree Machine *m = machine_sample();
    g_autoptr(GByteArray) b = machine_save(m);
    g_autofree uint8_t *tmp = g_memdup2(b->data, b->len);

    tmp[0] = 'X';
    state_test_reseal(tmp, b->len);
    load_fails(tmp, b->len, STATE_ERROR_CORRUPT, "magic");

    memcpy(tmp, b->data, b->len);
    le_store16(tmp + 8, 2);
    state_test_reseal(tmp, b->len);
    load_fails(tmp, b->len, STATE_ERROR_VERSION, "version 2");

    memcpy(tmp, b->data, b->len);
    le_store16(tmp + 10, 77);
    state_test_reseal(tmp, b->len);
    load_fails(tmp, b->len, STATE_ERROR_MISMATCH, "architecture 77");

    memcpy(tmp, b->data, b->len);
    le_store32(tmp + b->len - 8, 2); /* trailer count */
    state_test_reseal(tmp, b->len);
    load_fails(tmp, b->len, STATE_ERROR_CORRUPT, "trailer");

    g_autofree uint8_t *big = g_malloc0(STATE_STREAM_MAX + 1);
    load_fails(big, STATE_STREAM_MAX + 1, STATE_ERROR_TOO_LARGE, NULL);
}
END_TEST

/* A corrupt stream is refused before any object changes. */
START_TEST(test_corrupt_changes_nothing)
{
    g_autofree Machine *m = machine_sample();
    g_autoptr(GByteArray) b = machine_save(m);
    b->data[b->len - 20] ^= 1; /* inside the last section */
    g_autofree Machine *dst = g_new0(Machine, 1);
    g_autoptr(GError) err = NULL;
    ck_assert(!state_stream_load(b->data, b->len, lookup, dst, &err));
    ck_assert_int_eq(dst->lookups, 0);
    Machine zero = { 0 };
    ck_assert_mem_eq(dst, &zero, sizeof zero);
}
END_TEST

static void try_load(const uint8_t *buf, size_t len)
{
    g_autofree uint8_t *copy = len ? g_memdup2(buf, len) : NULL;
    g_autofree Machine *m = g_new0(Machine, 1);
    g_autoptr(GError) err = NULL;
    bool ok = state_stream_load(copy, len, lookup, m, &err);
    ck_assert(ok == (err == NULL));
}

START_TEST(test_hostile)
{
    g_autofree Machine *m = machine_sample();
    g_autoptr(GByteArray) b = machine_save(m);
    g_autofree uint8_t *tmp = g_malloc(b->len + 16);
    for (size_t n = 0; n < b->len; n++) {
        g_autoptr(GError) err = NULL;
        ck_assert_msg(!state_stream_load(b->data, n, lookup, m, &err), "truncation at %zu accepted", n);
        memcpy(tmp, b->data, n);
        state_test_reseal(tmp, n);
        try_load(tmp, n);
    }
    for (size_t bit = 0; bit < b->len * 8; bit++) {
        memcpy(tmp, b->data, b->len);
        tmp[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        g_autoptr(GError) err = NULL;
        ck_assert_msg(!state_stream_load(tmp, b->len, lookup, m, &err), "bit flip %zu accepted", bit);
        state_test_reseal(tmp, b->len);
        try_load(tmp, b->len);
    }
    for (size_t off = 0; off + 4 <= b->len - 4; off++) {
        memcpy(tmp, b->data, b->len);
        le_store32(tmp + off, 0xfffffff0u);
        state_test_reseal(tmp, b->len);
        try_load(tmp, b->len);
    }
    g_autoptr(GRand) rand = g_rand_new_with_seed(99);
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = (size_t)g_rand_int_range(rand, 0, (gint32)b->len + 16);
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint8_t)g_rand_int(rand);
        if (iter & 1)
            memcpy(tmp, b->data, MIN(n, 16u)); /* a valid header */
        state_test_reseal(tmp, n);
        try_load(tmp, n);
    }
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_empty_stream);
    tcase_add_test(tc, test_unknown_and_duplicate_ids);
    tcase_add_test(tc, test_header_checks);
    tcase_add_test(tc, test_corrupt_changes_nothing);
    tcase_add_test(tc, test_hostile);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(stream_suite)
