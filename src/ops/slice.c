/* Slice: starts/ends/axes were attributes before opset 10 and are inputs (plus steps) since.
 * The result is a strided view of the input, copied out with sh_strided_copy. */
#include "ops/shape_common.h"

typedef struct slice_params {
    int64_t start[DF_MAX_RANK], step[DF_MAX_RANK], count[DF_MAX_RANK];
} slice_params;

/* Clamps per the spec and fills p for every axis of shape (untouched axes take all of it). */
static df_status slice_compute(const df_node *n, const df_shape *shape, const int64_t *starts, const int64_t *ends,
                               size_t cnt, const int64_t *axes, size_t n_axes, const int64_t *steps, size_t n_steps,
                               slice_params *p, df_error *err) {
    int rank = shape->rank;
    if (axes && n_axes != cnt)
        return df_node_error(err, DF_EINVAL, n, "axes has %zu entries but starts has %zu", n_axes, cnt);
    if (steps && n_steps != cnt)
        return df_node_error(err, DF_EINVAL, n, "steps has %zu entries but starts has %zu", n_steps, cnt);
    int seen[DF_MAX_RANK] = {0};
    for (int i = 0; i < rank; i++) {
        p->start[i] = 0;
        p->step[i] = 1;
        p->count[i] = shape->dims[i];
    }
    for (size_t i = 0; i < cnt; i++) {
        int64_t ax = axes ? axes[i] : (int64_t)i;
        if (ax < 0) ax += rank;
        if (ax < 0 || ax >= rank)
            return df_node_error(err, DF_ERANGE, n, "axis %lld is out of range for rank %d",
                                 (long long)(axes ? axes[i] : (int64_t)i), rank);
        if (seen[ax]) return df_node_error(err, DF_EINVAL, n, "axis %lld is repeated", (long long)ax);
        seen[ax] = 1;
        int64_t d = shape->dims[ax], s = starts[i], e = ends[i], t = steps ? steps[i] : 1;
        if (t == 0) return df_node_error(err, DF_EINVAL, n, "step for axis %lld is 0", (long long)ax);
        if (s < 0) s += d;
        if (e < 0) e += d;
        int64_t c;
        if (t > 0) {
            s = s < 0 ? 0 : s > d ? d : s;
            e = e < 0 ? 0 : e > d ? d : e;
            c = e > s ? (e - s + t - 1) / t : 0;
        } else {
            s = s < 0 ? 0 : s > d - 1 ? d - 1 : s;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            c = s > e ? (s - e + (-t) - 1) / (-t) : 0;
        }
        if (d == 0) c = 0, s = 0;
        p->start[ax] = s;
        p->step[ax] = t;
        p->count[ax] = c;
    }
    return DF_OK;
}

static df_status slice_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int64_t starts[DF_MAX_RANK], ends[DF_MAX_RANK], axes[DF_MAX_RANK], steps[DF_MAX_RANK];
    size_t cnt = 0, cnt_e = 0, n_axes = 0, n_steps = 0;
    int has_axes = 0, has_steps = 0;
    if (n->opset < 10) {
        const int64_t *s = df_attr_ints(n, "starts", &cnt), *e = df_attr_ints(n, "ends", &cnt_e);
        const int64_t *ax = df_attr_ints(n, "axes", &n_axes);
        if (!s || !e) return df_node_error(err, DF_EINVAL, n, "attributes 'starts' and 'ends' are required");
        if (cnt > DF_MAX_RANK || cnt_e > DF_MAX_RANK || n_axes > DF_MAX_RANK)
            return df_node_error(err, DF_ERANGE, n, "more than %d sliced axes", DF_MAX_RANK);
        memcpy(starts, s, cnt * sizeof *s);
        memcpy(ends, e, cnt_e * sizeof *e);
        if (ax) memcpy(axes, ax, n_axes * sizeof *ax), has_axes = 1;
    } else {
        if ((st = sh_const_ints(g, n, 1, starts, DF_MAX_RANK, &cnt, err))) return st;
        if ((st = sh_const_ints(g, n, 2, ends, DF_MAX_RANK, &cnt_e, err))) return st;
        if (df_node_in(g, n, 3)) {
            if ((st = sh_const_ints(g, n, 3, axes, DF_MAX_RANK, &n_axes, err))) return st;
            has_axes = 1;
        }
        if (df_node_in(g, n, 4)) {
            if ((st = sh_const_ints(g, n, 4, steps, DF_MAX_RANK, &n_steps, err))) return st;
            has_steps = 1;
        }
    }
    if (cnt != cnt_e) return df_node_error(err, DF_EINVAL, n, "starts has %zu entries but ends has %zu", cnt, cnt_e);
    slice_params p;
    if ((st = slice_compute(n, &x->shape, starts, ends, cnt, has_axes ? axes : NULL, n_axes,
                            has_steps ? steps : NULL, n_steps, &p, err)))
        return st;
    df_shape s = {.rank = x->shape.rank};
    for (int i = 0; i < s.rank; i++) s.dims[i] = p.count[i];
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status slice_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    const df_node *n = a->node;
    int64_t starts[DF_MAX_RANK], ends[DF_MAX_RANK], axes[DF_MAX_RANK], steps[DF_MAX_RANK];
    size_t cnt = 0, cnt_e = 0, n_axes = 0, n_steps = 0;
    const int64_t *ax = NULL, *stp = NULL;
    df_status st;
    if (n->opset < 10) {
        const int64_t *s = df_attr_ints(n, "starts", &cnt), *e = df_attr_ints(n, "ends", &cnt_e);
        ax = df_attr_ints(n, "axes", &n_axes);
        if (!s || !e || cnt > DF_MAX_RANK) return df_node_error(a->err, DF_EINVAL, n, "bad starts/ends attributes");
        memcpy(starts, s, cnt * sizeof *s);
        memcpy(ends, e, cnt * sizeof *e);
    } else {
        if ((st = sh_run_ints(a, 1, starts, DF_MAX_RANK, &cnt))) return st;
        if ((st = sh_run_ints(a, 2, ends, DF_MAX_RANK, &cnt_e))) return st;
        if (a->n_in > 3 && a->in[3]) {
            if ((st = sh_run_ints(a, 3, axes, DF_MAX_RANK, &n_axes))) return st;
            ax = axes;
        }
        if (a->n_in > 4 && a->in[4]) {
            if ((st = sh_run_ints(a, 4, steps, DF_MAX_RANK, &n_steps))) return st;
            stp = steps;
        }
    }
    slice_params p;
    if ((st = slice_compute(n, &x->shape, starts, ends, cnt, ax, n_axes, stp, n_steps, &p, a->err))) return st;
    int rank = x->shape.rank;
    int64_t in_strides[DF_MAX_RANK], strides[DF_MAX_RANK];
    sh_strides(&x->shape, in_strides);
    int64_t off = 0;
    for (int i = 0; i < rank; i++) {
        if (p.count[i] == 0) return DF_OK;
        off += p.start[i] * in_strides[i];
        strides[i] = in_strides[i] * p.step[i];
    }
    size_t es = df_dtype_size(x->dtype);
    sh_strided_copy(a->out[0]->data, (const char *)x->data + (size_t)off * es, rank, p.count, strides, es, sh_threads(a));
    return DF_OK;
}

const df_op_def df_op_Slice = {.op_type = "Slice", .infer = slice_infer, .run = slice_run};
