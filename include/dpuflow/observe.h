/* dpuflow — observability: trace ids and the trace log, the error recorder, the usage monitor,
 * Prometheus metrics, the per-model stats behind the status page, and the status page itself.
 *
 * Hot-path rules: everything a request thread calls per request (df_observe_request,
 * df_trace_log_submit, df_counter_*, df_gauge_*, df_histogram_observe, df_usage_add,
 * df_errors_record) is non-blocking on disk and allocates nothing once a label set / model
 * name has been seen. Files are written by background threads; a full trace ring drops the
 * record and counts it (dpuflow_trace_dropped_total) instead of waiting.
 *
 * Two levels of API:
 *   - df_observe: one object a server opens once; it owns a metrics registry with the
 *     dpuflow_* metrics below, a trace log, an error recorder, a usage monitor and per-model
 *     stats, and one call (df_observe_request) records a finished request in all of them;
 *   - the parts (df_metrics, df_trace_log, df_errors, df_usage) for tools and tests.
 *
 * JSON shapes (all exports return a malloc'd NUL-terminated string the caller frees):
 *
 * GET /v1/errors  (df_errors_json)
 *   {"counts": {"input": 3, "routing": 0, "overload": 1, "timeout": 0, "backend": 0,
 *               "internal": 0},
 *    "total": 4,
 *    "recent": [{"time": "2026-05-06T11:24:00.123456Z", "category": "input",
 *                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "message": "..."}, ...]}
 *   "recent" is newest first, at most keep_last entries.
 *
 * GET /v1/usage  (df_usage_json)
 *   {"minute_seconds": 60,
 *    "models": {"tinybert": [{"minute": "2026-05-06T11:24:00Z", "calls": 120,
 *                             "tokens": 3100, "errors": 0}, ...]}}
 *   Minutes oldest first; only minutes with calls; the current (partial) minute included.
 *   The persisted file logs/usage/YYYY-MM-DD.jsonl holds one line per model per completed
 *   minute: {"minute": "...", "model": "tinybert", "calls": 120, "tokens": 3100, "errors": 0}
 *
 * GET /v1/stats  (df_observe_stats_json)
 *   {"uptime_seconds": 12.5, "window_seconds": 60,
 *    "requests_total": 1234, "errors_total": 3, "trace_dropped": 0,
 *    "models": [{"model": "tinybert", "requests": 1200, "errors": 2,
 *                "qps": 40.2,          (over the last 10 s)
 *                "qps_1m": 38.0,       (over the last 60 s)
 *                "p50_ms": 1.9, "p90_ms": 2.4, "p99_ms": 5.1, "max_ms": 9.0}, ...],
 *    "stages": {"tokenize": {"p50_ms": .., "p90_ms": .., "p99_ms": ..}, "queue": {..},
 *               "infer": {..}, "postprocess": {..}, "total": {..}}}
 *   Percentiles are over the last window_seconds (log-spaced buckets, ~4% resolution);
 *   null when the window holds no request.
 *
 * Trace record (one JSON object per line in logs/trace/YYYY-MM-DD/trace-HHMMSS.jsonl):
 *   {"ts": "2026-05-06T11:24:00.123456Z", "trace_id": "...", "span_id": "...",
 *    "parent_id": "..." (only when the request carried a traceparent),
 *    "task": "intent_classify", "model": "tinybert", "version": 3, "platform": "cpu",
 *    "status": "ok", "http": 200, "n_texts": 1, "tokens": 17, "batch": 4,
 *    "us": {"tokenize": 35, "queue": 12, "infer": 1800, "postprocess": 9, "total": 1870},
 *    "fallback": {"from": "fpga", "to": "cpu", "reason": "..."} (only when one happened),
 *    "error": "..." (only on failure), "error_type": "input" (only on failure)}
 *
 * Server-Timing (df_server_timing_format; what `dpuflow bench` parses):
 *   "tokenize;dur=0.035, queue;dur=0.012, infer;dur=1.800, post;dur=0.009, total;dur=1.870"
 *   (durations in milliseconds, per the W3C Server-Timing spec). */
#ifndef DPUFLOW_OBSERVE_H
#define DPUFLOW_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- trace context (W3C trace-context, https://www.w3.org/TR/trace-context/) ------------- */

#define DF_TRACE_ID_HEX 33      /* 32 hex digits + NUL */
#define DF_SPAN_ID_HEX 17       /* 16 hex digits + NUL */
#define DF_TRACEPARENT_MAX 56   /* "00-" 32 "-" 16 "-" 2 = 55 chars + NUL */

