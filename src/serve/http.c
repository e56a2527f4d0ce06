/* HTTP: libmicrohttpd's network thread, the URL table, request parsing and the lifecycle.
 *
 * The flow of one inference request, all on the network thread until the queue:
 *   first callback      take a preallocated slot, read traceparent, check Content-Length (413)
 *   upload callbacks    append the body to the slot's buffer (kept between requests)
 *   final callback      parse and validate (400/404/413/422), route, suspend the connection,
 *                       queue on the first model that takes it (or answer 429/503 at once)
 *   worker              tokenize, infer, write the JSON answer into the slot, resume
 *   resumed callback    queue the answer (the slot's buffer, not copied) with timing headers
 *   completion          the slot goes back to the free list
 * Slots are only touched by the network thread except between suspend and resume, when one
 * worker owns the slot, so the free list needs no lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "dpuflow/base.h"
#include "serve/serve_internal.h"

void df_serve_opts_default(df_serve_opts *o) {
    *o = (df_serve_opts){
        .registry_path = "model_registry.json",
        .host = "127.0.0.1",
        .port = 8080,
        .workers = 1,
        .cpus = 0,
        .queue = 256,
        .max_batch = 8,
        .batch_delay_us = 500,
        .max_batch_tokens = 8192,
        .timeout_ms = 10000,
        .max_texts = 64,
        .max_text_bytes = 16384,
        .max_body = 1 << 20,
        .truncate = true,
        .watch_interval_s = 30,
        .drain_timeout_ms = 30000,
        .log_dir = "logs",
    };
}

int df_server_port(const df_server *s) { return s->port; }

/* ---- slots ---------------------------------------------------------------------------------- */

static df_req *slot_get(df_server *s) {
    df_req *r = s->free_slots;
    if (!r) return NULL;
    s->free_slots = r->next_free;
    r->next_free = NULL;
    return r;
}

static void slot_put(df_server *s, df_req *r) {
    r->conn = NULL;
    r->next_free = s->free_slots;
    s->free_slots = r;
}

static void slot_reset(df_req *r) {
    r->endpoint = 0;
    r->started = true;
    r->suspended = r->answered = r->too_big = false;
    atomic_store(&r->done, false);
    df_sb_reset(&r->body);
    df_sb_reset(&r->text);
    df_sb_reset(&r->out);
    df_sb_reset(&r->fallback);
    r->n_fallbacks = 0;
    r->first_failed[0] = r->first_reason[0] = 0;
    r->batch_rows = 0;
    r->task[0] = r->model_req[0] = r->v2_id[0] = 0;
    r->strict = false;
    r->truncate = r->srv->o.truncate;
    r->base64 = r->single = false;
    r->n_texts = r->raw_rows = 0;
    r->raw_has[0] = r->raw_has[1] = r->raw_has[2] = false;
    r->n_routes = r->route_i = 0;
    r->t_enq = r->t_deq = r->tok_ns = r->infer_ns = r->post_ns = r->queue_ns = 0;
    r->prompt_tokens = 0;
    r->http_status = 0;
    r->served_by = NULL;
    r->version = 0;
    r->error_type = NULL;
}

/* ---- trace ids ------------------------------------------------------------------------------ */

/* W3C trace context via observe: a valid traceparent keeps its trace id (the caller's span
 * becomes the parent); anything else starts a new trace. */
static void read_traceparent(df_req *r, const char *tp) {
    df_trace_ctx_start(tp, &r->tctx);
    df_trace_id_hex(&r->tctx, r->trace_id);
    df_span_id_hex(r->tctx.span_id, r->span_id);
}

/* ---- answers -------------------------------------------------------------------------------- */

static const char *error_type_for(int http) {
    switch (http) {
    case 400: return "malformed";
    case 401: case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "too_large";
    case 422: return "validation";
    case 429: return "overload";
    case 499: return "disconnected";
    case 503: return "unavailable";
    case 504: return "timeout";
    default: return "internal";
    }
}

void df_srv_finish(df_req *r, int http, const char *category, const char *msg) {
    df_server *s = r->srv;
    r->http_status = http;
    r->error_type = category;
    if (http >= 400) {
        df_sb_reset(&r->out);
        df_sb_puts(&r->out, "{\"error\":");
        df_sb_json_str(&r->out, msg ? msg : "", msg ? strlen(msg) : 0);
        df_sb_printf(&r->out, ",\"error_type\":\"%s\",\"trace_id\":\"%s\"", error_type_for(http), r->trace_id);
        if (r->n_fallbacks) {
            df_sb_printf(&r->out, ",\"fallback\":{\"count\":%d,\"skipped\":[", r->n_fallbacks);
            df_sb_put(&r->out, r->fallback.p, r->fallback.len);
            df_sb_puts(&r->out, "]}");
        }
        df_sb_puts(&r->out, "}");
        /* a request that reached an endpoint is recorded whole by df_obs_request_done */
        if (!r->endpoint || r->endpoint == DF_EP_ADMIN)
            df_obs_error(s, df_obs_category(http, category), http, msg ? msg : "", r->trace_id);
    }
    if (r->endpoint && r->endpoint != DF_EP_ADMIN) {
        df_obs_request_done(s, r);
        atomic_fetch_sub(&s->inflight, 1);
    }
    atomic_store_explicit(&r->done, true, memory_order_release);
    if (r->suspended) MHD_resume_connection(r->conn);
}

