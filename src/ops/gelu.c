/* Gelu (opset 20): y = 0.5 x (1 + erf(x / sqrt 2)), or with approximate = "tanh"
 * y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Registered for any opset so a fusion
 * pass can emit it into older models (BERT's FFN activation). */
/* The kernels never read floating-point exception flags; without this gcc will not
 * if-convert the selects in nn_math.h (a comparison "may trap") and leaves the exp/erf loops
 * scalar. */
#pragma GCC optimize("no-trapping-math")

#include <math.h>
#include <string.h>

#include "ops/nn_math.h"
#include "ops/op.h"

static df_status gelu_mode(const df_node *n, int *tanh_mode, df_error *err) {
    const char *ap = df_attr_string(n, "approximate", "none");
    if (!strcmp(ap, "none")) *tanh_mode = 0;
    else if (!strcmp(ap, "tanh")) *tanh_mode = 1;
    else return df_node_error(err, DF_EINVAL, n, "approximate must be \"none\" or \"tanh\", not \"%s\"", ap);
    return DF_OK;
}

static df_status gelu_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x = df_node_in(g, n, 0);
    if (!x) return df_node_error(err, DF_EINVAL, n, "needs input 'X'");
    if (x->dtype != DF_F32 && x->dtype != DF_F64)
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", x->name,
                             df_dtype_name(x->dtype));
    int mode;
    df_status st = gelu_mode(n, &mode, err);
    if (st) return st;
    df_set_out(g, n, 0, x->dtype, &x->shape);
    return DF_OK;
}

static df_status gelu_run(const df_kernel_args *a) {
    int tanh_mode;
    df_status st = gelu_mode(a->node, &tanh_mode, a->err);
    if (st) return st;
    const df_tensor *x = a->in[0];
    const int64_t total = df_shape_numel(&x->shape);
    if (x->dtype == DF_F64) {
        const double *xv = x->data;
        double *yv = a->out[0]->data;
        for (int64_t i = 0; i < total; i++) {
            double v = xv[i];
            yv[i] = tanh_mode ? 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
                              : 0.5 * v * (1.0 + erf(v * 0.7071067811865476));
        }
        return DF_OK;
    }
    const float *xv = x->data;
    float *yv = a->out[0]->data;
    /* Chunks keep each thread on contiguous memory and the inner loop vectorized. */
    const int64_t chunk = 4096, nchunks = (total + chunk - 1) / chunk;
#pragma omp parallel for num_threads(a->threads) if (total > 65536 && a->threads > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        const int64_t lo = c * chunk, hi = lo + chunk < total ? lo + chunk : total;
        if (tanh_mode) {
#pragma omp simd
            for (int64_t i = lo; i < hi; i++) {
                float v = xv[i];
                yv[i] = 0.5f * v * (1.0f + df_fast_tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
            }
        } else {
#pragma omp simd
            for (int64_t i = lo; i < hi; i++) {
                float v = xv[i];
                yv[i] = 0.5f * v * (1.0f + df_fast_erff(v * 0.70710678118f));
            }
        }
    }
    return DF_OK;
}

const df_op_def df_op_Gelu = {
    .op_type = "Gelu",
    .infer = gelu_infer,
    .run = gelu_run,
};
