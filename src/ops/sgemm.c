/* Prepacked f32 GEMM; see sgemm.h for why.
 *
 * Blocking follows the usual Goto/BLIS scheme (Goto & van de Geijn, "Anatomy of
 * High-Performance Matrix Multiplication", ACM TOMS 2008): a 4x24 register tile (12 ymm
 * accumulators, A broadcast, three B vectors per k), a K x 24 B micro-panel slice of KC rows
 * (24 KB) that stays in L1 while the 4-row A tiles of the MC block stream past it from L2,
 * and NCP panels per chunk so the B chunk and the C chunk stay in L2 across the KC
 * steps. 24 columns rather than 16 because every BERT projection width (312, 936, 1200, 768,
 * 2304, 3072) is a multiple of 24, so no panel is padded; 4 rows because M = 64 splits
 * evenly. Partial sums over K live in C itself: the first KC step writes (adding the bias),
 * later steps add, the last one applies GELU to the accumulators before they are stored. */
#include "ops/sgemm.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include "ops/dnnl_common.h"
#include "ops/nn_math.h"

#define MR DF_SGEMM_MR
#define NR DF_SGEMM_NR
#define KC 256  /* B slice of KC x NR floats = 24 KB: fits L1 (32 KB) next to the A rows */
#define MC 128  /* A block of MC x KC floats = 128 KB: fits L2 (512 KB) */
#define NCP 8   /* panels per chunk: B chunk KC x 192 = 192 KB in L2 */

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

df_status df_sgemm_pack_b(df_sgemm_b *pb, int64_t K, int64_t N, const float *B, int64_t rs, int64_t cs,
                          float scale, const float *bias, df_error *err) {
    memset(pb, 0, sizeof *pb);
    if (K <= 0 || N <= 0) return df_error_set(err, DF_EINVAL, "sgemm: empty weights (K=%lld, N=%lld)", (long long)K,
                                              (long long)N);
    pb->K = K, pb->N = N, pb->Np = round_up(N, NR);
    size_t pbytes = (size_t)round_up((int64_t)((size_t)K * (size_t)pb->Np * sizeof(float)), 64);
    pb->panels = aligned_alloc(64, pbytes);
    if (bias) pb->bias = aligned_alloc(64, (size_t)round_up(pb->Np * (int64_t)sizeof(float), 64));
    if (!pb->panels || (bias && !pb->bias)) {
        df_sgemm_b_free(pb);
        return df_error_set(err, DF_ENOMEM, "sgemm: out of memory packing %lld x %lld weights", (long long)K,
                            (long long)N);
    }
    for (int64_t p = 0; p < pb->Np / NR; p++) {
        float *dst = pb->panels + p * K * NR;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < NR; j++) {
                int64_t n = p * NR + j;
                dst[k * NR + j] = n < N ? B[k * rs + n * cs] * scale : 0.0f;
            }
    }
    if (bias)
        for (int64_t n = 0; n < pb->Np; n++) pb->bias[n] = n < N ? bias[n] : 0.0f;
    return DF_OK;
}

void df_sgemm_b_free(df_sgemm_b *pb) {
    free(pb->panels);
    free(pb->bias);
    memset(pb, 0, sizeof *pb);
}

size_t df_sgemm_workspace_bytes(int64_t M, int64_t K, int64_t a_cs) {
    if (a_cs == 1) return 0;
    return (size_t)round_up(M, MR) * (size_t)K * sizeof(float) + 64;
}

/* Rows [m0, m1) of A (m1 may pass M: those rows are zeros) into MR-row micro-panels, each
 * K x MR with row k at k*MR, so the kernel's broadcasts walk memory in order. */
static void pack_a(const float *A, int64_t a_rs, int64_t a_cs, int64_t M, int64_t K, int64_t m0, int64_t m1,
                   float *Ap) {
    for (int64_t i0 = m0; i0 < m1; i0 += MR) {
        float *dst = Ap + (i0 / MR) * K * MR;
        for (int r = 0; r < MR; r++) {
            int64_t i = i0 + r;
            if (i >= M) {
                for (int64_t k = 0; k < K; k++) dst[k * MR + r] = 0.0f;
                continue;
            }
            const float *src = A + i * a_rs;
            if (a_cs == 1)
                for (int64_t k = 0; k < K; k++) dst[k * MR + r] = src[k];
            else
                for (int64_t k = 0; k < K; k++) dst[k * MR + r] = src[k * a_cs];
        }
    }
}

