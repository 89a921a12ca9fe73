/* vm.info latency under 4 concurrent clients (a new connection per request,
 * as the server closes each after its reply) against an in-process server with a fake machine. Prints
 * p50/p99/max; fails only if a request fails. Run: ctest -R api_info_latency -V */
#include "apitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENTS 4
#define REQUESTS 2000

static ApiTest *t;

typedef struct Client {
    gint64 *lat_ns;
    int failures;
} Client;

static gpointer client(gpointer opaque)
{
    Client *c = opaque;
    const char *req = "GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n";
    HttpReply r = { 0 };
    for (int i = 0; i < REQUESTS; i++) {
        /* One connection per request, connect included: the server closes
         * each after its reply (api/server.c set_json()). */
        gint64 start = g_get_monotonic_time();
        int fd = http_connect(t->sock);
        if (fd < 0 || !http_send(fd, req, strlen(req)) || !http_read_reply(fd, &r, 5000) ||
            r.status != 200)
            c->failures++;
        c->lat_ns[i] = (g_get_monotonic_time() - start) * 1000;
        if (fd >= 0)
            close(fd);
    }
    http_reply_clear(&r);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    t = apitest_start();
    g_autofree char *body = g_strdup_printf(
        "{\"payload\":{\"kernel\":\"%s\"},\"cpus\":{\"boot_vcpus\":2},\"memory\":{\"size\":268435456},"
        "\"disks\":[{\"path\":\"/tmp/a\"},{\"path\":\"/tmp/b\"}],\"serial\":{\"mode\":\"Pty\"}}",
        t->kernel);
    HttpReply r = { 0 };
    if (http_do(t->sock, "PUT", "/api/v1/vm.create", body, &r) != 204 ||
        http_do(t->sock, "PUT", "/api/v1/vm.boot", NULL, &r) != 204) {
        fprintf(stderr, "setup failed: %d %s\n", r.status, r.body);
        return 1;
    }
    http_reply_clear(&r);
    Client clients[CLIENTS];
    GThread *threads[CLIENTS];
    gint64 *all = g_new(gint64, CLIENTS * REQUESTS);
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (Client){ .lat_ns = all + i * REQUESTS };
        threads[i] = g_thread_new("client", client, &clients[i]);
    }
    int failures = 0;
    for (int i = 0; i < CLIENTS; i++) {
        g_thread_join(threads[i]);
        failures += clients[i].failures;
    }
    double secs = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
    qsort(all, CLIENTS * REQUESTS, sizeof(gint64), cmp);
    size_t n = CLIENTS * REQUESTS;
    printf("vm.info latency, %d concurrent clients x %d requests (a connection per request): "
           "p50 %.1f us, p99 %.1f us, max %.1f us, %.0f req/s, %d failures\n",
           CLIENTS, REQUESTS, all[n / 2] / 1e3, all[n * 99 / 100] / 1e3, all[n - 1] / 1e3,
           (double)n / secs, failures);
    g_free(all);
    apitest_stop(t);
    return failures ? 1 : 0;
}
