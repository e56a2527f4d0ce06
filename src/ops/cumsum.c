/* CumSum along one axis, with the exclusive and reverse variants. The output row doubles as
 * the running sum, so the loop is over whole inner rows (vectorizes) with no scratch. */
#include "ops/shape_common.h"

static int cumsum_dtype_ok(df_dtype dt) {
    return dt == DF_F32 || dt == DF_F64 || dt == DF_I32 || dt == DF_I64 || dt == DF_U32 || dt == DF_U64;
}

static df_status cumsum_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x, *ax;
    df_status st = sh_input(g, n, 0, &x, err);
    if (st || (st = sh_input(g, n, 1, &ax, err))) return st;
    if (!cumsum_dtype_ok(x->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", x->name, df_dtype_name(x->dtype));
    if (!sh_is_int_index(ax->dtype) || df_shape_numel(&ax->shape) != 1 || ax->shape.rank > 1)
        return df_node_error(err, DF_EINVAL, n, "axis '%s' must be an int32 or int64 scalar", ax->name);
    if (x->shape.rank < 1) return df_node_error(err, DF_ESHAPE, n, "input '%s' must have rank >= 1", x->name);
    if (ax->has_const) {
        int64_t axis;
        if ((st = df_norm_axis(ax->value.dtype == DF_I64 ? *(int64_t *)ax->value.data : *(int32_t *)ax->value.data,
                               x->shape.rank, &axis, n, err)))
            return st;
    }
    df_set_out(g, n, 0, x->dtype, &x->shape);
    return DF_OK;
}

#define CUMSUM_LOOP(T)                                                                                          \
    for (int64_t o = 0; o < outer; o++) {                                                                       \
        const T *xs = (const T *)x->data + o * len * inner;                                                     \
        T *ys = (T *)y->data + o * len * inner;                                                                 \
        for (int64_t s = 0; s < len; s++) {                                                                     \
            int64_t j = reverse ? len - 1 - s : s, prev = reverse ? j + 1 : j - 1;                             \
            T *yr = ys + j * inner;                                                                             \
            if (s == 0) {                                                                                       \
                for (int64_t i = 0; i < inner; i++) yr[i] = exclusive ? (T)0 : xs[j * inner + i];               \
            } else {                                                                                            \
                const T *yp = ys + prev * inner, *xr = xs + (exclusive ? prev : j) * inner;                     \
                for (int64_t i = 0; i < inner; i++) yr[i] = yp[i] + xr[i];                                      \
            }                                                                                                   \
        }                                                                                                       \
    }

static df_status cumsum_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    df_tensor *y = a->out[0];
    int64_t ax[1], axis;
    size_t cnt;
    df_status st = sh_run_ints(a, 1, ax, 1, &cnt);
    if (st) return st;
    if (cnt != 1 || (st = df_norm_axis(ax[0], x->shape.rank, &axis, a->node, a->err)))
        return st ? st : df_node_error(a->err, DF_EINVAL, a->node, "axis must be a scalar");
    int exclusive = df_attr_int(a->node, "exclusive", 0) != 0, reverse = df_attr_int(a->node, "reverse", 0) != 0;
    int64_t outer = 1, inner = 1, len = x->shape.dims[axis];
    for (int i = 0; i < axis; i++) outer *= x->shape.dims[i];
    for (int i = (int)axis + 1; i < x->shape.rank; i++) inner *= x->shape.dims[i];
    switch (x->dtype) {
    case DF_F32: CUMSUM_LOOP(float) break;
    case DF_F64: CUMSUM_LOOP(double) break;
    case DF_I32: CUMSUM_LOOP(int32_t) break;
    case DF_I64: CUMSUM_LOOP(int64_t) break;
    case DF_U32: CUMSUM_LOOP(uint32_t) break;
    case DF_U64: CUMSUM_LOOP(uint64_t) break;
    default: return df_node_error(a->err, DF_ETYPE, a->node, "unsupported dtype %s", df_dtype_name(x->dtype));
    }
    return DF_OK;
}

const df_op_def df_op_CumSum = {.op_type = "CumSum", .infer = cumsum_infer, .run = cumsum_run};