/* c[MR x NR] (row stride ldc) = a x b over kc (+ c when load_c) (+ bias when non-NULL).
 * Row r of the A tile reads a[r][k * as]: as = MR for a packed micro-panel (a[r] = ap + r),
 * 1 for rows read in place from a row-major A. */
#if defined(__AVX2__) && defined(__FMA__)
#include "ops/simd_math.h"

static void kernel(int64_t kc, const float *const a[MR], int64_t as, const float *restrict b, float *restrict c,
                   int64_t ldc, int load_c, const float *restrict bias, int gelu, const char *pf, int64_t pf_mask) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
    for (int64_t k = 0, o = 0; k < kc; k++, o += as) {
        if (!(k & pf_mask)) {
            __builtin_prefetch(pf, 0, 3);
            pf += 64;
        }
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), b2 = _mm256_load_ps(b + 16);
        /* Pin B in registers: gcc otherwise folds each B load into all four FMAs that use it,
         * 16 loads per k instead of 7, and the loop becomes load-port bound. */
        __asm__("" : "+x"(b0), "+x"(b1), "+x"(b2));
        __m256 av = _mm256_broadcast_ss(a0 + o);
        c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01), c02 = _mm256_fmadd_ps(av, b2, c02);
        av = _mm256_broadcast_ss(a1 + o);
        c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11), c12 = _mm256_fmadd_ps(av, b2, c12);
        av = _mm256_broadcast_ss(a2 + o);
        c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21), c22 = _mm256_fmadd_ps(av, b2, c22);
        av = _mm256_broadcast_ss(a3 + o);
        c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31), c32 = _mm256_fmadd_ps(av, b2, c32);
        b += NR;
    }
    /* Named accumulators handled row by row by value: an array of them would be spilled. */
#define ROW(r, x0, x1, x2)                                                                                     \
    do {                                                                                                       \
        float *cr = c + (r) * ldc;                                                                             \
        if (load_c) {                                                                                          \
            x0 = _mm256_add_ps(x0, _mm256_loadu_ps(cr));                                                       \
            x1 = _mm256_add_ps(x1, _mm256_loadu_ps(cr + 8));                                                   \
            x2 = _mm256_add_ps(x2, _mm256_loadu_ps(cr + 16));                                                  \
        }                                                                                                      \
        if (bias) {                                                                                            \
            x0 = _mm256_add_ps(x0, _mm256_load_ps(bias));                                                      \
            x1 = _mm256_add_ps(x1, _mm256_load_ps(bias + 8));                                                  \
            x2 = _mm256_add_ps(x2, _mm256_load_ps(bias + 16));                                                 \
        }                                                                                                      \
        if (gelu) x0 = v_gelu(x0), x1 = v_gelu(x1), x2 = v_gelu(x2);                                           \
        _mm256_storeu_ps(cr, x0), _mm256_storeu_ps(cr + 8, x1), _mm256_storeu_ps(cr + 16, x2);                 \
    } while (0)
    ROW(0, c00, c01, c02);
    ROW(1, c10, c11, c12);
    ROW(2, c20, c21, c22);
    ROW(3, c30, c31, c32);
#undef ROW
}
#else
/* Portable path, same layout and summation order per element (one product added per k). */
static void kernel(int64_t kc, const float *const a[MR], int64_t as, const float *restrict b, float *restrict c,
                   int64_t ldc, int load_c, const float *restrict bias, int gelu, const char *pf, int64_t pf_mask) {
    (void)pf, (void)pf_mask;
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += a[r][k * as] * b[k * NR + j];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) {
            float v = acc[r][j];
            if (load_c) v += c[r * ldc + j];
            if (bias) v += bias[j];
            if (gelu) v = 0.5f * v * (1.0f + df_fast_erff(v * 0.70710678118654752f));
            c[r * ldc + j] = v;
        }
}
#endif

