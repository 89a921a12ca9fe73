/* vm.send-migration / vm.receive-migration: migration/migrate.c on a worker
 * thread, wired to the Vmm; the API reply is deferred until it ends. */
#pragma once
#include "api/routes.h"

/* Start sending the running VM to url; reply is answered when done (200
 * with the stats, or the error). False (nothing started) on errp. */
bool api_migration_send(Vmm *vmm, const char *url, unsigned downtime_ms, ApiReply *reply, GError **errp);
/* Listen on url and receive a VM into this empty nimbus; reply as above. */
bool api_migration_receive(Vmm *vmm, const char *url, ApiReply *reply, GError **errp);
