/* vm.snapshot and vm.restore over the API with the fake machine (apitest.c:
 * 2 MiB of RAM and a one-counter machine state): state checks, body
 * validation, the files written, restore into an empty nimbus (paused, or
 * running with resume), and restore failures leaving nimbus empty. */
#include "apitest.h"
#include "support/check_main.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static ApiTest *t;
static char *snapdir; /* a temp dir; snapshots go below it */

static void setup(void)
{
    t = apitest_start();
    snapdir = g_dir_make_tmp("nimbus-snapapi-XXXXXX", NULL);
    ck_assert_ptr_nonnull(snapdir);
}

static void teardown(void)
{
    apitest_stop(t);
    t = NULL;
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", snapdir);
    ck_assert_int_eq(system(cmd), 0);
    g_clear_pointer(&snapdir, g_free);
}

#define V1 "/api/v1/"

static int put(const char *endpoint, const char *body, HttpReply *r)
{
    g_autofree char *path = g_strconcat(V1, endpoint, NULL);
    http_reply_clear(r);
    return http_do(t->sock, "PUT", path, body, r);
}

static char *state(void)
{
    HttpReply r = { 0 };
    if (http_do(t->sock, "GET", V1 "vm.info", NULL, &r) != 200) {
        http_reply_clear(&r);
        return NULL;
    }
    char *s = json_get(r.body, "state");
    http_reply_clear(&r);
    return s;
}

static void expect(int status, const char *needle, int got, HttpReply *r)
{
    ck_assert_msg(got == status, "status %d, expected %d (%s)", got, status, r->body ? r->body : "");
    if (needle) {
        g_autofree char *m = json_get(r->body, "error");
        ck_assert_msg(m && strstr(m, needle), "error '%s' lacks '%s'", m ? m : "(none)", needle);
    }
}

static void create_and_boot(void)
{
    g_autofree char *body = g_strdup_printf("{\"payload\":{\"kernel\":\"%s\"},\"cpus\":{\"boot_vcpus\":1,"
                                            "\"max_vcpus\":1},\"memory\":{\"size\":268435456}}",
                                            t->kernel);
    HttpReply r = { 0 };
    expect(204, NULL, put("vm.create", body, &r), &r);
    expect(204, NULL, put("vm.boot", NULL, &r), &r);
    http_reply_clear(&r);
}

static char *url_body(const char *key, const char *name, const char *extra)
{
    return g_strdup_printf("{\"%s\":\"file://%s/%s\"%s}", key, snapdir, name, extra ? extra : "");
}

START_TEST(snapshot_and_restore)
{
    HttpReply r = { 0 };
    g_autofree char *snap = url_body("destination_url", "s1", NULL);
    expect(404, "no VM", put("vm.snapshot", snap, &r), &r);
    create_and_boot();
    /* Only a paused VM. */
    expect(405, "pause it", put("vm.snapshot", snap, &r), &r);
    expect(204, NULL, put("vm.pause", NULL, &r), &r);
    apitest_machine_counter = 4242;
    expect(204, NULL, put("vm.snapshot", snap, &r), &r);
    g_autofree char *state_bin = g_build_filename(snapdir, "s1", "state.bin", NULL);
    g_autofree char *config = g_build_filename(snapdir, "s1", "config.json", NULL);
    g_autofree char *mem = g_build_filename(snapdir, "s1", "memory-0x0.bin", NULL);
    ck_assert(g_file_test(state_bin, G_FILE_TEST_IS_REGULAR));
    ck_assert(g_file_test(config, G_FILE_TEST_IS_REGULAR));
    ck_assert(g_file_test(mem, G_FILE_TEST_IS_REGULAR));
    g_autofree char *s = state();
    ck_assert_str_eq(s, "Paused");
    /* Not over an existing snapshot. */
    expect(400, "not empty", put("vm.snapshot", snap, &r), &r);
    /* Restore wants an empty nimbus (cloud-hypervisor's 404). */
    g_autofree char *rest = url_body("source_url", "s1", NULL);
    expect(404, "already created", put("vm.restore", rest, &r), &r);

    expect(204, NULL, put("vm.delete", NULL, &r), &r);
    apitest_machine_counter = 0;
    expect(204, NULL, put("vm.restore", rest, &r), &r);
    ck_assert_uint_eq(apitest_machine_counter, 4242);
    g_free(s);
    s = state();
    ck_assert_str_eq(s, "Paused");
    /* The config came back: vm.info reports it. */
    HttpReply info = { 0 };
    ck_assert_int_eq(http_do(t->sock, "GET", V1 "vm.info", NULL, &info), 200);
    g_autofree char *kernel = json_get(info.body, "config.payload.kernel");
    ck_assert_str_eq(kernel, t->kernel);
    http_reply_clear(&info);
    expect(204, NULL, put("vm.resume", NULL, &r), &r);
    g_free(s);
    s = state();
    ck_assert_str_eq(s, "Running");
    http_reply_clear(&r);
}
END_TEST

