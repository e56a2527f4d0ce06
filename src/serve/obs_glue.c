/* The seam between the server and observability (src/observe/): request records, errors,
 * usage, metrics and the status page. The server calls only the df_obs_* functions below.
 *
 * df_observe (include/dpuflow/observe.h) does the real work: trace JSONL with rotation and
 * zstd, the error recorder, usage per model per minute persisted under --log-dir, the
 * Prometheus registry and the status page. Beside it the server keeps a few counters of its
 * own in the model structs (atomics, no lock on the request path): per-model latency, loads,
 * disconnects; they feed /v1/status and extra metric families, and they are the whole story
 * when df_observe cannot open (an unwritable log dir), so every endpoint still answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "serve/serve_internal.h"

/* Seconds; the upper bounds Prometheus histograms expose as le="...". */
const double df_hist_bounds_s[DF_HIST_BUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                  0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,    10};

void df_hist_observe_ns(df_hist *h, uint64_t ns) {
    double s = ns / 1e9;
    int i = 0;
    while (i < DF_HIST_BUCKETS && s > df_hist_bounds_s[i]) i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

/* Upper bound of the bucket holding quantile q (what Prometheus' histogram_quantile would
 * interpolate within; the bound is enough for a status page). */
double df_hist_quantile_s(const df_hist *h, double q) {
    uint64_t n = atomic_load(&h->count);
    if (!n) return 0;
    uint64_t want = (uint64_t)(q * n + 0.5), acc = 0;
    if (want < 1) want = 1;
    for (int i = 0; i <= DF_HIST_BUCKETS; i++) {
        acc += atomic_load(&h->b[i]);
        if (acc >= want) return i < DF_HIST_BUCKETS ? df_hist_bounds_s[i] : 10;
    }
    return 10;
}

const int df_status_codes[DF_ST_COUNT] = {200, 400, 404, 413, 422, 429, 499, 500, 503, 504};

int df_status_index(int http) {
    for (int i = 0; i < DF_ST_COUNT; i++)
        if (df_status_codes[i] == http) return i;
    return DF_ST_500;
}

const char *df_obs_category(int http, const char *error_type) {
    if (error_type) return error_type;
    switch (http) {
    case 404: case 503: return "routing";
    case 429: return "overload";
    case 504: return "timeout";
    case 500: return "internal";
    default: return "input";
    }
}

/* ---- errors: counts per category and the last N examples ------------------------------------ */
#define ERR_RING 64
static const char *CATS[] = {"input", "routing", "overload", "timeout", "backend", "internal"};
#define N_CATS 6
static struct {
    pthread_mutex_t mu;
    uint64_t count[N_CATS];
    struct {
        char when[32];
        char cat[16];
        int http;
        char trace[33];
        char msg[300];
    } ring[ERR_RING];
    uint64_t total;
} errs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static df_err_category cat_of(const char *category, int http) {
    int c = category ? df_err_category_parse(category) : -1;
    return c >= 0 ? (df_err_category)c : df_err_category_for_http(http ? http : 500);
}

void df_obs_error(df_server *s, const char *category, int http, const char *msg, const char *trace_id) {
    if (http == 405) category = "input";
    if (s->obs) df_observe_error(s->obs, cat_of(category, http), trace_id, msg);
    int c = N_CATS - 1;
    for (int i = 0; i < N_CATS; i++)
        if (!strcmp(CATS[i], category)) c = i;
    pthread_mutex_lock(&errs.mu);
    errs.count[c]++;
    int k = (int)(errs.total++ % ERR_RING);
    df_wall_iso8601(errs.ring[k].when);
    snprintf(errs.ring[k].cat, sizeof errs.ring[k].cat, "%s", CATS[c]);
    errs.ring[k].http = http;
    snprintf(errs.ring[k].trace, sizeof errs.ring[k].trace, "%s", trace_id ? trace_id : "");
    snprintf(errs.ring[k].msg, sizeof errs.ring[k].msg, "%s", msg);
    pthread_mutex_unlock(&errs.mu);
}

static bool put_owned(df_sb *b, char *json) {
    if (!json) return false;
    df_sb_puts(b, json);
    free(json);
    return true;
}

void df_obs_render_errors(df_server *s, df_sb *b) {
    df_sb_reset(b);
    if (s->obs && put_owned(b, df_observe_errors_json(s->obs))) return;
    pthread_mutex_lock(&errs.mu);
    df_sb_puts(b, "{\"counts\":{");
    for (int i = 0; i < N_CATS; i++) df_sb_printf(b, "%s\"%s\":%llu", i ? "," : "", CATS[i], (unsigned long long)errs.count[i]);
    df_sb_printf(b, "},\"total\":%llu,\"recent\":[", (unsigned long long)errs.total);
    uint64_t n = errs.total < ERR_RING ? errs.total : ERR_RING;
    for (uint64_t i = 0; i < n; i++) {   /* newest first */
        int k = (int)((errs.total - 1 - i) % ERR_RING);
        df_sb_printf(b, "%s{\"time\":\"%s\",\"category\":\"%s\",\"status\":%d,\"trace_id\":\"%s\",\"message\":", i ? "," : "",
                     errs.ring[k].when, errs.ring[k].cat, errs.ring[k].http, errs.ring[k].trace);
        df_sb_json_str(b, errs.ring[k].msg, strlen(errs.ring[k].msg));
        df_sb_puts(b, "}");
    }
    df_sb_puts(b, "]}");
    pthread_mutex_unlock(&errs.mu);
}

/* ---- requests ------------------------------------------------------------------------------- */

void df_obs_init(df_server *s) {
    df_observe_opts oo = {.log_dir = s->o.log_dir && s->o.log_dir[0] ? s->o.log_dir : NULL};
    df_error err = {0};
    if (df_observe_open(&oo, &s->obs, &err)) {
        df_log(DF_LOG_WARN, "serve: observability: %s (built-in counters only)", err.msg);
        s->obs = NULL;
    }
}

void df_obs_shutdown(df_server *s) {
    df_observe_close(s->obs);   /* persists usage, drains and compresses the trace log */
    s->obs = NULL;
}

void df_obs_render_stats(df_server *s, df_sb *b) {
    df_sb_reset(b);
    if (s->obs && put_owned(b, df_observe_stats_json(s->obs))) return;
    df_obs_render_status(s, b);
}

void df_obs_request_done(df_server *s, df_req *r) {
    int si = df_status_index(r->http_status);
    uint64_t total = df_now_ns() - r->t_start;
    df_model *m = r->served_by ? r->served_by : (r->n_routes ? r->routes[r->route_i] : NULL);
    if (m) {
        atomic_fetch_add_explicit(&m->requests[si], 1, memory_order_relaxed);
        if (r->http_status == 200) {
            df_hist_observe_ns(&m->latency, total);
            int64_t minute = (int64_t)(time(NULL) / 60);
            int k = (int)(minute % 60);
            if (atomic_load(&m->minute_of[k]) != minute) {
                atomic_store(&m->minute_of[k], minute);
                atomic_store(&m->minute_calls[k], 0);
            }
            atomic_fetch_add_explicit(&m->minute_calls[k], 1, memory_order_relaxed);
        }
    } else {
        atomic_fetch_add_explicit(&s->unrouted[si], 1, memory_order_relaxed);
    }
    if (s->obs) {
        df_request_report rep = {
            .trace = &r->tctx,
            .task = r->task,
            .model = m ? m->name : NULL,
            .version = r->version,
            .platform = m ? m->label : NULL,
            .http_status = r->http_status == 499 ? 400 : r->http_status,
            .n_texts = r->endpoint == DF_EP_V2_INFER ? r->raw_rows : r->n_texts,
            .tokens = (uint32_t)r->prompt_tokens,
            .batch_size = r->batch_rows,
            .stage_us = {(uint32_t)(r->tok_ns / 1000), (uint32_t)(r->queue_ns / 1000), (uint32_t)(r->infer_ns / 1000),
                         (uint32_t)(r->post_ns / 1000), (uint32_t)(total / 1000)},
            .fallback_from = r->n_fallbacks ? r->first_failed : NULL,
            .fallback_reason = r->n_fallbacks ? r->first_reason : NULL,
            .error_category = cat_of(r->error_type, r->http_status),
            .error = r->http_status != 200 && r->out.p ? r->out.p : NULL,
        };
        char to[200];
        if (r->n_fallbacks) {
            if (r->http_status == 200 && m) snprintf(to, sizeof to, "%s@%s", m->name, m->platform);
            else snprintf(to, sizeof to, "none");
            rep.fallback_to = to;
        }
        df_observe_request(s->obs, &rep);
    }
    if (r->http_status == 200) {
        df_hist_observe_ns(&s->stage[0], r->tok_ns);
        df_hist_observe_ns(&s->stage[1], r->queue_ns);
        df_hist_observe_ns(&s->stage[2], r->infer_ns);
        df_hist_observe_ns(&s->stage[3], r->post_ns);
        df_hist_observe_ns(&s->stage[4], total);
    }
}

/* ---- usage ---------------------------------------------------------------------------------- */

void df_obs_render_usage(df_server *s, df_sb *b) {
    df_sb_reset(b);
    if (s->obs && put_owned(b, df_observe_usage_json(s->obs))) return;
    int64_t now = (int64_t)(time(NULL) / 60);
    df_sb_puts(b, "{\"models\":[");
    int n = atomic_load(&s->n_models);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        uint64_t total = 0;
        for (int k = 0; k < DF_ST_COUNT; k++) total += atomic_load(&m->requests[k]);
        df_sb_printf(b, "%s{\"model\":", i ? "," : "");
        df_sb_json_str(b, m->name, strlen(m->name));
        df_sb_printf(b, ",\"platform\":\"%s\",\"calls_total\":%llu,\"ok_total\":%llu,\"per_minute\":[", m->platform,
                     (unsigned long long)total, (unsigned long long)atomic_load(&m->requests[DF_ST_200]));
        bool first = true;
        for (int64_t mi = now - 59; mi <= now; mi++) {
            int k = (int)(mi % 60);
            if (atomic_load(&m->minute_of[k]) != mi) continue;
            time_t t = (time_t)(mi * 60);
            struct tm tm;
            gmtime_r(&t, &tm);
            char ts[32];
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:00Z", &tm);
            df_sb_printf(b, "%s{\"minute\":\"%s\",\"calls\":%llu}", first ? "" : ",", ts,
                         (unsigned long long)atomic_load(&m->minute_calls[k]));
            first = false;
        }
        df_sb_puts(b, "]}");
    }
    df_sb_puts(b, "]}");
}

