/* Shared pieces of the elementwise family (binary.c, binary_variadic.c, unary.c, cast.c,
 * where.c, clip.c): dtype lists for generating typed kernels, half-precision conversion, and
 * the checks every elementwise infer makes. */
#ifndef DF_OPS_ELEMENTWISE_H
#define DF_OPS_ELEMENTWISE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ops/broadcast.h"

/* Tables indexed by df_dtype; every df_dtype value is below this. */
#define DF_NDTYPES 17

/* --- half precision --------------------------------------------------------------------
 * float16 goes through the compiler's _Float16 (F16C instructions under -march=native), so
 * rounding is IEEE round-to-nearest-even; bfloat16 is the top half of a float32. */
#if defined(__clang__) && __clang_major__ < 15
/* clang 14 (Debian 12's, used for `make fuzz`) has no _Float16 on x86: use the F16C
 * instructions directly. double -> half goes through float here, which can round twice;
 * acceptable for fuzz builds, which are clang's only use. */
#include <immintrin.h>
static inline float df_h2f(uint16_t h) { return _cvtsh_ss(h); }
static inline uint16_t df_f2h(float f) { return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
static inline uint16_t df_d2h(double d) { return df_f2h((float)d); }
#else
static inline float df_h2f(uint16_t h) {
    _Float16 x;
    memcpy(&x, &h, 2);
    return (float)x;
}
static inline uint16_t df_f2h(float f) {
    _Float16 x = (_Float16)f;
    uint16_t h;
    memcpy(&h, &x, 2);
    return h;
}
/* Direct double -> half, so a double is rounded once, not twice through float. */
static inline uint16_t df_d2h(double d) {
    _Float16 x = (_Float16)d;
    uint16_t h;
    memcpy(&h, &x, 2);
    return h;
}
#endif
static inline float df_bf2f(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t df_f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* keep NaN a NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                          /* nearest even */
    return (uint16_t)(u >> 16);
}
static inline bool df_is_half(df_dtype dt) { return dt == DF_F16 || dt == DF_BF16; }

/* Runs a float32 row kernel on float16/bfloat16 data by converting blocks on the stack.
 * Elementwise ops get their half-precision support from their float32 kernels this way. */
typedef struct df_half_ctx {
    df_row_fn f32;          /* the float32 kernel */
    int n_in;
    const void *ctx;        /* its context */
    df_dtype dt;            /* DF_F16 or DF_BF16 */
    unsigned in_mask;       /* bit i: input i is stored as dt; others are passed through */
    size_t in_esize[DF_BCAST_MAX_IN]; /* element sizes of passed-through inputs */
    bool out_half;          /* output stored as dt; otherwise f32 writes it directly (bool) */
} df_half_ctx;
void df_half_row(int64_t n, void *out, const void *const *in, const int64_t *step, const void *ctx);

/* --- dtype lists for X-macros ----------------------------------------------------------
 * X(dtype, C type, wide type, suffix, extra). The wide type is what arithmetic happens in:
 * unsigned for integers, so overflow wraps like numpy's instead of being undefined (and wide
 * enough that uint16 * uint16 does not overflow a promoted int). */
#define DF_SINT_TYPES(X, E)                                                                          \
    X(DF_I8, int8_t, uint32_t, i8, E) X(DF_I16, int16_t, uint32_t, i16, E)                           \
    X(DF_I32, int32_t, uint32_t, i32, E) X(DF_I64, int64_t, uint64_t, i64, E)
#define DF_UINT_TYPES(X, E)                                                                          \
    X(DF_U8, uint8_t, uint32_t, u8, E) X(DF_U16, uint16_t, uint32_t, u16, E)                         \
    X(DF_U32, uint32_t, uint32_t, u32, E) X(DF_U64, uint64_t, uint64_t, u64, E)
#define DF_FLOAT_TYPES(X, E) X(DF_F32, float, float, f32, E) X(DF_F64, double, double, f64, E)
#define DF_INT_TYPES(X, E) DF_SINT_TYPES(X, E) DF_UINT_TYPES(X, E)
#define DF_NUM_TYPES(X, E) DF_INT_TYPES(X, E) DF_FLOAT_TYPES(X, E)

/* A binary row kernel. EXPR computes one output from `a` and `b`; `df_ut` is the wide type
 * and `ctx` the operator's context. The four loops are the step combinations. `omp simd`
 * matters: at -O2, GCC 12's "very cheap" cost model leaves loops of unknown trip count
 * scalar, while simd loops are vectorized whenever the body allows it. */
#define DF_BIN_ROW(fname, TA, TB, TO, UT, EXPR)                                                      \
    static void fname(int64_t n, void *o_, const void *const *in, const int64_t *st,                  \
                      const void *ctx) {                                                              \
        typedef UT df_ut;                                                                             \
        (void)sizeof(df_ut);                                                                          \
        (void)ctx;                                                                                    \
        TO *restrict o = (TO *)o_;                                                                    \
        const TA *restrict pa = (const TA *)in[0];                                                    \
        const TB *restrict pb = (const TB *)in[1];                                                    \
        if (st[0] && st[1]) {                                                                         \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                         \
                const TA a = pa[i];                                                                   \
                const TB b = pb[i];                                                                   \
                o[i] = (TO)(EXPR);                                                                    \
            }                                                                                         \
        } else if (st[0]) {                                                                           \
            const TB b = pb[0];                                                                       \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                         \
                const TA a = pa[i];                                                                   \
                o[i] = (TO)(EXPR);                                                                    \
            }                                                                                         \
        } else if (st[1]) {                                                                           \
            const TA a = pa[0];                                                                       \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                         \
                const TB b = pb[i];                                                                   \
                o[i] = (TO)(EXPR);                                                                    \
            }                                                                                         \
        } else {                                                                                      \
            const TA a = pa[0];                                                                       \
            const TB b = pb[0];                                                                       \
            const TO r = (TO)(EXPR);                                                                  \
            _Pragma("omp simd")                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = r;                                                 \
        }                                                                                             \
    }