typedef struct df_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];      /* this server's span */
    uint8_t parent_id[8];    /* the caller's span, when has_parent */
    uint8_t flags;           /* trace-flags (bit 0 = sampled) */
    bool has_parent;
} df_trace_ctx;

/* Fills buf with n bytes from a per-thread xoshiro256** generator seeded once from getrandom
 * (no syscall after the first call on a thread). Not for secrets. */
void df_random_bytes(void *buf, size_t n);

/* Parses a traceparent header value. Rejects: wrong length or separators, uppercase or
 * non-hex digits, version ff, an all-zero trace id or parent id. Version 00 must be exactly
 * 55 chars; a higher version may carry "-..." after the flags (forward compatibility). On
 * success out->trace_id/parent_id/flags are set, has_parent = true and a fresh span_id is
 * generated. */
df_status df_traceparent_parse(const char *value, df_trace_ctx *out, df_error *err);

/* Starts a request's context: parses value when it is a valid traceparent (keeps the trace
 * id, the caller's span becomes the parent), otherwise (NULL or invalid) a new random trace.
 * Always a new span id. Never fails. */
void df_trace_ctx_start(const char *traceparent_or_null, df_trace_ctx *out);

void df_trace_id_hex(const df_trace_ctx *c, char out[DF_TRACE_ID_HEX]);
void df_span_id_hex(const uint8_t span[8], char out[DF_SPAN_ID_HEX]);
/* "00-<trace_id>-<span_id>-<flags>" with this server's span id (what to echo back). */
void df_traceparent_format(const df_trace_ctx *c, char out[DF_TRACEPARENT_MAX]);

/* ---- request stages ---------------------------------------------------------------------- */

typedef enum df_stage {
    DF_STAGE_TOKENIZE = 0,
    DF_STAGE_QUEUE,
    DF_STAGE_INFER,
    DF_STAGE_POSTPROCESS,
    DF_STAGE_TOTAL,
    DF_STAGE_COUNT
} df_stage;

const char *df_stage_name(df_stage s);   /* "tokenize", "queue", "infer", "postprocess", "total" */

/* Writes the Server-Timing header value (see the top of this file) for stage_us; returns
 * the length written (truncated to cap - 1). */
size_t df_server_timing_format(const uint32_t stage_us[DF_STAGE_COUNT], char *buf, size_t cap);

/* ---- error categories -------------------------------------------------------------------- */

typedef enum df_err_category {
    DF_ERRCAT_INPUT = 0,   /* malformed or invalid request: 400, 404, 413, 422 */
    DF_ERRCAT_ROUTING,     /* no model/platform can serve the task: 503 */
    DF_ERRCAT_OVERLOAD,    /* queue full: 429 */
    DF_ERRCAT_TIMEOUT,     /* timed out in the queue: 504 */
    DF_ERRCAT_BACKEND,     /* the backend failed running the model */
    DF_ERRCAT_INTERNAL,    /* a bug or resource failure in the server */
    DF_ERRCAT_COUNT
} df_err_category;

const char *df_err_category_name(df_err_category c);   /* "input", ... */
int df_err_category_parse(const char *s);              /* -1 when unknown */
/* The usual category for an HTTP error status (4xx input, 429 overload, 503 routing,
 * 504 timeout, other 5xx internal). */
df_err_category df_err_category_for_http(int http_status);

/* ---- Prometheus metrics ------------------------------------------------------------------ */

/* A registry of metric families, rendered in text exposition format 0.0.4. Families and
 * their label names are declared once; a child (one label-value set) is found or created by
 * df_metric_child (lock-free lookup in a fixed hash table; creation takes a mutex and
 * allocates once). Observations on a child are atomic operations, no lock, no allocation.
 * Counters and histogram buckets are integers; gauges and sums are doubles. */
typedef struct df_metrics df_metrics;
typedef struct df_metric_family df_metric_family;
typedef struct df_metric df_metric;

#define DF_METRIC_MAX_LABELS 6
#define DF_METRIC_MAX_BUCKETS 32
#define DF_METRIC_MAX_CHILDREN 4096   /* per family; beyond it df_metric_child returns NULL */

df_metrics *df_metrics_new(void);   /* NULL on allocation failure */
void df_metrics_free(df_metrics *m);

/* Declare a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*; counters' names must end in
 * "_total"; label names [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__"; histogram bounds
 * strictly increasing and finite (le="+Inf" is implicit). Declaring an existing name again
 * with the same type returns the existing family. */
df_status df_metrics_counter(df_metrics *m, const char *name, const char *help, int n_labels,
                             const char *const *label_names, df_metric_family **out, df_error *err);
