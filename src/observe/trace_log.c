/* The trace log: request threads copy a record into a bounded lock-free ring (Vyukov's
 * bounded MPMC queue, used here with one consumer); a writer thread formats JSON lines into
 * the current file and rotates it by size or hour; a compressor thread turns each rotated
 * file into .jsonl.zst (temp, fsync, rename, dir fsync) and only then removes the .jsonl. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "dpuflow/base.h"
#include "dpuflow/observe.h"
#include "observe_internal.h"

typedef struct {
    _Atomic size_t seq;
    df_trace_record rec;
} cell;

typedef struct zjob {
    struct zjob *next;
    char path[4096];
} zjob;

#define WBUF_CAP (256 * 1024)

struct df_trace_log {
    char *dir;
    uint64_t max_bytes;
    bool hourly;
    int level;

    cell *cells;
    size_t mask;
    _Atomic size_t enq_pos;   /* producers */
    size_t deq_pos;           /* the writer only */
    _Atomic uint64_t dropped, written;

    pthread_t writer, compressor;
    pthread_mutex_t mu;       /* flush handshake, rotation flag, compress queue, current path */
    pthread_cond_t wake, done, zwake, zdone;
    bool stop, zstop, rotate_req;
    size_t flushed_pos;       /* everything before it is written to the OS */
    zjob *zhead, *ztail;
    bool zbusy;

    int fd;
    uint64_t file_bytes;
    int64_t file_hour;
    char path[4096];
    char *wbuf;
    size_t wlen;
};

/* ---- record -> JSON ---------------------------------------------------------------------- */

static void putf(char *buf, size_t cap, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void putf(char *buf, size_t cap, size_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*n < cap ? buf + *n : NULL, *n < cap ? cap - *n : 0, fmt, ap);
    va_end(ap);
    if (k > 0) *n += (size_t)k;
}

static void key_str(char *buf, size_t cap, size_t *n, const char *key, const char *v) {
    putf(buf, cap, n, ",\"%s\":", key);
    df_obs_json_str(buf, cap, n, v);
}

size_t df_trace_record_json(const df_trace_record *r, char *buf, size_t cap) {
    size_t n = 0;
    char ts[40];
    df_obs_format_ts(r->ts_us ? r->ts_us : df_obs_wall_us(), ts);
    putf(buf, cap, &n, "{\"ts\":\"%s\"", ts);
    key_str(buf, cap, &n, "trace_id", r->trace_id);
    key_str(buf, cap, &n, "span_id", r->span_id);
    if (r->parent_id[0]) key_str(buf, cap, &n, "parent_id", r->parent_id);
    key_str(buf, cap, &n, "task", r->task);
    key_str(buf, cap, &n, "model", r->model);
    putf(buf, cap, &n, ",\"version\":%lld", (long long)r->version);
    key_str(buf, cap, &n, "platform", r->platform);
    key_str(buf, cap, &n, "status", r->status);
    putf(buf, cap, &n, ",\"http\":%d,\"n_texts\":%d,\"tokens\":%u,\"batch\":%d", r->http_status, r->n_texts,
         r->tokens, r->batch_size);
    putf(buf, cap, &n, ",\"us\":{\"tokenize\":%u,\"queue\":%u,\"infer\":%u,\"postprocess\":%u,\"total\":%u}",
         r->stage_us[DF_STAGE_TOKENIZE], r->stage_us[DF_STAGE_QUEUE], r->stage_us[DF_STAGE_INFER],
         r->stage_us[DF_STAGE_POSTPROCESS], r->stage_us[DF_STAGE_TOTAL]);
    if (r->fallback_from[0] || r->fallback_to[0]) {
        putf(buf, cap, &n, ",\"fallback\":{\"from\":");
        df_obs_json_str(buf, cap, &n, r->fallback_from);
        key_str(buf, cap, &n, "to", r->fallback_to);
        key_str(buf, cap, &n, "reason", r->fallback_reason);
        putf(buf, cap, &n, "}");
    }
    if (r->error[0] || r->error_type[0]) {
        key_str(buf, cap, &n, "error", r->error);
        key_str(buf, cap, &n, "error_type", r->error_type);
    }
    putf(buf, cap, &n, "}\n");
    if (cap) buf[n < cap ? n : cap - 1] = 0;
    return n;
}

