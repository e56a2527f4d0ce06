/* The model pool: registry -> models and versions, background loading, atomic swap, routing,
 * and the control thread that watches the registry.
 *
 * Every registry read happens on the control thread, never on the network thread. A changed
 * entry (version, sha256) is loaded there while the old version keeps serving; the swap is one
 * pointer store under the model's lock, and the old version is freed by whoever drops its last
 * reference (the swap itself, or the last batch still running on it). A load that fails leaves
 * the old version serving and the model's status "error" with the reason; an unreadable or
 * invalid registry keeps everything as it was and is reported by GET /v1/registry.
 *
 * The artifact's sha256 is checked before and after opening its sessions: writers replace the
 * artifact and then the registry, and between the two a reload must not serve new bytes under
 * the old version number. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <omp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "dpuflow/vart.h"
#include "serve/serve_internal.h"

const char *df_model_state_str(int s) {
    static const char *n[] = {"loading", "active", "error", "disabled", "unavailable", "removed"};
    return s >= 0 && s <= DF_MS_REMOVED ? n[s] : "unknown";
}

static void version_free(df_version *v) {
    if (!v) return;
    for (int w = 0; w < DF_SRV_MAX_WORKERS; w++)
        for (int i = 0; i < DF_SRV_MAX_SESS; i++)
            if (v->sess[w][i]) df_session_close(v->sess[w][i]);
    df_tokenizer_free(v->tok);
    for (size_t i = 0; i < v->n_labels; i++) free(v->labels[i]);
    free(v->labels);
    for (int i = 0; i < v->n_inputs; i++) free(v->input_names[i]);
    free(v->artifact);
    free(v->tokenizer_path);
    free(v->output_name);
    free(v);
}

void df_version_unref(df_version *v) {
    if (v && atomic_fetch_sub(&v->refs, 1) == 1) version_free(v);
}

static int role_of(const char *name, const char *ids_name) {
    if (ids_name && !strcmp(name, ids_name)) return 0;
    if (strstr(name, "mask")) return 1;
    if (strstr(name, "type")) return 2;
    return 0;
}

/* What runs an fpga entry: the board's runtime (vart: one runner per DPU subgraph in each
 * worker's session, the rest on the CPU) when its libraries load and the artifact is a .dfm
 * with the vendor xmodel beside it; else the DPU simulator. */
static const char *fpga_backend(const df_registry *reg, const df_registry_entry *e) {
    char path[PATH_MAX], xm[PATH_MAX], why[512];
    size_t n = strlen(e->artifact_path);
    if (n < 4 || strcmp(e->artifact_path + n - 4, ".dfm") || !df_registry_resolve(reg, e->artifact_path, path, sizeof path) ||
        !df_vart_xmodel_for(path, xm, sizeof xm))
        return "dpu-sim";
    if (!df_vart_available(why, sizeof why)) {
        df_log(DF_LOG_INFO, "serve: %s@fpga: %s is there, but backend vart is unavailable (%s): serving on dpu-sim",
               e->model_name, xm, why);
        return "dpu-sim";
    }
    df_log(DF_LOG_INFO, "serve: %s@fpga: serving on vart (%s)", e->model_name, xm);
    return "vart";
}