df_status df_metrics_gauge(df_metrics *m, const char *name, const char *help, int n_labels,
                           const char *const *label_names, df_metric_family **out, df_error *err);
df_status df_metrics_histogram(df_metrics *m, const char *name, const char *help, int n_labels,
                               const char *const *label_names, const double *bounds,
                               int n_bounds, df_metric_family **out, df_error *err);

/* The child for label_values (n_labels of them; NULL when the family has none). Cache the
 * pointer when the label set is fixed; it lives as long as the registry. NULL only when the
 * family's child table is full. Label values may hold any UTF-8 (escaped when rendered). */
df_metric *df_metric_child(df_metric_family *f, const char *const *label_values);

void df_counter_inc(df_metric *c);                 /* all of these accept NULL (no-op) */
void df_counter_add(df_metric *c, uint64_t n);
void df_gauge_set(df_metric *g, double v);
void df_gauge_add(df_metric *g, double v);
void df_histogram_observe(df_metric *h, double v);

double df_metric_value(const df_metric *m);           /* counter or gauge value (tests) */
uint64_t df_histogram_count(const df_metric *h);
double df_histogram_sum(const df_metric *h);

/* Also render process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds and process_open_fds from
 * /proc/self at render time. Off by default (tests compare golden text). */
void df_metrics_enable_process(df_metrics *m, bool on);

/* Renders every family (in declaration order; children in creation order). Returns a malloc'd
 * string (length in *len when len is not NULL); NULL on allocation failure. */
char *df_metrics_render(df_metrics *m, size_t *len);

/* Bucket helpers: count bounds start, start*factor, ... / start, start+width, .... */
void df_buckets_exponential(double start, double factor, int count, double *out);
void df_buckets_linear(double start, double width, int count, double *out);

/* ---- trace log --------------------------------------------------------------------------- */

typedef struct df_trace_record {
    int64_t ts_us;                      /* wall clock, µs since the Unix epoch; 0 = at submit */
    char trace_id[DF_TRACE_ID_HEX];
    char span_id[DF_SPAN_ID_HEX];
    char parent_id[DF_SPAN_ID_HEX];     /* "" when the request carried no traceparent */
    char task[64];
    char model[64];
    int64_t version;
    char platform[16];
    char status[16];                    /* "ok", "error", ... */
    int http_status;
    int n_texts;
    uint32_t tokens;
    int batch_size;
    uint32_t stage_us[DF_STAGE_COUNT];
    char fallback_from[64];             /* "" = no fallback */
    char fallback_to[64];
    char fallback_reason[160];
    char error_type[16];                /* "" on success; else a df_err_category name */
    char error[256];
} df_trace_record;

typedef struct df_trace_log_opts {
    const char *dir;            /* root of the dated folders, e.g. "logs/trace" (required) */
    size_t ring_capacity;       /* records held in memory; 0 = 8192 (rounded up to 2^k) */
    uint64_t max_file_bytes;    /* rotate at this size; 0 = 64 MiB */
    bool no_hourly;             /* default: also rotate when the hour (UTC) changes */
    int zstd_level;             /* 0 = 3 */
} df_trace_log_opts;

typedef struct df_trace_log df_trace_log;

/* Creates dir if needed and starts the writer and compressor threads. Files:
 * <dir>/YYYY-MM-DD/trace-HHMMSS.jsonl (UTC, time the file was opened; a "-N" suffix keeps
 * names unique within a second). A rotated file is compressed to .jsonl.zst (written to a
 * temp name, fsynced, renamed, directory fsynced) and only then the .jsonl is removed. */
df_status df_trace_log_open(const df_trace_log_opts *opts, df_trace_log **out, df_error *err);

/* Copies r into the ring; never blocks on I/O. false = ring full, record dropped (counted). */
bool df_trace_log_submit(df_trace_log *t, const df_trace_record *r);

/* Waits until every record submitted before the call is written (and flushed to the OS). */
void df_trace_log_flush(df_trace_log *t);
/* Closes the current file now (it is queued for compression) and starts a new one on the
 * next record. */
void df_trace_log_rotate(df_trace_log *t);
/* Waits until queued compressions are done (tests, shutdown). */
void df_trace_log_wait_compressed(df_trace_log *t);
uint64_t df_trace_log_dropped(const df_trace_log *t);
uint64_t df_trace_log_written(const df_trace_log *t);
/* Current file path ("" before the first record). Copies into buf. */
void df_trace_log_current_path(df_trace_log *t, char *buf, size_t cap);
/* Drains the ring, closes and compresses the current file, joins the threads. NULL is ok. */
void df_trace_log_close(df_trace_log *t);

