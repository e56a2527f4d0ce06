/* The int8 GEMM of ops/qgemm.h: 4 rows x 16 columns per micro-tile, int32 accumulators in
 * registers, the zero point, scales and bias applied once per tile. */
#include "ops/qgemm.h"

#include <stdlib.h>
#include <string.h>

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

#if defined(__AVX2__) && defined(__FMA__)
/* Rows r0..r0+rows-1 (rows <= 4; missing rows repeat row r0 and are not stored) of one panel. */
static void tile(const df_qgemm_b *pb, int64_t p, const uint8_t *A, int64_t lda, int64_t r0, int rows, int32_t a_zp,
                 const float *col_scale, const float *bias, bool gelu, float *C, int64_t ldc) {
    const int64_t quads = pb->K / 4;
    const int8_t *blk = pb->panels + p * quads * 64;
    const uint8_t *a[MR];
    for (int r = 0; r < MR; r++) a[r] = A + (r0 + (r < rows ? r : 0)) * lda;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00;
    for (int64_t q = 0; q < quads; q++, blk += 64) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)blk), b1 = _mm256_load_si256((const __m256i *)(blk + 32));
        int32_t w4;
        __m256i x;
#define DF_QROW(r, acc0, acc1)                                                                      \
    memcpy(&w4, a[r] + 4 * q, 4);                                                                   \
    x = _mm256_set1_epi32(w4);                                                                      \
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));            \
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
        DF_QROW(0, c00, c01)
        DF_QROW(1, c10, c11)
        DF_QROW(2, c20, c21)
        DF_QROW(3, c30, c31)
#undef DF_QROW
    }
    /* Epilogue: (acc - zp * colsum) * scale + bias, in float; a partial panel goes through a
     * small buffer so no column past N is written. */
    const int64_t n0 = p * NR;
    const int64_t ncols = pb->N - n0 < NR ? pb->N - n0 : NR;
    float sc[NR], bi[NR];
    int32_t cs[NR];
    for (int c = 0; c < NR; c++) {
        sc[c] = c < ncols ? col_scale[n0 + c] : 0.0f;
        bi[c] = c < ncols && bias ? bias[n0 + c] : 0.0f;
        cs[c] = pb->colsum[n0 + c] * a_zp;
    }
    const __m256 s0 = _mm256_loadu_ps(sc), s1 = _mm256_loadu_ps(sc + 8), e0 = _mm256_loadu_ps(bi),
                 e1 = _mm256_loadu_ps(bi + 8);
    const __m256i z0 = _mm256_loadu_si256((const __m256i *)cs), z1 = _mm256_loadu_si256((const __m256i *)(cs + 8));
    __m256i acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (int r = 0; r < rows; r++) {
        __m256 y0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][0], z0)), s0, e0);
        __m256 y1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][1], z1)), s1, e1);
        if (gelu) y0 = v_gelu(y0), y1 = v_gelu(y1);
        float *out = C + (r0 + r) * ldc + n0;
        if (ncols == NR) {
            _mm256_storeu_ps(out, y0);
            _mm256_storeu_ps(out + 8, y1);
        } else {
            float tmp[NR];
            _mm256_storeu_ps(tmp, y0);
            _mm256_storeu_ps(tmp + 8, y1);
            memcpy(out, tmp, (size_t)ncols * sizeof(float));
        }
    }
}
#endif

void df_qgemm_run(const df_qgemm_b *pb, int64_t M, const uint8_t *A, int64_t lda, int32_t a_zp,
                  const float *col_scale, const float *bias, bool gelu, float *C, int64_t ldc, int threads) {
#if defined(__AVX2__) && defined(__FMA__)
    const int64_t panels = pb->Np / NR, tiles_m = (M + MR - 1) / MR;
    /* Panels outermost: a thread keeps its panels' weights in cache across the row tiles. */
#pragma omp parallel for num_threads(threads) if (threads > 1 && panels > 1) schedule(static)
    for (int64_t p = 0; p < panels; p++)
        for (int64_t t = 0; t < tiles_m; t++) {
            int64_t r0 = t * MR;
            int rows = M - r0 < MR ? (int)(M - r0) : MR;
            tile(pb, p, A, lda, r0, rows, a_zp, col_scale, bias, gelu, C, ldc);
        }
#else
    (void)pb, (void)M, (void)A, (void)lda, (void)a_zp, (void)col_scale, (void)bias, (void)gelu, (void)C, (void)ldc,
        (void)threads;
#endif
}
