/* Trilu: keeps the upper (or lower) triangle of the last two dims, shifted by k. */
#include "ops/shape_common.h"

static df_status trilu_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x, *k = df_node_in(g, n, 1);
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    if (x->shape.rank < 2) return df_node_error(err, DF_ESHAPE, n, "input '%s' must have rank >= 2", x->name);
    if (k && (k->dtype != DF_I64 || df_shape_numel(&k->shape) != 1))
        return df_node_error(err, DF_EINVAL, n, "k '%s' must be an int64 scalar", k->name);
    df_set_out(g, n, 0, x->dtype, &x->shape);
    return DF_OK;
}

static df_status trilu_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    df_tensor *y = a->out[0];
    int64_t k = a->n_in > 1 && a->in[1] ? *(const int64_t *)a->in[1]->data : 0;
    int upper = df_attr_int(a->node, "upper", 1) != 0;
    int rank = x->shape.rank;
    int64_t rows = x->shape.dims[rank - 2], cols = x->shape.dims[rank - 1];
    int64_t mats = rows && cols ? df_shape_numel(&x->shape) / (rows * cols) : 0;
    size_t es = df_dtype_size(x->dtype);
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++) {
            size_t off = (size_t)((m * rows + i) * cols) * es;
            const char *src = (const char *)x->data + off;
            char *dst = (char *)y->data + off;
            /* Kept columns: j >= i + k (upper) or j <= i + k (lower). */
            int64_t edge = i + k;
            int64_t keep0 = upper ? edge : 0, keep1 = upper ? cols : edge + 1;
            if (keep0 < 0) keep0 = 0;
            if (keep1 > cols) keep1 = cols;
            if (keep1 < keep0) keep1 = keep0;
            if (keep0 > cols) keep0 = keep1 = cols;
            memset(dst, 0, (size_t)keep0 * es);
            memcpy(dst + (size_t)keep0 * es, src + (size_t)keep0 * es, (size_t)(keep1 - keep0) * es);
            memset(dst + (size_t)keep1 * es, 0, (size_t)(cols - keep1) * es);
        }
    return DF_OK;
}

const df_op_def df_op_Trilu = {.op_type = "Trilu", .infer = trilu_infer, .run = trilu_run};
