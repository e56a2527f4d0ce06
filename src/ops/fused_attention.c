/* Attention (ai.dpuflow): BERT self-attention from the input of its Q/K/V projections to the
 * merged heads, before the output projection.
 *   inputs: X [B,S,H], W [H,3A] (Q|K|V columns), bias [3A], optional mask bias M [B|1,1,1,S]
 *   attributes: num_heads (A = num_heads * d), scale (1/sqrt(d) as the model wrote it)
 *   Y[b,s,h*d+k] = sum_j softmax_j(scale * Q.K_j + M[b,j]) V[j,k]
 * One packed GEMM computes Q, K and V for every token, bias fused (the prepacked sgemm where
 * oneDNN would leave the weights unpacked, see ops/sgemm.h; oneDNN otherwise). Then each
 * (batch, head) works in a per-thread block that stays in L1/L2 (about 31 KB for S=64, d=26):
 * Q^T and V are copied into contiguous padded tiles so both small products run as
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
    /* Q^T [d,Sp], V [S,dp], scores [S,Sp], per-query max and 1/sum [Sp] each. */
    size_t floats = (size_t)(s->d * s->Sp + s->S * s->dp + s->S * s->Sp + 2 * s->Sp);
    s->work_floats = align64(floats * sizeof(float)) / sizeof(float);
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

#include "ops/simd_math.h"
typedef __m256 v8;
#define V8_ZERO() _mm256_setzero_ps()
#define V8_LOAD(p) _mm256_loadu_ps(p)
#define V8_STORE(p, v) _mm256_storeu_ps(p, v)
#define V8_SET1(x) _mm256_set1_ps(x)
#define V8_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V8_MUL(a, b) _mm256_mul_ps(a, b)
#define V8_MAX(a, b) _mm256_max_ps(a, b)
/* Pin B in registers: gcc otherwise folds each B load into all four FMAs that use it, 12
 * loads per 8 FMAs instead of 6, and the block becomes load-port bound (as in ops/sgemm.c). */
#define V8_PIN(b0, b1) __asm__("" : "+x"(b0), "+x"(b1))

/* Lanes below n set: a masked load reads nothing past a head's last column (for the last head
 * of the last token, the end of the buffer). */
