/* MatMulBias (ai.dpuflow): Y = act(A x W + bias) with W [K,N] and bias [N] constant; A's
 * leading dims fold into M. One oneDNN primitive with the bias and GELU as post-ops, so the
 * bias add and the activation cost no extra pass over memory. activation: "" (none),
 * "gelu" (erf form) or "gelu_tanh". Produced by src/graph/fuse_matmul_bias.c.
 * Where oneDNN would leave the weights unpacked (AVX2 without AVX-512; see ops/sgemm.h) the
 * bias and erf-GELU run as the epilogue of the prepacked sgemm instead; gelu_tanh stays on
 * oneDNN. DF_SGEMM=0/1 forces the choice. */
#include <stdlib.h>
#include <string.h>

#include "ops/fused_common.h"
#include "ops/sgemm.h"

typedef struct mmb_state {
    df_dnnl_mm_rows mm;
    bool use_sgemm;
    df_sgemm_b sg;
    int sg_flags;
    int64_t K;
} mmb_state;

static df_status mmb_check(const df_graph *g, const df_node *n, df_fused_act *act, df_error *err) {
    const df_value *a = df_node_in(g, n, 0), *w = df_node_in(g, n, 1), *b = df_node_in(g, n, 2);
    if (!a || !w) return df_node_error(err, DF_EINVAL, n, "needs inputs A and W");
    if (a->dtype != DF_F32 || w->dtype != DF_F32 || (b && b->dtype != DF_F32))
        return df_node_error(err, DF_ETYPE, n, "inputs must be float32");
    if (!w->has_const || w->shape.rank != 2) return df_node_error(err, DF_EINVAL, n, "W '%s' must be a constant matrix", w->name);
    if (a->shape.rank < 1 || a->shape.dims[a->shape.rank - 1] != w->shape.dims[0])
        return df_node_error(err, DF_ESHAPE, n, "A '%s' last dim differs from W '%s' rows", a->name, w->name);
    if (b && (!b->has_const || df_shape_numel(&b->shape) != w->shape.dims[1]))
        return df_node_error(err, DF_ESHAPE, n, "bias '%s' must be a constant of %lld values", b->name,
                             (long long)w->shape.dims[1]);
    const char *s = df_attr_string(n, "activation", "");
    if (!strcmp(s, "")) *act = DF_ACT_NONE;
    else if (!strcmp(s, "gelu")) *act = DF_ACT_GELU_ERF;
    else if (!strcmp(s, "gelu_tanh")) *act = DF_ACT_GELU_TANH;
    else return df_node_error(err, DF_EINVAL, n, "unknown activation '%s'", s);
    return DF_OK;
}

static df_status mmb_infer(df_graph *g, df_node *n, df_error *err) {
    df_fused_act act;
    df_status st = mmb_check(g, n, &act, err);
    if (st) return st;
    df_shape s = df_node_in(g, n, 0)->shape;
    s.dims[s.rank - 1] = df_node_in(g, n, 1)->shape.dims[1];
    df_set_out(g, n, 0, DF_F32, &s);
    return DF_OK;
}

static void mmb_release(df_node *n) {
    mmb_state *s = n->state;
    if (!s) return;
    df_dnnl_mm_rows_destroy(&s->mm);
    df_sgemm_b_free(&s->sg);
    free(s);
    n->state = NULL;
}

static df_status mmb_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    df_fused_act act;
    df_status st = mmb_check(g, n, &act, err);
    if (st) return st;
    mmb_release(n);
    mmb_state *s = calloc(1, sizeof *s);
    if (!s) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    const df_value *a = df_node_in(g, n, 0), *w = df_node_in(g, n, 1);
    const df_tensor *b = df_node_in_const(g, n, 2);
    /* A variable-batch plan sizes everything for its largest batch and chooses kernels by
     * one sample's rows, the latency-critical case. */
    int max_mult = df_node_max_batch(g, n, 0);
    int64_t K = w->shape.dims[0], N = w->shape.dims[1], M = K ? df_shape_numel(&a->shape) / K : 0;
    int64_t unit_M = M / max_mult;
    if (M == 0 || N == 0 || K == 0) {
        free(s);
        return df_node_error(err, DF_EUNSUPPORTED, n, "empty matrices are not supported");
    }
    s->K = K;
    if (act != DF_ACT_GELU_TANH && df_sgemm_use(unit_M, K, N)) {
        df_error e2;
        if ((st = df_sgemm_pack_b(&s->sg, K, N, w->value.data, N, 1, 1.0f, b ? b->data : NULL, &e2))) {
            free(s);
            return df_node_error(err, st, n, "%s", e2.msg);
        }
        s->use_sgemm = true;
        s->sg_flags = act == DF_ACT_GELU_ERF ? DF_SGEMM_GELU : 0;
        n->state = s;
        *scratch_bytes = df_sgemm_workspace_bytes(M, K, 1);
        return DF_OK;
    }
    if ((st = df_fused_gemm_create(&s->mm, unit_M, max_mult, K, N, w->value.data, b ? b->data : NULL, act, n, err))) {
        free(s);
        return st;
    }
    n->state = s;
    *scratch_bytes = s->mm.scratch_bytes;
    return DF_OK;
}

static df_status mmb_run(const df_kernel_args *a) {
    mmb_state *s = a->node->state;
    if (!s) return df_node_error(a->err, DF_EINTERNAL, a->node, "not prepared");
    /* Rows from the run's tensor: a variable-batch plan runs fewer than it was prepared for. */
    int64_t M = df_shape_numel(&a->in[0]->shape) / s->K;
    if (s->use_sgemm) {
        df_sgemm_run(&s->sg, M, a->in[0]->data, s->K, 1, a->out[0]->data, s->sg.N, s->sg_flags, a->scratch,
                     a->threads);
        return DF_OK;
    }
    return df_dnnl_mm_rows_exec(&s->mm, M, a->in[0]->data, NULL, a->out[0]->data, a->scratch, a->node, a->err);
}

const df_op_def df_op_MatMulBias = {
    .op_type = "MatMulBias",
    .domain = "ai.dpuflow",
    .infer = mmb_infer,
    .prepare = mmb_prepare,
    .run = mmb_run,
    .release = mmb_release,
    .no_fold = 1,
    .var_rows = df_var_rows_always,
};