static df_status version_load(df_server *s, const df_registry *reg, const df_registry_entry *e, const char *fpga_be,
                              df_version **out, df_error *err) {
    char path[PATH_MAX], tpath[PATH_MAX];
    if (!df_registry_resolve(reg, e->artifact_path, path, sizeof path))
        return df_error_set(err, DF_ERANGE, "artifact_path too long");
    df_version *v = calloc(1, sizeof *v);
    if (!v) return df_error_set(err, DF_ENOMEM, "out of memory");
    atomic_store(&v->refs, 1);
    v->version = e->version;
    memcpy(v->sha256, e->sha256, sizeof v->sha256);
    v->artifact = strdup(path);
    v->output_name = strdup(e->output_name ? e->output_name : "logits");
    df_status st = DF_OK;
    char hex[65];
    if (e->sha256[0]) {
        if ((st = df_sha256_file(path, hex, err))) goto fail;
        if (strcmp(hex, e->sha256)) {
            st = df_error_set(err, DF_EFORMAT, "%s: sha256 %.12s... does not match the registry's %.12s...", path, hex,
                              e->sha256);
            goto fail;
        }
    }
    if (e->input_rank != 2 || e->input_shape[1] < 2) {
        st = df_error_set(err, DF_EINVAL, "input_shape must be [batch, seq] with seq >= 2");
        goto fail;
    }
    v->seq = e->input_shape[1];
    if (e->tokenizer) {
        if (!df_registry_resolve(reg, e->tokenizer, tpath, sizeof tpath)) {
            st = df_error_set(err, DF_ERANGE, "tokenizer path too long");
            goto fail;
        }
        v->tokenizer_path = strdup(tpath);
        if ((st = df_tokenizer_load(tpath, NULL, &v->tok, err))) goto fail;
    }
    if (e->n_labels) {
        v->labels = calloc(e->n_labels, sizeof *v->labels);
        for (size_t i = 0; i < e->n_labels; i++) v->labels[i] = strdup(e->labels[i]);
        v->n_labels = e->n_labels;
    }
    v->kind = e->n_labels || strstr(v->output_name, "logits") ? DF_KIND_CLASSIFY : DF_KIND_EMBED;
    /* One variable-batch plan per worker when the graph allows it (exec/batch.c); else
     * sessions for batch 1, 2, 4, ... up to the server's largest, and a model whose artifact
     * has a static batch of 1 stays at batch 1. The loader's own OpenMP team size is what
     * oneDNN partitions for, so it must be the workers' (one thread). */
    omp_set_num_threads(1);
    const bool fpga = !strcmp(e->platform, "fpga");
    /* vart runners take batch 1: larger sessions would only open runners to be refused. */
    const int sizes = fpga && !strcmp(fpga_be, "vart") ? 1 : s->sess_sizes;
    for (int w = 0; w < s->o.workers; w++) {
        for (int i = 0; i < sizes; i++) {
            df_session_opts so = {.threads = 1, .batch = (int64_t)1 << i, .seq = v->seq,
                                  .backend = fpga ? fpga_be : NULL};
            if (i == 0 && !fpga && s->o.max_batch > 1 && (w == 0 || v->var_max)) so.max_batch = s->o.max_batch;
            df_session *ss = NULL;
            df_error e2 = {0};
            st = df_session_open(path, &so, &ss, &e2);
            int var = !st ? df_session_max_batch(ss) : 0;
            if (!st && so.max_batch && w == 0) {
                if (var >= so.max_batch) v->var_max = var;
                else df_log(DF_LOG_INFO, "%s: one session per batch size (%s)", path, df_session_batch_note(ss));
            }
            if (!st) {
                df_shape sh;
                df_session_input_info(ss, 0, NULL, NULL, &sh);
                int64_t want_batch = var ? var : so.batch;
                if (sh.rank != 2 || sh.dims[0] != want_batch || sh.dims[1] != v->seq) {
                    st = df_error_set(&e2, DF_ESHAPE, "input 0 has shape rank %d [%lld,...], want [%lld,%lld]", sh.rank,
                                      (long long)sh.dims[0], (long long)so.batch, (long long)v->seq);
                    df_session_close(ss);
                    ss = NULL;
                }
            }
            if (st) {
                if (i == 0) {
                    df_error_set(err, st, "%s", e2.msg);
                    goto fail;
                }
                st = DF_OK;   /* larger batches unavailable: keep what opened */
                break;
            }
            v->sess[w][i] = ss;
            if (w == 0) v->n_sess = i + 1;
            if (v->var_max) break;
        }
    }
    df_session *s0 = v->sess[0][0];
    v->n_inputs = (int)df_session_input_count(s0);
    if (v->n_inputs > 8) {
        st = df_error_set(err, DF_EUNSUPPORTED, "%d inputs; at most 8 (ids, mask, token types)", v->n_inputs);
        goto fail;
    }
    for (int i = 0; i < v->n_inputs; i++) {
        const char *nm;
        df_dtype dt;
        df_session_input_info(s0, (size_t)i, &nm, &dt, NULL);
        if (dt != DF_I64) {
            st = df_error_set(err, DF_EUNSUPPORTED, "input %s is %s; the server feeds int64 tokens", nm,
                              df_dtype_name(dt));
            goto fail;
        }
        v->input_names[i] = strdup(nm);
        v->input_role[i] = role_of(nm, e->input_name);
    }
    v->out_index = -1;
    for (size_t i = 0; i < df_session_output_count(s0); i++) {
        const char *nm;
        df_dtype dt;
        df_shape sh;
        df_session_output_info(s0, i, &nm, &dt, &sh);
        if (!strcmp(nm, v->output_name)) {
            if (dt != DF_F32 || sh.rank != 2) {
                st = df_error_set(err, DF_EUNSUPPORTED, "output %s must be float32 [batch, dim]", nm);
                goto fail;
            }
            v->out_index = (int)i;
            v->out_dim = sh.dims[1];
        }
    }
    if (v->out_index < 0) {
        st = df_error_set(err, DF_ENOTFOUND, "the model has no output named \"%s\"", v->output_name);
        goto fail;
    }
    if (e->sha256[0]) {
        if ((st = df_sha256_file(path, hex, err))) goto fail;
        if (strcmp(hex, e->sha256)) {
            st = df_error_set(err, DF_EFORMAT, "%s changed while loading", path);
            goto fail;
        }
    }
    *out = v;
    return DF_OK;
fail:
    version_free(v);
    return st;
}

