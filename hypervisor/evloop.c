#include "hypervisor/evloop.h"

#include "hypervisor/error.h"

#include <glib-unix.h>

struct EventLoop {
    char *name;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    ThreadRole role;
};

EventLoop *evloop_new(const char *name)
{
    EventLoop *l = g_new0(EventLoop, 1);
    l->name = g_strdup(name);
    l->ctx = g_main_context_new();
    l->loop = g_main_loop_new(l->ctx, FALSE);
    return l;
}

void evloop_free(EventLoop *l)
{
    if (!l)
        return;
    if (l->thread)
        evloop_stop_thread(l);
    g_main_loop_unref(l->loop);
    g_main_context_unref(l->ctx);
    g_free(l->name);
    g_free(l);
}

GMainContext *evloop_context(EventLoop *l)
{
    return l->ctx;
}

const char *evloop_name(EventLoop *l)
{
    return l->name;
}

void evloop_run(EventLoop *l)
{
    g_main_context_push_thread_default(l->ctx);
    g_main_loop_run(l->loop);
    g_main_context_pop_thread_default(l->ctx);
}

void evloop_quit(EventLoop *l)
{
    g_main_loop_quit(l->loop);
    g_main_context_wakeup(l->ctx);
}

static gpointer loop_thread(gpointer opaque)
{
    EventLoop *l = opaque;
    thread_role_enter(l->role, l->name);
    evloop_run(l);
    return NULL;
}

static void loop_started(void *opaque)
{
}

bool evloop_start_thread(EventLoop *l, ThreadRole role, GError **errp)
{
    g_assert(!l->thread);
    l->role = role;
    l->thread = g_thread_try_new(l->name, loop_thread, l, errp);
    if (!l->thread)
        return false;
    /* Return only once the thread runs the loop: g_main_loop_run() forgets a
     * quit that arrives before it starts, so stop right after start would hang. */
    evloop_run_sync(l, loop_started, NULL);
    return true;
}

void evloop_stop_thread(EventLoop *l)
{
    if (!l->thread)
        return;
    evloop_quit(l);
    g_thread_join(l->thread);
    l->thread = NULL;
}

bool evloop_is_current(EventLoop *l)
{
    return g_main_context_is_owner(l->ctx);
}

typedef struct FdWatch {
    int fd;
    EvloopFdFunc fn;
    void *opaque;
} FdWatch;

static gboolean fd_dispatch(gint fd, GIOCondition cond, gpointer opaque)
{
    FdWatch *w = opaque;
    return w->fn(fd, cond, w->opaque);
}

GSource *evloop_add_fd(EventLoop *l, int fd, GIOCondition cond, EvloopFdFunc fn, void *opaque)
{
    GSource *s = g_unix_fd_source_new(fd, cond);
    FdWatch *w = g_new0(FdWatch, 1);
    w->fd = fd;
    w->fn = fn;
    w->opaque = opaque;
    g_source_set_callback(s, G_SOURCE_FUNC(fd_dispatch), w, g_free);
    g_source_attach(s, l->ctx);
    return s;
}

GSource *evloop_add_timer(EventLoop *l, unsigned interval_ms, GSourceFunc fn, void *opaque)
{
    GSource *s = g_timeout_source_new(interval_ms);
    g_source_set_callback(s, fn, opaque, NULL);
    g_source_attach(s, l->ctx);
    return s;
}

GSource *evloop_add_signal(EventLoop *l, int signum, GSourceFunc fn, void *opaque)
{
    GSource *s = g_unix_signal_source_new(signum);
    g_source_set_callback(s, fn, opaque, NULL);
    g_source_attach(s, l->ctx);
    return s;
}

void evloop_remove(GSource *s)
{
    if (!s)
        return;
    g_source_destroy(s);
    g_source_unref(s);
}

void evloop_invoke(EventLoop *l, GSourceFunc fn, void *opaque)
{
    GSource *s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_DEFAULT);
    g_source_set_callback(s, fn, opaque, NULL);
    g_source_attach(s, l->ctx);
    g_source_unref(s);
}

typedef struct SyncCall {
    void (*fn)(void *);
    void *opaque;
    GMutex lock;
    GCond cond;
    bool done;
} SyncCall;

static gboolean sync_call_run(gpointer opaque)
{
    SyncCall *c = opaque;
    c->fn(c->opaque);
    g_mutex_lock(&c->lock);
    c->done = true;
    g_cond_signal(&c->cond);
    g_mutex_unlock(&c->lock);
    return G_SOURCE_REMOVE;
}

void evloop_run_sync(EventLoop *l, void (*fn)(void *opaque), void *opaque)
{
    if (evloop_is_current(l) || (!l->thread && !g_main_loop_is_running(l->loop))) {
        /* Our own thread, or nobody runs the loop: run here. */
        fn(opaque);
        return;
    }
    SyncCall c = { .fn = fn, .opaque = opaque };
    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    evloop_invoke(l, sync_call_run, &c);
    g_mutex_lock(&c.lock);
    while (!c.done)
        g_cond_wait(&c.cond, &c.lock);
    g_mutex_unlock(&c.lock);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
}