/* ---- Prometheus ----------------------------------------------------------------------------- */

static void hist_lines(df_sb *b, const char *name, const char *labels, const df_hist *h, bool seconds) {
    uint64_t acc = 0;
    for (int i = 0; i <= DF_HIST_BUCKETS; i++) {
        acc += atomic_load(&h->b[i]);
        if (i < DF_HIST_BUCKETS) {
            if (seconds) df_sb_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, labels[0] ? "," : "", df_hist_bounds_s[i], (unsigned long long)acc);
        } else {
            df_sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "", (unsigned long long)acc);
        }
    }
    double sum = seconds ? atomic_load(&h->sum_ns) / 1e9 : (double)atomic_load(&h->sum_ns);
    if (labels[0]) {
        df_sb_printf(b, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, labels, sum, name, labels,
                     (unsigned long long)atomic_load(&h->count));
    } else {
        df_sb_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, sum, name, (unsigned long long)atomic_load(&h->count));
    }
}

static void model_labels(df_model *m, char *out, size_t n) {
    snprintf(out, n, "model=\"%s\",platform=\"%s\"", m->name, m->label);
}

static void server_only_metrics(df_server *s, df_sb *b);

void df_obs_render_metrics(df_server *s, df_sb *b) {
    df_sb_reset(b);
    if (s->obs) {
        int n = atomic_load(&s->n_models);
        for (int i = 0; i < n; i++) {
            df_model *m = s->models[i];
            df_version *v = df_model_acquire(m);
            pthread_mutex_lock(&m->mu);
            int d = m->count;
            pthread_mutex_unlock(&m->mu);
            char key[160];
            snprintf(key, sizeof key, "%s@%s", m->name, m->platform);
            df_observe_queue_depth(s->obs, key, d);
            df_observe_model_status(s->obs, m->name, v ? v->version : m->entry_version, m->platform,
                                    df_model_state_str(atomic_load(&m->state)));
            df_version_unref(v);
        }
        size_t len = 0;
        char *t = df_observe_metrics_text(s->obs, &len);
        if (t) {
            df_sb_put(b, t, len);
            free(t);
            server_only_metrics(s, b);
            return;
        }
    }
    int n = atomic_load(&s->n_models);
    char lab[400];
    df_sb_puts(b, "# HELP dpuflow_requests_total Requests answered, by task, model, platform and HTTP status.\n"
                  "# TYPE dpuflow_requests_total counter\n");
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        for (int k = 0; k < DF_ST_COUNT; k++) {
            uint64_t v = atomic_load(&m->requests[k]);
            if (!v) continue;
            df_sb_printf(b, "dpuflow_requests_total{task=\"%s\",model=\"%s\",platform=\"%s\",status=\"%d\"} %llu\n",
                         m->task, m->name, m->label, df_status_codes[k], (unsigned long long)v);
        }
    }
    for (int k = 0; k < DF_ST_COUNT; k++) {
        uint64_t v = atomic_load(&s->unrouted[k]);
        if (v)
            df_sb_printf(b, "dpuflow_requests_total{task=\"\",model=\"\",platform=\"\",status=\"%d\"} %llu\n",
                         df_status_codes[k], (unsigned long long)v);
    }
    static const char *stages[] = {"tokenize", "queue", "infer", "post", "total"};
    df_sb_puts(b, "# HELP dpuflow_stage_seconds Time per request stage (answered requests).\n"
                  "# TYPE dpuflow_stage_seconds histogram\n");
    for (int i = 0; i < 5; i++) {
        snprintf(lab, sizeof lab, "stage=\"%s\"", stages[i]);
        hist_lines(b, "dpuflow_stage_seconds", lab, &s->stage[i], true);
    }
    df_sb_puts(b, "# HELP dpuflow_batch_rows Rows per batch run.\n# TYPE dpuflow_batch_rows histogram\n");
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        model_labels(m, lab, sizeof lab);
        uint64_t acc = 0;
        for (int k = 0; k < 8; k++) {
            acc += atomic_load(&m->batch_size.b[k]);
            df_sb_printf(b, "dpuflow_batch_rows_bucket{%s,le=\"%d\"} %llu\n", lab, 1 << k, (unsigned long long)acc);
        }
        acc += atomic_load(&m->batch_size.b[8]);
        df_sb_printf(b, "dpuflow_batch_rows_bucket{%s,le=\"+Inf\"} %llu\n", lab, (unsigned long long)acc);
        df_sb_printf(b, "dpuflow_batch_rows_sum{%s} %llu\ndpuflow_batch_rows_count{%s} %llu\n", lab,
                     (unsigned long long)atomic_load(&m->batch_rows), lab, (unsigned long long)acc);
    }
    df_sb_puts(b, "# HELP dpuflow_queue_depth Requests waiting per model.\n# TYPE dpuflow_queue_depth gauge\n");
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        model_labels(m, lab, sizeof lab);
        pthread_mutex_lock(&m->mu);
        int d = m->count;
        pthread_mutex_unlock(&m->mu);
        df_sb_printf(b, "dpuflow_queue_depth{%s} %d\n", lab, d);
    }
    df_sb_puts(b, "# HELP dpuflow_model_status 1 for the model's current status.\n# TYPE dpuflow_model_status gauge\n");
    for (int i = 0; i < n; i++) {
        model_labels(s->models[i], lab, sizeof lab);
        df_sb_printf(b, "dpuflow_model_status{%s,status=\"%s\"} 1\n", lab, df_model_state_str(atomic_load(&s->models[i]->state)));
    }
    df_sb_puts(b, "# HELP dpuflow_fallbacks_total Requests that left a model for the next on their route.\n"
                  "# TYPE dpuflow_fallbacks_total counter\n");
    for (int i = 0; i < n; i++) {
        model_labels(s->models[i], lab, sizeof lab);
        df_sb_printf(b, "dpuflow_fallbacks_total{%s} %llu\n", lab, (unsigned long long)atomic_load(&s->models[i]->fallbacks_from));
    }
    df_sb_printf(b,
                 "# HELP dpuflow_registry_reloads_total Registry reads, by result.\n# TYPE dpuflow_registry_reloads_total counter\n"
                 "dpuflow_registry_reloads_total{result=\"ok\"} %llu\ndpuflow_registry_reloads_total{result=\"error\"} %llu\n",
                 (unsigned long long)atomic_load(&s->reloads), (unsigned long long)atomic_load(&s->reload_failures));
    server_only_metrics(s, b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    long rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2) rss_pages = 0;
        fclose(f);
    }
    df_sb_printf(b, "# HELP process_cpu_seconds_total User and system CPU time.\n# TYPE process_cpu_seconds_total counter\n"
                    "process_cpu_seconds_total %.3f\n"
                    "# HELP process_resident_memory_bytes Resident memory.\n# TYPE process_resident_memory_bytes gauge\n"
                    "process_resident_memory_bytes %ld\n",
                 cpu, rss_pages * sysconf(_SC_PAGESIZE));
}

