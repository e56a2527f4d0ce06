/* Identity and Dropout. Inference only: Dropout passes its input through and, when asked,
 * reports a mask of all-true (nothing dropped). Training mode is refused rather than silently
 * run without dropping, since its outputs would be wrong. */
#include "ops/shape_common.h"

static df_status identity_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    df_set_out(g, n, 0, x->dtype, &x->shape);
    return DF_OK;
}

static df_status identity_run(const df_kernel_args *a) { return sh_copy_through(a); }

static int is_float(df_dtype dt) { return dt == DF_F32 || dt == DF_F64 || dt == DF_F16 || dt == DF_BF16; }

static int tensor_true(const df_tensor *t) {
    if (!t || !t->data || df_shape_numel(&t->shape) < 1) return 0;
    return ((const uint8_t *)t->data)[0] != 0;
}

static df_status dropout_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input(g, n, 0, &x, err);
    if (st) return st;
    if (!is_float(x->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' must be a float tensor, got %s", x->name,
                             df_dtype_name(x->dtype));
    if (n->opset < 7 && df_node_attr(n, "is_test") && !df_attr_int(n, "is_test", 0))
        return df_node_error(err, DF_EUNSUPPORTED, n, "training-mode Dropout (is_test=0) is not supported");
    if (n->opset >= 12) {
        df_value *ratio = df_node_in(g, n, 1), *mode = df_node_in(g, n, 2);
        if (ratio && ratio->shape_known && df_shape_numel(&ratio->shape) != 1)
            return df_node_error(err, DF_ESHAPE, n, "ratio '%s' must be a scalar", ratio->name);
        if (mode) {
            if (mode->dtype != DF_BOOL)
                return df_node_error(err, DF_ETYPE, n, "training_mode '%s' must be bool", mode->name);
            if (mode->has_const && tensor_true(&mode->value))
                return df_node_error(err, DF_EUNSUPPORTED, n,
                                     "training-mode Dropout (training_mode '%s' is true) is not supported", mode->name);
        }
    }
    df_set_out(g, n, 0, x->dtype, &x->shape);
    /* The mask was T before opset 10 and bool since. */
    df_set_out(g, n, 1, n->opset >= 10 ? DF_BOOL : x->dtype, &x->shape);
    return DF_OK;
}

static df_status dropout_run(const df_kernel_args *a) {
    if (a->node->opset >= 12 && a->n_in > 2 && tensor_true(a->in[2]))
        return df_node_error(a->err, DF_EUNSUPPORTED, a->node, "training-mode Dropout (training_mode is true) is not supported");
    sh_copy_through(a);
    df_tensor *mask = a->n_out > 1 ? a->out[1] : NULL;
    if (!mask) return DF_OK;
    int64_t cnt = df_shape_numel(&mask->shape);
    switch (mask->dtype) {
    case DF_BOOL: memset(mask->data, 1, (size_t)cnt); break;
    case DF_F32: for (int64_t i = 0; i < cnt; i++) ((float *)mask->data)[i] = 1.0f; break;
    case DF_F64: for (int64_t i = 0; i < cnt; i++) ((double *)mask->data)[i] = 1.0; break;
    case DF_F16: for (int64_t i = 0; i < cnt; i++) ((uint16_t *)mask->data)[i] = 0x3c00; break;
    case DF_BF16: for (int64_t i = 0; i < cnt; i++) ((uint16_t *)mask->data)[i] = 0x3f80; break;
    default: break;
    }
    return DF_OK;
}

const df_op_def df_op_Identity = {.op_type = "Identity", .infer = identity_infer, .run = identity_run};
const df_op_def df_op_Dropout = {.op_type = "Dropout", .infer = dropout_infer, .run = dropout_run};
