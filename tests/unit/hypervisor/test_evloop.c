/* Tests of hypervisor/evloop.c: loops on the calling thread and on their own
 * thread, cross-thread invoke/run_sync, timers, fd and signal sources, and
 * quitting. Every test also checks that glib's global default context was
 * never used. */
#include "hypervisor/evloop.h"
#include "support/check_main.h"

#include <signal.h>
#include <unistd.h>

static EventLoop *loop;

/* A small latch to wait for callbacks that run on the loop thread. */
typedef struct Latch {
    GMutex lock;
    GCond cond;
    int count;
    GThread *thread; /* where the last callback ran */
    bool was_current;
} Latch;

static void latch_init(Latch *l)
{
    g_mutex_init(&l->lock);
    g_cond_init(&l->cond);
    l->count = 0;
    l->thread = NULL;
    l->was_current = false;
}

static void latch_clear(Latch *l)
{
    g_mutex_clear(&l->lock);
    g_cond_clear(&l->cond);
}

static void latch_hit(Latch *l)
{
    g_mutex_lock(&l->lock);
    l->count++;
    l->thread = g_thread_self();
    l->was_current = evloop_is_current(loop);
    g_cond_broadcast(&l->cond);
    g_mutex_unlock(&l->lock);
}

/* Wait until count >= n (or 5 s); returns the count. */
static int latch_wait(Latch *l, int n)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_TIME_SPAN_SECOND;
    g_mutex_lock(&l->lock);
    while (l->count < n && g_cond_wait_until(&l->cond, &l->lock, deadline))
        ;
    int c = l->count;
    g_mutex_unlock(&l->lock);
    return c;
}

static int latch_count(Latch *l)
{
    g_mutex_lock(&l->lock);
    int c = l->count;
    g_mutex_unlock(&l->lock);
    return c;
}

static void setup(void)
{
    loop = evloop_new("test-loop");
}

static void teardown(void)
{
    evloop_free(loop);
    loop = NULL;
    /* Nothing was ever attached to glib's global default context. */
    ck_assert(!g_main_context_pending(g_main_context_default()));
}

START_TEST(test_new_free)
{
    ck_assert_str_eq(evloop_name(loop), "test-loop");
    ck_assert_ptr_nonnull(evloop_context(loop));
    ck_assert_ptr_ne(evloop_context(loop), g_main_context_default());
    ck_assert(!evloop_is_current(loop));
    EventLoop *other = evloop_new("other");
    ck_assert_ptr_ne(evloop_context(other), evloop_context(loop));
    evloop_free(other);
    evloop_free(NULL);
}
END_TEST

/* ---- running on the calling thread ---------------------------------------- */

static int ticks;

static gboolean tick_then_quit(gpointer opaque)
{
    ck_assert(evloop_is_current(loop));
    if (++ticks < 3)
        return G_SOURCE_CONTINUE;
    evloop_quit(loop);
    return G_SOURCE_REMOVE;
}

START_TEST(test_run_here_with_timer)
{
    ticks = 0;
    /* The clock starts before the timer is armed: its first deadline is
     * counted from evloop_add_timer() (qemu-user is slow enough between
     * the two calls to show the difference). */
    gint64 start = g_get_monotonic_time();
    GSource *t = evloop_add_timer(loop, 5, tick_then_quit, NULL);
    evloop_run(loop);
    ck_assert_int_eq(ticks, 3);
    ck_assert_int_ge(g_get_monotonic_time() - start, 3 * 5 * 1000 - 1000);
    ck_assert(!evloop_is_current(loop));
    evloop_remove(t); /* already finished: still fine to release */
}
END_TEST

static gpointer quit_later(gpointer opaque)
{
    g_usleep(20 * 1000);
    evloop_quit(loop);
    return NULL;
}

START_TEST(test_quit_from_other_thread)
{
    GThread *t = g_thread_new("quitter", quit_later, NULL);
    evloop_run(loop); /* returns only because of the other thread */
    g_thread_join(t);
}
END_TEST

static void set_flag(void *opaque)
{
    *(bool *)opaque = true;
}

START_TEST(test_run_sync_without_runner)
{
    /* Nobody runs the loop: run_sync runs inline instead of hanging. */
    bool done = false;
    evloop_run_sync(loop, set_flag, &done);
    ck_assert(done);
}
END_TEST

/* ---- a loop on its own thread ------------------------------------------- */

static Latch latch;

static gboolean invoked(gpointer opaque)
{
    latch_hit(opaque);
    return G_SOURCE_REMOVE;
}

