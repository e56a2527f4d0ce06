/* The Reduce* family. Axes were an attribute until opset 13 for ReduceSum and until 18 for the
 * others; since then they are an optional input, with noop_with_empty_axes deciding whether no
 * axes means "all" or "none".
 *
 * The input is seen as alternating kept and reduced groups of dims (adjacent dims of the same
 * kind merge, since the input is contiguous). Each output element walks its reduced elements
 * with an odometer; when the only reduced group is innermost (ReduceMean over the hidden dim in
 * a decomposed LayerNorm) that walk is one contiguous run. Float sums accumulate in double. */
#include <float.h>
#include <math.h>

#include "ops/shape_common.h"

typedef enum rkind { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LOGSUMEXP } rkind;

static rkind kind_of(const df_node *n) {
    static const struct { const char *name; rkind k; } names[] = {
        {"ReduceSum", R_SUM}, {"ReduceMean", R_MEAN}, {"ReduceMax", R_MAX}, {"ReduceMin", R_MIN},
        {"ReduceProd", R_PROD}, {"ReduceL1", R_L1}, {"ReduceL2", R_L2}, {"ReduceSumSquare", R_SUMSQ},
        {"ReduceLogSum", R_LOGSUM}, {"ReduceLogSumExp", R_LOGSUMEXP},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(n->op_type, names[i].name)) return names[i].k;
    return R_SUM;
}

static int reduce_dtype_ok(df_dtype dt) {
    return dt == DF_F32 || dt == DF_F64 || dt == DF_I32 || dt == DF_I64 || dt == DF_U32 || dt == DF_U64 ||
           dt == DF_I8 || dt == DF_U8;
}

static int axes_are_input(const df_node *n) { return n->opset >= (kind_of(n) == R_SUM ? 13 : 18); }

/* Fills mask[rank] with the reduced axes; *noop = 1 when the node leaves the input as is. axes /
 * n_axes come from the attribute or the (constant or bound) input. */
static df_status reduce_mask(const df_node *n, int rank, const int64_t *axes, size_t n_axes, int have_axes,
                             int *mask, int *noop, df_error *err) {
    *noop = 0;
    memset(mask, 0, sizeof(int) * DF_MAX_RANK);
    if (!have_axes || n_axes == 0) {
        if (axes_are_input(n) && df_attr_int(n, "noop_with_empty_axes", 0)) *noop = 1;
        else
            for (int i = 0; i < rank; i++) mask[i] = 1;
        return DF_OK;
    }
    for (size_t i = 0; i < n_axes; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank)
            return df_node_error(err, DF_ERANGE, n, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
        if (mask[a]) return df_node_error(err, DF_EINVAL, n, "axis %lld is repeated", (long long)axes[i]);
        mask[a] = 1;
    }
    return DF_OK;
}

