/* Attention (ai.dpuflow): BERT self-attention from the input of its Q/K/V projections to the
 * merged heads, before the output projection.
 *   inputs: X [B,S,H], W [H,3A] (Q|K|V columns), bias [3A], optional mask bias M [B|1,1,1,S]
 *   attributes: num_heads (A = num_heads * d), scale (1/sqrt(d) as the model wrote it)
 *   Y[b,s,h*d+k] = sum_j softmax_j(scale * Q.K_j + M[b,j]) V[j,k]
 * One packed GEMM computes Q, K and V for every token, bias fused (the prepacked sgemm where
 * oneDNN would leave the weights unpacked, see ops/sgemm.h; oneDNN otherwise). Then each
 * (batch, head) works in a per-thread block that stays in L1/L2 (about 31 KB for S=64, d=26):
 * K^T and V are copied into contiguous zero-padded tiles so both small products run as
 * register-blocked 4x16 kernels, and the S x S scores never leave that block.
 * Produced by src/graph/fuse_attention.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ops/fused_common.h"
#include "ops/nn_math.h"
#include "ops/sgemm.h"

typedef struct attn_state {
    df_dnnl_mm_rows mm;
    bool use_sgemm;
    df_sgemm_b sg;
    int64_t B, S, H, A, nh, d, dp, Sp;
    int threads;               /* per-thread work areas prepared for this many */
    size_t mm_bytes, qkv_off, work_off, work_floats;
} attn_state;

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* The mask bias m (optional) against the activations x [B,S,...]: [B or 1, 1, 1, S]. */
static df_status mask_check(const df_value *x, const df_value *m, const df_node *n, df_error *err) {
    if (!m) return DF_OK;
    const df_shape *ms = &m->shape;
    if (ms->rank != 4 || (ms->dims[0] != 1 && ms->dims[0] != x->shape.dims[0]) || ms->dims[1] != 1 ||
        ms->dims[2] != 1 || ms->dims[3] != x->shape.dims[1])
        return df_node_error(err, DF_ESHAPE, n, "mask bias '%s' must be [B or 1, 1, 1, S]", m->name);
    return DF_OK;
}

/* Head geometry and the per-thread work area of attn_head, from B, S, A and num_heads. */
static void head_layout(attn_state *s) {
    s->d = s->A / s->nh;
    s->dp = (s->d + 15) & ~(int64_t)15;
    s->Sp = (s->S + 15) & ~(int64_t)15;
    s->threads = df_fused_max_threads();
    /* K^T [d,Sp], V [S,dp], scores [S,Sp], 1/sum [S]. */
    s->work_floats = align64((size_t)(s->d * s->Sp + s->S * s->dp + s->S * s->Sp + s->S) * sizeof(float)) / sizeof(float);
}

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
    return mask_check(x, m, n, err);
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
    df_dnnl_mm_rows_destroy(&s->mm);
    df_sgemm_b_free(&s->sg);
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
    head_layout(s);
    if (s->B * s->S == 0 || s->H == 0) {
        free(s);
        return df_node_error(err, DF_EUNSUPPORTED, n, "empty inputs are not supported");
    }
    size_t gemm_bytes;
    /* B is the largest batch a variable-batch plan serves; kernels are chosen for one. */
    int max_mult = df_node_max_batch(g, n, 0);
    int64_t unit_rows = s->B * s->S / max_mult;
    if (df_sgemm_use(unit_rows, s->H, 3 * s->A)) {
        df_error e2;
        if ((st = df_sgemm_pack_b(&s->sg, s->H, 3 * s->A, w->value.data, 3 * s->A, 1, 1.0f, b->value.data, &e2))) {
            free(s);
            return df_node_error(err, st, n, "%s", e2.msg);
        }
        s->use_sgemm = true;
        gemm_bytes = df_sgemm_workspace_bytes(s->B * s->S, s->H, 1);
    } else {
        if ((st = df_fused_gemm_create(&s->mm, unit_rows, max_mult, s->H, 3 * s->A, w->value.data, b->value.data,
                                       DF_ACT_NONE, n, err))) {
            free(s);
            return st;
        }
        gemm_bytes = s->mm.scratch_bytes;
    }
    s->mm_bytes = align64(gemm_bytes);
    s->qkv_off = s->mm_bytes;
    s->work_off = s->qkv_off + align64((size_t)(s->B * s->S * 3 * s->A) * sizeof(float));
    *scratch_bytes = s->work_off + (size_t)s->threads * s->work_floats * sizeof(float);
    n->state = s;
    return DF_OK;
}

