/* Attention (ai.dpuflow): BERT self-attention from the input of its Q/K/V projections to the
 * merged heads, before the output projection.
 *   inputs: X [B,S,H], W [H,3A] (Q|K|V columns), bias [3A], optional mask bias M [B|1,1,1,S]
 *   attributes: num_heads (A = num_heads * d), scale (1/sqrt(d) as the model wrote it)
 *   Y[b,s,h*d+k] = sum_j softmax_j(scale * Q.K_j + M[b,j]) V[j,k]
 * One packed GEMM computes Q, K and V for every token (oneDNN, bias fused). Then each
 * (batch, head) works in a per-thread block that stays in L1/L2: K^T and V are copied into
 * contiguous tiles (V padded to a multiple of 8 columns) so the score row and the output row
 * are plain vector loops; nothing of size S x S per head is ever written to memory.
 * Produced by src/graph/fuse_attention.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ops/fused_common.h"
#include "ops/nn_math.h"

typedef struct attn_state {
    df_dnnl_mm mm;
    int64_t B, S, H, A, nh, d, dp;
    int threads;               /* per-thread work areas prepared for this many */
    size_t mm_bytes, qkv_off, work_off, work_floats;
} attn_state;

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

static df_status attn_check(const df_graph *g, const df_node *n, df_error *err) {
    const df_value *x = df_node_in(g, n, 0), *w = df_node_in(g, n, 1), *b = df_node_in(g, n, 2),
                   *m = df_node_in(g, n, 3);
    if (!x || !w || !b) return df_node_error(err, DF_EINVAL, n, "needs inputs X, W, bias");
    if (x->dtype != DF_F32 || w->dtype != DF_F32 || b->dtype != DF_F32 || (m && m->dtype != DF_F32))
        return df_node_error(err, DF_ETYPE, n, "inputs must be float32");
    int64_t nh = df_attr_int(n, "num_heads", 0);
    if (x->shape.rank != 3 || w->shape.rank != 2 || !w->has_const || !b->has_const ||
        w->shape.dims[0] != x->shape.dims[2] || nh <= 0 || w->shape.dims[1] % (3 * nh) ||
        df_shape_numel(&b->shape) != w->shape.dims[1])
        return df_node_error(err, DF_ESHAPE, n, "expects X [B,S,H], constant W [H,3A] and bias [3A], A divisible by num_heads");
    if (m) {
        const df_shape *ms = &m->shape;
        if (ms->rank != 4 || (ms->dims[0] != 1 && ms->dims[0] != x->shape.dims[0]) || ms->dims[1] != 1 ||
            ms->dims[2] != 1 || ms->dims[3] != x->shape.dims[1])
            return df_node_error(err, DF_ESHAPE, n, "mask bias '%s' must be [B or 1, 1, 1, S]", m->name);
    }
    return DF_OK;
}

static df_status attn_infer(df_graph *g, df_node *n, df_error *err) {
    df_status st = attn_check(g, n, err);
    if (st) return st;
    df_shape s = df_node_in(g, n, 0)->shape;
    s.dims[2] = df_node_in(g, n, 1)->shape.dims[1] / 3;
    df_set_out(g, n, 0, DF_F32, &s);
    return DF_OK;
}

static void attn_release(df_node *n) {
    attn_state *s = n->state;
    if (!s) return;
    df_dnnl_mm_destroy(&s->mm);
    free(s);
    n->state = NULL;
}

static df_status attn_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    df_status st = attn_check(g, n, err);
    if (st) return st;
    attn_release(n);
    attn_state *s = calloc(1, sizeof *s);
    if (!s) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    const df_value *x = df_node_in(g, n, 0), *w = df_node_in(g, n, 1), *b = df_node_in(g, n, 2);
    s->B = x->shape.dims[0], s->S = x->shape.dims[1], s->H = x->shape.dims[2];
    s->A = w->shape.dims[1] / 3;
    s->nh = df_attr_int(n, "num_heads", 0);
    s->d = s->A / s->nh;
    s->dp = (s->d + 7) & ~(int64_t)7;
    if (s->B * s->S == 0 || s->H == 0) {
        free(s);
        return df_node_error(err, DF_EUNSUPPORTED, n, "empty inputs are not supported");
    }
    if ((st = df_fused_gemm_create(&s->mm, s->B * s->S, s->H, 3 * s->A, w->value.data, b->value.data, DF_ACT_NONE, n,
                                   err))) {
        free(s);
        return st;
    }
    s->threads = df_fused_max_threads();
    s->mm_bytes = align64(s->mm.scratch_bytes);
    s->qkv_off = s->mm_bytes;
    s->work_off = s->qkv_off + align64((size_t)(s->B * s->S * 3 * s->A) * sizeof(float));
    /* K^T [d,S], V [S,dp], one score row [S], one output row [dp]. */
    s->work_floats = align64((size_t)(s->d * s->S + s->S * s->dp + s->S + s->dp) * sizeof(float)) / sizeof(float);
    *scratch_bytes = s->work_off + (size_t)s->threads * s->work_floats * sizeof(float);
    n->state = s;
    return DF_OK;
}

