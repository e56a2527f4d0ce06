/* The quant family's entries in the operator table (see ops/registry.c). */
#include <stddef.h>

#include "ops/op.h"

extern const df_op_def df_op_QuantizeLinear;
extern const df_op_def df_op_DequantizeLinear;
extern const df_op_def df_op_DynamicQuantizeLinear;
extern const df_op_def df_op_MatMulInteger;
extern const df_op_def df_op_QLinearMatMul;

const df_op_def *const df_ops_quant[] = {
    &df_op_QuantizeLinear,
    &df_op_DequantizeLinear,
    &df_op_DynamicQuantizeLinear,
    &df_op_MatMulInteger,
    &df_op_QLinearMatMul,
    NULL,
};
