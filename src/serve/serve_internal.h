/* dpuflow server internals: request slots, models and versions, the scheduler.
 *
 * Threads: one libmicrohttpd network thread (parse, route, queue, send), W worker threads per
 * model (tokenize, batch, infer, write the answer), one control thread (registry watcher and
 * loader), and the caller's thread (signals). Lifetimes:
 *   - a df_req slot belongs to one connection from its first callback to MHD's completion
 *     callback; while a worker owns it the connection is suspended, so MHD cannot complete it;
 *   - a df_model (name@platform) lives until the server is freed, even after its registry
 *     entry is removed, so the network thread may hold plain pointers to it;
 *   - a df_version (one loaded artifact) is refcounted: the model's "current" reference plus
 *     one per batch running on it; the last unref frees its sessions. */
#ifndef DF_SERVE_INTERNAL_H
#define DF_SERVE_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dpuflow/observe.h"
#include "dpuflow/registry.h"
#include "dpuflow/serve.h"
#include "dpuflow/session.h"
#include "dpuflow/text.h"

#define DF_SRV_MAX_MODELS 64
#define DF_SRV_MAX_ROUTES 8
#define DF_SRV_MAX_TASKS 64
#define DF_SRV_MAX_SESS 8          /* batch sizes 1, 2, 4, ... 128 */
#define DF_SRV_MAX_WORKERS 16

struct MHD_Connection;
struct MHD_Daemon;

