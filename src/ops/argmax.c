/* ArgMax and ArgMin along one axis (keepdims, select_last_index), int64 output. */
#include "ops/shape_common.h"

static int arg_dtype_ok(df_dtype dt) {
    return dt == DF_F32 || dt == DF_F64 || dt == DF_I32 || dt == DF_I64 || dt == DF_I8 || dt == DF_U8 ||
           dt == DF_I16 || dt == DF_U16 || dt == DF_U32 || dt == DF_U64;
}

static df_status arg_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input(g, n, 0, &x, err);
    if (st) return st;
    if (!arg_dtype_ok(x->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", x->name, df_dtype_name(x->dtype));
    int64_t axis;
    if ((st = df_norm_axis(df_attr_int(n, "axis", 0), x->shape.rank, &axis, n, err))) return st;
    if (x->shape.rank < 1) return df_node_error(err, DF_ESHAPE, n, "input '%s' must have rank >= 1", x->name);
    if (x->shape.dims[axis] == 0) {
        int64_t others = 1;
        for (int i = 0; i < x->shape.rank; i++)
            if (i != axis) others *= x->shape.dims[i];
        if (others) return df_node_error(err, DF_ESHAPE, n, "cannot take the arg of an empty axis of '%s'", x->name);
    }
    df_shape s = x->shape;
    if (df_attr_int(n, "keepdims", 1)) s.dims[axis] = 1;
    else {
        for (int i = (int)axis; i < s.rank - 1; i++) s.dims[i] = s.dims[i + 1];
        s.rank--;
    }
    df_set_out(g, n, 0, DF_I64, &s);
    return DF_OK;
}

/* want_max picks ArgMax; ties keep the first index unless last is set. */
#define ARG_LOOP(T)                                                                                      \
    for (int64_t o = 0; o < outer; o++)                                                                  \
        for (int64_t i = 0; i < inner; i++) {                                                            \
            const T *p = (const T *)x->data + o * len * inner + i;                                       \
            T best = p[0];                                                                               \
            int64_t bi = 0;                                                                              \
            for (int64_t j = 1; j < len; j++) {                                                         \
                T v = p[j * inner];                                                                      \
                int better = want_max ? (last ? v >= best : v > best) : (last ? v <= best : v < best);   \
                if (better) best = v, bi = j;                                                            \
            }                                                                                            \
            out[o * inner + i] = bi;                                                                     \
        }

static df_status arg_run(const df_kernel_args *a, int want_max) {
    const df_tensor *x = a->in[0];
    int64_t *out = a->out[0]->data;
    int rank = x->shape.rank;
    int64_t axis = df_attr_int(a->node, "axis", 0);
    if (axis < 0) axis += rank;
    int last = a->node->opset >= 12 && df_attr_int(a->node, "select_last_index", 0) != 0;
    int64_t outer = 1, inner = 1, len = x->shape.dims[axis];
    for (int i = 0; i < axis; i++) outer *= x->shape.dims[i];
    for (int i = (int)axis + 1; i < rank; i++) inner *= x->shape.dims[i];
    if (len == 0) return DF_OK;
    switch (x->dtype) {
    case DF_F32: ARG_LOOP(float) break;
    case DF_F64: ARG_LOOP(double) break;
    case DF_I32: ARG_LOOP(int32_t) break;
    case DF_I64: ARG_LOOP(int64_t) break;
    case DF_I8: ARG_LOOP(int8_t) break;
    case DF_U8: ARG_LOOP(uint8_t) break;
    case DF_I16: ARG_LOOP(int16_t) break;
    case DF_U16: ARG_LOOP(uint16_t) break;
    case DF_U32: ARG_LOOP(uint32_t) break;
    case DF_U64: ARG_LOOP(uint64_t) break;
    default: return df_node_error(a->err, DF_ETYPE, a->node, "unsupported dtype %s", df_dtype_name(x->dtype));
    }
    return DF_OK;
}

static df_status argmax_run(const df_kernel_args *a) { return arg_run(a, 1); }
static df_status argmin_run(const df_kernel_args *a) { return arg_run(a, 0); }

const df_op_def df_op_ArgMax = {.op_type = "ArgMax", .infer = arg_infer, .run = argmax_run};
const df_op_def df_op_ArgMin = {.op_type = "ArgMin", .infer = arg_infer, .run = argmin_run};
