/* Variadic elementwise operators with numpy broadcasting over all inputs: Min, Max, Sum, Mean.
 *
 * The output is computed as out = f(in0, in1), then out = f(out, in_k) for each further input
 * in place. The in-place kernels read and write only through the output pointer, so no two
 * restrict pointers ever alias. Mean scales the sum by 1/N in a final in-place pass. */
#include "ops/elementwise.h"

/* In place: o[i] = EXPR(a = o[i], b = input 1). */
#define ACC_ROW(fname, T, EXPR)                                                                      \
    static void fname(int64_t n, void *o_, const void *const *in, const int64_t *st,                  \
                      const void *ctx) {                                                              \
        (void)ctx;                                                                                    \
        T *restrict o = (T *)o_;                                                                      \
        const T *restrict pb = (const T *)in[1];                                                      \
        if (st[1]) {                                                                                  \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                         \
                const T a = o[i], b = pb[i];                                                          \
                o[i] = (EXPR);                                                                        \
            }                                                                                         \
        } else {                                                                                      \
            const T b = pb[0];                                                                        \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                         \
                const T a = o[i];                                                                     \
                o[i] = (EXPR);                                                                        \
            }                                                                                         \
        }                                                                                             \
    }

#define MINMAX(DT, T, UT, S, E)                                                                      \
    DF_BIN_ROW(min_##S, T, T, T, UT, a < b ? a : b)                                                  \
    DF_BIN_ROW(max_##S, T, T, T, UT, a > b ? a : b)                                                  \
    ACC_ROW(min_acc_##S, T, a < b ? a : b)                                                           \
    ACC_ROW(max_acc_##S, T, a > b ? a : b)
DF_NUM_TYPES(MINMAX, _)

#define SUM(DT, T, UT, S, E)                                                                         \
    DF_BIN_ROW(sum_##S, T, T, T, UT, a + b)                                                          \
    ACC_ROW(sum_acc_##S, T, a + b)                                                                   \
    static void scale_##S(int64_t n, void *o_, const void *const *in, const int64_t *st,              \
                          const void *ctx) {                                                          \
        (void)in;                                                                                     \
        (void)st;                                                                                     \
        T *restrict o = (T *)o_;                                                                      \
        const T s = (T)(*(const double *)ctx);                                                        \
        _Pragma("omp simd")                                                                           \
        for (int64_t i = 0; i < n; i++) o[i] *= s;                                                    \
    }
DF_FLOAT_TYPES(SUM, _)

#define ENTRY(DT, T, UT, S, OP) [DT] = OP##_##S,

typedef struct varop {
    df_row_fn first[DF_NDTYPES]; /* out = f(in0, in1) */
    df_row_fn acc[DF_NDTYPES];   /* out = f(out, in_k) */
    bool mean;
} varop;

static const varop MIN = {.first = {DF_NUM_TYPES(ENTRY, min)}, .acc = {DF_NUM_TYPES(ENTRY, min_acc)}};
static const varop MAX = {.first = {DF_NUM_TYPES(ENTRY, max)}, .acc = {DF_NUM_TYPES(ENTRY, max_acc)}};
static const varop SUM = {.first = {DF_FLOAT_TYPES(ENTRY, sum)}, .acc = {DF_FLOAT_TYPES(ENTRY, sum_acc)}};
static const varop MEAN = {.first = {DF_FLOAT_TYPES(ENTRY, sum)}, .acc = {DF_FLOAT_TYPES(ENTRY, sum_acc)}, .mean = true};
static const df_row_fn scale_fns[DF_NDTYPES] = {DF_FLOAT_TYPES(ENTRY, scale)};

/* In-place kernels on float16/bfloat16: convert the output block (and input 1's block when
 * there is one) to float, run the float32 kernel, convert back. */
typedef struct half_acc_ctx {
    df_row_fn f32;
    const void *ctx;
    df_dtype dt;
    int n_in;
} half_acc_ctx;

static void half_acc_row(int64_t n, void *out, const void *const *in, const int64_t *st, const void *ctx) {
    enum { BLOCK = 256 };
    const half_acc_ctx *h = ctx;
    float ob[BLOCK], bb[BLOCK];
    const void *ptr[2] = {ob, bb};
    for (int64_t s = 0; s < n; s += BLOCK) {
        int64_t m = n - s < BLOCK ? n - s : BLOCK;
        uint16_t *o = (uint16_t *)out + s;
        const uint16_t *b = h->n_in > 1 ? (const uint16_t *)in[1] + s * st[1] : NULL;
        int64_t mb = h->n_in > 1 && st[1] ? m : 1;
        if (h->dt == DF_F16) {
            #pragma omp simd
            for (int64_t i = 0; i < m; i++) ob[i] = df_h2f(o[i]);
            for (int64_t i = 0; b && i < mb; i++) bb[i] = df_h2f(b[i]);
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < m; i++) ob[i] = df_bf2f(o[i]);
            for (int64_t i = 0; b && i < mb; i++) bb[i] = df_bf2f(b[i]);
        }
        h->f32(m, ob, ptr, st, h->ctx);
        if (h->dt == DF_F16) {
            #pragma omp simd
            for (int64_t i = 0; i < m; i++) o[i] = df_f2h(ob[i]);
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < m; i++) o[i] = df_f2bf(ob[i]);
        }
    }
}

/* Runs an in-place kernel from table over out and (when b is not NULL) input b. */
static df_status run_acc(const df_kernel_args *a, const df_row_fn *table, const df_tensor *b, const void *ctx) {
    df_tensor *out = a->out[0];
    const df_tensor *in[2] = {out, b};
    int n_in = b ? 2 : 1;
    df_dtype dt = out->dtype;
    if (table[dt]) return df_eltwise(a, out, in, n_in, table[dt], ctx);
    half_acc_ctx h = {.f32 = table[DF_F32], .ctx = ctx, .dt = dt, .n_in = n_in};
    return df_eltwise(a, out, in, n_in, half_acc_row, &h);
}

static df_status var_infer(df_graph *g, df_node *n, df_error *err, const varop *op) {
    df_status st;
    if (n->n_inputs < 1) return df_node_error(err, DF_EINVAL, n, "expects at least one input");
    if ((st = df_ew_check_io(g, n, 1, n->n_inputs, n->n_inputs, err)) ||
        (st = df_ew_same_dtype(g, n, 0, n->n_inputs, err)))
        return st;
    const df_value *x = df_node_in(g, n, 0);
    if (!df_ew_supported(op->first, x->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s, which %s does not support", x->name,
                             df_dtype_name(x->dtype), n->op_type);
    df_shape s;
    if ((st = df_broadcast_shapes(g, n, 0, n->n_inputs, &s, err))) return st;
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status var_run(const df_kernel_args *a, const varop *op) {
    df_tensor *out = a->out[0];
    df_status st;
    if (a->n_in == 1) {
        if (df_shape_numel(&out->shape) != df_shape_numel(&a->in[0]->shape))
            return df_node_error(a->err, DF_ESHAPE, a->node, "output size differs from the single input's");
        memcpy(out->data, a->in[0]->data, out->nbytes);
        return DF_OK;
    }
    df_half_ctx hc;
    const void *ctx;
    df_row_fn first = df_ew_pick(op->first, out->dtype, 2, 3u, true, NULL, &hc, &ctx);
    if (!first) return df_node_error(a->err, DF_ETYPE, a->node, "no kernel for dtype %s", df_dtype_name(out->dtype));
    if ((st = df_eltwise(a, out, a->in, 2, first, ctx))) return st;
    for (int k = 2; k < a->n_in; k++)
        if ((st = run_acc(a, op->acc, a->in[k], NULL))) return st;
    if (op->mean) {
        double scale = 1.0 / a->n_in;
        return run_acc(a, scale_fns, NULL, &scale);
    }
    return DF_OK;
}

#define DEF_VAROP(Name, desc)                                                                        \
    static df_status Name##_infer(df_graph *g, df_node *n, df_error *err) {                          \
        return var_infer(g, n, err, &desc);                                                          \
    }                                                                                                \
    static df_status Name##_run(const df_kernel_args *a) { return var_run(a, &desc); }              \
    const df_op_def df_op_##Name = {.op_type = #Name, .infer = Name##_infer, .run = Name##_run};

DEF_VAROP(Min, MIN)
DEF_VAROP(Max, MAX)
DEF_VAROP(Sum, SUM)
DEF_VAROP(Mean, MEAN)
