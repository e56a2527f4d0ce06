/* The int8 GEMM of ops/qgemm.h: 4 rows x 16 columns per micro-tile, int32 accumulators in
 * registers, the zero point, scales and bias applied once per tile from per-panel constants. */
#include "ops/qgemm.h"
#include "ops/quant_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__AVX2__) && defined(__FMA__)
#include "ops/simd_math.h"
#endif

#define MR 4
#define NR DF_QGEMM_NR

bool df_qgemm_takes(int64_t K, int64_t N, const int8_t *W) {
#if defined(__AVX2__) && defined(__FMA__)
    if (K <= 0 || N <= 0 || K % 4) return false;
    for (int64_t i = 0; i < K * N; i++)
        if (W[i] > DF_QGEMM_WMAX || W[i] < -DF_QGEMM_WMAX) return false;
    return true;
#else
    (void)K, (void)N, (void)W;
    return false;
#endif
}

void df_qgemm_free(df_qgemm_b *pb) {
    free(pb->panels);
    free(pb->colsum);
    memset(pb, 0, sizeof *pb);
}

df_status df_qgemm_pack(df_qgemm_b *pb, int64_t K, int64_t N, const int8_t *W, df_error *err) {
    memset(pb, 0, sizeof *pb);
    if (!df_qgemm_takes(K, N, W))
        return df_error_set(err, DF_EUNSUPPORTED, "int8 GEMM: needs AVX2, K %% 4 == 0 and |w| <= %d", DF_QGEMM_WMAX);
    pb->K = K;
    pb->N = N;
    pb->Np = (N + NR - 1) / NR * NR;
    size_t bytes = (size_t)(pb->Np * K);
    pb->panels = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    pb->colsum = calloc((size_t)pb->Np, sizeof(int32_t));
    if (!pb->panels || !pb->colsum) {
        df_qgemm_free(pb);
        return df_error_set(err, DF_ENOMEM, "out of memory packing %lld x %lld int8 weights", (long long)K,
                            (long long)N);
    }
    const int64_t quads = K / 4;
    for (int64_t p = 0; p < pb->Np / NR; p++)
        for (int64_t q = 0; q < quads; q++) {
            int8_t *blk = pb->panels + (p * quads + q) * 64;
            for (int c = 0; c < NR; c++)
                for (int j = 0; j < 4; j++) {
                    int64_t n = p * NR + c;
                    int8_t v = n < N ? W[(4 * q + j) * N + n] : 0;
                    /* vector c/8, its int32 lane c%8, byte j of that lane */
                    blk[(c / 8) * 32 + (c % 8) * 4 + j] = v;
                    pb->colsum[n] += v;
                }
        }
    return DF_OK;
}

/* The byte range of x: one pass, 32 bytes at a time where the build has AVX2. */
static void byte_range(const uint8_t *x, int64_t n, bool is_signed, int *lo, int *hi) {
    int mn = is_signed ? 127 : 255, mx = is_signed ? -128 : 0;
    int64_t i = 0;
#if defined(__AVX2__)
    if (n >= 32) {
        __m256i vmn = _mm256_loadu_si256((const __m256i *)x), vmx = vmn;
        for (i = 32; i + 32 <= n; i += 32) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
            if (is_signed) vmn = _mm256_min_epi8(vmn, v), vmx = _mm256_max_epi8(vmx, v);
            else vmn = _mm256_min_epu8(vmn, v), vmx = _mm256_max_epu8(vmx, v);
        }
        uint8_t a[32], b[32];
        _mm256_storeu_si256((__m256i *)a, vmn);
        _mm256_storeu_si256((__m256i *)b, vmx);
        for (int k = 0; k < 32; k++) {
            int u = is_signed ? (int8_t)a[k] : a[k], v = is_signed ? (int8_t)b[k] : b[k];
            mn = u < mn ? u : mn;
            mx = v > mx ? v : mx;
        }
    }
#endif
    for (; i < n; i++) {
        int v = is_signed ? (int8_t)x[i] : x[i];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    *lo = mn;
    *hi = mx;
}

