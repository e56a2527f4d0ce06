/* MatMul (numpy.matmul). float32 goes through oneDNN: with a 2-D right operand the batch dims
 * of A fold into M (one [B*S,K] x [K,N] GEMM, constant weights packed once in prepare); with
 * batched operands (attention's QK^T and AV) one batched primitive covers every batch, or a
 * 2-D primitive per batch when oneDNN cannot broadcast them. A constant 2-D B goes to the
 * prepacked sgemm instead where oneDNN would leave it unpacked (see ops/sgemm.h; DF_SGEMM=0/1
 * forces the choice). Other dtypes use a plain loop. */
#include <stdlib.h>
#include <string.h>

#include "ops/dnnl_common.h"
#include "ops/matmul.h"
#include "ops/op.h"
#include "ops/sgemm.h"

df_status df_mm_geom_make(const df_shape *a, const df_shape *b, const char *a_name, const char *b_name,
                          df_mm_geom *g, const df_node *n, df_error *err) {
    memset(g, 0, sizeof *g);
    if (a->rank < 1 || b->rank < 1)
        return df_node_error(err, DF_ESHAPE, n, "input '%s' must have rank >= 1, not a scalar",
                             a->rank < 1 ? a_name : b_name);
    g->a_vec = a->rank == 1;
    g->b_vec = b->rank == 1;
    int64_t ka;
    if (g->a_vec) {
        g->M = 1;
        ka = a->dims[0];
    } else {
        g->M = a->dims[a->rank - 2];
        ka = a->dims[a->rank - 1];
    }
    if (g->b_vec) {
        g->K = b->dims[0];
        g->N = 1;
    } else {
        g->K = b->dims[b->rank - 2];
        g->N = b->dims[b->rank - 1];
    }
    if (ka != g->K) {
        char sa[128], sb[128];
        return df_node_error(err, DF_ESHAPE, n, "inner dimensions differ: '%s' %s (K=%lld) x '%s' %s (K=%lld)",
                             a_name, df_shape_str(a, sa, sizeof sa), (long long)ka, b_name,
                             df_shape_str(b, sb, sizeof sb), (long long)g->K);
    }
    int ar = a->rank > 2 ? a->rank - 2 : 0, br = b->rank > 2 ? b->rank - 2 : 0;
    int r = ar > br ? ar : br;
    if (r + 2 > DF_MAX_RANK) return df_node_error(err, DF_EUNSUPPORTED, n, "rank above %d", DF_MAX_RANK);
    /* Strides of each operand's batch dims, right-aligned; broadcast dims get stride 0. */
    int64_t as = g->M * g->K, bs = g->K * g->N;
    g->n_batch = 1;
    for (int d = r - 1; d >= 0; d--) {
        int ia = d - (r - ar), ib = d - (r - br);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[128], sb[128];
            return df_node_error(err, DF_ESHAPE, n, "batch dimensions of '%s' %s and '%s' %s do not broadcast",
                                 a_name, df_shape_str(a, sa, sizeof sa), b_name, df_shape_str(b, sb, sizeof sb));
        }
        g->batch[d] = da == 1 ? db : da;
        g->a_bstride[d] = da == 1 ? 0 : as;
        g->b_bstride[d] = db == 1 ? 0 : bs;
        as *= da;
        bs *= db;
        g->n_batch *= g->batch[d];
    }
    g->batch_rank = r;
    g->out.rank = 0;
    for (int d = 0; d < r; d++) g->out.dims[g->out.rank++] = g->batch[d];
    if (!g->a_vec) g->out.dims[g->out.rank++] = g->M;
    if (!g->b_vec) g->out.dims[g->out.rank++] = g->N;
    return DF_OK;
}

typedef enum { MM_LOOP, MM_DNNL_ONE, MM_DNNL_PER_BATCH, MM_SGEMM } mm_mode;

typedef struct matmul_state {
    mm_mode mode;
    df_mm_geom geom;
    df_dnnl_mm_rows mm;       /* row buckets when A's batch varies (2-D B); else one plan */
    /* Batched operands in a variable-batch plan (attention's QK^T and AV): mm covers one
     * sample (output dim 0 = c0_unit) and runs once per sample of the run. */
    bool per_sample;
    int64_t c0_unit;
    bool a_scaled, b_scaled;
    df_sgemm_b sg;
} matmul_state;

