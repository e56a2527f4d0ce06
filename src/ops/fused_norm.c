/* Normalizations fused with the sums that feed them (ai.dpuflow), over the last axis:
 *  - SkipLayerNormalization(A, B, gamma, beta): LayerNorm(A + B), the residual add of every
 *    BERT sublayer, in one pass that never writes A + B back to memory;
 *  - EmbedLayerNormalization(gamma, beta, idx_0, table_0, ..., idx_{g-1}, table_{g-1},
 *    dense_0, ...), attribute gathers = g: LayerNorm(sum of table_i[idx_i] rows + dense terms),
 *    BERT's word + position + token-type embeddings. Dense terms broadcast to the output
 *    (a position table that folding already gathered, for instance).
 * Statistics follow ONNX LayerNormalization: mean, then the mean of squared deviations,
 * 1 / sqrt(var + epsilon). Produced by fuse_skip_layernorm.c and fuse_embed.c. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/fused_common.h"

/* Normalizes row y (already holding the sum) in place. */
static inline void ln_row(float *y, int64_t cols, const float *gamma, const float *beta, float eps) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; c++) sum += y[c];
    float mean = sum / (float)cols, sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < cols; c++) {
        float d = y[c] - mean;
        sq += d * d;
    }
    float inv = 1.0f / sqrtf(sq / (float)cols + eps);
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) y[c] = (y[c] - mean) * inv * gamma[c] + beta[c];
}

static df_status param_check(const df_graph *g, const df_node *n, int i, int64_t cols, df_error *err) {
    const df_value *p = df_node_in(g, n, i);
    if (!p || p->dtype != DF_F32 || df_shape_numel(&p->shape) != cols)
        return df_node_error(err, DF_ESHAPE, n, "input %d (gamma/beta) must be %lld float32 values", i, (long long)cols);
    return DF_OK;
}

/* --- SkipLayerNormalization ----------------------------------------------------------- */
static df_status sln_infer(df_graph *g, df_node *n, df_error *err) {
    const df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1);
    if (!a || !b || n->n_inputs != 4) return df_node_error(err, DF_EINVAL, n, "needs inputs A, B, gamma, beta");
    if (a->dtype != DF_F32 || b->dtype != DF_F32) return df_node_error(err, DF_ETYPE, n, "A and B must be float32");
    if (a->shape.rank < 1 || a->shape.rank != b->shape.rank || df_shape_numel(&a->shape) != df_shape_numel(&b->shape))
        return df_node_error(err, DF_ESHAPE, n, "A '%s' and B '%s' must have the same shape", a->name, b->name);
    for (int d = 0; d < a->shape.rank; d++)
        if (a->shape.dims[d] != b->shape.dims[d])
            return df_node_error(err, DF_ESHAPE, n, "A '%s' and B '%s' must have the same shape", a->name, b->name);
    int64_t cols = a->shape.dims[a->shape.rank - 1];
    df_status st;
    if ((st = param_check(g, n, 2, cols, err)) || (st = param_check(g, n, 3, cols, err))) return st;
    df_set_out(g, n, 0, DF_F32, &a->shape);
    return DF_OK;
}

static df_status sln_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    int64_t cols = x->shape.dims[x->shape.rank - 1];
    int64_t rows = cols ? df_shape_numel(&x->shape) / cols : 0;
    const float *A = a->in[0]->data, *B = a->in[1]->data, *gm = a->in[2]->data, *bt = a->in[3]->data;
    float *Y = a->out[0]->data;
    float eps = df_attr_float(a->node, "epsilon", 1e-5f);
    int par = a->threads > 1 && rows * cols > 32768;
#pragma omp parallel for num_threads(a->threads) if (par)
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = A + r * cols, *br = B + r * cols;
        float *y = Y + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) y[c] = ar[c] + br[c];
        ln_row(y, cols, gm, bt, eps);
    }
    return DF_OK;
}

const df_op_def df_op_SkipLayerNormalization = {
    .op_type = "SkipLayerNormalization",
    .domain = "ai.dpuflow",
    .infer = sln_infer,
    .run = sln_run,
};

