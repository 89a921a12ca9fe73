/* Logging: glib structured logging with one writer installed by main(), a
 * per-module G_LOG_DOMAIN, and a rate-limited channel for guest errors (a
 * misbehaving guest must not be able to flood the host's logs). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Verbosity as given by repeated -v: 0 = warnings and errors, 1 = + info,
 * 2 = + debug, 3 = + guest errors and per-exit tracing. */
typedef struct LogConfig {
    int verbosity;
    const char *path; /* NULL: stderr */
} LogConfig;

/* Install the process's log writer. The writer is global by glib's design;
 * this is called once from main() before any thread starts. */
bool log_setup(const LogConfig *cfg, GError **errp);
/* Flush and close the log file, restoring the default writer. */
void log_teardown(void);
/* Seconds since log_setup(); the timestamp printed on each line. */
double log_uptime(void);
/* True when debug messages are being written (to skip costly formatting). */
bool log_debug_enabled(void);
bool log_guest_errors_enabled(void);

/* Token bucket: at most `burst` events per `interval_ms`; the number dropped
 * is reported with the next event that gets through. Thread-safe. */
typedef struct RateLimit {
    uint32_t interval_ms;
    uint32_t burst;
    GMutex lock;
    int64_t window_start_us;
    uint32_t count;
    uint32_t suppressed;
} RateLimit;

#define RATELIMIT_INIT(ms, n) { .interval_ms = (ms), .burst = (n) }
void ratelimit_init(RateLimit *rl, uint32_t interval_ms, uint32_t burst);
void ratelimit_clear(RateLimit *rl);
/* True if an event may be logged now; *suppressed gets the count dropped since. */
bool ratelimit_allow(RateLimit *rl, uint32_t *suppressed);

/* A guest did something undefined: log it (rate-limited), never fail. */
void log_guest_error(RateLimit *rl, const char *who, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