static df_status matmul_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1);
    if (!a || !b) return df_node_error(err, DF_EINVAL, n, "needs inputs A and B");
    if (a->dtype != b->dtype)
        return df_node_error(err, DF_ETYPE, n, "inputs '%s' (%s) and '%s' (%s) differ in dtype", a->name,
                             df_dtype_name(a->dtype), b->name, df_dtype_name(b->dtype));
    switch (a->dtype) {
    case DF_F32: case DF_F64: case DF_I32: case DF_I64: case DF_U32: case DF_U64: break;
    default:
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", a->name,
                             df_dtype_name(a->dtype));
    }
    df_mm_geom geom;
    df_status st = df_mm_geom_make(&a->shape, &b->shape, a->name, b->name, &geom, n, err);
    if (st) return st;
    df_set_out(g, n, 0, a->dtype, &geom.out);
    return DF_OK;
}

static void matmul_release(df_node *n) {
    matmul_state *s = n->state;
    if (!s) return;
    df_dnnl_mm_rows_destroy(&s->mm);
    df_sgemm_b_free(&s->sg);
    free(s);
    n->state = NULL;
}

/* A variable batch folds into the rows of one GEMM when B is a constant matrix; batched
 * operands of equal rank (>= 3) vary along dim 0 and run one sample at a time. */
static bool batched_var(const df_graph *g, const df_node *n) {
    const df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1), *y = df_node_out(g, n, 0);
    return g->max_batch > 1 && a->dtype == DF_F32 && a->shape.rank >= 3 && a->shape.rank == b->shape.rank &&
           (a->batch_scaled || b->batch_scaled) && (!a->batch_scaled || a->batch_axis == 0) &&
           (!b->batch_scaled || b->batch_axis == 0) && y->batch_scaled && y->batch_axis == 0;
}

static bool matmul_var_rows(const df_graph *g, const df_node *n) {
    const df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1);
    if (batched_var(g, n)) return true;
    return a->dtype == DF_F32 && !b->batch_scaled && b->has_const && b->shape.rank == 2 && a->shape.rank >= 2 &&
           (!a->batch_scaled || a->batch_axis < a->shape.rank - 1);
}

static void fill_spec2d(df_mm_spec *sp, int64_t M, int64_t K, int64_t N) {
    memset(sp, 0, sizeof *sp);
    sp->ndims = 2;
    sp->a_dims[0] = M, sp->a_dims[1] = K, sp->a_strides[0] = K, sp->a_strides[1] = 1;
    sp->b_dims[0] = K, sp->b_dims[1] = N, sp->b_strides[0] = N, sp->b_strides[1] = 1;
    sp->c_dims[0] = M, sp->c_dims[1] = N;
    sp->alpha = 1.0f;
    sp->b_scale = 1.0f;
}

