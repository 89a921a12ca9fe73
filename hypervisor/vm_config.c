#include "hypervisor/vm_config.h"

#include "hypervisor/error.h"
#include "hypervisor/kvlist.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The smallest memory a Linux guest plus our fixed low-memory layout needs. */
#define MEMORY_MIN_BYTES (64ull << 20)
#define PAGE_BYTES 4096ull

VmConfig *vm_config_new_default(void)
{
    VmConfig *c = g_new0(VmConfig, 1);
    c->cpus.boot_vcpus = 1;
    c->cpus.max_vcpus = 1;
    c->memory.size = 512ull << 20;
    c->serial.mode = CONSOLE_MODE_TTY;
    c->console.mode = CONSOLE_MODE_OFF;
    c->reboot_policy = REBOOT_POLICY_EXIT;
    c->disks = g_ptr_array_new_with_free_func((GDestroyNotify)disk_config_free);
    c->nets = g_ptr_array_new_with_free_func((GDestroyNotify)net_config_free);
    return c;
}

DiskConfig *disk_config_copy(const DiskConfig *d)
{
    DiskConfig *c = g_memdup2(d, sizeof(*d));
    c->path = g_strdup(d->path);
    c->id = g_strdup(d->id);
    c->serial = g_strdup(d->serial);
    return c;
}

void disk_config_free(DiskConfig *d)
{
    if (!d)
        return;
    g_free(d->path);
    g_free(d->id);
    g_free(d->serial);
    g_free(d);
}

NetConfig *net_config_copy(const NetConfig *n)
{
    NetConfig *c = g_memdup2(n, sizeof(*n));
    c->tap = g_strdup(n->tap);
    c->ip = g_strdup(n->ip);
    c->mask = g_strdup(n->mask);
    c->id = g_strdup(n->id);
    return c;
}

void net_config_free(NetConfig *n)
{
    if (!n)
        return;
    g_free(n->tap);
    g_free(n->ip);
    g_free(n->mask);
    g_free(n->id);
    g_free(n);
}

static GPtrArray *copy_list(const GPtrArray *src, GCopyFunc copy, GDestroyNotify free_fn)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(free_fn);
    for (guint i = 0; src && i < src->len; i++)
        g_ptr_array_add(a, copy(src->pdata[i], NULL));
    return a;
}

static gpointer disk_copy_cb(gconstpointer p, gpointer unused)
{
    return disk_config_copy(p);
}

static gpointer net_copy_cb(gconstpointer p, gpointer unused)
{
    return net_config_copy(p);
}

VmConfig *vm_config_copy(const VmConfig *src)
{
    VmConfig *c = g_memdup2(src, sizeof(*src));
    c->payload.kernel = g_strdup(src->payload.kernel);
    c->payload.initramfs = g_strdup(src->payload.initramfs);
    c->payload.cmdline = g_strdup(src->payload.cmdline);
    c->serial.path = g_strdup(src->serial.path);
    c->console.path = g_strdup(src->console.path);
    c->disks = copy_list(src->disks, disk_copy_cb, (GDestroyNotify)disk_config_free);
    c->nets = copy_list(src->nets, net_copy_cb, (GDestroyNotify)net_config_free);
    if (src->rng) {
        c->rng = g_memdup2(src->rng, sizeof(*src->rng));
        c->rng->src = g_strdup(src->rng->src);
    }
    if (src->vsock) {
        c->vsock = g_memdup2(src->vsock, sizeof(*src->vsock));
        c->vsock->socket = g_strdup(src->vsock->socket);
        c->vsock->id = g_strdup(src->vsock->id);
    }
    if (src->balloon)
        c->balloon = g_memdup2(src->balloon, sizeof(*src->balloon));
    return c;
}

void vm_config_free(VmConfig *c)
{
    if (!c)
        return;
    g_free(c->payload.kernel);
    g_free(c->payload.initramfs);
    g_free(c->payload.cmdline);
    g_free(c->serial.path);
    g_free(c->console.path);
    if (c->disks)
        g_ptr_array_unref(c->disks);
    if (c->nets)
        g_ptr_array_unref(c->nets);
    if (c->rng) {
        g_free(c->rng->src);
        g_free(c->rng);
    }
    if (c->vsock) {
        g_free(c->vsock->socket);
        g_free(c->vsock->id);
        g_free(c->vsock);
    }
    g_free(c->balloon);
    g_free(c);
}

bool vm_config_parse_cpus(const char *text, CpusConfig *out, GError **errp)
{
    static const char *const keys[] = { "boot", "max", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    CpusConfig c = { .boot_vcpus = 1, .max_vcpus = 0 };
    if (!kvlist_get_u32(kv, "boot", &c.boot_vcpus, errp) ||
        !kvlist_get_u32(kv, "max", &c.max_vcpus, errp))
        return false;
    if (c.boot_vcpus == 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "boot=0: a VM needs at least one vCPU");
        return false;
    }
    if (!kvlist_has(kv, "max"))
        c.max_vcpus = c.boot_vcpus;
    if (c.max_vcpus < c.boot_vcpus) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "max=%u is less than boot=%u",
                    c.max_vcpus, c.boot_vcpus);
        return false;
    }
    *out = c;
    return true;
}

