/* The scheduler: one bounded queue per model, a dynamic batcher and the worker threads.
 *
 * Queue: a ring of request pointers under a mutex and a condition variable per model. A
 * lock-free ring would still need a futex for idle workers to sleep on and a timed wait for the
 * batch delay, and the critical sections here are a few stores; the only producer is the
 * network thread (plus workers rerouting after a failure), so the mutex is uncontended in
 * practice and costs no system call then. The ring is allocated once at model creation.
 *
 * CPU budget: every session runs with one intra-op thread, and a worker holds one token of a
 * counting semaphore (size --cpus, default the machine's cores) while it infers. So however
 * many models and workers exist, at most --cpus inferences run at once and the cores are never
 * oversubscribed; tokenizing and writing answers happen outside the token.
 *
 * Batching: a worker wakes on the first request, then waits up to --batch-delay-us for more
 * rows (up to --max-batch rows and --max-batch-tokens padded tokens), takes what is there and
 * runs it. A model whose graph varies its batch has one plan per worker that runs the n rows
 * as they are; otherwise sessions have static shapes, and a batch of n rows runs on the
 * session for the next power of two (1, 2, 4, 8, ...), the spare rows filled with a copy of
 * the first. A request with more texts than the largest batch runs in several chunks. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "dpuflow/base.h"
#include "serve/serve_internal.h"

static uint64_t now_ns(void) { return df_now_ns(); }

df_version *df_model_acquire(df_model *m) {
    pthread_mutex_lock(&m->mu);
    df_version *v = m->cur;
    if (v) atomic_fetch_add(&v->refs, 1);
    pthread_mutex_unlock(&m->mu);
    return v;
}

const char *df_sched_push(df_model *m, df_req *r) {
    int st = atomic_load(&m->state);
    if (st == DF_MS_UNAVAILABLE) return m->reason[0] ? m->reason : "backend unavailable";
    if (st == DF_MS_DISABLED) return "model disabled";
    if (st == DF_MS_REMOVED) return "model removed from the registry";
    pthread_mutex_lock(&m->mu);
    const char *why = NULL;
    if (!m->cur) why = st == DF_MS_LOADING ? "model still loading" : "model has no loaded version";
    else if (m->stop) why = "server shutting down";
    else if (m->count >= m->cap) why = "queue full";
    if (!why) {
        m->ring[(m->head + m->count) % m->cap] = r;
        m->count++;
        m->rows_queued += r->endpoint == DF_EP_V2_INFER ? r->raw_rows : r->n_texts;
        r->t_enq = now_ns();
        pthread_cond_signal(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
    return why;
}

static void note_fallback(df_req *r, df_model *m, const char *reason) {
    df_sb *b = &r->fallback;
    if (!r->n_fallbacks) {
        snprintf(r->first_failed, sizeof r->first_failed, "%s@%s", m->name, m->platform);
        snprintf(r->first_reason, sizeof r->first_reason, "%s", reason);
    }
    if (r->n_fallbacks++) df_sb_puts(b, ",");
    df_sb_puts(b, "{\"model\":");
    df_sb_json_str(b, m->name, strlen(m->name));
    df_sb_puts(b, ",\"platform\":");
    df_sb_json_str(b, m->platform, strlen(m->platform)); /* the route that was skipped */
    df_sb_puts(b, ",\"reason\":");
    df_sb_json_str(b, reason, strlen(reason));
    df_sb_puts(b, "}");
}

/* Tries routes[from..]; the caller holds no lock. */
static void dispatch_from(df_req *r, int from) {
    df_server *s = r->srv;
    bool strict = r->strict || s->o.strict_platform;
    bool any_full = false;
    char last[256] = "";
    for (int i = from; i < r->n_routes; i++) {
        df_model *m = r->routes[i];
        const char *why = df_sched_push(m, r);
        if (!why) {
            r->route_i = i;
            if (i > 0 && r->n_fallbacks) atomic_fetch_add(&s->fallbacks, 1);
            return;
        }
        if (!strcmp(why, "queue full")) any_full = true;
        snprintf(last, sizeof last, "%s@%s: %s", m->name, m->platform, why);
        note_fallback(r, m, why);
        atomic_fetch_add(&m->fallbacks_from, 1);
        if (strict) {
            char msg[512];
            snprintf(msg, sizeof msg, "strict platform: %s (fallback forbidden)", last);
            df_srv_finish(r, any_full ? 429 : 503, any_full ? "overload" : "routing", msg);
            return;
        }
    }
    char msg[512];
    if (any_full)
        snprintf(msg, sizeof msg, "every model that serves this request has a full queue (last: %s)", last);
    else
        snprintf(msg, sizeof msg, "no platform can serve this request (last: %s)", last[0] ? last : "no route");
    /* A full queue anywhere means the server is overloaded, not misconfigured: 429 says retry. */
    df_srv_finish(r, any_full ? 429 : 503, any_full ? "overload" : "routing", msg);
}

