/* Tests of api/vm_config_json.c: every field read, defaults, the legacy
 * top-level payload form, errors naming the field, and a round trip through
 * vm_config_to_json. */
#include "api/vm_config_json.h"
#include "support/check_main.h"

#include <string.h>

static VmConfig *parse(const char *json, GError **errp)
{
    return vm_config_from_json(json, strlen(json), errp);
}

static const char *full =
    "{\"payload\":{\"kernel\":\"/k\",\"cmdline\":\"c\",\"initramfs\":\"/i\"},"
    "\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":4},"
    "\"memory\":{\"size\":1073741824,\"shared\":true,\"hugepages\":true,\"hugepage_size\":2097152},"
    "\"serial\":{\"mode\":\"File\",\"file\":\"/tmp/s\"},\"console\":{\"mode\":\"Socket\",\"socket\":\"/tmp/c\"},"
    "\"disks\":[{\"path\":\"/d0\",\"readonly\":true,\"direct\":true,\"num_queues\":2,\"queue_size\":128,"
    "\"id\":\"disk9\",\"serial\":\"SER\"},{\"path\":\"/d1\"}],"
    "\"net\":[{\"tap\":\"tap0\",\"mac\":\"52:54:00:00:00:01\",\"num_queues\":4,\"queue_size\":512,\"id\":\"n\"},"
    "{\"ip\":\"10.0.0.1\",\"mask\":\"255.255.255.0\"}],"
    "\"rng\":{\"src\":\"/dev/random\"},\"vsock\":{\"cid\":3,\"socket\":\"/tmp/v\",\"id\":\"vs\"},"
    "\"balloon\":{\"size\":0,\"deflate_on_oom\":true,\"free_page_reporting\":true}}";

static void check_full(const VmConfig *c)
{
    ck_assert_str_eq(c->payload.kernel, "/k");
    ck_assert_str_eq(c->payload.cmdline, "c");
    ck_assert_str_eq(c->payload.initramfs, "/i");
    ck_assert_uint_eq(c->cpus.boot_vcpus, 2);
    ck_assert_uint_eq(c->cpus.max_vcpus, 4);
    ck_assert_uint_eq(c->memory.size, 1ull << 30);
    ck_assert(c->memory.shared && c->memory.hugepages);
    ck_assert_uint_eq(c->memory.hugepage_size, 2u << 20);
    ck_assert_int_eq(c->serial.mode, CONSOLE_MODE_FILE);
    ck_assert_str_eq(c->serial.path, "/tmp/s");
    ck_assert_int_eq(c->console.mode, CONSOLE_MODE_SOCKET);
    ck_assert_str_eq(c->console.path, "/tmp/c");
    ck_assert_uint_eq(c->disks->len, 2);
    const DiskConfig *d = c->disks->pdata[0];
    ck_assert(d->readonly && d->direct);
    ck_assert_uint_eq(d->num_queues, 2);
    ck_assert_uint_eq(d->queue_size, 128);
    ck_assert_str_eq(d->id, "disk9");
    ck_assert_str_eq(d->serial, "SER");
    d = c->disks->pdata[1];
    ck_assert_uint_eq(d->num_queues, 1);
    ck_assert_uint_eq(d->queue_size, 256);
    ck_assert_uint_eq(c->nets->len, 2);
    const NetConfig *n = c->nets->pdata[0];
    ck_assert_str_eq(n->tap, "tap0");
    ck_assert(n->mac_set && n->mac[5] == 1);
    ck_assert_uint_eq(n->num_queues, 4);
    n = c->nets->pdata[1];
    ck_assert_str_eq(n->ip, "10.0.0.1");
    ck_assert(!n->mac_set);
    ck_assert_str_eq(c->rng->src, "/dev/random");
    ck_assert_uint_eq(c->vsock->cid, 3);
    ck_assert_str_eq(c->vsock->socket, "/tmp/v");
    ck_assert_uint_eq(c->balloon->size, 0);
    ck_assert(c->balloon->deflate_on_oom && c->balloon->free_page_reporting);
}

START_TEST(all_fields_and_round_trip)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) c = parse(full, &err);
    ck_assert_msg(c, "%s", err ? err->message : "");
    check_full(c);
    g_autoptr(JsonNode) node = vm_config_to_json(c, NULL, NULL);
    g_autofree char *text = json_to_string(node, FALSE);
    g_autoptr(VmConfig) again = parse(text, &err);
    ck_assert_msg(again, "%s: %s", text, err ? err->message : "");
    check_full(again);
}
END_TEST

