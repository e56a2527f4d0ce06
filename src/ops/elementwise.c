#include "ops/elementwise.h"

/* 256 floats per input keeps the conversion buffers (5 KiB) in L1 and on the stack. */
#define HALF_BLOCK 256

static void half_load(float *dst, const uint16_t *src, int64_t n, df_dtype dt) {
    if (dt == DF_F16) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) dst[i] = df_h2f(src[i]);
    } else {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) dst[i] = df_bf2f(src[i]);
    }
}

void df_half_row(int64_t n, void *out, const void *const *in, const int64_t *step, const void *ctx) {
    const df_half_ctx *h = ctx;
    float buf[DF_BCAST_MAX_IN][HALF_BLOCK];
    float obuf[HALF_BLOCK];
    const void *ptr[DF_BCAST_MAX_IN];
    for (int64_t s = 0; s < n; s += HALF_BLOCK) {
        int64_t m = n - s < HALF_BLOCK ? n - s : HALF_BLOCK;
        for (int i = 0; i < h->n_in; i++) {
            if (h->in_mask & (1u << i)) {
                half_load(buf[i], (const uint16_t *)in[i] + s * step[i], step[i] ? m : 1, h->dt);
                ptr[i] = buf[i];
            } else {
                ptr[i] = (const char *)in[i] + (size_t)(s * step[i]) * h->in_esize[i];
            }
        }
        if (!h->out_half) {
            h->f32(m, (uint8_t *)out + s, ptr, step, h->ctx);
            continue;
        }
        h->f32(m, obuf, ptr, step, h->ctx);
        uint16_t *o = (uint16_t *)out + s;
        if (h->dt == DF_F16) {
            #pragma omp simd
            for (int64_t i = 0; i < m; i++) o[i] = df_f2h(obuf[i]);
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < m; i++) o[i] = df_f2bf(obuf[i]);
        }
    }
}

df_status df_ew_check_io(const df_graph *g, const df_node *n, int min_in, int max_in, int required,
                         df_error *err) {
    if (n->n_inputs < min_in || n->n_inputs > max_in) {
        if (min_in == max_in)
            return df_node_error(err, DF_EINVAL, n, "expects %d input%s, got %d", min_in, min_in == 1 ? "" : "s",
                                 n->n_inputs);
        return df_node_error(err, DF_EINVAL, n, "expects %d to %d inputs, got %d", min_in, max_in, n->n_inputs);
    }
    for (int i = 0; i < n->n_inputs && i < required; i++) {
        const df_value *v = df_node_in(g, n, i);
        if (!v) return df_node_error(err, DF_EINVAL, n, "input %d is required but omitted", i);
    }
    for (int i = 0; i < n->n_inputs; i++) {
        const df_value *v = df_node_in(g, n, i);
        if (v && !v->shape_known)
            return df_node_error(err, DF_ESHAPE, n, "shape of input '%s' is unknown", v->name);
        if (v && v->dtype == DF_UNDEFINED)
            return df_node_error(err, DF_ETYPE, n, "dtype of input '%s' is unknown", v->name);
    }
    if (!df_node_out(g, n, 0)) return df_node_error(err, DF_EINVAL, n, "has no output");
    return DF_OK;
}

df_status df_ew_same_dtype(const df_graph *g, const df_node *n, int first, int count, df_error *err) {
    const df_value *ref = NULL;
    for (int i = first; i < first + count; i++) {
        const df_value *v = df_node_in(g, n, i);
        if (!v) continue;
        if (!ref) ref = v;
        else if (v->dtype != ref->dtype)
            return df_node_error(err, DF_ETYPE, n, "input '%s' is %s but input '%s' is %s", v->name,
                                 df_dtype_name(v->dtype), ref->name, df_dtype_name(ref->dtype));
    }
    return DF_OK;
}

df_row_fn df_ew_pick(const df_row_fn *table, df_dtype dt, int n_in, unsigned in_mask, bool out_half,
                     const void *ctx, df_half_ctx *hc, const void **ctx_out) {
    if ((unsigned)dt >= DF_NDTYPES) return NULL;
    if (table[dt]) {
        *ctx_out = ctx;
        return table[dt];
    }
    if (!df_is_half(dt) || !table[DF_F32]) return NULL;
    memset(hc, 0, sizeof *hc);
    hc->f32 = table[DF_F32];
    hc->ctx = ctx;
    hc->n_in = n_in;
    hc->dt = dt;
    hc->in_mask = in_mask;
    hc->out_half = out_half;
    *ctx_out = hc;
    return df_half_row;
}

bool df_ew_supported(const df_row_fn *table, df_dtype dt) {
    if ((unsigned)dt >= DF_NDTYPES) return false;
    return table[dt] || (df_is_half(dt) && table[DF_F32]);
}
