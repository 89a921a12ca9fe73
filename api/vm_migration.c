/* Live migration jobs for the API (see vm_migration.h). */
#include "api/vm_migration.h"

#include "api/vm_config_json.h"
#include "hypervisor/error.h"
#include "migration/migrate.h"
#include "migration/transport.h"

#include <json-glib/json-glib.h>
#include <unistd.h>

typedef struct MigJob {
    Vmm *vmm;
    ApiReply *reply;
    bool outgoing;
    char *url;
    char *config_json;
    unsigned downtime_ms;
    bool local;
    int listen_fd;
    GThread *thread;
    bool ok;
    GError *err;
    MigrationStats stats;
    MigrationProgress *progress; /* a reference; the Vmm holds another */
} MigJob;

static void job_free(MigJob *j)
{
    if (j->listen_fd >= 0)
        close(j->listen_fd);
    migration_progress_unref(j->progress);
    g_free(j->url);
    g_free(j->config_json);
    g_free(j);
}

static void reply_stats(ApiReply *reply, const MigrationStats *st)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "iterations");
    json_builder_add_int_value(b, st->iterations);
    json_builder_set_member_name(b, "bytes_sent");
    json_builder_add_int_value(b, (gint64)st->bytes_sent);
    json_builder_set_member_name(b, "pages_sent");
    json_builder_add_int_value(b, (gint64)st->pages_sent);
    json_builder_set_member_name(b, "downtime_ms");
    json_builder_add_int_value(b, (gint64)st->downtime_ms);
    json_builder_set_member_name(b, "total_ms");
    json_builder_add_int_value(b, (gint64)st->total_ms);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    reply->status = 200;
    reply->body = json_generator_to_data(gen, NULL);
}

/* Control thread: the worker has finished. */
static gboolean job_done(gpointer opaque)
{
    MigJob *j = opaque;
    g_thread_join(j->thread);
    if (!j->outgoing)
        mig_unlisten(j->url); /* its socket file: nobody can connect any more */
    const MigrationStats *st = &j->stats;
    if (j->ok && j->outgoing)
        vmm_migration_sent(j->vmm); /* the VM runs at the destination now */
    vmm_migration_end(j->vmm);
    if (j->ok) {
        g_message("migration %s %s: %u iteration(s), %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
                  " pages, downtime %" G_GUINT64_FORMAT " ms, total %" G_GUINT64_FORMAT " ms%s",
                  j->outgoing ? "to" : "from", j->url, st->iterations, st->bytes_sent, st->pages_sent,
                  st->downtime_ms, st->total_ms, j->outgoing ? "; the VM here is stopped" : "; the VM runs");
        reply_stats(j->reply, st);
    } else {
        g_warning("migration %s %s failed: %s%s", j->outgoing ? "to" : "from", j->url, j->err->message,
                  j->outgoing ? "; the VM keeps running here" : "; no VM was started");
        api_reply_error(j->reply, api_status_for_error(j->err), j->err->message);
        g_error_free(j->err);
    }
    api_reply_finish(j->reply);
    j->listen_fd = -1; /* migration_receive closed it */
    job_free(j);
    return G_SOURCE_REMOVE;
}

static Vm *recv_build(void *opaque, const char *json, size_t len, GError **errp)
{
    MigJob *j = opaque;
    g_autoptr(VmConfig) cfg = vm_config_from_json(json, len, errp);
    if (!cfg) {
        g_prefix_error(errp, "config: ");
        return NULL;
    }
    return vmm_migration_build(j->vmm, cfg, errp);
}

static void recv_discard(void *opaque, Vm *vm)
{
    MigJob *j = opaque;
    vmm_migration_discard(j->vmm, vm);
}

static bool recv_commit(void *opaque, Vm *vm, GError **errp)
{
    MigJob *j = opaque;
    return vmm_migration_adopt(j->vmm, vm, errp);
}

static const MigrationReceiveOps recv_ops = { recv_build, recv_discard, recv_commit };

static gpointer job_thread(gpointer opaque)
{
    MigJob *j = opaque;
    if (j->outgoing) {
        MigrationSendParams p = {
            .vm = vmm_vm(j->vmm), .machine = vmm_machine(j->vmm), .control = vmm_loop(j->vmm),
            .url = j->url, .config_json = j->config_json, .downtime_ms = j->downtime_ms,
            .local = j->local, .progress = j->progress,
        };
        j->ok = migration_send(&p, &j->stats, &j->err);
    } else {
        j->ok = migration_receive(j->listen_fd, vmm_machine(j->vmm), vmm_loop(j->vmm), &recv_ops, j, j->progress,
                                  &j->stats, &j->err);
    }
    evloop_invoke(vmm_loop(j->vmm), job_done, j);
    return NULL;
}