/* ---- files ------------------------------------------------------------------------------- */

static void queue_compress_locked(df_trace_log *t, const char *path) {
    zjob *j = calloc(1, sizeof *j);
    if (!j) {
        df_log(DF_LOG_WARN, "trace log: out of memory, %s stays uncompressed", path);
        return;
    }
    snprintf(j->path, sizeof j->path, "%s", path);
    if (t->ztail) t->ztail->next = j; else t->zhead = j;
    t->ztail = j;
    pthread_cond_signal(&t->zwake);
}

static void write_out(df_trace_log *t) {
    size_t off = 0;
    while (off < t->wlen && t->fd >= 0) {
        ssize_t k = write(t->fd, t->wbuf + off, t->wlen - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            df_log(DF_LOG_WARN, "trace log: %s: write failed: %s", t->path, strerror(errno));
            break;
        }
        off += (size_t)k;
    }
    t->file_bytes += t->wlen;
    t->wlen = 0;
}

static void close_current(df_trace_log *t) {
    if (t->fd < 0) return;
    write_out(t);
    close(t->fd);
    t->fd = -1;
    pthread_mutex_lock(&t->mu);
    queue_compress_locked(t, t->path);
    t->path[0] = 0;
    pthread_mutex_unlock(&t->mu);
}

static void open_new(df_trace_log *t) {
    int64_t now_s = df_obs_wall_us() / 1000000;
    time_t tt = (time_t)now_s;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char day[4096], path[4096];
    snprintf(day, sizeof day, "%s/%04d-%02d-%02d", t->dir, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    df_error err;
    if (df_obs_mkdirs(day, &err)) {
        df_log(DF_LOG_WARN, "trace log: %s", err.msg);
        return;
    }
    for (int i = 0; i < 1000; i++) {
        if (i) snprintf(path, sizeof path, "%s/trace-%02d%02d%02d-%d.jsonl", day, tm.tm_hour, tm.tm_min, tm.tm_sec, i);
        else snprintf(path, sizeof path, "%s/trace-%02d%02d%02d.jsonl", day, tm.tm_hour, tm.tm_min, tm.tm_sec);
        /* A name whose .zst already exists is taken too: never overwrite a finished log. */
        char zpath[4200];
        snprintf(zpath, sizeof zpath, "%s.zst", path);
        if (access(zpath, F_OK) == 0) continue;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            t->fd = fd;
            t->file_bytes = 0;
            t->file_hour = now_s / 3600;
            pthread_mutex_lock(&t->mu);
            snprintf(t->path, sizeof t->path, "%s", path);
            pthread_mutex_unlock(&t->mu);
            return;
        }
        if (errno != EEXIST) {
            df_log(DF_LOG_WARN, "trace log: %s: %s", path, strerror(errno));
            return;
        }
    }
}

