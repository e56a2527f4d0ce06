/* Binary elementwise operators with numpy broadcasting: Add, Sub, Mul, Div, Mod, Pow,
 * BitShift, the comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual) and the
 * logical And, Or, Xor.
 *
 * Each operator is a scalar function per dtype, expanded into row kernels by DF_BIN_ROW and
 * collected into a table indexed by dtype; float16/bfloat16 run the float32 kernel through
 * df_half_row. Integer arithmetic wraps (numpy's behaviour), and integer division or modulo
 * by zero yields 0 instead of trapping, since a kernel must never crash the server on data. */
#include <math.h>

#include "ops/elementwise.h"

typedef struct binop {
    df_row_fn fns[DF_NDTYPES];
    bool out_bool; /* comparisons and logic produce bool */
} binop;

#define KERN(DT, T, UT, S, OP) DF_BIN_ROW(OP##_##S, T, T, T, UT, OP##_##S##_op(a, b))
#define KERN_BOOL(DT, T, UT, S, OP) DF_BIN_ROW(OP##_##S, T, T, uint8_t, UT, OP##_##S##_op(a, b))
#define ENTRY(DT, T, UT, S, OP) [DT] = OP##_##S,

/* --- scalar functions --------------------------------------------------------------------- */
#define ARITH_OPS(DT, T, UT, S, E)                                                                   \
    static inline T add_##S##_op(T a, T b) { return (T)((UT)a + (UT)b); }                          \
    static inline T sub_##S##_op(T a, T b) { return (T)((UT)a - (UT)b); }                          \
    static inline T mul_##S##_op(T a, T b) { return (T)((UT)a * (UT)b); }                          \
    static inline uint8_t eq_##S##_op(T a, T b) { return a == b; }                                  \
    static inline uint8_t lt_##S##_op(T a, T b) { return a < b; }                                   \
    static inline uint8_t gt_##S##_op(T a, T b) { return a > b; }                                   \
    static inline uint8_t le_##S##_op(T a, T b) { return a <= b; }                                  \
    static inline uint8_t ge_##S##_op(T a, T b) { return a >= b; }
DF_NUM_TYPES(ARITH_OPS, _)

/* Signed division truncates toward zero like C (and ONNX Runtime); MIN / -1 wraps. Mod
 * without fmod takes the divisor's sign (Python's %), with fmod the dividend's (C's %). */
#define SDIV_OPS(DT, T, UT, S, E)                                                                    \
    static inline T div_##S##_op(T a, T b) {                                                         \
        return b == 0 ? 0 : b == -1 ? (T)(0 - (UT)a) : (T)(a / b);                                  \
    }                                                                                                \
    static inline T fmod_##S##_op(T a, T b) { return (b == 0 || b == -1) ? 0 : (T)(a % b); }        \
    static inline T mod_##S##_op(T a, T b) {                                                         \
        T r = fmod_##S##_op(a, b);                                                                   \
        return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;                                    \
    }
DF_SINT_TYPES(SDIV_OPS, _)
#define UDIV_OPS(DT, T, UT, S, E)                                                                    \
    static inline T div_##S##_op(T a, T b) { return b ? (T)(a / b) : 0; }                           \
    static inline T fmod_##S##_op(T a, T b) { return b ? (T)(a % b) : 0; }                          \
    static inline T mod_##S##_op(T a, T b) { return fmod_##S##_op(a, b); }                          \
    static inline T shl_##S##_op(T a, T b) { return b >= 8 * sizeof(T) ? 0 : (T)((UT)a << b); }     \
    static inline T shr_##S##_op(T a, T b) { return b >= 8 * sizeof(T) ? 0 : (T)(a >> b); }
