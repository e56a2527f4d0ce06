/* df_observe: the one object a server opens. It wires a finished request into the metrics,
 * the per-model stats behind /v1/stats, usage, the error recorder and the trace log, and runs
 * a ticker thread (once a second) that persists usage. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpuflow/base.h"
#include "dpuflow/observe.h"
#include "observe_internal.h"

/* Latency histogram with 16 log-spaced sub-buckets per power of two of µs (~4.4% wide):
 * percentiles for the status page without the coarse Prometheus buckets. Windowed in 10 s
 * slots so percentiles describe the last minute, not the whole uptime. */
#define SUB 16
#define NB ((32 - 3) * SUB)
#define WIN_S 10
#define NWIN 8           /* 6 slots make the 60 s window; spare ones absorb the current slot */
#define WINDOW_SLOTS 6
#define NSEC 64
#define MAX_MODELS 128

typedef struct {
    _Atomic int64_t stamp;   /* unix_s / WIN_S this slot counts */
    _Atomic uint64_t b[NB];
    _Atomic uint64_t max_us;
} lat_win;

typedef struct { lat_win w[NWIN]; } lat_hist;

typedef struct {
    char name[64];
    _Atomic uint64_t requests, errors;
    _Atomic int64_t sec_stamp[NSEC];
    _Atomic uint64_t sec_count[NSEC];
    lat_hist lat;
} model_stats;

struct df_observe {
    df_metrics *metrics;
    df_errors *errors;
    df_usage *usage;
    df_trace_log *trace;
    df_metric_family *f_requests, *f_duration, *f_batch, *f_queue, *f_model_status, *f_reloads, *f_fallbacks,
        *f_errors;
    df_metric *m_stage[DF_STAGE_COUNT], *m_batch, *m_reload_ok, *m_reload_err, *m_errcat[DF_ERRCAT_COUNT],
        *m_dropped;
    pthread_mutex_t mu;   /* model table growth and slot resets */
    model_stats *models;
    _Atomic int n_models;
    lat_hist stages[DF_STAGE_COUNT];
    _Atomic uint64_t requests, errors_total;
    int64_t start_us;
    pthread_t ticker;
    pthread_cond_t tick_cv;
    bool stop, ticker_started;
};

static int bucket_of(uint32_t us) {
    if (us < SUB) return (int)us;
    int oct = 31 - __builtin_clz(us);
    return (oct - 3) * SUB + (int)((us >> (oct - 4)) & (SUB - 1));
}

/* The middle of bucket i's µs range. */
static double bucket_mid(int i) {
    if (i < SUB) return i;
    int oct = i / SUB + 3, sub = i % SUB;
    double lo = ldexp(1.0, oct) * (1.0 + sub / (double)SUB), w = ldexp(1.0, oct) / SUB;
    return lo + w / 2;
}

static lat_win *win_for(df_observe *o, lat_hist *h, int64_t stamp) {
    lat_win *w = &h->w[stamp % NWIN];
    if (atomic_load_explicit(&w->stamp, memory_order_acquire) == stamp) return w;
    pthread_mutex_lock(&o->mu);
    if (atomic_load_explicit(&w->stamp, memory_order_relaxed) < stamp) {
        for (int i = 0; i < NB; i++) atomic_store_explicit(&w->b[i], 0, memory_order_relaxed);
        atomic_store_explicit(&w->max_us, 0, memory_order_relaxed);
        atomic_store_explicit(&w->stamp, stamp, memory_order_release);
    }
    pthread_mutex_unlock(&o->mu);
    return atomic_load(&w->stamp) == stamp ? w : NULL;
}

