#include "devices/net/tap.h"

#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TUN_DEV "/dev/net/tun"

struct Tap {
    char name[IFNAMSIZ];
    unsigned nqueues;
    int fds[TAP_MAX_QUEUES];
    bool enabled[TAP_MAX_QUEUES];
    bool created;
    unsigned offloads_supported;
};

static Tap *tap_alloc(unsigned nqueues)
{
    Tap *t = g_new0(Tap, 1);
    t->nqueues = nqueues;
    for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
        t->fds[i] = -1;
    return t;
}

void tap_close(Tap *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < t->nqueues; i++) {
        if (t->fds[i] >= 0)
            close(t->fds[i]);
    }
    g_free(t);
}

static bool check_queues(unsigned nqueues, GError **errp)
{
    if (nqueues == 0 || nqueues > TAP_MAX_QUEUES) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "tap: %u queue pairs (1..%u supported)", nqueues, TAP_MAX_QUEUES);
        return false;
    }
    return true;
}

static int open_tun(GError **errp)
{
    int fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "%s: %s (is the tun module loaded?)", TUN_DEV, g_strerror(e));
    else if (e == EACCES || e == EPERM)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO,
                    "%s: %s (needs CAP_NET_ADMIN or access to the device)", TUN_DEV,
                    g_strerror(e));
    else
        error_set_errno(errp, -e, "%s", TUN_DEV);
    return -1;
}

/* Turn a TUNSETIFF failure into a message naming the likely cause. */
static void set_iff_error(GError **errp, const char *name, int e, bool existing, bool mq)
{
    switch (e) {
    case EPERM:
    case EACCES:
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO,
                    "tap %s: permission denied (needs CAP_NET_ADMIN, or the tap's owner/group)",
                    name);
        break;
    case EBUSY:
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO,
                    "tap %s: busy (already in use by another process%s)", name,
                    mq ? " or all its queues are attached" : "");
        break;
    case EINVAL:
        if (existing) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "%s is not a tap device, or it was made %s (num_queues %s)", name,
                        mq ? "without multi_queue" : "with multi_queue",
                        mq ? "> 2 needs a multi_queue tap" : "= 2 needs a single-queue tap");
            break;
        }
        /* fallthrough */
    default:
        error_set_errno(errp, -e, "tap %s: TUNSETIFF", name);
    }
}

/* Check that the tun driver knows the flags we need. */
static bool check_features(int fd, bool mq, GError **errp)
{
    unsigned int features = 0;
    if (ioctl(fd, TUNGETFEATURES, &features) < 0) {
        error_set_errno(errp, -errno, "%s: TUNGETFEATURES", TUN_DEV);
        return false;
    }
    if (!(features & IFF_VNET_HDR)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "tap: the kernel's tun driver lacks IFF_VNET_HDR");
        return false;
    }
    if (mq && !(features & IFF_MULTI_QUEUE)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "tap: the kernel's tun driver lacks IFF_MULTI_QUEUE (num_queues > 2)");
        return false;
    }
    return true;
}

/* Per-fd setup after TUNSETIFF: header size and byte order. */
static bool setup_vnet_hdr(Tap *t, int fd, GError **errp)
{
    int sz = TAP_VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
        error_set_errno(errp, -errno, "tap %s: TUNSETVNETHDRSZ", t->name);
        return false;
    }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    /* virtio 1.x headers are little-endian; on a little-endian host that is
     * the tun default. */
    int le = 1;
    if (ioctl(fd, TUNSETVNETLE, &le) < 0) {
        error_set_errno(errp, -errno, "tap %s: TUNSETVNETLE", t->name);
        return false;
    }
#endif
    return true;
}

/* Open queue `q` of interface `name` (a pattern like nimbus%d for the first
 * queue of a new tap); on success t->name holds the real name. */
static bool attach_queue(Tap *t, unsigned q, const char *name, bool existing, GError **errp)
{
    AUTO_FD int fd = open_tun(errp);
    if (fd < 0)
        return false;
    bool mq = t->nqueues > 1;
    if (q == 0 && !check_features(fd, mq, errp))
        return false;

    struct ifreq ifr = { 0 };
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (mq ? IFF_MULTI_QUEUE : 0);
    g_strlcpy(ifr.ifr_name, name, sizeof ifr.ifr_name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        set_iff_error(errp, name, errno, existing, mq);
        return false;
    }
    if (q == 0)
        g_strlcpy(t->name, ifr.ifr_name, sizeof t->name);
    if (!setup_vnet_hdr(t, fd, errp))
        return false;
    t->fds[q] = fd_steal(&fd);
    t->enabled[q] = true;
    return true;
}

/* Which offloads the kernel accepts; leaves them all off. */
static void probe_offloads(Tap *t)
{
    static const unsigned tries[] = {
        TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6 | TAP_OFFLOAD_TSO_ECN,
        TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6,
        TAP_OFFLOAD_CSUM,
    };
    t->offloads_supported = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(tries); i++) {
        if (ioctl(t->fds[0], TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
            t->offloads_supported = tries[i];
            break;
        }
    }
    (void)ioctl(t->fds[0], TUNSETOFFLOAD, 0ul);
}

