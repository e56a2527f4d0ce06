/* Answers: the JSON a worker writes into the request's own buffer (kept between requests, so
 * a steady state writes answers without allocating), and the byte-buffer helpers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_internal.h"

static void sb_reserve(df_sb *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) abort();   /* a server that cannot grow a reply buffer has no sane way on */
    b->p = p;
    b->cap = cap;
}

void df_sb_reset(df_sb *b) {
    b->len = 0;
    if (b->p) b->p[0] = 0;
}

void df_sb_put(df_sb *b, const char *s, size_t n) {
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void df_sb_puts(df_sb *b, const char *s) { df_sb_put(b, s, strlen(s)); }

void df_sb_printf(df_sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        df_sb_put(b, tmp, (size_t)n);
        return;
    }
    sb_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void df_sb_json_str(df_sb *b, const char *s, size_t n) {
    sb_reserve(b, n + 2);
    b->p[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            df_sb_put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            df_sb_put(b, e, 6);
        } else {
            sb_reserve(b, 1);
            b->p[b->len++] = (char)c;
        }
    }
    sb_reserve(b, 1);
    b->p[b->len++] = '"';
    b->p[b->len] = 0;
}

void df_sb_float(df_sb *b, float f) {
    if (!isfinite(f)) {
        df_sb_put(b, "null", 4);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.9g", (double)f);   /* 9 digits round-trip a float */
    df_sb_put(b, tmp, (size_t)n);
}

void df_sb_base64(df_sb *b, const void *data, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    sb_reserve(b, (n + 2) / 3 * 4);
    char *o = b->p + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = A[v >> 18];
        *o++ = A[(v >> 12) & 63];
        *o++ = A[(v >> 6) & 63];
        *o++ = A[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = A[v >> 18];
        *o++ = A[(v >> 12) & 63];
        *o++ = i + 1 < n ? A[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}

void df_sb_free(df_sb *b) {
    free(b->p);
    *b = (df_sb){0};
}

/* ---- results ------------------------------------------------------------------------------ */

static void put_common_tail(df_req *r, df_model *m, df_sb *b) {
    df_sb_puts(b, ",\"model\":");
    df_sb_json_str(b, m->name, strlen(m->name));
    df_sb_printf(b, ",\"version\":%lld,\"platform\":", (long long)r->version);
    df_sb_json_str(b, m->label, strlen(m->label));
    df_sb_printf(b, ",\"trace_id\":\"%s\"", r->trace_id);
    if (r->n_fallbacks) {
        df_sb_puts(b, ",\"fallback\":{\"count\":");
        df_sb_printf(b, "%d,\"skipped\":[", r->n_fallbacks);
        df_sb_put(b, r->fallback.p, r->fallback.len);
        df_sb_puts(b, "]}");
    }
    df_sb_printf(b, ",\"timing_ms\":{\"tokenize\":%.3f,\"queue\":%.3f,\"infer\":%.3f}", r->tok_ns / 1e6,
                 r->queue_ns / 1e6, r->infer_ns / 1e6);
}

/* Softmax with the max subtracted, as every framework does, so large logits do not overflow. */
static void softmax(const float *x, size_t n, float *out) {
    float mx = x[0];
    for (size_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += out[i] = expf(x[i] - mx);
    for (size_t i = 0; i < n; i++) out[i] = (float)(out[i] / sum);
}

static void write_task(df_req *r, df_version *v, df_model *m) {
    df_sb *b = &r->out;
    df_sb_reset(b);
    df_sb_puts(b, "{\"task\":");
    df_sb_json_str(b, r->task, strlen(r->task));
    df_sb_puts(b, ",\"kind\":");
    df_sb_puts(b, v->kind == DF_KIND_CLASSIFY ? "\"classification\"" : "\"embedding\"");
    df_sb_puts(b, ",\"results\":[");
    size_t D = (size_t)v->out_dim;
    float probs[1024];
    for (int t = 0; t < r->n_texts; t++) {
        const float *x = r->res + (size_t)t * D;
        if (t) df_sb_puts(b, ",");
        df_sb_printf(b, "{\"tokens\":%d,\"truncated\":%s,", r->n_tok[t], r->trunc[t] ? "true" : "false");
        if (v->kind == DF_KIND_CLASSIFY && D <= 1024) {
            softmax(x, D, probs);
            size_t best = 0;
            for (size_t i = 1; i < D; i++) best = probs[i] > probs[best] ? i : best;
            char lab[32];
            const char *bl = best < v->n_labels ? v->labels[best] : (snprintf(lab, sizeof lab, "LABEL_%zu", best), lab);
            df_sb_puts(b, "\"label\":");
            df_sb_json_str(b, bl, strlen(bl));
            df_sb_puts(b, ",\"score\":");
            df_sb_float(b, probs[best]);
            df_sb_puts(b, ",\"scores\":[");
            for (size_t i = 0; i < D; i++) {
                const char *l = i < v->n_labels ? v->labels[i] : (snprintf(lab, sizeof lab, "LABEL_%zu", i), lab);
                df_sb_puts(b, i ? ",{\"label\":" : "{\"label\":");
                df_sb_json_str(b, l, strlen(l));
                df_sb_puts(b, ",\"score\":");
                df_sb_float(b, probs[i]);
                df_sb_puts(b, "}");
            }
            df_sb_puts(b, "]}");
        } else {
            df_sb_printf(b, "\"dim\":%zu,\"embedding\":[", D);
            for (size_t i = 0; i < D; i++) {
                if (i) df_sb_puts(b, ",");
                df_sb_float(b, x[i]);
            }
            df_sb_puts(b, "]}");
        }
    }
    df_sb_puts(b, "]");
    put_common_tail(r, m, b);
    df_sb_puts(b, "}");
}

static void write_embeddings(df_req *r, df_version *v, df_model *m) {
    df_sb *b = &r->out;
    df_sb_reset(b);
    df_sb_puts(b, "{\"object\":\"list\",\"data\":[");
    size_t D = (size_t)v->out_dim;
    for (int t = 0; t < r->n_texts; t++) {
        const float *x = r->res + (size_t)t * D;
        df_sb_printf(b, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", t ? "," : "", t);
        if (r->base64) {
            /* OpenAI's base64 is the little-endian float32 bytes; x86 and ARM Linux are LE. */
            df_sb_puts(b, "\"");
            df_sb_base64(b, x, D * sizeof(float));
            df_sb_puts(b, "\"}");
        } else {
            df_sb_puts(b, "[");
            for (size_t i = 0; i < D; i++) {
                if (i) df_sb_puts(b, ",");
                df_sb_float(b, x[i]);
            }
            df_sb_puts(b, "]}");
        }
    }
    df_sb_puts(b, "],\"model\":");
    df_sb_json_str(b, m->name, strlen(m->name));
    df_sb_printf(b, ",\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}", r->prompt_tokens, r->prompt_tokens);
    df_sb_printf(b, ",\"version\":%lld,\"platform\":", (long long)r->version);
    df_sb_json_str(b, m->label, strlen(m->label));
    df_sb_printf(b, ",\"trace_id\":\"%s\"", r->trace_id);
    if (r->n_fallbacks) {
        df_sb_printf(b, ",\"fallback\":{\"count\":%d,\"skipped\":[", r->n_fallbacks);
        df_sb_put(b, r->fallback.p, r->fallback.len);
        df_sb_puts(b, "]}");
    }
    df_sb_puts(b, "}");
}

static void write_v2(df_req *r, df_version *v, df_model *m) {
    df_sb *b = &r->out;
    df_sb_reset(b);
    df_sb_puts(b, "{\"model_name\":");
    df_sb_json_str(b, m->name, strlen(m->name));
    df_sb_printf(b, ",\"model_version\":\"%lld\"", (long long)v->version);
    if (r->v2_id[0]) {
        df_sb_puts(b, ",\"id\":");
        df_sb_json_str(b, r->v2_id, strlen(r->v2_id));
    }
    df_sb_puts(b, ",\"outputs\":[{\"name\":");
    df_sb_json_str(b, v->output_name, strlen(v->output_name));
    df_sb_printf(b, ",\"datatype\":\"FP32\",\"shape\":[%d,%lld],\"data\":[", r->raw_rows, (long long)v->out_dim);
    size_t n = (size_t)r->raw_rows * (size_t)v->out_dim;
    for (size_t i = 0; i < n; i++) {
        if (i) df_sb_puts(b, ",");
        df_sb_float(b, r->res[i]);
    }
    df_sb_puts(b, "]}]");
    df_sb_printf(b, ",\"parameters\":{\"platform\":\"%s\",\"trace_id\":\"%s\"}}", m->label, r->trace_id);
}

void df_respond_result(df_req *r, df_version *v) {
    df_model *m = r->routes[r->route_i];
    if (r->endpoint == DF_EP_TASK) write_task(r, v, m);
    else if (r->endpoint == DF_EP_EMBED) write_embeddings(r, v, m);
    else write_v2(r, v, m);
}