static bool ring_pop(df_trace_log *t, df_trace_record *out) {
    cell *c = &t->cells[t->deq_pos & t->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if (seq != t->deq_pos + 1) return false;
    *out = c->rec;
    atomic_store_explicit(&c->seq, t->deq_pos + t->mask + 1, memory_order_release);
    t->deq_pos++;
    return true;
}

static void *writer_main(void *arg) {
    df_trace_log *t = arg;
    df_trace_record *rec = malloc(sizeof *rec);
    char *line = malloc(8192);
    if (!rec || !line) { free(rec); free(line); return NULL; }
    for (;;) {
        bool any = false;
        while (ring_pop(t, rec)) {
            any = true;
            size_t k = df_trace_record_json(rec, line, 8192);
            if (k >= 8192) continue;   /* bounded fields make this impossible; never write half a line */
            int64_t hour = (rec->ts_us ? rec->ts_us : df_obs_wall_us()) / 3600000000LL;
            if (t->fd >= 0 && (t->file_bytes + t->wlen + k > t->max_bytes || (t->hourly && hour != t->file_hour)))
                close_current(t);
            if (t->fd < 0) open_new(t);
            if (t->wlen + k > WBUF_CAP) write_out(t);
            memcpy(t->wbuf + t->wlen, line, k);
            t->wlen += k;
            atomic_fetch_add_explicit(&t->written, 1, memory_order_relaxed);
        }
        if (t->wlen) write_out(t);
        pthread_mutex_lock(&t->mu);
        bool rotate = t->rotate_req;
        t->rotate_req = false;
        pthread_mutex_unlock(&t->mu);
        if (rotate) close_current(t);
        pthread_mutex_lock(&t->mu);
        t->flushed_pos = t->deq_pos;
        pthread_cond_broadcast(&t->done);
        if (t->stop && !any && t->deq_pos == atomic_load(&t->enq_pos)) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        if (!any && !t->rotate_req) {
            /* Producers never signal (that would be a syscall per request): poll every 20 ms. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000;
            if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
            pthread_cond_timedwait(&t->wake, &t->mu, &ts);
        }
        pthread_mutex_unlock(&t->mu);
    }
    close_current(t);
    free(rec);
    free(line);
    return NULL;
}

/* ---- compression ------------------------------------------------------------------------- */

static df_status compress_file(const char *path, int level, df_error *err) {
    char zpath[4200];
    snprintf(zpath, sizeof zpath, "%s.zst", path);
    FILE *in = fopen(path, "rb");
    if (!in) return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    df_atomic_file *out = NULL;
    df_status st = df_atomic_open(zpath, &out, err);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t in_cap = ZSTD_CStreamInSize(), out_cap = ZSTD_CStreamOutSize();
    char *ib = malloc(in_cap), *ob = malloc(out_cap);
    if (!st && (!cc || !ib || !ob)) st = df_error_set(err, DF_ENOMEM, "%s: out of memory for zstd", path);
    if (!st) ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    while (!st) {
        size_t got = fread(ib, 1, in_cap, in);
        if (ferror(in)) { st = df_error_set(err, DF_EIO, "%s: read failed", path); break; }
        bool last = got < in_cap;
        ZSTD_inBuffer zin = {ib, got, 0};
        bool finished = false;
        do {
            ZSTD_outBuffer zout = {ob, out_cap, 0};
            size_t rem = ZSTD_compressStream2(cc, &zout, &zin, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(rem)) { st = df_error_set(err, DF_EINTERNAL, "%s: zstd: %s", path, ZSTD_getErrorName(rem)); break; }
            if (zout.pos) st = df_atomic_write(out, ob, zout.pos, err);
            finished = last ? rem == 0 : zin.pos == zin.size;
        } while (!st && !finished);
        if (last) break;
    }
    fclose(in);
    /* commit = fsync + rename + directory fsync: only then is the .jsonl redundant. */
    if (!st) st = df_atomic_commit(out, err);
    else if (out) df_atomic_abort(out);
    if (!st && unlink(path)) st = df_error_set(err, DF_EIO, "%s: cannot remove after compressing: %s", path, strerror(errno));
    ZSTD_freeCCtx(cc);
    free(ib);
    free(ob);
    return st;
}

static void *compressor_main(void *arg) {
    df_trace_log *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        zjob *j = t->zhead;
        if (!j) {
            pthread_cond_broadcast(&t->zdone);
            if (t->zstop) break;
            pthread_cond_wait(&t->zwake, &t->mu);
            continue;
        }
        t->zhead = j->next;
        if (!t->zhead) t->ztail = NULL;
        t->zbusy = true;
        pthread_mutex_unlock(&t->mu);
        df_error err;
        if (compress_file(j->path, t->level, &err)) df_log(DF_LOG_WARN, "trace log: %s", err.msg);
        free(j);
        pthread_mutex_lock(&t->mu);
        t->zbusy = false;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- API --------------------------------------------------------------------------------- */

df_status df_trace_log_open(const df_trace_log_opts *o, df_trace_log **out, df_error *err) {
    if (!o || !o->dir || !*o->dir || !out) return df_error_set(err, DF_EINVAL, "trace log: no directory given");
    df_status st = df_obs_mkdirs(o->dir, err);
    if (st) return df_error_prefix(err, "trace log: ");
    df_trace_log *t = calloc(1, sizeof *t);
    if (!t) return df_error_set(err, DF_ENOMEM, "trace log: out of memory");
    size_t cap = 1;
    size_t want = o->ring_capacity ? o->ring_capacity : 8192;
    while (cap < want) cap <<= 1;
    if (cap < 2) cap = 2;
    t->dir = strdup(o->dir);
    t->cells = calloc(cap, sizeof *t->cells);
    t->wbuf = malloc(WBUF_CAP);
    if (!t->dir || !t->cells || !t->wbuf) {
        free(t->dir); free(t->cells); free(t->wbuf); free(t);
        return df_error_set(err, DF_ENOMEM, "trace log: out of memory for a ring of %zu records", cap);
    }
    for (size_t i = 0; i < cap; i++) atomic_init(&t->cells[i].seq, i);
    t->mask = cap - 1;
    t->max_bytes = o->max_file_bytes ? o->max_file_bytes : 64ull << 20;
    t->hourly = !o->no_hourly;
    t->level = o->zstd_level ? o->zstd_level : 3;
    t->fd = -1;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->wake, NULL);
    pthread_cond_init(&t->done, NULL);
    pthread_cond_init(&t->zwake, NULL);
    pthread_cond_init(&t->zdone, NULL);
    if (pthread_create(&t->compressor, NULL, compressor_main, t)) {
        free(t->dir); free(t->cells); free(t->wbuf); free(t);
        return df_error_set(err, DF_EINTERNAL, "trace log: cannot start the compressor thread");
    }
    if (pthread_create(&t->writer, NULL, writer_main, t)) {
        pthread_mutex_lock(&t->mu);
        t->zstop = true;
        pthread_cond_signal(&t->zwake);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->compressor, NULL);
        free(t->dir); free(t->cells); free(t->wbuf); free(t);
        return df_error_set(err, DF_EINTERNAL, "trace log: cannot start the writer thread");
    }
    *out = t;
    return DF_OK;
}

bool df_trace_log_submit(df_trace_log *t, const df_trace_record *r) {
    if (!t || !r) return false;
    size_t pos = atomic_load_explicit(&t->enq_pos, memory_order_relaxed);
    cell *c;
    for (;;) {
        c = &t->cells[pos & t->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&t->enq_pos, &pos, pos + 1, memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (diff < 0) {
            atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
            return false;
        } else {
            pos = atomic_load_explicit(&t->enq_pos, memory_order_relaxed);
        }
    }
    c->rec = *r;
    if (!c->rec.ts_us) c->rec.ts_us = df_obs_wall_us();
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    return true;
}

void df_trace_log_flush(df_trace_log *t) {
    if (!t) return;
    size_t target = atomic_load(&t->enq_pos);
    pthread_mutex_lock(&t->mu);
    pthread_cond_signal(&t->wake);
    while (t->flushed_pos < target || t->rotate_req) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5 * 1000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_signal(&t->wake);
        pthread_cond_timedwait(&t->done, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
}

void df_trace_log_rotate(df_trace_log *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->rotate_req = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->mu);
    df_trace_log_flush(t);
}

void df_trace_log_wait_compressed(df_trace_log *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    while (t->zhead || t->zbusy) pthread_cond_wait(&t->zdone, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

uint64_t df_trace_log_dropped(const df_trace_log *t) { return t ? atomic_load(&((df_trace_log *)t)->dropped) : 0; }
uint64_t df_trace_log_written(const df_trace_log *t) { return t ? atomic_load(&((df_trace_log *)t)->written) : 0; }

void df_trace_log_current_path(df_trace_log *t, char *buf, size_t cap) {
    if (!cap) return;
    if (!t) { buf[0] = 0; return; }
    pthread_mutex_lock(&t->mu);
    snprintf(buf, cap, "%s", t->path);
    pthread_mutex_unlock(&t->mu);
}

void df_trace_log_close(df_trace_log *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->writer, NULL);
    pthread_mutex_lock(&t->mu);
    t->zstop = true;
    pthread_cond_signal(&t->zwake);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->compressor, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->done);
    pthread_cond_destroy(&t->zwake);
    pthread_cond_destroy(&t->zdone);
    free(t->wbuf);
    free(t->cells);
    free(t->dir);
    free(t);
}