DF_UINT_TYPES(UDIV_OPS, _)
static inline float div_f32_op(float a, float b) { return a / b; }
static inline double div_f64_op(double a, double b) { return a / b; }
static inline float fmod_f32_op(float a, float b) { return fmodf(a, b); }
static inline double fmod_f64_op(double a, double b) { return fmod(a, b); }
static inline float pow_f32_op(float a, float b) { return powf(a, b); }
static inline double pow_f64_op(double a, double b) { return pow(a, b); }
/* bool is one byte; any nonzero byte is true. */
static inline uint8_t and_b_op(uint8_t a, uint8_t b) { return (a != 0) & (b != 0); }
static inline uint8_t or_b_op(uint8_t a, uint8_t b) { return (a != 0) | (b != 0); }
static inline uint8_t xor_b_op(uint8_t a, uint8_t b) { return (a != 0) ^ (b != 0); }
static inline uint8_t eq_b_op(uint8_t a, uint8_t b) { return (a != 0) == (b != 0); }

/* --- row kernels and tables --------------------------------------------------------------- */
DF_NUM_TYPES(KERN, add)
DF_NUM_TYPES(KERN, sub)
DF_NUM_TYPES(KERN, mul)
DF_NUM_TYPES(KERN, div)
DF_NUM_TYPES(KERN, fmod)
DF_INT_TYPES(KERN, mod)
DF_UINT_TYPES(KERN, shl)
DF_UINT_TYPES(KERN, shr)
DF_NUM_TYPES(KERN_BOOL, eq)
DF_NUM_TYPES(KERN_BOOL, lt)
DF_NUM_TYPES(KERN_BOOL, gt)
DF_NUM_TYPES(KERN_BOOL, le)
DF_NUM_TYPES(KERN_BOOL, ge)
DF_FLOAT_TYPES(KERN, pow)
DF_BIN_ROW(and_b, uint8_t, uint8_t, uint8_t, uint8_t, and_b_op(a, b))
DF_BIN_ROW(or_b, uint8_t, uint8_t, uint8_t, uint8_t, or_b_op(a, b))
DF_BIN_ROW(xor_b, uint8_t, uint8_t, uint8_t, uint8_t, xor_b_op(a, b))
DF_BIN_ROW(eq_b, uint8_t, uint8_t, uint8_t, uint8_t, eq_b_op(a, b))

static const binop ADD = {.fns = {DF_NUM_TYPES(ENTRY, add)}};
static const binop SUB = {.fns = {DF_NUM_TYPES(ENTRY, sub)}};
static const binop MUL = {.fns = {DF_NUM_TYPES(ENTRY, mul)}};
static const binop DIV = {.fns = {DF_NUM_TYPES(ENTRY, div)}};
static const binop MOD = {.fns = {DF_INT_TYPES(ENTRY, mod)}};
static const binop FMOD = {.fns = {DF_NUM_TYPES(ENTRY, fmod)}};
static const binop SHL = {.fns = {DF_UINT_TYPES(ENTRY, shl)}};
static const binop SHR = {.fns = {DF_UINT_TYPES(ENTRY, shr)}};
static const binop EQUAL = {.fns = {DF_NUM_TYPES(ENTRY, eq)[DF_BOOL] = eq_b}, .out_bool = true};
static const binop LESS = {.fns = {DF_NUM_TYPES(ENTRY, lt)}, .out_bool = true};
static const binop GREATER = {.fns = {DF_NUM_TYPES(ENTRY, gt)}, .out_bool = true};
static const binop LESS_EQ = {.fns = {DF_NUM_TYPES(ENTRY, le)}, .out_bool = true};
static const binop GREATER_EQ = {.fns = {DF_NUM_TYPES(ENTRY, ge)}, .out_bool = true};
static const binop AND = {.fns = {[DF_BOOL] = and_b}, .out_bool = true};
static const binop OR = {.fns = {[DF_BOOL] = or_b}, .out_bool = true};
static const binop XOR = {.fns = {[DF_BOOL] = xor_b}, .out_bool = true};

