/* Shared by the API tests: a Vmm whose machine is a fake (builds nothing,
 * boots instantly, no /dev/kvm) on a control loop thread, an ApiServer on a
 * temporary socket, and a tiny raw HTTP/1.1 client so tests control every
 * byte on the wire (chunked bodies, Expect, partial requests). */
#pragma once
#include "api/api.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ApiTest {
    char *dir;
    char *sock;
    char *kernel;   /* a readable file usable as payload.kernel */
    Vmm *vmm;
    GThread *control;
    ApiServer *server;
    int exit_status; /* of vmm_run, after apitest_wait_exit */
    gint done;       /* vmm_run has returned */
} ApiTest;

extern int apitest_power_button_presses;
/* The fake machine's RAM and its saved/restored state (vm.snapshot tests). */
#define APITEST_RAM_SIZE (2u << 20)
extern uint64_t apitest_machine_counter;

/* Start a server and control thread (aborts the test on failure). */
ApiTest *apitest_start(void);
/* Quit the control loop (if still running) and free everything. */
void apitest_stop(ApiTest *t);
/* Wait (up to timeout_ms) for the control loop to end by itself. */
bool apitest_wait_exit(ApiTest *t, unsigned timeout_ms);

typedef struct HttpReply {
    int status;
    bool got_continue; /* a 100 Continue came first */
    char *headers;
    char *body;
} HttpReply;

void http_reply_clear(HttpReply *r);

/* A connected client socket, or -1. */
int http_connect(const char *sock);
/* Send all of data. */
bool http_send(int fd, const char *data, size_t len);
/* Read one response (skipping 100 Continue). false on EOF/timeout. */
bool http_read_reply(int fd, HttpReply *r, unsigned timeout_ms);
/* One request on a fresh connection: method, path, body (NULL: none). */
int http_do(const char *sock, const char *method, const char *path, const char *body,
            HttpReply *r);
/* The JSON reply's member at a dotted path as a string ("state",
 * "config.serial.file"), NULL if absent. */
char *json_get(const char *json, const char *path);
