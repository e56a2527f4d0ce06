/* Unary elementwise operators: math functions, activations, Abs/Neg/Sign, Not, IsNaN/IsInf.
 *
 * Each operator is a table of row kernels by dtype (float16/bfloat16 reuse the float32 one
 * through df_half_row) plus an optional function that reads its attributes into up to four
 * float parameters, which the kernels see through ctx as P(0)..P(3). The float kernels call
 * libm (expf, tanhf...), which is accurate to an ulp or two; Erf and Gelu use the vectorizable
 * df_fast_erff (ops/nn_math.h). */
#include <math.h>

#include "ops/elementwise.h"
#include "ops/nn_math.h"

#define P(i) (((const float *)ctx)[i])
#define ENTRY(DT, T, UT, S, OP) [DT] = OP##_##S,

#define FLOAT_OP(name, E32, E64)                                                                     \
    DF_UN_ROW(name##_f32, float, float, float, E32)                                                  \
    DF_UN_ROW(name##_f64, double, double, double, E64)

static inline float sigmoidf_(float x) {
    /* exp of a non-positive argument cannot overflow, for either sign of x */
    float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e);
    return x >= 0 ? r : e * r;
}
static inline double sigmoid_(double x) {
    double e = exp(-fabs(x)), r = 1.0 / (1.0 + e);
    return x >= 0 ? r : e * r;
}
static inline float softplusf_(float x) { return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
static inline double softplus_(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline float hardsigf_(float x, float alpha, float beta) { return fmaxf(0.0f, fminf(1.0f, alpha * x + beta)); }
static inline double hardsig_(double x, double alpha, double beta) { return fmax(0.0, fmin(1.0, alpha * x + beta)); }
/* Gelu: approximate=none is x * Phi(x); approximate=tanh is the tanh fit (P(0) != 0). */
static inline float geluf_(float x, float approx) {
    if (approx != 0.0f) {
        const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    return 0.5f * x * (1.0f + df_fast_erff(x * 0.70710678118654752f));
}
static inline double gelu_(double x, double approx) {
    if (approx != 0.0) return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + erf(x * 0.70710678118654752));
}

/* --- kernels ------------------------------------------------------------------------------ */
FLOAT_OP(sqrt, sqrtf(x), sqrt(x))
/* Erf is GELU's core in every BERT export: a vectorizable erf (about 1.4e-7 from the true
 * value, against libm's 5e-8) instead of libm's scalar erff call. */
FLOAT_OP(erf, df_fast_erff(x), erf(x))
FLOAT_OP(tanh, tanhf(x), tanh(x))
FLOAT_OP(sigmoid, sigmoidf_(x), sigmoid_(x))
FLOAT_OP(recip, 1.0f / x, 1.0 / x)
FLOAT_OP(exp, expf(x), exp(x))
FLOAT_OP(log, logf(x), log(x))
FLOAT_OP(floor, floorf(x), floor(x))
FLOAT_OP(ceil, ceilf(x), ceil(x))
FLOAT_OP(round, nearbyintf(x), nearbyint(x)) /* default rounding mode: half to even */
FLOAT_OP(sin, sinf(x), sin(x))
FLOAT_OP(cos, cosf(x), cos(x))
FLOAT_OP(tan, tanf(x), tan(x))
FLOAT_OP(asin, asinf(x), asin(x))
FLOAT_OP(acos, acosf(x), acos(x))
FLOAT_OP(atan, atanf(x), atan(x))
FLOAT_OP(sinh, sinhf(x), sinh(x))
FLOAT_OP(cosh, coshf(x), cosh(x))
FLOAT_OP(asinh, asinhf(x), asinh(x))
FLOAT_OP(acosh, acoshf(x), acosh(x))
FLOAT_OP(atanh, atanhf(x), atanh(x))
FLOAT_OP(softplus, softplusf_(x), softplus_(x))
FLOAT_OP(softsign, x / (1.0f + fabsf(x)), x / (1.0 + fabs(x)))
FLOAT_OP(leaky, x >= 0 ? x : x * P(0), x >= 0 ? x : x * P(0))
FLOAT_OP(elu, x >= 0 ? x : P(0) * expm1f(x), x >= 0 ? x : P(0) * expm1(x))
FLOAT_OP(selu, x > 0 ? P(1) * x : P(1) * P(0) * expm1f(x), x > 0 ? P(1) * x : P(1) * P(0) * expm1(x))
FLOAT_OP(celu, fmaxf(0.0f, x) + fminf(0.0f, P(0) * expm1f(x / P(0))),
         fmax(0.0, x) + fmin(0.0, P(0) * expm1(x / P(0))))
FLOAT_OP(hardsig, hardsigf_(x, P(0), P(1)), hardsig_(x, P(0), P(1)))
FLOAT_OP(hardswish, x * hardsigf_(x, 1.0f / 6, 0.5f), x * hardsig_(x, 1.0 / 6, 0.5))
FLOAT_OP(thrrelu, x > P(0) ? x : 0, x > P(0) ? x : 0)
FLOAT_OP(shrink, x < -P(1) ? x + P(0) : x > P(1) ? x - P(0) : 0, x < -P(1) ? x + P(0) : x > P(1) ? x - P(0) : 0)
FLOAT_OP(gelu, geluf_(x, P(0)), gelu_(x, P(0)))
FLOAT_OP(abs, fabsf(x), fabs(x))
FLOAT_OP(neg, -x, -x)
FLOAT_OP(sign, x > 0 ? 1 : x < 0 ? -1 : x, x > 0 ? 1 : x < 0 ? -1 : x)
FLOAT_OP(relu, x > 0 ? x : 0, x > 0 ? x : 0)
DF_UN_ROW(isnan_f32, float, uint8_t, float, isnan(x))
DF_UN_ROW(isnan_f64, double, uint8_t, double, isnan(x))
/* P(0): detect_negative, P(1): detect_positive */
DF_UN_ROW(isinf_f32, float, uint8_t, float, isinf(x) && (x > 0 ? P(1) != 0 : P(0) != 0))
DF_UN_ROW(isinf_f64, double, uint8_t, double, isinf(x) && (x > 0 ? P(1) != 0 : P(0) != 0))
DF_UN_ROW(not_b, uint8_t, uint8_t, uint8_t, x == 0)

#define SIGNED_OPS(DT, T, UT, S, E)                                                                  \
    DF_UN_ROW(abs_##S, T, T, UT, x < 0 ? (T)(0 - (UT)x) : x)                                         \
    DF_UN_ROW(neg_##S, T, T, UT, (T)(0 - (UT)x))                                                     \
    DF_UN_ROW(sign_##S, T, T, UT, (x > 0) - (x < 0))                                                 \
    DF_UN_ROW(relu_##S, T, T, UT, x > 0 ? x : 0)
DF_SINT_TYPES(SIGNED_OPS, _)
#define UNSIGNED_OPS(DT, T, UT, S, E)                                                                \
    DF_UN_ROW(abs_##S, T, T, UT, x)                                                                  \
    DF_UN_ROW(sign_##S, T, T, UT, x > 0)
DF_UINT_TYPES(UNSIGNED_OPS, _)

/* --- attribute readers -------------------------------------------------------------------- */
static void leaky_params(const df_node *n, float *p) { p[0] = df_attr_float(n, "alpha", 0.01f); }
static void elu_params(const df_node *n, float *p) { p[0] = df_attr_float(n, "alpha", 1.0f); }
static void selu_params(const df_node *n, float *p) {
    p[0] = df_attr_float(n, "alpha", 1.67326319217681884765625f);
    p[1] = df_attr_float(n, "gamma", 1.05070102214813232421875f);
}
static void hardsig_params(const df_node *n, float *p) {
    p[0] = df_attr_float(n, "alpha", 0.2f);
    p[1] = df_attr_float(n, "beta", 0.5f);
}
static void thrrelu_params(const df_node *n, float *p) { p[0] = df_attr_float(n, "alpha", 1.0f); }
static void shrink_params(const df_node *n, float *p) {
    p[0] = df_attr_float(n, "bias", 0.0f);
    p[1] = df_attr_float(n, "lambd", 0.5f);
}
static void gelu_params(const df_node *n, float *p) {
    p[0] = strcmp(df_attr_string(n, "approximate", "none"), "tanh") == 0;
}
static void isinf_params(const df_node *n, float *p) {
    p[0] = (float)df_attr_int(n, "detect_negative", 1);
    p[1] = (float)df_attr_int(n, "detect_positive", 1);
}

/* Validates attributes beyond what the kernels read; NULL when there is nothing to check. */
static df_status gelu_check(const df_node *n, df_error *err) {
    const char *ap = df_attr_string(n, "approximate", "none");
    if (strcmp(ap, "none") && strcmp(ap, "tanh"))
        return df_node_error(err, DF_EINVAL, n, "attribute approximate must be \"none\" or \"tanh\", got \"%s\"", ap);
    return DF_OK;
}
static df_status celu_check(const df_node *n, df_error *err) {
    if (df_attr_float(n, "alpha", 1.0f) == 0.0f) return df_node_error(err, DF_EINVAL, n, "attribute alpha must not be 0");
    return DF_OK;
}

/* --- descriptors -------------------------------------------------------------------------- */
typedef struct unop {
    df_row_fn fns[DF_NDTYPES];
    df_dtype out;                                   /* DF_UNDEFINED: the input's dtype */
    void (*params)(const df_node *n, float *p);
    df_status (*check)(const df_node *n, df_error *err);
} unop;

static df_status un_infer(df_graph *g, df_node *n, df_error *err, const unop *op) {
    df_status st;
    if ((st = df_ew_check_io(g, n, 1, 1, 1, err))) return st;
    const df_value *x = df_node_in(g, n, 0);
    if (!df_ew_supported(op->fns, x->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s, which %s does not support", x->name,
                             df_dtype_name(x->dtype), n->op_type);
    if (op->check && (st = op->check(n, err))) return st;
    df_set_out(g, n, 0, op->out ? op->out : x->dtype, &x->shape);
    return DF_OK;
}

static df_status un_run(const df_kernel_args *a, const unop *op) {
    float p[4] = {0};
    if (op->params) op->params(a->node, p);
    df_half_ctx hc;
    const void *ctx;
    df_row_fn fn = df_ew_pick(op->fns, a->in[0]->dtype, 1, 1u, op->out == DF_UNDEFINED, p, &hc, &ctx);
    if (!fn) return df_node_error(a->err, DF_ETYPE, a->node, "no kernel for dtype %s", df_dtype_name(a->in[0]->dtype));
    return df_eltwise(a, a->out[0], a->in, 1, fn, ctx);
}

#define FLOATS(name) {[DF_F32] = name##_f32, [DF_F64] = name##_f64}
#define DEF_UNOP(Name, ...)                                                                          \
    static const unop Name##_desc = {__VA_ARGS__};                                                   \
    static df_status Name##_infer(df_graph *g, df_node *n, df_error *err) {                          \
        return un_infer(g, n, err, &Name##_desc);                                                    \
    }                                                                                                \
    static df_status Name##_run(const df_kernel_args *a) { return un_run(a, &Name##_desc); }        \
    const df_op_def df_op_##Name = {.op_type = #Name, .infer = Name##_infer, .run = Name##_run};

DEF_UNOP(Sqrt, .fns = FLOATS(sqrt))
DEF_UNOP(Erf, .fns = FLOATS(erf))
DEF_UNOP(Tanh, .fns = FLOATS(tanh))
DEF_UNOP(Sigmoid, .fns = FLOATS(sigmoid))
DEF_UNOP(Reciprocal, .fns = FLOATS(recip))
DEF_UNOP(Exp, .fns = FLOATS(exp))
DEF_UNOP(Log, .fns = FLOATS(log))
DEF_UNOP(Floor, .fns = FLOATS(floor))
DEF_UNOP(Ceil, .fns = FLOATS(ceil))
DEF_UNOP(Round, .fns = FLOATS(round))
DEF_UNOP(Sin, .fns = FLOATS(sin))
DEF_UNOP(Cos, .fns = FLOATS(cos))
DEF_UNOP(Tan, .fns = FLOATS(tan))
DEF_UNOP(Asin, .fns = FLOATS(asin))
DEF_UNOP(Acos, .fns = FLOATS(acos))
DEF_UNOP(Atan, .fns = FLOATS(atan))
DEF_UNOP(Sinh, .fns = FLOATS(sinh))
DEF_UNOP(Cosh, .fns = FLOATS(cosh))
DEF_UNOP(Asinh, .fns = FLOATS(asinh))
DEF_UNOP(Acosh, .fns = FLOATS(acosh))
DEF_UNOP(Atanh, .fns = FLOATS(atanh))
DEF_UNOP(Softplus, .fns = FLOATS(softplus))
DEF_UNOP(Softsign, .fns = FLOATS(softsign))
DEF_UNOP(LeakyRelu, .fns = FLOATS(leaky), .params = leaky_params)
DEF_UNOP(Elu, .fns = FLOATS(elu), .params = elu_params)
DEF_UNOP(Selu, .fns = FLOATS(selu), .params = selu_params)
DEF_UNOP(Celu, .fns = FLOATS(celu), .params = elu_params, .check = celu_check)
DEF_UNOP(HardSigmoid, .fns = FLOATS(hardsig), .params = hardsig_params)
DEF_UNOP(HardSwish, .fns = FLOATS(hardswish))
DEF_UNOP(ThresholdedRelu, .fns = FLOATS(thrrelu), .params = thrrelu_params)
DEF_UNOP(Shrink, .fns = FLOATS(shrink), .params = shrink_params)
DEF_UNOP(Gelu, .fns = FLOATS(gelu), .params = gelu_params, .check = gelu_check)
DEF_UNOP(IsNaN, .fns = FLOATS(isnan), .out = DF_BOOL)
DEF_UNOP(IsInf, .fns = FLOATS(isinf), .out = DF_BOOL, .params = isinf_params)
DEF_UNOP(Not, .fns = {[DF_BOOL] = not_b})
DEF_UNOP(Abs, .fns = {DF_NUM_TYPES(ENTRY, abs)})
DEF_UNOP(Neg, .fns = {DF_SINT_TYPES(ENTRY, neg) DF_FLOAT_TYPES(ENTRY, neg)})
DEF_UNOP(Sign, .fns = {DF_NUM_TYPES(ENTRY, sign)})
DEF_UNOP(Relu, .fns = {DF_SINT_TYPES(ENTRY, relu) DF_FLOAT_TYPES(ENTRY, relu)})
