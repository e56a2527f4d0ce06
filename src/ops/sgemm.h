/* Prepacked single-precision GEMM for constant weights:
 *   C[M,N] = act(A[M,K] x B[K,N] + bias[N] (+ C when accumulating))
 *
 * Why it exists: on AVX2 CPUs without AVX-512, oneDNN 2.6's f32 matmul is `gemm:jit` with
 * weights left in plain `ab` layout, and its driver re-packs B on every call. With BERT's
 * M = batch*seq = 64 rows that copy is a large share of the work (measured: 768x3072 runs at
 * 17 GFLOP/s there). Here B is packed once, at prepare, into K-major panels of DF_SGEMM_NR
 * zero-padded columns; a row-major A is read in place.
 *
 * A run never allocates: its workspace (packed A) is sized by df_sgemm_workspace_bytes and
 * handed in by the caller (the executor's scratch). */
#ifndef DF_OPS_SGEMM_H
#define DF_OPS_SGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#define DF_SGEMM_MR 4   /* rows of one micro-tile */
#define DF_SGEMM_NR 24  /* columns of one packed panel (three 8-float vectors) */

enum {
    DF_SGEMM_ACCUMULATE = 1, /* add what C holds instead of overwriting it */
    DF_SGEMM_GELU = 2,       /* erf-form GELU after the bias: 0.5 x (1 + erf(x / sqrt 2)) */
};

typedef struct df_sgemm_b {
    int64_t K, N, Np;        /* Np = N rounded up to DF_SGEMM_NR */
    float *panels;           /* Np/NR panels, each K x NR, row k at k*NR; 64-byte aligned */
    float *bias;             /* Np floats (zero-padded) or NULL */
} df_sgemm_b;

/* Packs B once. B's element (k, n) is at B[k*rs + n*cs] (rs = N, cs = 1 for row-major;
 * swap them for a transposed B), multiplied by scale. bias may be NULL. */
df_status df_sgemm_pack_b(df_sgemm_b *pb, int64_t K, int64_t N, const float *B, int64_t rs, int64_t cs,
                          float scale, const float *bias, df_error *err);
void df_sgemm_b_free(df_sgemm_b *pb);

/* Workspace bytes a run with M rows and A column stride a_cs needs, for any thread count:
 * 0 for row-major A (read in place), M*K floats for a strided A (packed). */
size_t df_sgemm_workspace_bytes(int64_t M, int64_t K, int64_t a_cs);

/* C = act(A x Bpacked + bias (+ C)). A's element (m, k) is at A[m*a_rs + k*a_cs]; row m of C
 * starts at C + m*ldc; C must not overlap A. ws: df_sgemm_workspace_bytes(M, K, a_cs) bytes
 * (NULL when that is 0). threads:
 * the OpenMP team for this call (1 = none). */
void df_sgemm_run(const df_sgemm_b *pb, int64_t M, const float *A, int64_t a_rs, int64_t a_cs, float *C,
                  int64_t ldc, int flags, void *ws, int threads);

/* Whether ops should use this GEMM instead of oneDNN's for constant weights. The env var
 * DF_SGEMM=0/1 forces the choice; otherwise yes when this build has the AVX2/FMA kernel and
 * oneDNN leaves f32 weights unpacked on this CPU (probed once per process). */
bool df_sgemm_preferred(void);
/* The per-GEMM rule ops apply at prepare for C[M,N] = A[M,K] x B: df_sgemm_preferred(), and
 * unless DF_SGEMM=1 forces it, only the sizes where it measured faster than oneDNN (see
 * sgemm.c): at least DF_SGEMM_MR rows, and either fewer than 32 rows or weights of 2 MB or more. */
bool df_sgemm_use(int64_t M, int64_t K, int64_t N);

#endif
