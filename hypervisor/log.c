#include "hypervisor/log.h"

#include "hypervisor/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The writer's configuration. Written once by log_setup() before any other
 * thread exists and read-only afterwards; glib's writer hook is process-wide,
 * so this is the one piece of process state outside the Vm. */
static struct {
    int verbosity;
    FILE *file;
    int64_t start_us;
    GMutex write_lock;
} log_state = { .verbosity = 0 };

static int level_rank(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        return 0;
    if (level & G_LOG_LEVEL_MESSAGE)
        return 0;
    if (level & G_LOG_LEVEL_INFO)
        return 1;
    return 2;
}

static const char *level_name(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_ERROR)
        return "ERROR";
    if (level & G_LOG_LEVEL_CRITICAL)
        return "CRIT";
    if (level & G_LOG_LEVEL_WARNING)
        return "WARN";
    if (level & G_LOG_LEVEL_MESSAGE)
        return "NOTE";
    if (level & G_LOG_LEVEL_INFO)
        return "INFO";
    return "DEBUG";
}

static GLogWriterOutput log_write(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                  gpointer user_data)
{
    if (level_rank(level) > log_state.verbosity)
        return G_LOG_WRITER_HANDLED;
    const char *domain = NULL, *message = NULL;
    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        else if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    }
    FILE *out = log_state.file ? log_state.file : stderr;
    g_mutex_lock(&log_state.write_lock);
    fprintf(out, "[%10.6f] %-5s %s: %s\n", log_uptime(), level_name(level), domain ? domain : "nimbus",
            message ? message : "");
    fflush(out);
    g_mutex_unlock(&log_state.write_lock);
    return G_LOG_WRITER_HANDLED;
}

bool log_setup(const LogConfig *cfg, GError **errp)
{
    log_state.start_us = g_get_monotonic_time();
    log_state.verbosity = cfg->verbosity;
    if (cfg->path) {
        FILE *f = fopen(cfg->path, "a");
        if (!f) {
            error_set_errno(errp, -errno, "cannot open log file '%s'", cfg->path);
            return false;
        }
        log_state.file = f;
    }
    g_log_set_writer_func(log_write, NULL, NULL);
    return true;
}

void log_teardown(void)
{
    if (log_state.file) {
        fclose(log_state.file);
        log_state.file = NULL;
    }
}

double log_uptime(void)
{
    if (!log_state.start_us)
        return 0;
    return (double)(g_get_monotonic_time() - log_state.start_us) / 1e6;
}

bool log_debug_enabled(void)
{
    return log_state.verbosity >= 2;
}

bool log_guest_errors_enabled(void)
{
    return log_state.verbosity >= 1;
}

void ratelimit_init(RateLimit *rl, uint32_t interval_ms, uint32_t burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->interval_ms = interval_ms;
    rl->burst = burst;
    g_mutex_init(&rl->lock);
}

void ratelimit_clear(RateLimit *rl)
{
    g_mutex_clear(&rl->lock);
}

bool ratelimit_allow(RateLimit *rl, uint32_t *suppressed)
{
    int64_t now = g_get_monotonic_time();
    bool ok;
    g_mutex_lock(&rl->lock);
    if (now - rl->window_start_us >= (int64_t)rl->interval_ms * 1000) {
        rl->window_start_us = now;
        rl->count = 0;
    }
    ok = rl->count < rl->burst;
    if (ok) {
        rl->count++;
        *suppressed = rl->suppressed;
        rl->suppressed = 0;
    } else {
        rl->suppressed++;
    }
    g_mutex_unlock(&rl->lock);
    return ok;
}

void log_guest_error(RateLimit *rl, const char *who, const char *fmt, ...)
{
    uint32_t suppressed = 0;
    if (!log_guest_errors_enabled() || !ratelimit_allow(rl, &suppressed))
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (suppressed)
        g_log("guest", G_LOG_LEVEL_INFO, "%s: %s (%u similar suppressed)", who, msg, suppressed);
    else
        g_log("guest", G_LOG_LEVEL_INFO, "%s: %s", who, msg);
}