START_TEST(defaults_and_legacy_form)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) c = parse("{\"kernel\":{\"path\":\"/k\"},\"cmdline\":{\"args\":\"a b\"},"
                                  "\"initramfs\":{\"path\":\"/i\"},\"console\":{\"mode\":\"Pty\"},"
                                  "\"rng\":{}}",
                                  &err);
    ck_assert_msg(c, "%s", err ? err->message : "");
    ck_assert_str_eq(c->payload.kernel, "/k");
    ck_assert_str_eq(c->payload.cmdline, "a b");
    ck_assert_str_eq(c->payload.initramfs, "/i");
    ck_assert_int_eq(c->serial.mode, CONSOLE_MODE_NULL);
    ck_assert_int_eq(c->console.mode, CONSOLE_MODE_PTY);
    ck_assert_int_eq(c->reboot_policy, REBOOT_POLICY_RESTART);
    ck_assert_uint_eq(c->cpus.boot_vcpus, 1);
    ck_assert_str_eq(c->rng->src, "/dev/urandom");
    /* The PTY path shows up as the console's file. */
    g_autoptr(JsonNode) node = vm_config_to_json(c, NULL, "/dev/pts/4");
    g_autofree char *text = json_to_string(node, FALSE);
    ck_assert(strstr(text, "\"console\":{\"mode\":\"Pty\",\"file\":\"/dev/pts/4\"}"));
}
END_TEST

static const struct {
    const char *json;
    const char *needle;
} bad[] = {
    { "", "invalid JSON" },
    { "{", "invalid JSON" },
    { "null", "JSON object" },
    { "{}", "payload.kernel" },
    { "{\"payload\":{\"kernel\":1}}", "'payload.kernel'" },
    { "{\"payload\":{\"kernel\":\"/k\",\"firmware\":\"/f\"}}", "unknown field 'payload.firmware'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"kernel\":{\"path\":\"/k\"}}", "both" },
    { "{\"kernel\":{\"file\":\"/k\"}}", "unknown field 'kernel.file'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"cpus\":{\"boot_vcpus\":0}}", "'cpus.boot_vcpus'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"cpus\":{\"boot_vcpus\":4,\"max_vcpus\":2}}", "'cpus.max_vcpus'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"cpus\":{\"max_vcpus\":2}}", "'cpus.boot_vcpus'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"cpus\":{\"boot_vcpus\":1.5}}", "'cpus.boot_vcpus'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"cpus\":{\"boot_vcpus\":99999999999}}", "'cpus.boot_vcpus'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"memory\":{\"size\":\"1G\"}}", "'memory.size'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"memory\":{\"shared\":true}}", "'memory.size'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"memory\":{\"size\":1,\"mergeable\":true}}", "unknown field 'memory.mergeable'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"memory\":{\"size\":1,\"hugepage_size\":4096}}", "'memory.hugepage_size'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"serial\":{\"mode\":\"File\"}}", "'serial.file'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"console\":{\"mode\":\"pty\"}}", "'console.mode'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"console\":{}}", "'console.mode'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"disks\":{}}", "'disks'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"disks\":[5]}", "disks" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"disks\":[{\"readonly\":true}]}", "'disks[0].path'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"disks\":[{\"path\":\"/d\"},{\"path\":\"/d\",\"readonly\":\"yes\"}]}", "'disks[1].readonly'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"disks\":[{\"path\":\"/d\",\"queue_size\":100}]}", "queue_size" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"net\":[{\"mac\":\"zz\"}]}", "'net[0].mac'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"net\":[{\"vhost_user\":true}]}", "unknown field 'net[0].vhost_user'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"net\":[{\"ip\":\"1.2.3.4\"}]}", "go together" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"vsock\":{\"cid\":2,\"socket\":\"/v\"}}", "'vsock.cid'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"vsock\":{\"cid\":3}}", "'vsock.socket'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"balloon\":{}}", "'balloon.size'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"rng\":\"/dev/urandom\"}", "'rng'" },
    { "{\"payload\":{\"kernel\":\"/k\"},\"fs\":[]}", "unknown field 'fs'" },
};

START_TEST(errors_name_the_field)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) c = parse(bad[_i].json, &err);
    ck_assert_msg(!c, "accepted: %s", bad[_i].json);
    ck_assert_msg(strstr(err->message, bad[_i].needle), "%s -> '%s', expected '%s'", bad[_i].json,
                  err->message, bad[_i].needle);
}
END_TEST

static Suite *vm_config_json_suite(void)
{
    Suite *s = suite_create("vm_config_json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, all_fields_and_round_trip);
    tcase_add_test(tc, defaults_and_legacy_form);
    tcase_add_loop_test(tc, errors_name_the_field, 0, G_N_ELEMENTS(bad));
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(vm_config_json_suite)