/* A unary row kernel: EXPR computes one output from `x` (and `ctx`). Unary inputs have the
 * output's shape, so the step is 1 except for a single element. */
#define DF_UN_ROW(fname, TI, TO, UT, EXPR)                                                           \
    static void fname(int64_t n, void *o_, const void *const *in, const int64_t *st,                  \
                      const void *ctx) {                                                              \
        typedef UT df_ut;                                                                             \
        (void)sizeof(df_ut);                                                                          \
        (void)ctx;                                                                                    \
        (void)st;                                                                                     \
        TO *restrict o = (TO *)o_;                                                                    \
        const TI *restrict px = (const TI *)in[0];                                                    \
        _Pragma("omp simd")                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                             \
            const TI x = px[i];                                                                       \
            o[i] = (TO)(EXPR);                                                                        \
        }                                                                                             \
    }

/* --- infer helpers ---------------------------------------------------------------------- */
/* Checks the input count is within [min_in, max_in] (omitted inputs count) and that inputs
 * below `required` are present with known shapes and that output 0 exists. */
df_status df_ew_check_io(const df_graph *g, const df_node *n, int min_in, int max_in, int required,
                         df_error *err);
/* Fails with DF_ETYPE unless inputs [first, first+count) that are present share a dtype. */
df_status df_ew_same_dtype(const df_graph *g, const df_node *n, int first, int count, df_error *err);
/* The kernel for dt from a table, or NULL; for float16/bfloat16 without their own entry it
 * fills hc to run the float32 kernel through df_half_row (inputs in in_mask, output too when
 * out_half) and returns df_half_row. */
df_row_fn df_ew_pick(const df_row_fn *table, df_dtype dt, int n_in, unsigned in_mask, bool out_half,
                     const void *ctx, df_half_ctx *hc, const void **ctx_out);
/* True when dt has a kernel in table (directly or through float32). */
bool df_ew_supported(const df_row_fn *table, df_dtype dt);

#endif
