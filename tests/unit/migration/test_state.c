/* Tests of migration/state.c: round trips of every field type (nested structs,
 * arrays, custom fields, subsections), version evolution, the reader rules on
 * hand-crafted sections, description checks and the JSON dump. */
#include "hypervisor/le.h"
#include "migration/state.h"
#include "state_registry.h"
#include "support/check_main.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static GByteArray *save(const StateDesc *d, const void *obj)
{
    GByteArray *b = g_byte_array_new();
    state_save(d, obj, b);
    return b;
}

static void load_ok(const StateDesc *d, void *obj, const GByteArray *b)
{
    g_autoptr(GError) err = NULL;
    bool ok = state_load(d, obj, b->data, b->len, &err);
    ck_assert_msg(ok, "load of '%s' failed: %s", d->name, err ? err->message : "?");
    ck_assert_ptr_null(err);
}

/* The load fails with `code` and a message containing each of needles. */
static void load_fails(const StateDesc *d, void *obj, const GByteArray *b, int code, const char *n1,
                       const char *n2)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!state_load(d, obj, b->data, b->len, &err), "load of '%s' succeeded", d->name);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(g_error_matches(err, STATE_ERROR, code), "error code %d, expected %d: %s", err->code, code,
                  err->message);
    ck_assert_msg(!n1 || strstr(err->message, n1), "'%s' does not mention '%s'", err->message, n1);
    ck_assert_msg(!n2 || strstr(err->message, n2), "'%s' does not mention '%s'", err->message, n2);
}

/* A hand-written section: header, then fields with sec_field(), then sec_close(). */
static GByteArray *sec_new(const char *name, uint16_t version)
{
    GByteArray *b = g_byte_array_new();
    uint8_t h[4];
    le_store16(h, version);
    h[2] = (uint8_t)strlen(name);
    h[3] = 0;
    g_byte_array_append(b, h, 4);
    g_byte_array_append(b, (const uint8_t *)name, (guint)strlen(name));
    uint8_t z[4] = { 0 };
    g_byte_array_append(b, z, 4);
    return b;
}

static void sec_field(GByteArray *b, uint16_t tag, uint8_t type, uint8_t flags, const void *p, uint32_t len)
{
    uint8_t h[8];
    le_store16(h, tag);
    h[2] = type;
    h[3] = flags;
    le_store32(h + 4, len);
    g_byte_array_append(b, h, 8);
    if (len)
        g_byte_array_append(b, p, len);
}

static void sec_u32(GByteArray *b, uint16_t tag, uint32_t v)
{
    uint8_t p[4];
    le_store32(p, v);
    sec_field(b, tag, STATE_TYPE_U32, 0, p, 4);
}

static void sec_close(GByteArray *b)
{
    size_t at = 4 + b->data[2];
    le_store32(b->data + at, (uint32_t)(b->len - at - 4));
    uint8_t crc[4];
    le_store32(crc, state_crc32(0, b->data, b->len));
    g_byte_array_append(b, crc, 4);
}

static TestAll sample_all(void)
{
    TestAll t = {
        .u8v = 0xab, .u16v = 0xbeef, .u32v = 0xdeadbeef, .u64v = 0xfedcba9876543210ull, .flag = true,
        .i32v = -123456, .i64v = -(1ll << 60), .words = { 1, 2, 3, 4, 0xffff },
        .regs = { 10, 20, 30, 40, 50, 60, 70, 0xffffffff }, .big = { 1, UINT64_MAX, 1ull << 63 },
        .mode = TEST_MODE_B, .bounded = 100, .inner = { .a = 7, .b = 8, .tag = { 'n', 'i', 'm', 'b' } },
        .nelems = 3,
        .elems = { { 0x1000, 256, true }, { 0x2000, 0, false }, { 0x3000, 4, true } },
        .clen = 5, .cbuf = { 1, 2, 3, 4, 5 }, .has_extra = true, .extra = 0x55aa, .extra_count = 7,
    };
    for (int i = 0; i < 16; i++)
        t.bytes[i] = (uint8_t)(i * 17);
    return t;
}

/* ---- description checks ------------------------------------------------------ */

START_TEST(test_check_registry)
{
    for (const StateRegistryEntry *e = state_descs_all; e->desc; e++) {
        g_autoptr(GError) err = NULL;
        ck_assert_msg(state_desc_check(e->desc, &err), "%s", err ? err->message : "?");
    }
}
END_TEST

