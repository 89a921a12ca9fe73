/* Live migration, the destination (see migrate.h; the source is
 * migrate.c). */
#include "migration/migrate.h"

#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"
#include "hypervisor/le.h"
#include "hypervisor/memory.h"
#include "migration/device_state.h"
#include "migration/progress.h"
#include "migration/protocol.h"
#include "migration/ram_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CANCELLED_MESSAGE "the migration was cancelled on the destination"

int migration_listen(const char *url, GError **errp)
{
    return mig_listen(url, errp);
}

static bool cancelled(void *progress)
{
    return migration_progress_cancelled(progress);
}

/* Checked around every frame received: a cancel takes effect within one
 * frame, and nothing is built or loaded after it. */
static bool check_cancel(MigrationProgress *progress, GError **errp)
{
    if (!migration_progress_cancelled(progress))
        return true;
    g_set_error_literal(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, CANCELLED_MESSAGE);
    return false;
}

typedef struct Receiver {
    const MachineOps *machine;
    const MigrationReceiveOps *ops;
    void *opaque;
    const char *config;
    size_t config_len;
    const uint8_t *state;
    size_t state_len;
    Vm *vm;
    GPtrArray *ram;
    bool *adopted; /* per RAM region: replaced by a MemoryFd */
    unsigned n_adopted;
    bool ok;
    GError *err;
} Receiver;

static void do_build(void *opaque)
{
    Receiver *r = opaque;
    r->vm = r->ops->build(r->opaque, r->config, r->config_len, &r->err);
    r->ok = r->vm != NULL;
}

static void do_discard(void *opaque)
{
    Receiver *r = opaque;
    r->ops->discard(r->opaque, r->vm);
}

static void do_commit(void *opaque)
{
    Receiver *r = opaque;
    r->ok = r->ops->commit(r->opaque, r->vm, &r->err);
}

static void do_load_state(void *opaque)
{
    Receiver *r = opaque;
    const uint8_t *m, *d;
    size_t ml, dl;
    r->ok = false;
    if (!mig_state_parse(r->state, r->state_len, &m, &ml, &d, &dl, &r->err))
        return;
    if (!r->machine->load_state(r->vm, m, ml, &r->err)) {
        g_prefix_error(&r->err, "machine state: ");
        return;
    }
    if (!device_state_load_all(r->vm, d, dl, &r->err)) {
        g_prefix_error(&r->err, "device state: ");
        return;
    }
    r->ok = true;
}

static bool recv_call(EventLoop *control, void (*fn)(void *), Receiver *r, GError **errp)
{
    r->ok = false;
    r->err = NULL;
    evloop_run_sync(control, fn, r);
    if (!r->ok) {
        if (r->err)
            g_propagate_error(errp, r->err);
        else
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "migration: step failed");
    }
    return r->ok;
}

static bool write_entry(void *opaque, const MigMemEntry *e, GError **errp)
{
    Receiver *r = opaque;
    for (guint i = 0; i < r->ram->len; i++) {
        const MemRegion *mr = r->ram->pdata[i];
        if (e->gpa >= mr->gpa && e->gpa - mr->gpa < mr->size && e->len <= mr->size - (e->gpa - mr->gpa)) {
            uint8_t *dst = mr->hva + (e->gpa - mr->gpa);
            if (e->data)
                memcpy(dst, e->data, e->len);
            else
                memset(dst, 0, e->len);
            return true;
        }
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "migration stream: Memory entry [%#" G_GINT64_MODIFIER "x, +%#x) is not inside guest RAM", e->gpa,
                e->len);
    return false;
}

/* Map the source's memfd over our RAM region at the same address, so the
 * KVM slot and every pointer into RAM stay valid, and take the fd as the
 * region's own (for a later snapshot or migration). */