static enum MHD_Result send_answer(df_req *r, const char *ctype) {
    int http = r->http_status ? r->http_status : 200;
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->out.len, r->out.p, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    if (r->out.len) MHD_add_response_header(resp, "Content-Type", ctype ? ctype : "application/json");
    char tp[DF_TRACEPARENT_MAX];
    df_traceparent_format(&r->tctx, tp);
    MHD_add_response_header(resp, "traceparent", tp);
    MHD_add_response_header(resp, "X-Trace-Id", r->trace_id);
    if (r->endpoint && r->endpoint != DF_EP_ADMIN) {
        char st[200];
        snprintf(st, sizeof st, "tokenize;dur=%.3f, queue;dur=%.3f, infer;dur=%.3f, post;dur=%.3f", r->tok_ns / 1e6,
                 r->queue_ns / 1e6, r->infer_ns / 1e6, r->post_ns / 1e6);
        MHD_add_response_header(resp, "Server-Timing", st);
        if (r->served_by) {
            MHD_add_response_header(resp, "X-Model", r->served_by->name);
            MHD_add_response_header(resp, "X-Platform", r->served_by->platform);
        }
    }
    if (http == 429) MHD_add_response_header(resp, "Retry-After", "1");
    if (atomic_load(&r->srv->draining)) MHD_add_response_header(resp, "Connection", "close");
    r->answered = true;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)(http == 499 ? 400 : http), resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_now(df_req *r, int http, const char *msg) {
    df_srv_finish(r, http, NULL, msg);
    return send_answer(r, NULL);
}

static enum MHD_Result answer_text(df_req *r, int http, const char *ctype) {
    r->http_status = http;
    atomic_store(&r->done, true);
    return send_answer(r, ctype);
}

/* ---- request parsing ------------------------------------------------------------------------ */

