#include "dpuflow/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

df_status df_error_set(df_error *err, df_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

df_status df_error_prefix(df_error *err, const char *fmt, ...) {
    if (!err) return DF_OK;
    char prefix[DF_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return err->status;
    char joined[DF_ERROR_MSG_MAX];
    snprintf(joined, sizeof joined, "%s%s", prefix, err->msg);
    memcpy(err->msg, joined, sizeof joined);
    return err->status;
}

void df_error_clear(df_error *err) {
    if (!err) return;
    err->status = DF_OK;
    err->msg[0] = '\0';
}

const char *df_status_str(df_status status) {
    static const char *const words[DF_STATUS_COUNT] = {
        [DF_OK] = "ok",
        [DF_EINVAL] = "invalid argument",
        [DF_EIO] = "i/o error",
        [DF_ENOMEM] = "out of memory",
        [DF_EFORMAT] = "malformed file",
        [DF_EUNSUPPORTED] = "not supported",
        [DF_ESHAPE] = "shape mismatch",
        [DF_ETYPE] = "type mismatch",
        [DF_ENOTFOUND] = "not found",
        [DF_ERANGE] = "out of range",
        [DF_ENEEDVALUE] = "needs an input value",
        [DF_EBUSY] = "busy",
        [DF_ETIMEOUT] = "timed out",
        [DF_EINTERNAL] = "internal error",
    };
    if ((unsigned)status >= DF_STATUS_COUNT) return "unknown status";
    return words[status];
}