static df_status matmul_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1);
    /* A second prepare (after a fold-time one) replaces the first plan. */
    matmul_release(n);
    matmul_state *s = calloc(1, sizeof *s);
    if (!s) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    n->state = s;
    df_status st = df_mm_geom_make(&a->shape, &b->shape, a->name, b->name, &s->geom, n, err);
    if (st) return st;
    const df_mm_geom *ge = &s->geom;
    s->mode = MM_LOOP;
    if (a->dtype != DF_F32 || ge->M * ge->K * ge->N * ge->n_batch == 0) return DF_OK;
    const df_tensor *bc = df_node_in_const(g, n, 1);
    df_mm_spec sp;
    df_error e2;
    /* A's rows for one sample of a variable-batch plan (all of them in a static one). */
    int max_mult = b->shape.rank == 2 && bc ? df_node_max_batch(g, n, 0) : 1;
    int64_t unit_M = ge->n_batch * ge->M / max_mult;
    if (b->shape.rank <= 2 && bc && df_sgemm_use(unit_M, ge->K, ge->N) &&
        !df_sgemm_pack_b(&s->sg, ge->K, ge->N, bc->data, ge->N, 1, 1.0f, NULL, &e2)) {
        s->mode = MM_SGEMM;
        return DF_OK; /* row-major A needs no workspace */
    }
    if (b->shape.rank <= 2) {
        /* A's batch dims fold into M: A is contiguous, so [.., M, K] is [n_batch*M, K]. */
        fill_spec2d(&sp, unit_M, ge->K, ge->N);
        sp.b_const = bc ? bc->data : NULL;
        if (!df_dnnl_mm_rows_create(&s->mm, &sp, max_mult, n, &e2)) s->mode = MM_DNNL_ONE;
    } else {
        /* One batched primitive: pad both operands to the output's rank with size-1 dims and let
         * oneDNN broadcast them. */
        int nd = ge->batch_rank + 2;
        memset(&sp, 0, sizeof sp);
        sp.ndims = nd;
        sp.alpha = sp.b_scale = 1.0f;
        for (int d = 0; d < ge->batch_rank; d++) {
            sp.a_dims[d] = ge->a_bstride[d] ? ge->batch[d] : 1;
            sp.b_dims[d] = ge->b_bstride[d] ? ge->batch[d] : 1;
            sp.c_dims[d] = ge->batch[d];
        }
        sp.a_dims[nd - 2] = ge->M, sp.a_dims[nd - 1] = ge->K;
        sp.b_dims[nd - 2] = ge->K, sp.b_dims[nd - 1] = ge->N;
        sp.c_dims[nd - 2] = ge->M, sp.c_dims[nd - 1] = ge->N;
        if (batched_var(g, n)) {
            /* One sample's product; the run repeats it per sample. */
            s->per_sample = true;
            s->a_scaled = a->batch_scaled;
            s->b_scaled = b->batch_scaled;
            if (s->a_scaled) sp.a_dims[0] /= g->max_batch;
            if (s->b_scaled) sp.b_dims[0] /= g->max_batch;
            sp.c_dims[0] /= g->max_batch;
            s->c0_unit = sp.c_dims[0];
        }
        int64_t sa = 1, sb = 1;
        for (int d = nd - 1; d >= 0; d--) {
            sp.a_strides[d] = sa, sa *= sp.a_dims[d];
            sp.b_strides[d] = sb, sb *= sp.b_dims[d];
        }
        sp.b_const = bc ? bc->data : NULL;
        if (nd <= DNNL_MAX_NDIMS && !df_dnnl_mm_rows_create(&s->mm, &sp, 1, n, &e2)) {
            s->mode = MM_DNNL_ONE;
        } else if (s->per_sample) {
            return df_node_error(err, DF_EUNSUPPORTED, n, "oneDNN has no batched matmul for one sample: %s", e2.msg);
        } else {
            fill_spec2d(&sp, ge->M, ge->K, ge->N);
            if (!df_dnnl_mm_rows_create(&s->mm, &sp, 1, n, &e2)) s->mode = MM_DNNL_PER_BATCH;
        }
    }
    if (s->mode != MM_LOOP) *scratch_bytes = s->mm.scratch_bytes;
    return DF_OK;
}

/* Plain i-k-j loops: the inner loop runs over contiguous rows of B and C and vectorizes. */
#define MM_LOOP_KERNEL(T)                                                                           \
    static void mm_loop_##T(const df_mm_geom *g, const T *A, const T *B, T *C, int threads) {      \
        const int64_t M = g->M, K = g->K, N = g->N;                                                 \
        int64_t work = g->n_batch * M;                                                              \
        _Pragma("omp parallel for num_threads(threads) if (work * K * N > 65536)")                  \
        for (int64_t w = 0; w < work; w++) {                                                        \
            int64_t bi = w / M, i = w % M, ao, bo;                                                  \
            df_mm_geom_offsets(g, bi, &ao, &bo);                                                    \
            const T *a = A + ao + i * K;                                                            \
            const T *b = B + bo;                                                                    \
            T *c = C + bi * M * N + i * N;                                                          \
            for (int64_t j = 0; j < N; j++) c[j] = 0;                                               \
            for (int64_t k = 0; k < K; k++) {                                                       \
                T av = a[k];                                                                        \
                const T *brow = b + k * N;                                                          \
                for (int64_t j = 0; j < N; j++) c[j] += av * brow[j];                               \
            }                                                                                       \
        }                                                                                           \
    }