/* 8-float vectors: AVX2+FMA intrinsics when the build targets them (-march=native here), else
 * plain arrays the compiler may vectorize. Unaligned loads: tiles start at arbitrary rows. */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 v8;
#define V8_ZERO() _mm256_setzero_ps()
#define V8_LOAD(p) _mm256_loadu_ps(p)
#define V8_STORE(p, v) _mm256_storeu_ps(p, v)
#define V8_SET1(x) _mm256_set1_ps(x)
#define V8_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V8_MUL(a, b) _mm256_mul_ps(a, b)
#else
typedef float v8 __attribute__((vector_size(32)));
static inline v8 v8_load(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline v8 v8_set1(float x) { return (v8){x, x, x, x, x, x, x, x}; }
#define V8_ZERO() ((v8){0})
#define V8_LOAD(p) v8_load(p)
#define V8_STORE(p, v) do { v8 t_ = (v); memcpy((p), &t_, sizeof t_); } while (0)
#define V8_SET1(x) v8_set1(x)
#define V8_FMA(a, b, c) ((a) * (b) + (c))
#define V8_MUL(a, b) ((a) * (b))
#endif

/* One (batch, head). Q, K, V are strided views into the packed projection; K^T [d,Sp] and
 * V [S,dp] are copied into zero-padded tiles (Sp, dp multiples of 16) so both products run as
 * 4-row x 16-column register blocks; the exp'd scores P [S,Sp] stay in this thread's block. */
static void attn_head(const attn_state *s, const float *qkv, const float *mask, float *Y, int64_t b, int64_t h,
                      float scale, float *work) {
    const int64_t S = s->S, Sp = s->Sp, d = s->d, dp = s->dp, ld = 3 * s->A;
    float *kt = work, *vp = kt + d * Sp, *P = vp + S * dp, *inv = P + S * Sp;
    const float *base = qkv + b * S * ld + h * d;
    for (int64_t j = 0; j < S; j++) {
        const float *kj = base + j * ld + s->A, *vj = base + j * ld + 2 * s->A;
        for (int64_t k = 0; k < d; k++) kt[k * Sp + j] = kj[k];
        float *vr = vp + j * dp;
        for (int64_t k = 0; k < d; k++) vr[k] = vj[k];
        for (int64_t k = d; k < dp; k++) vr[k] = 0.0f;
    }
    for (int64_t j = S; j < Sp; j++)
        for (int64_t k = 0; k < d; k++) kt[k * Sp + j] = 0.0f;
    /* scores = Q K^T */
    for (int64_t i0 = 0; i0 < S; i0 += 4) {
        int64_t nr = S - i0 < 4 ? S - i0 : 4;
        const float *q[4];
        for (int r = 0; r < 4; r++) q[r] = base + (i0 + (r < nr ? r : 0)) * ld;
        for (int64_t j0 = 0; j0 < Sp; j0 += 16) {
            v8 c00 = V8_ZERO(), c01 = V8_ZERO(), c10 = V8_ZERO(), c11 = V8_ZERO();
            v8 c20 = V8_ZERO(), c21 = V8_ZERO(), c30 = V8_ZERO(), c31 = V8_ZERO();
            for (int64_t k = 0; k < d; k++) {
                v8 b0 = V8_LOAD(kt + k * Sp + j0), b1 = V8_LOAD(kt + k * Sp + j0 + 8);
                v8 a = V8_SET1(q[0][k]);
                c00 = V8_FMA(a, b0, c00), c01 = V8_FMA(a, b1, c01);
                a = V8_SET1(q[1][k]);
                c10 = V8_FMA(a, b0, c10), c11 = V8_FMA(a, b1, c11);
                a = V8_SET1(q[2][k]);
                c20 = V8_FMA(a, b0, c20), c21 = V8_FMA(a, b1, c21);
                a = V8_SET1(q[3][k]);
                c30 = V8_FMA(a, b0, c30), c31 = V8_FMA(a, b1, c31);
            }
            /* Named accumulators, stored by value: taking their address would spill them. */
            float *o = P + i0 * Sp + j0;
            { V8_STORE(o, c00); V8_STORE(o + 8, c01); }
            if (nr > 1) { V8_STORE(o + Sp, c10); V8_STORE(o + Sp + 8, c11); }
            if (nr > 2) { V8_STORE(o + 2 * Sp, c20); V8_STORE(o + 2 * Sp + 8, c21); }
            if (nr > 3) { V8_STORE(o + 3 * Sp, c30); V8_STORE(o + 3 * Sp + 8, c31); }
        }
    }
    /* softmax numerators; 1/sum is applied to the output row */
    for (int64_t i = 0; i < S; i++) {
        float *row = P + i * Sp;
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
        inv[i] = 1.0f / sum;
    }
    /* Y = P V, heads merged in place */
    for (int64_t i0 = 0; i0 < S; i0 += 4) {
        int64_t nr = S - i0 < 4 ? S - i0 : 4;
        const float *p[4];
        for (int r = 0; r < 4; r++) p[r] = P + (i0 + (r < nr ? r : 0)) * Sp;
        for (int64_t c0 = 0; c0 < dp; c0 += 16) {
            v8 c00 = V8_ZERO(), c01 = V8_ZERO(), c10 = V8_ZERO(), c11 = V8_ZERO();
            v8 c20 = V8_ZERO(), c21 = V8_ZERO(), c30 = V8_ZERO(), c31 = V8_ZERO();
            for (int64_t j = 0; j < S; j++) {
                v8 b0 = V8_LOAD(vp + j * dp + c0), b1 = V8_LOAD(vp + j * dp + c0 + 8);
                v8 a = V8_SET1(p[0][j]);
                c00 = V8_FMA(a, b0, c00), c01 = V8_FMA(a, b1, c01);
                a = V8_SET1(p[1][j]);
                c10 = V8_FMA(a, b0, c10), c11 = V8_FMA(a, b1, c11);
                a = V8_SET1(p[2][j]);
                c20 = V8_FMA(a, b0, c20), c21 = V8_FMA(a, b1, c21);
                a = V8_SET1(p[3][j]);
                c30 = V8_FMA(a, b0, c30), c31 = V8_FMA(a, b1, c31);
            }
            float tmp[4][16];
            { v8 iv = V8_SET1(inv[i0]); V8_STORE(tmp[0], V8_MUL(c00, iv)); V8_STORE(tmp[0] + 8, V8_MUL(c01, iv)); }
            if (nr > 1) { v8 iv = V8_SET1(inv[i0 + 1]); V8_STORE(tmp[1], V8_MUL(c10, iv)); V8_STORE(tmp[1] + 8, V8_MUL(c11, iv)); }
            if (nr > 2) { v8 iv = V8_SET1(inv[i0 + 2]); V8_STORE(tmp[2], V8_MUL(c20, iv)); V8_STORE(tmp[2] + 8, V8_MUL(c21, iv)); }
            if (nr > 3) { v8 iv = V8_SET1(inv[i0 + 3]); V8_STORE(tmp[3], V8_MUL(c30, iv)); V8_STORE(tmp[3] + 8, V8_MUL(c31, iv)); }
            int64_t n = d - c0 < 16 ? d - c0 : 16;
            for (int r = 0; r < nr; r++)
                memcpy(Y + (b * S + i0 + r) * s->A + h * d + c0, tmp[r], (size_t)n * sizeof(float));
        }
    }
}

/* Every (batch, head) block of B samples, spread over the session's threads; work0 holds one
 * work area per thread. Shared by Attention and AttentionCore. */
static df_status run_heads(const df_kernel_args *a, const attn_state *s, const float *qkv, const df_tensor *mt,
                           int64_t B, float *work0) {
    const float *mask = mt ? mt->data : NULL;
    int64_t mstride = mt && mt->shape.dims[0] != 1 ? s->S : 0;
    float scale = df_attr_float(a->node, "scale", 1.0f);
    float *Y = a->out[0]->data;
    int threads = a->threads < s->threads ? a->threads : s->threads;
    if (threads < 1) threads = 1;
    int64_t tasks = B * s->nh;
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

static df_status attn_run(const df_kernel_args *a) {
    const attn_state *s = a->node->state;
    if (!s) return df_node_error(a->err, DF_EINTERNAL, a->node, "not prepared");
    char *scr = a->scratch;
    float *qkv = (float *)(scr + s->qkv_off);
    /* The run's batch: a variable-batch plan was prepared for up to s->B. */
    const int64_t B = a->in[0]->shape.dims[0];
    if (s->use_sgemm) {
        df_sgemm_run(&s->sg, B * s->S, a->in[0]->data, s->H, 1, qkv, 3 * s->A, 0, scr, a->threads);
    } else {
        df_status st = df_dnnl_mm_rows_exec((df_dnnl_mm_rows *)&s->mm, B * s->S, a->in[0]->data, NULL, qkv, scr,
                                            a->node, a->err);
        if (st) return st;
    }
    return run_heads(a, s, qkv, a->n_in > 3 ? a->in[3] : NULL, B, (float *)(scr + s->work_off));
}

/* Batches vary along the first dim of input 0 and of the mask only: the kernel's sequence
 * length is fixed. */
static bool batch_first(const df_graph *g, const df_node *n, int mask_input) {
    const df_value *x = df_node_in(g, n, 0), *m = df_node_in(g, n, mask_input);
    return (!x->batch_scaled || x->batch_axis == 0) && (!m || !m->batch_scaled || m->batch_axis == 0);
}

static bool attn_var_rows(const df_graph *g, const df_node *n) { return batch_first(g, n, 3); }

const df_op_def df_op_Attention = {
    .op_type = "Attention",
    .domain = "ai.dpuflow",
    .infer = attn_infer,
    .prepare = attn_prepare,
    .run = attn_run,
    .release = attn_release,
    .no_fold = 1,
    .var_rows = attn_var_rows,
};

/* AttentionCore (ai.dpuflow): the same attention from an already projected QKV [B,S,3A]
 * (Q|K|V columns, biases added), optional mask bias [B|1,1,1,S]; attributes num_heads and
 * scale. What the attention pass makes when the projections are int8 (QMatMul): the three
 * merge into one QMatMul with [Wq|Wk|Wv], and this runs the per-(batch, head) blocks. */
static df_status core_check(const df_graph *g, const df_node *n, df_error *err) {
    const df_value *q = df_node_in(g, n, 0), *m = df_node_in(g, n, 1);
    int64_t nh = df_attr_int(n, "num_heads", 0);
    if (!q || q->dtype != DF_F32 || (m && m->dtype != DF_F32))
        return df_node_error(err, DF_ETYPE, n, "inputs must be float32");
    if (q->shape.rank != 3 || nh <= 0 || q->shape.dims[2] % (3 * nh))
        return df_node_error(err, DF_ESHAPE, n, "expects QKV [B,S,3A] with A divisible by num_heads");
    return mask_check(q, m, n, err);
}

static df_status core_infer(df_graph *g, df_node *n, df_error *err) {
    df_status st = core_check(g, n, err);
    if (st) return st;
    df_shape s = df_node_in(g, n, 0)->shape;
    s.dims[2] /= 3;
    df_set_out(g, n, 0, DF_F32, &s);
    return DF_OK;
}

static df_status core_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    df_status st = core_check(g, n, err);
    if (st) return st;
    attn_release(n);
    attn_state *s = calloc(1, sizeof *s);
    if (!s) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    const df_value *q = df_node_in(g, n, 0);
    s->B = q->shape.dims[0], s->S = q->shape.dims[1];
    s->A = q->shape.dims[2] / 3;
    s->nh = df_attr_int(n, "num_heads", 0);
    head_layout(s);
    *scratch_bytes = (size_t)s->threads * s->work_floats * sizeof(float);
    n->state = s;
    return DF_OK;
}

static df_status core_run(const df_kernel_args *a) {
    const attn_state *s = a->node->state;
    if (!s) return df_node_error(a->err, DF_EINTERNAL, a->node, "not prepared");
    /* The run's batch (variable-batch plans). */
    return run_heads(a, s, a->in[0]->data, a->n_in > 1 ? a->in[1] : NULL, a->in[0]->shape.dims[0], a->scratch);
}

static bool core_var_rows(const df_graph *g, const df_node *n) { return batch_first(g, n, 1); }

const df_op_def df_op_AttentionCore = {
    .op_type = "AttentionCore",
    .domain = "ai.dpuflow",
    .infer = core_infer,
    .prepare = core_prepare,
    .run = core_run,
    .release = attn_release,
    .no_fold = 1,
    .var_rows = core_var_rows,
};