START_TEST(test_thread_invoke)
{
    latch_init(&latch);
    g_autoptr(GError) err = NULL;
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, &err));
    ck_assert(!evloop_is_current(loop));
    for (int i = 0; i < 10; i++)
        evloop_invoke(loop, invoked, &latch);
    ck_assert_int_eq(latch_wait(&latch, 10), 10);
    ck_assert_ptr_nonnull(latch.thread);
    ck_assert_ptr_ne(latch.thread, g_thread_self());
    ck_assert(latch.was_current);
    evloop_stop_thread(loop);
    evloop_stop_thread(loop); /* idempotent */
    latch_clear(&latch);
}
END_TEST

typedef struct SyncProbe {
    GThread *ran_on;
    bool was_current;
    ThreadRole role;
    int value;
} SyncProbe;

static void probe(void *opaque)
{
    SyncProbe *p = opaque;
    g_usleep(2000); /* run_sync must really wait for us */
    p->ran_on = g_thread_self();
    p->was_current = evloop_is_current(loop);
    p->role = thread_role_current();
    p->value++;
}

START_TEST(test_thread_run_sync)
{
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    SyncProbe p = { 0 };
    evloop_run_sync(loop, probe, &p);
    ck_assert_int_eq(p.value, 1);
    ck_assert_ptr_nonnull(p.ran_on);
    ck_assert_ptr_ne(p.ran_on, g_thread_self());
    ck_assert(p.was_current);
    ck_assert_int_eq(p.role, THREAD_ROLE_IO);
    evloop_run_sync(loop, probe, &p);
    ck_assert_int_eq(p.value, 2);
    evloop_stop_thread(loop);
}
END_TEST

static gboolean nested_sync(gpointer opaque)
{
    /* On the loop thread: run_sync must run inline, not deadlock. */
    SyncProbe *p = opaque;
    evloop_run_sync(loop, probe, p);
    latch_hit(&latch);
    return G_SOURCE_REMOVE;
}

START_TEST(test_run_sync_from_loop_thread)
{
    latch_init(&latch);
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    SyncProbe p = { 0 };
    evloop_invoke(loop, nested_sync, &p);
    ck_assert_int_eq(latch_wait(&latch, 1), 1);
    ck_assert_int_eq(p.value, 1);
    ck_assert(p.was_current);
    evloop_stop_thread(loop);
    latch_clear(&latch);
}
END_TEST

static void add_one(void *opaque)
{
    /* Only the loop thread runs this: no lock needed. */
    (*(int *)opaque)++;
}

static int shared_counter;

static gpointer sync_caller(gpointer opaque)
{
    for (int i = 0; i < 200; i++)
        evloop_run_sync(loop, add_one, &shared_counter);
    return NULL;
}

START_TEST(test_run_sync_many_threads)
{
    shared_counter = 0;
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    GThread *t[4];
    for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
        t[i] = g_thread_new("caller", sync_caller, NULL);
    for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
        g_thread_join(t[i]);
    ck_assert_int_eq(shared_counter, 800);
    evloop_stop_thread(loop);
}
END_TEST

static gboolean timer_hit(gpointer opaque)
{
    latch_hit(&latch);
    return latch_count(&latch) < GPOINTER_TO_INT(opaque) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

START_TEST(test_thread_timers)
{
    latch_init(&latch);
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    /* A timer that removes itself after 3 ticks. */
    GSource *t = evloop_add_timer(loop, 2, timer_hit, GINT_TO_POINTER(3));
    ck_assert_int_eq(latch_wait(&latch, 3), 3);
    g_usleep(30 * 1000);
    ck_assert_int_eq(latch_count(&latch), 3);
    ck_assert(latch.was_current);
    evloop_remove(t);

    /* A repeating timer stops when removed from another thread. */
    GSource *r = evloop_add_timer(loop, 1, timer_hit, GINT_TO_POINTER(1000000));
    ck_assert_int_ge(latch_wait(&latch, 6), 6);
    evloop_remove(r);
    int after = latch_count(&latch);
    g_usleep(30 * 1000);
    ck_assert_int_le(latch_count(&latch), after + 1); /* at most one in flight */
    evloop_stop_thread(loop);
    latch_clear(&latch);
}
END_TEST

typedef struct FdProbe {
    Latch latch;
    char last;
    GIOCondition cond;
    bool remove_after_first;
} FdProbe;

static gboolean on_readable(int fd, GIOCondition cond, void *opaque)
{
    FdProbe *p = opaque;
    char c = 0;
    if (read(fd, &c, 1) == 1)
        p->last = c;
    p->cond = cond;
    latch_hit(&p->latch);
    return p->remove_after_first ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

START_TEST(test_fd_source)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    FdProbe p = { 0 };
    latch_init(&p.latch);
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    GSource *s = evloop_add_fd(loop, fds[0], G_IO_IN, on_readable, &p);

    ck_assert_int_eq(write(fds[1], "a", 1), 1);
    ck_assert_int_eq(latch_wait(&p.latch, 1), 1);
    ck_assert_int_eq(p.last, 'a');
    ck_assert(p.cond & G_IO_IN);
    ck_assert(p.latch.was_current);
    ck_assert_ptr_ne(p.latch.thread, g_thread_self());
    ck_assert_int_eq(write(fds[1], "b", 1), 1);
    ck_assert_int_eq(latch_wait(&p.latch, 2), 2);
    ck_assert_int_eq(p.last, 'b');

    /* Removed: no more callbacks (the byte stays in the pipe). */
    evloop_remove(s);
    ck_assert_int_eq(write(fds[1], "c", 1), 1);
    g_usleep(30 * 1000);
    ck_assert_int_eq(latch_count(&p.latch), 2);

    evloop_stop_thread(loop);
    close(fds[0]);
    close(fds[1]);
    latch_clear(&p.latch);
}
END_TEST

START_TEST(test_fd_source_self_remove)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    FdProbe p = { .remove_after_first = true };
    latch_init(&p.latch);
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    GSource *s = evloop_add_fd(loop, fds[0], G_IO_IN, on_readable, &p);
    ck_assert_int_eq(write(fds[1], "xy", 2), 2);
    ck_assert_int_eq(latch_wait(&p.latch, 1), 1);
    g_usleep(30 * 1000);
    ck_assert_int_eq(latch_count(&p.latch), 1); /* 'y' is still readable but the source is gone */
    evloop_remove(s);
    evloop_stop_thread(loop);
    close(fds[0]);
    close(fds[1]);
    latch_clear(&p.latch);
}
END_TEST

