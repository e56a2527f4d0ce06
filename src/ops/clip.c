/* Clip: bounds from attributes before opset 11 (float only), from optional scalar inputs
 * from opset 11 (every numeric dtype from opset 12). An absent bound does not clip. As in
 * the spec, min > max gives max everywhere: the kernel applies min first, then max. */
#include "ops/elementwise.h"

typedef struct clip_ctx {
    unsigned char lo[8], hi[8]; /* bounds stored as the kernel's element type */
    bool has_lo, has_hi;
} clip_ctx;

#define CLIP_ROW(DT, T, UT, S, E)                                                                    \
    static void clip_##S(int64_t n, void *o_, const void *const *in, const int64_t *st,               \
                         const void *ctx) {                                                           \
        (void)st;                                                                                     \
        const clip_ctx *c = ctx;                                                                      \
        T *restrict o = (T *)o_;                                                                      \
        const T *restrict x = (const T *)in[0];                                                       \
        T lo, hi;                                                                                     \
        memcpy(&lo, c->lo, sizeof lo);                                                                \
        memcpy(&hi, c->hi, sizeof hi);                                                                \
        if (c->has_lo && c->has_hi) {                                                                 \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                         \
                T v = x[i] < lo ? lo : x[i];                                                          \
                o[i] = v > hi ? hi : v;                                                               \
            }                                                                                         \
        } else if (c->has_lo) {                                                                       \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = x[i] < lo ? lo : x[i];                             \
        } else if (c->has_hi) {                                                                       \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = x[i] > hi ? hi : x[i];                             \
        } else {                                                                                      \
            memcpy(o, x, (size_t)n * sizeof(T));                                                      \
        }                                                                                             \
    }
DF_NUM_TYPES(CLIP_ROW, _)

#define ENTRY(DT, T, UT, S, OP) [DT] = OP##_##S,
static const df_row_fn clip_fns[DF_NDTYPES] = {DF_NUM_TYPES(ENTRY, clip)};

static bool is_float(df_dtype dt) { return dt == DF_F32 || dt == DF_F64 || df_is_half(dt); }

static df_status clip_infer(df_graph *g, df_node *n, df_error *err) {
    df_status st;
    bool legacy = n->opset < 11;
    if ((st = df_ew_check_io(g, n, 1, legacy ? 1 : 3, 1, err)) || (st = df_ew_same_dtype(g, n, 0, 3, err))) return st;
    const df_value *x = df_node_in(g, n, 0);
    if (!df_ew_supported(clip_fns, x->dtype) || (n->opset < 12 && !is_float(x->dtype)))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s, which Clip-%d does not support", x->name,
                             df_dtype_name(x->dtype), n->opset < 11 ? 6 : n->opset < 12 ? 11 : 12);
    for (int i = 1; i < n->n_inputs; i++) {
        const df_value *b = df_node_in(g, n, i);
        if (b && df_shape_numel(&b->shape) != 1) {
            char s[128];
            return df_node_error(err, DF_ESHAPE, n, "%s bound '%s' must be a scalar, got shape %s", i == 1 ? "min" : "max",
                                 b->name, df_shape_str(&b->shape, s, sizeof s));
        }
    }
    df_set_out(g, n, 0, x->dtype, &x->shape);
    return DF_OK;
}

/* Stores bound i (1 = min, 2 = max) into dst as the kernel's type; false when absent. */
static bool clip_bound(const df_kernel_args *a, int i, unsigned char *dst) {
    df_dtype dt = a->in[0]->dtype;
    if (a->node->opset < 11) {
        const df_attr *at = df_node_attr(a->node, i == 1 ? "min" : "max");
        if (!at) return false;
        if (dt == DF_F64) {
            double d = at->f;
            memcpy(dst, &d, sizeof d);
        } else {
            memcpy(dst, &at->f, sizeof at->f);
        }
        return true;
    }
    const df_tensor *b = i < a->n_in ? a->in[i] : NULL;
    if (!b) return false;
    if (df_is_half(dt)) { /* the float32 kernel runs on converted data */
        uint16_t h;
        memcpy(&h, b->data, 2);
        float f = dt == DF_F16 ? df_h2f(h) : df_bf2f(h);
        memcpy(dst, &f, sizeof f);
    } else {
        memcpy(dst, b->data, df_dtype_size(dt));
    }
    return true;
}

static df_status clip_run(const df_kernel_args *a) {
    clip_ctx c;
    memset(&c, 0, sizeof c);
    c.has_lo = clip_bound(a, 1, c.lo);
    c.has_hi = clip_bound(a, 2, c.hi);
    df_half_ctx hc;
    const void *ctx;
    df_row_fn fn = df_ew_pick(clip_fns, a->in[0]->dtype, 1, 1u, true, &c, &hc, &ctx);
    if (!fn) return df_node_error(a->err, DF_ETYPE, a->node, "no kernel for dtype %s", df_dtype_name(a->in[0]->dtype));
    return df_eltwise(a, a->out[0], a->in, 1, fn, ctx);
}

const df_op_def df_op_Clip = {.op_type = "Clip", .infer = clip_infer, .run = clip_run};