/* Appends r as one JSON line (with '\n') to buf; returns the length it needs (like
 * snprintf: the output is complete only when the result < cap). */
size_t df_trace_record_json(const df_trace_record *r, char *buf, size_t cap);

/* ---- error recorder ---------------------------------------------------------------------- */

typedef struct df_errors df_errors;

df_errors *df_errors_new(size_t keep_last);   /* 0 = 50; NULL on allocation failure */
void df_errors_free(df_errors *e);
/* Counts the error and keeps (time, category, trace_id, message) in a ring of the last
 * keep_last. Thread-safe (a short mutex, no allocation). trace_id may be NULL. */
void df_errors_record(df_errors *e, df_err_category cat, const char *trace_id, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
uint64_t df_errors_count(const df_errors *e, df_err_category cat);
char *df_errors_json(df_errors *e);   /* shape at the top of this file */

/* ---- usage monitor ----------------------------------------------------------------------- */

typedef struct df_usage df_usage;

/* keep_minutes of history in memory (0 = 60). dir (e.g. "logs/usage") may be NULL: no
 * files. The caller drives persistence with df_usage_tick (df_observe runs it once a
 * second); completed minutes are appended to <dir>/YYYY-MM-DD.jsonl. */
df_status df_usage_new(const char *dir, int keep_minutes, df_usage **out, df_error *err);
/* Counts calls/tokens/errors for model in the current minute. Lock-free after the model's
 * first call (at most 256 distinct models; beyond that the calls go to "_other"). */
void df_usage_add(df_usage *u, const char *model, uint32_t calls, uint32_t tokens, uint32_t errors);
/* Same with an explicit time (seconds since the Unix epoch); for tests. */
void df_usage_add_at(df_usage *u, int64_t unix_s, const char *model, uint32_t calls,
                     uint32_t tokens, uint32_t errors);
/* Persists every completed minute not yet written and clears the slots about to be reused.
 * now_unix_s = 0 means now. Returns DF_EIO (with the path) when the file cannot be written. */
df_status df_usage_tick(df_usage *u, int64_t now_unix_s, df_error *err);
/* Persists everything including the current minute (shutdown). */
df_status df_usage_flush(df_usage *u, df_error *err);
char *df_usage_json(df_usage *u);           /* shape at the top of this file */
/* Calls for model in the minute that starts at minute_unix_s (tests). */
uint64_t df_usage_calls(df_usage *u, const char *model, int64_t minute_unix_s);
void df_usage_free(df_usage *u);            /* does not flush */

/* ---- df_observe: everything a server needs ------------------------------------------------- */

typedef struct df_observe_opts {
    const char *log_dir;           /* "logs" -> logs/trace/..., logs/usage/...; NULL = no files */
    size_t trace_ring;             /* 0 = 8192 */
    uint64_t trace_max_file_bytes; /* 0 = 64 MiB */
    size_t errors_keep;            /* 0 = 50 */
    int usage_keep_minutes;        /* 0 = 60 */
} df_observe_opts;

typedef struct df_observe df_observe;

/* Metrics registered by df_observe_open (families, then children as they appear):
 *   dpuflow_requests_total{task,model,platform,status}          counter
 *   dpuflow_request_duration_seconds{stage}                     histogram (stage = tokenize,
 *                                                                 queue, infer, postprocess, total)
 *   dpuflow_batch_size                                          histogram (1, 2, 4, ..., 256)
 *   dpuflow_queue_depth{model}                                  gauge
 *   dpuflow_model_status{model,version,platform,status}         gauge (1 = current status)
 *   dpuflow_reloads_total{result}                               counter (result = ok | error)
 *   dpuflow_fallbacks_total{from,to}                            counter
 *   dpuflow_errors_total{category}                              counter
 *   dpuflow_trace_dropped_total                                 counter
 *   process_* (see df_metrics_enable_process)                   on */
df_status df_observe_open(const df_observe_opts *opts, df_observe **out, df_error *err);
/* Stops the background threads, persists usage, drains and compresses the trace log. */
void df_observe_close(df_observe *o);

/* A finished request, as the server reports it. Strings may be NULL ("" in the outputs). */
typedef struct df_request_report {
    const df_trace_ctx *trace;     /* NULL: a trace id is generated for the record */
    const char *task;
    const char *model;             /* the model that answered (or was tried last) */
    int64_t version;
    const char *platform;
    int http_status;               /* 200 ok; anything else counts as an error */
    int n_texts;
    uint32_t tokens;               /* real (unpadded) tokens, for usage */
    int batch_size;                /* the batch this request ran in (0 = unknown) */
    uint32_t stage_us[DF_STAGE_COUNT];   /* total 0 = sum of the others */
    const char *fallback_from;     /* platform (or model@platform) that failed first; NULL none */
    const char *fallback_to;
    const char *fallback_reason;
    df_err_category error_category;   /* used when http_status != 200 */
    const char *error;             /* message for the error recorder and the trace */
} df_request_report;

/* Records one request in the metrics (requests_total, stage histograms, errors_total), the
 * per-model stats, usage, the error recorder (on error) and the trace log. Non-blocking,
 * allocation-free once the label set has been seen. Fallbacks are counted here too (do not
 * also call df_observe_fallback for the same request). */
void df_observe_request(df_observe *o, const df_request_report *r);

/* One batch run by a worker (dpuflow_batch_size). */
void df_observe_batch(df_observe *o, int batch_size);
void df_observe_queue_depth(df_observe *o, const char *model, int depth);
/* A cached gauge for dpuflow_queue_depth{model} (for workers that update it per request). */
df_metric *df_observe_queue_gauge(df_observe *o, const char *model);
/* Sets dpuflow_model_status{model,version,platform,status} to 1 and every other status of
 * the same (model, version, platform) to 0. status: "active", "loading", "disabled", "error",
 * "stale", "unloaded". */
void df_observe_model_status(df_observe *o, const char *model, int64_t version,
                             const char *platform, const char *status);
void df_observe_reload(df_observe *o, bool ok);
void df_observe_fallback(df_observe *o, const char *from, const char *to);
/* An error not tied to a finished request (e.g. a registry that fails to parse). */
void df_observe_error(df_observe *o, df_err_category cat, const char *trace_id, const char *msg);

df_metrics *df_observe_metrics(df_observe *o);   /* to add server-specific metrics */
df_errors *df_observe_errors(df_observe *o);
df_usage *df_observe_usage(df_observe *o);
df_trace_log *df_observe_trace_log(df_observe *o);   /* NULL without log_dir */

char *df_observe_metrics_text(df_observe *o, size_t *len);   /* GET /metrics (malloc'd) */
char *df_observe_errors_json(df_observe *o);                 /* GET /v1/errors */
char *df_observe_usage_json(df_observe *o);                  /* GET /v1/usage */
char *df_observe_stats_json(df_observe *o);                  /* GET /v1/stats */

/* The Content-Type for /metrics. */
#define DF_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- status page ------------------------------------------------------------------------- */

/* GET /: one self-contained HTML page (no external resources) that polls /v1/registry,
 * /v1/stats, /v1/usage, /v1/errors and /metrics every 2 s. Static storage; len optional. */
const char *df_observe_status_page(size_t *len);

/* ---- load generator (dpuflow bench) ------------------------------------------------------ */

typedef struct df_bench_opts {
    const char *url;          /* http://127.0.0.1:PORT[/path]; only loopback hosts */
    const char *task;         /* POST /v1/tasks/<task> unless url has a path */
    int concurrency;          /* connections; default 1 */
    double duration_s;        /* default 10 */
    double rate;              /* 0 = closed loop; > 0 = open loop at rate req/s */
    bool poisson;             /* open loop: exponential gaps (default fixed interval) */
    const char *const *texts; /* request bodies cycle through these texts */
    size_t n_texts;
    double timeout_s;         /* per request; default 30 */
} df_bench_opts;

typedef struct df_bench_result df_bench_result;

/* Runs the load and collects every request's latency (µs, from the intended send time in
 * open loop), status and Server-Timing split. */
df_status df_bench_run(const df_bench_opts *opts, df_bench_result **out, df_error *err);
/* The JSON report: {"url", "task", "mode", "concurrency", "duration_s", "rate", "requests",
 * "ok", "errors", "errors_by_status": {"429": n, "conn": n}, "qps", "latency_ms": {"p50",
 * "p90", "p99", "max", "mean"}, "server_timing_ms": {"tokenize": {"p50", "mean"}, ...},
 * "per_second": [{"t", "n", "p50_ms", "p99_ms"}]}. malloc'd. */
char *df_bench_report_json(const df_bench_result *r);
/* Latency-over-time SVG (scatter + per-second p50/p99 lines). malloc'd. */
char *df_bench_report_svg(const df_bench_result *r);
/* One human-readable summary paragraph. malloc'd. */
char *df_bench_report_text(const df_bench_result *r);
void df_bench_result_free(df_bench_result *r);

#ifdef __cplusplus
}
#endif
#endif
