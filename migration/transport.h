/* The connection of a live migration: "unix:PATH" or "tcp:HOST:PORT".
 *
 * Connecting and accepting wait for a peer that may never come (an
 * unreachable host drops the SYNs: the kernel would retry for about two
 * minutes; a destination waits for a source that was never started).  Both
 * waits can be cut short by a cancel (MigWait.cancelled, asked every
 * MIG_WAIT_SLICE_MS) and connecting has a time limit. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#define MIG_WAIT_SLICE_MS 100u
#define MIG_CONNECT_TIMEOUT_MS 30000u

typedef struct MigWait {
    /* True ends the wait with a NIMBUS_ERROR_FAILED error saying
     * cancel_message. May be NULL. */
    bool (*cancelled)(void *opaque);
    void *opaque;
    const char *cancel_message;
    /* Connect: 0 means MIG_CONNECT_TIMEOUT_MS. Accept: 0 means no limit. */
    unsigned timeout_ms;
} MigWait;

/* A connected socket (blocking, close-on-exec), or -1 with errp set. wait
 * may be NULL (no cancel, the default time limit). */
int mig_connect(const char *url, const MigWait *wait, GError **errp);
/* A listening socket for mig_accept; a stale unix socket is replaced. */
int mig_listen(const char *url, GError **errp);
/* After the last mig_accept: remove a unix: URL's socket file (if it is
 * still a socket); nothing for tcp:. */
void mig_unlisten(const char *url);
/* The first connection on listen_fd (blocking, close-on-exec), or -1 with
 * errp set. listen_fd stays open. */
int mig_accept(int listen_fd, const MigWait *wait, GError **errp);