typedef struct Bad {
    uint32_t a;
    uint8_t n;
    TestElem many[300];
} Bad;

static void check_rejects(const StateDesc *d, const char *needle)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!state_desc_check(d, &err), "'%s' passed the check", d->name);
    ck_assert_msg(strstr(err->message, needle), "'%s' does not mention '%s'", err->message, needle);
}

START_TEST(test_check_rejects)
{
    static const StateField dup[] = { STATE_U32(Bad, a, 1), STATE_U8(Bad, n, 1), STATE_END };
    check_rejects(&(StateDesc){ .name = "dup", .version = 1, .size = sizeof(Bad), .fields = dup }, "twice");
    static const StateField zero[] = { STATE_U32(Bad, a, 0), STATE_END };
    check_rejects(&(StateDesc){ .name = "zero", .version = 1, .size = sizeof(Bad), .fields = zero }, "reserved");
    static const StateField one[] = { STATE_U32(Bad, a, 1), STATE_U8(Bad, n, 2), STATE_END };
    check_rejects(&(StateDesc){ .name = "small", .version = 1, .size = 4, .fields = one }, "outside");
    check_rejects(&(StateDesc){ .name = "ver", .version = 1, .min_version = 2, .size = sizeof(Bad), .fields = one },
                  "min_version");
    check_rejects(&(StateDesc){ .name = "bad name", .version = 1, .size = sizeof(Bad), .fields = one }, "name");
    static const StateField cap[] = { STATE_STRUCT_ARRAY(Bad, many, n, 1, &test_elem_state), STATE_END };
    check_rejects(&(StateDesc){ .name = "cap", .version = 1, .size = sizeof(Bad), .fields = cap }, "capacity");
    static const StateField nest[] = { STATE_STRUCT(TestAll, inner, 1, &test_elem_state), STATE_END };
    check_rejects(&(StateDesc){ .name = "nest", .version = 1, .size = sizeof(TestAll), .fields = nest }, "size");
    static const StateField bflag[] = { STATE_BOOL(TestAll, flag, 1, .has_max = true, .max = 1), STATE_END };
    check_rejects(&(StateDesc){ .name = "bflag", .version = 1, .size = sizeof(TestAll), .fields = bflag }, "bound");
}
END_TEST

/* ---- round trips ------------------------------------------------------------- */

START_TEST(test_roundtrip_all_types)
{
    TestAll src = sample_all(), dst = { 0 };
    g_autoptr(GByteArray) b = save(&test_all_state, &src);
    load_ok(&test_all_state, &dst, b);
    ck_assert_uint_eq(dst.u8v, src.u8v);
    ck_assert_uint_eq(dst.u16v, src.u16v);
    ck_assert_uint_eq(dst.u32v, src.u32v);
    ck_assert_uint_eq(dst.u64v, src.u64v);
    ck_assert(dst.flag);
    ck_assert_int_eq(dst.i32v, src.i32v);
    ck_assert_int_eq(dst.i64v, src.i64v);
    ck_assert_mem_eq(dst.bytes, src.bytes, sizeof src.bytes);
    ck_assert_mem_eq(dst.words, src.words, sizeof src.words);
    ck_assert_mem_eq(dst.regs, src.regs, sizeof src.regs);
    ck_assert_mem_eq(dst.big, src.big, sizeof src.big);
    ck_assert_int_eq(dst.mode, TEST_MODE_B);
    ck_assert_uint_eq(dst.bounded, 100);
    ck_assert_uint_eq(dst.inner.a, 7);
    ck_assert_uint_eq(dst.inner.b, 8);
    ck_assert_mem_eq(dst.inner.tag, "nimb", 4);
    ck_assert_uint_eq(dst.nelems, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(dst.elems[i].addr, src.elems[i].addr);
        ck_assert_uint_eq(dst.elems[i].size, src.elems[i].size);
        ck_assert_int_eq(dst.elems[i].ready, src.elems[i].ready);
    }
    ck_assert_uint_eq(dst.clen, 5);
    ck_assert_mem_eq(dst.cbuf, src.cbuf, 5);
    ck_assert(dst.has_extra);
    ck_assert_uint_eq(dst.extra, 0x55aa);
    ck_assert_uint_eq(dst.extra_count, 7);

    g_autoptr(GByteArray) again = save(&test_all_state, &dst);
    ck_assert_uint_eq(again->len, b->len);
    ck_assert_mem_eq(again->data, b->data, b->len);
}
END_TEST