static bool map_over(MemRegion *mr, int fd, GError **errp)
{
    void *m = mmap(NULL, mr->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        error_set_errno(errp, -errno, "cannot map the memory fd of '%s'", mr->name);
        return false;
    }
    /* mremap replaces the old mapping atomically; hugetlb mappings may not
     * move, then map the fd straight over it. */
    if (mremap(m, mr->size, mr->size, MREMAP_MAYMOVE | MREMAP_FIXED, mr->hva) == MAP_FAILED) {
        munmap(m, mr->size);
        if (mmap(mr->hva, mr->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
            error_set_errno(errp, -errno, "cannot map the memory fd of '%s' in place", mr->name);
            return false;
        }
    }
    madvise(mr->hva, mr->size, MADV_DONTDUMP);
    if (dup3(fd, mr->fd, O_CLOEXEC) < 0) {
        error_set_errno(errp, -errno, "cannot adopt the memory fd of '%s'", mr->name);
        return false;
    }
    return true;
}

static bool adopt_memory_fd(Receiver *r, const uint8_t *p, uint32_t len, int fd, GError **errp)
{
    if (len != MIG_MEMORY_FD_LEN || fd < 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: MemoryFd message %s",
                    fd < 0 ? "without a file descriptor" : "of the wrong length");
        return false;
    }
    uint64_t gpa = le_load64(p), size = le_load64(p + 8);
    for (guint i = 0; i < r->ram->len; i++) {
        MemRegion *mr = r->ram->pdata[i];
        if (mr->gpa != gpa || mr->size != size)
            continue;
        struct stat st;
        if (r->adopted[i] || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < size) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "migration stream: the memory fd for '%s' is %s", mr->name,
                        r->adopted[i] ? "sent twice" : "not a memory file of its size");
            return false;
        }
        if (!map_over(mr, fd, errp))
            return false;
        r->adopted[i] = true;
        r->n_adopted++;
        return true;
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "migration stream: MemoryFd [%#" G_GINT64_MODIFIER "x, +%#" G_GINT64_MODIFIER
                "x) is not a RAM region of this VM", gpa, size);
    return false;
}

/* Local migration is all or nothing: no region may keep our empty RAM. */
static bool all_fds_adopted(Receiver *r, GError **errp)
{
    if (r->n_adopted == 0 || r->n_adopted == r->ram->len)
        return true;
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "migration stream: memory fds for %u of %u RAM regions", r->n_adopted, r->ram->len);
    return false;
}

static void zero_ram(GPtrArray *ram)
{
    for (guint i = 0; i < ram->len; i++)
        memory_zero_region(ram->pdata[i]);
}

