/* The REST API server (cloud-hypervisor compatible) on a UNIX socket.
 *
 * HTTP runs on a thread of its own (role THREAD_ROLE_API, named "api") with
 * its own GMainContext and libsoup-3's SoupServer, so slow or stuck clients
 * never hold up the control thread and vCPUs never wait on the API. Each
 * complete request is paused, handed to the Vmm's control loop, answered
 * there (api/handlers.c) and resumed on the API thread with the reply.
 * Bodies are capped at API_BODY_LIMIT (413 beyond). */
#pragma once
#include "hypervisor/vmm.h"

#include <glib.h>
#include <stdbool.h>

#define API_BODY_LIMIT (1u << 20)

typedef struct ApiServer ApiServer;

/* Create the socket at path and listen on it. A stale socket file (nobody
 * accepts on it) is replaced; a live one, or any other file, is an error.
 * The file is removed by api_server_free. */
ApiServer *api_server_new_path(Vmm *vmm, const char *path, GError **errp);
/* Serve on fd, a UNIX stream socket the caller already bound and set
 * listening (libvirt passes one as --api-socket fd=N). Takes ownership. */
ApiServer *api_server_new_fd(Vmm *vmm, int fd, GError **errp);
/* Call from the control thread. Stops serving, closes the socket, removes
 * a socket file api_server_new_path created. */
void api_server_free(ApiServer *s);
