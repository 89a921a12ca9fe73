/* Tests of migration/protocol.c: frame round trips and hostile frames
 * (truncated, oversized, bad CRC, bad type, every bit flipped), payload
 * parsers (Start, Memory, State), and the socket reader over a socketpair. */
#include "hypervisor/le.h"
#include "migration/protocol.h"
#include "migration/stream.h"
#include "support/check_main.h"
#include "support/tcp_blackhole.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(test_frame_roundtrip)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    mig_frame_encode(b, MIG_MSG_CONFIG, "{\"a\":1}", 7);
    mig_frame_encode(b, MIG_MSG_COMPLETE, NULL, 0);
    uint32_t type, len;
    const uint8_t *p;
    size_t used;
    g_autoptr(GError) err = NULL;
    ck_assert(mig_frame_decode(b->data, b->len, &type, &p, &len, &used, &err));
    ck_assert_uint_eq(type, MIG_MSG_CONFIG);
    ck_assert_uint_eq(len, 7);
    ck_assert(memcmp(p, "{\"a\":1}", 7) == 0);
    ck_assert(mig_frame_decode(b->data + used, b->len - used, &type, &p, &len, &used, &err));
    ck_assert_uint_eq(type, MIG_MSG_COMPLETE);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_frame_hostile)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    mig_frame_encode(b, MIG_MSG_CONFIG, "hello world", 11);
    uint32_t type, len;
    const uint8_t *p;
    size_t used;
    /* Truncated anywhere. */
    for (size_t n = 0; n < b->len; n++) {
        g_autoptr(GError) err = NULL;
        ck_assert(!mig_frame_decode(b->data, n, &type, &p, &len, &used, &err));
        ck_assert(err);
    }
    /* Every single bit flipped is caught (type, length bound or CRC). */
    for (size_t bit = 0; bit < b->len * 8; bit++) {
        g_autoptr(GByteArray) c = g_byte_array_new();
        g_byte_array_append(c, b->data, b->len);
        c->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_msg(!mig_frame_decode(c->data, c->len, &type, &p, &len, &used, NULL), "bit %zu", bit);
    }
    /* Bad type, oversized. */
    uint8_t hdr[MIG_FRAME_HEADER] = { 0 };
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    le_store32(hdr, 99);
    ck_assert(!mig_frame_header_parse(hdr, &type, &len, &(uint32_t){ 0 }, &e1));
    ck_assert(strstr(e1->message, "unknown message type"));
    le_store32(hdr, 0);
    ck_assert(!mig_frame_header_parse(hdr, &type, &len, &(uint32_t){ 0 }, &e3));
    le_store32(hdr, MIG_MSG_MEMORY);
    le_store32(hdr + 4, MIG_FRAME_MAX + 1);
    ck_assert(!mig_frame_header_parse(hdr, &type, &len, &(uint32_t){ 0 }, &e2));
    ck_assert(strstr(e2->message, "limit"));
}
END_TEST

START_TEST(test_socket_reader)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert(mig_send(sv[0], MIG_MSG_ABANDON, "why", 3, NULL));
    uint32_t type, len;
    g_autofree uint8_t *p = NULL;
    ck_assert(mig_recv(sv[1], &type, &p, &len, NULL));
    ck_assert_uint_eq(type, MIG_MSG_ABANDON);
    ck_assert_uint_eq(len, 3);
    /* An oversized header is refused before any allocation or read. */
    uint8_t hdr[MIG_FRAME_HEADER] = { 0 };
    le_store32(hdr, MIG_MSG_MEMORY);
    le_store32(hdr + 4, 0xffffffffu);
    ck_assert_int_eq(write(sv[0], hdr, sizeof hdr), (ssize_t)sizeof hdr);
    g_autoptr(GError) err = NULL;
    g_autofree uint8_t *p2 = NULL;
    ck_assert(!mig_recv(sv[1], &type, &p2, &len, &err));
    ck_assert(strstr(err->message, "limit"));
    /* A truncated frame, then the peer closes. */
    g_autoptr(GByteArray) b = g_byte_array_new();
    mig_frame_encode(b, MIG_MSG_CONFIG, "0123456789", 10);
    ck_assert_int_eq(write(sv[0], b->data, b->len - 3), (ssize_t)(b->len - 3));
    close(sv[0]);
    g_autoptr(GError) err2 = NULL;
    g_autofree uint8_t *p3 = NULL;
    ck_assert(!mig_recv(sv[1], &type, &p3, &len, &err2));
    ck_assert(strstr(err2->message, "truncated"));
    close(sv[1]);
}
END_TEST

