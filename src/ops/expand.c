/* Expand and Tile: both are strided copies whose source strides repeat the input (stride 0
 * for broadcast dims; Tile as [repeat, dim] pairs with the repeat's stride 0). */
#include "ops/shape_common.h"

static df_status expand_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int64_t want[DF_MAX_RANK];
    size_t cnt;
    if ((st = sh_const_ints(g, n, 1, want, DF_MAX_RANK, &cnt, err))) return st;
    for (size_t i = 0; i < cnt; i++)
        if (want[i] < 0)
            return df_node_error(err, DF_EINVAL, n, "shape '%s'[%zu] = %lld is negative", df_node_in(g, n, 1)->name, i,
                                 (long long)want[i]);
    df_shape ws = df_shape_make((int)cnt, want), s;
    if ((st = df_broadcast_shape(&x->shape, &ws, &s, n, err))) return st;
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status expand_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    df_tensor *y = a->out[0];
    int rank = y->shape.rank, lead = rank - x->shape.rank;
    int64_t in_strides[DF_MAX_RANK], strides[DF_MAX_RANK];
    sh_strides(&x->shape, in_strides);
    for (int i = 0; i < rank; i++) {
        int k = i - lead;
        strides[i] = (k < 0 || x->shape.dims[k] == 1) ? 0 : in_strides[k];
    }
    sh_strided_copy(y->data, x->data, rank, y->shape.dims, strides, df_dtype_size(x->dtype), sh_threads(a));
    return DF_OK;
}

static df_status tile_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int64_t reps[DF_MAX_RANK];
    size_t cnt;
    if ((st = sh_const_ints(g, n, 1, reps, DF_MAX_RANK, &cnt, err))) return st;
    if ((int)cnt != x->shape.rank)
        return df_node_error(err, DF_ESHAPE, n, "repeats has %zu entries but input '%s' has rank %d", cnt, x->name,
                             x->shape.rank);
    df_shape s = x->shape;
    for (int i = 0; i < s.rank; i++) {
        if (reps[i] < 0) return df_node_error(err, DF_EINVAL, n, "repeats[%d] = %lld is negative", i, (long long)reps[i]);
        s.dims[i] *= reps[i];
    }
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status tile_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    df_tensor *y = a->out[0];
    int rank = x->shape.rank;
    int64_t in_strides[DF_MAX_RANK], dims[SH_MAX_COPY_RANK], strides[SH_MAX_COPY_RANK];
    sh_strides(&x->shape, in_strides);
    for (int i = 0; i < rank; i++) {
        int64_t d = x->shape.dims[i];
        if (d == 0 || y->shape.dims[i] == 0) return DF_OK;
        dims[2 * i] = y->shape.dims[i] / d;
        strides[2 * i] = 0;
        dims[2 * i + 1] = d;
        strides[2 * i + 1] = in_strides[i];
    }
    sh_strided_copy(y->data, x->data, 2 * rank, dims, strides, df_dtype_size(x->dtype), sh_threads(a));
    return DF_OK;
}

const df_op_def df_op_Expand = {.op_type = "Expand", .infer = expand_infer, .run = expand_run};
const df_op_def df_op_Tile = {.op_type = "Tile", .infer = tile_infer, .run = tile_run};
