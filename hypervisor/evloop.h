/* Event loops: a GMainContext of our own per thread that runs one. The
 * control thread runs one on the main thread; each IoThread runs one on its
 * own thread. Nothing here touches glib's global default context (no
 * g_idle_add/g_timeout_add), so every source is attached to an explicit loop. */
#pragma once
#include "hypervisor/thread_role.h"

#include <glib.h>
#include <stdbool.h>

typedef struct EventLoop EventLoop;

/* Called with the fd and the conditions that fired; return FALSE to remove. */
typedef gboolean (*EvloopFdFunc)(int fd, GIOCondition cond, void *opaque);

EventLoop *evloop_new(const char *name);
void evloop_free(EventLoop *loop);
GMainContext *evloop_context(EventLoop *loop);
const char *evloop_name(EventLoop *loop);

/* Run on the calling thread until evloop_quit(). */
void evloop_run(EventLoop *loop);
/* Thread-safe; the loop returns after the current dispatch. */
void evloop_quit(EventLoop *loop);

/* Run the loop on a new thread with the given role (an IoThread). */
bool evloop_start_thread(EventLoop *loop, ThreadRole role, GError **errp);
/* Quit and join the loop's thread. */
void evloop_stop_thread(EventLoop *loop);
/* True if the caller is the thread currently running the loop. */
bool evloop_is_current(EventLoop *loop);

/* Sources. The returned GSource is owned by the caller; pass it to
 * evloop_remove() to detach and release it. */
GSource *evloop_add_fd(EventLoop *loop, int fd, GIOCondition cond, EvloopFdFunc fn, void *opaque);
GSource *evloop_add_timer(EventLoop *loop, unsigned interval_ms, GSourceFunc fn, void *opaque);
GSource *evloop_add_signal(EventLoop *loop, int signum, GSourceFunc fn, void *opaque);
void evloop_remove(GSource *source);

/* Run fn(opaque) on the loop's thread soon. Thread-safe. */
void evloop_invoke(EventLoop *loop, GSourceFunc fn, void *opaque);
/* Run fn(opaque) on the loop's thread and wait for it. Runs inline when the
 * caller is that thread (so it cannot deadlock on itself). */
void evloop_run_sync(EventLoop *loop, void (*fn)(void *opaque), void *opaque);
