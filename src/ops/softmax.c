/* Softmax and LogSoftmax.
 *
 * Opset < 13 coerces the input to 2-D at `axis` (default 1) and normalizes each row of the
 * flattened tail; opset >= 13 normalizes along one axis (default -1). Both reduce to
 * outer x len x inner with inner = 1 for the old semantics and for the last axis (attention),
 * which gets contiguous, vectorized loops. Rows subtract their max first, so large logits do
 * not overflow; -inf entries give 0, and a row that is entirely -inf gives NaN as numpy's
 * reference does (exp(-inf - -inf)). */
/* The kernels never read floating-point exception flags; without this gcc will not
 * if-convert the selects in nn_math.h (a comparison "may trap") and leaves the exp/erf loops
 * scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/nn_math.h"
#include "ops/op.h"

static void row_contig(const float *x, float *y, int64_t len, int is_log) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < len; i++) m = x[i] > m ? x[i] : m;
    float sum = 0.0f;
    if (is_log) {
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < len; i++) sum += df_fast_expf(x[i] - m);
        float sub = m + logf(sum);
#pragma omp simd
        for (int64_t i = 0; i < len; i++) y[i] = x[i] - sub;
    } else {
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < len; i++) {
            float e = df_fast_expf(x[i] - m);
            y[i] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int64_t i = 0; i < len; i++) y[i] *= inv;
    }
}

/* A row whose elements are `stride` apart (opset >= 13 with a non-last axis). */
static void row_strided(const float *x, float *y, int64_t len, int64_t stride, int is_log) {
    float m = -INFINITY;
    for (int64_t i = 0; i < len; i++) m = x[i * stride] > m ? x[i * stride] : m;
    float sum = 0.0f;
    for (int64_t i = 0; i < len; i++) {
        float e = df_fast_expf(x[i * stride] - m);
        if (!is_log) y[i * stride] = e;
        sum += e;
    }
    if (is_log) {
        float sub = m + logf(sum);
        for (int64_t i = 0; i < len; i++) y[i * stride] = x[i * stride] - sub;
    } else {
        float inv = 1.0f / sum;
        for (int64_t i = 0; i < len; i++) y[i * stride] *= inv;
    }
}

static void row_f64(const double *x, double *y, int64_t len, int64_t stride, int is_log) {
    double m = -INFINITY, sum = 0.0;
    for (int64_t i = 0; i < len; i++) m = x[i * stride] > m ? x[i * stride] : m;
    for (int64_t i = 0; i < len; i++) sum += exp(x[i * stride] - m);
    if (is_log) {
        double sub = m + log(sum);
        for (int64_t i = 0; i < len; i++) y[i * stride] = x[i * stride] - sub;
    } else {
        for (int64_t i = 0; i < len; i++) y[i * stride] = exp(x[i * stride] - m) / sum;
    }
}

/* outer x len x inner view of the input for this node's opset and axis. */
static df_status softmax_layout(const df_node *n, const df_shape *s, int64_t *outer, int64_t *len, int64_t *inner,
                                df_error *err) {
    int old = n->opset > 0 && n->opset < 13;
    int64_t axis;
    if (s->rank == 0) {
        *outer = *len = *inner = 1;
        return DF_OK;
    }
    df_status st = df_norm_axis(df_attr_int(n, "axis", old ? 1 : -1), s->rank, &axis, n, err);
    if (st) return st;
    int64_t o = 1, l = 1, in = 1;
    for (int d = 0; d < axis; d++) o *= s->dims[d];
    if (old) {
        for (int d = (int)axis; d < s->rank; d++) l *= s->dims[d];
    } else {
        l = s->dims[axis];
        for (int d = (int)axis + 1; d < s->rank; d++) in *= s->dims[d];
    }
    *outer = o, *len = l, *inner = in;
    return DF_OK;
}

static df_status softmax_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x = df_node_in(g, n, 0);
    if (!x) return df_node_error(err, DF_EINVAL, n, "needs input 'input'");
    if (x->dtype != DF_F32 && x->dtype != DF_F64)
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", x->name,
                             df_dtype_name(x->dtype));
    int64_t o, l, i;
    df_status st = softmax_layout(n, &x->shape, &o, &l, &i, err);
    if (st) return st;
    df_set_out(g, n, 0, x->dtype, &x->shape);
    return DF_OK;
}

static df_status softmax_common(const df_kernel_args *a, int is_log) {
    const df_tensor *x = a->in[0];
    df_tensor *y = a->out[0];
    int64_t outer, len, inner;
    df_status st = softmax_layout(a->node, &x->shape, &outer, &len, &inner, a->err);
    if (st) return st;
    if (outer * len * inner == 0) return DF_OK;
    int64_t rows = outer * inner;
    int par = rows > 1 && rows * len > 32768 && a->threads > 1;
    if (x->dtype == DF_F64) {
        const double *xv = x->data;
        double *yv = y->data;
#pragma omp parallel for num_threads(a->threads) if (par)
        for (int64_t r = 0; r < rows; r++) {
            int64_t base = (r / inner) * len * inner + r % inner;
            row_f64(xv + base, yv + base, len, inner, is_log);
        }
        return DF_OK;
    }
    const float *xv = x->data;
    float *yv = y->data;
    if (inner == 1) {
#pragma omp parallel for num_threads(a->threads) if (par)
        for (int64_t r = 0; r < rows; r++) row_contig(xv + r * len, yv + r * len, len, is_log);
    } else {
#pragma omp parallel for num_threads(a->threads) if (par)
        for (int64_t r = 0; r < rows; r++) {
            int64_t base = (r / inner) * len * inner + r % inner;
            row_strided(xv + base, yv + base, len, inner, is_log);
        }
    }
    return DF_OK;
}

static df_status softmax_run(const df_kernel_args *a) { return softmax_common(a, 0); }
static df_status log_softmax_run(const df_kernel_args *a) { return softmax_common(a, 1); }

const df_op_def df_op_Softmax = {
    .op_type = "Softmax",
    .infer = softmax_infer,
    .run = softmax_run,
};

const df_op_def df_op_LogSoftmax = {
    .op_type = "LogSoftmax",
    .infer = softmax_infer,
    .run = log_softmax_run,
};
