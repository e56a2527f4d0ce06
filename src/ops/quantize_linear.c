/* QuantizeLinear: y = saturate(round_half_even(x / y_scale) + y_zero_point), per tensor or
 * (opset 13) per axis; y is uint8 unless the zero point says int8. */
#include <stdint.h>

#include "ops/op.h"
#include "ops/quant_common.h"

static df_status ql_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x = df_node_in(g, n, 0), *s = df_node_in(g, n, 1), *zp = df_node_in(g, n, 2);
    if (!x || !s) return df_node_error(err, DF_EINVAL, n, "needs inputs 'x' and 'y_scale'");
    if (x->dtype != DF_F32 && x->dtype != DF_I32)
        return df_node_error(err, DF_ETYPE, n, "input '%s' must be float32 or int32, not %s", x->name,
                             df_dtype_name(x->dtype));
    df_dtype yt = zp ? zp->dtype : DF_U8;
    if (!df_q_is_int8(yt))
        return df_node_error(err, DF_ETYPE, n, "zero point '%s' must be uint8 or int8, not %s", zp->name,
                             df_dtype_name(yt));
    df_q_layout L;
    df_status st = df_q_layout_make(n, x, s, zp, &L, err);
    if (st) return st;
    df_set_out(g, n, 0, yt, &x->shape);
    return DF_OK;
}

static df_status ql_run(const df_kernel_args *a) {
    df_q_layout L;
    df_status st = df_q_layout_for_run(a, &L);
    if (st) return st;
    const df_tensor *x = a->in[0], *s = a->in[1], *zpt = a->n_in > 2 ? a->in[2] : NULL;
    df_tensor *y = a->out[0];
    const float *sv = s->data;
    const int64_t total = df_shape_numel(&x->shape);
    const float lo = y->dtype == DF_U8 ? 0.0f : -128.0f, hi = y->dtype == DF_U8 ? 255.0f : 127.0f;
    if (x->dtype == DF_F32) {
        /* The activation path of every INT8 model: one branch-free loop per channel run, so
         * gcc vectorizes it (division kept, not a reciprocal multiply, to round exactly as the
         * spec's x / y_scale does). */
        for (int64_t c0 = 0; c0 < total; c0 += L.inner) {
            int64_t ch = (c0 / L.inner) % L.channels;
            const float scale = sv[ch];
            const float zp = zpt ? (float)df_q_load_int(zpt->data, zpt->dtype, ch) : 0.0f;
            const float *restrict xp = (const float *)x->data + c0;
            if (y->dtype == DF_U8) {
                uint8_t *restrict yp = (uint8_t *)y->data + c0;
#pragma omp simd
                for (int64_t i = 0; i < L.inner; i++) {
                    float v = nearbyintf(xp[i] / scale) + zp;
                    v = v < lo ? lo : v;
                    v = v > hi ? hi : v;
                    yp[i] = (uint8_t)(int32_t)v;
                }
            } else {
                int8_t *restrict yp = (int8_t *)y->data + c0;
#pragma omp simd
                for (int64_t i = 0; i < L.inner; i++) {
                    float v = nearbyintf(xp[i] / scale) + zp;
                    v = v < lo ? lo : v;
                    v = v > hi ? hi : v;
                    yp[i] = (int8_t)(int32_t)v;
                }
            }
        }
        return DF_OK;
    }
    for (int64_t c0 = 0; c0 < total; c0 += L.inner) {
        int64_t ch = (c0 / L.inner) % L.channels;
        float scale = sv[ch];
        float zp = zpt ? (float)df_q_load_int(zpt->data, zpt->dtype, ch) : 0.0f;
        for (int64_t i = c0; i < c0 + L.inner; i++) {
            float xv = x->dtype == DF_F32 ? ((const float *)x->data)[i] : (float)((const int32_t *)x->data)[i];
            /* Rounded before the zero point is added, as the spec writes it. */
            int32_t q = df_q_round_sat(nearbyintf(xv / scale) + zp, lo, hi);
            if (y->dtype == DF_U8) ((uint8_t *)y->data)[i] = (uint8_t)q;
            else ((int8_t *)y->data)[i] = (int8_t)q;
        }
    }
    return DF_OK;
}

const df_op_def df_op_QuantizeLinear = {
    .op_type = "QuantizeLinear",
    .infer = ql_infer,
    .run = ql_run,
};
