/* Gemm: Y = alpha * A' x B' + beta * C, A' = transA ? A^T : A, B' likewise, C broadcast to [M,N].
 *
 * float32 goes through oneDNN. Transposes are expressed as swapped strides. With a constant B
 * (a Linear layer), alpha is folded into the packed weights and a constant C that only varies
 * along N becomes the primitive's bias, so the whole op is one packed GEMM. Any other C is
 * broadcast into Y first and added with a sum post-op scaled by beta. Where oneDNN would
 * leave a constant B unpacked (see ops/sgemm.h; DF_SGEMM=0/1 forces the choice) the same
 * plan runs on the prepacked sgemm: alpha in the packed B, a row-constant C as its bias, any
 * other C as beta*C written into Y and accumulated onto. */
#include <stdlib.h>
#include <string.h>

#include "ops/dnnl_common.h"
#include "ops/op.h"
#include "ops/sgemm.h"

typedef enum { GEMM_C_NONE, GEMM_C_BIAS, GEMM_C_SUM } gemm_c_mode;

typedef struct gemm_geom {
    int64_t M, K, N;
    int trans_a, trans_b;
    float alpha, beta;
    int64_t c_stride[2];      /* C's element strides over [M,N]; 0 where it broadcasts */
    bool has_c;
} gemm_geom;

typedef struct gemm_state {
    gemm_geom geom;
    bool use_dnnl;
    bool use_sgemm;
    gemm_c_mode c_mode;
    df_dnnl_mm_rows mm;       /* row buckets when A's rows vary with the batch */
    df_sgemm_b sg;
} gemm_state;

static df_status gemm_geom_make(const df_graph *g, const df_node *n, gemm_geom *ge, df_error *err) {
    df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1), *c = df_node_in(g, n, 2);
    memset(ge, 0, sizeof *ge);
    if (!a || !b) return df_node_error(err, DF_EINVAL, n, "needs inputs A and B");
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return df_node_error(err, DF_ESHAPE, n, "input '%s' must be 2-D, has rank %d",
                             a->shape.rank != 2 ? a->name : b->name,
                             a->shape.rank != 2 ? a->shape.rank : b->shape.rank);
    ge->trans_a = df_attr_int(n, "transA", 0) != 0;
    ge->trans_b = df_attr_int(n, "transB", 0) != 0;
    ge->alpha = df_attr_float(n, "alpha", 1.0f);
    ge->beta = df_attr_float(n, "beta", 1.0f);
    ge->M = a->shape.dims[ge->trans_a ? 1 : 0];
    ge->K = a->shape.dims[ge->trans_a ? 0 : 1];
    int64_t kb = b->shape.dims[ge->trans_b ? 1 : 0];
    ge->N = b->shape.dims[ge->trans_b ? 0 : 1];
    if (kb != ge->K)
        return df_node_error(err, DF_ESHAPE, n, "inner dimensions differ: '%s' gives K=%lld, '%s' gives K=%lld",
                             a->name, (long long)ge->K, b->name, (long long)kb);
    if (c) {
        if (c->shape.rank > 2)
            return df_node_error(err, DF_ESHAPE, n, "input '%s' has rank %d; C must broadcast to [M,N]", c->name,
                                 c->shape.rank);
        int64_t want[2] = {ge->M, ge->N};
        int64_t stride = 1;
        for (int d = 1; d >= 0; d--) {
            int ci = d - (2 - c->shape.rank);
            int64_t cd = ci >= 0 ? c->shape.dims[ci] : 1;
            if (cd != 1 && cd != want[d]) {
                char sc[128];
                return df_node_error(err, DF_ESHAPE, n, "input '%s' %s does not broadcast to [%lld,%lld]", c->name,
                                     df_shape_str(&c->shape, sc, sizeof sc), (long long)ge->M, (long long)ge->N);
            }
            ge->c_stride[d] = cd == 1 ? 0 : stride;
            stride *= cd;
        }
        ge->has_c = true;
    }
    return DF_OK;
}

static df_status gemm_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1), *c = df_node_in(g, n, 2);
    if (!a || !b) return df_node_error(err, DF_EINVAL, n, "needs inputs A and B");
    switch (a->dtype) {
    case DF_F32: case DF_F64: case DF_I32: case DF_I64: case DF_U32: case DF_U64: break;
    default:
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", a->name,
                             df_dtype_name(a->dtype));
    }
    if (b->dtype != a->dtype || (c && c->dtype != a->dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' has dtype %s, expected %s like '%s'",
                             b->dtype != a->dtype ? b->name : c->name,
                             df_dtype_name(b->dtype != a->dtype ? b->dtype : c->dtype), df_dtype_name(a->dtype),
                             a->name);
    gemm_geom ge;
    df_status st = gemm_geom_make(g, n, &ge, err);
    if (st) return st;
    int64_t dims[2] = {ge.M, ge.N};
    df_shape s = df_shape_make(2, dims);
    df_set_out(g, n, 0, a->dtype, &s);
    return DF_OK;
}