df_model *df_pool_find(df_server *s, const char *name, const char *platform) {
    int n = atomic_load_explicit(&s->n_models, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        if (!strcmp(m->name, name) && (!platform || !strcmp(m->platform, platform))) return m;
    }
    return NULL;
}

static df_model *model_get(df_server *s, const df_registry *reg, const df_registry_entry *e, df_error *err) {
    df_model *m = df_pool_find(s, e->model_name, e->platform);
    if (m) return m;
    int n = atomic_load(&s->n_models);
    if (n >= DF_SRV_MAX_MODELS) {
        df_error_set(err, DF_ERANGE, "more than %d models", DF_SRV_MAX_MODELS);
        return NULL;
    }
    m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->srv = s;
    snprintf(m->name, sizeof m->name, "%s", e->model_name);
    snprintf(m->platform, sizeof m->platform, "%s", e->platform);
    /* fpga entries run on vart with a board's runtime, else on the DPU simulator (exact DPU
     * numerics on the CPU). Decided once, when the model first appears, so its responses and
     * metrics keep one label; every later version loads on the same backend (a restart
     * decides again). */
    snprintf(m->label, sizeof m->label, "%s", !strcmp(e->platform, "fpga") ? fpga_backend(reg, e) : e->platform);
    atomic_store(&m->state, DF_MS_LOADING);
    if (df_sched_start_model(m, err)) {
        df_sched_stop_model(m);
        free(m->ring);
        free(m);
        return NULL;
    }
    s->models[n] = m;
    atomic_store_explicit(&s->n_models, n + 1, memory_order_release);
    return m;
}

static void model_swap(df_model *m, df_version *v) {
    pthread_mutex_lock(&m->mu);
    df_version *old = m->cur;
    m->cur = v;
    if (v) atomic_store(&m->kind, v->kind);
    pthread_mutex_unlock(&m->mu);
    df_version_unref(old);
}

static void set_reason(df_model *m, const char *fmt, const char *a, long long b) {
    pthread_mutex_lock(&m->mu);
    snprintf(m->reason, sizeof m->reason, fmt, a, b);
    pthread_mutex_unlock(&m->mu);
}

