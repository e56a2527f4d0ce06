/* DynamicQuantizeLinear: uint8 quantization with a scale and zero point computed from x:
 * the range [min(0, min x), max(0, max x)] maps onto [0, 255]. */
#include <math.h>
#include <stdint.h>

#include "ops/op.h"
#include "ops/quant_common.h"

static df_status dyq_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x = df_node_in(g, n, 0);
    if (!x) return df_node_error(err, DF_EINVAL, n, "needs input 'x'");
    if (x->dtype != DF_F32)
        return df_node_error(err, DF_ETYPE, n, "input '%s' must be float32, not %s", x->name, df_dtype_name(x->dtype));
    df_shape scalar = {.rank = 0};
    df_set_out(g, n, 0, DF_U8, &x->shape);
    df_set_out(g, n, 1, DF_F32, &scalar);
    df_set_out(g, n, 2, DF_U8, &scalar);
    return DF_OK;
}

static df_status dyq_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    const float *xv = x->data;
    const int64_t total = df_shape_numel(&x->shape);
    float mn = 0.0f, mx = 0.0f;
    for (int64_t i = 0; i < total; i++) {
        mn = xv[i] < mn ? xv[i] : mn;
        mx = xv[i] > mx ? xv[i] : mx;
    }
    float scale = (mx - mn) / 255.0f;
    uint8_t zp = 0;
    uint8_t *yv = a->out[0]->data;
    if (scale > 0.0f) {
        zp = (uint8_t)df_q_round_sat((0.0f - mn) / scale, 0.0f, 255.0f);
        for (int64_t i = 0; i < total; i++) yv[i] = (uint8_t)df_q_round_sat(nearbyintf(xv[i] / scale) + zp, 0.0f, 255.0f);
    } else {
        /* All zeros (or empty): nothing to scale; every value quantizes to the zero point. */
        for (int64_t i = 0; i < total; i++) yv[i] = 0;
    }
    if (a->n_out > 1 && a->out[1]) *(float *)a->out[1]->data = scale;
    if (a->n_out > 2 && a->out[2]) *(uint8_t *)a->out[2]->data = zp;
    return DF_OK;
}

const df_op_def df_op_DynamicQuantizeLinear = {
    .op_type = "DynamicQuantizeLinear",
    .infer = dyq_infer,
    .run = dyq_run,
};