static df_status reduce_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input(g, n, 0, &x, err);
    if (st) return st;
    if (!reduce_dtype_ok(x->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", x->name, df_dtype_name(x->dtype));
    int64_t axes[DF_MAX_RANK];
    size_t n_axes = 0;
    int have = 0;
    if (axes_are_input(n)) {
        if (df_node_in(g, n, 1)) {
            if ((st = sh_const_ints(g, n, 1, axes, DF_MAX_RANK, &n_axes, err))) return st;
            have = 1;
        }
    } else {
        const int64_t *p = df_attr_ints(n, "axes", &n_axes);
        if (p) {
            if (n_axes > DF_MAX_RANK) return df_node_error(err, DF_ERANGE, n, "too many axes (%zu)", n_axes);
            memcpy(axes, p, n_axes * sizeof *p);
            have = 1;
        }
    }
    int mask[DF_MAX_RANK], noop;
    if ((st = reduce_mask(n, x->shape.rank, axes, n_axes, have, mask, &noop, err))) return st;
    df_shape s = {.rank = 0};
    int keep = df_attr_int(n, "keepdims", 1) != 0;
    for (int i = 0; i < x->shape.rank; i++) {
        if (!mask[i]) s.dims[s.rank++] = x->shape.dims[i];
        else if (keep) s.dims[s.rank++] = 1;
    }
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

/* The reduced-element walk: dims/strides of the reduced groups (outermost first). */
typedef struct rwalk {
    int nr;
    int64_t dims[DF_MAX_RANK], strides[DF_MAX_RANK];
    int64_t count;
} rwalk;

#define WALK(w, off, body)                                                          \
    do {                                                                            \
        int64_t idx_[DF_MAX_RANK] = {0}, off = 0;                                   \
        for (int64_t c_ = 0; c_ < (w)->count; c_++) {                               \
            body;                                                                   \
            for (int k_ = (w)->nr - 1; k_ >= 0; k_--) {                             \
                off += (w)->strides[k_];                                            \
                if (++idx_[k_] < (w)->dims[k_]) break;                              \
                off -= (w)->strides[k_] * (w)->dims[k_];                            \
                idx_[k_] = 0;                                                       \
            }                                                                       \
        }                                                                           \
    } while (0)

/* Reduces one output element in double (floats, and the ints' L2/log kinds). */
#define DEF_REDUCE_F(T, NAME)                                                                   \
    static double NAME(const T *p, const rwalk *w, rkind k) {                                    \
        double acc;                                                                             \
        int contiguous = w->nr == 1 && w->strides[0] == 1;                                      \
        switch (k) {                                                                            \
        case R_MAX:                                                                             \
            acc = -INFINITY;                                                                    \
            WALK(w, o, { double v = p[o]; if (v > acc || v != v) acc = v; });                   \
            return acc;                                                                         \
        case R_MIN:                                                                             \
            acc = INFINITY;                                                                     \
            WALK(w, o, { double v = p[o]; if (v < acc || v != v) acc = v; });                   \
            return acc;                                                                         \
        case R_PROD:                                                                            \
            acc = 1;                                                                            \
            WALK(w, o, acc *= p[o]);                                                            \
            return acc;                                                                         \
        case R_LOGSUMEXP: {                                                                     \
            double m = -INFINITY;                                                               \
            WALK(w, o, { double v = p[o]; if (v > m) m = v; });                                 \
            if (m == -INFINITY || m == INFINITY) return m;                                      \
            acc = 0;                                                                            \
            WALK(w, o, acc += exp((double)p[o] - m));                                           \
            return m + log(acc);                                                                \
        }                                                                                       \
        default: break;                                                                         \
        }                                                                                       \
        acc = 0;                                                                                \
        if (contiguous && (k == R_SUM || k == R_MEAN || k == R_LOGSUM)) {                       \
            /* Independent lanes break the add chain so the loop vectorizes. */                \
            double lane[8] = {0};                                                               \
            int64_t i = 0, n8 = w->count & ~(int64_t)7;                                         \
            for (; i < n8; i += 8)                                                              \
                for (int j = 0; j < 8; j++) lane[j] += (double)p[i + j];                        \
            for (; i < w->count; i++) acc += p[i];                                              \
            for (int j = 0; j < 8; j++) acc += lane[j];                                         \
        } else if (contiguous && (k == R_L2 || k == R_SUMSQ)) {                                 \
            double lane[8] = {0};                                                               \
            int64_t i = 0, n8 = w->count & ~(int64_t)7;                                         \
            for (; i < n8; i += 8)                                                              \
                for (int j = 0; j < 8; j++) lane[j] += (double)p[i + j] * p[i + j];             \
            for (; i < w->count; i++) acc += (double)p[i] * p[i];                               \
            for (int j = 0; j < 8; j++) acc += lane[j];                                         \
        } else if (k == R_L1) {                                                                 \
            WALK(w, o, acc += fabs((double)p[o]));                                              \
        } else if (k == R_L2 || k == R_SUMSQ) {                                                 \
            WALK(w, o, acc += (double)p[o] * p[o]);                                             \
        } else {                                                                                \
            WALK(w, o, acc += p[o]);                                                            \
        }                                                                                       \
        switch (k) {                                                                            \
        case R_MEAN: return acc / (double)w->count;                                             \
        case R_L2: return sqrt(acc);                                                            \
        case R_LOGSUM: return log(acc);                                                         \
        default: return acc;                                                                    \
        }                                                                                       \
    }

/* Integer kinds that stay exact in int64 (wrapping like the narrower type would). */
#define DEF_REDUCE_I(T, NAME, TMIN, TMAX)                                                       \
    static int64_t NAME(const T *p, const rwalk *w, rkind k) {                                   \
        int64_t acc;                                                                            \
        switch (k) {                                                                            \
        case R_MAX: acc = (int64_t)(TMIN); WALK(w, o, if ((int64_t)p[o] > acc) acc = p[o]); return acc; \
        case R_MIN: acc = (int64_t)(TMAX); WALK(w, o, if ((int64_t)p[o] < acc) acc = p[o]); return acc; \
        case R_PROD: acc = 1; WALK(w, o, acc = (int64_t)((uint64_t)acc * (uint64_t)(int64_t)p[o])); return acc; \
        case R_L1: acc = 0; WALK(w, o, { int64_t v = (int64_t)p[o]; acc += v < 0 ? -v : v; }); return acc; \
        case R_SUMSQ: acc = 0; WALK(w, o, acc += (int64_t)p[o] * (int64_t)p[o]); return acc;     \
        default: acc = 0; WALK(w, o, acc += (int64_t)p[o]);                                     \
            return k == R_MEAN && w->count ? acc / w->count : acc;                               \
        }                                                                                       \
    }

DEF_REDUCE_F(float, red_f32)
DEF_REDUCE_F(double, red_f64)
DEF_REDUCE_F(int32_t, red_i32_f)
DEF_REDUCE_F(int64_t, red_i64_f)
DEF_REDUCE_F(uint32_t, red_u32_f)
DEF_REDUCE_F(uint64_t, red_u64_f)
DEF_REDUCE_F(int8_t, red_i8_f)
DEF_REDUCE_F(uint8_t, red_u8_f)
DEF_REDUCE_I(int32_t, red_i32, INT32_MIN, INT32_MAX)
DEF_REDUCE_I(int64_t, red_i64, INT64_MIN, INT64_MAX)
DEF_REDUCE_I(uint32_t, red_u32, 0, UINT32_MAX)
DEF_REDUCE_I(uint64_t, red_u64, 0, INT64_MAX)
DEF_REDUCE_I(int8_t, red_i8, INT8_MIN, INT8_MAX)
DEF_REDUCE_I(uint8_t, red_u8, 0, UINT8_MAX)

static void reduce_one(const df_tensor *x, df_tensor *y, int64_t out_i, int64_t in_off, const rwalk *w, rkind k) {
    int float_kind = k == R_L2 || k == R_LOGSUM || k == R_LOGSUMEXP;
#define CASE(DT, T, FI, FF)                                                                  \
    case DT: {                                                                               \
        const T *p = (const T *)x->data + in_off;                                            \
        ((T *)y->data)[out_i] = (T)(float_kind ? FF(p, w, k) : FI(p, w, k));                 \
        break;                                                                               \
    }
    switch (x->dtype) {
    case DF_F32: ((float *)y->data)[out_i] = (float)red_f32((const float *)x->data + in_off, w, k); break;
    case DF_F64: ((double *)y->data)[out_i] = red_f64((const double *)x->data + in_off, w, k); break;
    CASE(DF_I32, int32_t, red_i32, red_i32_f)
    CASE(DF_I64, int64_t, red_i64, red_i64_f)
    CASE(DF_U32, uint32_t, red_u32, red_u32_f)
    CASE(DF_U64, uint64_t, red_u64, red_u64_f)
    CASE(DF_I8, int8_t, red_i8, red_i8_f)
    CASE(DF_U8, uint8_t, red_u8, red_u8_f)
    default: break;
    }
#undef CASE
}

/* [outer, R, inner] float32 with R reduced: walk whole rows (contiguous, vectorizable) into a
 * double buffer per chunk of inner, instead of one strided walk per output element. This is
 * mean pooling over the sequence (ReduceSum/ReduceMean over axis 1 of [B,S,H]). */
#define ROWS_CHUNK 256
static void reduce_rows_f32(const float *x, float *y, int64_t R, int64_t inner, int64_t o, int64_t c0, rkind k) {
    double buf[ROWS_CHUNK];
    int64_t n = inner - c0 < ROWS_CHUNK ? inner - c0 : ROWS_CHUNK;
    const float *p = x + o * R * inner + c0;
    for (int64_t j = 0; j < n; j++) buf[j] = k == R_MAX ? -INFINITY : k == R_MIN ? INFINITY : 0;
    for (int64_t r = 0; r < R; r++, p += inner) {
        switch (k) {
        case R_MAX: for (int64_t j = 0; j < n; j++) buf[j] = p[j] > buf[j] || p[j] != p[j] ? p[j] : buf[j]; break;
        case R_MIN: for (int64_t j = 0; j < n; j++) buf[j] = p[j] < buf[j] || p[j] != p[j] ? p[j] : buf[j]; break;
        case R_SUMSQ: for (int64_t j = 0; j < n; j++) buf[j] += (double)p[j] * p[j]; break;
        default: for (int64_t j = 0; j < n; j++) buf[j] += p[j]; break;
        }
    }
    float *out = y + o * inner + c0;
    for (int64_t j = 0; j < n; j++) out[j] = (float)(k == R_MEAN ? buf[j] / (double)R : buf[j]);
}

static df_status reduce_run(const df_kernel_args *a) {
    const df_node *n = a->node;
    const df_tensor *x = a->in[0];
    df_tensor *y = a->out[0];
    int64_t axes[DF_MAX_RANK];
    size_t n_axes = 0;
    int have = 0;
    df_status st;
    if (axes_are_input(n)) {
        if (a->n_in > 1 && a->in[1]) {
            if ((st = sh_run_ints(a, 1, axes, DF_MAX_RANK, &n_axes))) return st;
            have = 1;
        }
    } else {
        const int64_t *p = df_attr_ints(n, "axes", &n_axes);
        if (p) {
            if (n_axes > DF_MAX_RANK) return df_node_error(a->err, DF_ERANGE, n, "too many axes");
            memcpy(axes, p, n_axes * sizeof *p);
            have = 1;
        }
    }
    int mask[DF_MAX_RANK], noop;
    int rank = x->shape.rank;
    if ((st = reduce_mask(n, rank, axes, n_axes, have, mask, &noop, a->err))) return st;
    if (noop) return sh_copy_through(a);
    /* Group dims into kept (k) and reduced (w) lists, merging neighbours of the same kind. */
    int64_t strides[DF_MAX_RANK], kdims[DF_MAX_RANK], kstr[DF_MAX_RANK];
    int nk = 0, last = -1;
    rwalk w = {.nr = 0, .count = 1};
    sh_strides(&x->shape, strides);
    for (int i = 0; i < rank; i++) {
        int64_t d = x->shape.dims[i];
        if (mask[i]) w.count *= d;
        if (d == 1) continue;
        if (mask[i]) {
            if (last == 1) w.dims[w.nr - 1] *= d, w.strides[w.nr - 1] = strides[i];
            else w.dims[w.nr] = d, w.strides[w.nr++] = strides[i];
        } else {
            if (last == 0) kdims[nk - 1] *= d, kstr[nk - 1] = strides[i];
            else kdims[nk] = d, kstr[nk++] = strides[i];
        }
        last = mask[i];
    }
    rkind k = kind_of(n);
    int64_t outs = df_shape_numel(&y->shape);
    int nt = df_shape_numel(&x->shape) * (int64_t)df_dtype_size(x->dtype) >= (int64_t)SH_PARALLEL_BYTES && outs > 1
                 ? sh_threads(a) : 1;
    /* Kept dims are [outer?, inner] around one reduced group: the row-wise path. */
    if (x->dtype == DF_F32 && w.nr == 1 && last == 0 && nk >= 1 && nk <= 2 && kstr[nk - 1] == 1 &&
        kdims[nk - 1] == w.strides[0] && (k == R_SUM || k == R_MEAN || k == R_MAX || k == R_MIN || k == R_SUMSQ) &&
        w.count > 0) {
        int64_t inner = kdims[nk - 1], outer = nk == 2 ? kdims[0] : 1;
        int64_t chunks = (inner + ROWS_CHUNK - 1) / ROWS_CHUNK, items = outer * chunks;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && items > 1)
        for (int64_t it = 0; it < items; it++)
            reduce_rows_f32(x->data, y->data, w.count, inner, it / chunks, (it % chunks) * ROWS_CHUNK, k);
        return DF_OK;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outs; o++) {
        int64_t rem = o, off = 0;
        for (int j = nk - 1; j >= 0; j--) {
            off += (rem % kdims[j]) * kstr[j];
            rem /= kdims[j];
        }
        reduce_one(x, y, o, off, &w, k);
    }
    return DF_OK;
}

#define REDUCE_OP(NAME) const df_op_def df_op_##NAME = {.op_type = #NAME, .infer = reduce_infer, .run = reduce_run};
REDUCE_OP(ReduceSum)
REDUCE_OP(ReduceMean)
REDUCE_OP(ReduceMax)
REDUCE_OP(ReduceMin)
REDUCE_OP(ReduceProd)
REDUCE_OP(ReduceL1)
REDUCE_OP(ReduceL2)
REDUCE_OP(ReduceSumSquare)
REDUCE_OP(ReduceLogSum)
REDUCE_OP(ReduceLogSumExp)
