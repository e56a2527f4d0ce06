/* Range: the output length depends on the input values, so they must be constant (or bound by
 * the executor through DF_ENEEDVALUE). */
#include <math.h>

#include "ops/shape_common.h"

static int range_dtype_ok(df_dtype dt) {
    return dt == DF_F32 || dt == DF_F64 || dt == DF_I16 || dt == DF_I32 || dt == DF_I64;
}

static double scalar_f(const df_tensor *t) {
    switch (t->dtype) {
    case DF_F32: return *(const float *)t->data;
    case DF_F64: return *(const double *)t->data;
    case DF_I16: return *(const int16_t *)t->data;
    case DF_I32: return *(const int32_t *)t->data;
    default: return (double)*(const int64_t *)t->data;
    }
}

static int64_t scalar_i(const df_tensor *t) {
    switch (t->dtype) {
    case DF_I16: return *(const int16_t *)t->data;
    case DF_I32: return *(const int32_t *)t->data;
    default: return *(const int64_t *)t->data;
    }
}

static df_status range_count(const df_node *n, const df_tensor *s, const df_tensor *l, const df_tensor *d,
                             int64_t *count, df_error *err) {
    if (s->dtype == DF_F32 || s->dtype == DF_F64) {
        double delta = scalar_f(d);
        if (delta == 0 || !isfinite(delta)) return df_node_error(err, DF_EINVAL, n, "delta must be finite and nonzero");
        double c = ceil((scalar_f(l) - scalar_f(s)) / delta);
        if (!(c < 1e12)) return df_node_error(err, DF_ERANGE, n, "output would have %g elements", c);
        *count = c > 0 ? (int64_t)c : 0;
        return DF_OK;
    }
    int64_t delta = scalar_i(d), span = scalar_i(l) - scalar_i(s);
    if (delta == 0) return df_node_error(err, DF_EINVAL, n, "delta must be nonzero");
    int64_t c = span / delta;
    if (c * delta != span) c++; /* ceil: truncation is toward zero; the remainder's sign matches */
    *count = c > 0 ? c : 0;
    return DF_OK;
}

static df_status range_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *v[3];
    df_status st;
    for (int i = 0; i < 3; i++) {
        if ((st = sh_input(g, n, i, &v[i], err))) return st;
        if (!range_dtype_ok(v[i]->dtype) || v[i]->dtype != v[0]->dtype)
            return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s; start, limit and delta must share one of "
                                 "float, double, int16, int32, int64", v[i]->name, df_dtype_name(v[i]->dtype));
        if (df_shape_numel(&v[i]->shape) != 1 || v[i]->shape.rank > 1)
            return df_node_error(err, DF_ESHAPE, n, "input '%s' must be a scalar", v[i]->name);
    }
    for (int i = 0; i < 3; i++)
        if (!v[i]->has_const) return df_node_error(err, DF_ENEEDVALUE, n, "needs the value of input '%s'", v[i]->name);
    int64_t count = 0;
    if ((st = range_count(n, &v[0]->value, &v[1]->value, &v[2]->value, &count, err))) return st;
    df_shape s = {.rank = 1, .dims = {count}};
    df_set_out(g, n, 0, v[0]->dtype, &s);
    return DF_OK;
}

static df_status range_run(const df_kernel_args *a) {
    df_tensor *y = a->out[0];
    int64_t cnt = y->shape.dims[0];
    switch (y->dtype) {
    case DF_F32: {
        float s = *(const float *)a->in[0]->data, d = *(const float *)a->in[2]->data;
        for (int64_t i = 0; i < cnt; i++) ((float *)y->data)[i] = s + (float)i * d;
        break;
    }
    case DF_F64: {
        double s = *(const double *)a->in[0]->data, d = *(const double *)a->in[2]->data;
        for (int64_t i = 0; i < cnt; i++) ((double *)y->data)[i] = s + (double)i * d;
        break;
    }
    case DF_I16: case DF_I32: case DF_I64: {
        int64_t s = scalar_i(a->in[0]), d = scalar_i(a->in[2]);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = s + i * d;
            if (y->dtype == DF_I16) ((int16_t *)y->data)[i] = (int16_t)v;
            else if (y->dtype == DF_I32) ((int32_t *)y->data)[i] = (int32_t)v;
            else ((int64_t *)y->data)[i] = v;
        }
        break;
    }
    default: return df_node_error(a->err, DF_ETYPE, a->node, "unsupported dtype %s", df_dtype_name(y->dtype));
    }
    return DF_OK;
}

const df_op_def df_op_Range = {.op_type = "Range", .infer = range_infer, .run = range_run};