static inline __m256i lanes_below(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* dst[k * ldd + r] = src[r][k0 + k] for r < 8, k < nk <= 8. */
static inline void transpose8(const float *const src[8], int64_t k0, int64_t nk, float *dst, int64_t ldd) {
    __m256 r0, r1, r2, r3, r4, r5, r6, r7;
    if (nk == 8) {
        r0 = _mm256_loadu_ps(src[0] + k0), r1 = _mm256_loadu_ps(src[1] + k0);
        r2 = _mm256_loadu_ps(src[2] + k0), r3 = _mm256_loadu_ps(src[3] + k0);
        r4 = _mm256_loadu_ps(src[4] + k0), r5 = _mm256_loadu_ps(src[5] + k0);
        r6 = _mm256_loadu_ps(src[6] + k0), r7 = _mm256_loadu_ps(src[7] + k0);
    } else {
        __m256i m = lanes_below(nk);
        r0 = _mm256_maskload_ps(src[0] + k0, m), r1 = _mm256_maskload_ps(src[1] + k0, m);
        r2 = _mm256_maskload_ps(src[2] + k0, m), r3 = _mm256_maskload_ps(src[3] + k0, m);
        r4 = _mm256_maskload_ps(src[4] + k0, m), r5 = _mm256_maskload_ps(src[5] + k0, m);
        r6 = _mm256_maskload_ps(src[6] + k0, m), r7 = _mm256_maskload_ps(src[7] + k0, m);
    }
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    /* Rows in this order, so a partial block stops after its first nk. */
    __m256 o0 = _mm256_permute2f128_ps(u0, u4, 0x20), o1 = _mm256_permute2f128_ps(u1, u5, 0x20);
    __m256 o2 = _mm256_permute2f128_ps(u2, u6, 0x20), o3 = _mm256_permute2f128_ps(u3, u7, 0x20);
    __m256 o4 = _mm256_permute2f128_ps(u0, u4, 0x31), o5 = _mm256_permute2f128_ps(u1, u5, 0x31);
    __m256 o6 = _mm256_permute2f128_ps(u2, u6, 0x31), o7 = _mm256_permute2f128_ps(u3, u7, 0x31);
    _mm256_storeu_ps(dst, o0);
    if (nk > 1) _mm256_storeu_ps(dst + ldd, o1);
    if (nk > 2) _mm256_storeu_ps(dst + 2 * ldd, o2);
    if (nk > 3) _mm256_storeu_ps(dst + 3 * ldd, o3);
    if (nk > 4) _mm256_storeu_ps(dst + 4 * ldd, o4);
    if (nk > 5) _mm256_storeu_ps(dst + 5 * ldd, o5);
    if (nk > 6) _mm256_storeu_ps(dst + 6 * ldd, o6);
    if (nk > 7) _mm256_storeu_ps(dst + 7 * ldd, o7);
}

/* v_exp (ops/simd_math.h) for x <= 0, as softmax feeds it. The same polynomial, evaluated
 * in Estrin's scheme (r^2 steps) rather than Horner's: the softmax pass is bound by each
 * exp's chain of dependent steps, not by ports, and this one is 8 steps shorter. And the
 * flush to 0 below the clamp needs no compare: with coefficients doubled (exact) and 2^(n-1)
 * built as (n + 126) << 23, the clamped n = -126 gives the bit pattern of 0.0f. Within
 * 1 ulp of v_exp for x > -86.99, 0 below (v_exp: < 1.7e-38); never a denormal. */
static inline __m256 v_exp_neg(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 xc = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
    __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 nf = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(0.693145751953125f), xc);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(1.4286068203094172e-06f), r);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 p01 = _mm256_fmadd_ps(r, _mm256_set1_ps(2.0f), _mm256_set1_ps(2.0f));
    __m256 p23 = _mm256_fmadd_ps(r, _mm256_set1_ps(2.0f / 6.0f), _mm256_set1_ps(1.0f));
    __m256 p45 = _mm256_fmadd_ps(r, _mm256_set1_ps(2.0f / 120.0f), _mm256_set1_ps(2.0f / 24.0f));
    __m256 p = _mm256_fmadd_ps(r2, _mm256_set1_ps(2.0f / 720.0f), p45);
    p = _mm256_fmadd_ps(p, r2, p23);
    p = _mm256_fmadd_ps(p, r2, p01);
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(126)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* Rows r0..r3 of a 4 x 8 block, transposed: y[i * ldy + k] = rk[i] for i < ni, k < nk. */
static inline void store_t4x8(float *y, int64_t ldy, __m256 r0, __m256 r1, __m256 r2, __m256 r3, int64_t ni,
                              int64_t nk) {
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    if (ni >= 8 && nk == 4) {
        _mm_storeu_ps(y, _mm256_castps256_ps128(u0));
        _mm_storeu_ps(y + ldy, _mm256_castps256_ps128(u1));
        _mm_storeu_ps(y + 2 * ldy, _mm256_castps256_ps128(u2));
        _mm_storeu_ps(y + 3 * ldy, _mm256_castps256_ps128(u3));
        _mm_storeu_ps(y + 4 * ldy, _mm256_extractf128_ps(u0, 1));
        _mm_storeu_ps(y + 5 * ldy, _mm256_extractf128_ps(u1, 1));
        _mm_storeu_ps(y + 6 * ldy, _mm256_extractf128_ps(u2, 1));
        _mm_storeu_ps(y + 7 * ldy, _mm256_extractf128_ps(u3, 1));
        return;
    }
    __m128 q[8] = {_mm256_castps256_ps128(u0), _mm256_castps256_ps128(u1), _mm256_castps256_ps128(u2),
                   _mm256_castps256_ps128(u3), _mm256_extractf128_ps(u0, 1), _mm256_extractf128_ps(u1, 1),
                   _mm256_extractf128_ps(u2, 1), _mm256_extractf128_ps(u3, 1)};
    for (int64_t i = 0; i < ni && i < 8; i++) {
        float *yi = y + i * ldy;
        __m128 x = q[i];
        if (nk == 4) {
            _mm_storeu_ps(yi, x);
            continue;
        }
        if (nk >= 2) _mm_storel_pi((__m64 *)yi, x), x = _mm_movehl_ps(x, x), yi += 2;
        if (nk & 1) _mm_store_ss(yi, x);
    }
}

