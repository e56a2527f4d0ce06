/* Concat and Split: both see the tensor as [outer, axis.., inner] and move one contiguous
 * chunk per input/output per outer index. */
#include "ops/shape_common.h"

static df_status concat_infer(df_graph *g, df_node *n, df_error *err) {
    if (n->n_inputs < 1) return df_node_error(err, DF_EINVAL, n, "needs at least one input");
    df_value *x0;
    df_status st = sh_input_bytes(g, n, 0, &x0, err);
    if (st) return st;
    int rank = x0->shape.rank;
    if (rank == 0) return df_node_error(err, DF_ESHAPE, n, "input '%s' is a scalar; Concat needs rank >= 1", x0->name);
    const df_attr *aa = df_node_attr(n, "axis");
    if (!aa && n->opset >= 4) return df_node_error(err, DF_EINVAL, n, "attribute 'axis' is missing");
    int64_t axis;
    if ((st = df_norm_axis(aa ? aa->i : 1, rank, &axis, n, err))) return st;
    df_shape s = x0->shape;
    s.dims[axis] = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        df_value *x;
        if ((st = sh_input(g, n, i, &x, err))) return st;
        if (x->dtype != x0->dtype)
            return df_node_error(err, DF_ETYPE, n, "input '%s' is %s but '%s' is %s", x->name, df_dtype_name(x->dtype),
                                 x0->name, df_dtype_name(x0->dtype));
        if (x->shape.rank != rank)
            return df_node_error(err, DF_ESHAPE, n, "input '%s' has rank %d but '%s' has rank %d", x->name,
                                 x->shape.rank, x0->name, rank);
        for (int d = 0; d < rank; d++)
            if (d != axis && x->shape.dims[d] != x0->shape.dims[d]) {
                char a[128], b[128];
                return df_node_error(err, DF_ESHAPE, n, "input '%s' %s does not match '%s' %s outside axis %lld",
                                     x->name, df_shape_str(&x->shape, a, sizeof a), x0->name,
                                     df_shape_str(&x0->shape, b, sizeof b), (long long)axis);
            }
        s.dims[axis] += x->shape.dims[axis];
    }
    df_set_out(g, n, 0, x0->dtype, &s);
    return DF_OK;
}

/* Index of the axis in a->out[0] / a->in[0] along which the pieces lie: recovered from shapes so
 * run needs no state. */
static int64_t concat_axis(const df_node *n, int rank) {
    int64_t axis = df_attr_int(n, "axis", 1);
    return axis < 0 ? axis + rank : axis;
}

static df_status concat_run(const df_kernel_args *a) {
    df_tensor *out = a->out[0];
    int rank = out->shape.rank;
    int64_t axis = concat_axis(a->node, rank);
    size_t es = df_dtype_size(out->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= out->shape.dims[d];
    for (int d = (int)axis + 1; d < rank; d++) inner *= out->shape.dims[d];
    size_t row = (size_t)(out->shape.dims[axis] * inner) * es;
    int nt = out->nbytes >= SH_PARALLEL_BYTES && outer > 1 ? sh_threads(a) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; o++) {
        char *dst = (char *)out->data + (size_t)o * row;
        for (int i = 0; i < a->n_in; i++) {
            const df_tensor *x = a->in[i];
            size_t chunk = (size_t)(x->shape.dims[axis] * inner) * es;
            if (chunk) memcpy(dst, (const char *)x->data + (size_t)o * chunk, chunk);
            dst += chunk;
        }
    }
    return DF_OK;
}

#define SPLIT_MAX 1024

