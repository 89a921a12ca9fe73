/* GError domains of the core. Control-plane functions return bool/pointer and
 * set a GError (DESIGN §2.5); the syscall layer returns -errno. */
#pragma once
#include <glib.h>

#define NIMBUS_ERROR nimbus_error_quark()
GQuark nimbus_error_quark(void);

/* One small code enum shared by the core modules; the API layer maps codes to
 * HTTP status in one table, so keep the meanings coarse. */
typedef enum {
    NIMBUS_ERROR_FAILED,      /* generic failure with a message */
    NIMBUS_ERROR_INVALID,     /* bad user input: config, CLI, API body */
    NIMBUS_ERROR_NOT_FOUND,   /* a named file, device or id does not exist */
    NIMBUS_ERROR_STATE,       /* operation not legal in the current VM state */
    NIMBUS_ERROR_UNSUPPORTED, /* host or accelerator lacks a capability */
    NIMBUS_ERROR_IO,          /* host I/O failed (errno in the message) */
    NIMBUS_ERROR_ACCEL,       /* an accelerator (KVM) call failed */
} NimbusErrorCode;

/* Set *errp from a negative errno with a printf-style context prefix. */
void error_set_errno(GError **errp, int neg_errno, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
