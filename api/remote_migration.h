/* nimbus-remote's send-migration and receive-migration: the PUT that
 * answers when the migration is over, with a live progress display from
 * vm.migration-progress meanwhile. */
#pragma once
#include <glib.h>
#include <libsoup/soup.h>
#include <stdbool.h>

typedef struct RemoteMigration {
    bool outgoing;
    const char *url;       /* destination_url / receiver_url */
    bool local;            /* send: pass memory fds (local=true) */
    unsigned downtime_ms;  /* send: 0 for the server's default */
    bool progress;         /* show the progress display */
} RemoteMigration;

/* Send the request to the API at socket_path and wait for its answer,
 * printing the progress on stdout meanwhile (on a terminal one updating
 * line, otherwise a timestamped line a second). *status and *reply get the
 * HTTP answer; false with errp when nimbus cannot be reached. */
bool remote_migration_run(const char *socket_path, const RemoteMigration *m, unsigned *status, GBytes **reply,
                          GError **errp);
/* Ask nimbus to close msg's connection after its answer (every request
 * nimbus-remote makes; why in remote_migration.c). */
void remote_one_shot(SoupMessage *msg);
