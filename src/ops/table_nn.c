/* The nn family's entries in the operator table (see ops/registry.c). */
#include <stddef.h>

#include "ops/op.h"

extern const df_op_def df_op_MatMul;
extern const df_op_def df_op_Gemm;
extern const df_op_def df_op_Softmax;
extern const df_op_def df_op_LogSoftmax;
extern const df_op_def df_op_LayerNormalization;
extern const df_op_def df_op_BatchNormalization;

const df_op_def *const df_ops_nn[] = {
    &df_op_MatMul,
    &df_op_Gemm,
    &df_op_Softmax,
    &df_op_LogSoftmax,
    &df_op_LayerNormalization,
    &df_op_BatchNormalization,
    NULL,
};