static json_t *parse_body(df_req *r, int *http, char *msg, size_t msz) {
    json_error_t je;
    if (!r->body.len) {
        *http = 400;
        snprintf(msg, msz, "empty body: expected a JSON object");
        return NULL;
    }
    json_t *j = json_loadb(r->body.p, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        bool utf8 = strstr(je.text, "UTF-8") || strstr(je.text, "decode byte");
        *http = utf8 ? 422 : 400;
        snprintf(msg, msz, "%s JSON at line %d column %d: %s", utf8 ? "invalid UTF-8 in" : "malformed", je.line,
                 je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *http = 400;
        snprintf(msg, msz, "expected a JSON object");
        return NULL;
    }
    return j;
}

static bool get_bool(json_t *j, const char *key, bool *out, int *http, char *msg, size_t msz) {
    json_t *v = json_object_get(j, key);
    if (!v) return true;
    if (!json_is_boolean(v)) {
        *http = 422;
        snprintf(msg, msz, "\"%s\" must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* "text" (string) or "texts" / OpenAI "input" (string or array of strings) into the slot. */
static bool take_texts(df_req *r, json_t *j, const char *key_one, const char *key_many, int *http, char *msg,
                       size_t msz) {
    df_server *s = r->srv;
    json_t *one = key_one ? json_object_get(j, key_one) : NULL;
    json_t *many = json_object_get(j, key_many);
    json_t *arr = NULL;
    *http = 422;
    if (one && many) {
        snprintf(msg, msz, "give \"%s\" or \"%s\", not both", key_one, key_many);
        return false;
    }
    if (one || (many && json_is_string(many))) {
        json_t *t = one ? one : many;
        if (!json_is_string(t)) {
            snprintf(msg, msz, "\"%s\" must be a string", key_one);
            return false;
        }
        r->single = true;
    } else if (many && json_is_array(many)) {
        arr = many;
    } else {
        if (key_one) snprintf(msg, msz, "expected \"%s\" (a string) or \"%s\" (an array of strings)", key_one, key_many);
        else snprintf(msg, msz, "expected \"%s\": a string or an array of strings", key_many);
        return false;
    }
    size_t n = arr ? json_array_size(arr) : 1;
    if (n == 0) {
        snprintf(msg, msz, "\"%s\" is empty", key_many);
        return false;
    }
    if (n > (size_t)s->o.max_texts) {
        snprintf(msg, msz, "too many texts: %zu (at most %d per request)", n, s->o.max_texts);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = arr ? json_array_get(arr, i) : (one ? one : many);
        if (!json_is_string(t)) {
            snprintf(msg, msz, "%s[%zu] must be a string (token arrays are not supported; use /v2 infer)", key_many, i);
            return false;
        }
        const char *p = json_string_value(t);
        size_t len = json_string_length(t);
        size_t k = 0;
        while (k < len && (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || p[k] == '\r')) k++;
        if (k == len) {
            snprintf(msg, msz, "%s[%zu] is empty", arr ? key_many : (one ? key_one : key_many), i);
            return false;
        }
        if (len > s->o.max_text_bytes) {
            snprintf(msg, msz, "%s[%zu] is %zu bytes; at most %zu", arr ? key_many : key_one, i, len,
                     s->o.max_text_bytes);
            return false;
        }
        r->toff[i] = (uint32_t)r->text.len;
        r->tlen[i] = (uint32_t)len;
        df_sb_put(&r->text, p, len);
    }
    r->n_texts = (int)n;
    return true;
}

static bool flatten_ints(json_t *d, int64_t *out, size_t cap, size_t *n) {
    if (json_is_integer(d)) {
        if (*n >= cap) return false;
        out[(*n)++] = json_integer_value(d);
        return true;
    }
    if (!json_is_array(d)) return false;
    for (size_t i = 0; i < json_array_size(d); i++)
        if (!flatten_ints(json_array_get(d, i), out, cap, n)) return false;
    return true;
}

static bool take_tensors(df_req *r, json_t *j, int *http, char *msg, size_t msz) {
    df_server *s = r->srv;
    *http = 422;
    json_t *id = json_object_get(j, "id");
    if (json_is_string(id)) snprintf(r->v2_id, sizeof r->v2_id, "%s", json_string_value(id));
    json_t *ins = json_object_get(j, "inputs");
    if (!json_is_array(ins) || !json_array_size(ins)) {
        snprintf(msg, msz, "\"inputs\" must be a non-empty array of tensors");
        return false;
    }
    int64_t rows = -1, seq = -1;
    for (size_t i = 0; i < json_array_size(ins); i++) {
        json_t *t = json_array_get(ins, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *dt = json_string_value(json_object_get(t, "datatype"));
        json_t *shape = json_object_get(t, "shape"), *data = json_object_get(t, "data");
        if (!name || !dt || !json_is_array(shape) || !data) {
            snprintf(msg, msz, "inputs[%zu] needs name, datatype, shape and data", i);
            return false;
        }
        if (strcmp(dt, "INT64") && strcmp(dt, "INT32")) {
            snprintf(msg, msz, "inputs[%zu] (%s): datatype %s; token tensors are INT64", i, name, dt);
            return false;
        }
        if (json_array_size(shape) != 2 || !json_is_integer(json_array_get(shape, 0)) ||
            !json_is_integer(json_array_get(shape, 1))) {
            snprintf(msg, msz, "inputs[%zu] (%s): shape must be [batch, seq]", i, name);
            return false;
        }
        int64_t b = json_integer_value(json_array_get(shape, 0)), q = json_integer_value(json_array_get(shape, 1));
        if (b < 1 || b > s->o.max_texts || q < 1 || q > 8192) {
            snprintf(msg, msz, "inputs[%zu] (%s): shape [%lld,%lld] out of range (batch 1..%d)", i, name, (long long)b,
                     (long long)q, s->o.max_texts);
            return false;
        }
        if (rows >= 0 && (b != rows || q != seq)) {
            snprintf(msg, msz, "inputs[%zu] (%s): shape differs from the first input's", i, name);
            return false;
        }
        rows = b;
        seq = q;
        int role = strstr(name, "mask") ? 1 : strstr(name, "type") ? 2 : strstr(name, "ids") ? 0 : -1;
        if (role < 0) {
            snprintf(msg, msz, "inputs[%zu]: unknown input \"%s\" (input_ids, attention_mask, token_type_ids)", i, name);
            return false;
        }
        size_t need = (size_t)(b * q);
        if (need > r->raw_cap) {
            for (int k = 0; k < 3; k++) {
                int64_t *p = realloc(r->raw[k], need * sizeof(int64_t));
                if (!p) {
                    *http = 500;
                    snprintf(msg, msz, "out of memory");
                    return false;
                }
                r->raw[k] = p;
            }
            r->raw_cap = need;
        }
        size_t n = 0;
        if (!flatten_ints(data, r->raw[role], need, &n) || n != need) {
            snprintf(msg, msz, "inputs[%zu] (%s): data must hold %zu integers", i, name, need);
            return false;
        }
        for (size_t k = 0; k < n; k++) {
            int64_t x = r->raw[role][k];
            if (x < 0 || (role == 1 && x > 1) || (role == 2 && x > 1) || x > (1 << 24)) {
                snprintf(msg, msz, "inputs[%zu] (%s): value %lld at %zu out of range", i, name, (long long)x, k);
                return false;
            }
        }
        r->raw_has[role] = true;
    }
    if (!r->raw_has[0]) {
        snprintf(msg, msz, "an input named input_ids is required");
        return false;
    }
    r->raw_rows = (int)rows;
    r->raw_seq = seq;
    return true;
}

/* Routes for a model name: every platform of it, fpga before cpu (the registry's order). */
static void route_model(df_server *s, const char *name, df_req *r) {
    r->n_routes = 0;
    int n = atomic_load_explicit(&s->n_models, memory_order_acquire);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n && r->n_routes < DF_SRV_MAX_ROUTES; i++) {
            df_model *m = s->models[i];
            bool fpga = !strcmp(m->platform, "fpga");
            if (!strcmp(m->name, name) && (pass == 0) == fpga) r->routes[r->n_routes++] = m;
        }
}

static bool is_loopback(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* 0 when allowed, else the HTTP status to answer. */
static int admin_check(df_server *s, df_req *r, char *msg, size_t msz) {
    if (s->o.admin_token && s->o.admin_token[0]) {
        const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
        size_t tl = strlen(s->o.admin_token);
        if (h && !strncmp(h, "Bearer ", 7) && strlen(h + 7) == tl && !memcmp(h + 7, s->o.admin_token, tl)) return 0;
        snprintf(msg, msz, "admin endpoint: send Authorization: Bearer <token>");
        return 403;
    }
    if (is_loopback(r->conn)) return 0;
    snprintf(msg, msz, "admin endpoints answer loopback clients only (start the server with --admin-token)");
    return 403;
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static enum MHD_Result start_inference(df_server *s, df_req *r) {
    if (atomic_load(&s->draining)) return answer_now(r, 503, "server is shutting down");
    atomic_fetch_add(&s->inflight, 1);
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    df_sched_dispatch(r);
    return MHD_YES;
}

static enum MHD_Result ep_task(df_server *s, df_req *r, const char *task) {
    char msg[512];
    int http = 400;
    r->endpoint = DF_EP_TASK;
    snprintf(r->task, sizeof r->task, "%s", task);
    if (!df_pool_route(s, task, r)) {
        r->endpoint = 0;   /* counted once, as unrouted */
        snprintf(msg, sizeof msg, "unknown task \"%s\" (GET /v1/registry lists the tasks)", task);
        df_srv_finish(r, 404, "routing", msg);
        atomic_fetch_add(&s->unrouted[df_status_index(404)], 1);
        return send_answer(r, NULL);
    }
    json_t *j = parse_body(r, &http, msg, sizeof msg);
    bool ok = j && take_texts(r, j, "text", "texts", &http, msg, sizeof msg) &&
              get_bool(j, "strict_platform", &r->strict, &http, msg, sizeof msg) &&
              get_bool(j, "truncate", &r->truncate, &http, msg, sizeof msg);
    json_decref(j);
    if (!ok) {
        atomic_fetch_add(&s->inflight, 1);   /* finish counts it down */
        df_srv_finish(r, http, "input", msg);
        return send_answer(r, NULL);
    }
    return start_inference(s, r);
}

static enum MHD_Result fail_input(df_server *s, df_req *r, int http, const char *msg) {
    atomic_fetch_add(&s->inflight, 1);
    df_srv_finish(r, http, http == 404 ? "routing" : "input", msg);
    return send_answer(r, NULL);
}

static enum MHD_Result ep_embeddings(df_server *s, df_req *r) {
    char msg[512];
    int http = 400;
    r->endpoint = DF_EP_EMBED;
    json_t *j = parse_body(r, &http, msg, sizeof msg);
    if (!j) return fail_input(s, r, http, msg);
    const char *model = json_string_value(json_object_get(j, "model"));
    const char *fmt = json_string_value(json_object_get(j, "encoding_format"));
    bool ok = true;
    if (!model) {
        ok = false;
        http = 422;
        snprintf(msg, sizeof msg, "\"model\" (a string) is required");
    } else if (json_object_get(j, "encoding_format") && (!fmt || (strcmp(fmt, "float") && strcmp(fmt, "base64")))) {
        ok = false;
        http = 422;
        snprintf(msg, sizeof msg, "\"encoding_format\" must be \"float\" or \"base64\"");
    }
    if (ok) {
        r->base64 = fmt && !strcmp(fmt, "base64");
        snprintf(r->model_req, sizeof r->model_req, "%s", model);
        ok = take_texts(r, j, NULL, "input", &http, msg, sizeof msg) &&
             get_bool(j, "strict_platform", &r->strict, &http, msg, sizeof msg);
    }
    json_decref(j);
    if (!ok) return fail_input(s, r, http, msg);
    route_model(s, r->model_req, r);
    if (!r->n_routes) {   /* a task name works too */
        df_pool_route(s, r->model_req, r);
        snprintf(r->task, sizeof r->task, "%s", r->model_req);
    } else {
        snprintf(r->task, sizeof r->task, "%s", r->routes[0]->task);
    }
    if (!r->n_routes) {
        snprintf(msg, sizeof msg, "unknown model \"%s\"", r->model_req);
        return fail_input(s, r, 404, msg);
    }
    bool classifier = false;
    for (int i = 0; i < r->n_routes; i++) classifier |= atomic_load(&r->routes[i]->kind) == DF_KIND_CLASSIFY;
    if (classifier) {
        snprintf(msg, sizeof msg, "model \"%s\" is a classifier, not an embedding model", r->model_req);
        return fail_input(s, r, 422, msg);
    }
    return start_inference(s, r);
}

static enum MHD_Result ep_v2_infer(df_server *s, df_req *r, const char *model) {
    char msg[512];
    int http = 400;
    r->endpoint = DF_EP_V2_INFER;
    route_model(s, model, r);
    if (!r->n_routes) {
        snprintf(msg, sizeof msg, "unknown model \"%s\"", model);
        return fail_input(s, r, 404, msg);
    }
    snprintf(r->task, sizeof r->task, "%s", r->routes[0]->task);
    json_t *j = parse_body(r, &http, msg, sizeof msg);
    bool ok = j && take_tensors(r, j, &http, msg, sizeof msg);
    json_decref(j);
    if (!ok) return fail_input(s, r, http, msg);
    return start_inference(s, r);
}

static void v2_model_meta(df_server *s, df_req *r, df_model *m) {
    (void)s;
    df_version *v = df_model_acquire(m);
    df_sb *b = &r->out;
    df_sb_reset(b);
    df_sb_puts(b, "{\"name\":");
    df_sb_json_str(b, m->name, strlen(m->name));
    df_sb_printf(b, ",\"versions\":[\"%lld\"],\"platform\":\"dpuflow_%s\",\"state\":\"%s\"",
                 v ? (long long)v->version : (long long)m->entry_version, m->platform,
                 df_model_state_str(atomic_load(&m->state)));
    if (v) {
        df_sb_puts(b, ",\"inputs\":[");
        for (int i = 0; i < v->n_inputs; i++) {
            df_sb_printf(b, "%s{\"name\":", i ? "," : "");
            df_sb_json_str(b, v->input_names[i], strlen(v->input_names[i]));
            df_sb_printf(b, ",\"datatype\":\"INT64\",\"shape\":[-1,%lld]}", (long long)v->seq);
        }
        df_sb_puts(b, "],\"outputs\":[{\"name\":");
        df_sb_json_str(b, v->output_name, strlen(v->output_name));
        df_sb_printf(b, ",\"datatype\":\"FP32\",\"shape\":[-1,%lld]}]", (long long)v->out_dim);
    }
    df_sb_puts(b, "}");
    df_version_unref(v);
}

static void repo_index(df_server *s, df_sb *b) {
    df_sb_reset(b);
    df_sb_puts(b, "[");
    int n = atomic_load(&s->n_models);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        int st = atomic_load(&m->state);
        df_version *v = df_model_acquire(m);
        df_sb_printf(b, "%s{\"name\":", i ? "," : "");
        df_sb_json_str(b, m->name, strlen(m->name));
        df_sb_printf(b, ",\"platform\":\"%s\",\"version\":\"%lld\",\"state\":\"%s\"", m->platform,
                     v ? (long long)v->version : (long long)m->entry_version,
                     v && st != DF_MS_DISABLED && st != DF_MS_REMOVED ? "READY" : st == DF_MS_LOADING ? "LOADING"
                                                                                                       : "UNAVAILABLE");
        pthread_mutex_lock(&m->mu);
        if (m->reason[0]) {
            df_sb_puts(b, ",\"reason\":");
            df_sb_json_str(b, m->reason, strlen(m->reason));
        }
        pthread_mutex_unlock(&m->mu);
        df_sb_puts(b, "}");
        df_version_unref(v);
    }
    df_sb_puts(b, "]");
}

/* The registry's own JSON (models, task_routing_map, fallback_chain: what the status page and
 * `dpuflow registry` read) with the server's view added beside it. */
static void registry_view(df_server *s, df_sb *b) {
    df_sb_reset(b);
    pthread_mutex_lock(&s->reg_mu);
    if (s->reg_json) {
        size_t n = strlen(s->reg_json);
        while (n && s->reg_json[n - 1] != '}') n--;
        df_sb_put(b, s->reg_json, n ? n - 1 : 0);
        df_sb_puts(b, ",");
    } else {
        df_sb_puts(b, "{\"models\":[],");
    }
    df_sb_puts(b, "\"path\":");
    df_sb_json_str(b, s->registry_path, strlen(s->registry_path));
    df_sb_printf(b, ",\"loaded_at\":\"%s\",\"reloads\":%llu,\"reload_failures\":%llu,\"error\":", s->reg_loaded_at,
                 (unsigned long long)atomic_load(&s->reloads), (unsigned long long)atomic_load(&s->reload_failures));
    if (s->reg_error[0]) df_sb_json_str(b, s->reg_error, strlen(s->reg_error));
    else df_sb_puts(b, "null");
    pthread_mutex_unlock(&s->reg_mu);
    df_sb_puts(b, ",\"serving\":[");
    int n = atomic_load(&s->n_models);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        df_version *v = df_model_acquire(m);
        pthread_mutex_lock(&m->mu);
        int depth = m->count;
        df_sb_printf(b, "%s{\"model\":", i ? "," : "");
        df_sb_json_str(b, m->name, strlen(m->name));
        df_sb_printf(b, ",\"platform\":\"%s\",\"task\":", m->platform);
        df_sb_json_str(b, m->task, strlen(m->task));
        df_sb_printf(b, ",\"status\":\"%s\",\"registry_version\":%lld,\"serving_version\":", df_model_state_str(atomic_load(&m->state)),
                     (long long)m->entry_version);
        if (v) df_sb_printf(b, "%lld", (long long)v->version);
        else df_sb_puts(b, "null");
        df_sb_printf(b, ",\"queue_depth\":%d,\"queue_capacity\":%d,\"reason\":", depth, m->cap);
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
        for (int k = 0; k < s->routing->t[t].n; k++) {
            df_model *m = s->routing->t[t].list[k];
            df_sb_printf(b, "%s\"%s@%s\"", k ? "," : "", m->name, m->platform);
        }
        df_sb_puts(b, "]");
    }
    pthread_mutex_unlock(&s->route_mu);
    df_sb_puts(b, "}}");
}

static bool ready(df_server *s) {
    if (atomic_load(&s->draining)) return false;
    pthread_mutex_lock(&s->reg_mu);
    bool ok = s->loaded_once;
    pthread_mutex_unlock(&s->reg_mu);
    return ok;
}

static enum MHD_Result route_request(df_server *s, df_req *r, const char *url, const char *method) {
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    char msg[512];
    if (!strncmp(url, "/v1/tasks/", 10) && url[10] && !strchr(url + 10, '/')) {
        if (!post) return answer_now(r, 405, "use POST");
        return ep_task(s, r, url + 10);
    }
    if (!strcmp(url, "/v1/embeddings")) {
        if (!post) return answer_now(r, 405, "use POST");
        return ep_embeddings(s, r);
    }
    if (!strncmp(url, "/v2/models/", 11)) {
        char name[128];
        const char *p = url + 11, *slash = strchr(p, '/');
        size_t nl = slash ? (size_t)(slash - p) : strlen(p);
        if (!nl || nl >= sizeof name) return answer_now(r, 404, "unknown model");
        memcpy(name, p, nl);
        name[nl] = 0;
        const char *rest = slash ? slash : "";
        if (!strcmp(rest, "/infer")) {
            if (!post) return answer_now(r, 405, "use POST");
            return ep_v2_infer(s, r, name);
        }
        df_model *m = df_pool_find(s, name, "cpu");
        if (!m) m = df_pool_find(s, name, NULL);
        if (!m) {
            snprintf(msg, sizeof msg, "unknown model \"%s\"", name);
            return answer_now(r, 404, msg);
        }
        if (!get) return answer_now(r, 405, "use GET");
        if (!strcmp(rest, "") ) {
            v2_model_meta(s, r, m);
            return answer_text(r, 200, NULL);
        }
        if (!strcmp(rest, "/ready")) {
            df_version *v = df_model_acquire(m);
            int st = atomic_load(&m->state);
            bool ok = v && st != DF_MS_DISABLED && st != DF_MS_REMOVED && !atomic_load(&s->draining);
            df_version_unref(v);
            return answer_text(r, ok ? 200 : 503, NULL);
        }
        return answer_now(r, 404, "unknown model endpoint");
    }
    if (!strcmp(url, "/v2/health/live")) return answer_text(r, 200, NULL);
    if (!strcmp(url, "/v2/health/ready")) return answer_text(r, ready(s) ? 200 : 503, NULL);
    if (!strcmp(url, "/v2")) {
        df_sb_puts(&r->out, "{\"name\":\"dpuflow\",\"version\":\"0.1.0\",\"extensions\":[\"model_repository\"]}");
        return answer_text(r, 200, NULL);
    }
    if (!strcmp(url, "/v2/repository/index")) {
        if (!post) return answer_now(r, 405, "use POST");
        repo_index(s, &r->out);
        return answer_text(r, 200, NULL);
    }
    if (!strncmp(url, "/v2/repository/models/", 22) || !strcmp(url, "/v1/admin/reload")) {
        if (!post) return answer_now(r, 405, "use POST");
        int deny = admin_check(s, r, msg, sizeof msg);
        if (deny) return answer_now(r, deny, msg);
        if (!strncmp(url, "/v2/repository/models/", 22)) {   /* {m}/load|unload */
            char name[128];
            const char *p = url + 22, *slash = strrchr(p, '/');
            if (!slash || slash == p || (size_t)(slash - p) >= sizeof name) return answer_now(r, 404, "unknown endpoint");
            memcpy(name, p, (size_t)(slash - p));
            name[slash - p] = 0;
            bool load = !strcmp(slash, "/load");
            if (!load && strcmp(slash, "/unload")) return answer_now(r, 404, "unknown repository action");
            bool found = false;
            int n = atomic_load(&s->n_models);
            for (int i = 0; i < n; i++)
                if (!strcmp(s->models[i]->name, name)) {
                    pthread_mutex_lock(&s->models[i]->mu);
                    s->models[i]->admin_unloaded = !load;
                    s->models[i]->failed_version = 0;   /* an explicit load retries */
                    pthread_mutex_unlock(&s->models[i]->mu);
                    found = true;
                }
            if (!found) {
                snprintf(msg, sizeof msg, "unknown model \"%s\"", name);
                return answer_now(r, 404, msg);
            }
        }
        r->endpoint = DF_EP_ADMIN;
        MHD_suspend_connection(r->conn);
        r->suspended = true;
        df_pool_wait_reload(s, r);
        return MHD_YES;
    }
    if (!get) return answer_now(r, strcmp(url, "/") && strncmp(url, "/v1/", 4) && strcmp(url, "/metrics") ? 404 : 405,
                                "unknown endpoint or method");
    if (!strcmp(url, "/metrics")) {
        df_obs_render_metrics(s, &r->out);
        return answer_text(r, 200, "text/plain; version=0.0.4; charset=utf-8");
    }
    if (!strcmp(url, "/v1/registry")) {
        registry_view(s, &r->out);
        return answer_text(r, 200, NULL);
    }
    if (!strcmp(url, "/v1/usage")) {
        df_obs_render_usage(s, &r->out);
        return answer_text(r, 200, NULL);
    }
    if (!strcmp(url, "/v1/errors")) {
        df_obs_render_errors(s, &r->out);
        return answer_text(r, 200, NULL);
    }
    if (!strcmp(url, "/v1/stats")) {
        df_obs_render_stats(s, &r->out);
        return answer_text(r, 200, NULL);
    }
    if (!strcmp(url, "/v1/status")) {
        df_obs_render_status(s, &r->out);
        return answer_text(r, 200, NULL);
    }
    if (!strcmp(url, "/")) {
        df_sb_puts(&r->out, df_obs_status_page());
        return answer_text(r, 200, "text/html; charset=utf-8");
    }
    snprintf(msg, sizeof msg, "no endpoint %s (see docs/api.md)", url);
    return answer_now(r, 404, msg);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    df_server *s = cls;
    df_req *r = *con_cls;
    if (!r) {
        r = slot_get(s);
        if (!r) {
            static const char busy[] = "{\"error\":\"too many open requests\",\"error_type\":\"overload\",\"trace_id\":\"\"}";
            struct MHD_Response *resp =
                MHD_create_response_from_buffer(sizeof busy - 1, (void *)busy, MHD_RESPMEM_PERSISTENT);
            enum MHD_Result ret = MHD_queue_response(c, 429, resp);
            MHD_destroy_response(resp);
            return ret;
        }
        slot_reset(r);
        r->conn = c;
        r->t_start = df_now_ns();
        read_traceparent(r, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"));
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) r->too_big = true;
        *con_cls = r;
        if (r->too_big) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body over %zu bytes", s->o.max_body);
            return answer_now(r, 413, msg);
        }
        return MHD_YES;
    }
    if (r->suspended) {   /* resumed: the answer is ready */
        r->suspended = false;
        if (!atomic_load_explicit(&r->done, memory_order_acquire)) return MHD_YES;
        return send_answer(r, NULL);
    }
    if (r->answered) {   /* answered early (413): swallow the rest of the upload */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->body.len + *upload_size > s->o.max_body) r->too_big = true;
        else df_sb_put(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body over %zu bytes", s->o.max_body);
        return answer_now(r, 413, msg);
    }
    return route_request(s, r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    df_server *s = cls;
    df_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    slot_put(s, r);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

df_status df_server_start(const df_serve_opts *opts, df_server **out, df_error *err) {
    df_server *s = calloc(1, sizeof *s);
    if (!s) return df_error_set(err, DF_ENOMEM, "out of memory");
    s->o = *opts;
    s->inotify_fd = -1;
    s->wake_pipe[0] = s->wake_pipe[1] = -1;
    s->started_ns = df_now_ns();
    if (s->o.workers < 1) s->o.workers = 1;
    if (s->o.workers > DF_SRV_MAX_WORKERS) s->o.workers = DF_SRV_MAX_WORKERS;
    if (s->o.max_batch < 1) s->o.max_batch = 1;
    if (s->o.max_batch > 128) s->o.max_batch = 128;
    if (s->o.max_texts < 1) s->o.max_texts = 1;
    if (s->o.max_batch_tokens < 1) s->o.max_batch_tokens = 1 << 30;
    if (s->o.cpus <= 0) s->o.cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->o.cpus <= 0) s->o.cpus = 1;
    s->sess_sizes = 1;
    while (((1 << (s->sess_sizes - 1)) < s->o.max_batch) && s->sess_sizes < DF_SRV_MAX_SESS) s->sess_sizes++;
    const char *d = getenv("DF_SERVE_TEST_DELAY_US");
    if (d) s->test_delay_us = strtoull(d, NULL, 10);
    const char *f = getenv("DF_SERVE_TEST_FAIL_MODEL");
    if (f) snprintf(s->test_fail_model, sizeof s->test_fail_model, "%s", f);
    pthread_mutex_init(&s->route_mu, NULL);
    pthread_mutex_init(&s->reg_mu, NULL);
    pthread_mutex_init(&s->slot_mu, NULL);
    sem_init(&s->cpu_tokens, 0, (unsigned)s->o.cpus);
    df_status st = DF_OK;

    /* The registry path, its directory (watched) and base name (the events that matter). */
    char *abs = realpath(opts->registry_path, NULL);
    if (!abs) {
        st = df_error_set(err, DF_ENOTFOUND, "%s: %s", opts->registry_path, strerror(errno));
        goto fail;
    }
    s->registry_path = abs;
    char *slash = strrchr(abs, '/');
    s->registry_dir = strndup(abs, slash == abs ? 1 : (size_t)(slash - abs));
    s->registry_base = strdup(slash + 1);
    {
        df_registry *probe = NULL;
        if ((st = df_registry_load(abs, false, &probe, err))) goto fail;
        df_registry_free(probe);
    }
    df_obs_init(s);

    /* Slots: as many as connections MHD will accept, each with its per-text arrays. */
    s->n_slots = 1024;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    if (!s->slots) {
        st = df_error_set(err, DF_ENOMEM, "request slots");
        goto fail;
    }
    for (int i = s->n_slots - 1; i >= 0; i--) {
        df_req *r = &s->slots[i];
        r->srv = s;
        size_t n = (size_t)s->o.max_texts;
        r->toff = calloc(n, sizeof *r->toff);
        r->tlen = calloc(n, sizeof *r->tlen);
        r->n_tok = calloc(n, sizeof *r->n_tok);
        r->trunc = calloc(n, sizeof *r->trunc);
        if (!r->toff || !r->tlen || !r->n_tok || !r->trunc) {
            st = df_error_set(err, DF_ENOMEM, "request slots");
            goto fail;
        }
        r->next_free = s->free_slots;
        s->free_slots = r;
    }
    if ((st = df_pool_start_control(s, err))) goto fail;

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opts->port)};
    if (inet_pton(AF_INET, opts->host, &sa.sin_addr) != 1) {
        st = df_error_set(err, DF_EINVAL, "--host %s: not an IPv4 address", opts->host);
        goto fail;
    }
    s->daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                                 (uint16_t)opts->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->n_slots, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)60, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!s->daemon) {
        st = df_error_set(err, DF_EIO, "cannot listen on %s:%d (in use, or not permitted)", opts->host, opts->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : opts->port;
    *out = s;
    return DF_OK;
fail:
    df_server_free(s);
    return st;
}

int df_server_drain(df_server *s, int timeout_ms) {
    if (atomic_exchange(&s->draining, true)) return 0;
    if (s->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
    uint64_t end = df_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ull;
    while (atomic_load(&s->inflight) > 0 && df_now_ns() < end) usleep(5000);
    int cut = 0;
    /* Past the deadline: queued work is answered 503; batches running now complete. */
    int n = atomic_load(&s->n_models);
    for (int i = 0; i < n; i++) {
        df_model *m = s->models[i];
        pthread_mutex_lock(&m->mu);
        df_req *left[1024];
        int k = 0;
        while (m->count && k < 1024) {
            left[k++] = m->ring[m->head];
            m->head = (m->head + 1) % m->cap;
            m->count--;
        }
        m->rows_queued = 0;
        pthread_mutex_unlock(&m->mu);
        for (int j = 0; j < k; j++) df_srv_finish(left[j], 503, "internal", "server shut down before this request ran");
        cut += k;
    }
    df_pool_stop_control(s);
    for (int i = 0; i < n; i++) df_sched_stop_model(s->models[i]);
    /* Let the network thread send the answers just resumed. */
    uint64_t flush_end = df_now_ns() + 1000000000ull;
    while (df_now_ns() < flush_end) {
        int open = 0;
        for (int i = 0; i < s->n_slots; i++) open += s->slots[i].conn != NULL && atomic_load(&s->slots[i].done);
        if (!open) break;
        usleep(5000);
    }
    return cut;
}

void df_server_free(df_server *s) {
    if (!s) return;
    if (s->daemon) df_server_drain(s, 0);
    df_pool_stop_control(s);
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    df_pool_free(s);
    df_obs_shutdown(s);
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        df_req *r = &s->slots[i];
        df_sb_free(&r->body);
        df_sb_free(&r->text);
        df_sb_free(&r->out);
        df_sb_free(&r->fallback);
        free(r->toff);
        free(r->tlen);
        free(r->n_tok);
        free(r->trunc);
        free(r->res);
        for (int k = 0; k < 3; k++) free(r->raw[k]);
    }
    free(s->slots);
    free(s->reg_json);
    free(s->registry_path);
    free(s->registry_dir);
    free(s->registry_base);
    sem_destroy(&s->cpu_tokens);
    pthread_mutex_destroy(&s->route_mu);
    pthread_mutex_destroy(&s->reg_mu);
    pthread_mutex_destroy(&s->slot_mu);
    free(s);
}
