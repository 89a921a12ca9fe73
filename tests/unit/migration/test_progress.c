/* Tests of migration/progress.c: the cancel/commit handshake (whichever
 * comes first wins), who may cancel, the phases at the end, and the
 * counters and rate a reader sees. */
#include "hypervisor/error.h"
#include "migration/progress.h"
#include "support/check_main.h"

#include <string.h>

START_TEST(test_cancel_before_commit)
{
    g_autoptr(MigrationProgress) p = migration_progress_new(true);
    g_autoptr(GError) err = NULL;
    ck_assert(!migration_progress_cancelled(p));
    ck_assert(migration_progress_cancel(p, &err));
    ck_assert(migration_progress_cancelled(p));
    ck_assert(migration_progress_cancel(p, &err)); /* asking twice is fine */
    ck_assert(!migration_progress_commit(p));
    GError *e = g_error_new_literal(NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the migration was cancelled on the source");
    migration_progress_finish(p, false, e, 12);
    g_error_free(e);
    MigrationProgressInfo i;
    migration_progress_read(p, &i);
    ck_assert_int_eq(i.phase, MIGRATION_PHASE_CANCELLED);
    ck_assert_str_eq(i.error, "the migration was cancelled on the source");
    ck_assert_uint_eq(i.downtime_ms, 12);
    migration_progress_info_clear(&i);
    ck_assert_ptr_null(i.error);
}
END_TEST

START_TEST(test_commit_before_cancel)
{
    g_autoptr(MigrationProgress) p = migration_progress_new(true);
    g_autoptr(GError) err = NULL;
    ck_assert(migration_progress_commit(p));
    ck_assert(!migration_progress_cancel(p, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_STATE));
    ck_assert_msg(strstr(err->message, "completing"), "%s", err->message);
    ck_assert(!migration_progress_cancelled(p));
    migration_progress_finish(p, true, NULL, 3);
    MigrationProgressInfo i;
    migration_progress_read(p, &i);
    ck_assert_int_eq(i.phase, MIGRATION_PHASE_COMPLETED);
    ck_assert_ptr_null(i.error);
    migration_progress_info_clear(&i);
}
END_TEST

/* The destination may cancel too, until it acknowledges Complete. */
START_TEST(test_cancel_incoming)
{
    g_autoptr(MigrationProgress) p = migration_progress_new(false);
    g_autoptr(GError) err = NULL;
    ck_assert(migration_progress_cancel(p, &err));
    ck_assert(migration_progress_cancelled(p));
    ck_assert(!migration_progress_commit(p));
    GError *e = g_error_new_literal(NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the migration was cancelled on the destination");
    migration_progress_finish(p, false, e, 0);
    g_error_free(e);
    MigrationProgressInfo i;
    migration_progress_read(p, &i);
    ck_assert_int_eq(i.phase, MIGRATION_PHASE_CANCELLED);
    ck_assert(!i.outgoing);
    migration_progress_info_clear(&i);
}
END_TEST

START_TEST(test_cancel_refused)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MigrationProgress) in = migration_progress_new(false);
    ck_assert(migration_progress_commit(in)); /* the destination acknowledged Complete */
    ck_assert(!migration_progress_cancel(in, &err));
    ck_assert_msg(strstr(err->message, "completing"), "%s", err->message);
    g_clear_error(&err);
    g_autoptr(MigrationProgress) failed = migration_progress_new(true);
    migration_progress_finish(failed, false, NULL, 0);
    ck_assert(!migration_progress_cancel(failed, &err));
    ck_assert_msg(strstr(err->message, "over"), "%s", err->message);
    MigrationProgressInfo i;
    migration_progress_read(failed, &i);
    ck_assert_int_eq(i.phase, MIGRATION_PHASE_FAILED);
    ck_assert_str_eq(i.error, "failed");
    migration_progress_info_clear(&i);
}
END_TEST

START_TEST(test_counters_and_rate)
{
    g_autoptr(MigrationProgress) p = migration_progress_new(true);
    MigrationProgressInfo i;
    migration_progress_read(p, &i);
    ck_assert_int_eq(i.phase, MIGRATION_PHASE_SETUP);
    ck_assert_uint_eq(i.bytes_sent, 0);
    ck_assert_uint_eq(i.transfer_rate, 0);
    migration_progress_set_ram(p, 1 << 20);
    migration_progress_set_phase(p, MIGRATION_PHASE_PRECOPY);
    migration_progress_add_sent(p, 4096, 1);
    g_usleep(600000); /* past the rate window */
    migration_progress_add_sent(p, 8192, 2);
    migration_progress_set_round(p, 2, 40960, 81920, 7);
    migration_progress_read(p, &i);
    ck_assert_int_eq(i.phase, MIGRATION_PHASE_PRECOPY);
    ck_assert_uint_eq(i.ram_bytes, 1 << 20);
    ck_assert_uint_eq(i.bytes_sent, 12288);
    ck_assert_uint_eq(i.pages_sent, 3);
    /* 12288 bytes over 0.6 s and a little more */
    ck_assert_uint_gt(i.transfer_rate, 12288 / 2);
    ck_assert_uint_le(i.transfer_rate, 12288 * 2);
    ck_assert_uint_eq(i.iteration, 2);
    ck_assert_uint_eq(i.remaining_bytes, 40960);
    ck_assert_uint_eq(i.dirty_rate, 81920);
    ck_assert_uint_eq(i.estimated_downtime_ms, 7);
    ck_assert_uint_ge(i.elapsed_ms, 600);
    ck_assert_str_eq(migration_phase_name(i.phase), "precopy");
    migration_progress_info_clear(&i);
    /* Once over, elapsed stops. */
    migration_progress_finish(p, true, NULL, 0);
    MigrationProgressInfo a, b;
    migration_progress_read(p, &a);
    g_usleep(20000);
    migration_progress_read(p, &b);
    ck_assert_uint_eq(a.elapsed_ms, b.elapsed_ms);
    ck_assert_uint_eq(b.remaining_bytes, 0);
}
END_TEST

static Suite *progress_suite(void)
{
    Suite *s = suite_create("migration_progress");
    TCase *tc = tcase_create("progress");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cancel_before_commit);
    tcase_add_test(tc, test_commit_before_cancel);
    tcase_add_test(tc, test_cancel_incoming);
    tcase_add_test(tc, test_cancel_refused);
    tcase_add_test(tc, test_counters_and_rate);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(progress_suite)