static bool open_queues(Tap *t, const char *name, bool existing, GError **errp)
{
    if (!attach_queue(t, 0, name, existing, errp))
        return false;
    for (unsigned q = 1; q < t->nqueues; q++) {
        if (!attach_queue(t, q, t->name, true, errp))
            return false;
    }
    probe_offloads(t);
    return true;
}

Tap *tap_open(const char *name, unsigned nqueues, GError **errp)
{
    if (!check_queues(nqueues, errp))
        return NULL;
    if (!name || !*name || strlen(name) >= IFNAMSIZ || strchr(name, '%') || strchr(name, '/')) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "tap name '%s': must be 1..%d characters without '%%' or '/'",
                    name ? name : "", IFNAMSIZ - 1);
        return NULL;
    }
    /* TUNSETIFF would create a missing interface: refuse that here, the
     * user asked for an existing one. */
    if (if_nametoindex(name) == 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND,
                    "tap %s: no such network interface", name);
        return NULL;
    }
    g_autoptr(Tap) t = tap_alloc(nqueues);
    if (!open_queues(t, name, true, errp))
        return NULL;
    return g_steal_pointer(&t);
}

static bool parse_ipv4(const char *what, const char *text, struct sockaddr_in *out,
                       GError **errp)
{
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, text, &out->sin_addr) != 1) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "tap %s '%s': not a dotted IPv4 address", what, text);
        return false;
    }
    return true;
}

/* Address, netmask and IFF_UP through an AF_INET socket's ioctls. */
static bool configure_link(Tap *t, const char *ip, const char *mask, GError **errp)
{
    struct sockaddr_in addr, netmask;
    if (ip && !parse_ipv4("ip", ip, &addr, errp))
        return false;
    if (mask && !parse_ipv4("mask", mask, &netmask, errp))
        return false;

    AUTO_FD int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        error_set_errno(errp, -errno, "tap %s: socket(AF_INET)", t->name);
        return false;
    }
    struct ifreq ifr = { 0 };
    g_strlcpy(ifr.ifr_name, t->name, sizeof ifr.ifr_name);
    if (ip) {
        memcpy(&ifr.ifr_addr, &addr, sizeof addr);
        if (ioctl(s, SIOCSIFADDR, &ifr) < 0) {
            error_set_errno(errp, -errno, "tap %s: setting address %s", t->name, ip);
            return false;
        }
    }
    if (mask) {
        memcpy(&ifr.ifr_netmask, &netmask, sizeof netmask);
        if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) {
            error_set_errno(errp, -errno, "tap %s: setting netmask %s", t->name, mask);
            return false;
        }
    }
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        error_set_errno(errp, -errno, "tap %s: SIOCGIFFLAGS", t->name);
        return false;
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        error_set_errno(errp, -errno, "tap %s: bringing the link up", t->name);
        return false;
    }
    return true;
}

Tap *tap_create(const char *ip, const char *mask, unsigned nqueues, GError **errp)
{
    if (!check_queues(nqueues, errp))
        return NULL;
    if (mask && !ip) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "tap: mask= needs ip=");
        return NULL;
    }
    g_autoptr(Tap) t = tap_alloc(nqueues);
    t->created = true;
    if (!open_queues(t, "nimbus%d", false, errp))
        return NULL;
    if (!configure_link(t, ip, mask, errp))
        return NULL;
    return g_steal_pointer(&t);
}

const char *tap_name(const Tap *t)
{
    return t->name;
}

unsigned tap_queue_count(const Tap *t)
{
    return t->nqueues;
}

int tap_fd(const Tap *t, unsigned queue)
{
    g_assert(queue < t->nqueues);
    return t->fds[queue];
}

bool tap_created(const Tap *t)
{
    return t->created;
}

unsigned tap_offloads_supported(const Tap *t)
{
    return t->offloads_supported;
}

int tap_set_offload(Tap *t, unsigned offloads)
{
    if (ioctl(t->fds[0], TUNSETOFFLOAD, (unsigned long)offloads) < 0)
        return -errno;
    return 0;
}

int tap_set_queue_enabled(Tap *t, unsigned queue, bool enabled)
{
    if (queue >= t->nqueues)
        return -EINVAL;
    if (t->enabled[queue] == enabled)
        return 0;
    if (t->nqueues == 1)
        return -EINVAL; /* a single-queue tap cannot detach its only queue */
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    if (ioctl(t->fds[queue], TUNSETQUEUE, &ifr) < 0)
        return -errno;
    t->enabled[queue] = enabled;
    return 0;
}

bool tap_queue_enabled(const Tap *t, unsigned queue)
{
    return queue < t->nqueues && t->enabled[queue];
}

ssize_t tap_read(Tap *t, unsigned queue, void *buf, size_t len)
{
    g_assert(queue < t->nqueues);
    for (;;) {
        ssize_t n = read(t->fds[queue], buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

ssize_t tap_writev(Tap *t, unsigned queue, const struct iovec *iov, int iovcnt)
{
    g_assert(queue < t->nqueues);
    for (;;) {
        ssize_t n = writev(t->fds[queue], iov, iovcnt);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}