/* Every registered description: random state within bounds, save, load into
 * a fresh object, save again: byte-identical, and the same JSON. */
START_TEST(test_roundtrip_registry)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed((guint32)_i);
    for (const StateRegistryEntry *e = state_descs_all; e->desc; e++) {
        g_autofree uint8_t *a = g_malloc0(e->desc->size);
        g_autofree uint8_t *b = g_malloc0(e->desc->size);
        state_test_fill(e, a, rand);
        g_autoptr(GByteArray) s1 = save(e->desc, a);
        load_ok(e->desc, b, s1);
        g_autoptr(GByteArray) s2 = save(e->desc, b);
        ck_assert_msg(s1->len == s2->len && memcmp(s1->data, s2->data, s1->len) == 0,
                      "'%s' (seed %d) does not round-trip", e->desc->name, _i);
        g_autofree char *j1 = state_dump_json(e->desc, a);
        g_autofree char *j2 = state_dump_json(e->desc, b);
        ck_assert_str_eq(j1, j2);
    }
}
END_TEST

START_TEST(test_array_empty_and_full)
{
    TestAll src = sample_all(), dst = sample_all();
    src.nelems = 0;
    g_autoptr(GByteArray) b = save(&test_all_state, &src);
    load_ok(&test_all_state, &dst, b);
    ck_assert_uint_eq(dst.nelems, 0);

    src.nelems = TEST_ELEMS;
    src.elems[3] = (TestElem){ 0x4000, 8, true };
    g_autoptr(GByteArray) full = save(&test_all_state, &src);
    memset(&dst, 0, sizeof dst);
    load_ok(&test_all_state, &dst, full);
    ck_assert_uint_eq(dst.nelems, TEST_ELEMS);
    ck_assert_uint_eq(dst.elems[3].addr, 0x4000);
}
END_TEST

START_TEST(test_subsection_absent_keeps_reset)
{
    TestAll src = sample_all();
    src.has_extra = false;
    src.extra = 0;
    src.extra_count = 6;
    g_autoptr(GByteArray) b = save(&test_all_state, &src);
    TestAll dst = { .extra_count = 3 }; /* "reset value" */
    load_ok(&test_all_state, &dst, b);
    ck_assert(!dst.has_extra);
    ck_assert_uint_eq(dst.extra_count, 3);
    g_autofree char *json = state_dump_json(&test_all_state, &src);
    ck_assert(strstr(json, "@sections") == NULL);
}
END_TEST

/* A stream section "evo" v1 {a, b} with one extra subsection entry. */
static GByteArray *evo_with_subsection(const char *sub, uint8_t flags)
{
    GByteArray *b = sec_new("evo", 1);
    sec_u32(b, 1, 11);
    sec_u32(b, 2, 22);
    g_autoptr(GByteArray) p = g_byte_array_new();
    uint8_t h[4] = { 1, 0, (uint8_t)strlen(sub), 0 };
    g_byte_array_append(p, h, 4);
    g_byte_array_append(p, (const uint8_t *)sub, (guint)strlen(sub));
    uint8_t f[12] = { 1, 0, STATE_TYPE_U32, 0, 4, 0, 0, 0, 9, 9, 9, 9 };
    g_byte_array_append(p, f, sizeof f);
    sec_field(b, 0, STATE_TYPE_SECTION, flags, p->data, p->len);
    sec_close(b);
    return b;
}

START_TEST(test_subsection_unknown)
{
    EvoV1 v = { 0 };
    g_autoptr(GByteArray) opt = evo_with_subsection("evo/future", STATE_F_OPTIONAL);
    load_ok(&evo_v1_state, &v, opt);
    ck_assert_uint_eq(v.a, 11);
    ck_assert_uint_eq(v.b, 22);
    g_autoptr(GByteArray) req = evo_with_subsection("evo/future", 0);
    load_fails(&evo_v1_state, &v, req, STATE_ERROR_UNKNOWN, "'evo'", "evo/future");
}
END_TEST

/* ---- version evolution -------------------------------------------------------- */

