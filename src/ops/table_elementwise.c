/* The elementwise family's entries in the operator table (see ops/registry.c). */
#include <stddef.h>

#include "ops/op.h"

/* binary.c */
extern const df_op_def df_op_Add;
extern const df_op_def df_op_Sub;
extern const df_op_def df_op_Mul;
extern const df_op_def df_op_Div;
extern const df_op_def df_op_Mod;
extern const df_op_def df_op_Pow;
extern const df_op_def df_op_BitShift;
extern const df_op_def df_op_Equal;
extern const df_op_def df_op_Less;
extern const df_op_def df_op_Greater;
extern const df_op_def df_op_LessOrEqual;
extern const df_op_def df_op_GreaterOrEqual;
extern const df_op_def df_op_And;
extern const df_op_def df_op_Or;
extern const df_op_def df_op_Xor;
/* binary_variadic.c */
extern const df_op_def df_op_Min;
extern const df_op_def df_op_Max;
extern const df_op_def df_op_Sum;
extern const df_op_def df_op_Mean;
/* unary.c */
extern const df_op_def df_op_Sqrt;
extern const df_op_def df_op_Erf;
extern const df_op_def df_op_Tanh;
extern const df_op_def df_op_Sigmoid;
extern const df_op_def df_op_Reciprocal;
extern const df_op_def df_op_Exp;
extern const df_op_def df_op_Log;
extern const df_op_def df_op_Floor;
extern const df_op_def df_op_Ceil;
extern const df_op_def df_op_Round;
extern const df_op_def df_op_Sin;
extern const df_op_def df_op_Cos;
extern const df_op_def df_op_Tan;
extern const df_op_def df_op_Asin;
extern const df_op_def df_op_Acos;
extern const df_op_def df_op_Atan;
extern const df_op_def df_op_Sinh;
extern const df_op_def df_op_Cosh;
extern const df_op_def df_op_Asinh;
extern const df_op_def df_op_Acosh;
extern const df_op_def df_op_Atanh;
extern const df_op_def df_op_Softplus;
extern const df_op_def df_op_Softsign;
extern const df_op_def df_op_LeakyRelu;
extern const df_op_def df_op_Elu;
extern const df_op_def df_op_Selu;
extern const df_op_def df_op_Celu;
extern const df_op_def df_op_HardSigmoid;
extern const df_op_def df_op_HardSwish;
extern const df_op_def df_op_ThresholdedRelu;
extern const df_op_def df_op_Shrink;
extern const df_op_def df_op_Gelu;
extern const df_op_def df_op_IsNaN;
extern const df_op_def df_op_IsInf;
extern const df_op_def df_op_Not;
extern const df_op_def df_op_Abs;
extern const df_op_def df_op_Neg;
extern const df_op_def df_op_Sign;
extern const df_op_def df_op_Relu;
/* cast.c, where.c, clip.c */
extern const df_op_def df_op_Cast;
extern const df_op_def df_op_CastLike;
extern const df_op_def df_op_Where;
extern const df_op_def df_op_Clip;

const df_op_def *const df_ops_elementwise[] = {
    &df_op_Add,
    &df_op_Sub,
    &df_op_Mul,
    &df_op_Div,
    &df_op_Mod,
    &df_op_Pow,
    &df_op_BitShift,
    &df_op_Equal,
    &df_op_Less,
    &df_op_Greater,
    &df_op_LessOrEqual,
    &df_op_GreaterOrEqual,
    &df_op_And,
    &df_op_Or,
    &df_op_Xor,
    &df_op_Min,
    &df_op_Max,
    &df_op_Sum,
    &df_op_Mean,
    &df_op_Sqrt,
    &df_op_Erf,
    &df_op_Tanh,
    &df_op_Sigmoid,
    &df_op_Reciprocal,
    &df_op_Exp,
    &df_op_Log,
    &df_op_Floor,
    &df_op_Ceil,
    &df_op_Round,
    &df_op_Sin,
    &df_op_Cos,
    &df_op_Tan,
    &df_op_Asin,
    &df_op_Acos,
    &df_op_Atan,
    &df_op_Sinh,
    &df_op_Cosh,
    &df_op_Asinh,
    &df_op_Acosh,
    &df_op_Atanh,
    &df_op_Softplus,
    &df_op_Softsign,
    &df_op_LeakyRelu,
    &df_op_Elu,
    &df_op_Selu,
    &df_op_Celu,
    &df_op_HardSigmoid,
    &df_op_HardSwish,
    &df_op_ThresholdedRelu,
    &df_op_Shrink,
    &df_op_Gelu,
    &df_op_IsNaN,
    &df_op_IsInf,
    &df_op_Not,
    &df_op_Abs,
    &df_op_Neg,
    &df_op_Sign,
    &df_op_Relu,
    &df_op_Cast,
    &df_op_CastLike,
    &df_op_Where,
    &df_op_Clip,
    NULL,
};