/* dst = x - sub (mod 256) for every byte: the shifted view of df_qgemm_view_a. */
static void byte_sub(uint8_t *dst, const uint8_t *x, int64_t n, uint8_t sub) {
    int64_t i = 0;
#if defined(__AVX2__)
    const __m256i vs = _mm256_set1_epi8((char)sub);
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_sub_epi8(_mm256_loadu_si256((const __m256i *)(x + i)), vs));
#endif
    for (; i < n; i++) dst[i] = (uint8_t)(x[i] - sub);
}

/* The kernel's view of n values in [lo, hi] (zero point zp) whose bytes in src are each
 * value + off (mod 256): src itself when those bytes already suit a form, else a shifted copy
 * in dst (dst may be src). Shifting every value by a constant keeps the products exact: the
 * zero point moves with it. Narrow when the values span at most 127; wide bytes are the
 * values themselves for uint8 and value + 128 for int8. */
static df_qgemm_a place_view(const uint8_t *src, uint8_t *dst, int64_t n, int lo, int hi, int off, bool is_signed,
                             int32_t zp) {
    if (lo + off >= 0 && hi + off <= 127) return (df_qgemm_a){src, zp + off, true};
    if (hi - lo <= 127) {
        byte_sub(dst, src, n, (uint8_t)(off + lo)); /* to value - lo */
        return (df_qgemm_a){dst, zp - lo, true};
    }
    const int wide_off = is_signed ? 128 : 0;
    if (off == wide_off) return (df_qgemm_a){src, zp + off, false};
    byte_sub(dst, src, n, (uint8_t)(off - wide_off));
    return (df_qgemm_a){dst, zp + wide_off, false};
}

df_qgemm_a df_qgemm_view_a(const void *x, bool is_signed, int64_t n, int32_t x_zp, uint8_t *scratch) {
    int lo = 0, hi = 0;
    if (n > 0) byte_range(x, n, is_signed, &lo, &hi);
    return place_view(x, scratch, n, lo, hi, 0, is_signed, x_zp);
}

