/* QLinearMatMul: the int32 product of the zero-point-shifted operands, requantized with
 * a_scale * b_scale / y_scale (per tensor, per row of a, per column of b), rounded half to even
 * and saturated to y's 8-bit type. */
#include <stdint.h>

#include "ops/matmul_integer.h"
#include "ops/op.h"
#include "ops/quant_common.h"

typedef struct qlmm_kinds {
    df_qp_kind as, az, bs, bz;
} qlmm_kinds;

static df_status qlmm_check(const df_graph *g, const df_node *n, df_mm_geom *geom, qlmm_kinds *k, df_error *err) {
    df_value *v[8];
    static const char *names[8] = {"a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale",
                                   "y_zero_point"};
    for (int i = 0; i < 8; i++) {
        v[i] = df_node_in(g, n, i);
        if (!v[i]) return df_node_error(err, DF_EINVAL, n, "needs input '%s'", names[i]);
    }
    for (int i = 0; i < 8; i += 3) {
        if (i == 6) break;
        if (!df_q_is_int8(v[i]->dtype) || v[i + 2]->dtype != v[i]->dtype)
            return df_node_error(err, DF_ETYPE, n, "'%s' and '%s' must both be uint8 or both int8", v[i]->name,
                                 v[i + 2]->name);
    }
    if (!df_q_is_int8(v[7]->dtype))
        return df_node_error(err, DF_ETYPE, n, "'%s' must be uint8 or int8", v[7]->name);
    for (int i = 1; i < 8; i += (i == 1 ? 3 : 2))
        if (v[i]->dtype != DF_F32)
            return df_node_error(err, DF_ETYPE, n, "scale '%s' must be float32", v[i]->name);
    if (df_shape_numel(&v[6]->shape) != 1 || df_shape_numel(&v[7]->shape) != 1)
        return df_node_error(err, DF_ESHAPE, n, "'%s' and '%s' must be per-tensor", v[6]->name, v[7]->name);
    df_status st = df_mm_geom_make(&v[0]->shape, &v[3]->shape, v[0]->name, v[3]->name, geom, n, err);
    if (st) return st;
    if ((st = df_qp_classify(v[1], &v[0]->shape, true, &k->as, n, err)) ||
        (st = df_qp_classify(v[2], &v[0]->shape, true, &k->az, n, err)) ||
        (st = df_qp_classify(v[4], &v[3]->shape, false, &k->bs, n, err)) ||
        (st = df_qp_classify(v[5], &v[3]->shape, false, &k->bz, n, err)))
        return st;
    return DF_OK;
}

static df_status qlmm_infer(df_graph *g, df_node *n, df_error *err) {
    df_mm_geom geom;
    qlmm_kinds k;
    df_status st = qlmm_check(g, n, &geom, &k, err);
    if (st) return st;
    df_set_out(g, n, 0, df_node_in(g, n, 7)->dtype, &geom.out);
    return DF_OK;
}

static df_status qlmm_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    df_mm_geom geom;
    qlmm_kinds k;
    df_status st = qlmm_check(g, n, &geom, &k, err);
    if (st) return st;
    /* The int32 accumulators before requantization. */
    *scratch_bytes = (size_t)(geom.n_batch * geom.M * geom.N) * sizeof(int32_t);
    return DF_OK;
}

static df_status qlmm_run(const df_kernel_args *a) {
    df_mm_geom g;
    qlmm_kinds k;
    df_status st = qlmm_check(a->graph, a->node, &g, &k, a->err);
    if (st) return st;
    const int64_t total = g.n_batch * g.M * g.N;
    if (total == 0) return DF_OK;
    if (a->scratch_size < (size_t)total * sizeof(int32_t))
        return df_node_error(a->err, DF_EINTERNAL, a->node, "scratch too small (prepare not called?)");
    int32_t *acc = a->scratch;
    const df_tensor *const *in = a->in;
    df_qmm_int32(&g, in[0]->data, in[0]->dtype, in[2]->data, k.az, in[3]->data, in[3]->dtype, in[5]->data, k.bz, acc,
                 a->threads);
    const float *as = in[1]->data, *bs = in[4]->data;
    const float ys = *(const float *)in[6]->data;
    const float yz = (float)df_q_load_int(in[7]->data, in[7]->dtype, 0);
    df_tensor *y = a->out[0];
    const float lo = y->dtype == DF_U8 ? 0.0f : -128.0f, hi = y->dtype == DF_U8 ? 255.0f : 127.0f;
    for (int64_t bi = 0; bi < g.n_batch; bi++) {
        int64_t ao, bo;
        df_mm_geom_offsets(&g, bi, &ao, &bo);
        const int64_t amat = g.M * g.K != 0 ? ao / (g.M * g.K) : 0, bmat = g.K * g.N != 0 ? bo / (g.K * g.N) : 0;
        for (int64_t i = 0; i < g.M; i++)
            for (int64_t j = 0; j < g.N; j++) {
                int64_t o = (bi * g.M + i) * g.N + j;
                float mult = as[df_qp_index(k.as, amat, g.M, i)] * bs[df_qp_index(k.bs, bmat, g.N, j)] / ys;
                int32_t q = df_q_round_sat(nearbyintf((float)acc[o] * mult) + yz, lo, hi);
                if (y->dtype == DF_U8) ((uint8_t *)y->data)[o] = (uint8_t)q;
                else ((int8_t *)y->data)[o] = (int8_t)q;
            }
    }
    return DF_OK;
}

const df_op_def df_op_QLinearMatMul = {
    .op_type = "QLinearMatMul",
    .infer = qlmm_infer,
    .prepare = qlmm_prepare,
    .run = qlmm_run,
};