/* --- EmbedLayerNormalization ---------------------------------------------------------- */
/* Output shape = the first index tensor's shape + [cols]. */
static df_status eln_check(const df_graph *g, const df_node *n, int *ng, df_shape *out, df_error *err) {
    int64_t gathers = df_attr_int(n, "gathers", 0);
    if (gathers < 1 || n->n_inputs < 2 + 2 * gathers)
        return df_node_error(err, DF_EINVAL, n, "needs gamma, beta and %lld index/table pairs", (long long)gathers);
    *ng = (int)gathers;
    const df_value *i0 = df_node_in(g, n, 2), *t0 = df_node_in(g, n, 3);
    if (!i0 || !t0 || t0->shape.rank != 2 || i0->shape.rank + 1 > DF_MAX_RANK)
        return df_node_error(err, DF_ESHAPE, n, "table 0 must be a matrix");
    int64_t cols = t0->shape.dims[1];
    *out = i0->shape;
    out->dims[out->rank++] = cols;
    for (int k = 0; k < gathers; k++) {
        const df_value *iv = df_node_in(g, n, 2 + 2 * k), *tv = df_node_in(g, n, 3 + 2 * k);
        if (!iv || !tv || (iv->dtype != DF_I64 && iv->dtype != DF_I32) || tv->dtype != DF_F32 || tv->shape.rank != 2 ||
            tv->shape.dims[1] != cols || iv->shape.rank != i0->shape.rank)
            return df_node_error(err, DF_ESHAPE, n, "gather %d: indices must be int32/int64 like input 2, table a float32 [V,%lld]",
                                 k, (long long)cols);
        for (int d = 0; d < iv->shape.rank; d++)
            if (iv->shape.dims[d] != i0->shape.dims[d])
                return df_node_error(err, DF_ESHAPE, n, "gather %d: indices '%s' differ in shape from '%s'", k,
                                     iv->name, i0->name);
    }
    for (int k = 2 + 2 * (int)gathers; k < n->n_inputs; k++) {
        const df_value *dv = df_node_in(g, n, k);
        if (!dv || dv->dtype != DF_F32 || dv->shape.rank != out->rank)
            return df_node_error(err, DF_ESHAPE, n, "dense term %d must be float32 of rank %d", k, out->rank);
        for (int d = 0; d < out->rank; d++)
            if (dv->shape.dims[d] != 1 && dv->shape.dims[d] != out->dims[d])
                return df_node_error(err, DF_ESHAPE, n, "dense term '%s' does not broadcast to the output", dv->name);
        if (dv->shape.dims[out->rank - 1] != cols)
            return df_node_error(err, DF_ESHAPE, n, "dense term '%s' must span the last axis", dv->name);
    }
    df_status st;
    if ((st = param_check(g, n, 0, cols, err)) || (st = param_check(g, n, 1, cols, err))) return st;
    return DF_OK;
}

static df_status eln_infer(df_graph *g, df_node *n, df_error *err) {
    int ng;
    df_shape out;
    df_status st = eln_check(g, n, &ng, &out, err);
    if (st) return st;
    df_set_out(g, n, 0, DF_F32, &out);
    return DF_OK;
}

static inline int64_t idx_at(const df_tensor *t, int64_t r) {
    return t->dtype == DF_I64 ? ((const int64_t *)t->data)[r] : ((const int32_t *)t->data)[r];
}

static df_status eln_run(const df_kernel_args *a) {
    int ng = (int)df_attr_int(a->node, "gathers", 0);
    const df_tensor *y = a->out[0];
    const df_shape *os = &y->shape;
    int64_t cols = os->dims[os->rank - 1];
    int64_t rows = cols ? df_shape_numel(os) / cols : 0;
    const float *gm = a->in[0]->data, *bt = a->in[1]->data;
    float eps = df_attr_float(a->node, "epsilon", 1e-5f);
    /* Indices are runtime data: check them all before touching memory (Gather's rules: -V..V-1). */
    for (int k = 0; k < ng; k++) {
        const df_tensor *it = a->in[2 + 2 * k];
        int64_t V = a->in[3 + 2 * k]->shape.dims[0];
        for (int64_t r = 0; r < rows; r++) {
            int64_t ix = idx_at(it, r);
            if (ix < -V || ix >= V)
                return df_node_error(a->err, DF_EINVAL, a->node, "index %lld at position %lld of gather %d is out of range [-%lld, %lld)",
                                     (long long)ix, (long long)r, k, (long long)V, (long long)V);
        }
    }
    int nd = a->n_in - 2 - 2 * ng;
    float *Y = y->data;
    int par = a->threads > 1 && rows * cols > 32768;
#pragma omp parallel for num_threads(a->threads) if (par)
    for (int64_t r = 0; r < rows; r++) {
        float *yr = Y + r * cols;
        for (int k = 0; k < ng; k++) {
            const df_tensor *it = a->in[2 + 2 * k], *tt = a->in[3 + 2 * k];
            int64_t V = tt->shape.dims[0], ix = idx_at(it, r);
            if (ix < 0) ix += V;
            const float *row = (const float *)tt->data + ix * cols;
            if (k == 0) {
                memcpy(yr, row, (size_t)cols * sizeof(float));
            } else {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++) yr[c] += row[c];
            }
        }
        for (int k = 0; k < nd; k++) {
            const df_tensor *dt = a->in[2 + 2 * ng + k];
            /* Broadcast offset of row r (row-major over the output's leading dims). */
            int64_t rem = r, off = 0, stride = cols;
            for (int d = os->rank - 2; d >= 0; d--) {
                int64_t i = rem % os->dims[d];
                rem /= os->dims[d];
                if (dt->shape.dims[d] != 1) off += i * stride;
                stride *= dt->shape.dims[d];
            }
            const float *row = (const float *)dt->data + off;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) yr[c] += row[c];
        }
        ln_row(yr, cols, gm, bt, eps);
    }
    return DF_OK;
}

const df_op_def df_op_EmbedLayerNormalization = {
    .op_type = "EmbedLayerNormalization",
    .domain = "ai.dpuflow",
    .infer = eln_infer,
    .run = eln_run,
};