static void sync_entry(df_server *s, const df_registry *reg, const df_registry_entry *e) {
    df_error err = {0};
    df_model *m = model_get(s, reg, e, &err);
    if (!m) {
        df_log(DF_LOG_ERROR, "serve: %s@%s: %s", e->model_name, e->platform, err.msg);
        return;
    }
    m->seen = true;
    snprintf(m->task, sizeof m->task, "%s", e->task);
    m->entry_version = e->version;
    memcpy(m->entry_sha, e->sha256, sizeof m->entry_sha);
    bool simulated = !strcmp(e->platform, "fpga") && strcmp(m->label, "vart");
    if ((strcmp(e->platform, "cpu") && strcmp(e->platform, "fpga")) || (simulated && s->o.no_dpu_sim)) {
        /* No backend for this platform: the entry is listed and routed, and requests for it
         * move on down their fallback list. */
        atomic_store(&m->state, DF_MS_UNAVAILABLE);
        set_reason(m, simulated ? "platform %s: dpu-sim is disabled (--no-dpu-sim) and no board backend is configured%.0lld"
                                : "no backend for platform %s in this build%.0lld",
                   e->platform, 0);
        return;
    }
    if (e->status == DF_MODEL_DISABLED || m->admin_unloaded) {
        atomic_store(&m->state, DF_MS_DISABLED);
        set_reason(m, "%s%.0lld", m->admin_unloaded ? "unloaded by an admin request" : "disabled in the registry", 0);
        model_swap(m, NULL);
        return;
    }
    if (e->status == DF_MODEL_ERROR || e->status == DF_MODEL_STALE) {
        atomic_store(&m->state, DF_MS_ERROR);
        set_reason(m, "registry status: %s%.0lld", e->reason ? e->reason : df_model_status_str(e->status), 0);
        model_swap(m, NULL);
        return;
    }
    pthread_mutex_lock(&m->mu);
    bool same = m->cur && m->cur->version == e->version && !strcmp(m->cur->sha256, e->sha256);
    bool failed_before = m->failed_version == e->version && !strcmp(m->failed_sha, e->sha256);
    pthread_mutex_unlock(&m->mu);
    if (same) {
        atomic_store(&m->state, DF_MS_READY);
        return;
    }
    if (failed_before) return;
    if (!m->cur) atomic_store(&m->state, DF_MS_LOADING);
    df_version *v = NULL;
    uint64_t t0 = df_now_ns();
    if (version_load(s, reg, e, m->label, &v, &err)) {
        atomic_fetch_add(&m->load_failures, 1);
        pthread_mutex_lock(&m->mu);
        m->failed_version = e->version;
        memcpy(m->failed_sha, e->sha256, sizeof m->failed_sha);
        snprintf(m->reason, sizeof m->reason, "version %lld failed to load%s: %s", (long long)e->version,
                 m->cur ? " (the previous version keeps serving)" : "", err.msg);
        pthread_mutex_unlock(&m->mu);
        atomic_store(&m->state, DF_MS_ERROR);
        df_log(DF_LOG_WARN, "serve: %s@%s: %s", m->name, m->platform, m->reason);
        df_obs_error(s, "backend", 0, m->reason, "");
        return;
    }
    model_swap(m, v);
    atomic_fetch_add(&m->loads, 1);
    pthread_mutex_lock(&m->mu);
    m->reason[0] = 0;
    m->failed_version = 0;
    pthread_mutex_unlock(&m->mu);
    atomic_store(&m->state, DF_MS_READY);
    if (v->var_max)
        df_log(DF_LOG_INFO, "serve: %s@%s version %lld loaded in %.1f ms (one plan per worker for batches 1-%d)",
               m->name, m->platform, (long long)v->version, (df_now_ns() - t0) / 1e6, v->var_max);
    else
        df_log(DF_LOG_INFO, "serve: %s@%s version %lld loaded in %.1f ms (%d batch sizes)", m->name, m->platform,
               (long long)v->version, (df_now_ns() - t0) / 1e6, v->n_sess);
}