df_qgemm_a df_qgemm_quantize_a(const float *x, int64_t n, float scale, int32_t zp, bool is_signed, uint8_t *dst) {
    const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f, zf = (float)zp;
    /* int8 goes out as q + 64: [-64, 63] is then the narrow form's [0, 127] already. */
    const int32_t off = is_signed ? 64 : 0;
    int32_t qmin = INT32_MAX, qmax = INT32_MIN;
    int64_t i = 0;
#if defined(__AVX2__)
    if (n >= 32) {
        const __m256 vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps(zf), vlo = _mm256_set1_ps(lo),
                     vhi = _mm256_set1_ps(hi);
        const __m256i voff = _mm256_set1_epi32(off), vbyte = _mm256_set1_epi32(0xff),
                      order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        __m256i vmin = _mm256_set1_epi32(INT32_MAX), vmax = _mm256_set1_epi32(INT32_MIN);
        for (; i + 32 <= n; i += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                __m256 v = _mm256_loadu_ps(x + i + 8 * k);
                /* Division, not a reciprocal multiply: it rounds exactly as x / y_scale does. */
                v = _mm256_add_ps(_mm256_round_ps(_mm256_div_ps(v, vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
                const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
                v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
                __m256i qi = _mm256_andnot_si256(_mm256_castps_si256(nan), _mm256_cvtps_epi32(v));
                vmin = _mm256_min_epi32(vmin, qi);
                vmax = _mm256_max_epi32(vmax, qi);
                q[k] = _mm256_and_si256(_mm256_add_epi32(qi, voff), vbyte);
            }
            /* 4 x 8 int32 in [0, 255] -> 32 bytes; the packs interleave 128-bit lanes, the
             * permute puts them back in order. */
            __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(dst + i), _mm256_permutevar8x32_epi32(b, order));
        }
        int32_t a[8], b[8];
        _mm256_storeu_si256((__m256i *)a, vmin);
        _mm256_storeu_si256((__m256i *)b, vmax);
        for (int k = 0; k < 8; k++) {
            qmin = a[k] < qmin ? a[k] : qmin;
            qmax = b[k] > qmax ? b[k] : qmax;
        }
    }
#endif
    for (; i < n; i++) {
        int32_t q = df_q_quantize(x[i], scale, zf, lo, hi);
        qmin = q < qmin ? q : qmin;
        qmax = q > qmax ? q : qmax;
        dst[i] = (uint8_t)(q + off);
    }
    if (n <= 0) return (df_qgemm_a){dst, zp + off, true};
    return place_view(dst, dst, n, qmin, qmax, off, is_signed, zp);
}

#if defined(__AVX2__) && defined(__FMA__)
/* A panel's epilogue constants, loaded once for all its row tiles. */
typedef struct panel_epi {
    __m256 s0, s1, e0, e1;  /* column scales, biases */
    __m256i z0, z1;         /* zp * column sums */
    int64_t n0, ncols;
} panel_epi;

static panel_epi panel_consts(const df_qgemm_b *pb, int64_t p, int32_t a_zp, const float *col_scale,
                              const float *bias) {
    panel_epi e;
    e.n0 = p * NR;
    e.ncols = pb->N - e.n0 < NR ? pb->N - e.n0 : NR;
    float sc[NR], bi[NR];
    int32_t cs[NR];
    for (int c = 0; c < NR; c++) {
        sc[c] = c < e.ncols ? col_scale[e.n0 + c] : 0.0f;
        bi[c] = c < e.ncols && bias ? bias[e.n0 + c] : 0.0f;
        cs[c] = pb->colsum[e.n0 + c] * a_zp;
    }
    e.s0 = _mm256_loadu_ps(sc), e.s1 = _mm256_loadu_ps(sc + 8);
    e.e0 = _mm256_loadu_ps(bi), e.e1 = _mm256_loadu_ps(bi + 8);
    e.z0 = _mm256_loadu_si256((const __m256i *)cs), e.z1 = _mm256_loadu_si256((const __m256i *)(cs + 8));
    return e;
}

/* (acc - zp * colsum) * scale + bias, in float, optional GELU; a partial panel goes through a
 * small buffer so no column past N is written. */
__attribute__((always_inline)) static inline void store_row(const panel_epi *e, __m256i a0, __m256i a1, bool gelu,
                                                            float *out) {
    __m256 y0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(a0, e->z0)), e->s0, e->e0);
    __m256 y1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(a1, e->z1)), e->s1, e->e1);
    if (gelu) y0 = v_gelu(y0), y1 = v_gelu(y1);
    if (e->ncols == NR) {
        _mm256_storeu_ps(out, y0);
        _mm256_storeu_ps(out + 8, y1);
    } else {
        float tmp[NR];
        _mm256_storeu_ps(tmp, y0);
        _mm256_storeu_ps(tmp + 8, y1);
        memcpy(out, tmp, (size_t)e->ncols * sizeof(float));
    }
}

/* One quad (4 k) of one row into its two accumulators: u8 x s8 pairs summed to int16
 * (vpmaddubsw), widened to int32 (vpmaddwd with ones). */
#define DF_QUAD(ar, q, b0, b1, acc0, acc1)                                                         \
    do {                                                                                           \
        int32_t w4_;                                                                               \
        memcpy(&w4_, (ar) + 4 * (q), 4);                                                           \
        const __m256i x_ = _mm256_set1_epi32(w4_);                                                 \
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(x_, b0), ones));      \
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(x_, b1), ones));      \
    } while (0)

/* Two quads of one row when every activation is <= 127: each vpmaddubsw pair sum is at most
 * 2 * 127 * 64 = 16256, so two of them add exactly in int16 and one vpmaddwd widens both.
 * That is 3 multiply-port instructions per 64 products instead of 4: vpmaddubsw and vpmaddwd
 * share those ports, which bound this kernel. */
#define DF_QUAD2(ar, q, b0, b1, b2, b3, acc0, acc1)                                                \
    do {                                                                                           \
        int32_t w4_, w4n_;                                                                         \
        memcpy(&w4_, (ar) + 4 * (q), 4);                                                           \
        memcpy(&w4n_, (ar) + 4 * (q) + 4, 4);                                                      \
        const __m256i x_ = _mm256_set1_epi32(w4_), xn_ = _mm256_set1_epi32(w4n_);                  \
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(x_, b0), \
                                                                         _mm256_maddubs_epi16(xn_, b2)), ones)); \
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(x_, b1), \
                                                                         _mm256_maddubs_epi16(xn_, b3)), ones)); \
    } while (0)

