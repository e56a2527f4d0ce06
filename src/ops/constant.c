/* Constant and ConstantOfShape. Constant's output is marked constant at inference so that
 * later nodes fold; its run only matters when the executor does not skip folded nodes. */
#include "ops/shape_common.h"

/* Builds the tensor a Constant node stands for (owned by *out). */
static df_status constant_tensor(const df_node *n, df_tensor *out, df_error *err) {
    const df_attr *a = NULL;
    int found = 0;
    static const char *const names[] = {"value", "value_float", "value_floats", "value_int", "value_ints",
                                        "sparse_value", "value_string", "value_strings"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (df_node_attr(n, names[i])) {
            a = df_node_attr(n, names[i]);
            found++;
        }
    if (found != 1) return df_node_error(err, DF_EINVAL, n, "needs exactly one value attribute, found %d", found);
    df_shape s = {.rank = 0};
    df_status st;
    if (!strcmp(a->name, "value") && a->type == DF_ATTR_TENSOR) {
        if (df_dtype_size(a->t.dtype) == 0)
            return df_node_error(err, DF_EUNSUPPORTED, n, "value of dtype %s is not supported", df_dtype_name(a->t.dtype));
        if ((st = df_tensor_alloc(out, a->t.dtype, &a->t.shape, err))) return st;
        if (out->nbytes) {
            if (!a->t.data || a->t.nbytes < out->nbytes) {
                df_tensor_free(out);
                return df_node_error(err, DF_EFORMAT, n, "value tensor holds fewer bytes than its shape needs");
            }
            memcpy(out->data, a->t.data, out->nbytes);
        }
        return DF_OK;
    }
    if (!strcmp(a->name, "value_float") && a->type == DF_ATTR_FLOAT) {
        if ((st = df_tensor_alloc(out, DF_F32, &s, err))) return st;
        *(float *)out->data = a->f;
        return DF_OK;
    }
    if (!strcmp(a->name, "value_int") && a->type == DF_ATTR_INT) {
        if ((st = df_tensor_alloc(out, DF_I64, &s, err))) return st;
        *(int64_t *)out->data = a->i;
        return DF_OK;
    }
    if (!strcmp(a->name, "value_floats") && a->type == DF_ATTR_FLOATS) {
        s = (df_shape){.rank = 1, .dims = {(int64_t)a->count}};
        if ((st = df_tensor_alloc(out, DF_F32, &s, err))) return st;
        if (a->count) memcpy(out->data, a->floats, a->count * sizeof(float));
        return DF_OK;
    }
    if (!strcmp(a->name, "value_ints") && a->type == DF_ATTR_INTS) {
        s = (df_shape){.rank = 1, .dims = {(int64_t)a->count}};
        if ((st = df_tensor_alloc(out, DF_I64, &s, err))) return st;
        if (a->count) memcpy(out->data, a->ints, a->count * sizeof(int64_t));
        return DF_OK;
    }
    return df_node_error(err, DF_EUNSUPPORTED, n, "attribute '%s' is not supported", a->name);
}

static df_status constant_infer(df_graph *g, df_node *n, df_error *err) {
    df_tensor t;
    df_status st = constant_tensor(n, &t, err);
    if (st) return st;
    df_set_out(g, n, 0, t.dtype, &t.shape);
    df_value *out = df_node_out(g, n, 0);
    if (out) df_value_set_const(out, &t);
    else df_tensor_free(&t);
    return DF_OK;
}

/* Copies from the attribute without building a tensor (no allocation on the run path). */
static df_status constant_run(const df_kernel_args *a) {
    const df_node *n = a->node;
    df_tensor *y = a->out[0];
    const df_attr *at;
    const void *src = NULL;
    if ((at = df_node_attr(n, "value")) && at->type == DF_ATTR_TENSOR) src = at->t.data;
    else if ((at = df_node_attr(n, "value_float"))) src = &at->f;
    else if ((at = df_node_attr(n, "value_int"))) src = &at->i;
    else if ((at = df_node_attr(n, "value_floats"))) src = at->floats;
    else if ((at = df_node_attr(n, "value_ints"))) src = at->ints;
    if (y->nbytes && !src) return df_node_error(a->err, DF_EINTERNAL, n, "value attribute vanished");
    if (y->nbytes) memcpy(y->data, src, y->nbytes);
    return DF_OK;
}

static df_status cos_infer(df_graph *g, df_node *n, df_error *err) {
    int64_t dims[DF_MAX_RANK];
    size_t cnt;
    df_value *in;
    df_status st = sh_input(g, n, 0, &in, err);
    if (st) return st;
    if (in->shape.rank != 1) return df_node_error(err, DF_ESHAPE, n, "input '%s' must be 1-D", in->name);
    if ((st = sh_const_ints(g, n, 0, dims, DF_MAX_RANK, &cnt, err))) return st;
    df_dtype dt = DF_F32;
    const df_tensor *v = df_attr_tensor(n, "value");
    if (v) {
        if (df_shape_numel(&v->shape) != 1 || df_dtype_size(v->dtype) == 0 || !v->data)
            return df_node_error(err, DF_EINVAL, n, "attribute 'value' must hold exactly one number");
        dt = v->dtype;
    }
    for (size_t i = 0; i < cnt; i++)
        if (dims[i] < 0)
            return df_node_error(err, DF_EINVAL, n, "input '%s'[%zu] = %lld is negative", in->name, i, (long long)dims[i]);
    df_shape s = df_shape_make((int)cnt, dims);
    df_set_out(g, n, 0, dt, &s);
    return DF_OK;
}

static df_status cos_run(const df_kernel_args *a) {
    df_tensor *y = a->out[0];
    const df_tensor *v = df_attr_tensor(a->node, "value");
    int64_t cnt = df_shape_numel(&y->shape);
    if (!v) {
        memset(y->data, 0, y->nbytes);
        return DF_OK;
    }
    switch (df_dtype_size(y->dtype)) {
    case 1: memset(y->data, *(const uint8_t *)v->data, (size_t)cnt); break;
    case 2: for (int64_t i = 0; i < cnt; i++) ((uint16_t *)y->data)[i] = *(const uint16_t *)v->data; break;
    case 4: for (int64_t i = 0; i < cnt; i++) ((uint32_t *)y->data)[i] = *(const uint32_t *)v->data; break;
    case 8: for (int64_t i = 0; i < cnt; i++) ((uint64_t *)y->data)[i] = *(const uint64_t *)v->data; break;
    default: return df_node_error(a->err, DF_ETYPE, a->node, "unsupported value dtype");
    }
    return DF_OK;
}

const df_op_def df_op_Constant = {.op_type = "Constant", .infer = constant_infer, .run = constant_run};
const df_op_def df_op_ConstantOfShape = {.op_type = "ConstantOfShape", .infer = cos_infer, .run = cos_run};