MM_LOOP_KERNEL(float)
MM_LOOP_KERNEL(double)
MM_LOOP_KERNEL(int32_t)
MM_LOOP_KERNEL(int64_t)
MM_LOOP_KERNEL(uint32_t)
MM_LOOP_KERNEL(uint64_t)

static df_status matmul_run(const df_kernel_args *a) {
    const matmul_state *s = a->node->state;
    df_mm_geom local;
    const df_mm_geom *g;
    if (s) {
        g = &s->geom;
    } else {
        /* Run without prepare (a direct call): derive the geometry now. */
        df_status st = df_mm_geom_make(&a->in[0]->shape, &a->in[1]->shape, "A", "B", &local, a->node, a->err);
        if (st) return st;
        g = &local;
    }
    df_tensor *y = a->out[0];
    if (y->nbytes == 0) return DF_OK;
    const void *A = a->in[0]->data, *B = a->in[1]->data;
    /* With a 2-D B, A's rows come from the run's tensor (a variable-batch plan runs fewer). */
    int64_t rows = g->n_batch * g->M;
    if (s && g->K && a->in[1]->shape.rank == 2 && a->in[0]->shape.rank >= 2)
        rows = df_shape_numel(&a->in[0]->shape) / g->K;
    if (s && s->mode == MM_SGEMM) {
        df_sgemm_run(&s->sg, rows, A, g->K, 1, y->data, g->N, 0, NULL, a->threads);
        return DF_OK;
    }
    if (s && s->mode == MM_DNNL_ONE && s->per_sample) {
        const int64_t samples = y->shape.dims[0] / s->c0_unit;
        const int64_t a_step = s->a_scaled ? df_shape_numel(&a->in[0]->shape) / samples : 0;
        const int64_t b_step = s->b_scaled ? df_shape_numel(&a->in[1]->shape) / samples : 0;
        const int64_t c_step = df_shape_numel(&y->shape) / samples;
        for (int64_t i = 0; i < samples; i++) {
            df_status st = df_dnnl_mm_exec((df_dnnl_mm *)&s->mm.b[0], (const float *)A + i * a_step,
                                           (const float *)B + i * b_step, (float *)y->data + i * c_step, a->scratch,
                                           a->node, a->err);
            if (st) return st;
        }
        return DF_OK;
    }
    if (s && s->mode == MM_DNNL_ONE)
        return df_dnnl_mm_rows_exec((df_dnnl_mm_rows *)&s->mm, s->mm.n > 1 ? rows : s->mm.unit_rows, A, B, y->data,
                                    a->scratch, a->node, a->err);
    if (s && s->mode == MM_DNNL_PER_BATCH) {
        for (int64_t bi = 0; bi < g->n_batch; bi++) {
            int64_t ao, bo;
            df_mm_geom_offsets(g, bi, &ao, &bo);
            df_status st = df_dnnl_mm_exec((df_dnnl_mm *)&s->mm.b[0], (const float *)A + ao, (const float *)B + bo,
                                           (float *)y->data + bi * g->M * g->N, a->scratch, a->node, a->err);
            if (st) return st;
        }
        return DF_OK;
    }
    switch (y->dtype) {
    case DF_F32: mm_loop_float(g, A, B, y->data, a->threads); break;
    case DF_F64: mm_loop_double(g, A, B, y->data, a->threads); break;
    case DF_I32: mm_loop_int32_t(g, A, B, y->data, a->threads); break;
    case DF_I64: mm_loop_int64_t(g, A, B, y->data, a->threads); break;
    case DF_U32: mm_loop_uint32_t(g, A, B, y->data, a->threads); break;
    case DF_U64: mm_loop_uint64_t(g, A, B, y->data, a->threads); break;
    default: return df_node_error(a->err, DF_ETYPE, a->node, "unsupported dtype %s", df_dtype_name(y->dtype));
    }
    return DF_OK;
}

const df_op_def df_op_MatMul = {
    .op_type = "MatMul",
    .infer = matmul_infer,
    .prepare = matmul_prepare,
    .run = matmul_run,
    .release = matmul_release,
    .var_rows = matmul_var_rows,
};