static void gemm_release(df_node *n) {
    gemm_state *s = n->state;
    if (!s) return;
    df_dnnl_mm_rows_destroy(&s->mm);
    df_sgemm_b_free(&s->sg);
    free(s);
    n->state = NULL;
}

/* A variable batch is A's rows: A not transposed, a constant B, no C that varies by row. */
static bool gemm_var_rows(const df_graph *g, const df_node *n) {
    const df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1), *c = df_node_in(g, n, 2);
    if (a->dtype != DF_F32 || df_attr_int(n, "transA", 0) || !b->has_const) return false;
    if (a->batch_scaled && a->batch_axis != 0) return false;
    return !c || (c->has_const && (c->shape.rank < 2 || c->shape.dims[0] == 1));
}

static df_status gemm_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    /* A second prepare (after a fold-time one) replaces the first plan. */
    gemm_release(n);
    gemm_state *s = calloc(1, sizeof *s);
    if (!s) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    n->state = s;
    df_status st = gemm_geom_make(g, n, &s->geom, err);
    if (st) return st;
    const gemm_geom *ge = &s->geom;
    df_value *a = df_node_in(g, n, 0);
    if (a->dtype != DF_F32 || ge->M * ge->N * ge->K == 0) return DF_OK;
    int max_mult = ge->trans_a ? 1 : df_node_max_batch(g, n, 0);
    int64_t unit_M = ge->M / max_mult;

    const df_tensor *bc = df_node_in_const(g, n, 1), *cc = df_node_in_const(g, n, 2);
    df_mm_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.ndims = 2;
    sp.a_dims[0] = unit_M, sp.a_dims[1] = ge->K;
    sp.b_dims[0] = ge->K, sp.b_dims[1] = ge->N;
    sp.c_dims[0] = unit_M, sp.c_dims[1] = ge->N;
    /* A stored [K,M] when transposed: logical (m,k) sits at k*M + m. */
    sp.a_strides[0] = ge->trans_a ? 1 : ge->K, sp.a_strides[1] = ge->trans_a ? ge->M : 1;
    sp.b_strides[0] = ge->trans_b ? 1 : ge->N, sp.b_strides[1] = ge->trans_b ? ge->K : 1;
    sp.b_const = bc ? bc->data : NULL;
    sp.b_scale = 1.0f;
    sp.alpha = 1.0f;
    if (bc) sp.b_scale = ge->alpha;
    else sp.alpha = ge->alpha;

    float *bias = NULL;
    s->c_mode = GEMM_C_NONE;
    if (ge->has_c && ge->beta != 0.0f) {
        /* A constant C that is the same for every row is a bias; when alpha stays an output
         * scale (runtime B) the order of scale and bias is not ours to rely on, so only fold
         * it when no output scale is in play. */
        if (cc && ge->c_stride[0] == 0 && sp.alpha == 1.0f) {
            bias = malloc((size_t)ge->N * sizeof(float));
            if (!bias) return df_node_error(err, DF_ENOMEM, n, "out of memory");
            const float *cv = cc->data;
            for (int64_t j = 0; j < ge->N; j++) bias[j] = ge->beta * cv[j * ge->c_stride[1]];
            sp.bias = bias;
            s->c_mode = GEMM_C_BIAS;
        } else {
            sp.beta = ge->beta;
            s->c_mode = GEMM_C_SUM;
        }
    }
    df_error e2;
    if (bc && df_sgemm_use(unit_M, ge->K, ge->N) &&
        !df_sgemm_pack_b(&s->sg, ge->K, ge->N, bc->data, sp.b_strides[0], sp.b_strides[1], ge->alpha, sp.bias,
                         &e2)) {
        s->use_sgemm = true;
        *scratch_bytes = df_sgemm_workspace_bytes(ge->M, ge->K, sp.a_strides[1]);
        free(bias);
        return DF_OK;
    }
    if (!df_dnnl_mm_rows_create(&s->mm, &sp, max_mult, n, &e2)) {
        s->use_dnnl = true;
        *scratch_bytes = s->mm.scratch_bytes;
    }
    free(bias);
    return DF_OK;
}