START_TEST(restore_resume_and_prefault)
{
    HttpReply r = { 0 };
    create_and_boot();
    expect(204, NULL, put("vm.pause", NULL, &r), &r);
    g_autofree char *snap = url_body("destination_url", "s2", NULL);
    expect(204, NULL, put("vm.snapshot", snap, &r), &r);
    expect(204, NULL, put("vm.delete", NULL, &r), &r);
    g_autofree char *rest = url_body("source_url", "s2", ",\"prefault\":true,\"resume\":true");
    expect(204, NULL, put("vm.restore", rest, &r), &r);
    g_autofree char *s = state();
    ck_assert_str_eq(s, "Running");
    http_reply_clear(&r);
}
END_TEST

START_TEST(bad_bodies)
{
    HttpReply r = { 0 };
    create_and_boot();
    expect(204, NULL, put("vm.pause", NULL, &r), &r);
    expect(400, "needs a JSON body", put("vm.snapshot", NULL, &r), &r);
    expect(400, "invalid JSON", put("vm.snapshot", "{", &r), &r);
    expect(400, "must be a JSON object", put("vm.snapshot", "[]", &r), &r);
    expect(400, "'destination_url' is required", put("vm.snapshot", "{}", &r), &r);
    expect(400, "must be a string", put("vm.snapshot", "{\"destination_url\":3}", &r), &r);
    expect(400, "unknown field 'bogus'", put("vm.snapshot", "{\"destination_url\":\"file:///x\",\"bogus\":1}", &r),
           &r);
    expect(400, "only file:///PATH", put("vm.snapshot", "{\"destination_url\":\"tcp:1.2.3.4:5\"}", &r), &r);
    expect(400, "no host", put("vm.snapshot", "{\"destination_url\":\"file://host/x\"}", &r), &r);
    expect(400, "unknown field 'zone_updates'",
           put("vm.restore", "{\"source_url\":\"file:///x\",\"zone_updates\":[]}", &r), &r);
    expect(400, "'prefault' must be a boolean", put("vm.restore", "{\"source_url\":\"file:///x\",\"prefault\":1}", &r),
           &r);
    expect(400, "'source_url' is required", put("vm.restore", "{\"prefault\":true}", &r), &r);
    http_reply_clear(&r);
}
END_TEST

START_TEST(restore_failures_leave_nimbus_empty)
{
    HttpReply r = { 0 };
    /* Missing snapshot. */
    g_autofree char *missing = url_body("source_url", "nothing-here", NULL);
    expect(400, "cannot open", put("vm.restore", missing, &r), &r);
    ck_assert_ptr_null(state());

    /* A snapshot whose state is corrupt: the VM is built, then torn down. */
    create_and_boot();
    expect(204, NULL, put("vm.pause", NULL, &r), &r);
    g_autofree char *snap = url_body("destination_url", "s3", NULL);
    expect(204, NULL, put("vm.snapshot", snap, &r), &r);
    expect(204, NULL, put("vm.delete", NULL, &r), &r);
    g_autofree char *dir = g_build_filename(snapdir, "s3", NULL);
    g_autofree char *mem = g_build_filename(dir, "memory-0x0.bin", NULL);
    ck_assert_int_eq(truncate(mem, 4096), 0);
    g_autofree char *rest = url_body("source_url", "s3", NULL);
    expect(400, "memory-0x0.bin", put("vm.restore", rest, &r), &r);
    ck_assert_ptr_null(state());

    /* A config the snapshot's VM cannot have. */
    ck_assert_int_eq(truncate(mem, APITEST_RAM_SIZE), 0);
    g_autofree char *cfg = g_build_filename(dir, "config.json", NULL);
    ck_assert(g_file_set_contents(cfg, "{\"payload\":{\"kernel\":\"/x\"},\"bogus\":1}", -1, NULL));
    expect(400, "bogus", put("vm.restore", rest, &r), &r);
    ck_assert_ptr_null(state());

    /* And a good one afterwards still works. */
    create_and_boot();
    expect(204, NULL, put("vm.pause", NULL, &r), &r);
    g_autofree char *snap4 = url_body("destination_url", "s4", NULL);
    expect(204, NULL, put("vm.snapshot", snap4, &r), &r);
    expect(204, NULL, put("vm.delete", NULL, &r), &r);
    g_autofree char *rest4 = url_body("source_url", "s4", NULL);
    expect(204, NULL, put("vm.restore", rest4, &r), &r);
    g_autofree char *s = state();
    ck_assert_str_eq(s, "Paused");
    http_reply_clear(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api_snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, snapshot_and_restore);
    tcase_add_test(tc, restore_resume_and_prefault);
    tcase_add_test(tc, bad_bodies);
    tcase_add_test(tc, restore_failures_leave_nimbus_empty);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
