/* vm.send-migration / vm.receive-migration: migration/migrate.c on a worker
 * thread, wired to the Vmm; the API reply is deferred until it ends.
 * vm.migration-progress and vm.cancel-migration (Nimbus extensions) read and
 * cancel the current or last migration through its progress record, which
 * the Vmm keeps (vmm_migration_record). */
#pragma once
#include "api/routes.h"

/* Start sending the running VM to url (local: pass the memory fds, see
 * migrate.h); reply is answered when done (200 with the stats, or the
 * error). False (nothing started) on errp. */
bool api_migration_send(Vmm *vmm, const char *url, bool local, unsigned downtime_ms, ApiReply *reply,
                        GError **errp);
/* Listen on url and receive a VM into this empty nimbus; reply as above. */
bool api_migration_receive(Vmm *vmm, const char *url, ApiReply *reply, GError **errp);
/* vm.cancel-migration: ask the migration here to stop (a source keeps
 * running the VM, a destination discards it). STATE error when there is
 * none or it is completing. */
bool api_migration_cancel(Vmm *vmm, GError **errp);
/* vm.migration-progress: fill reply (200) with the current or last
 * migration's progress; STATE error before the first migration. */
bool api_migration_progress(Vmm *vmm, ApiReply *reply, GError **errp);