static void lat_add(df_observe *o, lat_hist *h, int64_t now_s, uint32_t us) {
    lat_win *w = win_for(o, h, now_s / WIN_S);
    if (!w) return;
    atomic_fetch_add_explicit(&w->b[bucket_of(us)], 1, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&w->max_us, memory_order_relaxed);
    while (us > m && !atomic_compare_exchange_weak_explicit(&w->max_us, &m, us, memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* p-quantiles (ms) over the windows of the last 60 s; false when empty. */
static bool lat_quantiles(lat_hist *h, int64_t now_s, const double *q, int nq, double *out, double *max_ms) {
    static _Thread_local uint64_t sum[NB];
    memset(sum, 0, sizeof sum);
    uint64_t total = 0, mx = 0;
    int64_t cur = now_s / WIN_S;
    for (int k = 0; k < NWIN; k++) {
        lat_win *w = &h->w[k];
        int64_t st = atomic_load(&w->stamp);
        if (st > cur - WINDOW_SLOTS && st <= cur) {
            for (int i = 0; i < NB; i++) {
                uint64_t c = atomic_load_explicit(&w->b[i], memory_order_relaxed);
                sum[i] += c;
                total += c;
            }
            uint64_t m = atomic_load(&w->max_us);
            if (m > mx) mx = m;
        }
    }
    if (!total) return false;
    for (int j = 0; j < nq; j++) {
        uint64_t rank = (uint64_t)ceil(q[j] * (double)total), acc = 0;
        if (rank < 1) rank = 1;
        int i = 0;
        for (; i < NB; i++) {
            acc += sum[i];
            if (acc >= rank) break;
        }
        double v = bucket_mid(i < NB ? i : NB - 1);
        if (v > (double)mx) v = (double)mx;   /* the top bucket's middle can exceed the real max */
        out[j] = v / 1000.0;
    }
    if (max_ms) *max_ms = (double)mx / 1000.0;
    return true;
}

static model_stats *model_for(df_observe *o, const char *name) {
    if (!name || !*name) name = "_none";
    int n = atomic_load_explicit(&o->n_models, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (!strncmp(o->models[i].name, name, sizeof o->models[i].name - 1)) return &o->models[i];
    pthread_mutex_lock(&o->mu);
    n = atomic_load_explicit(&o->n_models, memory_order_relaxed);
    model_stats *m = NULL;
    for (int i = 0; i < n && !m; i++)
        if (!strncmp(o->models[i].name, name, sizeof o->models[i].name - 1)) m = &o->models[i];
    if (!m && n < MAX_MODELS) {
        m = &o->models[n];
        snprintf(m->name, sizeof m->name, "%s", name);
        atomic_store_explicit(&o->n_models, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&o->mu);
    return m;
}

static void sec_add(df_observe *o, model_stats *m, int64_t now_s) {
    int i = (int)(now_s % NSEC);
    if (atomic_load_explicit(&m->sec_stamp[i], memory_order_acquire) != now_s) {
        pthread_mutex_lock(&o->mu);
        if (atomic_load_explicit(&m->sec_stamp[i], memory_order_relaxed) < now_s) {
            atomic_store_explicit(&m->sec_count[i], 0, memory_order_relaxed);
            atomic_store_explicit(&m->sec_stamp[i], now_s, memory_order_release);
        }
        pthread_mutex_unlock(&o->mu);
        if (atomic_load(&m->sec_stamp[i]) != now_s) return;
    }
    atomic_fetch_add_explicit(&m->sec_count[i], 1, memory_order_relaxed);
}

static double qps_over(model_stats *m, int64_t now_s, int secs, double uptime_s) {
    uint64_t n = 0;
    for (int64_t s = now_s - secs; s < now_s; s++) {
        int i = (int)(s % NSEC);
        if (s >= 0 && atomic_load(&m->sec_stamp[i]) == s) n += atomic_load(&m->sec_count[i]);
    }
    /* A young server has fewer whole seconds behind it than the window. */
    double d = uptime_s < secs ? floor(uptime_s) : secs;
    return d >= 1 ? (double)n / d : 0.0;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void *ticker_main(void *arg) {
    df_observe *o = arg;
    pthread_mutex_lock(&o->mu);
    while (!o->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&o->tick_cv, &o->mu, &ts);
        if (o->stop) break;
        pthread_mutex_unlock(&o->mu);
        df_error err;
        if (df_usage_tick(o->usage, 0, &err)) df_log(DF_LOG_WARN, "usage: %s", err.msg);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

df_status df_observe_open(const df_observe_opts *opts, df_observe **out, df_error *err) {
    df_observe_opts d = {0};
    if (!opts) opts = &d;
    df_observe *o = calloc(1, sizeof *o);
    if (!o) return df_error_set(err, DF_ENOMEM, "observe: out of memory");
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->tick_cv, NULL);
    o->start_us = df_obs_wall_us();
    o->models = calloc(MAX_MODELS, sizeof *o->models);
    o->metrics = df_metrics_new();
    o->errors = df_errors_new(opts->errors_keep);
    df_status st = DF_OK;
    if (!o->models || !o->metrics || !o->errors) st = df_error_set(err, DF_ENOMEM, "observe: out of memory");
    char path[4096];
    if (!st) {
        if (opts->log_dir) snprintf(path, sizeof path, "%s/usage", opts->log_dir);
        st = df_usage_new(opts->log_dir ? path : NULL, opts->usage_keep_minutes, &o->usage, err);
    }
    if (!st && opts->log_dir) {
        snprintf(path, sizeof path, "%s/trace", opts->log_dir);
        df_trace_log_opts to = {.dir = path, .ring_capacity = opts->trace_ring, .max_file_bytes = opts->trace_max_file_bytes};
        st = df_trace_log_open(&to, &o->trace, err);
    }
    df_metrics *m = o->metrics;
    static const char *const l_req[] = {"task", "model", "platform", "status"}, *const l_stage[] = {"stage"},
                             *const l_model[] = {"model"}, *const l_ms[] = {"model", "version", "platform", "status"},
                             *const l_res[] = {"result"}, *const l_fb[] = {"from", "to"}, *const l_cat[] = {"category"};
    static const double dur_b[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    static const double batch_b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    df_metric_family *f_dropped = NULL;
    if (!st) st = df_metrics_counter(m, "dpuflow_requests_total", "Requests answered, by task, model, platform and HTTP status.", 4, l_req, &o->f_requests, err);
    if (!st) st = df_metrics_histogram(m, "dpuflow_request_duration_seconds", "Request time per stage (tokenize, queue, infer, postprocess, total).", 1, l_stage, dur_b, (int)(sizeof dur_b / sizeof dur_b[0]), &o->f_duration, err);
    if (!st) st = df_metrics_histogram(m, "dpuflow_batch_size", "Requests per batch run by a worker.", 0, NULL, batch_b, (int)(sizeof batch_b / sizeof batch_b[0]), &o->f_batch, err);
    if (!st) st = df_metrics_gauge(m, "dpuflow_queue_depth", "Requests waiting in a model's queue.", 1, l_model, &o->f_queue, err);
    if (!st) st = df_metrics_gauge(m, "dpuflow_model_status", "1 for the current status of a model version on a platform.", 4, l_ms, &o->f_model_status, err);
    if (!st) st = df_metrics_counter(m, "dpuflow_reloads_total", "Registry reloads, by result.", 1, l_res, &o->f_reloads, err);
    if (!st) st = df_metrics_counter(m, "dpuflow_fallbacks_total", "Requests moved down the fallback list, by the platform they left and the one that answered.", 2, l_fb, &o->f_fallbacks, err);
    if (!st) st = df_metrics_counter(m, "dpuflow_errors_total", "Errors by category.", 1, l_cat, &o->f_errors, err);
    if (!st) st = df_metrics_counter(m, "dpuflow_trace_dropped_total", "Trace records dropped because the in-memory ring was full.", 0, NULL, &f_dropped, err);
    if (st) {
        df_observe_close(o);
        return st;
    }
    for (int s = 0; s < DF_STAGE_COUNT; s++) {
        const char *v[] = {df_stage_name((df_stage)s)};
        o->m_stage[s] = df_metric_child(o->f_duration, v);
    }
    for (int c = 0; c < DF_ERRCAT_COUNT; c++) {
        const char *v[] = {df_err_category_name((df_err_category)c)};
        o->m_errcat[c] = df_metric_child(o->f_errors, v);
    }
    const char *ok[] = {"ok"}, *bad[] = {"error"};
    o->m_reload_ok = df_metric_child(o->f_reloads, ok);
    o->m_reload_err = df_metric_child(o->f_reloads, bad);
    o->m_batch = df_metric_child(o->f_batch, NULL);
    o->m_dropped = df_metric_child(f_dropped, NULL);
    df_metrics_enable_process(m, true);
    if (pthread_create(&o->ticker, NULL, ticker_main, o)) {
        df_observe_close(o);
        return df_error_set(err, DF_EINTERNAL, "observe: cannot start the ticker thread");
    }
    o->ticker_started = true;
    *out = o;
    return DF_OK;
}

void df_observe_close(df_observe *o) {
    if (!o) return;
    if (o->ticker_started) {
        pthread_mutex_lock(&o->mu);
        o->stop = true;
        pthread_cond_signal(&o->tick_cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->ticker, NULL);
    }
    df_error err;
    if (o->usage && df_usage_flush(o->usage, &err)) df_log(DF_LOG_WARN, "usage: %s", err.msg);
    df_trace_log_close(o->trace);
    df_usage_free(o->usage);
    df_errors_free(o->errors);
    df_metrics_free(o->metrics);
    free(o->models);
    pthread_cond_destroy(&o->tick_cv);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

/* ---- recording --------------------------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

void df_observe_request(df_observe *o, const df_request_report *r) {
    if (!o || !r) return;
    int64_t now_us = df_obs_wall_us(), now_s = now_us / 1000000;
    bool ok = r->http_status >= 200 && r->http_status < 300;
    uint32_t us[DF_STAGE_COUNT];
    memcpy(us, r->stage_us, sizeof us);
    if (!us[DF_STAGE_TOTAL])
        us[DF_STAGE_TOTAL] = us[DF_STAGE_TOKENIZE] + us[DF_STAGE_QUEUE] + us[DF_STAGE_INFER] + us[DF_STAGE_POSTPROCESS];

    char code[12];
    snprintf(code, sizeof code, "%d", r->http_status);
    const char *lv[] = {r->task ? r->task : "", r->model ? r->model : "", r->platform ? r->platform : "", code};
    df_counter_inc(df_metric_child(o->f_requests, lv));
    atomic_fetch_add_explicit(&o->requests, 1, memory_order_relaxed);
    if (ok) {
        for (int s = 0; s < DF_STAGE_COUNT; s++) {
            df_histogram_observe(o->m_stage[s], us[s] / 1e6);
            lat_add(o, &o->stages[s], now_s, us[s]);
        }
    } else {
        df_histogram_observe(o->m_stage[DF_STAGE_TOTAL], us[DF_STAGE_TOTAL] / 1e6);
    }
    df_err_category cat = (unsigned)r->error_category < DF_ERRCAT_COUNT ? r->error_category : DF_ERRCAT_INTERNAL;
    if (!ok) {
        df_counter_inc(o->m_errcat[cat]);
        atomic_fetch_add_explicit(&o->errors_total, 1, memory_order_relaxed);
    }
    if (r->fallback_from && *r->fallback_from) df_observe_fallback(o, r->fallback_from, r->fallback_to);

    model_stats *ms = model_for(o, r->model);
    if (ms) {
        atomic_fetch_add_explicit(&ms->requests, 1, memory_order_relaxed);
        if (!ok) atomic_fetch_add_explicit(&ms->errors, 1, memory_order_relaxed);
        sec_add(o, ms, now_s);
        if (ok) lat_add(o, &ms->lat, now_s, us[DF_STAGE_TOTAL]);
    }
    if (r->model && *r->model) df_usage_add_at(o->usage, now_s, r->model, 1, r->tokens, ok ? 0 : 1);

    df_trace_ctx gen;
    const df_trace_ctx *tc = r->trace;
    if (!tc) {
        df_trace_ctx_start(NULL, &gen);
        tc = &gen;
    }
    char tid[DF_TRACE_ID_HEX];
    df_trace_id_hex(tc, tid);
    if (!ok) df_errors_record(o->errors, cat, tid, "%s", r->error ? r->error : "(no message)");

    if (o->trace) {
        df_trace_record rec;
        rec.ts_us = now_us;
        memcpy(rec.trace_id, tid, sizeof tid);
        df_span_id_hex(tc->span_id, rec.span_id);
        if (tc->has_parent) df_span_id_hex(tc->parent_id, rec.parent_id); else rec.parent_id[0] = 0;
        copy_str(rec.task, sizeof rec.task, r->task);
        copy_str(rec.model, sizeof rec.model, r->model);
        rec.version = r->version;
        copy_str(rec.platform, sizeof rec.platform, r->platform);
        copy_str(rec.status, sizeof rec.status, ok ? "ok" : "error");
        rec.http_status = r->http_status;
        rec.n_texts = r->n_texts;
        rec.tokens = r->tokens;
        rec.batch_size = r->batch_size;
        memcpy(rec.stage_us, us, sizeof us);
        copy_str(rec.fallback_from, sizeof rec.fallback_from, r->fallback_from);
        copy_str(rec.fallback_to, sizeof rec.fallback_to, r->fallback_from ? r->fallback_to : NULL);
        copy_str(rec.fallback_reason, sizeof rec.fallback_reason, r->fallback_from ? r->fallback_reason : NULL);
        copy_str(rec.error_type, sizeof rec.error_type, ok ? NULL : df_err_category_name(cat));
        copy_str(rec.error, sizeof rec.error, ok ? NULL : (r->error ? r->error : "(no message)"));
        if (!df_trace_log_submit(o->trace, &rec)) df_counter_inc(o->m_dropped);
    }
}

void df_observe_batch(df_observe *o, int n) { if (o) df_histogram_observe(o->m_batch, n); }

df_metric *df_observe_queue_gauge(df_observe *o, const char *model) {
    if (!o) return NULL;
    const char *v[] = {model ? model : ""};
    return df_metric_child(o->f_queue, v);
}

void df_observe_queue_depth(df_observe *o, const char *model, int depth) { df_gauge_set(df_observe_queue_gauge(o, model), depth); }

void df_observe_model_status(df_observe *o, const char *model, int64_t version, const char *platform, const char *status) {
    if (!o || !status) return;
    static const char *const known[] = {"active", "loading", "disabled", "error", "stale", "unloaded"};
    char ver[24];
    snprintf(ver, sizeof ver, "%lld", (long long)version);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *v[] = {model ? model : "", ver, platform ? platform : "", known[i]};
        df_gauge_set(df_metric_child(o->f_model_status, v), strcmp(known[i], status) ? 0 : 1);
    }
    const char *v[] = {model ? model : "", ver, platform ? platform : "", status};
    df_gauge_set(df_metric_child(o->f_model_status, v), 1);
}

void df_observe_reload(df_observe *o, bool ok) { if (o) df_counter_inc(ok ? o->m_reload_ok : o->m_reload_err); }

void df_observe_fallback(df_observe *o, const char *from, const char *to) {
    if (!o) return;
    const char *v[] = {from ? from : "", to ? to : "none"};
    df_counter_inc(df_metric_child(o->f_fallbacks, v));
}

void df_observe_error(df_observe *o, df_err_category cat, const char *trace_id, const char *msg) {
    if (!o) return;
    if ((unsigned)cat >= DF_ERRCAT_COUNT) cat = DF_ERRCAT_INTERNAL;
    df_counter_inc(o->m_errcat[cat]);
    df_errors_record(o->errors, cat, trace_id, "%s", msg ? msg : "(no message)");
}

df_metrics *df_observe_metrics(df_observe *o) { return o ? o->metrics : NULL; }
df_errors *df_observe_errors(df_observe *o) { return o ? o->errors : NULL; }
df_usage *df_observe_usage(df_observe *o) { return o ? o->usage : NULL; }
df_trace_log *df_observe_trace_log(df_observe *o) { return o ? o->trace : NULL; }

char *df_observe_metrics_text(df_observe *o, size_t *len) { return o ? df_metrics_render(o->metrics, len) : NULL; }
char *df_observe_errors_json(df_observe *o) { return o ? df_errors_json(o->errors) : NULL; }
char *df_observe_usage_json(df_observe *o) { return o ? df_usage_json(o->usage) : NULL; }

static json_t *num_or_null(bool have, double v) { return have ? json_real(round(v * 1000) / 1000) : json_null(); }

char *df_observe_stats_json(df_observe *o) {
    if (!o) return NULL;
    int64_t now_us = df_obs_wall_us(), now_s = now_us / 1000000;
    double up = (now_us - o->start_us) / 1e6;
    static const double q[3] = {0.5, 0.9, 0.99};
    json_t *root = json_object(), *models = json_array(), *stages = json_object();
    json_object_set_new(root, "uptime_seconds", json_real(round(up * 10) / 10));
    json_object_set_new(root, "window_seconds", json_integer(WINDOW_SLOTS * WIN_S));
    json_object_set_new(root, "requests_total", json_integer((json_int_t)atomic_load(&o->requests)));
    json_object_set_new(root, "errors_total", json_integer((json_int_t)atomic_load(&o->errors_total)));
    json_object_set_new(root, "trace_dropped", json_integer((json_int_t)df_trace_log_dropped(o->trace)));
    int n = atomic_load(&o->n_models);
    for (int i = 0; i < n; i++) {
        model_stats *m = &o->models[i];
        double v[3] = {0}, mx = 0;
        bool have = lat_quantiles(&m->lat, now_s, q, 3, v, &mx);
        json_t *e = json_object();
        json_object_set_new(e, "model", json_string(m->name));
        json_object_set_new(e, "requests", json_integer((json_int_t)atomic_load(&m->requests)));
        json_object_set_new(e, "errors", json_integer((json_int_t)atomic_load(&m->errors)));
        json_object_set_new(e, "qps", json_real(round(qps_over(m, now_s, 10, up) * 100) / 100));
        json_object_set_new(e, "qps_1m", json_real(round(qps_over(m, now_s, 60, up) * 100) / 100));
        json_object_set_new(e, "p50_ms", num_or_null(have, v[0]));
        json_object_set_new(e, "p90_ms", num_or_null(have, v[1]));
        json_object_set_new(e, "p99_ms", num_or_null(have, v[2]));
        json_object_set_new(e, "max_ms", num_or_null(have, mx));
        json_array_append_new(models, e);
    }
    for (int s = 0; s < DF_STAGE_COUNT; s++) {
        double v[3] = {0};
        bool have = lat_quantiles(&o->stages[s], now_s, q, 3, v, NULL);
        json_t *e = json_object();
        json_object_set_new(e, "p50_ms", num_or_null(have, v[0]));
        json_object_set_new(e, "p90_ms", num_or_null(have, v[1]));
        json_object_set_new(e, "p99_ms", num_or_null(have, v[2]));
        json_object_set_new(stages, df_stage_name((df_stage)s), e);
    }
    json_object_set_new(root, "models", models);
    json_object_set_new(root, "stages", stages);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