START_TEST(test_old_stream_new_desc)
{
    EvoV1 old = { 1, 2 };
    g_autoptr(GByteArray) b = save(&evo_v1_state, &old);
    EvoV2 n = { .c = 0xdead }; /* reset value of the new field */
    load_ok(&evo_v2_state, &n, b);
    ck_assert_uint_eq(n.a, 1);
    ck_assert_uint_eq(n.b, 2);
    ck_assert_uint_eq(n.c, 0xdead);
    /* the new field is required in this variant: the old stream lacks it */
    load_fails(&evo_v2_req_state, &n, b, STATE_ERROR_MISSING, "'evo'", "'c'");
    /* v3 dropped support for v1 streams */
    load_fails(&evo_v3_state, &n, b, STATE_ERROR_VERSION, "'evo'", "version 1");
}
END_TEST

START_TEST(test_new_stream_old_desc)
{
    EvoV2 n = { 3, 4, 5 };
    g_autoptr(GByteArray) opt = save(&evo_v2_state, &n);
    EvoV1 old = { 0 };
    load_ok(&evo_v1_state, &old, opt); /* the unknown optional field is skipped */
    ck_assert_uint_eq(old.a, 3);
    ck_assert_uint_eq(old.b, 4);
    g_autoptr(GByteArray) v3 = save(&evo_v3_state, &n);
    load_ok(&evo_v1_state, &old, v3); /* a newer version with only optional additions */
    g_autoptr(GByteArray) req = save(&evo_v2_req_state, &n);
    load_fails(&evo_v1_state, &old, req, STATE_ERROR_UNKNOWN, "'evo'", "tag 3");
}
END_TEST

/* ---- reader rules on crafted sections ----------------------------------------- */

typedef struct Small {
    uint32_t n; /* <= 10 */
    bool on;
    uint8_t count;
    TestElem elems[2];
} Small;

static const StateField small_fields[] = {
    STATE_U32_MAX(Small, n, 1, 10),
    STATE_BOOL(Small, on, 2),
    STATE_STRUCT_ARRAY(Small, elems, count, 3, &test_elem_state, STATE_OPTIONAL),
    STATE_END
};

static const StateDesc small_state = {
    .name = "small", .version = 1, .min_version = 1, .size = sizeof(Small), .fields = small_fields,
};

static GByteArray *small_sec(uint32_t n, uint8_t on)
{
    GByteArray *b = sec_new("small", 1);
    sec_u32(b, 1, n);
    sec_field(b, 2, STATE_TYPE_BOOL, 0, &on, 1);
    return b;
}

/* An array payload with `count` elements of {addr, size}. */
static void small_array(GByteArray *b, uint32_t count, const uint16_t *sizes, bool stray)
{
    g_autoptr(GByteArray) p = g_byte_array_new();
    uint8_t c[4];
    le_store32(c, count);
    g_byte_array_append(p, c, 4);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t e[4 + 16 + 10 + 9] = { 0 };
        le_store32(e, sizeof e - 4);
        uint8_t *f = e + 4;
        le_store16(f, 1), f[2] = STATE_TYPE_U64, le_store32(f + 4, 8), le_store64(f + 8, 0x1000 * i);
        f += 16;
        le_store16(f, 2), f[2] = STATE_TYPE_U16, le_store32(f + 4, 2), le_store16(f + 8, sizes[i]);
        f += 10;
        le_store16(f, 3), f[2] = STATE_TYPE_BOOL, le_store32(f + 4, 1), f[8] = 1;
        g_byte_array_append(p, e, sizeof e);
    }
    if (stray)
        g_byte_array_append(p, c, 1);
    sec_field(b, 3, STATE_TYPE_ARRAY, 0, p->data, p->len);
}

START_TEST(test_crafted_ok)
{
    Small s = { 0 };
    g_autoptr(GByteArray) b = small_sec(10, 1);
    small_array(b, 2, (const uint16_t[]){ 4, 8 }, false);
    sec_field(b, 99, STATE_TYPE_U64, STATE_F_OPTIONAL, "12345678", 8); /* unknown, optional */
    sec_close(b);
    load_ok(&small_state, &s, b);
    ck_assert_uint_eq(s.n, 10);
    ck_assert(s.on);
    ck_assert_uint_eq(s.count, 2);
    ck_assert_uint_eq(s.elems[1].addr, 0x1000);
    ck_assert_uint_eq(s.elems[1].size, 8);
}
END_TEST

