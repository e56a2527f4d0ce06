/* Gather and GatherElements. Gather along axis 0 of a 2-D table is the embedding lookup of every
 * BERT model: one memcpy per token row. */
#include "ops/shape_common.h"

static inline int64_t index_at(const df_tensor *t, int64_t i) {
    return t->dtype == DF_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}

/* Checks every index against [-dim, dim); names the first bad one. */
static df_status check_indices(const df_node *n, const df_tensor *ind, const char *ind_name, int64_t dim,
                               df_error *err) {
    int64_t cnt = df_shape_numel(&ind->shape);
    for (int64_t i = 0; i < cnt; i++) {
        int64_t v = index_at(ind, i);
        if (v < -dim || v >= dim)
            return df_node_error(err, DF_ERANGE, n, "index %lld at position %lld of '%s' is out of range [%lld, %lld)",
                                 (long long)v, (long long)i, ind_name, (long long)-dim, (long long)dim);
    }
    return DF_OK;
}

static df_status gather_check_inputs(df_graph *g, df_node *n, df_value **x, df_value **ind, int64_t *axis,
                                     df_error *err) {
    df_status st = sh_input_bytes(g, n, 0, x, err);
    if (st || (st = sh_input(g, n, 1, ind, err))) return st;
    if (!sh_is_int_index((*ind)->dtype))
        return df_node_error(err, DF_ETYPE, n, "indices '%s' must be int32 or int64, got %s", (*ind)->name,
                             df_dtype_name((*ind)->dtype));
    if ((*x)->shape.rank < 1) return df_node_error(err, DF_ESHAPE, n, "data '%s' must have rank >= 1", (*x)->name);
    if ((st = df_norm_axis(df_attr_int(n, "axis", 0), (*x)->shape.rank, axis, n, err))) return st;
    if ((*ind)->has_const)
        return check_indices(n, &(*ind)->value, (*ind)->name, (*x)->shape.dims[*axis], err);
    return DF_OK;
}

static df_status gather_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x, *ind;
    int64_t axis;
    df_status st = gather_check_inputs(g, n, &x, &ind, &axis, err);
    if (st) return st;
    int rank = x->shape.rank - 1 + ind->shape.rank;
    if (rank > DF_MAX_RANK) return df_node_error(err, DF_ERANGE, n, "output rank %d exceeds %d", rank, DF_MAX_RANK);
    df_shape s = {.rank = 0};
    for (int i = 0; i < axis; i++) s.dims[s.rank++] = x->shape.dims[i];
    for (int i = 0; i < ind->shape.rank; i++) s.dims[s.rank++] = ind->shape.dims[i];
    for (int i = (int)axis + 1; i < x->shape.rank; i++) s.dims[s.rank++] = x->shape.dims[i];
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status gather_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0], *ind = a->in[1];
    df_tensor *y = a->out[0];
    int64_t axis = df_attr_int(a->node, "axis", 0);
    if (axis < 0) axis += x->shape.rank;
    int64_t dim = x->shape.dims[axis];
    df_status st = check_indices(a->node, ind, "indices", dim, a->err);
    if (st) return st;
    size_t es = df_dtype_size(x->dtype);
    int64_t outer = 1, inner_n = 1, nidx = df_shape_numel(&ind->shape);
    for (int i = 0; i < axis; i++) outer *= x->shape.dims[i];
    for (int i = (int)axis + 1; i < x->shape.rank; i++) inner_n *= x->shape.dims[i];
    size_t inner = (size_t)inner_n * es;
    const char *src = x->data;
    char *dst = y->data;
    int64_t rows = outer * nidx;
    int nt = y->nbytes >= SH_PARALLEL_BYTES && rows > 1 ? sh_threads(a) : 1;
    if (outer == 1) {
        /* Embedding lookup: one contiguous row per index. */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t j = 0; j < nidx; j++) {
            int64_t v = index_at(ind, j);
            if (v < 0) v += dim;
            memcpy(dst + (size_t)j * inner, src + (size_t)v * inner, inner);
        }
        return DF_OK;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t o = r / nidx, j = r % nidx, v = index_at(ind, j);
        if (v < 0) v += dim;
        memcpy(dst + (size_t)r * inner, src + (size_t)(o * dim + v) * inner, inner);
    }
    return DF_OK;
}

static df_status ge_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x, *ind;
    int64_t axis;
    df_status st = gather_check_inputs(g, n, &x, &ind, &axis, err);
    if (st) return st;
    if (ind->shape.rank != x->shape.rank)
        return df_node_error(err, DF_ESHAPE, n, "indices '%s' has rank %d but data '%s' has rank %d", ind->name,
                             ind->shape.rank, x->name, x->shape.rank);
    for (int i = 0; i < x->shape.rank; i++)
        if (i != axis && ind->shape.dims[i] > x->shape.dims[i])
            return df_node_error(err, DF_ESHAPE, n, "indices '%s' dim %d (%lld) exceeds data '%s' dim (%lld)", ind->name, i,
                                 (long long)ind->shape.dims[i], x->name, (long long)x->shape.dims[i]);
    df_set_out(g, n, 0, x->dtype, &ind->shape);
    return DF_OK;
}

static df_status ge_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0], *ind = a->in[1];
    df_tensor *y = a->out[0];
    int rank = x->shape.rank;
    int64_t axis = df_attr_int(a->node, "axis", 0);
    if (axis < 0) axis += rank;
    int64_t dim = x->shape.dims[axis];
    df_status st = check_indices(a->node, ind, "indices", dim, a->err);
    if (st) return st;
    size_t es = df_dtype_size(x->dtype);
    int64_t xs[DF_MAX_RANK], idx[DF_MAX_RANK] = {0};
    sh_strides(&x->shape, xs);
    int64_t cnt = df_shape_numel(&y->shape), off = 0;
    if (cnt == 0) return DF_OK;
    for (int64_t i = 0; i < cnt; i++) {
        int64_t v = index_at(ind, i);
        if (v < 0) v += dim;
        memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)(off + v * xs[axis]) * es, es);
        /* off tracks the non-axis part of the data offset. */
        for (int k = rank - 1; k >= 0; k--) {
            if (++idx[k] < ind->shape.dims[k]) {
                if (k != axis) off += xs[k];
                break;
            }
            if (k != axis) off -= (idx[k] - 1) * xs[k];
            idx[k] = 0;
        }
    }
    return DF_OK;
}

const df_op_def df_op_Gather = {.op_type = "Gather", .infer = gather_infer, .run = gather_run};
const df_op_def df_op_GatherElements = {.op_type = "GatherElements", .infer = ge_infer, .run = ge_run};
