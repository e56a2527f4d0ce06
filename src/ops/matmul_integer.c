/* MatMulInteger: numpy matmul of uint8/int8 operands after subtracting their zero points,
 * accumulated in int32. A plain loop: fast int8 inference goes through the QDQ-fused path. */
#include <stdint.h>

#include "ops/matmul_integer.h"
#include "ops/op.h"
#include "ops/quant_common.h"

df_status df_qp_classify(const df_value *p, const df_shape *x, bool a_side, df_qp_kind *kind, const df_node *n,
                         df_error *err) {
    *kind = DF_QP_TENSOR;
    if (!p || df_shape_numel(&p->shape) == 1) return DF_OK;
    int xr = x->rank;
    int64_t len = a_side ? (xr >= 2 ? x->dims[xr - 2] : 1) : (xr >= 2 ? x->dims[xr - 1] : 1);
    if (p->shape.rank == 1 && p->shape.dims[0] == len) {
        *kind = DF_QP_VECTOR;
        return DF_OK;
    }
    if (p->shape.rank == xr && xr >= 2) {
        bool ok = true;
        for (int d = 0; d < xr - 2; d++) ok = ok && p->shape.dims[d] == x->dims[d];
        if (a_side) ok = ok && p->shape.dims[xr - 2] == len && p->shape.dims[xr - 1] == 1;
        else ok = ok && p->shape.dims[xr - 2] == 1 && p->shape.dims[xr - 1] == len;
        if (ok) {
            *kind = DF_QP_BATCHED;
            return DF_OK;
        }
    }
    char a[128], b[128];
    return df_node_error(err, DF_ESHAPE, n, "'%s' %s is neither per-tensor nor per-%s for %s", p->name,
                         df_shape_str(&p->shape, a, sizeof a), a_side ? "row" : "column",
                         df_shape_str(x, b, sizeof b));
}

void df_qmm_int32(const df_mm_geom *g, const void *A, df_dtype at, const void *azp, df_qp_kind ak, const void *B,
                  df_dtype bt, const void *bzp, df_qp_kind bk, int32_t *Y, int threads) {
    const int64_t M = g->M, K = g->K, N = g->N;
    const int64_t work = g->n_batch * M;
#pragma omp parallel for num_threads(threads) if (work * K * N > 262144)
    for (int64_t w = 0; w < work; w++) {
        int64_t bi = w / M, i = w % M, ao, bo;
        df_mm_geom_offsets(g, bi, &ao, &bo);
        const int64_t amat = M * K != 0 ? ao / (M * K) : 0, bmat = K * N != 0 ? bo / (K * N) : 0;
        const int32_t za = azp ? df_q_load_int(azp, at, df_qp_index(ak, amat, M, i)) : 0;
        int32_t *y = Y + bi * M * N + i * N;
        for (int64_t j = 0; j < N; j++) y[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            const int32_t av = df_q_load_int(A, at, ao + i * K + k) - za;
            if (!av) continue;
            for (int64_t j = 0; j < N; j++) {
                int32_t zb = bzp ? df_q_load_int(bzp, bt, df_qp_index(bk, bmat, N, j)) : 0;
                y[j] += av * (df_q_load_int(B, bt, bo + k * N + j) - zb);
            }
        }
    }
}

static df_status mmi_check(const df_graph *g, const df_node *n, df_mm_geom *geom, df_qp_kind *ak, df_qp_kind *bk,
                           df_error *err) {
    df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1);
    df_value *azp = df_node_in(g, n, 2), *bzp = df_node_in(g, n, 3);
    if (!a || !b) return df_node_error(err, DF_EINVAL, n, "needs inputs A and B");
    if (!df_q_is_int8(a->dtype) || !df_q_is_int8(b->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' must be uint8 or int8, not %s",
                             df_q_is_int8(a->dtype) ? b->name : a->name,
                             df_dtype_name(df_q_is_int8(a->dtype) ? b->dtype : a->dtype));
    if ((azp && azp->dtype != a->dtype) || (bzp && bzp->dtype != b->dtype))
        return df_node_error(err, DF_ETYPE, n, "zero point '%s' must have the dtype of its operand",
                             azp && azp->dtype != a->dtype ? azp->name : bzp->name);
    df_status st = df_mm_geom_make(&a->shape, &b->shape, a->name, b->name, geom, n, err);
    if (st) return st;
    if ((st = df_qp_classify(azp, &a->shape, true, ak, n, err))) return st;
    return df_qp_classify(bzp, &b->shape, false, bk, n, err);
}

static df_status mmi_infer(df_graph *g, df_node *n, df_error *err) {
    df_mm_geom geom;
    df_qp_kind ak, bk;
    df_status st = mmi_check(g, n, &geom, &ak, &bk, err);
    if (st) return st;
    df_set_out(g, n, 0, DF_I32, &geom.out);
    return DF_OK;
}

static df_status mmi_run(const df_kernel_args *a) {
    df_mm_geom geom;
    df_qp_kind ak, bk;
    df_status st = mmi_check(a->graph, a->node, &geom, &ak, &bk, a->err);
    if (st) return st;
    const df_tensor *azp = a->n_in > 2 ? a->in[2] : NULL, *bzp = a->n_in > 3 ? a->in[3] : NULL;
    df_qmm_int32(&geom, a->in[0]->data, a->in[0]->dtype, azp ? azp->data : NULL, ak, a->in[1]->data,
                 a->in[1]->dtype, bzp ? bzp->data : NULL, bk, a->out[0]->data, a->threads);
    return DF_OK;
}

const df_op_def df_op_MatMulInteger = {
    .op_type = "MatMulInteger",
    .infer = mmi_infer,
    .run = mmi_run,
};