START_TEST(test_crafted_rejects)
{
    Small s = { 0 };
    g_autoptr(GByteArray) big = small_sec(11, 1);
    sec_close(big);
    load_fails(&small_state, &s, big, STATE_ERROR_INVALID, "state 'small' field 'n'", "exceeds the maximum 10");

    g_autoptr(GByteArray) boolean = small_sec(1, 2);
    sec_close(boolean);
    load_fails(&small_state, &s, boolean, STATE_ERROR_INVALID, "field 'on'", "0 or 1");

    g_autoptr(GByteArray) shortlen = sec_new("small", 1);
    sec_field(shortlen, 1, STATE_TYPE_U32, 0, "abc", 3);
    sec_close(shortlen);
    load_fails(&small_state, &s, shortlen, STATE_ERROR_CORRUPT, "field 'n'", "length 3");

    g_autoptr(GByteArray) type = sec_new("small", 1);
    sec_field(type, 1, STATE_TYPE_U64, 0, "abcdefgh", 8);
    sec_close(type);
    load_fails(&small_state, &s, type, STATE_ERROR_MISMATCH, "field 'n'", "type");

    g_autoptr(GByteArray) dup = small_sec(1, 1);
    sec_u32(dup, 1, 2);
    sec_close(dup);
    load_fails(&small_state, &s, dup, STATE_ERROR_CORRUPT, "field 'n'", "twice");

    g_autoptr(GByteArray) over = small_sec(1, 1);
    small_array(over, 3, (const uint16_t[]){ 1, 2, 4 }, false);
    sec_close(over);
    load_fails(&small_state, &s, over, STATE_ERROR_INVALID, "field 'elems'", "capacity 2");

    g_autoptr(GByteArray) elem = small_sec(1, 1);
    small_array(elem, 2, (const uint16_t[]){ 4, 3 }, false);
    sec_close(elem);
    load_fails(&small_state, &s, elem, STATE_ERROR_INVALID, "field 'elems[1]'", "power of two");

    g_autoptr(GByteArray) stray = small_sec(1, 1);
    small_array(stray, 1, (const uint16_t[]){ 4 }, true);
    sec_close(stray);
    load_fails(&small_state, &s, stray, STATE_ERROR_CORRUPT, "field 'elems'", "stray");

    g_autoptr(GByteArray) unknown = small_sec(1, 1);
    sec_u32(unknown, 77, 0);
    sec_close(unknown);
    load_fails(&small_state, &s, unknown, STATE_ERROR_UNKNOWN, "'small'", "tag 77");

    g_autoptr(GByteArray) missing = sec_new("small", 1);
    sec_u32(missing, 1, 1);
    sec_close(missing);
    load_fails(&small_state, &s, missing, STATE_ERROR_MISSING, "field 'on'", NULL);

    g_autoptr(GByteArray) tag0 = small_sec(1, 1);
    sec_u32(tag0, 0, 1);
    sec_close(tag0);
    load_fails(&small_state, &s, tag0, STATE_ERROR_CORRUPT, "'small'", "tag 0");

    g_autoptr(GByteArray) name = sec_new("smalL", 1);
    sec_close(name);
    load_fails(&small_state, &s, name, STATE_ERROR_MISMATCH, "'small'", "smalL");

    g_autoptr(GByteArray) crc = small_sec(1, 1);
    sec_close(crc);
    crc->data[crc->len - 1] ^= 0x80;
    load_fails(&small_state, &s, crc, STATE_ERROR_CORRUPT, "'small'", "CRC");

    g_autoptr(GByteArray) reserved = small_sec(1, 1);
    sec_close(reserved);
    reserved->data[3] = 1;
    state_test_reseal(reserved->data, reserved->len);
    load_fails(&small_state, &s, reserved, STATE_ERROR_CORRUPT, "'small'", "header");

    g_autoptr(GByteArray) trailing = small_sec(1, 1);
    sec_close(trailing);
    g_byte_array_append(trailing, (const uint8_t *)"xxxx", 4);
    state_test_reseal(trailing->data, trailing->len);
    load_fails(&small_state, &s, trailing, STATE_ERROR_CORRUPT, "'small'", NULL);
}
END_TEST

