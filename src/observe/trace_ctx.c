/* Trace ids (W3C trace-context), the per-thread PRNG behind them, stage and error-category
 * names, and the Server-Timing header. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dpuflow/observe.h"
#include "dpuflow/base.h"

/* xoshiro256** (Blackman & Vigna, 2018): ids need uniqueness, not secrecy, and a getrandom
 * per request would be a syscall on the hot path. Seeded once per thread. */
static _Thread_local uint64_t rng_s[4];
static _Thread_local int rng_seeded;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(void) {
    uint64_t seed[4] = {0};
    ssize_t got = getrandom(seed, sizeof seed, GRND_NONBLOCK);
    if (got != (ssize_t)sizeof seed) {
        /* Early boot without entropy: time and addresses still differ per thread/process. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)&ts;
        for (int i = 0; i < 4; i++) seed[i] ^= splitmix64(&x);
    }
    if (!(seed[0] | seed[1] | seed[2] | seed[3])) seed[0] = 1;   /* the all-zero state is a fixed point */
    memcpy(rng_s, seed, sizeof seed);
    rng_seeded = 1;
}

static uint64_t rng_next(void) {
    if (!rng_seeded) rng_seed();
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

void df_random_bytes(void *buf, size_t n) {
    uint8_t *p = buf;
    while (n) {
        uint64_t r = rng_next();
        size_t k = n < 8 ? n : 8;
        memcpy(p, &r, k);
        p += k;
        n -= k;
    }
}

static void nonzero_random(uint8_t *p, size_t n) {
    for (;;) {
        df_random_bytes(p, n);
        for (size_t i = 0; i < n; i++)
            if (p[i]) return;
    }
}

static int hexval(char c) {
    /* The spec allows lowercase hex only. */
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static bool parse_hex(const char *s, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

df_status df_traceparent_parse(const char *v, df_trace_ctx *out, df_error *err) {
    if (!v) return df_error_set(err, DF_EINVAL, "traceparent: missing");
    size_t len = strlen(v);
    /* version "-" trace-id(32) "-" parent-id(16) "-" flags(2) */
    if (len < 55) return df_error_set(err, DF_EINVAL, "traceparent: %zu chars, need 55", len);
    uint8_t ver;
    if (!parse_hex(v, &ver, 1)) return df_error_set(err, DF_EINVAL, "traceparent: version is not 2 lowercase hex digits");
    if (ver == 0xff) return df_error_set(err, DF_EINVAL, "traceparent: version ff is invalid");
    if (v[2] != '-' || v[35] != '-' || v[52] != '-')
        return df_error_set(err, DF_EINVAL, "traceparent: fields must be separated by '-'");
    if (ver == 0 && len != 55)
        return df_error_set(err, DF_EINVAL, "traceparent: version 00 must be exactly 55 chars, got %zu", len);
    if (ver > 0 && len > 55 && v[55] != '-')
        return df_error_set(err, DF_EINVAL, "traceparent: extra data after flags must start with '-'");
    df_trace_ctx c = {0};
    if (!parse_hex(v + 3, c.trace_id, 16)) return df_error_set(err, DF_EINVAL, "traceparent: trace-id is not 32 lowercase hex digits");
    if (!parse_hex(v + 36, c.parent_id, 8)) return df_error_set(err, DF_EINVAL, "traceparent: parent-id is not 16 lowercase hex digits");
    if (!parse_hex(v + 53, &c.flags, 1)) return df_error_set(err, DF_EINVAL, "traceparent: trace-flags is not 2 lowercase hex digits");
    if (all_zero(c.trace_id, 16)) return df_error_set(err, DF_EINVAL, "traceparent: all-zero trace-id");
    if (all_zero(c.parent_id, 8)) return df_error_set(err, DF_EINVAL, "traceparent: all-zero parent-id");
    c.has_parent = true;
    nonzero_random(c.span_id, 8);
    *out = c;
    return DF_OK;
}

void df_trace_ctx_start(const char *tp, df_trace_ctx *out) {
    if (tp && df_traceparent_parse(tp, out, NULL) == DF_OK) return;
    memset(out, 0, sizeof *out);
    nonzero_random(out->trace_id, 16);
    nonzero_random(out->span_id, 8);
    out->flags = 0;
}

static void to_hex(const uint8_t *p, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

void df_trace_id_hex(const df_trace_ctx *c, char out[DF_TRACE_ID_HEX]) { to_hex(c->trace_id, 16, out); }
void df_span_id_hex(const uint8_t span[8], char out[DF_SPAN_ID_HEX]) { to_hex(span, 8, out); }

void df_traceparent_format(const df_trace_ctx *c, char out[DF_TRACEPARENT_MAX]) {
    memcpy(out, "00-", 3);
    to_hex(c->trace_id, 16, out + 3);
    out[35] = '-';
    to_hex(c->span_id, 8, out + 36);
    out[52] = '-';
    to_hex(&c->flags, 1, out + 53);
}

static const char *const stage_names[DF_STAGE_COUNT] = {"tokenize", "queue", "infer", "postprocess", "total"};

const char *df_stage_name(df_stage s) { return (unsigned)s < DF_STAGE_COUNT ? stage_names[s] : "?"; }

size_t df_server_timing_format(const uint32_t us[DF_STAGE_COUNT], char *buf, size_t cap) {
    /* "post" rather than "postprocess": Server-Timing names are short by convention. */
    static const char *const names[DF_STAGE_COUNT] = {"tokenize", "queue", "infer", "post", "total"};
    size_t n = 0;
    if (!cap) return 0;
    buf[0] = 0;
    for (int i = 0; i < DF_STAGE_COUNT; i++) {
        int k = snprintf(buf + n, cap - n, "%s%s;dur=%u.%03u", i ? ", " : "", names[i], us[i] / 1000, us[i] % 1000);
        if (k < 0) break;
        if ((size_t)k >= cap - n) return cap - 1;
        n += (size_t)k;
    }
    return n;
}

static const char *const cat_names[DF_ERRCAT_COUNT] = {"input", "routing", "overload", "timeout", "backend", "internal"};

const char *df_err_category_name(df_err_category c) { return (unsigned)c < DF_ERRCAT_COUNT ? cat_names[c] : "internal"; }

int df_err_category_parse(const char *s) {
    for (int i = 0; s && i < DF_ERRCAT_COUNT; i++)
        if (!strcmp(s, cat_names[i])) return i;
    return -1;
}

df_err_category df_err_category_for_http(int h) {
    if (h == 429) return DF_ERRCAT_OVERLOAD;
    if (h == 503) return DF_ERRCAT_ROUTING;
    if (h == 504 || h == 408) return DF_ERRCAT_TIMEOUT;
    if (h >= 400 && h < 500) return DF_ERRCAT_INPUT;
    return DF_ERRCAT_INTERNAL;
}