/* One (batch, head): Q, K, V are strided views into the packed projection. */
static void attn_head(const attn_state *s, const float *qkv, const float *mask, float *Y, int64_t b, int64_t h,
                      float scale, float *work) {
    const int64_t S = s->S, d = s->d, dp = s->dp, ld = 3 * s->A;
    float *kt = work, *vp = kt + d * S, *row = vp + S * dp, *acc = row + S;
    const float *base = qkv + b * S * ld + h * d;
    for (int64_t j = 0; j < S; j++) {
        const float *kj = base + j * ld + s->A, *vj = base + j * ld + 2 * s->A;
        for (int64_t k = 0; k < d; k++) kt[k * S + j] = kj[k];
        float *vr = vp + j * dp;
        for (int64_t k = 0; k < d; k++) vr[k] = vj[k];
        for (int64_t k = d; k < dp; k++) vr[k] = 0.0f;
    }
    for (int64_t i = 0; i < S; i++) {
        const float *qi = base + i * ld;
#pragma omp simd
        for (int64_t j = 0; j < S; j++) row[j] = 0.0f;
        for (int64_t k = 0; k < d; k++) {
            float q = qi[k];
            const float *kr = kt + k * S;
#pragma omp simd
            for (int64_t j = 0; j < S; j++) row[j] += q * kr[j];
        }
        float mx = -INFINITY;
        if (mask) {
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < S; j++) {
                row[j] = row[j] * scale + mask[j];
                mx = row[j] > mx ? row[j] : mx;
            }
        } else {
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < S; j++) {
                row[j] = row[j] * scale;
                mx = row[j] > mx ? row[j] : mx;
            }
        }
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < S; j++) {
            row[j] = df_fast_expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int64_t k = 0; k < dp; k++) acc[k] = 0.0f;
        for (int64_t j = 0; j < S; j++) {
            float p = row[j] * inv;
            const float *vr = vp + j * dp;
#pragma omp simd
            for (int64_t k = 0; k < dp; k++) acc[k] += p * vr[k];
        }
        float *yo = Y + (b * S + i) * s->A + h * d;
        for (int64_t k = 0; k < d; k++) yo[k] = acc[k];
    }
}

static df_status attn_run(const df_kernel_args *a) {
    const attn_state *s = a->node->state;
    if (!s) return df_node_error(a->err, DF_EINTERNAL, a->node, "not prepared");
    char *scr = a->scratch;
    float *qkv = (float *)(scr + s->qkv_off);
    df_status st = df_dnnl_mm_exec((df_dnnl_mm *)&s->mm, a->in[0]->data, NULL, qkv, scr, a->node, a->err);
    if (st) return st;
    const df_tensor *mt = a->n_in > 3 ? a->in[3] : NULL;
    const float *mask = mt ? mt->data : NULL;
    int64_t mstride = mt && mt->shape.dims[0] != 1 ? s->S : 0;
    float scale = df_attr_float(a->node, "scale", 1.0f);
    float *Y = a->out[0]->data;
    int threads = a->threads < s->threads ? a->threads : s->threads;
    if (threads < 1) threads = 1;
    int64_t tasks = s->B * s->nh;
    float *work0 = (float *)(scr + s->work_off);
#pragma omp parallel for num_threads(threads) if (threads > 1 && tasks > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        int64_t b = t / s->nh, h = t % s->nh;
        attn_head(s, qkv, mask ? mask + b * mstride : NULL, Y, b, h, scale, work0 + (size_t)tid * s->work_floats);
    }
    return DF_OK;
}

const df_op_def df_op_Attention = {
    .op_type = "Attention",
    .domain = "ai.dpuflow",
    .infer = attn_infer,
    .prepare = attn_prepare,
    .run = attn_run,
    .release = attn_release,
    .no_fold = 1,
};
