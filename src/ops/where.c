/* Where(condition, X, Y): X where condition is true, else Y, with three-way broadcasting.
 * The kernels only move bits, so there is one per element size rather than per dtype. */
#include "ops/elementwise.h"

#define WHERE_ROW(S, T)                                                                              \
    static void where_##S(int64_t n, void *o_, const void *const *in, const int64_t *st,              \
                          const void *ctx) {                                                          \
        (void)ctx;                                                                                    \
        T *restrict o = (T *)o_;                                                                      \
        const uint8_t *restrict c = (const uint8_t *)in[0];                                           \
        const T *restrict x = (const T *)in[1];                                                       \
        const T *restrict y = (const T *)in[2];                                                       \
        if (!st[0]) { /* one condition for the whole row: a copy or a fill */                         \
            const T *src = c[0] ? x : y;                                                              \
            if (c[0] ? st[1] : st[2]) memcpy(o, src, (size_t)n * sizeof(T));                          \
            else for (int64_t i = 0; i < n; i++) o[i] = src[0];                                       \
        } else if (st[1] && st[2]) {                                                                  \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? x[i] : y[i];                                \
        } else if (st[2]) { /* scalar X, e.g. a fill value for masked attention scores */             \
            const T xv = x[0];                                                                        \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? xv : y[i];                                  \
        } else if (st[1]) {                                                                           \
            const T yv = y[0];                                                                        \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? x[i] : yv;                                  \
        } else {                                                                                      \
            const T xv = x[0], yv = y[0];                                                             \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? xv : yv;                                    \
        }                                                                                             \
    }
WHERE_ROW(1, uint8_t)
WHERE_ROW(2, uint16_t)
WHERE_ROW(4, uint32_t)
WHERE_ROW(8, uint64_t)

static df_row_fn where_fn(size_t esize) {
    switch (esize) {
    case 1: return where_1;
    case 2: return where_2;
    case 4: return where_4;
    case 8: return where_8;
    default: return NULL;
    }
}

static df_status where_infer(df_graph *g, df_node *n, df_error *err) {
    df_status st;
    if ((st = df_ew_check_io(g, n, 3, 3, 3, err)) || (st = df_ew_same_dtype(g, n, 1, 2, err))) return st;
    const df_value *c = df_node_in(g, n, 0), *x = df_node_in(g, n, 1);
    if (c->dtype != DF_BOOL)
        return df_node_error(err, DF_ETYPE, n, "condition '%s' must be bool, got %s", c->name, df_dtype_name(c->dtype));
    if (!where_fn(df_dtype_size(x->dtype)))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s, which Where does not support", x->name,
                             df_dtype_name(x->dtype));
    df_shape s;
    if ((st = df_broadcast_shapes(g, n, 0, 3, &s, err))) return st;
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status where_run(const df_kernel_args *a) {
    df_row_fn fn = where_fn(df_dtype_size(a->in[1]->dtype));
    if (!fn) return df_node_error(a->err, DF_ETYPE, a->node, "no kernel for dtype %s", df_dtype_name(a->in[1]->dtype));
    return df_eltwise(a, a->out[0], a->in, 3, fn, NULL);
}

const df_op_def df_op_Where = {.op_type = "Where", .infer = where_infer, .run = where_run};