/* Output rows [m0, m1) (multiples of MR, m1 clipped to M on store) x panels [p0, p1). */
static void compute(const df_sgemm_b *pb, const float *Ap, const float *A, int64_t lda, int64_t M, float *C,
                    int64_t ldc, int flags, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
    const int64_t K = pb->K, N = pb->N;
    float tmp[MR * NR] __attribute__((aligned(32)));
    /* Equal K steps of at most KC: a short tail step would pay the C reload for little work. */
    const int64_t ksteps = (K + KC - 1) / KC, kstep = (K + ksteps - 1) / ksteps;
    for (int64_t jc = p0; jc < p1; jc += NCP) {
        int64_t jend = jc + NCP < p1 ? jc + NCP : p1;
        for (int64_t pc = 0; pc < K; pc += kstep) {
            int64_t kc = K - pc < kstep ? K - pc : kstep;
            int first = pc == 0, last = pc + kc == K;
            int load_c = !first || (flags & DF_SGEMM_ACCUMULATE);
            int gelu = last && (flags & DF_SGEMM_GELU);
            for (int64_t ic = m0; ic < m1; ic += MC) {
                int64_t iend = ic + MC < m1 ? ic + MC : m1;
                for (int64_t jr = jc; jr < jend; jr++) {
                    const float *bp = pb->panels + jr * K * NR + pc * NR;
                    const float *bias = first && pb->bias ? pb->bias + jr * NR : NULL;
                    int64_t nr = N - jr * NR < NR ? N - jr * NR : NR;
                    /* The next panel's B slice is cold (L3 or memory): the kernels fetch it a
                     * line every few k steps while this slice is reused by the MC block, so its
                     * misses overlap the FMAs instead of stalling the first tile of the next
                     * panel. A burst of prefetches here instead measured 5% of TinyBERT, stalled
                     * on the miss buffers. The rate covers the slice's 1.5 lines per k row over
                     * the block's tiles; past the slice it runs into this panel's next K step,
                     * which is wanted soon anyway. */
                    const char *pf = (const char *)(jr + 1 < jend ? bp + K * NR : bp + kc * NR);
                    int64_t n_ir = (iend - ic + MR - 1) / MR, pf_mask = 0;
                    while (pf_mask < 7 && 2 * (pf_mask + 1) * 3 <= 2 * n_ir) pf_mask = 2 * pf_mask + 1;
                    for (int64_t ir = ic; ir < iend; ir += MR) {
                        int64_t mr = M - ir < MR ? M - ir : MR;
                        const float *ap[MR];
                        int64_t as;
                        if (Ap) {
                            for (int r = 0; r < MR; r++) ap[r] = Ap + (ir / MR) * K * MR + pc * MR + r;
                            as = MR;
                        } else {
                            /* Rows past M reread row ir; their results are dropped below. */
                            for (int r = 0; r < MR; r++) ap[r] = A + (ir + (r < mr ? r : 0)) * lda + pc;
                            as = 1;
                        }
                        float *c = C + ir * ldc + jr * NR;
                        if (mr == MR && nr == NR) {
                            kernel(kc, ap, as, bp, c, ldc, load_c, bias, gelu, pf, pf_mask);
                        } else {
                            /* Edge tile: run the full kernel on a copy, keep the valid part. */
                            if (load_c)
                                for (int64_t r = 0; r < mr; r++) memcpy(tmp + r * NR, c + r * ldc, (size_t)nr * sizeof(float));
                            kernel(kc, ap, as, bp, tmp, NR, load_c, bias, gelu, pf, pf_mask);
                            for (int64_t r = 0; r < mr; r++) memcpy(c + r * ldc, tmp + r * NR, (size_t)nr * sizeof(float));
                        }
                        pf += (kc + pf_mask) / (pf_mask + 1) * 64;
                    }
                }
            }
        }
    }
}