/* Rows r0..r0+rows-1 (rows <= 4; missing rows repeat row r0 and are not stored) of panel p. */
__attribute__((always_inline)) static inline void tile(const df_qgemm_b *pb, int64_t p, const panel_epi *e,
                                                       const uint8_t *A, int64_t lda, int64_t r0, int rows,
                                                       bool narrow, bool gelu, float *C, int64_t ldc) {
    const int64_t quads = pb->K / 4;
    const int8_t *blk = pb->panels + p * quads * 64;
    const uint8_t *a0 = A + r0 * lda, *a1 = A + (r0 + (rows > 1)) * lda, *a2 = A + (r0 + (rows > 2 ? 2 : 0)) * lda,
                  *a3 = A + (r0 + (rows > 3 ? 3 : 0)) * lda;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00;
    int64_t q = 0;
    if (narrow)
        for (; q + 2 <= quads; q += 2, blk += 128) {
            const __m256i b0 = _mm256_load_si256((const __m256i *)blk),
                          b1 = _mm256_load_si256((const __m256i *)(blk + 32)),
                          b2 = _mm256_load_si256((const __m256i *)(blk + 64)),
                          b3 = _mm256_load_si256((const __m256i *)(blk + 96));
            DF_QUAD2(a0, q, b0, b1, b2, b3, c00, c01);
            DF_QUAD2(a1, q, b0, b1, b2, b3, c10, c11);
            DF_QUAD2(a2, q, b0, b1, b2, b3, c20, c21);
            DF_QUAD2(a3, q, b0, b1, b2, b3, c30, c31);
        }
    for (; q < quads; q++, blk += 64) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)blk), b1 = _mm256_load_si256((const __m256i *)(blk + 32));
        DF_QUAD(a0, q, b0, b1, c00, c01);
        DF_QUAD(a1, q, b0, b1, c10, c11);
        DF_QUAD(a2, q, b0, b1, c20, c21);
        DF_QUAD(a3, q, b0, b1, c30, c31);
    }
    float *out = C + r0 * ldc + e->n0;
    store_row(e, c00, c01, gelu, out);
    if (rows > 1) store_row(e, c10, c11, gelu, out + ldc);
    if (rows > 2) store_row(e, c20, c21, gelu, out + 2 * ldc);
    if (rows > 3) store_row(e, c30, c31, gelu, out + 3 * ldc);
}
#undef DF_QUAD
#undef DF_QUAD2

/* Every row tile of panel p; narrow and gelu are constants in each instance. */
static void panel_rows(const df_qgemm_b *pb, int64_t p, int64_t M, const uint8_t *A, int64_t lda, int32_t a_zp,
                       bool narrow, const float *col_scale, const float *bias, bool gelu, float *C, int64_t ldc) {
    const panel_epi e = panel_consts(pb, p, a_zp, col_scale, bias);
    for (int64_t r0 = 0; r0 < M; r0 += MR) {
        int rows = M - r0 < MR ? (int)(M - r0) : MR;
        if (narrow) {
            if (gelu) tile(pb, p, &e, A, lda, r0, rows, true, true, C, ldc);
            else tile(pb, p, &e, A, lda, r0, rows, true, false, C, ldc);
        } else {
            if (gelu) tile(pb, p, &e, A, lda, r0, rows, false, true, C, ldc);
            else tile(pb, p, &e, A, lda, r0, rows, false, false, C, ldc);
        }
    }
}
#endif

void df_qgemm_run(const df_qgemm_b *pb, int64_t M, df_qgemm_a a, int64_t lda, const float *col_scale,
                  const float *bias, bool gelu, float *C, int64_t ldc, int threads) {
#if defined(__AVX2__) && defined(__FMA__)
    const int64_t panels = pb->Np / NR;
    /* Panels outermost: a thread keeps its panels' weights in cache across the row tiles. */
#pragma omp parallel for num_threads(threads) if (threads > 1 && panels > 1) schedule(static)
    for (int64_t p = 0; p < panels; p++)
        panel_rows(pb, p, M, a.data, lda, a.zp, a.narrow, col_scale, bias, gelu, C, ldc);
#else
    (void)pb, (void)M, (void)a, (void)lda, (void)col_scale, (void)bias, (void)gelu, (void)C, (void)ldc, (void)threads;
#endif
}
