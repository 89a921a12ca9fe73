/* Parsing of the device options (--disk, --net, --rng, --vsock, --balloon),
 * cloud-hypervisor syntax. Each returns a freshly allocated config or an
 * error naming the offending key or value. */
#include "hypervisor/vm_config.h"

#include "hypervisor/error.h"
#include "hypervisor/kvlist.h"

#include <stdio.h>
#include <string.h>

#define QUEUE_SIZE_DEFAULT 256
#define QUEUE_SIZE_MAX 32768
#define QUEUES_MAX 64

static bool check_queues(uint32_t num_queues, uint32_t queue_size, uint32_t step, GError **errp)
{
    if (num_queues == 0 || num_queues > QUEUES_MAX || num_queues % step) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "num_queues=%u must be a multiple of %u between %u and %u", num_queues, step,
                    step, QUEUES_MAX);
        return false;
    }
    if (queue_size < 2 || queue_size > QUEUE_SIZE_MAX || (queue_size & (queue_size - 1))) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "queue_size=%u must be a power of two between 2 and %u", queue_size,
                    QUEUE_SIZE_MAX);
        return false;
    }
    return true;
}

bool vm_config_check_disk(const DiskConfig *d, GError **errp)
{
    if (!check_queues(d->num_queues, d->queue_size, 1, errp))
        return false;
    if (!d->path) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "path= is required");
        return false;
    }
    if (d->serial && strlen(d->serial) > 20) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "serial=%s is longer than 20 characters", d->serial);
        return false;
    }
    return true;
}

bool vm_config_parse_disk(const char *text, DiskConfig **out, GError **errp)
{
    static const char *const keys[] = { "path", "readonly", "direct", "num_queues", "queue_size",
                                        "id", "serial", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    DiskConfig *d = g_new0(DiskConfig, 1);
    d->num_queues = 1;
    d->queue_size = QUEUE_SIZE_DEFAULT;
    bool ok = kvlist_get_str(kv, "path", &d->path, errp) &&
              kvlist_get_bool(kv, "readonly", &d->readonly, errp) &&
              kvlist_get_bool(kv, "direct", &d->direct, errp) &&
              kvlist_get_u32(kv, "num_queues", &d->num_queues, errp) &&
              kvlist_get_u32(kv, "queue_size", &d->queue_size, errp) &&
              kvlist_get_str(kv, "id", &d->id, errp) &&
              kvlist_get_str(kv, "serial", &d->serial, errp) && vm_config_check_disk(d, errp);
    if (!ok) {
        disk_config_free(d);
        return false;
    }
    *out = d;
    return true;
}

bool vm_config_parse_mac(const char *text, uint8_t mac[6], GError **errp)
{
    unsigned b[6];
    char tail;
    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &tail) != 6 ||
        strlen(text) != 17) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "mac=%s is not a MAC address (xx:xx:xx:xx:xx:xx)", text);
        return false;
    }
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    if (mac[0] & 1) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "mac=%s is a multicast address",
                    text);
        return false;
    }
    return true;
}

bool vm_config_check_net(const NetConfig *n, GError **errp)
{
    if (!check_queues(n->num_queues, n->queue_size, 2, errp))
        return false;
    if (n->tap && (n->ip || n->mask)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "ip= and mask= configure a tap nimbus creates; not with tap=");
        return false;
    }
    if (!n->ip != !n->mask) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "ip= and mask= go together");
        return false;
    }
    return true;
}

bool vm_config_parse_net(const char *text, NetConfig **out, GError **errp)
{
    static const char *const keys[] = { "tap", "ip", "mask", "mac", "num_queues", "queue_size",
                                        "id", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    NetConfig *n = g_new0(NetConfig, 1);
    n->num_queues = 2;
    n->queue_size = QUEUE_SIZE_DEFAULT;
    const char *mac = kvlist_get(kv, "mac");
    bool ok = kvlist_get_str(kv, "tap", &n->tap, errp) && kvlist_get_str(kv, "ip", &n->ip, errp) &&
              kvlist_get_str(kv, "mask", &n->mask, errp) &&
              kvlist_get_u32(kv, "num_queues", &n->num_queues, errp) &&
              kvlist_get_u32(kv, "queue_size", &n->queue_size, errp) &&
              kvlist_get_str(kv, "id", &n->id, errp) &&
              (!mac || vm_config_parse_mac(mac, n->mac, errp));
    n->mac_set = mac != NULL;
    ok = ok && vm_config_check_net(n, errp);
    if (!ok) {
        net_config_free(n);
        return false;
    }
    *out = n;
    return true;
}

bool vm_config_parse_rng(const char *text, RngConfig **out, GError **errp)
{
    static const char *const keys[] = { "src", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    RngConfig *r = g_new0(RngConfig, 1);
    if (!kvlist_get_str(kv, "src", &r->src, errp)) {
        g_free(r);
        return false;
    }
    if (!r->src)
        r->src = g_strdup("/dev/urandom");
    *out = r;
    return true;
}

bool vm_config_parse_vsock(const char *text, VsockConfig **out, GError **errp)
{
    static const char *const keys[] = { "cid", "socket", "id", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    VsockConfig *v = g_new0(VsockConfig, 1);
    bool ok = kvlist_get_u64(kv, "cid", &v->cid, errp) &&
              kvlist_get_str(kv, "socket", &v->socket, errp) &&
              kvlist_get_str(kv, "id", &v->id, errp);
    if (ok && (!kvlist_has(kv, "cid") || v->cid < 3 || v->cid > UINT32_MAX - 1)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "cid= is required and must be between 3 and %u", UINT32_MAX - 1);
        ok = false;
    }
    if (ok && !v->socket) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "socket= is required");
        ok = false;
    }
    if (!ok) {
        g_free(v->socket);
        g_free(v->id);
        g_free(v);
        return false;
    }
    *out = v;
    return true;
}

bool vm_config_parse_balloon(const char *text, BalloonConfig **out, GError **errp)
{
    static const char *const keys[] = { "size", "deflate_on_oom", "free_page_reporting", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    BalloonConfig b = { 0 };
    if (!kvlist_has(kv, "size")) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "size= is required");
        return false;
    }
    /* size=0 is meaningful for a balloon (start deflated): parse it by hand. */
    const char *size = kvlist_get(kv, "size");
    if (g_strcmp0(size, "0") != 0 && !kvlist_get_size(kv, "size", &b.size, errp))
        return false;
    if (!kvlist_get_bool(kv, "deflate_on_oom", &b.deflate_on_oom, errp) ||
        !kvlist_get_bool(kv, "free_page_reporting", &b.free_page_reporting, errp))
        return false;
    *out = g_memdup2(&b, sizeof b);
    return true;
}
