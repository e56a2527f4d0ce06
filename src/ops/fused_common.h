/* Helpers for the fused family (ai.dpuflow): a oneDNN f32 GEMM with constant, prepacked
 * weights, a bias and an optional eltwise post-op, reusing df_dnnl_mm's run/destroy. */
#ifndef DF_OPS_FUSED_COMMON_H
#define DF_OPS_FUSED_COMMON_H

#include "ops/dnnl_common.h"
#include "ops/op.h"

typedef enum df_fused_act { DF_ACT_NONE = 0, DF_ACT_GELU_ERF, DF_ACT_GELU_TANH } df_fused_act;

/* dst[M,N] = act(A[M,K] x W[K,N] + bias[N]) for M = unit_rows * m, m = 1..max_mult (see
 * df_dnnl_mm_rows); W and bias are copied (W packed) now. bias may be NULL. On failure
 * nothing is left allocated. */
df_status df_fused_gemm_create(df_dnnl_mm_rows *mm, int64_t unit_rows, int max_mult, int64_t K, int64_t N,
                               const float *W, const float *bias, df_fused_act act, const df_node *n, df_error *err);

/* The OpenMP team size prepare runs under (the session sets it before preparing). */
int df_fused_max_threads(void);

#endif