void df_sched_dispatch(df_req *r) {
    r->route_i = 0;
    dispatch_from(r, 0);
}

void df_sched_reroute(df_req *r, const char *reason) {
    df_model *m = r->routes[r->route_i];
    note_fallback(r, m, reason);
    atomic_fetch_add(&m->fallbacks_from, 1);
    if (r->strict || r->srv->o.strict_platform) {
        char msg[512];
        snprintf(msg, sizeof msg, "strict platform: %s@%s failed: %s (fallback forbidden)", m->name, m->platform,
                 reason);
        df_srv_finish(r, 503, "backend", msg);
        return;
    }
    dispatch_from(r, r->route_i + 1);
}

/* ---- the worker ---------------------------------------------------------------------------- */

static bool client_gone(df_req *r) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0;   /* orderly shutdown by the peer; data or EAGAIN mean it is still there */
}

static int rows_of(const df_req *r) { return r->endpoint == DF_EP_V2_INFER ? r->raw_rows : r->n_texts; }

static bool grow_worker(df_worker *w, size_t rows, int64_t seq) {
    size_t need = rows * (size_t)seq;
    if (need <= w->cap) return true;
    int64_t *a = realloc(w->ids, need * sizeof *a), *b, *c;
    if (!a) return false;
    w->ids = a;
    if (!(b = realloc(w->mask, need * sizeof *b))) return false;
    w->mask = b;
    if (!(c = realloc(w->types, need * sizeof *c))) return false;
    w->types = c;
    w->cap = need;
    return true;
}

static bool grow_res(df_req *r, size_t n_rows, int64_t dim) {
    size_t need = n_rows * (size_t)dim;
    if (need > r->res_cap) {
        float *p = realloc(r->res, need * sizeof *p);
        if (!p) return false;
        r->res = p;
        r->res_cap = need;
    }
    return true;
}

void df_respond_result(df_req *r, df_version *v);   /* respond.c */

/* Fills rows [row, row + rows_of(r)) of the worker's input buffers; 0 or an HTTP status. */
static int fill_rows(df_worker *w, df_version *v, df_req *r, size_t row, char *msg, size_t msz) {
    int64_t S = v->seq;
    if (r->endpoint == DF_EP_V2_INFER) {
        if (r->raw_seq != S) {
            snprintf(msg, msz, "input shape [%d,%lld] does not match the model's [-1,%lld]", r->raw_rows,
                     (long long)r->raw_seq, (long long)S);
            return 422;
        }
        size_t n = (size_t)r->raw_rows * S;
        memcpy(w->ids + row * S, r->raw[0], n * sizeof(int64_t));
        if (r->raw_has[1]) memcpy(w->mask + row * S, r->raw[1], n * sizeof(int64_t));
        else
            for (size_t i = 0; i < n; i++) w->mask[row * S + i] = 1;
        if (r->raw_has[2]) memcpy(w->types + row * S, r->raw[2], n * sizeof(int64_t));
        else memset(w->types + row * S, 0, n * sizeof(int64_t));
        return 0;
    }
    if (!v->tok) {
        snprintf(msg, msz, "model %s has no tokenizer in its registry entry; use /v2/models/%s/infer with tokens",
                 r->routes[r->route_i]->name, r->routes[r->route_i]->name);
        return 422;
    }
    r->prompt_tokens = 0;
    for (int t = 0; t < r->n_texts; t++) {
        const char *text = r->text.p + r->toff[t];
        size_t len = r->tlen[t], n_real = 0;
        int64_t *ids = w->ids + (row + t) * S;
        df_error err = {0};
        if (df_tokenizer_encode_ws(v->tok, w->ws, text, len, (size_t)S, ids, w->mask + (row + t) * S,
                                   w->types + (row + t) * S, &n_real, &err)) {
            snprintf(msg, msz, "texts[%d]: %s", t, err.msg);
            return 422;
        }
        bool trunc = false;
        if ((int64_t)n_real == S) {   /* full: was anything cut off? */
            int64_t tmp[1];
            size_t n = 0, total = 0;
            if (!df_tokenizer_ids(v->tok, w->ws, text, len, tmp, 1, &n, &total, &err)) trunc = (int64_t)total > S - 2;
        }
        if (trunc && !r->truncate) {
            snprintf(msg, msz, "texts[%d] is longer than the model's %lld tokens and truncation is off", t,
                     (long long)S);
            return 422;
        }
        r->n_tok[t] = (int)n_real;
        r->trunc[t] = trunc;
        r->prompt_tokens += (int)n_real;
    }
    return 0;
}