df_status df_pool_reload(df_server *s, df_error *err) {
    df_registry *reg = NULL;
    df_status st = df_registry_load(s->registry_path, false, &reg, err);
    if (st) {
        atomic_fetch_add(&s->reload_failures, 1);
        pthread_mutex_lock(&s->reg_mu);
        snprintf(s->reg_error, sizeof s->reg_error, "%s (the last good registry keeps serving)", err->msg);
        pthread_mutex_unlock(&s->reg_mu);
        df_log(DF_LOG_WARN, "serve: registry: %s", err->msg);
        df_obs_error(s, "internal", 0, s->reg_error, "");
        if (s->obs) df_observe_reload(s->obs, false);
        return st;
    }
    int n = atomic_load(&s->n_models);
    for (int i = 0; i < n; i++) s->models[i]->seen = false;
    for (size_t i = 0; i < df_registry_count(reg); i++) sync_entry(s, reg, df_registry_at(reg, i));
    n = atomic_load(&s->n_models);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        if (m->seen) continue;
        atomic_store(&m->state, DF_MS_REMOVED);
        model_swap(m, NULL);   /* batches running on it hold their own reference */
    }
    /* Routing: task -> ordered models, as the registry ranks them. */
    df_routing *rt = calloc(1, sizeof *rt);
    if (rt) {
        for (size_t i = 0; i < df_registry_count(reg) && rt->n_tasks < DF_SRV_MAX_TASKS; i++) {
            const char *task = df_registry_at(reg, i)->task;
            bool have = false;
            for (int t = 0; t < rt->n_tasks; t++) have |= !strcmp(rt->t[t].task, task);
            if (have) continue;
            df_route routes[DF_SRV_MAX_ROUTES];
            size_t nr = 0;
            df_error e2 = {0};
            /* A task with no active model stays known (503, not 404). */
            if (df_registry_route(reg, task, routes, DF_SRV_MAX_ROUTES, &nr, &e2)) nr = 0;
            if (nr > DF_SRV_MAX_ROUTES) nr = DF_SRV_MAX_ROUTES;
            int t = rt->n_tasks++;
            snprintf(rt->t[t].task, sizeof rt->t[t].task, "%s", task);
            for (size_t k = 0; k < nr; k++) {
                df_model *m = df_pool_find(s, routes[k].model_name, routes[k].platform);
                if (m) rt->t[t].list[rt->t[t].n++] = m;
            }
        }
        pthread_mutex_lock(&s->route_mu);
        df_routing *old = s->routing;
        s->routing = rt;
        pthread_mutex_unlock(&s->route_mu);
        free(old);   /* the network thread copies routes out under route_mu, never keeps them */
    }
    char *json = df_registry_to_json(reg, NULL);
    pthread_mutex_lock(&s->reg_mu);
    if (json) {
        free(s->reg_json);
        s->reg_json = json;
    }
    s->reg_error[0] = 0;
    df_wall_iso8601(s->reg_loaded_at);
    s->loaded_once = true;
    pthread_mutex_unlock(&s->reg_mu);
    atomic_fetch_add(&s->reloads, 1);
    if (s->obs) df_observe_reload(s->obs, true);
    df_registry_free(reg);
    return DF_OK;
}

bool df_pool_route(df_server *s, const char *task, df_req *r) {
    r->n_routes = 0;
    bool found = false;
    pthread_mutex_lock(&s->route_mu);
    df_routing *rt = s->routing;
    for (int t = 0; rt && t < rt->n_tasks; t++)
        if (!strcmp(rt->t[t].task, task)) {
            r->n_routes = rt->t[t].n;
            memcpy(r->routes, rt->t[t].list, (size_t)rt->t[t].n * sizeof(df_model *));
            found = true;
            break;
        }
    pthread_mutex_unlock(&s->route_mu);
    return found;
}

/* ---- control thread ------------------------------------------------------------------------ */

void df_server_reload(df_server *s) {
    char c = 'r';
    if (write(s->wake_pipe[1], &c, 1) < 0) { /* the pipe is full: a reload is already pending */ }
}

void df_pool_wait_reload(df_server *s, df_req *r) {
    pthread_mutex_lock(&s->reg_mu);
    if (s->n_waiters < (int)(sizeof s->waiters / sizeof s->waiters[0])) {
        s->waiters[s->n_waiters++] = r;
        pthread_mutex_unlock(&s->reg_mu);
        df_server_reload(s);
        return;
    }
    pthread_mutex_unlock(&s->reg_mu);
    df_srv_finish(r, 429, "overload", "too many reload requests waiting");
}

static void answer_waiters(df_server *s, df_status st, const char *msg) {
    pthread_mutex_lock(&s->reg_mu);
    int n = s->n_waiters;
    df_req *w[64];
    memcpy(w, s->waiters, (size_t)n * sizeof *w);
    s->n_waiters = 0;
    pthread_mutex_unlock(&s->reg_mu);
    for (int i = 0; i < n; i++) {
        df_req *r = w[i];
        if (st) {
            df_srv_finish(r, 503, "internal", msg);
            continue;
        }
        df_sb_reset(&r->out);
        df_sb_puts(&r->out, "{\"reloaded\":true,\"models\":[");
        int nm = atomic_load(&s->n_models);
        for (int k = 0; k < nm; k++) {
            df_model *m = s->models[k];
            df_version *v = df_model_acquire(m);
            df_sb_printf(&r->out, "%s{\"model\":", k ? "," : "");
            df_sb_json_str(&r->out, m->name, strlen(m->name));
            df_sb_printf(&r->out, ",\"platform\":\"%s\",\"status\":\"%s\",\"version\":%lld}", m->platform,
                         df_model_state_str(atomic_load(&m->state)), v ? (long long)v->version : 0LL);
            df_version_unref(v);
        }
        df_sb_printf(&r->out, "],\"trace_id\":\"%s\"}", r->trace_id);
        df_srv_finish(r, 200, NULL, NULL);
    }
}

