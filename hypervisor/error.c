#include "hypervisor/error.h"

#include <errno.h>

G_DEFINE_QUARK(nimbus-error-quark, nimbus_error)

void error_set_errno(GError **errp, int neg_errno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int code = neg_errno == -ENOENT ? NIMBUS_ERROR_NOT_FOUND : NIMBUS_ERROR_IO;
    g_set_error(errp, NIMBUS_ERROR, code, "%s: %s", what, g_strerror(-neg_errno));
}
