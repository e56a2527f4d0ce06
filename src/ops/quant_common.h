/* Helpers shared by the quantization operators: the per-tensor / per-axis layout of a scale
 * and zero point, and round-half-to-even with saturation. */
#ifndef DF_OPS_QUANT_COMMON_H
#define DF_OPS_QUANT_COMMON_H

#include <math.h>
#include <stdint.h>

#include "ops/op.h"

/* x viewed as outer x channels x inner around the quantization axis; channels = 1 when
 * per-tensor. The channel of flat index i is (i / inner) % channels. */
typedef struct df_q_layout {
    int64_t channels, inner;
} df_q_layout;

static inline int df_q_is_int8(df_dtype dt) { return dt == DF_U8 || dt == DF_I8; }

/* Checks scale (and zero point when present) against x for QuantizeLinear/DequantizeLinear:
 * a scalar or one-element tensor is per-tensor; from opset 13 a 1-D tensor the size of x's
 * `axis` dim (default 1) is per-axis. */
static inline df_status df_q_layout_make(const df_node *n, const df_value *x, const df_value *scale,
                                         const df_value *zp, df_q_layout *L, df_error *err) {
    L->channels = 1;
    L->inner = 1;
    if (scale->dtype != DF_F32)
        return df_node_error(err, DF_ETYPE, n, "scale '%s' must be float32, not %s", scale->name,
                             df_dtype_name(scale->dtype));
    if (zp && !df_shape_equal(&zp->shape, &scale->shape)) {
        char a[64], b[64];
        return df_node_error(err, DF_ESHAPE, n, "zero point '%s' %s must have the shape of scale '%s' %s", zp->name,
                             df_shape_str(&zp->shape, a, sizeof a), scale->name,
                             df_shape_str(&scale->shape, b, sizeof b));
    }
    if (df_shape_numel(&scale->shape) == 1 && scale->shape.rank <= 1) {
        /* Per tensor: one run over every element, so the kernels' inner loops vectorize
         * (an inner length of 1 made every element its own loop). */
        int64_t numel = df_shape_numel(&x->shape);
        L->inner = numel > 0 ? numel : 1;
        return DF_OK;
    }
    if (n->opset > 0 && n->opset < 13)
        return df_node_error(err, DF_ESHAPE, n, "scale '%s' must be a scalar before opset 13", scale->name);
    if (scale->shape.rank != 1)
        return df_node_error(err, DF_ESHAPE, n, "scale '%s' must be a scalar or 1-D, has rank %d", scale->name,
                             scale->shape.rank);
    int64_t axis;
    df_status st = df_norm_axis(df_attr_int(n, "axis", 1), x->shape.rank, &axis, n, err);
    if (st) return st;
    if (scale->shape.dims[0] != x->shape.dims[axis])
        return df_node_error(err, DF_ESHAPE, n, "scale '%s' has %lld values but '%s' has %lld along axis %lld",
                             scale->name, (long long)scale->shape.dims[0], x->name, (long long)x->shape.dims[axis],
                             (long long)axis);
    L->channels = scale->shape.dims[0];
    for (int d = (int)axis + 1; d < x->shape.rank; d++) L->inner *= x->shape.dims[d];
    return DF_OK;
}

/* Rounds half to even (the default rounding mode) and clamps to [lo, hi]. */
static inline int32_t df_q_round_sat(float v, float lo, float hi) {
    v = nearbyintf(v);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int32_t)v;
}

/* QuantizeLinear's value of one float: round half to even of x / scale (a division, as the
 * spec writes it), plus the zero point, saturated to [lo, hi]. NaN gives 0, what the op's
 * float -> int32 -> 8-bit conversion leaves of it. The scalar form the fused paths share
 * (ops/qgemm.c, ops/qmatmul.c); quantize_linear.c keeps its own loop, written to vectorize. */
static inline int32_t df_q_quantize(float x, float scale, float zp, float lo, float hi) {
    float v = nearbyintf(x / scale) + zp;
    if (v != v) return 0;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int32_t)v;
}

static inline int32_t df_q_load_int(const void *p, df_dtype dt, int64_t i) {
    switch (dt) {
    case DF_U8: return ((const uint8_t *)p)[i];
    case DF_I8: return ((const int8_t *)p)[i];
    case DF_I32: return ((const int32_t *)p)[i];
    default: return 0;
    }
}

/* The layout for a run: the node's inferred values, with x's shape taken from the run's
 * tensor (a variable-batch plan runs fewer rows than were inferred). */
static inline df_status df_q_layout_for_run(const df_kernel_args *a, df_q_layout *L) {
    const df_graph *g = a->graph;
    const df_node *n = a->node;
    df_value x = *df_node_in(g, n, 0);
    x.shape = a->in[0]->shape;
    return df_q_layout_make(n, &x, df_node_in(g, n, 1), df_node_in(g, n, 2), L, a->err);
}

#endif
