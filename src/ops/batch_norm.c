/* BatchNormalization, inference form: y = (x - mean) / sqrt(var + epsilon) * scale + B per
 * channel (dim 1). Folded into one multiply-add per element with per-channel constants. */
#include <math.h>

#include "ops/op.h"

static df_status bn_check(const df_graph *g, const df_node *n, df_error *err) {
    df_value *x = df_node_in(g, n, 0);
    static const char *names[5] = {"X", "scale", "B", "input_mean", "input_var"};
    if (!x) return df_node_error(err, DF_EINVAL, n, "needs input 'X'");
    if (x->dtype != DF_F32)
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s; only float32 is supported", x->name,
                             df_dtype_name(x->dtype));
    if (df_attr_int(n, "training_mode", 0) != 0)
        return df_node_error(err, DF_EUNSUPPORTED, n, "training_mode=1 is not supported (inference only)");
    if (x->shape.rank < 2) return df_node_error(err, DF_ESHAPE, n, "input '%s' must have rank >= 2", x->name);
    for (int i = 1; i < n->n_outputs; i++)
        if (df_node_out(g, n, i))
            return df_node_error(err, DF_EUNSUPPORTED, n, "output %d exists only in training mode", i);
    int64_t C = x->shape.dims[1];
    for (int i = 1; i < 5; i++) {
        df_value *p = df_node_in(g, n, i);
        if (!p) return df_node_error(err, DF_EINVAL, n, "needs input '%s'", names[i]);
        if (p->dtype != DF_F32)
            return df_node_error(err, DF_ETYPE, n, "input '%s' must be float32", p->name);
        if (p->shape.rank != 1 || p->shape.dims[0] != C)
            return df_node_error(err, DF_ESHAPE, n, "input '%s' must be [%lld] (the channels of '%s')", p->name,
                                 (long long)C, x->name);
    }
    return DF_OK;
}

static df_status bn_infer(df_graph *g, df_node *n, df_error *err) {
    df_status st = bn_check(g, n, err);
    if (st) return st;
    df_value *x = df_node_in(g, n, 0);
    df_set_out(g, n, 0, x->dtype, &x->shape);
    return DF_OK;
}

static df_status bn_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    const float *scale = a->in[1]->data, *bias = a->in[2]->data, *mean = a->in[3]->data, *var = a->in[4]->data;
    const float eps = df_attr_float(a->node, "epsilon", 1e-5f);
    const int64_t N = x->shape.dims[0], C = x->shape.dims[1];
    int64_t inner = 1;
    for (int d = 2; d < x->shape.rank; d++) inner *= x->shape.dims[d];
    const float *xv = x->data;
    float *yv = a->out[0]->data;
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t c = nc % C;
        float mul = scale[c] / sqrtf(var[c] + eps);
        float add = bias[c] - mean[c] * mul;
        const float *xr = xv + nc * inner;
        float *yr = yv + nc * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) yr[i] = xr[i] * mul + add;
    }
    return DF_OK;
}

const df_op_def df_op_BatchNormalization = {
    .op_type = "BatchNormalization",
    .infer = bn_infer,
    .run = bn_run,
};