/* --- shared infer / run ------------------------------------------------------------------- */
static df_status check_dtype(const df_graph *g, const df_node *n, int i, const df_row_fn *fns, df_error *err) {
    const df_value *v = df_node_in(g, n, i);
    if (!df_ew_supported(fns, v->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s, which %s does not support", v->name,
                             df_dtype_name(v->dtype), n->op_type);
    return DF_OK;
}

/* Before opset 7 broadcasting was opt-in (broadcast=1) and could align B at `axis`; numpy
 * rules give the same result when B aligns with A's trailing dims, the only case exporters
 * emitted in practice. */
static df_status check_legacy_broadcast(const df_graph *g, const df_node *n, df_error *err) {
    if (n->opset >= 7 || !df_attr_int(n, "broadcast", 0) || !df_node_attr(n, "axis")) return DF_OK;
    int ra = df_node_in(g, n, 0)->shape.rank, rb = df_node_in(g, n, 1)->shape.rank;
    int64_t axis = df_attr_int(n, "axis", 0);
    if (axis < 0) axis += ra;
    if (axis != ra - rb)
        return df_node_error(err, DF_EUNSUPPORTED, n, "legacy broadcast with axis=%lld is not supported",
                             (long long)df_attr_int(n, "axis", 0));
    return DF_OK;
}

static df_status bin_infer(df_graph *g, df_node *n, df_error *err, const binop *op) {
    df_status st;
    if ((st = df_ew_check_io(g, n, 2, 2, 2, err)) || (st = df_ew_same_dtype(g, n, 0, 2, err)) ||
        (st = check_dtype(g, n, 0, op->fns, err)) || (st = check_legacy_broadcast(g, n, err)))
        return st;
    df_shape s;
    if ((st = df_broadcast_shapes(g, n, 0, 2, &s, err))) return st;
    df_set_out(g, n, 0, op->out_bool ? DF_BOOL : df_node_in(g, n, 0)->dtype, &s);
    return DF_OK;
}

static df_status bin_run(const df_kernel_args *a, const binop *op) {
    df_half_ctx hc;
    const void *ctx;
    df_row_fn fn = df_ew_pick(op->fns, a->in[0]->dtype, 2, 3u, !op->out_bool, NULL, &hc, &ctx);
    if (!fn)
        return df_node_error(a->err, DF_ETYPE, a->node, "no kernel for dtype %s", df_dtype_name(a->in[0]->dtype));
    return df_eltwise(a, a->out[0], a->in, 2, fn, ctx);
}

#define DEF_BINOP(Name, desc)                                                                        \
    static df_status Name##_infer(df_graph *g, df_node *n, df_error *err) {                          \
        return bin_infer(g, n, err, &desc);                                                          \
    }                                                                                                \
    static df_status Name##_run(const df_kernel_args *a) { return bin_run(a, &desc); }              \
    const df_op_def df_op_##Name = {.op_type = #Name, .infer = Name##_infer, .run = Name##_run};

DEF_BINOP(Add, ADD)
DEF_BINOP(Sub, SUB)
DEF_BINOP(Mul, MUL)
DEF_BINOP(Div, DIV)
DEF_BINOP(Equal, EQUAL)
DEF_BINOP(Less, LESS)
DEF_BINOP(Greater, GREATER)
DEF_BINOP(LessOrEqual, LESS_EQ)
DEF_BINOP(GreaterOrEqual, GREATER_EQ)
DEF_BINOP(And, AND)
DEF_BINOP(Or, OR)
DEF_BINOP(Xor, XOR)