START_TEST(test_start)
{
    uint8_t s[MIG_START_LEN];
    mig_start_encode(s, STATE_ARCH_X86_64);
    ck_assert(mig_start_parse(s, sizeof s, STATE_ARCH_X86_64, NULL));
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    ck_assert(!mig_start_parse(s, sizeof s, STATE_ARCH_AARCH64, &e1));
    ck_assert(!mig_start_parse(s, sizeof s - 1, STATE_ARCH_X86_64, &e2));
    le_store32(s + 8, MIG_PROTOCOL_VERSION + 1);
    ck_assert(!mig_start_parse(s, sizeof s, STATE_ARCH_X86_64, &e3));
    ck_assert(strstr(e3->message, "version"));
}
END_TEST

typedef struct Seen {
    int n;
    uint64_t gpa[8];
    bool zero[8];
} Seen;

static bool collect(void *opaque, const MigMemEntry *e, GError **errp)
{
    Seen *s = opaque;
    s->gpa[s->n] = e->gpa;
    s->zero[s->n++] = e->data == NULL;
    return true;
}

START_TEST(test_memory)
{
    static uint8_t page[2 * MIG_PAGE];
    memset(page, 0xab, sizeof page);
    g_autoptr(GByteArray) m = g_byte_array_new();
    mig_memory_begin(m);
    mig_memory_add(m, 0x1000, 2 * MIG_PAGE, page);
    mig_memory_add(m, 0x10000, MIG_PAGE, NULL);
    Seen s = { 0 };
    ck_assert(mig_memory_parse(m->data, m->len, collect, &s, NULL));
    ck_assert_int_eq(s.n, 2);
    ck_assert_uint_eq(s.gpa[1], 0x10000);
    ck_assert(s.zero[1] && !s.zero[0]);
    /* Truncated anywhere: refused, and nothing applied. */
    for (size_t n = 0; n < m->len; n++) {
        Seen t = { 0 };
        ck_assert(!mig_memory_parse(m->data, n, collect, &t, NULL));
        ck_assert_int_eq(t.n, 0);
    }
    /* Stray bytes, unaligned gpa, zero length, unknown flag, wrap. */
    g_autoptr(GByteArray) c = g_byte_array_new();
    g_byte_array_append(c, m->data, m->len);
    g_byte_array_append(c, (const uint8_t *)"x", 1);
    ck_assert(!mig_memory_parse(c->data, c->len, collect, &s, NULL));
    struct { size_t off; uint32_t v; } bad[] = { { 4, 0x1001 }, { 12, 0 }, { 12, 100 }, { 16, 2 } };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_byte_array_set_size(c, 0);
        g_byte_array_append(c, m->data, m->len);
        le_store32(c->data + bad[i].off, bad[i].v);
        Seen t = { 0 };
        ck_assert_msg(!mig_memory_parse(c->data, c->len, collect, &t, NULL), "case %zu", i);
        ck_assert_int_eq(t.n, 0);
    }
    g_autoptr(GByteArray) w = g_byte_array_new();
    mig_memory_begin(w);
    mig_memory_add(w, 0xfffffffffffff000ull, 2 * MIG_PAGE, NULL);
    ck_assert(!mig_memory_parse(w->data, w->len, collect, &s, NULL));
}
END_TEST