static void run_batch(df_worker *w, df_version *v, df_req **b, int n) {
    df_model *m = w->m;
    df_server *s = m->srv;
    uint64_t t0 = now_ns();
    uint64_t timeout_ns = (uint64_t)s->o.timeout_ms * 1000000ull;
    int k = 0;
    for (int i = 0; i < n; i++) {
        df_req *r = b[i];
        r->t_deq = t0;
        r->queue_ns += t0 - r->t_enq;
        if (timeout_ns && t0 - r->t_start > timeout_ns) {
            char msg[256];
            snprintf(msg, sizeof msg, "waited %llu ms in the queue of %s@%s (timeout %d ms)",
                     (unsigned long long)((t0 - r->t_enq) / 1000000), m->name, m->platform, s->o.timeout_ms);
            df_srv_finish(r, 504, "timeout", msg);
            continue;
        }
        /* Only a request that waited can have lost its client; the peek is one cheap syscall. */
        if (t0 - r->t_enq > 2000000 && client_gone(r)) {
            atomic_fetch_add(&m->disconnected, 1);
            df_srv_finish(r, 499, "input", "client disconnected while queued");
            continue;
        }
        if (!v) {
            df_sched_reroute(r, "model has no loaded version");
            continue;
        }
        b[k++] = r;
    }
    if (!k) return;
    n = k;

    /* Tokenize every request into consecutive rows; a request that fails is answered alone. */
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)rows_of(b[i]);
    size_t max_sess = v->var_max ? (size_t)v->var_max : (size_t)1 << (v->n_sess - 1);
    if (!grow_worker(w, total + max_sess, v->seq)) {
        for (int i = 0; i < n; i++) df_srv_finish(b[i], 500, "internal", "out of memory for the batch");
        return;
    }
    size_t row = 0;
    k = 0;
    for (int i = 0; i < n; i++) {
        df_req *r = b[i];
        uint64_t a = now_ns();
        char msg[768];
        int st = fill_rows(w, v, r, row, msg, sizeof msg);
        r->tok_ns = now_ns() - a;
        if (!st && !grow_res(r, (size_t)rows_of(r), v->out_dim)) {
            st = 500;
            snprintf(msg, sizeof msg, "out of memory for the result");
        }
        if (st) {
            df_srv_finish(r, st, st == 422 ? "input" : "internal", msg);
            continue;
        }
        row += (size_t)rows_of(r);
        b[k++] = r;
    }
    n = k;
    if (!n) return;

    if (s->test_delay_us) usleep((useconds_t)s->test_delay_us);
    bool fail = s->test_fail_model[0] && !strcmp(s->test_fail_model, m->name);
    df_error err = {0};
    uint64_t ti = now_ns();
    while (sem_wait(&s->cpu_tokens) && errno == EINTR) {}
    /* Run the rows in chunks of the largest session, each on the next power-of-two session. */
    size_t done = 0;
    int ri = 0, rrow = 0;   /* which request / row within it receives the next output row */
    while (!fail && done < row) {
        size_t cn = row - done < max_sess ? row - done : max_sess;
        int si = 0;
        while (!v->var_max && ((size_t)1 << si) < cn) si++;
        size_t sz = v->var_max ? cn : (size_t)1 << si;
        int64_t S = v->seq;
        for (size_t p = cn; p < sz; p++) {   /* spare rows: copies of the chunk's first */
            memcpy(w->ids + (done + p) * S, w->ids + done * S, S * sizeof(int64_t));
            memcpy(w->mask + (done + p) * S, w->mask + done * S, S * sizeof(int64_t));
            memcpy(w->types + (done + p) * S, w->types + done * S, S * sizeof(int64_t));
        }
        df_tensor in[8];
        int64_t dims[2] = {(int64_t)sz, S};
        for (int i = 0; i < v->n_inputs; i++) {
            int64_t *base = v->input_role[i] == 0 ? w->ids : v->input_role[i] == 1 ? w->mask : w->types;
            in[i] = (df_tensor){.dtype = DF_I64, .shape = df_shape_make(2, dims), .data = base + done * S,
                                .nbytes = sz * S * sizeof(int64_t)};
        }
        df_session *sess = v->sess[w->index][si];
        size_t n_out = df_session_output_count(sess);
        df_tensor out[8];
        if (n_out > 8) n_out = 8;
        if (df_session_run(sess, in, (size_t)v->n_inputs, out, n_out, &err)) {
            fail = true;
            break;
        }
        const float *o = out[v->out_index].data;
        for (size_t p = 0; p < cn; p++) {
            df_req *r = b[ri];
            memcpy(r->res + (size_t)rrow * v->out_dim, o + p * v->out_dim, v->out_dim * sizeof(float));
            if (++rrow == rows_of(r)) {
                ri++;
                rrow = 0;
            }
        }
        done += cn;
    }
    sem_post(&s->cpu_tokens);
    uint64_t infer = now_ns() - ti;
    atomic_fetch_add(&m->batches, 1);
    atomic_fetch_add(&m->batch_rows, row);
    int bi = 0;   /* batch histogram buckets: le 1, 2, 4, ... 128, +Inf */
    while (bi < 8 && ((size_t)1 << bi) < row) bi++;
    atomic_fetch_add_explicit(&m->batch_size.b[bi], 1, memory_order_relaxed);
    if (s->obs) df_observe_batch(s->obs, (int)row);
    for (int i = 0; i < n; i++) b[i]->batch_rows = (int)row;
    if (fail) {
        char why[600];
        snprintf(why, sizeof why, "backend failure: %s", err.msg[0] ? err.msg : "injected by DF_SERVE_TEST_FAIL_MODEL");
        df_obs_error(s, "backend", 500, why, b[0]->trace_id);
        for (int i = 0; i < n; i++) df_sched_reroute(b[i], why);
        return;
    }
    for (int i = 0; i < n; i++) {
        df_req *r = b[i];
        r->infer_ns = infer;
        r->served_by = m;
        r->version = v->version;
        uint64_t a = now_ns();
        df_respond_result(r, v);
        r->post_ns = now_ns() - a;
        df_srv_finish(r, 200, NULL, NULL);
    }
}