/* --- Mod ---------------------------------------------------------------------------------- */
static df_status mod_infer(df_graph *g, df_node *n, df_error *err) {
    int64_t f = df_attr_int(n, "fmod", 0);
    if (f != 0 && f != 1) return df_node_error(err, DF_EINVAL, n, "attribute fmod must be 0 or 1, got %lld", (long long)f);
    df_status st = bin_infer(g, n, err, &FMOD);
    if (st) return st;
    df_dtype dt = df_node_in(g, n, 0)->dtype;
    if (!f && (dt == DF_F32 || dt == DF_F64 || df_is_half(dt)))
        return df_node_error(err, DF_EINVAL, n, "floating-point input '%s' (%s) requires fmod=1",
                             df_node_in(g, n, 0)->name, df_dtype_name(dt));
    return DF_OK;
}
static df_status mod_run(const df_kernel_args *a) {
    return bin_run(a, df_attr_int(a->node, "fmod", 0) ? &FMOD : &MOD);
}
const df_op_def df_op_Mod = {.op_type = "Mod", .infer = mod_infer, .run = mod_run};

/* --- BitShift ----------------------------------------------------------------------------- */
static df_status bitshift_infer(df_graph *g, df_node *n, df_error *err) {
    const char *dir = df_attr_string(n, "direction", NULL);
    if (!dir || (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT")))
        return df_node_error(err, DF_EINVAL, n, "attribute direction must be \"LEFT\" or \"RIGHT\"%s%s%s",
                             dir ? ", got \"" : "", dir ? dir : "", dir ? "\"" : "");
    return bin_infer(g, n, err, &SHL);
}
static df_status bitshift_run(const df_kernel_args *a) {
    return bin_run(a, strcmp(df_attr_string(a->node, "direction", "LEFT"), "LEFT") ? &SHR : &SHL);
}
const df_op_def df_op_BitShift = {.op_type = "BitShift", .infer = bitshift_infer, .run = bitshift_run};

/* --- Pow ---------------------------------------------------------------------------------- *
 * The exponent may have another dtype than the base (opset 12+); the output has the base's.
 * Same-dtype float pairs use typed kernels; mixed pairs read the exponent through a switch,
 * which is slower but only seen in unusual graphs. BERT's LayerNorm decomposition raises to a
 * constant 2, which gets its own kernel. */
typedef struct pow_ctx {
    df_dtype edt;
} pow_ctx;

static bool is_int_dtype(df_dtype dt) {
    switch (dt) {
    case DF_I8: case DF_U8: case DF_I16: case DF_U16: case DF_I32: case DF_U32: case DF_I64: case DF_U64:
        return true;
    default:
        return false;
    }
}

static inline double load_f64(const void *p, df_dtype dt, int64_t i) {
    switch (dt) {
    case DF_F32: return ((const float *)p)[i];
    case DF_F64: return ((const double *)p)[i];
    case DF_F16: return df_h2f(((const uint16_t *)p)[i]);
    case DF_BF16: return df_bf2f(((const uint16_t *)p)[i]);
    case DF_I8: return ((const int8_t *)p)[i];
    case DF_U8: return ((const uint8_t *)p)[i];
    case DF_I16: return ((const int16_t *)p)[i];
    case DF_U16: return ((const uint16_t *)p)[i];
    case DF_I32: return ((const int32_t *)p)[i];
    case DF_U32: return ((const uint32_t *)p)[i];
    case DF_I64: return (double)((const int64_t *)p)[i];
    case DF_U64: return (double)((const uint64_t *)p)[i];
    default: return 0;
    }
}

static inline int64_t load_i64(const void *p, df_dtype dt, int64_t i) {
    switch (dt) {
    case DF_I8: return ((const int8_t *)p)[i];
    case DF_U8: return ((const uint8_t *)p)[i];
    case DF_I16: return ((const int16_t *)p)[i];
    case DF_U16: return ((const uint16_t *)p)[i];
    case DF_I32: return ((const int32_t *)p)[i];
    case DF_U32: return ((const uint32_t *)p)[i];
    case DF_I64: return ((const int64_t *)p)[i];
    case DF_U64: return (int64_t)((const uint64_t *)p)[i];
    default: return 0;
    }
}

/* Integer power by squaring, wrapping on overflow; a negative exponent truncates 1/base^e. */
static int64_t ipow(int64_t base, int64_t e) {
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    for (; e; e >>= 1) {
        if (e & 1) r *= b;
        b *= b;
    }
    return (int64_t)r;
}

#define POW_ANY(S, T, INTBASE)                                                                       \
    static void pow_##S##_any(int64_t n, void *o_, const void *const *in, const int64_t *st,          \
                              const void *ctx) {                                                      \
        const df_dtype edt = ((const pow_ctx *)ctx)->edt;                                             \
        T *o = o_;                                                                                    \
        const T *pa = in[0];                                                                          \
        if (INTBASE && is_int_dtype(edt)) {                                                           \
            for (int64_t i = 0; i < n; i++)                                                           \
                o[i] = (T)ipow((int64_t)pa[i * st[0]], load_i64(in[1], edt, i * st[1]));              \
        } else {                                                                                      \
            for (int64_t i = 0; i < n; i++)                                                           \
                o[i] = (T)pow((double)pa[i * st[0]], load_f64(in[1], edt, i * st[1]));                \
        }                                                                                             \
    }
POW_ANY(f32, float, 0)
POW_ANY(f64, double, 0)
POW_ANY(i32, int32_t, 1)
POW_ANY(i64, int64_t, 1)

DF_UN_ROW(square_f32, float, float, float, x * x)
DF_UN_ROW(copy_f32, float, float, float, x)

static const df_row_fn pow_any_fns[DF_NDTYPES] = {
    [DF_F32] = pow_f32_any, [DF_F64] = pow_f64_any, [DF_I32] = pow_i32_any, [DF_I64] = pow_i64_any};
static const df_row_fn pow_same_fns[DF_NDTYPES] = {DF_FLOAT_TYPES(ENTRY, pow)};

static bool pow_exp_ok(df_dtype dt) {
    return is_int_dtype(dt) || dt == DF_F32 || dt == DF_F64 || df_is_half(dt);
}

static df_status pow_infer(df_graph *g, df_node *n, df_error *err) {
    df_status st;
    if ((st = df_ew_check_io(g, n, 2, 2, 2, err)) || (st = check_dtype(g, n, 0, pow_any_fns, err)) ||
        (st = check_legacy_broadcast(g, n, err)))
        return st;
    const df_value *e = df_node_in(g, n, 1);
    if (!pow_exp_ok(e->dtype))
        return df_node_error(err, DF_ETYPE, n, "exponent '%s' has dtype %s, which Pow does not support", e->name,
                             df_dtype_name(e->dtype));
    df_shape s;
    if ((st = df_broadcast_shapes(g, n, 0, 2, &s, err))) return st;
    df_set_out(g, n, 0, df_node_in(g, n, 0)->dtype, &s);
    return DF_OK;
}

static df_status pow_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0], *e = a->in[1];
    if (x->dtype == DF_F32 && e->dtype == DF_F32 && df_shape_numel(&e->shape) == 1) {
        float v = *(const float *)e->data;
        if (v == 2.0f) return df_eltwise(a, a->out[0], a->in, 1, square_f32, NULL);
        if (v == 1.0f) return df_eltwise(a, a->out[0], a->in, 1, copy_f32, NULL);
    }
    if (x->dtype == e->dtype && (unsigned)x->dtype < DF_NDTYPES && pow_same_fns[x->dtype]) return df_eltwise(a, a->out[0], a->in, 2, pow_same_fns[x->dtype], NULL);

    pow_ctx pc = {.edt = e->dtype};
    df_half_ctx hc;
    const void *ctx;
    df_row_fn fn = df_ew_pick(pow_any_fns, x->dtype, 2, 1u, true, &pc, &hc, &ctx);
    if (!fn) return df_node_error(a->err, DF_ETYPE, a->node, "no kernel for dtype %s", df_dtype_name(x->dtype));
    hc.in_esize[1] = df_dtype_size(e->dtype);
    return df_eltwise(a, a->out[0], a->in, 2, fn, ctx);
}
const df_op_def df_op_Pow = {.op_type = "Pow", .infer = pow_infer, .run = pow_run};
