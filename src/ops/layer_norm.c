/* LayerNormalization (opset 17): normalizes over dims [axis, rank) of X, then applies Scale and
 * B, which broadcast over the normalized dims. Statistics are float (stash_type 1) with two
 * passes (mean, then the mean of squared deviations) so rows with a large offset stay exact. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op.h"

typedef struct ln_layout {
    int64_t axis, outer, cols;
} ln_layout;

/* How a Scale/B tensor maps onto the normalized dims: 0 = absent, 1 = exactly cols contiguous
 * values, 2 = needs expanding (it broadcasts inside the normalized dims). */
static df_status param_kind(const df_value *p, const df_shape *xs, int64_t axis, int *kind, const df_node *n,
                            df_error *err) {
    if (!p) {
        *kind = 0;
        return DF_OK;
    }
    int nr = xs->rank - (int)axis;
    int lead = p->shape.rank - nr; /* leading dims beyond the normalized ones must all be 1 */
    int exact = 1;
    for (int d = 0; d < p->shape.rank; d++) {
        int xd = d - (p->shape.rank - xs->rank);
        int64_t pd = p->shape.dims[d];
        if (d < lead) {
            if (pd != 1)
                return df_node_error(err, DF_EUNSUPPORTED, n,
                                     "input '%s' varies outside the normalized dims (axis %lld)", p->name,
                                     (long long)axis);
            continue;
        }
        if (pd != 1 && pd != xs->dims[xd]) {
            char a[128], b[128];
            return df_node_error(err, DF_ESHAPE, n, "input '%s' %s does not broadcast to X %s", p->name,
                                 df_shape_str(&p->shape, a, sizeof a), df_shape_str(xs, b, sizeof b));
        }
    }
    /* Every dim is 1 or X's, so matching X's element count means the same layout. */
    int64_t numel = df_shape_numel(&p->shape), cols = 1;
    for (int d = (int)axis; d < xs->rank; d++) cols *= xs->dims[d];
    exact = numel == cols;
    *kind = exact ? 1 : 2;
    return DF_OK;
}

static df_status ln_check(const df_graph *g, const df_node *n, ln_layout *L, int *sk, int *bk, df_error *err) {
    df_value *x = df_node_in(g, n, 0), *sc = df_node_in(g, n, 1), *b = df_node_in(g, n, 2);
    if (!x) return df_node_error(err, DF_EINVAL, n, "needs input 'X'");
    if (x->dtype != DF_F32)
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s; only float32 is supported", x->name,
                             df_dtype_name(x->dtype));
    if ((sc && sc->dtype != x->dtype) || (b && b->dtype != x->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' must have the dtype of '%s'",
                             sc && sc->dtype != x->dtype ? sc->name : b->name, x->name);
    int64_t st_type = df_attr_int(n, "stash_type", 1);
    if (st_type != DF_F32)
        return df_node_error(err, DF_EUNSUPPORTED, n, "stash_type %lld is not supported (only 1, float)",
                             (long long)st_type);
    if (x->shape.rank == 0) return df_node_error(err, DF_ESHAPE, n, "input '%s' must have rank >= 1", x->name);
    df_status st = df_norm_axis(df_attr_int(n, "axis", -1), x->shape.rank, &L->axis, n, err);
    if (st) return st;
    L->outer = L->cols = 1;
    for (int d = 0; d < x->shape.rank; d++) *(d < L->axis ? &L->outer : &L->cols) *= x->shape.dims[d];
    if ((st = param_kind(sc, &x->shape, L->axis, sk, n, err))) return st;
    return param_kind(b, &x->shape, L->axis, bk, n, err);
}

static df_status ln_infer(df_graph *g, df_node *n, df_error *err) {
    ln_layout L;
    int sk, bk;
    df_status st = ln_check(g, n, &L, &sk, &bk, err);
    if (st) return st;
    df_value *x = df_node_in(g, n, 0);
    df_set_out(g, n, 0, x->dtype, &x->shape);
    df_shape ms = x->shape;
    for (int d = (int)L.axis; d < ms.rank; d++) ms.dims[d] = 1;
    df_set_out(g, n, 1, DF_F32, &ms);
    df_set_out(g, n, 2, DF_F32, &ms);
    return DF_OK;
}

