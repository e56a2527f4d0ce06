/* A leveled logger to stderr. Each line is formatted first and written with one write(2), so
 * lines from different threads do not interleave. */
#include "dpuflow/base.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

/* -1 until first use, when DF_LOG_LEVEL is read; an explicit set wins over the environment. */
static atomic_int g_level = -1;

int df_log_level_parse(const char *s) {
    if (!s) return -1;
    if (!strcasecmp(s, "debug")) return DF_LOG_DEBUG;
    if (!strcasecmp(s, "info")) return DF_LOG_INFO;
    if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning")) return DF_LOG_WARN;
    if (!strcasecmp(s, "error")) return DF_LOG_ERROR;
    if (!strcasecmp(s, "off") || !strcasecmp(s, "none")) return DF_LOG_OFF;
    return -1;
}

df_log_level df_log_get_level(void) {
    int lv = atomic_load(&g_level);
    if (lv >= 0) return (df_log_level)lv;
    int env = df_log_level_parse(getenv("DF_LOG_LEVEL"));
    int want = env >= 0 ? env : DF_LOG_INFO;
    int expected = -1;
    /* Racing first callers agree on the same value; a concurrent set keeps its value. */
    atomic_compare_exchange_strong(&g_level, &expected, want);
    return (df_log_level)atomic_load(&g_level);
}

void df_log_set_level(df_log_level level) { atomic_store(&g_level, (int)level); }

void df_log(df_log_level level, const char *fmt, ...) {
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < DF_LOG_DEBUG || level >= DF_LOG_OFF || level < df_log_get_level()) return;
    char line[2048];
    char ts[DF_ISO8601_MAX];
    int n = snprintf(line, sizeof line, "%s %s ", df_wall_iso8601(ts), names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;  /* long messages are cut, not dropped */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