/* Families df_observe does not have: per-model latency, loads, disconnects, in-flight. */
static void server_only_metrics(df_server *s, df_sb *b) {
    int n = atomic_load(&s->n_models);
    char lab[400];
    df_sb_puts(b, "# HELP dpuflow_request_seconds Whole-request latency per model.\n"
                  "# TYPE dpuflow_request_seconds histogram\n");
    for (int i = 0; i < n; i++) {
        model_labels(s->models[i], lab, sizeof lab);
        hist_lines(b, "dpuflow_request_seconds", lab, &s->models[i]->latency, true);
    }
    df_sb_puts(b, "# HELP dpuflow_model_loads_total Versions loaded.\n# TYPE dpuflow_model_loads_total counter\n");
    for (int i = 0; i < n; i++) {
        model_labels(s->models[i], lab, sizeof lab);
        df_sb_printf(b, "dpuflow_model_loads_total{%s,result=\"ok\"} %llu\n", lab, (unsigned long long)atomic_load(&s->models[i]->loads));
        df_sb_printf(b, "dpuflow_model_loads_total{%s,result=\"error\"} %llu\n", lab,
                     (unsigned long long)atomic_load(&s->models[i]->load_failures));
    }
    df_sb_puts(b, "# HELP dpuflow_disconnected_total Queued requests dropped because the client left.\n"
                  "# TYPE dpuflow_disconnected_total counter\n");
    for (int i = 0; i < n; i++) {
        model_labels(s->models[i], lab, sizeof lab);
        df_sb_printf(b, "dpuflow_disconnected_total{%s} %llu\n", lab, (unsigned long long)atomic_load(&s->models[i]->disconnected));
    }
    df_sb_printf(b, "# HELP dpuflow_inflight_requests Requests accepted and not yet answered.\n"
                    "# TYPE dpuflow_inflight_requests gauge\ndpuflow_inflight_requests %d\n",
                 atomic_load(&s->inflight));
}