#define GEMM_LOOP_KERNEL(T)                                                                         \
    static void gemm_loop_##T(const gemm_geom *g, const T *A, const T *B, const T *C, T *Y) {       \
        const int64_t M = g->M, K = g->K, N = g->N;                                                 \
        const int64_t as0 = g->trans_a ? 1 : K, as1 = g->trans_a ? M : 1;                           \
        const int64_t bs0 = g->trans_b ? 1 : N, bs1 = g->trans_b ? K : 1;                           \
        for (int64_t i = 0; i < M; i++)                                                             \
            for (int64_t j = 0; j < N; j++) {                                                       \
                T acc = 0;                                                                          \
                for (int64_t k = 0; k < K; k++) acc += A[i * as0 + k * as1] * B[k * bs0 + j * bs1];  \
                double v = (double)g->alpha * (double)acc;                                          \
                if (C && g->beta != 0.0f)                                                           \
                    v += (double)g->beta * (double)C[i * g->c_stride[0] + j * g->c_stride[1]];      \
                Y[i * N + j] = (T)v;                                                                \
            }                                                                                       \
    }
GEMM_LOOP_KERNEL(float)
GEMM_LOOP_KERNEL(double)
GEMM_LOOP_KERNEL(int32_t)
GEMM_LOOP_KERNEL(int64_t)
GEMM_LOOP_KERNEL(uint32_t)
GEMM_LOOP_KERNEL(uint64_t)

static df_status gemm_run(const df_kernel_args *a) {
    gemm_state *s = a->node->state;
    gemm_geom local;
    const gemm_geom *g;
    if (s) {
        g = &s->geom;
    } else {
        df_status st = gemm_geom_make(a->graph, a->node, &local, a->err);
        if (st) return st;
        g = &local;
    }
    df_tensor *y = a->out[0];
    if (y->nbytes == 0) return DF_OK;
    const void *A = a->in[0]->data, *B = a->in[1]->data;
    const void *C = a->n_in > 2 && a->in[2] ? a->in[2]->data : NULL;
    /* A variable-batch plan runs fewer rows than it was prepared for (never transposed A). */
    gemm_geom run_geom;
    if (s && !g->trans_a && a->in[0]->shape.dims[0] != g->M) {
        run_geom = *g;
        run_geom.M = a->in[0]->shape.dims[0];
        g = &run_geom;
    }
    if (s && s->use_sgemm) {
        int flags = 0;
        if (s->c_mode == GEMM_C_SUM) {
            float *yv = y->data;
            const float *cv = C;
            for (int64_t i = 0; i < g->M; i++)
                for (int64_t j = 0; j < g->N; j++)
                    yv[i * g->N + j] = g->beta * cv[i * g->c_stride[0] + j * g->c_stride[1]];
            flags = DF_SGEMM_ACCUMULATE;
        }
        df_sgemm_run(&s->sg, g->M, A, g->trans_a ? 1 : g->K, g->trans_a ? g->M : 1, y->data, g->N, flags, a->scratch,
                     a->threads);
        return DF_OK;
    }
    if (s && s->use_dnnl) {
        if (s->c_mode == GEMM_C_SUM) {
            /* The sum post-op adds beta * (what Y holds), so Y starts as C broadcast. */
            float *yv = y->data;
            const float *cv = C;
            for (int64_t i = 0; i < g->M; i++)
                for (int64_t j = 0; j < g->N; j++) yv[i * g->N + j] = cv[i * g->c_stride[0] + j * g->c_stride[1]];
        }
        return df_dnnl_mm_rows_exec(&s->mm, g->M, A, B, y->data, a->scratch, a->node, a->err);
    }
    switch (y->dtype) {
    case DF_F32: gemm_loop_float(g, A, B, C, y->data); break;
    case DF_F64: gemm_loop_double(g, A, B, C, y->data); break;
    case DF_I32: gemm_loop_int32_t(g, A, B, C, y->data); break;
    case DF_I64: gemm_loop_int64_t(g, A, B, C, y->data); break;
    case DF_U32: gemm_loop_uint32_t(g, A, B, C, y->data); break;
    case DF_U64: gemm_loop_uint64_t(g, A, B, C, y->data); break;
    default: return df_node_error(a->err, DF_ETYPE, a->node, "unsupported dtype %s", df_dtype_name(y->dtype));
    }
    return DF_OK;
}

const df_op_def df_op_Gemm = {
    .op_type = "Gemm",
    .infer = gemm_infer,
    .prepare = gemm_prepare,
    .run = gemm_run,
    .release = gemm_release,
    .var_rows = gemm_var_rows,
};
