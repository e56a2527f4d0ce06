/* Shape and Size. Shapes are static after inference, so both outputs are known at load time:
 * infer also marks them constant, which lets Shape -> Gather -> Concat -> Reshape chains fold. */
#include "ops/shape_common.h"

/* Opset 15's start/end: python-style slice of the dims, clamped into [0, rank]. */
static void shape_range(const df_node *n, int rank, int64_t *start, int64_t *end) {
    int64_t s = n->opset >= 15 ? df_attr_int(n, "start", 0) : 0;
    int64_t e = n->opset >= 15 ? df_attr_int(n, "end", rank) : rank;
    if (s < 0) s += rank;
    if (e < 0) e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    *start = s;
    *end = e > s ? e : s;
}

static df_status shape_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input(g, n, 0, &x, err);
    if (st) return st;
    int64_t s, e;
    shape_range(n, x->shape.rank, &s, &e);
    df_shape os = {.rank = 1, .dims = {e - s}};
    df_set_out(g, n, 0, DF_I64, &os);
    df_value *out = df_node_out(g, n, 0);
    df_tensor t;
    if (out && !df_tensor_alloc(&t, DF_I64, &os, NULL)) {
        for (int64_t i = s; i < e; i++) ((int64_t *)t.data)[i - s] = x->shape.dims[i];
        df_value_set_const(out, &t);
    }
    return DF_OK;
}

static df_status shape_run(const df_kernel_args *a) {
    int64_t s, e;
    const df_tensor *x = a->in[0];
    shape_range(a->node, x->shape.rank, &s, &e);
    for (int64_t i = s; i < e; i++) ((int64_t *)a->out[0]->data)[i - s] = x->shape.dims[i];
    return DF_OK;
}

static df_status size_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input(g, n, 0, &x, err);
    if (st) return st;
    df_shape os = {.rank = 0};
    df_set_out(g, n, 0, DF_I64, &os);
    df_value *out = df_node_out(g, n, 0);
    df_tensor t;
    if (out && !df_tensor_alloc(&t, DF_I64, &os, NULL)) {
        *(int64_t *)t.data = df_shape_numel(&x->shape);
        df_value_set_const(out, &t);
    }
    return DF_OK;
}

static df_status size_run(const df_kernel_args *a) {
    *(int64_t *)a->out[0]->data = df_shape_numel(&a->in[0]->shape);
    return DF_OK;
}

const df_op_def df_op_Shape = {.op_type = "Shape", .infer = shape_infer, .run = shape_run};
const df_op_def df_op_Size = {.op_type = "Size", .infer = size_infer, .run = size_run};
