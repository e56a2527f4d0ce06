/* The error recorder: counts per category and a ring of the last N examples. */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpuflow/observe.h"
#include "observe_internal.h"

typedef struct {
    int64_t ts_us;
    df_err_category cat;
    char trace_id[DF_TRACE_ID_HEX];
    char msg[256];
} err_example;

struct df_errors {
    _Atomic uint64_t counts[DF_ERRCAT_COUNT];
    pthread_mutex_t mu;   /* guards the ring: a copy of < 300 bytes, never I/O */
    size_t keep, next, filled;
    err_example ring[];
};

df_errors *df_errors_new(size_t keep) {
    if (!keep) keep = 50;
    df_errors *e = calloc(1, sizeof *e + keep * sizeof(err_example));
    if (!e) return NULL;
    e->keep = keep;
    pthread_mutex_init(&e->mu, NULL);
    return e;
}

void df_errors_free(df_errors *e) {
    if (!e) return;
    pthread_mutex_destroy(&e->mu);
    free(e);
}

void df_errors_record(df_errors *e, df_err_category cat, const char *trace_id, const char *fmt, ...) {
    if (!e) return;
    if ((unsigned)cat >= DF_ERRCAT_COUNT) cat = DF_ERRCAT_INTERNAL;
    atomic_fetch_add_explicit(&e->counts[cat], 1, memory_order_relaxed);
    err_example x;
    x.ts_us = df_obs_wall_us();
    x.cat = cat;
    snprintf(x.trace_id, sizeof x.trace_id, "%s", trace_id ? trace_id : "");
    x.msg[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x.msg, sizeof x.msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&e->mu);
    e->ring[e->next] = x;
    e->next = (e->next + 1) % e->keep;
    if (e->filled < e->keep) e->filled++;
    pthread_mutex_unlock(&e->mu);
}

uint64_t df_errors_count(const df_errors *e, df_err_category cat) {
    if (!e || (unsigned)cat >= DF_ERRCAT_COUNT) return 0;
    return atomic_load(&((df_errors *)e)->counts[cat]);
}

char *df_errors_json(df_errors *e) {
    json_t *root = json_object(), *counts = json_object(), *recent = json_array();
    uint64_t total = 0;
    for (int c = 0; c < DF_ERRCAT_COUNT; c++) {
        uint64_t n = df_errors_count(e, (df_err_category)c);
        total += n;
        json_object_set_new(counts, df_err_category_name((df_err_category)c), json_integer((json_int_t)n));
    }
    json_object_set_new(root, "counts", counts);
    json_object_set_new(root, "total", json_integer((json_int_t)total));
    if (e) {
        /* Copy under the lock, build JSON (which allocates) outside it. */
        pthread_mutex_lock(&e->mu);
        size_t n = e->filled, next = e->next, keep = e->keep;
        err_example *copy = malloc((n ? n : 1) * sizeof *copy);
        if (copy)
            for (size_t i = 0; i < n; i++) copy[i] = e->ring[(next + keep - 1 - i) % keep];
        pthread_mutex_unlock(&e->mu);
        for (size_t i = 0; copy && i < n; i++) {
            char ts[40];
            df_obs_format_ts(copy[i].ts_us, ts);
            json_t *o = json_object();
            json_object_set_new(o, "time", json_string(ts));
            json_object_set_new(o, "category", json_string(df_err_category_name(copy[i].cat)));
            json_object_set_new(o, "trace_id", json_string(copy[i].trace_id));
            /* Messages may carry user text: never let invalid UTF-8 break the document. */
            json_t *m = json_string(copy[i].msg);
            json_object_set_new(o, "message", m ? m : json_string("(message is not valid UTF-8)"));
            json_array_append_new(recent, o);
        }
        free(copy);
    }
    json_object_set_new(root, "recent", recent);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