static void *worker_main(void *arg) {
    df_worker *w = arg;
    df_model *m = w->m;
    df_server *s = m->srv;
    omp_set_num_threads(1);
    int cap_rows = s->o.max_batch;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        while (!m->count && !m->stop) pthread_cond_wait(&m->cv, &m->mu);
        if (!m->count && m->stop) {
            pthread_mutex_unlock(&m->mu);
            break;
        }
        if (s->o.batch_delay_us > 0 && m->rows_queued < cap_rows && !m->stop) {
            uint64_t deadline = m->ring[m->head]->t_enq + (uint64_t)s->o.batch_delay_us * 1000ull;
            struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull), .tv_nsec = (long)(deadline % 1000000000ull)};
            while (m->count && m->rows_queued < cap_rows && !m->stop && now_ns() < deadline)
                if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT) break;
            if (!m->count) {
                pthread_mutex_unlock(&m->mu);
                continue;
            }
        }
        int n = 0, rows = 0;
        int64_t seq = m->cur ? m->cur->seq : 0;
        while (m->count && n < cap_rows) {
            df_req *r = m->ring[m->head];
            int rr = rows_of(r);
            if (n && (rows + rr > cap_rows || (int64_t)(rows + rr) * seq > s->o.max_batch_tokens)) break;
            m->head = (m->head + 1) % m->cap;
            m->count--;
            m->rows_queued -= rr;
            w->batch[n++] = r;
            rows += rr;
        }
        df_version *v = m->cur;
        if (v) atomic_fetch_add(&v->refs, 1);
        pthread_mutex_unlock(&m->mu);
        run_batch(w, v, w->batch, n);
        if (v) df_version_unref(v);
    }
    return NULL;
}

df_status df_sched_start_model(df_model *m, df_error *err) {
    df_server *s = m->srv;
    m->cap = s->o.queue > 0 ? s->o.queue : 1;
    m->ring = calloc((size_t)m->cap, sizeof *m->ring);
    if (!m->ring) return df_error_set(err, DF_ENOMEM, "model %s: queue of %d", m->name, m->cap);
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    m->n_workers = s->o.workers;
    for (int i = 0; i < m->n_workers; i++) {
        df_worker *w = &m->workers[i];
        w->m = m;
        w->index = i;
        w->ws = df_tokenizer_ws_new();
        w->batch = calloc((size_t)s->o.max_batch + 1, sizeof *w->batch);
        if (!w->ws || !w->batch) return df_error_set(err, DF_ENOMEM, "model %s: worker %d", m->name, i);
        if (pthread_create(&w->thread, NULL, worker_main, w))
            return df_error_set(err, DF_EIO, "model %s: cannot start worker %d", m->name, i);
        w->started = true;
    }
    return DF_OK;
}

void df_sched_stop_model(df_model *m) {
    if (!m->ring) return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < m->n_workers; i++) {
        df_worker *w = &m->workers[i];
        if (w->started) pthread_join(w->thread, NULL);
        w->started = false;
        df_tokenizer_ws_free(w->ws);
        w->ws = NULL;
        free(w->ids);
        free(w->mask);
        free(w->types);
        free(w->batch);
        w->ids = w->mask = w->types = NULL;
        w->batch = NULL;
    }
}