START_TEST(test_post_load_rejects)
{
    TestAll src = sample_all();
    src.has_extra = false;
    src.extra = 1; /* post_load refuses extra without has_extra... */
    g_autoptr(GByteArray) b = save(&test_all_state, &src);
    TestAll dst = { .extra = 1 }; /* ...which the subsection left at its reset value */
    load_fails(&test_all_state, &dst, b, STATE_ERROR_INVALID, "state 'test-all'", "extra without has_extra");
}
END_TEST

START_TEST(test_custom_rejects)
{
    TestAll src = sample_all();
    g_autoptr(GByteArray) b = save(&test_all_state, &src);
    /* Find the custom field (tag 16) and make its length byte lie. */
    size_t body = 4 + strlen("test-all") + 4;
    for (size_t off = body; off + 8 <= b->len - 4;) {
        uint16_t tag = le_load16(b->data + off);
        uint32_t len = le_load32(b->data + off + 4);
        if (tag == 16) {
            b->data[off + 8] = TEST_CBUF + 1;
            break;
        }
        off += 8 + len;
    }
    state_test_reseal(b->data, b->len);
    TestAll dst = { 0 };
    load_fails(&test_all_state, &dst, b, STATE_ERROR_INVALID, "field 'cbuf'", "bad buffer");
}
END_TEST

/* ---- JSON ---------------------------------------------------------------------- */

START_TEST(test_json_dump)
{
    TestAll t = sample_all();
    g_autofree char *json = state_dump_json(&test_all_state, &t);
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert_msg(json_parser_load_from_data(p, json, -1, NULL), "not JSON: %s", json);
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    ck_assert_str_eq(json_object_get_string_member(root, "name"), "test-all");
    ck_assert_int_eq(json_object_get_int_member(root, "version"), 1);
    JsonObject *s = json_object_get_object_member(root, "state");
    ck_assert_int_eq(json_object_get_int_member(s, "u8v"), 0xab);
    ck_assert_int_eq(json_object_get_int_member(s, "u32v"), 0xdeadbeef);
    ck_assert_str_eq(json_object_get_string_member(s, "u64v"), "18364758544493064720");
    ck_assert(json_object_get_boolean_member(s, "flag"));
    ck_assert_int_eq(json_object_get_int_member(s, "i64v"), -(1ll << 60));
    ck_assert_str_eq(json_object_get_string_member(s, "bytes"), "00112233445566778899aabbccddeeff");
    JsonArray *regs = json_object_get_array_member(s, "regs");
    ck_assert_uint_eq(json_array_get_length(regs), 8);
    ck_assert_int_eq(json_array_get_int_element(regs, 7), 0xffffffff);
    JsonObject *inner = json_object_get_object_member(s, "inner");
    ck_assert_int_eq(json_object_get_int_member(inner, "b"), 8);
    ck_assert_str_eq(json_object_get_string_member(inner, "tag"), "6e696d62");
    JsonArray *elems = json_object_get_array_member(s, "elems");
    ck_assert_uint_eq(json_array_get_length(elems), 3);
    ck_assert_int_eq(json_object_get_int_member(json_array_get_object_element(elems, 2), "addr"), 0x3000);
    ck_assert_str_eq(json_object_get_string_member(s, "cbuf"), "050102030405");
    JsonObject *secs = json_object_get_object_member(s, "@sections");
    ck_assert_ptr_nonnull(secs);
    ck_assert_int_eq(json_object_get_int_member(json_object_get_object_member(secs, "test-all/extra"), "extra"),
                     0x55aa);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("checks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_check_registry);
    tcase_add_test(tc, test_check_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip_all_types);
    tcase_add_loop_test(tc, test_roundtrip_registry, 0, 64);
    tcase_add_test(tc, test_array_empty_and_full);
    tcase_add_test(tc, test_subsection_absent_keeps_reset);
    tcase_add_test(tc, test_subsection_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("versions");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_old_stream_new_desc);
    tcase_add_test(tc, test_new_stream_old_desc);
    suite_add_tcase(s, tc);

    tc = tcase_create("reader");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_crafted_ok);
    tcase_add_test(tc, test_crafted_rejects);
    tcase_add_test(tc, test_post_load_rejects);
    tcase_add_test(tc, test_custom_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_json_dump);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(state_suite)