/* The core cancels (a guest stop or a signal during the migration). */
static void job_cancel(void *opaque, const char *why)
{
    MigJob *j = opaque;
    g_autoptr(GError) err = NULL;
    if (!migration_cancel(j->progress, vmm_loop(j->vmm), &err))
        g_message("migration: %s: %s", why, err->message);
}

static bool start_job(MigJob *j, ApiReply *reply, GError **errp)
{
    j->reply = reply;
    j->progress = migration_progress_new(j->outgoing);
    vmm_migration_set_record(j->vmm, migration_progress_ref(j->progress), (GDestroyNotify)migration_progress_unref);
    vmm_migration_set_canceller(j->vmm, job_cancel, j);
    j->thread = g_thread_try_new("migration", job_thread, j, errp);
    if (!j->thread) {
        migration_progress_finish(j->progress, false, errp ? *errp : NULL, 0);
        vmm_migration_end(j->vmm);
        job_free(j);
        return false;
    }
    reply->deferred = true;
    return true;
}

bool api_migration_send(Vmm *vmm, const char *url, bool local, unsigned downtime_ms, ApiReply *reply,
                        GError **errp)
{
    if (!vmm_migration_begin(vmm, true, errp))
        return false;
    MigJob *j = g_new0(MigJob, 1);
    j->vmm = vmm;
    j->outgoing = true;
    j->url = g_strdup(url);
    j->downtime_ms = downtime_ms;
    j->local = local;
    j->listen_fd = -1;
    Vm *vm = vmm_vm(vmm);
    g_autoptr(JsonNode) node = vm_config_to_json(vm_config(vm), NULL, NULL);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, node);
    j->config_json = json_generator_to_data(gen, NULL);
    g_message("migration to %s started%s", url, local ? " (local: memory fds)" : "");
    return start_job(j, reply, errp);
}

bool api_migration_receive(Vmm *vmm, const char *url, ApiReply *reply, GError **errp)
{
    if (!vmm_migration_begin(vmm, false, errp))
        return false;
    int fd = migration_listen(url, errp);
    if (fd < 0) {
        vmm_migration_end(vmm);
        return false;
    }
    MigJob *j = g_new0(MigJob, 1);
    j->vmm = vmm;
    j->url = g_strdup(url);
    j->listen_fd = fd;
    g_message("waiting for a migration on %s", url);
    return start_job(j, reply, errp);
}

bool api_migration_cancel(Vmm *vmm, GError **errp)
{
    MigrationProgress *p = vmm_migration_record(vmm);
    if (!p) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "cannot cancel: no migration has been started");
        return false;
    }
    if (!migration_cancel(p, vmm_loop(vmm), errp))
        return false;
    g_message("migration: cancel requested");
    return true;
}

static void add_int(JsonBuilder *b, const char *name, uint64_t v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)MIN(v, (uint64_t)G_MAXINT64));
}

bool api_migration_progress(Vmm *vmm, ApiReply *reply, GError **errp)
{
    MigrationProgress *p = vmm_migration_record(vmm);
    if (!p) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "no migration has been started");
        return false;
    }
    MigrationProgressInfo i;
    migration_progress_read(p, &i);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "direction");
    json_builder_add_string_value(b, i.outgoing ? "outgoing" : "incoming");
    json_builder_set_member_name(b, "phase");
    json_builder_add_string_value(b, migration_phase_name(i.phase));
    add_int(b, "iteration", i.iteration);
    add_int(b, "ram_bytes", i.ram_bytes);
    add_int(b, "bytes_sent", i.bytes_sent);
    add_int(b, "pages_sent", i.pages_sent);
    add_int(b, "remaining_bytes", i.remaining_bytes);
    add_int(b, "transfer_bytes_per_s", i.transfer_rate);
    add_int(b, "dirty_bytes_per_s", i.dirty_rate);
    add_int(b, "estimated_downtime_ms", i.estimated_downtime_ms);
    add_int(b, "elapsed_ms", i.elapsed_ms);
    add_int(b, "downtime_ms", i.downtime_ms);
    if (i.error) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, i.error);
    }
    json_builder_end_object(b);
    migration_progress_info_clear(&i);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    reply->status = 200;
    reply->body = json_generator_to_data(gen, NULL);
    return true;
}