static void *control_main(void *arg) {
    df_server *s = arg;
    uint64_t interval = (uint64_t)(s->o.watch_interval_s > 0 ? s->o.watch_interval_s : 30) * 1000000000ull;
    uint64_t next = df_now_ns() + interval; /* the first load ran in df_pool_start_control */
    char buf[4096] __attribute__((aligned(8)));
    while (!atomic_load(&s->stopping)) {
        struct pollfd p[2] = {{.fd = s->wake_pipe[0], .events = POLLIN}, {.fd = s->inotify_fd, .events = POLLIN}};
        uint64_t now = df_now_ns();
        int ms = now >= next ? 0 : (int)((next - now) / 1000000) + 1;
        int rc = poll(p, s->inotify_fd >= 0 ? 2 : 1, ms);
        if (atomic_load(&s->stopping)) break;
        bool go = false;
        if (rc == 0 || df_now_ns() >= next) go = true;
        if (rc > 0 && (p[0].revents & POLLIN)) {
            while (read(s->wake_pipe[0], buf, sizeof buf) > 0) {}
            go = true;
        }
        if (rc > 0 && s->inotify_fd >= 0 && (p[1].revents & POLLIN)) {
            ssize_t n;
            while ((n = read(s->inotify_fd, buf, sizeof buf)) > 0)
                for (char *q = buf; q < buf + n;) {
                    struct inotify_event *ev = (struct inotify_event *)q;
                    if (ev->len && !strcmp(ev->name, s->registry_base)) go = true;
                    q += sizeof *ev + ev->len;
                }
        }
        if (!go) continue;
        next = df_now_ns() + interval;
        df_error err = {0};
        df_status st = df_pool_reload(s, &err);
        answer_waiters(s, st, err.msg);
    }
    answer_waiters(s, DF_EIO, "server shutting down");
    return NULL;
}

df_status df_pool_start_control(df_server *s, df_error *err) {
    if (pipe(s->wake_pipe)) return df_error_set(err, DF_EIO, "pipe: %s", strerror(errno));
    /* Non-blocking both ends: wake-ups coalesce, and a full pipe already means "reload". */
    fcntl(s->wake_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(s->wake_pipe[1], F_SETFL, O_NONBLOCK);
    s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->inotify_fd >= 0 &&
        inotify_add_watch(s->inotify_fd, s->registry_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
        df_log(DF_LOG_WARN, "serve: cannot watch %s (%s); periodic checks only", s->registry_dir, strerror(errno));
        close(s->inotify_fd);
        s->inotify_fd = -1;
    }
    /* The first registry read (and model load) happens before the server listens, so a
     * request right after "listening" finds its task instead of a 404. A bad registry is
     * reported (GET /v1/registry) and retried by the watcher, not fatal. */
    df_error first = {0};
    if (df_pool_reload(s, &first)) df_log(DF_LOG_WARN, "serve: %s", first.msg);
    if (pthread_create(&s->control, NULL, control_main, s)) return df_error_set(err, DF_EIO, "cannot start the watcher");
    s->control_started = true;
    return DF_OK;
}

void df_pool_stop_control(df_server *s) {
    if (!s->control_started) return;
    atomic_store(&s->stopping, true);
    df_server_reload(s);
    pthread_join(s->control, NULL);
    s->control_started = false;
}

void df_pool_free(df_server *s) {
    int n = atomic_load(&s->n_models);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        df_sched_stop_model(m);
        df_version_unref(m->cur);
        m->cur = NULL;
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
        free(m->ring);
        free(m);
    }
    atomic_store(&s->n_models, 0);
    free(s->routing);
    s->routing = NULL;
    if (s->inotify_fd >= 0) close(s->inotify_fd);
    if (s->wake_pipe[0] > 0) close(s->wake_pipe[0]);
    if (s->wake_pipe[1] > 0) close(s->wake_pipe[1]);
}
