/* Squeeze and Unsqueeze: drop or insert unit dims. Their axes moved from an attribute to an
 * input at opset 13. */
#include "ops/shape_common.h"

/* Reads the axes; *present = 0 when none were given (Squeeze then drops every unit dim). */
static df_status read_axes(df_graph *g, df_node *n, int64_t *axes, size_t *cnt, int *present, df_error *err) {
    *present = 0;
    *cnt = 0;
    if (n->opset < 13) {
        const int64_t *p = df_attr_ints(n, "axes", cnt);
        if (!p) return DF_OK;
        if (*cnt > DF_MAX_RANK) return df_node_error(err, DF_ERANGE, n, "too many axes (%zu)", *cnt);
        memcpy(axes, p, *cnt * sizeof *p);
        *present = 1;
        return DF_OK;
    }
    if (!df_node_in(g, n, 1)) return DF_OK;
    *present = 1;
    return sh_const_ints(g, n, 1, axes, DF_MAX_RANK, cnt, err);
}

/* Normalizes axes against rank and marks them in mask; rejects out-of-range and repeats. */
static df_status mark_axes(const df_node *n, const int64_t *axes, size_t cnt, int rank, int *mask, df_error *err) {
    for (size_t i = 0; i < cnt; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank)
            return df_node_error(err, DF_ERANGE, n, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
        if (mask[a]) return df_node_error(err, DF_EINVAL, n, "axis %lld is repeated", (long long)axes[i]);
        mask[a] = 1;
    }
    return DF_OK;
}

static df_status squeeze_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int64_t axes[DF_MAX_RANK];
    size_t cnt;
    int present, mask[DF_MAX_RANK] = {0};
    if ((st = read_axes(g, n, axes, &cnt, &present, err))) return st;
    int rank = x->shape.rank;
    /* An empty axes tensor reads like an absent one, as ONNX Runtime treats it. */
    if (present && cnt > 0) {
        if ((st = mark_axes(n, axes, cnt, rank, mask, err))) return st;
    } else {
        for (int i = 0; i < rank; i++) mask[i] = x->shape.dims[i] == 1;
    }
    df_shape s = {.rank = 0};
    for (int i = 0; i < rank; i++) {
        if (!mask[i]) {
            s.dims[s.rank++] = x->shape.dims[i];
            continue;
        }
        if (x->shape.dims[i] != 1)
            return df_node_error(err, DF_ESHAPE, n, "cannot squeeze axis %d of input '%s': its size is %lld, not 1", i,
                                 x->name, (long long)x->shape.dims[i]);
    }
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status unsqueeze_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int64_t axes[DF_MAX_RANK];
    size_t cnt;
    int present, mask[DF_MAX_RANK] = {0};
    if ((st = read_axes(g, n, axes, &cnt, &present, err))) return st;
    if (!present) return df_node_error(err, DF_EINVAL, n, "axes are required");
    int rank = x->shape.rank + (int)cnt;
    if (rank > DF_MAX_RANK) return df_node_error(err, DF_ERANGE, n, "output rank %d exceeds %d", rank, DF_MAX_RANK);
    if ((st = mark_axes(n, axes, cnt, rank, mask, err))) return st;
    df_shape s = {.rank = rank};
    for (int i = 0, j = 0; i < rank; i++) s.dims[i] = mask[i] ? 1 : x->shape.dims[j++];
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status copy_run(const df_kernel_args *a) { return sh_copy_through(a); }

const df_op_def df_op_Squeeze = {.op_type = "Squeeze", .infer = squeeze_infer, .run = copy_run};
const df_op_def df_op_Unsqueeze = {.op_type = "Unsqueeze", .infer = unsqueeze_infer, .run = copy_run};