/* ---- a growable byte buffer, kept and reused by its owner -------------------------------- */
typedef struct df_sb {
    char *p;
    size_t len, cap;
} df_sb;
void df_sb_reset(df_sb *b);
void df_sb_put(df_sb *b, const char *s, size_t n);
void df_sb_puts(df_sb *b, const char *s);
void df_sb_printf(df_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void df_sb_json_str(df_sb *b, const char *s, size_t n);  /* quoted, escaped */
void df_sb_float(df_sb *b, float f);                     /* JSON number or null */
void df_sb_base64(df_sb *b, const void *data, size_t n);
void df_sb_free(df_sb *b);

/* ---- loaded versions and models ---------------------------------------------------------- */
typedef enum { DF_KIND_CLASSIFY = 1, DF_KIND_EMBED = 2 } df_model_kind;

typedef struct df_version {
    atomic_int refs;
    int64_t version;
    char sha256[65];
    char *artifact;        /* resolved path */
    char *tokenizer_path;
    char **labels;
    size_t n_labels;
    df_model_kind kind;
    df_tokenizer *tok;     /* NULL: tensors only (v2 infer) */
    int64_t seq;           /* fixed sequence length */
    int64_t out_dim;       /* output [batch, out_dim] */
    char *output_name;
    int n_inputs;
    int input_role[8];     /* 0 ids, 1 mask, 2 token types */
    char *input_names[8];
    int out_index;
    int n_sess;            /* sessions for batch 1, 2, 4, ... (n_sess sizes) */
    /* > 0: sess[w][0] is one variable-batch plan that runs any 1..var_max rows as they are
     * (no padding to a power of two, one copy of the weights per worker); 0: n_sess static
     * sessions (the artifact's graph cannot vary its batch, or dpu-sim). */
    int var_max;
    df_session *sess[DF_SRV_MAX_WORKERS][DF_SRV_MAX_SESS];
} df_version;

typedef enum {
    DF_MS_LOADING = 0,
    DF_MS_READY,
    DF_MS_ERROR,        /* the newest version failed to load (an older one may still serve) */
    DF_MS_DISABLED,     /* registry status disabled, or unloaded by the admin */
    DF_MS_UNAVAILABLE,  /* no backend for its platform */
    DF_MS_REMOVED,      /* no longer in the registry */
} df_model_state;
const char *df_model_state_str(int s);

#define DF_HIST_BUCKETS 16
typedef struct df_hist {
    atomic_uint_fast64_t b[DF_HIST_BUCKETS + 1];   /* last = +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
} df_hist;
extern const double df_hist_bounds_s[DF_HIST_BUCKETS];
void df_hist_observe_ns(df_hist *h, uint64_t ns);
double df_hist_quantile_s(const df_hist *h, double q);

/* HTTP statuses the server counts, by index. */
enum { DF_ST_200, DF_ST_400, DF_ST_404, DF_ST_413, DF_ST_422, DF_ST_429, DF_ST_499, DF_ST_500, DF_ST_503, DF_ST_504,
       DF_ST_COUNT };
int df_status_index(int http);
extern const int df_status_codes[DF_ST_COUNT];

typedef struct df_server df_server;
typedef struct df_req df_req;
typedef struct df_model df_model;

typedef struct df_worker {
    df_model *m;
    int index;
    pthread_t thread;
    bool started;
    df_tokenizer_ws *ws;
    int64_t *ids, *mask, *types;  /* [max rows x seq], grown when a version needs more */
    size_t cap;
    df_req **batch;
} df_worker;

struct df_model {
    df_server *srv;
    char name[128];
    char platform[16];     /* the registry's platform: what routes name */
    char label[16];        /* what answered, for responses and metrics: "cpu", "dpu-sim" */
    char task[64];
    atomic_int state;
    atomic_int kind;            /* of the serving version; 0 before the first load */
    pthread_mutex_t mu;         /* queue, cur, reason */
    pthread_cond_t cv;
    df_req **ring;
    int cap, head, count, rows_queued;
    bool stop;
    df_version *cur;            /* serving version, NULL when none */
    int64_t entry_version;      /* what the registry lists */
    char entry_sha[65];
    int64_t failed_version;     /* last version whose load failed (not retried until it changes) */
    char failed_sha[65];
    char reason[512];
    bool admin_unloaded;
    bool seen;                  /* in the registry of the current reload */
    df_worker workers[DF_SRV_MAX_WORKERS];
    int n_workers;
    /* statistics (read by /metrics and the status page) */
    atomic_uint_fast64_t requests[DF_ST_COUNT];
    atomic_uint_fast64_t fallbacks_from;   /* requests that left this model for another */
    atomic_uint_fast64_t batches, batch_rows, loads, load_failures, disconnected;
    df_hist latency;                       /* whole request, answered here */
    df_hist batch_size;                    /* rows per batch (bounds reused as counts) */
    atomic_uint_fast64_t minute_calls[60]; /* usage ring: calls in minute (t/60) % 60 */
    atomic_int_fast64_t minute_of[60];
};

typedef enum { DF_EP_TASK = 1, DF_EP_EMBED, DF_EP_V2_INFER, DF_EP_ADMIN } df_endpoint;

struct df_req {
    df_server *srv;
    struct MHD_Connection *conn;
    df_req *next_free;
    int endpoint;
    bool started, suspended, answered, too_big;
    atomic_bool done;
    /* body */
    df_sb body;
    /* identity */
    char trace_id[33];
    char span_id[17];
    df_trace_ctx tctx;
    char first_failed[200];   /* model@platform that failed or was skipped first */
    char first_reason[160];
    int batch_rows;
    char task[64];
    char model_req[128];
    bool strict, truncate, base64, single;
    /* texts, packed */
    df_sb text;
    uint32_t *toff, *tlen;
    int n_texts, texts_cap;
    /* raw tensors (v2 infer), rows x seq each */
    int64_t *raw[3];
    size_t raw_cap;
    int raw_rows;
    int64_t raw_seq;
    bool raw_has[3];
    char v2_id[128];
    /* routing */
    df_model *routes[DF_SRV_MAX_ROUTES];
    int n_routes, route_i;
    df_sb fallback;         /* JSON array items, comma separated */
    int n_fallbacks;
    /* timing, ns */
    uint64_t t_start, t_enq, t_deq, tok_ns, infer_ns, post_ns, queue_ns;
    /* result */
    float *res;             /* n_texts x out_dim */
    size_t res_cap;
    int *n_tok;
    bool *trunc;
    int prompt_tokens;
    int http_status;
    df_sb out;
    df_model *served_by;
    int64_t version;
    const char *error_type;
};

/* ---- the server -------------------------------------------------------------------------- */
typedef struct df_routing {
    int n_tasks;
    struct {
        char task[64];
        df_model *list[DF_SRV_MAX_ROUTES];
        int n;
    } t[DF_SRV_MAX_TASKS];
} df_routing;

struct df_server {
    df_serve_opts o;
    char *registry_path;
    char *registry_dir;
    char *registry_base;
    struct MHD_Daemon *daemon;
    int port;
    atomic_bool draining, stopping;
    atomic_int inflight;
    /* request slots */
    pthread_mutex_t slot_mu;
    df_req *free_slots;
    df_req *slots;
    int n_slots;
    /* models */
    df_model *models[DF_SRV_MAX_MODELS];
    atomic_int n_models;
    pthread_mutex_t route_mu;
    df_routing *routing;
    sem_t cpu_tokens;
    int sess_sizes;          /* batch sizes opened: 1..2^(sess_sizes-1) */
    /* control thread */
    pthread_t control;
    bool control_started;
    int wake_pipe[2];
    int inotify_fd;
    pthread_mutex_t reg_mu;  /* registry view and waiters */
    char *reg_json;          /* last good registry, as JSON */
    char reg_error[1024];    /* why the newest read failed; "" when it did not */
    char reg_loaded_at[32];
    atomic_uint_fast64_t reloads, reload_failures;
    df_req *waiters[64];     /* admin requests waiting for the next reload */
    int n_waiters;
    bool loaded_once;
    /* test hooks (documented in docs/api.md, test-only) */
    uint64_t test_delay_us;
    char test_fail_model[128];
    /* global counters */
    atomic_uint_fast64_t unrouted[DF_ST_COUNT];   /* answered before reaching a model */
    atomic_uint_fast64_t fallbacks;
    df_hist stage[5];                             /* tokenize, queue, infer, post, total */
    uint64_t started_ns;
    df_observe *obs;   /* NULL when it could not open: the built-in counters still work */
};

/* http.c */
void df_srv_finish(df_req *r, int http, const char *error_type, const char *msg);   /* any thread */
void df_srv_resume(df_req *r);

/* sched.c */
/* Queues r on m; returns NULL or why not ("queue full", "not ready"). Any thread. */
const char *df_sched_push(df_model *m, df_req *r);
/* Sends r down its route list after a failure on routes[route_i] (or answers 503). */
void df_sched_reroute(df_req *r, const char *reason);
/* First route that takes r, noting each skipped one; answers 503/429 when none does. */
void df_sched_dispatch(df_req *r);
df_status df_sched_start_model(df_model *m, df_error *err);
void df_sched_stop_model(df_model *m);
df_version *df_model_acquire(df_model *m);      /* +1 ref on cur, or NULL */
void df_version_unref(df_version *v);

/* pool.c */
df_status df_pool_reload(df_server *s, df_error *err);
df_status df_pool_start_control(df_server *s, df_error *err);
void df_pool_stop_control(df_server *s);
df_model *df_pool_find(df_server *s, const char *name, const char *platform);
bool df_pool_route(df_server *s, const char *task, df_req *r);   /* fills r->routes; false: unknown task */
void df_pool_wait_reload(df_server *s, df_req *r);              /* answers after the next reload */
void df_pool_free(df_server *s);

/* obs_glue.c: the seam to src/observe */
void df_obs_init(df_server *s);
void df_obs_shutdown(df_server *s);
void df_obs_request_done(df_server *s, df_req *r);
void df_obs_error(df_server *s, const char *category, int http, const char *msg, const char *trace_id);
void df_obs_render_metrics(df_server *s, df_sb *b);
void df_obs_render_usage(df_server *s, df_sb *b);
void df_obs_render_errors(df_server *s, df_sb *b);
void df_obs_render_status(df_server *s, df_sb *b);   /* server's own JSON view (/v1/status) */
void df_obs_render_stats(df_server *s, df_sb *b);    /* /v1/stats */
const char *df_obs_status_page(void);
const char *df_obs_category(int http, const char *error_type);

#endif
