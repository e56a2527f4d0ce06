/* The shape family's entries in the operator table (see ops/registry.c): ops that move bytes
 * (shape.c, reshape.c, transpose.c, squeeze.c, concat.c, slice.c, expand.c, gather.c, ...) and
 * the reductions (reduce.c, argmax.c, cumsum.c). */
#include <stddef.h>

#include "ops/op.h"

extern const df_op_def df_op_Shape, df_op_Size, df_op_Reshape, df_op_Flatten, df_op_Transpose, df_op_Squeeze,
    df_op_Unsqueeze, df_op_Concat, df_op_Split, df_op_Slice, df_op_Expand, df_op_Tile, df_op_Constant,
    df_op_ConstantOfShape, df_op_Identity, df_op_Dropout, df_op_Range, df_op_Gather, df_op_GatherElements,
    df_op_CumSum, df_op_ArgMax, df_op_ArgMin, df_op_Trilu, df_op_ReduceSum, df_op_ReduceMean, df_op_ReduceMax,
    df_op_ReduceMin, df_op_ReduceProd, df_op_ReduceL1, df_op_ReduceL2, df_op_ReduceSumSquare, df_op_ReduceLogSum,
    df_op_ReduceLogSumExp;

const df_op_def *const df_ops_shape[] = {
    &df_op_Shape,
    &df_op_Size,
    &df_op_Reshape,
    &df_op_Flatten,
    &df_op_Transpose,
    &df_op_Squeeze,
    &df_op_Unsqueeze,
    &df_op_Concat,
    &df_op_Split,
    &df_op_Slice,
    &df_op_Expand,
    &df_op_Tile,
    &df_op_Constant,
    &df_op_ConstantOfShape,
    &df_op_Identity,
    &df_op_Dropout,
    &df_op_Range,
    &df_op_Gather,
    &df_op_GatherElements,
    &df_op_CumSum,
    &df_op_ArgMax,
    &df_op_ArgMin,
    &df_op_Trilu,
    &df_op_ReduceSum,
    &df_op_ReduceMean,
    &df_op_ReduceMax,
    &df_op_ReduceMin,
    &df_op_ReduceProd,
    &df_op_ReduceL1,
    &df_op_ReduceL2,
    &df_op_ReduceSumSquare,
    &df_op_ReduceLogSum,
    &df_op_ReduceLogSumExp,
    NULL,
};