START_TEST(test_fd_source_hangup)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    FdProbe p = { .remove_after_first = true };
    latch_init(&p.latch);
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    GSource *s = evloop_add_fd(loop, fds[0], G_IO_IN | G_IO_HUP, on_readable, &p);
    close(fds[1]);
    ck_assert_int_eq(latch_wait(&p.latch, 1), 1);
    ck_assert(p.cond & G_IO_HUP);
    evloop_remove(s);
    evloop_stop_thread(loop);
    close(fds[0]);
    latch_clear(&p.latch);
}
END_TEST

static gboolean on_signal(gpointer opaque)
{
    latch_hit(&latch);
    return G_SOURCE_CONTINUE;
}

START_TEST(test_signal_source)
{
    latch_init(&latch);
    ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
    GSource *s = evloop_add_signal(loop, SIGUSR1, on_signal, NULL);
    kill(getpid(), SIGUSR1);
    ck_assert_int_eq(latch_wait(&latch, 1), 1);
    ck_assert(latch.was_current);
    evloop_remove(s);
    evloop_stop_thread(loop);
    latch_clear(&latch);
}
END_TEST

START_TEST(test_start_stop_immediately)
{
    /* Quit may arrive before the thread has entered its loop: it must not
     * be lost (stop would hang; the tcase timeout catches that). */
    for (int i = 0; i < 300; i++) {
        EventLoop *l = evloop_new("quick");
        ck_assert(evloop_start_thread(l, THREAD_ROLE_IO, NULL));
        evloop_stop_thread(l);
        evloop_free(l);
    }
}
END_TEST

START_TEST(test_free_stops_thread)
{
    EventLoop *l = evloop_new("freed");
    ck_assert(evloop_start_thread(l, THREAD_ROLE_IO, NULL));
    evloop_free(l); /* quits and joins */
}
END_TEST

START_TEST(test_restart_thread)
{
    latch_init(&latch);
    for (int round = 1; round <= 3; round++) {
        ck_assert(evloop_start_thread(loop, THREAD_ROLE_IO, NULL));
        evloop_invoke(loop, invoked, &latch);
        ck_assert_int_eq(latch_wait(&latch, round), round);
        evloop_stop_thread(loop);
    }
    latch_clear(&latch);
}
END_TEST

static Suite *evloop_suite(void)
{
    Suite *s = suite_create("evloop");
    TCase *tc = tcase_create("here");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_new_free);
    tcase_add_test(tc, test_run_here_with_timer);
    tcase_add_test(tc, test_quit_from_other_thread);
    tcase_add_test(tc, test_run_sync_without_runner);
    suite_add_tcase(s, tc);

    tc = tcase_create("thread");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_thread_invoke);
    tcase_add_test(tc, test_thread_run_sync);
    tcase_add_test(tc, test_run_sync_from_loop_thread);
    tcase_add_test(tc, test_run_sync_many_threads);
    tcase_add_test(tc, test_thread_timers);
    tcase_add_test(tc, test_fd_source);
    tcase_add_test(tc, test_fd_source_self_remove);
    tcase_add_test(tc, test_fd_source_hangup);
    tcase_add_test(tc, test_signal_source);
    tcase_add_test(tc, test_start_stop_immediately);
    tcase_add_test(tc, test_free_stops_thread);
    tcase_add_test(tc, test_restart_thread);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(evloop_suite)
