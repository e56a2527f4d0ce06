/* Clocks, directories and JSON string escaping for the observe/ files. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "observe_internal.h"

int64_t df_obs_wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void df_obs_format_ts(int64_t us, char out[40]) {
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

df_status df_obs_mkdirs(const char *path, df_error *err) {
    char p[4096];
    size_t n = strlen(path);
    if (!n || n >= sizeof p) return df_error_set(err, DF_EINVAL, "%s: bad directory path", path);
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) && errno != EEXIST)
            return df_error_set(err, DF_EIO, "%s: cannot create directory: %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) return df_error_set(err, DF_EIO, "%s: not a directory", path);
    return DF_OK;
}

static void put(char *buf, size_t cap, size_t *n, const char *s, size_t k) {
    if (*n < cap) memcpy(buf + *n, s, *n + k <= cap ? k : cap - *n);
    *n += k;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid (RFC 3629). */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int k;
    unsigned min;
    if ((c & 0xe0) == 0xc0) k = 2, min = 0x80;
    else if ((c & 0xf0) == 0xe0) k = 3, min = 0x800;
    else if ((c & 0xf8) == 0xf0) k = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0x7f >> k);
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return k;
}

void df_obs_json_str(char *buf, size_t cap, size_t *n, const char *s) {
    put(buf, cap, n, "\"", 1);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned c = *p;
        if (c == '"') { put(buf, cap, n, "\\\"", 2); p++; }
        else if (c == '\\') { put(buf, cap, n, "\\\\", 2); p++; }
        else if (c == '\n') { put(buf, cap, n, "\\n", 2); p++; }
        else if (c == '\r') { put(buf, cap, n, "\\r", 2); p++; }
        else if (c == '\t') { put(buf, cap, n, "\\t", 2); p++; }
        else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            put(buf, cap, n, e, 6);
            p++;
        } else {
            int k = utf8_len(p);
            if (k) { put(buf, cap, n, (const char *)p, (size_t)k); p += k; }
            else { put(buf, cap, n, "\xef\xbf\xbd", 3); p++; }
        }
    }
    put(buf, cap, n, "\"", 1);
}
