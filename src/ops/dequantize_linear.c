/* DequantizeLinear: y = (x - x_zero_point) * x_scale, per tensor or (opset 13) per axis. */
#include <stdint.h>

#include "ops/op.h"
#include "ops/quant_common.h"

static df_status dql_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x = df_node_in(g, n, 0), *s = df_node_in(g, n, 1), *zp = df_node_in(g, n, 2);
    if (!x || !s) return df_node_error(err, DF_EINVAL, n, "needs inputs 'x' and 'x_scale'");
    if (!df_q_is_int8(x->dtype) && x->dtype != DF_I32)
        return df_node_error(err, DF_ETYPE, n, "input '%s' must be uint8, int8 or int32, not %s", x->name,
                             df_dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype)
        return df_node_error(err, DF_ETYPE, n, "zero point '%s' (%s) must have the dtype of '%s' (%s)", zp->name,
                             df_dtype_name(zp->dtype), x->name, df_dtype_name(x->dtype));
    df_q_layout L;
    df_status st = df_q_layout_make(n, x, s, zp, &L, err);
    if (st) return st;
    df_set_out(g, n, 0, DF_F32, &x->shape);
    return DF_OK;
}

static df_status dql_run(const df_kernel_args *a) {
    df_q_layout L;
    df_status st = df_q_layout_for_run(a, &L);
    if (st) return st;
    const df_tensor *x = a->in[0], *s = a->in[1], *zpt = a->n_in > 2 ? a->in[2] : NULL;
    float *yv = a->out[0]->data;
    const float *sv = s->data;
    const int64_t total = df_shape_numel(&x->shape);
    for (int64_t c0 = 0; c0 < total; c0 += L.inner) {
        int64_t ch = (c0 / L.inner) % L.channels;
        float scale = sv[ch];
        float zp = zpt ? (float)df_q_load_int(zpt->data, zpt->dtype, ch) : 0.0f;
        const int64_t end = c0 + L.inner;
        switch (x->dtype) {
        case DF_U8: {
            const uint8_t *restrict xp = (const uint8_t *)x->data;
#pragma omp simd
            for (int64_t i = c0; i < end; i++) yv[i] = ((float)xp[i] - zp) * scale;
            break;
        }
        case DF_I8: {
            const int8_t *restrict xp = (const int8_t *)x->data;
#pragma omp simd
            for (int64_t i = c0; i < end; i++) yv[i] = ((float)xp[i] - zp) * scale;
            break;
        }
        default:
            for (int64_t i = c0; i < end; i++) yv[i] = ((float)((const int32_t *)x->data)[i] - zp) * scale;
            break;
        }
    }
    return DF_OK;
}

const df_op_def df_op_DequantizeLinear = {
    .op_type = "DequantizeLinear",
    .infer = dql_infer,
    .run = dql_run,
};
