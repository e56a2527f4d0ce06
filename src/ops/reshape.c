/* Reshape and Flatten: new shape, same bytes. */
#include "ops/shape_common.h"

static df_status reshape_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int64_t want[DF_MAX_RANK + 1];
    size_t cnt = 0;
    const char *shape_name = "shape";
    if (n->opset < 5) {
        const int64_t *p = df_attr_ints(n, "shape", &cnt);
        if (!p) return df_node_error(err, DF_EINVAL, n, "attribute 'shape' is missing");
        if (cnt > DF_MAX_RANK) return df_node_error(err, DF_ERANGE, n, "target rank %zu exceeds %d", cnt, DF_MAX_RANK);
        memcpy(want, p, cnt * sizeof *p);
    } else {
        if ((st = sh_const_ints(g, n, 1, want, DF_MAX_RANK, &cnt, err))) return st;
        shape_name = df_node_in(g, n, 1)->name;
    }
    int allowzero = n->opset >= 14 ? (int)df_attr_int(n, "allowzero", 0) : 0;
    df_shape s = {.rank = (int)cnt};
    int infer_at = -1, has_zero = 0;
    int64_t known = 1;
    for (int i = 0; i < s.rank; i++) {
        int64_t d = want[i];
        if (d == -1) {
            if (infer_at >= 0)
                return df_node_error(err, DF_EINVAL, n, "'%s' has more than one -1", shape_name);
            infer_at = i;
            continue;
        }
        if (d == 0 && !allowzero) {
            if (i >= x->shape.rank)
                return df_node_error(err, DF_ESHAPE, n, "'%s'[%d] is 0 (copy) but input '%s' has rank %d",
                                     shape_name, i, x->name, x->shape.rank);
            d = x->shape.dims[i];
        } else if (d < 0) {
            return df_node_error(err, DF_EINVAL, n, "'%s'[%d] = %lld is negative", shape_name, i, (long long)d);
        }
        if (d == 0) has_zero = 1;
        s.dims[i] = d;
        known *= d;
    }
    int64_t total = df_shape_numel(&x->shape);
    char a[128], b[128];
    if (infer_at >= 0) {
        if (allowzero && has_zero)
            return df_node_error(err, DF_EINVAL, n, "'%s' has both 0 and -1 with allowzero=1", shape_name);
        if (known == 0 || total % known)
            return df_node_error(err, DF_ESHAPE, n, "cannot reshape input '%s' %s (%lld elements) to %s: -1 cannot be inferred",
                                 x->name, df_shape_str(&x->shape, a, sizeof a), (long long)total,
                                 df_shape_str(&s, b, sizeof b));
        s.dims[infer_at] = total / known;
    } else if (known != total) {
        return df_node_error(err, DF_ESHAPE, n, "cannot reshape input '%s' %s (%lld elements) to %s (%lld elements)",
                             x->name, df_shape_str(&x->shape, a, sizeof a), (long long)total,
                             df_shape_str(&s, b, sizeof b), (long long)known);
    }
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status flatten_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int rank = x->shape.rank;
    int64_t axis = df_attr_int(n, "axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank)
        return df_node_error(err, DF_ERANGE, n, "axis %lld is out of range for input '%s' of rank %d",
                             (long long)df_attr_int(n, "axis", 1), x->name, rank);
    df_shape s = {.rank = 2, .dims = {1, 1}};
    for (int i = 0; i < rank; i++) s.dims[i < axis ? 0 : 1] *= x->shape.dims[i];
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status copy_run(const df_kernel_args *a) { return sh_copy_through(a); }

const df_op_def df_op_Reshape = {.op_type = "Reshape", .infer = reshape_infer, .run = copy_run};
const df_op_def df_op_Flatten = {.op_type = "Flatten", .infer = flatten_infer, .run = copy_run};
