/* Tests of hypervisor/kvlist.c: the "key=value,key=value" option parser and
 * its typed getters. */
#include "hypervisor/error.h"
#include "hypervisor/kvlist.h"
#include "support/check_main.h"

#include <string.h>

static const char *const keys[] = { "a", "b", "c", "path", "affinity", "n", "on", "size", NULL };

static KvList *parse_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    KvList *kv = kvlist_parse(text, keys, &err);
    ck_assert_msg(kv != NULL, "'%s': %s", text, err ? err->message : "?");
    ck_assert_ptr_null(err);
    return kv;
}

/* Parsing fails and the error message contains `needle`. */
static void parse_fails(const char *text, const char *needle)
{
    g_autoptr(GError) err = NULL;
    KvList *kv = kvlist_parse(text, keys, &err);
    ck_assert_msg(kv == NULL, "'%s' was accepted", text ? text : "(null)");
    ck_assert_ptr_nonnull(err);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    if (needle)
        ck_assert_msg(strstr(err->message, needle), "error for '%s' is '%s', expected it to mention '%s'",
                      text, err->message, needle);
}

START_TEST(test_parse_simple)
{
    g_autoptr(KvList) kv = parse_ok("a=1,b=two");
    ck_assert_str_eq(kvlist_get(kv, "a"), "1");
    ck_assert_str_eq(kvlist_get(kv, "b"), "two");
    ck_assert_ptr_null(kvlist_get(kv, "path"));
    ck_assert(kvlist_has(kv, "a"));
    ck_assert(!kvlist_has(kv, "n"));
    ck_assert(!kvlist_has(kv, "unknown"));
}
END_TEST

START_TEST(test_parse_single)
{
    g_autoptr(KvList) kv = parse_ok("size=1G");
    ck_assert_str_eq(kvlist_get(kv, "size"), "1G");
}
END_TEST

START_TEST(test_value_with_equals)
{
    /* Only the first '=' separates. */
    g_autoptr(KvList) kv = parse_ok("path=/tmp/a=b");
    ck_assert_str_eq(kvlist_get(kv, "path"), "/tmp/a=b");
}
END_TEST

START_TEST(test_brackets)
{
    g_autoptr(KvList) kv = parse_ok("affinity=[0@[0,2],1@[1,3]],n=2");
    ck_assert_str_eq(kvlist_get(kv, "affinity"), "[0@[0,2],1@[1,3]]");
    ck_assert_str_eq(kvlist_get(kv, "n"), "2");
}
END_TEST

START_TEST(test_quotes)
{
    g_autoptr(KvList) kv = parse_ok("path=\"/tmp/a,b[\",n=1");
    const char *v = kvlist_get(kv, "path");
    ck_assert_ptr_nonnull(v);
    /* The comma (and the bracket) inside quotes did not split the item. */
    ck_assert_ptr_nonnull(strstr(v, "/tmp/a,b["));
    ck_assert_str_eq(kvlist_get(kv, "n"), "1");
}
END_TEST

START_TEST(test_unbalanced)
{
    parse_fails("affinity=[0,1", "unbalanced");
    parse_fails("affinity=0]", "unbalanced");
    parse_fails("affinity=[0]],n=1", "unbalanced");
    parse_fails("path=\"abc", "unbalanced");
}
END_TEST

START_TEST(test_unknown_key)
{
    parse_fails("a=1,frob=2", "frob");
    parse_fails("A=1", "'A'"); /* keys are case-sensitive */
    /* With no known keys at all, every key is unknown. */
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(kvlist_parse("a=1", NULL, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "'a'"));
}
END_TEST

START_TEST(test_unknown_key_lists_known)
{
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(kvlist_parse("x=1", keys, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "path"));
    ck_assert_ptr_nonnull(strstr(err->message, "affinity"));
}
END_TEST

START_TEST(test_duplicate_key)
{
    parse_fails("a=1,a=1", "'a'");
    parse_fails("a=1,b=2,a=3", "'a'");
}
END_TEST

static const char *const malformed[] = {
    ",,", "=x", "a=", "path=", "a=1,b=", ",", "a=1,", ",a=1", "a=1,,b=2", "a", "a=1,b", "=", "a=1,=2", "", "path",
};

START_TEST(test_malformed)
{
    parse_fails(malformed[_i], NULL);
}
END_TEST

START_TEST(test_malformed_names_item)
{
    parse_fails("a=1,bogus", "bogus");
    parse_fails("a=1,=7", "=7");
    parse_fails("a=1,,b=2", "a=1,,b=2");
    parse_fails(NULL, NULL);
}
END_TEST

/* ---- getters ------------------------------------------------------------ */

START_TEST(test_get_u64)
{
    g_autoptr(KvList) kv = parse_ok("a=42,b=18446744073709551615,n=0");
    uint64_t v = 7;
    ck_assert(kvlist_get_u64(kv, "a", &v, NULL));
    ck_assert_uint_eq(v, 42);
    ck_assert(kvlist_get_u64(kv, "b", &v, NULL));
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert(kvlist_get_u64(kv, "n", &v, NULL));
    ck_assert_uint_eq(v, 0);
    /* Absent: true, *out untouched. */
    v = 99;
    ck_assert(kvlist_get_u64(kv, "path", &v, NULL));
    ck_assert_uint_eq(v, 99);
}
END_TEST

