/* dpuflow — status codes and error messages.
 *
 * Every fallible call returns a df_status and, on failure, fills a caller-owned df_error with
 * one line naming the file, node, tensor or field at fault. A NULL df_error is allowed. */
#ifndef DPUFLOW_STATUS_H
#define DPUFLOW_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum df_status {
    DF_OK = 0,
    DF_EINVAL,       /* bad argument or malformed input */
    DF_EIO,          /* file system or network error */
    DF_ENOMEM,       /* allocation failed */
    DF_EFORMAT,      /* a file is corrupt or not what it claims to be */
    DF_EUNSUPPORTED, /* valid, but not supported by dpuflow (yet) */
    DF_ESHAPE,       /* shapes disagree */
    DF_ETYPE,        /* dtypes disagree */
    DF_ENOTFOUND,    /* a named thing does not exist */
    DF_ERANGE,       /* a value is out of range */
    DF_ENEEDVALUE,   /* shape inference needs the value of a runtime input */
    DF_EBUSY,        /* resource temporarily unavailable (queue full) */
    DF_ETIMEOUT,     /* timed out */
    DF_EINTERNAL,    /* a bug in dpuflow */
    DF_STATUS_COUNT
} df_status;

#define DF_ERROR_MSG_MAX 1024

typedef struct df_error {
    df_status status;
    char msg[DF_ERROR_MSG_MAX];
} df_error;

/* Fills err (when not NULL) with status and a printf-formatted message; returns status so a
 * caller can write `return df_error_set(err, DF_EINVAL, "...")`. */
df_status df_error_set(df_error *err, df_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context ("file.onnx: ") to an existing message, keeping the status. */
df_status df_error_prefix(df_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void df_error_clear(df_error *err);

/* A short constant word for a status, e.g. "invalid argument". */
const char *df_status_str(df_status status);

#ifdef __cplusplus
}
#endif
#endif