#else
typedef float v8 __attribute__((vector_size(32)));
static inline v8 v8_load(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline v8 v8_set1(float x) { return (v8){x, x, x, x, x, x, x, x}; }
static inline v8 v8_max(v8 a, v8 b) {
    for (int l = 0; l < 8; l++) a[l] = a[l] > b[l] ? a[l] : b[l];
    return a;
}
static inline void store_t4x8(float *y, int64_t ldy, v8 r0, v8 r1, v8 r2, v8 r3, int64_t ni, int64_t nk) {
    float t[4][8];
    memcpy(t[0], &r0, sizeof r0), memcpy(t[1], &r1, sizeof r1);
    memcpy(t[2], &r2, sizeof r2), memcpy(t[3], &r3, sizeof r3);
    for (int64_t i = 0; i < ni && i < 8; i++)
        for (int64_t k = 0; k < nk; k++) y[i * ldy + k] = t[k][i];
}
#define V8_ZERO() ((v8){0})
#define V8_LOAD(p) v8_load(p)
#define V8_STORE(p, v) do { v8 t_ = (v); memcpy((p), &t_, sizeof t_); } while (0)
#define V8_SET1(x) v8_set1(x)
#define V8_FMA(a, b, c) ((a) * (b) + (c))
#define V8_MUL(a, b) ((a) * (b))
#define V8_MAX(a, b) v8_max(a, b)
#define V8_PIN(b0, b1) ((void)0)
#endif

/* The register block all three products of attn_head share: 4 rows x 16 columns of
 *   c[r][0..15] = sum_{j < n} a[r][j * lda] * b[j * ldb + 0..15]
 * eight named accumulators (an array's address would spill them), B pinned in registers. */
typedef struct block4x16 {
    v8 c00, c01, c10, c11, c20, c21, c30, c31;
} block4x16;

__attribute__((always_inline)) static inline block4x16 mul_block4x16(int64_t n, const float *const a[4], int64_t lda,
                                                                     const float *b, int64_t ldb) {
    block4x16 o = {V8_ZERO(), V8_ZERO(), V8_ZERO(), V8_ZERO(), V8_ZERO(), V8_ZERO(), V8_ZERO(), V8_ZERO()};
    for (int64_t j = 0; j < n; j++) {
        v8 b0 = V8_LOAD(b + j * ldb), b1 = V8_LOAD(b + j * ldb + 8);
        V8_PIN(b0, b1);
        v8 x = V8_SET1(a[0][j * lda]);
        o.c00 = V8_FMA(x, b0, o.c00), o.c01 = V8_FMA(x, b1, o.c01);
        x = V8_SET1(a[1][j * lda]);
        o.c10 = V8_FMA(x, b0, o.c10), o.c11 = V8_FMA(x, b1, o.c11);
        x = V8_SET1(a[2][j * lda]);
        o.c20 = V8_FMA(x, b0, o.c20), o.c21 = V8_FMA(x, b1, o.c21);
        x = V8_SET1(a[3][j * lda]);
        o.c30 = V8_FMA(x, b0, o.c30), o.c31 = V8_FMA(x, b1, o.c31);
    }
    return o;
}

/* One (batch, head). Q, K, V are strided views into the packed projection. The scores are
 * kept transposed, T [S,Sp] with T[j][i] = score of query i against key j: softmax runs over
 * j, down T's columns, so each query's max and sum are lane-wise vector operations (no
 * horizontal reductions, and the padding columns i >= S are whole lanes nobody reads).
 * Q^T [d,Sp] and V [S,dp] are copied into tiles (Sp, dp multiples of 16) so both products
 * run as 4-row x 16-column register blocks, the other operand (K; T or V) broadcast.
 * noinline: gcc inlines the single call into run_heads' OpenMP region, where the blocks ran
 * out of general registers and kept row pointers and loop counters on the stack (measured
 * in tinybert: 9.5 us per head there against 7.6 us out of line). */
__attribute__((noinline)) static void attn_head(const attn_state *s, const float *qkv, const float *mask, float *Y,
                                                int64_t b, int64_t h, float scale, float *work) {
    const int64_t S = s->S, Sp = s->Sp, d = s->d, dp = s->dp, ld = 3 * s->A;
    float *qt = work, *vp = qt + d * Sp, *T = vp + S * dp, *cmax = T + S * Sp, *csum = cmax + Sp;
    const float *base = qkv + b * S * ld + h * d, *kb = base + s->A, *vb = base + 2 * s->A;
#if defined(__AVX2__) && defined(__FMA__)
    /* Padding queries repeat the last one: finite scores, and no separate zeroing pass. */
    for (int64_t i0 = 0; i0 < Sp; i0 += 8) {
        const float *src[8];
        for (int r = 0; r < 8; r++) src[r] = base + (i0 + r < S ? i0 + r : S - 1) * ld;
        for (int64_t k0 = 0; k0 < d; k0 += 8) transpose8(src, k0, d - k0 < 8 ? d - k0 : 8, qt + k0 * Sp + i0, Sp);
    }
    /* V's padding columns are never read (d < dp takes the Y^T form of P*V), so a row's
     * last 8 columns are copied overlapping the previous 8 rather than masked. */
    for (int64_t j = 0; j < S; j++) {
        const float *vj = vb + j * ld;
        float *vr = vp + j * dp;
        if (d < 8) {
            _mm256_storeu_ps(vr, _mm256_maskload_ps(vj, lanes_below(d)));
            continue;
        }
        for (int64_t c = 0; c + 8 <= d; c += 8) _mm256_storeu_ps(vr + c, _mm256_loadu_ps(vj + c));
        if (d % 8) _mm256_storeu_ps(vr + d - 8, _mm256_loadu_ps(vj + d - 8));
    }
#else
    for (int64_t i = 0; i < Sp; i++) {
        const float *qi = base + (i < S ? i : S - 1) * ld;
        for (int64_t k = 0; k < d; k++) qt[k * Sp + i] = qi[k];
    }
    for (int64_t j = 0; j < S; j++)
        for (int64_t k = 0; k < d; k++) vp[j * dp + k] = vb[j * ld + k];
#endif
    for (int64_t i = 0; i < Sp; i++) cmax[i] = -INFINITY;
    /* T = scale * K Q^T + mask[j], and each query's max over j */
    for (int64_t j0 = 0; j0 < S; j0 += 4) {
        int64_t nr = S - j0 < 4 ? S - j0 : 4;
        const float *k[4];
        float m[4];
        /* Rows past S repeat row j0, so they can join the max unchecked. */
        for (int r = 0; r < 4; r++) {
            int64_t j = j0 + (r < nr ? r : 0);
            k[r] = kb + j * ld, m[r] = mask ? mask[j] : 0.0f;
        }
        for (int64_t i0 = 0; i0 < Sp; i0 += 16) {
            block4x16 o = mul_block4x16(d, k, 1, qt + i0, Sp);
            v8 c00 = o.c00, c01 = o.c01, c10 = o.c10, c11 = o.c11, c20 = o.c20, c21 = o.c21, c30 = o.c30, c31 = o.c31;
            v8 sc = V8_SET1(scale), mr = V8_SET1(m[0]);
            c00 = V8_FMA(c00, sc, mr), c01 = V8_FMA(c01, sc, mr);
            mr = V8_SET1(m[1]);
            c10 = V8_FMA(c10, sc, mr), c11 = V8_FMA(c11, sc, mr);
            mr = V8_SET1(m[2]);
            c20 = V8_FMA(c20, sc, mr), c21 = V8_FMA(c21, sc, mr);
            mr = V8_SET1(m[3]);
            c30 = V8_FMA(c30, sc, mr), c31 = V8_FMA(c31, sc, mr);
            float *t = T + j0 * Sp + i0;
            { V8_STORE(t, c00); V8_STORE(t + 8, c01); }
            if (nr > 1) { V8_STORE(t + Sp, c10); V8_STORE(t + Sp + 8, c11); }
            if (nr > 2) { V8_STORE(t + 2 * Sp, c20); V8_STORE(t + 2 * Sp + 8, c21); }
            if (nr > 3) { V8_STORE(t + 3 * Sp, c30); V8_STORE(t + 3 * Sp + 8, c31); }
            v8 m0 = V8_MAX(V8_MAX(c00, c10), V8_MAX(c20, c30)), m1 = V8_MAX(V8_MAX(c01, c11), V8_MAX(c21, c31));
            V8_STORE(cmax + i0, V8_MAX(m0, V8_LOAD(cmax + i0)));
            V8_STORE(cmax + i0 + 8, V8_MAX(m1, V8_LOAD(cmax + i0 + 8)));
        }
    }
    /* softmax numerators, in place; 1/sum is applied to the output row */
#if defined(__AVX2__) && defined(__FMA__)
    for (int64_t i0 = 0; i0 < Sp; i0 += 8) {
        __m256 m0 = _mm256_loadu_ps(cmax + i0);
        __m256 s0 = _mm256_setzero_ps();
        for (int64_t j = 0; j < S; j++) {
            float *t = T + j * Sp + i0;
            __m256 e0 = v_exp_neg(_mm256_sub_ps(_mm256_loadu_ps(t), m0));
            _mm256_storeu_ps(t, e0);
            s0 = _mm256_add_ps(s0, e0);
        }
        _mm256_storeu_ps(csum + i0, _mm256_div_ps(_mm256_set1_ps(1.0f), s0));
    }
#else
    for (int64_t i = 0; i < Sp; i++) csum[i] = 0.0f;
    for (int64_t j = 0; j < S; j++) {
        float *t = T + j * Sp;
#pragma omp simd
        for (int64_t i = 0; i < Sp; i++) {
            t[i] = df_fast_expf(t[i] - cmax[i]);
            csum[i] += t[i];
        }
    }
    for (int64_t i = 0; i < Sp; i++) csum[i] = 1.0f / csum[i];
#endif
    /* Y = P V, heads merged in place. With d a multiple of 16, as 4-row x 16-column blocks of
     * Y. Otherwise the last block's padding columns would be wasted work (6 of 32 for d=26),
     * so Y^T = V^T P^T is computed instead, 4 of its rows (columns of Y) at a time, and
     * transposed on the store: P*V measured 7% faster so for d=26, 6% slower for d=64. */
    if (d == dp) {
        for (int64_t i0 = 0; i0 < S; i0 += 4) {
            int64_t nr = S - i0 < 4 ? S - i0 : 4;
            const float *p[4];
            for (int r = 0; r < 4; r++) p[r] = T + i0 + (r < nr ? r : 0);
            float *y = Y + (b * S + i0) * s->A + h * d;
            for (int64_t c0 = 0; c0 < dp; c0 += 16) {
                const block4x16 c = mul_block4x16(S, p, Sp, vp + c0, dp);
                float *o = y + c0;
                v8 iv = V8_SET1(csum[i0]);
                V8_STORE(o, V8_MUL(c.c00, iv));
                V8_STORE(o + 8, V8_MUL(c.c01, iv));
                if (nr > 1) {
                    iv = V8_SET1(csum[i0 + 1]), o += s->A;
                    V8_STORE(o, V8_MUL(c.c10, iv));
                    V8_STORE(o + 8, V8_MUL(c.c11, iv));
                }
                if (nr > 2) {
                    iv = V8_SET1(csum[i0 + 2]), o += s->A;
                    V8_STORE(o, V8_MUL(c.c20, iv));
                    V8_STORE(o + 8, V8_MUL(c.c21, iv));
                }
                if (nr > 3) {
                    iv = V8_SET1(csum[i0 + 3]), o += s->A;
                    V8_STORE(o, V8_MUL(c.c30, iv));
                    V8_STORE(o + 8, V8_MUL(c.c31, iv));
                }
            }
        }
    } else {
        for (int64_t i0 = 0; i0 < S; i0 += 16)
            for (int64_t k0 = 0; k0 < d; k0 += 4) {
                int64_t nk = d - k0 < 4 ? d - k0 : 4;
                const float *v[4];
                for (int r = 0; r < 4; r++) v[r] = vp + k0 + (r < nk ? r : 0);
                const block4x16 o = mul_block4x16(S, v, dp, T + i0, Sp);
                v8 c00 = o.c00, c01 = o.c01, c10 = o.c10, c11 = o.c11, c20 = o.c20, c21 = o.c21, c30 = o.c30,
                   c31 = o.c31;
                v8 iv = V8_LOAD(csum + i0);
                c00 = V8_MUL(c00, iv), c10 = V8_MUL(c10, iv), c20 = V8_MUL(c20, iv), c30 = V8_MUL(c30, iv);
                iv = V8_LOAD(csum + i0 + 8);
                c01 = V8_MUL(c01, iv), c11 = V8_MUL(c11, iv), c21 = V8_MUL(c21, iv), c31 = V8_MUL(c31, iv);
                float *y = Y + (b * S + i0) * s->A + h * d + k0;
                int64_t ni = S - i0;
                store_t4x8(y, s->A, c00, c10, c20, c30, ni, nk);
                if (ni > 8) store_t4x8(y + 8 * s->A, s->A, c01, c11, c21, c31, ni - 8, nk);
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