bool migration_receive(int listen_fd, const MachineOps *machine, EventLoop *control, const MigrationReceiveOps *ops,
                       void *opaque, MigrationProgress *progress_in, MigrationStats *stats, GError **errp)
{
    memset(stats, 0, sizeof *stats);
    g_autoptr(MigrationProgress) progress =
        progress_in ? migration_progress_ref(progress_in) : migration_progress_new(false);
    MigWait wait = { .cancelled = cancelled, .opaque = progress, .cancel_message = CANCELLED_MESSAGE };
    int fd = mig_accept(listen_fd, &wait, errp);
    close(listen_fd);
    if (fd < 0) {
        migration_progress_finish(progress, false, errp ? *errp : NULL, 0);
        return false;
    }
    /* A cancel breaks off a receive no byte arrives for (migration_cancel). */
    migration_progress_set_socket(progress, fd);
    gint64 t0 = g_get_monotonic_time();
    struct timeval tv = { .tv_sec = MIGRATION_RECV_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    Receiver r = { .machine = machine, .ops = ops, .opaque = opaque };
    g_autoptr(GPtrArray) ram = NULL;
    enum { WANT_START, WANT_CONFIG, WANT_DATA, WANT_COMPLETE, DONE } phase = WANT_START;
    bool ok = false, abandoned_by_peer = false;
    if (!machine->load_state) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "this machine cannot load a saved state");
        goto out;
    }
    while (phase != DONE) {
        uint32_t type, len;
        g_autofree uint8_t *p = NULL;
        AUTO_FD int passed = -1;
        if (!check_cancel(progress, errp))
            goto out;
        migration_progress_io(progress, true);
        bool got = mig_recv_fd(fd, &type, &p, &len, &passed, errp);
        migration_progress_io(progress, false);
        if (!got || !check_cancel(progress, errp))
            goto out;
        if (type == MIG_MSG_ABANDON) {
            abandoned_by_peer = true;
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the source abandoned the migration: %.*s",
                        (int)MIN(len, MIG_REASON_MAX), (const char *)p);
            goto out;
        }
        bool expected = (phase == WANT_START && type == MIG_MSG_START) ||
                        (phase == WANT_CONFIG && type == MIG_MSG_CONFIG) ||
                        (phase == WANT_DATA &&
                         (type == MIG_MSG_MEMORY || type == MIG_MSG_MEMORY_FD || type == MIG_MSG_STATE)) ||
                        (phase == WANT_COMPLETE && type == MIG_MSG_COMPLETE);
        if (!expected) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: unexpected %s message",
                        mig_msg_name(type));
            goto out;
        }
        switch (type) {
        case MIG_MSG_START:
            if (!mig_start_parse(p, len, MIG_ARCH_HOST, errp) || !mig_send(fd, MIG_MSG_ACK, NULL, 0, errp))
                goto out;
            phase = WANT_CONFIG;
            break;
        case MIG_MSG_CONFIG:
            if (len > MIG_CONFIG_MAX || memchr(p, 0, len)) {
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: bad Config message");
                goto out;
            }
            r.config = (const char *)p;
            r.config_len = len;
            if (!recv_call(control, do_build, &r, errp)) {
                g_prefix_error(errp, "cannot build the VM: ");
                goto out;
            }
            ram = ram_scan_regions(vm_memory(r.vm));
            r.ram = ram;
            r.adopted = g_new0(bool, ram->len + 1);
            zero_ram(ram); /* the build may have loaded a payload: the source's RAM replaces it */
            if (!mig_send(fd, MIG_MSG_ACK, NULL, 0, errp))
                goto out;
            migration_progress_set_ram(progress, memory_ram_size(vm_memory(r.vm)));
            migration_progress_set_phase(progress, MIGRATION_PHASE_PRECOPY);
            phase = WANT_DATA;
            break;
        case MIG_MSG_MEMORY:
            if (!mig_memory_parse(p, len, write_entry, &r, errp))
                goto out;
            stats->bytes_sent += len;
            migration_progress_add_sent(progress, len, 0);
            break;
        case MIG_MSG_MEMORY_FD:
            if (!adopt_memory_fd(&r, p, len, passed, errp))
                goto out;
            stats->bytes_sent += len;
            migration_progress_add_sent(progress, len, 0);
            break;
        case MIG_MSG_STATE:
            if (!all_fds_adopted(&r, errp))
                goto out;
            migration_progress_set_phase(progress, MIGRATION_PHASE_STOP_AND_COPY);
            r.state = p;
            r.state_len = len;
            if (!recv_call(control, do_load_state, &r, errp)) {
                g_prefix_error(errp, "migration: ");
                goto out;
            }
            stats->bytes_sent += len;
            phase = WANT_COMPLETE;
            break;
        case MIG_MSG_COMPLETE:
            if (len != 0) {
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: bad Complete message");
                goto out;
            }
            /* Ack first: the source stops its VM only then; if the Ack
             * cannot be sent, this VM never runs. No cancel after this. */
            if (!migration_progress_commit(progress)) {
                check_cancel(progress, errp);
                goto out;
            }
            if (!mig_send(fd, MIG_MSG_ACK, NULL, 0, errp))
                goto out;
            if (!recv_call(control, do_commit, &r, errp)) {
                g_prefix_error(errp, "cannot resume the migrated VM: ");
                goto out;
            }
            r.vm = NULL; /* adopted */
            phase = DONE;
            break;
        }
    }
    ok = true;
out:
    if (!ok && !abandoned_by_peer && migration_progress_cancelled(progress) && errp && *errp &&
        strcmp((*errp)->message, CANCELLED_MESSAGE) != 0) {
        /* A cancel that shut the connection down: say so, not EPIPE. */
        g_clear_error(errp);
        check_cancel(progress, errp);
    }
    migration_progress_set_socket(progress, -1); /* no shutdown after this */
    if (!ok) {
        if (!abandoned_by_peer && errp && *errp)
            mig_send(fd, MIG_MSG_ABANDON, (*errp)->message, MIN(strlen((*errp)->message), MIG_REASON_MAX), NULL);
        if (r.vm) {
            evloop_run_sync(control, do_discard, &r);
            r.vm = NULL;
        }
    }
    close(fd);
    g_free(r.adopted);
    stats->total_ms = (uint64_t)(g_get_monotonic_time() - t0) / 1000;
    migration_progress_finish(progress, ok, errp ? *errp : NULL, 0);
    return ok;
}
