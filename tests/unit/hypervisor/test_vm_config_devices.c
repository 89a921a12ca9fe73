/* Parsing of the device options (--disk, --net, --rng, --vsock, --balloon)
 * and their deep copy with the VmConfig. */
#include "hypervisor/vm_config.h"
#include "support/check_main.h"

#include <string.h>

START_TEST(disk_defaults_and_all_keys)
{
    g_autoptr(GError) err = NULL;
    DiskConfig *d = NULL;
    ck_assert(vm_config_parse_disk("path=/img", &d, &err));
    ck_assert_str_eq(d->path, "/img");
    ck_assert(!d->readonly && !d->direct);
    ck_assert_uint_eq(d->num_queues, 1);
    ck_assert_uint_eq(d->queue_size, 256);
    ck_assert_ptr_null(d->id);
    disk_config_free(d);
    ck_assert(vm_config_parse_disk(
        "path=/a,readonly=on,direct=on,num_queues=4,queue_size=1024,id=root,serial=SN1", &d, &err));
    ck_assert(d->readonly && d->direct);
    ck_assert_uint_eq(d->num_queues, 4);
    ck_assert_uint_eq(d->queue_size, 1024);
    ck_assert_str_eq(d->id, "root");
    ck_assert_str_eq(d->serial, "SN1");
    disk_config_free(d);
}
END_TEST

START_TEST(disk_errors)
{
    const char *bad[] = { "readonly=on", "path=/a,readonly=2", "path=/a,num_queues=0",
                          "path=/a,num_queues=65", "path=/a,queue_size=3", "path=/a,queue_size=65536",
                          "path=/a,serial=123456789012345678901", "path=/a,colour=red", "" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        DiskConfig *d = NULL;
        ck_assert_msg(!vm_config_parse_disk(bad[i], &d, &err), "accepted '%s'", bad[i]);
        ck_assert_ptr_nonnull(err);
        ck_assert_ptr_null(d);
    }
}
END_TEST

START_TEST(net_parsing)
{
    g_autoptr(GError) err = NULL;
    NetConfig *n = NULL;
    ck_assert(vm_config_parse_net("tap=tap0,mac=52:54:00:12:34:56,num_queues=4", &n, &err));
    ck_assert_str_eq(n->tap, "tap0");
    ck_assert(n->mac_set);
    const uint8_t want[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    ck_assert(memcmp(n->mac, want, 6) == 0);
    ck_assert_uint_eq(n->num_queues, 4);
    net_config_free(n);
    ck_assert(vm_config_parse_net("ip=192.168.249.1,mask=255.255.255.0", &n, &err));
    ck_assert_ptr_null(n->tap);
    ck_assert(!n->mac_set);
    ck_assert_uint_eq(n->num_queues, 2);
    net_config_free(n);
    const char *bad[] = { "tap=t,ip=1.2.3.4,mask=255.0.0.0", "ip=1.2.3.4", "mask=255.0.0.0",
                          "tap=t,mac=01:00:00:00:00:00", "tap=t,mac=52:54:00:12:34",
                          "tap=t,mac=52:54:00:12:34:56:78", "tap=t,num_queues=3",
                          "tap=t,queue_size=0" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        n = NULL;
        ck_assert_msg(!vm_config_parse_net(bad[i], &n, &e), "accepted '%s'", bad[i]);
        ck_assert_ptr_null(n);
    }
}
END_TEST

START_TEST(rng_vsock_balloon)
{
    g_autoptr(GError) err = NULL;
    RngConfig *r = NULL;
    ck_assert(vm_config_parse_rng("src=/dev/random", &r, &err));
    ck_assert_str_eq(r->src, "/dev/random");
    g_free(r->src);
    g_free(r);
    VsockConfig *v = NULL;
    ck_assert(vm_config_parse_vsock("cid=3,socket=/tmp/v.sock", &v, &err));
    ck_assert_uint_eq(v->cid, 3);
    g_free(v->socket);
    g_free(v->id);
    g_free(v);
    g_clear_error(&err);
    ck_assert(!vm_config_parse_vsock("cid=2,socket=/x", &v, &err));
    g_clear_error(&err);
    ck_assert(!vm_config_parse_vsock("socket=/x", &v, &err));
    g_clear_error(&err);
    BalloonConfig *b = NULL;
    ck_assert(vm_config_parse_balloon("size=0,deflate_on_oom=on", &b, &err));
    ck_assert_uint_eq(b->size, 0);
    ck_assert(b->deflate_on_oom);
    g_free(b);
    ck_assert(vm_config_parse_balloon("size=256M", &b, &err));
    ck_assert_uint_eq(b->size, 256ull << 20);
    g_free(b);
    ck_assert(!vm_config_parse_balloon("deflate_on_oom=on", &b, &err));
}
END_TEST

START_TEST(copy_is_deep)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) c = vm_config_new_default();
    DiskConfig *d;
    NetConfig *n;
    ck_assert(vm_config_parse_disk("path=/a,id=x", &d, &err));
    g_ptr_array_add(c->disks, d);
    ck_assert(vm_config_parse_net("tap=t0", &n, &err));
    g_ptr_array_add(c->nets, n);
    ck_assert(vm_config_parse_rng("src=/dev/urandom", &c->rng, &err));
    ck_assert(vm_config_parse_vsock("cid=5,socket=/s", &c->vsock, &err));
    ck_assert(vm_config_parse_balloon("size=1G", &c->balloon, &err));
    g_autoptr(VmConfig) copy = vm_config_copy(c);
    ck_assert_uint_eq(copy->disks->len, 1);
    ck_assert_ptr_ne(copy->disks->pdata[0], d);
    ck_assert_str_eq(((DiskConfig *)copy->disks->pdata[0])->path, "/a");
    ck_assert_ptr_ne(copy->nets->pdata[0], n);
    ck_assert_ptr_ne(copy->rng, c->rng);
    ck_assert_str_eq(copy->rng->src, "/dev/urandom");
    ck_assert_str_eq(copy->vsock->socket, "/s");
    ck_assert_uint_eq(copy->balloon->size, 1ull << 30);
}
END_TEST

static Suite *devices_suite(void)
{
    Suite *s = suite_create("vm_config_devices");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, disk_defaults_and_all_keys);
    tcase_add_test(tc, disk_errors);
    tcase_add_test(tc, net_parsing);
    tcase_add_test(tc, rng_vsock_balloon);
    tcase_add_test(tc, copy_is_deep);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(devices_suite)
