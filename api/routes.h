/* The API's route table: every endpoint nimbus serves, with its method and
 * the handler that runs it on the control thread. api/openapi.yaml lists the
 * same routes (a unit test keeps the two equal). Handlers validate the body,
 * call one vmm_* function and fill an ApiReply; they hold no VM logic. */
#pragma once
#include "hypervisor/vmm.h"

#include <glib.h>
#include <stdbool.h>

#define API_PATH_PREFIX "/api/v1"

typedef struct ApiReply {
    unsigned status;  /* HTTP status */
    char *body;       /* JSON text (owned) or NULL for no body */
    bool quit_after;  /* end the VMM once the reply is sent (vmm.shutdown) */
    /* A handler that answers later (a long operation on a worker thread)
     * sets deferred, keeps the ApiReply pointer and, on the control thread,
     * fills status/body and calls api_reply_finish(). Set by the server. */
    bool deferred;
    void (*finish)(void *ctx);
    void *finish_ctx;
} ApiReply;

/* Send a deferred reply (control thread). */
void api_reply_finish(ApiReply *reply);

/* body: the request body (maybe empty, never NULL). Control thread. */
typedef void (*ApiHandlerFunc)(Vmm *vmm, GBytes *body, ApiReply *reply);

typedef struct ApiRoute {
    const char *method; /* "GET" or "PUT" */
    const char *path;   /* full path, "/api/v1/vm.boot" */
    ApiHandlerFunc handler;
} ApiRoute;

/* The table, terminated by an entry with path NULL. */
extern const ApiRoute api_routes[];

/* The route for method+path; NULL if none, with *path_known telling an
 * unknown path (404) from a known path with another method (405). */
const ApiRoute *api_route_find(const char *method, const char *path, bool *path_known);

/* Fill reply with an error status and {"error": message}. */
void api_reply_error(ApiReply *reply, unsigned status, const char *message);
/* Map a GError from the core to an HTTP status (the one table of it). */
unsigned api_status_for_error(const GError *err);
