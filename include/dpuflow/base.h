/* dpuflow — base services: files (whole reads, atomic writes, mmap), sha256, clocks, logging. */
#ifndef DPUFLOW_BASE_H
#define DPUFLOW_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- files ------------------------------------------------------------------------------ */

/* The default cap for df_file_read_all when max_size is 0: large enough for any config,
 * vocabulary or tokenizer file, small enough that a wrong path cannot exhaust memory. */
#define DF_FILE_READ_DEFAULT_MAX ((size_t)1 << 30)

/* Reads the whole file into a malloc'ed buffer (*buf, to be free()d) of *size bytes plus a
 * terminating NUL that *size does not count, so text files can be used as C strings.
 * Files larger than max_size (0 = DF_FILE_READ_DEFAULT_MAX) fail with DF_ERANGE. */
df_status df_file_read_all(const char *path, void **buf, size_t *size, size_t max_size, df_error *err);

/* Replaces path with data so that readers see either the old or the new content, never a
 * mix, and a crash leaves one of the two: temp file in the same directory, fsync, rename,
 * fsync of the directory. On failure the old file is untouched and the temp file removed. */
df_status df_file_write_atomic(const char *path, const void *data, size_t size, df_error *err);

/* The same, streamed: open, write any number of times, then commit or abort. commit and
 * abort both release the handle. */
typedef struct df_atomic_file df_atomic_file;
df_status df_atomic_open(const char *path, df_atomic_file **out, df_error *err);
df_status df_atomic_write(df_atomic_file *f, const void *data, size_t size, df_error *err);
df_status df_atomic_commit(df_atomic_file *f, df_error *err);
void df_atomic_abort(df_atomic_file *f);

/* Publishes an already written temp file (tmp_path, same directory as path): fsync it,
 * rename over path, fsync the directory. Removes tmp_path on failure. */
df_status df_file_publish(const char *tmp_path, const char *path, df_error *err);

/* Fsyncs the directory holding path, so a rename into it survives a crash. */
df_status df_dir_sync_for(const char *path, df_error *err);

/* A read-only private mapping of a whole file. An empty file maps to data == NULL, size 0. */
typedef struct df_file_map {
    const void *data;
    size_t size;
} df_file_map;

df_status df_file_mmap(const char *path, df_file_map *map, df_error *err);
void df_file_munmap(df_file_map *map);   /* safe on a zeroed or unmapped map */

/* ---- sha256 (FIPS 180-4) ---------------------------------------------------------------- */

typedef struct df_sha256_ctx {
    uint32_t state[8];
    uint64_t total;        /* bytes hashed so far */
    uint8_t block[64];
    size_t used;           /* bytes waiting in block */
} df_sha256_ctx;

void df_sha256_init(df_sha256_ctx *c);
void df_sha256_update(df_sha256_ctx *c, const void *data, size_t len);
void df_sha256_final(df_sha256_ctx *c, uint8_t out[32]);
void df_sha256(const void *data, size_t len, uint8_t out[32]);
/* Writes 64 lowercase hex digits and a NUL. */
void df_sha256_hex(const uint8_t digest[32], char hex[65]);
/* Streams a file through sha256 without holding it in memory. */
df_status df_sha256_file(const char *path, char hex[65], df_error *err);

/* ---- clocks ----------------------------------------------------------------------------- */

/* Nanoseconds on a monotonic clock: for durations only, unrelated to wall time. */
uint64_t df_now_ns(void);

#define DF_ISO8601_MAX 32
/* Current UTC time as "2026-05-06T11:24:00Z"; returns buf. */
char *df_wall_iso8601(char buf[DF_ISO8601_MAX]);

/* ---- logging ---------------------------------------------------------------------------- */

typedef enum df_log_level {
    DF_LOG_DEBUG = 0,
    DF_LOG_INFO,
    DF_LOG_WARN,
    DF_LOG_ERROR,
    DF_LOG_OFF,
} df_log_level;

/* One line to stderr: "2026-05-06T11:24:00Z WARN message". The threshold comes from the
 * environment variable DF_LOG_LEVEL (debug, info, warn, error, off; default info) unless
 * df_log_set_level was called. */
void df_log(df_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void df_log_set_level(df_log_level level);
df_log_level df_log_get_level(void);
/* Parses "debug", "info", "warn"/"warning", "error", "off" (any case); -1 when unknown. */
int df_log_level_parse(const char *s);

#ifdef __cplusplus
}
#endif
#endif
