#include "ops/fused_common.h"

#include <omp.h>

int df_fused_max_threads(void) {
    int t = omp_get_max_threads();
    return t > 0 ? t : 1;
}

df_status df_fused_gemm_create(df_dnnl_mm_rows *mm, int64_t M, int max_mult, int64_t K, int64_t N,
                               const float *W, const float *bias, df_fused_act act, const df_node *n, df_error *err) {
    /* The shared matmul plan, with the activation as an eltwise post-op. */
    df_mm_spec spec = {
        .ndims = 2,
        .a_dims = {M, K}, .a_strides = {K, 1},
        .b_dims = {K, N}, .b_strides = {N, 1},
        .c_dims = {M, N},
        .b_const = W, .b_scale = 1.0f, .bias = bias, .alpha = 1.0f, .beta = 0.0f,
        .eltwise = act == DF_ACT_GELU_ERF ? dnnl_eltwise_gelu_erf
                   : act == DF_ACT_GELU_TANH ? dnnl_eltwise_gelu_tanh : dnnl_alg_kind_undef,
    };
    return df_dnnl_mm_rows_create(mm, &spec, max_mult, n, err);
}