/* ---- status page ---------------------------------------------------------------------------- */

void df_obs_render_status(df_server *s, df_sb *b) {
    df_sb_reset(b);
    double up = (df_now_ns() - s->started_ns) / 1e9;
    df_sb_printf(b, "{\"uptime_s\":%.1f,\"draining\":%s,\"models\":[", up, atomic_load(&s->draining) ? "true" : "false");
    int n = atomic_load(&s->n_models);
    int64_t now = (int64_t)(time(NULL) / 60);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        df_version *v = df_model_acquire(m);
        int k = (int)((now) % 60), kp = (int)((now - 1) % 60);
        uint64_t cur = atomic_load(&m->minute_of[k]) == now ? atomic_load(&m->minute_calls[k]) : 0;
        uint64_t prev = atomic_load(&m->minute_of[kp]) == now - 1 ? atomic_load(&m->minute_calls[kp]) : 0;
        double secs = (double)(time(NULL) % 60) + 60;
        df_sb_printf(b, "%s{\"model\":", i ? "," : "");
        df_sb_json_str(b, m->name, strlen(m->name));
        df_sb_printf(b, ",\"platform\":\"%s\",\"task\":", m->platform);
        df_sb_json_str(b, m->task, strlen(m->task));
        df_sb_printf(b, ",\"status\":\"%s\",\"version\":%lld,\"qps\":%.2f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"reason\":",
                     df_model_state_str(atomic_load(&m->state)), v ? (long long)v->version : (long long)m->entry_version,
                     (cur + prev) / secs, df_hist_quantile_s(&m->latency, 0.5) * 1e3,
                     df_hist_quantile_s(&m->latency, 0.99) * 1e3);
        pthread_mutex_lock(&m->mu);
        if (m->reason[0]) df_sb_json_str(b, m->reason, strlen(m->reason));
        else df_sb_puts(b, "null");
        pthread_mutex_unlock(&m->mu);
        df_sb_puts(b, "}");
        df_version_unref(v);
    }
    df_sb_puts(b, "],\"routing\":{");
    pthread_mutex_lock(&s->route_mu);
    for (int t = 0; s->routing && t < s->routing->n_tasks; t++) {
        df_sb_printf(b, "%s", t ? "," : "");
        df_sb_json_str(b, s->routing->t[t].task, strlen(s->routing->t[t].task));
        df_sb_puts(b, ":[");
        for (int k = 0; k < s->routing->t[t].n; k++)
            df_sb_printf(b, "%s\"%s@%s\"", k ? "," : "", s->routing->t[t].list[k]->name, s->routing->t[t].list[k]->platform);
        df_sb_puts(b, "]");
    }
    pthread_mutex_unlock(&s->route_mu);
    df_sb_puts(b, "},\"errors\":");
    df_sb e = {0};
    df_obs_render_errors(s, &e);
    df_sb_put(b, e.p, e.len);
    df_sb_free(&e);
    df_sb_puts(b, "}");
}

/* observe's page: it polls /v1/registry, /v1/stats, /v1/usage, /v1/errors and /metrics. */
const char *df_obs_status_page(void) { return df_observe_status_page(NULL); }