static df_status split_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int rank = x->shape.rank;
    int64_t axis;
    if ((st = df_norm_axis(df_attr_int(n, "axis", 0), rank, &axis, n, err))) return st;
    int nout = n->n_outputs;
    if (nout < 1 || nout > SPLIT_MAX) return df_node_error(err, DF_EINVAL, n, "has %d outputs", nout);
    int64_t sizes[SPLIT_MAX];
    size_t cnt = 0;
    int have = 0;
    if (n->opset < 13) {
        const int64_t *p = df_attr_ints(n, "split", &cnt);
        if (!p && n->opset < 2 && df_node_in(g, n, 1)) {
            if ((st = sh_const_ints(g, n, 1, sizes, SPLIT_MAX, &cnt, err))) return st;
            have = 1;
        } else if (p) {
            if (cnt > SPLIT_MAX) return df_node_error(err, DF_ERANGE, n, "'split' has %zu entries", cnt);
            memcpy(sizes, p, cnt * sizeof *p);
            have = 1;
        }
    } else if (df_node_in(g, n, 1)) {
        if ((st = sh_const_ints(g, n, 1, sizes, SPLIT_MAX, &cnt, err))) return st;
        have = 1;
    }
    int64_t dim = x->shape.dims[axis];
    if (have) {
        if ((int)cnt != nout)
            return df_node_error(err, DF_EINVAL, n, "'split' has %zu entries for %d outputs", cnt, nout);
        int64_t sum = 0;
        for (size_t i = 0; i < cnt; i++) {
            if (sizes[i] < 0) return df_node_error(err, DF_EINVAL, n, "'split'[%zu] = %lld is negative", i, (long long)sizes[i]);
            sum += sizes[i];
        }
        if (sum != dim)
            return df_node_error(err, DF_ESHAPE, n, "'split' sums to %lld but axis %lld of input '%s' is %lld",
                                 (long long)sum, (long long)axis, x->name, (long long)dim);
    } else if (n->opset >= 18) {
        int64_t num = df_attr_int(n, "num_outputs", -1);
        if (num < 1) return df_node_error(err, DF_EINVAL, n, "needs either a 'split' input or 'num_outputs'");
        if (num != nout) return df_node_error(err, DF_EINVAL, n, "num_outputs is %lld but the node has %d outputs", (long long)num, nout);
        /* Opset 18: ceil-sized pieces, the last one smaller. */
        int64_t piece = (dim + num - 1) / num;
        for (int i = 0; i < nout; i++) {
            int64_t left = dim - piece * i;
            sizes[i] = left < 0 ? 0 : left < piece ? left : piece;
        }
    } else {
        if (dim % nout)
            return df_node_error(err, DF_ESHAPE, n, "axis %lld of input '%s' (%lld) does not split evenly into %d outputs",
                                 (long long)axis, x->name, (long long)dim, nout);
        for (int i = 0; i < nout; i++) sizes[i] = dim / nout;
    }
    for (int i = 0; i < nout; i++) {
        /* run finds each piece's extent from its output's shape, so every output must exist. */
        if (!df_node_out(g, n, i)) return df_node_error(err, DF_EINVAL, n, "output %d is omitted", i);
        df_shape s = x->shape;
        s.dims[axis] = sizes[i];
        df_set_out(g, n, i, x->dtype, &s);
    }
    return DF_OK;
}

static df_status split_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    int rank = x->shape.rank;
    int64_t axis = df_attr_int(a->node, "axis", 0);
    if (axis < 0) axis += rank;
    size_t es = df_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape.dims[d];
    for (int d = (int)axis + 1; d < rank; d++) inner *= x->shape.dims[d];
    size_t row = (size_t)(x->shape.dims[axis] * inner) * es;
    int nt = x->nbytes >= SH_PARALLEL_BYTES && outer > 1 ? sh_threads(a) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; o++) {
        const char *src = (const char *)x->data + (size_t)o * row;
        for (int i = 0; i < a->n_out; i++) {
            df_tensor *y = a->out[i];
            size_t chunk = (size_t)(y->shape.dims[axis] * inner) * es;
            if (chunk) memcpy((char *)y->data + (size_t)o * chunk, src, chunk);
            src += chunk;
        }
    }
    return DF_OK;
}

const df_op_def df_op_Concat = {.op_type = "Concat", .infer = concat_infer, .run = concat_run};
const df_op_def df_op_Split = {.op_type = "Split", .infer = split_infer, .run = split_run};