START_TEST(test_state)
{
    uint8_t buf[16 + 5];
    le_store64(buf, 3);
    le_store64(buf + 8, 2);
    const uint8_t *m, *d;
    size_t ml, dl;
    ck_assert(mig_state_parse(buf, sizeof buf, &m, &ml, &d, &dl, NULL));
    ck_assert_uint_eq(ml, 3);
    ck_assert_uint_eq(dl, 2);
    ck_assert(d == buf + 19);
    ck_assert(!mig_state_parse(buf, sizeof buf - 1, &m, &ml, &d, &dl, NULL));
    le_store64(buf, UINT64_MAX);
    ck_assert(!mig_state_parse(buf, sizeof buf, &m, &ml, &d, &dl, NULL));
    ck_assert(!mig_state_parse(buf, 15, &m, &ml, &d, &dl, NULL));
}
END_TEST

START_TEST(test_urls)
{
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    ck_assert_int_lt(mig_connect("file:///x", NULL, &e1), 0);
    ck_assert(strstr(e1->message, "unix:PATH"));
    ck_assert_int_lt(mig_connect("tcp:nohostport", NULL, &e2), 0);
    ck_assert_int_lt(mig_connect("unix:/nonexistent/nimbus-mig.sock", NULL, &e3), 0);
    ck_assert(strstr(e3->message, "cannot connect"));
    /* Listening replaces a stale socket but no other file. */
    g_autofree char *dir = g_dir_make_tmp("nimbus-mig-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "precious", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s", path);
    ck_assert(g_file_set_contents(path, "keep me", -1, NULL));
    g_autoptr(GError) e4 = NULL, e5 = NULL;
    ck_assert_int_lt(mig_listen(url, &e4), 0);
    ck_assert_msg(strstr(e4->message, "File exists"), "%s", e4->message);
    g_autofree char *kept = NULL;
    ck_assert(g_file_get_contents(path, &kept, NULL, NULL));
    ck_assert_str_eq(kept, "keep me");
    unlink(path);
    int l1 = mig_listen(url, &e5);
    ck_assert_int_ge(l1, 0);
    close(l1); /* leaves the socket file behind, as a killed nimbus would */
    int l2 = mig_listen(url, &e5);
    ck_assert_msg(l2 >= 0, "a stale socket was not replaced: %s", e5 ? e5->message : "");
    close(l2);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* A destination that never answers (SYNs dropped): the connect gives up
 * at its time limit with an error that says so, and a cancel ends it
 * within a wait slice. */
static bool cancel_after_200ms(void *opaque)
{
    return g_get_monotonic_time() - *(gint64 *)opaque >= 200000;
}

START_TEST(test_connect_waits)
{
    TcpBlackhole b;
    tcp_blackhole_open(&b);
    g_autoptr(GError) e1 = NULL, e2 = NULL;
    gint64 t0 = g_get_monotonic_time();
    MigWait limit = { .timeout_ms = 300 };
    ck_assert_int_lt(mig_connect(b.url, &limit, &e1), 0);
    double ms = (double)(g_get_monotonic_time() - t0) / 1000;
    ck_assert_msg(strstr(e1->message, "no answer within 300 ms") && strstr(e1->message, b.url), "%s", e1->message);
    ck_assert_msg(ms >= 290 && ms < 1500, "timed out after %.0f ms", ms);

    t0 = g_get_monotonic_time();
    MigWait cancel = { .cancelled = cancel_after_200ms, .opaque = &t0, .cancel_message = "stop it" };
    ck_assert_int_lt(mig_connect(b.url, &cancel, &e2), 0);
    ms = (double)(g_get_monotonic_time() - t0) / 1000;
    ck_assert_str_eq(e2->message, "stop it");
    ck_assert_msg(ms >= 190 && ms < 200 + 2 * MIG_WAIT_SLICE_MS + 500, "cancelled after %.0f ms", ms);
    tcp_blackhole_close(&b);
}
END_TEST

/* Accept: a connection is taken (and blocks), a cancel or a time limit ends
 * the wait, the listening socket stays open. */
START_TEST(test_accept_waits)
{
    g_autofree char *dir = g_dir_make_tmp("nimbus-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/l.sock", dir);
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    int lfd = mig_listen(url, &e1);
    ck_assert_int_ge(lfd, 0);
    MigWait limit = { .timeout_ms = 200 };
    ck_assert_int_lt(mig_accept(lfd, &limit, &e1), 0);
    ck_assert_msg(strstr(e1->message, "no answer within 200 ms"), "%s", e1->message);
    gint64 t0 = g_get_monotonic_time();
    MigWait cancel = { .cancelled = cancel_after_200ms, .opaque = &t0, .cancel_message = "stop it" };
    ck_assert_int_lt(mig_accept(lfd, &cancel, &e2), 0);
    ck_assert_str_eq(e2->message, "stop it");

    int c = mig_connect(url, NULL, &e3);
    ck_assert_msg(c >= 0, "%s", e3 ? e3->message : "");
    int a = mig_accept(lfd, &limit, &e3);
    ck_assert_msg(a >= 0, "%s", e3 ? e3->message : "");
    ck_assert_int_eq(fcntl(a, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    ck_assert(mig_send(c, MIG_MSG_ACK, NULL, 0, NULL));
    uint32_t type, len;
    g_autofree uint8_t *p = NULL;
    ck_assert(mig_recv(a, &type, &p, &len, NULL));
    ck_assert_uint_eq(type, MIG_MSG_ACK);
    close(a);
    close(c);
    close(lfd);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* An fd passed with a frame arrives with that frame; mig_recv, which does
 * not ask for one, closes it; a frame without one gives -1. */
START_TEST(test_fd_passing)
{
    int sv[2], pipefd[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(pipe(pipefd), 0);
    uint8_t m[MIG_MEMORY_FD_LEN] = { 1, 2, 3 };
    ck_assert(mig_send_fd(sv[0], MIG_MSG_MEMORY_FD, m, sizeof m, pipefd[1], NULL));
    ck_assert(mig_send(sv[0], MIG_MSG_COMPLETE, NULL, 0, NULL));
    ck_assert(mig_send_fd(sv[0], MIG_MSG_MEMORY_FD, m, sizeof m, pipefd[1], NULL));
    close(pipefd[1]);
    uint32_t type, len;
    int passed;
    g_autofree uint8_t *p = NULL;
    ck_assert(mig_recv_fd(sv[1], &type, &p, &len, &passed, NULL));
    ck_assert_uint_eq(type, MIG_MSG_MEMORY_FD);
    ck_assert_str_eq(mig_msg_name(type), "MemoryFd");
    ck_assert_uint_eq(len, MIG_MEMORY_FD_LEN);
    ck_assert(memcmp(p, m, sizeof m) == 0);
    ck_assert_int_ge(passed, 0);
    ck_assert_int_eq(write(passed, "x", 1), 1); /* it is the pipe's write end */
    char c = 0;
    ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    close(passed);
    g_autofree uint8_t *p2 = NULL;
    ck_assert(mig_recv_fd(sv[1], &type, &p2, &len, &passed, NULL));
    ck_assert_uint_eq(type, MIG_MSG_COMPLETE);
    ck_assert_int_eq(passed, -1);
    g_autofree uint8_t *p3 = NULL;
    ck_assert(mig_recv(sv[1], &type, &p3, &len, NULL)); /* closes the unasked fd */
    ck_assert_uint_eq(type, MIG_MSG_MEMORY_FD);
    /* Every copy of the write end is closed now: the read end sees EOF. */
    ck_assert_int_eq(read(pipefd[0], &c, 1), 0);
    close(pipefd[0]);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

static Suite *protocol_suite(void)
{
    Suite *s = suite_create("migration_protocol");
    TCase *tc = tcase_create("protocol");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_frame_roundtrip);
    tcase_add_test(tc, test_frame_hostile);
    tcase_add_test(tc, test_socket_reader);
    tcase_add_test(tc, test_fd_passing);
    tcase_add_test(tc, test_start);
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_state);
    tcase_add_test(tc, test_urls);
    tcase_add_test(tc, test_connect_waits);
    tcase_add_test(tc, test_accept_waits);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(protocol_suite)