bool vm_config_parse_memory(const char *text, MemoryConfig *out, GError **errp)
{
    static const char *const keys[] = { "size", "shared", "hugepages", "hugepage_size", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    MemoryConfig m = { .size = 512ull << 20 };
    if (!kvlist_get_size(kv, "size", &m.size, errp) || !kvlist_get_bool(kv, "shared", &m.shared, errp) ||
        !kvlist_get_bool(kv, "hugepages", &m.hugepages, errp) ||
        !kvlist_get_size(kv, "hugepage_size", &m.hugepage_size, errp))
        return false;
    if (m.hugepage_size && !m.hugepages) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "hugepage_size needs hugepages=on");
        return false;
    }
    if (m.hugepage_size & (m.hugepage_size - 1)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "hugepage_size=%" G_GUINT64_FORMAT " is not a power of two", m.hugepage_size);
        return false;
    }
    *out = m;
    return true;
}

bool vm_config_parse_console(const char *text, ConsoleConfig *out, GError **errp)
{
    static const struct {
        const char *word;
        ConsoleMode mode;
    } words[] = {
        { "off", CONSOLE_MODE_OFF }, { "null", CONSOLE_MODE_NULL }, { "tty", CONSOLE_MODE_TTY },
        { "pty", CONSOLE_MODE_PTY },
    };
    for (size_t i = 0; text && i < G_N_ELEMENTS(words); i++) {
        if (strcmp(text, words[i].word) == 0) {
            g_free(out->path);
            out->path = NULL;
            out->mode = words[i].mode;
            return true;
        }
    }
    static const char *const keys[] = { "file", "socket", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv) {
        g_prefix_error(errp, "expected off, null, tty, pty, file=PATH or socket=PATH: ");
        return false;
    }
    if (kvlist_has(kv, "file") == kvlist_has(kv, "socket")) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "give exactly one of file= or socket=");
        return false;
    }
    const char *key = kvlist_has(kv, "file") ? "file" : "socket";
    char *path = NULL;
    if (!kvlist_get_str(kv, key, &path, errp))
        return false;
    g_free(out->path);
    out->path = path;
    out->mode = kvlist_has(kv, "file") ? CONSOLE_MODE_FILE : CONSOLE_MODE_SOCKET;
    return true;
}

bool vm_config_parse_reboot_policy(const char *text, RebootPolicy *out, GError **errp)
{
    if (g_strcmp0(text, "exit") == 0)
        *out = REBOOT_POLICY_EXIT;
    else if (g_strcmp0(text, "restart") == 0)
        *out = REBOOT_POLICY_RESTART;
    else {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "'%s': expected exit or restart",
                    text ? text : "");
        return false;
    }
    return true;
}

const char *vm_config_console_mode_name(ConsoleMode mode)
{
    static const char *const names[] = { "Off", "Null", "Tty", "File", "Socket", "Pty" };
    return mode < G_N_ELEMENTS(names) ? names[mode] : "?";
}

static bool check_readable_file(const char *what, const char *path, GError **errp)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        g_set_error(errp, NIMBUS_ERROR, e == ENOENT ? NIMBUS_ERROR_NOT_FOUND : NIMBUS_ERROR_IO,
                    "%s '%s': %s", what, path, g_strerror(e));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s '%s' is not a regular file", what,
                    path);
        return false;
    }
    if (access(path, R_OK) < 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "%s '%s': %s", what, path,
                    g_strerror(errno));
        return false;
    }
    return true;
}

bool vm_config_validate(const VmConfig *c, uint32_t max_vcpus_limit, GError **errp)
{
    if (!c->payload.kernel) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "no kernel given (use --kernel PATH)");
        return false;
    }
    if (!check_readable_file("kernel", c->payload.kernel, errp))
        return false;
    if (c->payload.initramfs && !check_readable_file("initramfs", c->payload.initramfs, errp))
        return false;
    if (c->cpus.boot_vcpus == 0 || c->cpus.max_vcpus < c->cpus.boot_vcpus) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "invalid vCPU counts boot=%u max=%u",
                    c->cpus.boot_vcpus, c->cpus.max_vcpus);
        return false;
    }
    if (c->cpus.max_vcpus > max_vcpus_limit) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%u vCPUs requested, at most %u are supported", c->cpus.max_vcpus,
                    max_vcpus_limit);
        return false;
    }
    if (c->memory.size < MEMORY_MIN_BYTES) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "memory size %" G_GUINT64_FORMAT " KiB is too small (minimum %llu MiB)",
                    c->memory.size >> 10, MEMORY_MIN_BYTES >> 20);
        return false;
    }
    uint64_t align = c->memory.hugepages ? (c->memory.hugepage_size ? c->memory.hugepage_size : 2ull << 20)
                                         : PAGE_BYTES;
    if (c->memory.size % align) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "memory size %" G_GUINT64_FORMAT " is not a multiple of the page size %" G_GUINT64_FORMAT,
                    c->memory.size, align);
        return false;
    }
    if ((c->serial.mode == CONSOLE_MODE_FILE || c->serial.mode == CONSOLE_MODE_SOCKET) &&
        !c->serial.path) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "serial: a path is required");
        return false;
    }
    return true;
}