void df_sgemm_run(const df_sgemm_b *pb, int64_t M, const float *A, int64_t a_rs, int64_t a_cs, float *C,
                  int64_t ldc, int flags, void *ws, int threads) {
    if (M <= 0) return;
    const int64_t K = pb->K, Mp = round_up(M, MR), npan = pb->Np / NR;
    /* Row-major A is read in place: its rows stream from L1/L2 as well as a packed copy
     * would, and packing (scattered 4-float stores) measured at several percent of a
     * 64-row GEMM. Only a strided (transposed) A is packed. */
    float *Ap = NULL;
    if (a_cs != 1)
        Ap = (float *)(((uintptr_t)ws + 31) & ~(uintptr_t)31);
    if (threads < 1) threads = 1;
    /* No team for work smaller than a few tiles per thread: the fork costs more than it saves. */
    if ((double)M * (double)K * (double)pb->Np < 2e5 * threads) threads = 1;
    if (threads == 1) {
        if (Ap) pack_a(A, a_rs, a_cs, M, K, 0, Mp, Ap);
        compute(pb, Ap, A, a_rs, M, C, ldc, flags, 0, Mp, 0, npan);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t mpan = Mp / MR;
        int64_t a0 = mpan * t / nt * MR, a1 = mpan * (t + 1) / nt * MR;
        if (Ap) {
            pack_a(A, a_rs, a_cs, M, K, a0, a1, Ap);
#pragma omp barrier
        }
        /* Split the columns when there are enough panels (each thread then reads only its own
         * share of B, the bigger operand); otherwise split the rows. */
        if (npan >= nt)
            compute(pb, Ap, A, a_rs, M, C, ldc, flags, 0, Mp, npan * t / nt, npan * (t + 1) / nt);
        else
            compute(pb, Ap, A, a_rs, M, C, ldc, flags, a0, a1, 0, npan);
    }
}

static bool g_preferred, g_forced;
static pthread_once_t g_pref_once = PTHREAD_ONCE_INIT;

/* Asks oneDNN which weight layout it wants for a typical BERT projection: a blocked one means
 * it prepacks (AVX-512 brgemm and the like) and is best left alone; plain `ab` means its
 * gemm driver repacks B every call, which this GEMM avoids. */
static void pref_init(void) {
    const char *env = getenv("DF_SGEMM");
    if (env && (env[0] == '0' || env[0] == '1') && env[1] == '\0') {
        g_preferred = g_forced = env[0] == '1';
        return;
    }
#if defined(__AVX2__) && defined(__FMA__)
    dnnl_engine_t eng = df_dnnl_engine();
    if (!eng) {
        g_preferred = true;
        return;
    }
    dnnl_dims_t ad = {64, 768}, wd = {768, 768}, cd = {64, 768};
    dnnl_memory_desc_t a, w, wu, c;
    dnnl_matmul_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_f32, dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&w, 2, wd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&wu, 2, wd, dnnl_f32, dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab) || dnnl_matmul_desc_init(&d, &a, &w, NULL, &c) ||
        dnnl_primitive_desc_create(&pd, &d, NULL, eng, NULL)) {
        g_preferred = true;
        return;
    }
    const dnnl_memory_desc_t *wm = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    g_preferred = wm && dnnl_memory_desc_equal(wm, &wu);
    dnnl_primitive_desc_destroy(pd);
#else
    g_preferred = false;
#endif
}

bool df_sgemm_preferred(void) {
    pthread_once(&g_pref_once, pref_init);
    return g_preferred;
}

bool df_sgemm_use(int64_t M, int64_t K, int64_t N) {
    if (!df_sgemm_preferred()) return false;
    if (g_forced) return true;
    /* Where each wins, measured on an AVX2 EPYC at 1 thread (tools: a oneDNN-vs-sgemm loop
     * over BERT shapes with cold weights, and TinyBERT/BERT-base sessions):
     *  - M < 4: a matrix-vector product; oneDNN's gemv streams B about 2x faster;
     *  - 4 <= M < 32: oneDNN's per-call B packing dominates; sgemm is 1.2-2.4x faster;
     *  - M >= 32 and weights of 2 MB or more (BERT-base: 768x768 up): sgemm is level to
     *    1.25x faster (768x3072: 1.15-1.25x), about 8% over a BERT-base encoder;
     *  - M >= 32 and smaller weights (TinyBERT's 312-wide layers): oneDNN is 3-5% faster in a
     *    whole session although level in isolation, so it keeps those. */
    if (M < MR) return false;
    if (M < 32) return true;
    return (double)K * (double)N * sizeof(float) >= 2.0 * 1024 * 1024;
}