static const char *const bad_numbers[] = {
    "-1", "abc", "1x", " 1", "1 ", "18446744073709551616", "99999999999999999999", "+1", "1.0", "0x",
};

START_TEST(test_get_u64_bad)
{
    g_autofree char *text = g_strdup_printf("n=%s", bad_numbers[_i]);
    g_autoptr(KvList) kv = parse_ok(text);
    uint64_t v = 99;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!kvlist_get_u64(kv, "n", &v, &err), "'%s' accepted", bad_numbers[_i]);
    ck_assert_uint_eq(v, 99);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    ck_assert_ptr_nonnull(strstr(err->message, "n="));
    ck_assert_ptr_nonnull(strstr(err->message, bad_numbers[_i]));
}
END_TEST

START_TEST(test_get_u32)
{
    g_autoptr(KvList) kv = parse_ok("a=4294967295,b=4294967296,c=x");
    uint32_t v = 5;
    ck_assert(kvlist_get_u32(kv, "a", &v, NULL));
    ck_assert_uint_eq(v, UINT32_MAX);
    v = 5;
    g_autoptr(GError) err = NULL;
    ck_assert(!kvlist_get_u32(kv, "b", &v, &err));
    ck_assert_uint_eq(v, 5);
    ck_assert_ptr_nonnull(strstr(err->message, "b=4294967296"));
    g_clear_error(&err);
    ck_assert(!kvlist_get_u32(kv, "c", &v, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "c=x"));
    ck_assert_uint_eq(v, 5);
    ck_assert(kvlist_get_u32(kv, "n", &v, NULL));
    ck_assert_uint_eq(v, 5);
}
END_TEST

START_TEST(test_get_bool)
{
    g_autoptr(KvList) kv = parse_ok("a=on,b=off,c=true,n=false,on=yes,path=1,size=ON");
    bool v = false;
    ck_assert(kvlist_get_bool(kv, "a", &v, NULL));
    ck_assert(v);
    ck_assert(kvlist_get_bool(kv, "b", &v, NULL));
    ck_assert(!v);
    ck_assert(kvlist_get_bool(kv, "c", &v, NULL));
    ck_assert(v);
    ck_assert(kvlist_get_bool(kv, "n", &v, NULL));
    ck_assert(!v);
    ck_assert(kvlist_get_bool(kv, "affinity", &v, NULL)); /* absent */
    ck_assert(!v);

    const char *bad[] = { "on", "path", "size" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        v = true;
        ck_assert_msg(!kvlist_get_bool(kv, bad[i], &v, &err), "%s accepted", bad[i]);
        ck_assert(v);
        ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
        ck_assert_ptr_nonnull(strstr(err->message, bad[i]));
    }
}
END_TEST

START_TEST(test_get_size)
{
    g_autoptr(KvList) kv = parse_ok("size=2G,a=12Q,b=0,c=1.5M");
    uint64_t v = 1;
    ck_assert(kvlist_get_size(kv, "size", &v, NULL));
    ck_assert_uint_eq(v, 2ull << 30);
    ck_assert(kvlist_get_size(kv, "n", &v, NULL));
    ck_assert_uint_eq(v, 2ull << 30);
    const char *bad[] = { "a", "b", "c" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        v = 1;
        ck_assert(!kvlist_get_size(kv, bad[i], &v, &err));
        ck_assert_uint_eq(v, 1);
        ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
        /* The error names the key first, then the value. */
        g_autofree char *prefix = g_strdup_printf("%s: ", bad[i]);
        ck_assert_msg(g_str_has_prefix(err->message, prefix), "'%s'", err->message);
        ck_assert_ptr_nonnull(strstr(err->message, kvlist_get(kv, bad[i])));
    }
}
END_TEST

START_TEST(test_get_str)
{
    g_autoptr(KvList) kv = parse_ok("path=/dev/null,a=x");
    g_autofree char *s = g_strdup("old");
    ck_assert(kvlist_get_str(kv, "path", &s, NULL));
    ck_assert_str_eq(s, "/dev/null");
    ck_assert(kvlist_get_str(kv, "n", &s, NULL)); /* absent: untouched */
    ck_assert_str_eq(s, "/dev/null");
    ck_assert(kvlist_get_str(kv, "a", &s, NULL)); /* previous value freed (ASan) */
    ck_assert_str_eq(s, "x");
}
END_TEST

static Suite *kvlist_suite(void)
{
    Suite *s = suite_create("kvlist");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_parse_simple);
    tcase_add_test(tc, test_parse_single);
    tcase_add_test(tc, test_value_with_equals);
    tcase_add_test(tc, test_brackets);
    tcase_add_test(tc, test_quotes);
    tcase_add_test(tc, test_unbalanced);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_unknown_key_lists_known);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_loop_test(tc, test_malformed, 0, G_N_ELEMENTS(malformed));
    tcase_add_test(tc, test_malformed_names_item);
    suite_add_tcase(s, tc);

    tc = tcase_create("getters");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_get_u64);
    tcase_add_loop_test(tc, test_get_u64_bad, 0, G_N_ELEMENTS(bad_numbers));
    tcase_add_test(tc, test_get_u32);
    tcase_add_test(tc, test_get_bool);
    tcase_add_test(tc, test_get_size);
    tcase_add_test(tc, test_get_str);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(kvlist_suite)