static df_status ln_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    ln_layout L;
    int sk, bk;
    df_status st = ln_check(g, n, &L, &sk, &bk, err);
    if (st) return st;
    /* Room to expand a Scale or B that broadcasts inside the normalized dims. */
    *scratch_bytes = (size_t)((sk == 2) + (bk == 2)) * (size_t)L.cols * sizeof(float);
    return DF_OK;
}

/* Writes p broadcast over X's normalized dims [axis, rank) into dst (cols floats). */
static void expand_param(const df_tensor *p, const df_shape *xs, int64_t axis, float *dst, int64_t cols) {
    const float *pv = p->data;
    int nr = xs->rank - (int)axis;
    int64_t pstride[DF_MAX_RANK];
    int64_t s = 1;
    for (int d = nr - 1; d >= 0; d--) {
        int pd = d - (nr - p->shape.rank);
        int64_t dim = pd >= 0 ? p->shape.dims[pd] : 1;
        pstride[d] = dim == 1 ? 0 : s;
        s *= dim;
    }
    for (int64_t c = 0; c < cols; c++) {
        int64_t rem = c, off = 0;
        for (int d = nr - 1; d >= 0; d--) {
            int64_t dim = xs->dims[axis + d];
            off += (rem % dim) * pstride[d];
            rem /= dim;
        }
        dst[c] = pv[off];
    }
}

static df_status ln_run(const df_kernel_args *a) {
    ln_layout L;
    int sk, bk;
    df_status st = ln_check(a->graph, a->node, &L, &sk, &bk, a->err);
    if (st) return st;
    const df_tensor *x = a->in[0];
    /* Rows from the run's tensor: a variable-batch plan may run fewer than were inferred. */
    L.outer = L.cols ? df_shape_numel(&x->shape) / L.cols : 0;
    const df_tensor *sc = a->n_in > 1 ? a->in[1] : NULL, *bt = a->n_in > 2 ? a->in[2] : NULL;
    float *scratch = a->scratch;
    const float *scale = sc ? sc->data : NULL, *bias = bt ? bt->data : NULL;
    if (sk == 2) {
        if (a->scratch_size < (size_t)L.cols * sizeof(float))
            return df_node_error(a->err, DF_EINTERNAL, a->node, "scratch too small");
        expand_param(sc, &x->shape, L.axis, scratch, L.cols);
        scale = scratch;
        scratch += L.cols;
    }
    if (bk == 2) {
        if (a->scratch_size < (size_t)((sk == 2) + 1) * (size_t)L.cols * sizeof(float))
            return df_node_error(a->err, DF_EINTERNAL, a->node, "scratch too small");
        expand_param(bt, &x->shape, L.axis, scratch, L.cols);
        bias = scratch;
    }
    const float eps = df_attr_float(a->node, "epsilon", 1e-5f);
    const float *xv = x->data;
    float *yv = a->out[0]->data;
    float *mean_out = a->n_out > 1 && a->out[1] ? a->out[1]->data : NULL;
    float *inv_out = a->n_out > 2 && a->out[2] ? a->out[2]->data : NULL;
    const int64_t cols = L.cols;
    if (cols == 0) return DF_OK;
    int par = L.outer > 1 && L.outer * cols > 32768 && a->threads > 1;
#pragma omp parallel for num_threads(a->threads) if (par)
    for (int64_t r = 0; r < L.outer; r++) {
        const float *xr = xv + r * cols;
        float *yr = yv + r * cols;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t c = 0; c < cols; c++) sum += xr[c];
        float mean = sum / (float)cols;
        float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
        for (int64_t c = 0; c < cols; c++) {
            float d = xr[c] - mean;
            sq += d * d;
        }
        float inv = 1.0f / sqrtf(sq / (float)cols + eps);
        if (mean_out) mean_out[r] = mean;
        if (inv_out) inv_out[r] = inv;
        if (scale && bias) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - mean) * inv * scale[c] + bias[c];
        } else if (scale) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - mean) * inv * scale[c];
        } else if (bias) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - mean) * inv + bias[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - mean) * inv;
        }
    }
    return DF_OK;
}

const df_op_def df_op_LayerNormalization = {
    .op_type = "LayerNormalization",
    .infer = ln_infer,
    .prepare = ln_prepare,
    .var_rows = df_var_rows_always,
    .run = ln_run,
};
