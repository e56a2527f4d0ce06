/* ai.dpuflow.QMatMul: the fused int8 matmul that graph/fuse_qdq.c makes out of
 *   DequantizeLinear(x_q) x DequantizeLinear(W_q) [+ bias]
 * with float32 output:
 *   y[m,n] = x_scale * w_scale[n] * sum_k (x_q[m,k] - x_zp) * W_q[k,n] + bias[n]
 *
 * Inputs: 0 x_q (uint8 or int8, [..., K]); 1 x_scale (float32, one value, constant);
 * 2 x_zp (optional, x_q's dtype, one value, constant); 3 W_q (int8 [K,N], constant);
 * 4 w_scale (float32 [N] or one value, constant); 5 bias (optional float32 [N], constant).
 *
 * The default path is one oneDNN int8 matmul built in prepare for the static shape: u8 or s8
 * source with its zero point, int8 weights reordered once into oneDNN's layout, per-column
 * output scales x_scale * w_scale[n] (mask 2), int32 accumulation, f32 bias and output.
 * Bias: oneDNN 2.x applies a matmul's bias before the output scales (dst = scale * (acc +
 * bias)), so the bias is handed to it divided by each column's scale (prepare does it once);
 * in float that costs at most an ulp or two of the bias, far below a quantization step.
 *
 * x may also be float32 in the default mode: the node then quantizes it first, exactly as
 * QuantizeLinear(x, x_scale, x_zp) would (int8 or uint8 as x_zp says, uint8 without one).
 * The qmatmul_quantize pass (graph/fuse_qdq.c) makes such nodes out of QuantizeLinear ->
 * QMatMul, so the AVX2 kernel gets its bytes from one pass over the floats
 * (df_qgemm_quantize_a) instead of a QuantizeLinear node and then a scan of its output.
 *
 * round_mode = "dpu" (attribute, string; default "onnx") is the DPU's exact numerics for
 * validation (ops/int8_dpu.h): x may then be float32 and is quantized here with round half
 * toward +infinity and saturation to [-128,127]; every scale must be a power of two and the
 * zero points 0; the bias is rounded (half up) to the accumulator's fix position and added in
 * int32; out_fix (int attribute, optional) requantizes the accumulator by a rounding shift to
 * int8 at scale 2^-out_fix, as the DPU writes its output, before it is turned back to float.
 * This path is plain C loops: it is for checking, not for speed. */
#include <stdlib.h>
#include <string.h>

#include "dpuflow/base.h"
#include "ops/dnnl_common.h"
#include "ops/int8_dpu.h"
#include "ops/nn_math.h"
#include "ops/qgemm.h"
#include "ops/op.h"
#include "ops/quant_common.h"

enum { QMM_X, QMM_XS, QMM_XZP, QMM_W, QMM_WS, QMM_B };

/* One oneDNN int8 matmul over a weight matrix; see qmm_state for why there may be two. */
typedef struct qmm_prim {
    dnnl_primitive_t prim;
    dnnl_memory_t wei, bias_mem, scratch;
} qmm_prim;

/* The primitives for one row count: a variable-batch plan has one per power-of-two number of
 * samples (see df_dnnl_mm_rows), the smaller ones borrowing the largest one's weights. */
typedef struct qmm_bucket {
    qmm_prim p[2];
    dnnl_memory_t src, dst;
} qmm_bucket;

typedef struct qmm_state {
    int64_t M, K, N;
    bool dpu;
    bool use_dnnl;
    int32_t x_zp;
    bool x_float;          /* onnx mode with float32 x: quantized here, into x_q_off of scratch */
    bool x_signed;         /* x_q's dtype is int8 */
    float x_scale;
    size_t x_q_off;
    float *col_scale;      /* N: x_scale * w_scale[n] */
    float *bias;           /* N or NULL */
    /* dpu mode */
    int fix_x, out_fix;
    int *fix_w;            /* N */
    int32_t *bias_q;       /* N or NULL: bias at the accumulator's fix position */
    bool has_out_fix;
    /* oneDNN. Without VNNI, oneDNN's int8 GEMM multiplies u8 x s8 with vpmaddubsw, whose
     * int16 pair sums saturate once 2 * 255 * |w| > 32767 (|w| > 64): with full-range int8
     * weights that loses real precision (measured: 13% relative error on random data). So
     * there, W = 2 * W_hi + W_lo with W_hi = W >> 1 in [-64, 63] and W_lo in {0, 1}, two
     * primitives that cannot saturate, the second accumulating into the first's output (sum
     * post-op). Exact integer products, twice the multiplies; still the u8s8 fast path. */
    int n_prims;
    int n_buckets;             /* bucket i computes unit_M << i rows */
    int64_t unit_M;
    qmm_bucket bk[DF_MM_ROW_BUCKETS];
    dnnl_stream_t stream;
    size_t scratch_bytes;
    /* AVX2 without VNNI and 7-bit weights: ops/qgemm.h instead of oneDNN. */
    bool use_qgemm;
    df_qgemm_b qg;
    bool gelu;                 /* activation "gelu": erf GELU on the output (fuse_qdq.c) */
} qmm_state;

static bool is_dpu_mode(const df_node *n, df_status *st, df_error *err) {
    const char *m = df_attr_string(n, "round_mode", "onnx");
    *st = DF_OK;
    if (!strcmp(m, "onnx")) return false;
    if (!strcmp(m, "dpu")) return true;
    *st = df_node_error(err, DF_EINVAL, n, "round_mode '%s' is not 'onnx' or 'dpu'", m);
    return false;
}

static df_status one_value(const df_graph *g, const df_node *n, int i, const char *what, df_error *err) {
    const df_value *v = df_node_in(g, n, i);
    if (!v) return DF_OK;
    if (!v->has_const) return df_node_error(err, DF_EINVAL, n, "%s '%s' must be a constant", what, v->name);
    if (df_shape_numel(&v->shape) != 1 || v->shape.rank > 1)
        return df_node_error(err, DF_ESHAPE, n, "%s '%s' must hold one value", what, v->name);
    return DF_OK;
}

static df_status qmm_infer(df_graph *g, df_node *n, df_error *err) {
    df_status st;
    bool dpu = is_dpu_mode(n, &st, err);
    if (st) return st;
    const char *act = df_attr_string(n, "activation", "");
    if (strcmp(act, "") && strcmp(act, "gelu"))
        return df_node_error(err, DF_EINVAL, n, "activation '%s' is not \"\" or \"gelu\"", act);
    df_value *x = df_node_in(g, n, QMM_X), *xs = df_node_in(g, n, QMM_XS), *xz = df_node_in(g, n, QMM_XZP);
    df_value *w = df_node_in(g, n, QMM_W), *ws = df_node_in(g, n, QMM_WS), *b = df_node_in(g, n, QMM_B);
    if (!x || !xs || !w || !ws) return df_node_error(err, DF_EINVAL, n, "needs inputs x_q, x_scale, W_q and w_scale");
    if (x->dtype != DF_U8 && x->dtype != DF_I8 && x->dtype != DF_F32)
        return df_node_error(err, DF_ETYPE, n, "input '%s' must be uint8, int8 or float32, not %s", x->name,
                             df_dtype_name(x->dtype));
    if (xs->dtype != DF_F32) return df_node_error(err, DF_ETYPE, n, "x_scale '%s' must be float32", xs->name);
    if ((st = one_value(g, n, QMM_XS, "x_scale", err)) || (st = one_value(g, n, QMM_XZP, "x_zero_point", err)))
        return st;
    if (xz && x->dtype == DF_F32 && !dpu && xz->dtype != DF_U8 && xz->dtype != DF_I8)
        return df_node_error(err, DF_ETYPE, n, "x_zero_point '%s' must be uint8 or int8, not %s", xz->name,
                             df_dtype_name(xz->dtype));
    if (xz && x->dtype != DF_F32 && xz->dtype != x->dtype)
        return df_node_error(err, DF_ETYPE, n, "x_zero_point '%s' (%s) must have the dtype of '%s' (%s)", xz->name,
                             df_dtype_name(xz->dtype), x->name, df_dtype_name(x->dtype));
    if (w->dtype != DF_I8 || w->shape.rank != 2 || !w->has_const)
        return df_node_error(err, DF_ETYPE, n, "W_q '%s' must be a constant int8 [K,N] matrix", w->name);
    const int64_t K = w->shape.dims[0], N = w->shape.dims[1];
    if (x->shape.rank < 1 || x->shape.dims[x->shape.rank - 1] != K)
        return df_node_error(err, DF_ESHAPE, n, "input '%s' must end in K=%lld (the rows of '%s')", x->name,
                             (long long)K, w->name);
    int64_t nws = df_shape_numel(&ws->shape);
    if (ws->dtype != DF_F32 || !ws->has_const || ws->shape.rank > 1 || (nws != 1 && nws != N))
        return df_node_error(err, DF_ESHAPE, n, "w_scale '%s' must be a constant float32 of 1 or N=%lld values",
                             ws->name, (long long)N);
    if (b && (b->dtype != DF_F32 || !b->has_const || df_shape_numel(&b->shape) != N))
        return df_node_error(err, DF_ESHAPE, n, "bias '%s' must be a constant float32 of N=%lld values", b->name,
                             (long long)N);
    df_shape out = x->shape;
    out.dims[out.rank - 1] = N;
    df_set_out(g, n, 0, DF_F32, &out);
    return DF_OK;
}

static void qmm_release(df_node *n) {
    qmm_state *s = n->state;
    if (!s) return;
    for (int b = 0; b < DF_MM_ROW_BUCKETS; b++) {
        qmm_bucket *bk = &s->bk[b];
        for (int i = 0; i < 2; i++) {
            if (bk->p[i].prim) dnnl_primitive_destroy(bk->p[i].prim);
            if (bk->p[i].wei) dnnl_memory_destroy(bk->p[i].wei);
            if (bk->p[i].bias_mem) dnnl_memory_destroy(bk->p[i].bias_mem);
            if (bk->p[i].scratch) dnnl_memory_destroy(bk->p[i].scratch);
        }
        if (bk->src) dnnl_memory_destroy(bk->src);
        if (bk->dst) dnnl_memory_destroy(bk->dst);
    }
    if (s->stream) dnnl_stream_destroy(s->stream);
    df_qgemm_free(&s->qg);
    free(s->col_scale);
    free(s->bias);
    free(s->fix_w);
    free(s->bias_q);
    free(s);
    n->state = NULL;
}

static df_status dnnl_err(dnnl_status_t r, const char *what, const df_node *n, df_error *err) {
    return df_node_error(err, r == dnnl_out_of_memory ? DF_ENOMEM : DF_EUNSUPPORTED, n, "oneDNN %s failed (status %d)",
                         what, (int)r);
}

/* Builds one int8 primitive over weights w ([K,N] int8), reordered once; output scales are
 * col_scale * wmul; with bias (pre-divided: oneDNN 2.x adds the bias before the output
 * scales); accumulate = sum post-op into dst. */
static df_status qmm_prim_create(qmm_state *s, qmm_bucket *bk, int which, int64_t M, const qmm_prim *share,
                                 dnnl_data_type_t src_dt, const int8_t *w, float wmul, bool with_bias, bool accumulate,
                                 const df_node *n, df_error *err) {
    dnnl_engine_t eng = df_dnnl_engine();
    if (!eng) return df_node_error(err, DF_EUNSUPPORTED, n, "oneDNN has no CPU engine");
    qmm_prim *p = &bk->p[which];
    dnnl_dims_t a_dims = {M, s->K}, b_dims = {s->K, s->N}, c_dims = {M, s->N}, bias_dims = {1, s->N};
    dnnl_memory_desc_t a_md, b_user_md, b_md, c_md, bias_md;
    dnnl_status_t r;
    if ((r = dnnl_memory_desc_init_by_tag(&a_md, 2, a_dims, src_dt, dnnl_ab)) ||
        (r = dnnl_memory_desc_init_by_tag(&b_user_md, 2, b_dims, dnnl_s8, dnnl_ab)) ||
        (r = dnnl_memory_desc_init_by_tag(&b_md, 2, b_dims, dnnl_s8, dnnl_format_tag_any)) ||
        (r = dnnl_memory_desc_init_by_tag(&c_md, 2, c_dims, dnnl_f32, dnnl_ab)) ||
        (r = dnnl_memory_desc_init_by_tag(&bias_md, 2, bias_dims, dnnl_f32, dnnl_ab)))
        return dnnl_err(r, "memory descriptor", n, err);
    dnnl_matmul_desc_t desc;
    if ((r = dnnl_matmul_desc_init(&desc, &a_md, &b_md, with_bias ? &bias_md : NULL, &c_md)))
        return dnnl_err(r, "int8 matmul descriptor", n, err);
    const int64_t N = s->N;
    float *scales = malloc((size_t)(N > 0 ? N : 1) * sizeof(float));
    if (!scales) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    for (int64_t j = 0; j < N; j++) scales[j] = s->col_scale[j] * wmul;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t user = NULL;
    df_status st = DF_OK;
    if ((r = dnnl_primitive_attr_create(&attr)) ||
        (r = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) ||
        (r = dnnl_primitive_attr_set_output_scales(attr, N, 1 << 1, scales)) ||
        (s->x_zp && (r = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &s->x_zp)))) {
        st = dnnl_err(r, "int8 attributes", n, err);
        goto done;
    }
    if (accumulate && ((r = dnnl_post_ops_create(&po)) || (r = dnnl_post_ops_append_sum(po, 1.0f)) ||
                       (r = dnnl_primitive_attr_set_post_ops(attr, po)))) {
        st = dnnl_err(r, "post-ops", n, err);
        goto done;
    }
    if ((r = dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL))) {
        st = dnnl_err(r, "int8 matmul primitive", n, err);
        goto done;
    }
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *shared_md = NULL;
    void *shared_h = NULL;
    if (share && dnnl_memory_get_memory_desc(share->wei, &shared_md) == dnnl_success &&
        dnnl_memory_desc_equal(shared_md, wei_md) && dnnl_memory_get_data_handle(share->wei, &shared_h) == dnnl_success) {
        /* Same layout as the largest bucket's: borrow its reordered weights. */
        if ((r = dnnl_memory_create(&p->wei, wei_md, eng, shared_h))) {
            st = dnnl_err(r, "weights memory", n, err);
            goto done;
        }
    } else if ((r = dnnl_memory_create(&p->wei, wei_md, eng, DNNL_MEMORY_ALLOCATE)) ||
               (r = dnnl_memory_create(&user, &b_user_md, eng, (void *)w)) ||
               (r = dnnl_reorder_primitive_desc_create(&rpd, &b_user_md, eng, wei_md, eng, NULL)) ||
               (r = dnnl_primitive_create(&reorder, rpd))) {
        st = dnnl_err(r, "weights reorder", n, err);
        goto done;
    } else {
        dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, p->wei}};
        if ((r = dnnl_primitive_execute(reorder, s->stream, 2, rargs)) || (r = dnnl_stream_wait(s->stream))) {
            st = dnnl_err(r, "weights reorder", n, err);
            goto done;
        }
    }
    if (with_bias) {
        void *h = NULL;
        if ((r = dnnl_memory_create(&p->bias_mem, &bias_md, eng, DNNL_MEMORY_ALLOCATE)) ||
            (r = dnnl_memory_get_data_handle(p->bias_mem, &h))) {
            st = dnnl_err(r, "bias memory", n, err);
            goto done;
        }
        float *hb = h;
        for (int64_t j = 0; j < N; j++) hb[j] = scales[j] != 0.0f ? s->bias[j] / scales[j] : 0.0f;
    }
    const dnnl_memory_desc_t *sp_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sb = sp_md ? dnnl_memory_desc_get_size(sp_md) : 0;
    if (sb > s->scratch_bytes) s->scratch_bytes = sb;
    if ((!bk->src && (r = dnnl_memory_create(&bk->src, &a_md, eng, DNNL_MEMORY_NONE))) ||
        (!bk->dst && (r = dnnl_memory_create(&bk->dst, &c_md, eng, DNNL_MEMORY_NONE))) ||
        (sb && (r = dnnl_memory_create(&p->scratch, sp_md, eng, DNNL_MEMORY_NONE))) ||
        (r = dnnl_primitive_create(&p->prim, pd))) {
        st = dnnl_err(r, "int8 matmul primitive", n, err);
        goto done;
    }
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    free(scales);
    return st;
}

/* VNNI (vpdpbusd) accumulates u8 x s8 straight into int32: no saturation to avoid. */
static bool has_vnni(void);

bool df_int8_has_vnni(void) { return has_vnni(); }

bool df_int8_gemm_pays_off(void) {
    /* Without VNNI the exact int8 GEMM needs the 7-bit weight split (two GEMMs) and measured
     * 2-3x slower than the FP32 GEMM on the same layer (docs/bench.md), so sessions run QDQ
     * models with their weights dequantized once at load instead. DF_INT8=1/0 overrides. */
    const char *env = getenv("DF_INT8");
    if (env && *env) return strcmp(env, "0") != 0;
    return has_vnni();
}

static bool has_vnni(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni ||
           (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
}

static df_status qmm_dnnl_create(qmm_state *s, int max_mult, dnnl_data_type_t src_dt, const int8_t *w,
                                 const df_node *n, df_error *err) {
    dnnl_status_t r;
    if ((r = dnnl_stream_create(&s->stream, df_dnnl_engine(), dnnl_stream_default_flags)))
        return dnnl_err(r, "stream", n, err);
    const int64_t KN = s->K * s->N;
    bool split = false;
    if (!has_vnni() && !getenv("DF_INT8_NO_SPLIT"))
        for (int64_t i = 0; i < KN && !split; i++) split = w[i] > 64 || w[i] < -64;
    df_status st = DF_OK;
    int8_t *hl = NULL;
    if (split) {
        hl = malloc((size_t)(2 * KN));
        if (!hl) return df_node_error(err, DF_ENOMEM, n, "out of memory");
        for (int64_t i = 0; i < KN; i++) {
            int8_t hi = (int8_t)(w[i] >> 1); /* arithmetic: floor(w / 2) */
            hl[i] = hi;
            hl[KN + i] = (int8_t)(w[i] - 2 * hi);
        }
    }
    s->n_prims = split ? 2 : 1;
    s->n_buckets = df_row_buckets(max_mult);
    s->unit_M = s->M / max_mult;
    /* Largest bucket first: it reorders the weights, the others borrow them. */
    for (int b = s->n_buckets - 1; b >= 0 && !st; b--) {
        int64_t M = s->n_buckets > 1 ? s->unit_M << b : s->M;
        const qmm_bucket *big = b < s->n_buckets - 1 ? &s->bk[s->n_buckets - 1] : NULL;
        if (!split) {
            st = qmm_prim_create(s, &s->bk[b], 0, M, big ? &big->p[0] : NULL, src_dt, w, 1.0f, s->bias != NULL, false,
                                 n, err);
        } else {
            st = qmm_prim_create(s, &s->bk[b], 0, M, big ? &big->p[0] : NULL, src_dt, hl, 2.0f, s->bias != NULL, false,
                                 n, err);
            if (!st)
                st = qmm_prim_create(s, &s->bk[b], 1, M, big ? &big->p[1] : NULL, src_dt, hl + KN, 1.0f, false, true, n,
                                     err);
        }
    }
    free(hl);
    if (st) return st;
    s->use_dnnl = true;
    return DF_OK;
}

static float scalar_f32(const df_tensor *t) { return ((const float *)t->data)[0]; }

static df_status qmm_prepare(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err) {
    qmm_release(n);
    df_status st;
    bool dpu = is_dpu_mode(n, &st, err);
    if (st) return st;
    const df_value *x = df_node_in(g, n, QMM_X);
    const df_tensor *xs = df_node_in_const(g, n, QMM_XS), *xz = df_node_in_const(g, n, QMM_XZP);
    const df_tensor *w = df_node_in_const(g, n, QMM_W), *ws = df_node_in_const(g, n, QMM_WS);
    const df_tensor *b = df_node_in_const(g, n, QMM_B);
    qmm_state *s = calloc(1, sizeof *s);
    if (!s) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    n->state = s;
    s->K = w->shape.dims[0];
    s->N = w->shape.dims[1];
    s->M = s->K ? df_shape_numel(&x->shape) / s->K : 0;
    s->dpu = dpu;
    s->gelu = !strcmp(df_attr_string(n, "activation", ""), "gelu");
    const int64_t N = s->N;
    const int64_t nws = df_shape_numel(&ws->shape);
    s->col_scale = malloc((size_t)(N > 0 ? N : 1) * sizeof(float));
    if (!s->col_scale) return df_node_error(err, DF_ENOMEM, n, "out of memory");
    const float xscale = scalar_f32(xs);
    for (int64_t j = 0; j < N; j++) s->col_scale[j] = xscale * ((const float *)ws->data)[nws == 1 ? 0 : j];
    if (xz && x->dtype != DF_F32) s->x_zp = x->dtype == DF_U8 ? ((const uint8_t *)xz->data)[0] : ((const int8_t *)xz->data)[0];
    if (!dpu && x->dtype == DF_F32) {
        s->x_float = true;
        s->x_scale = xscale;
        s->x_signed = xz && xz->dtype == DF_I8;
        if (xz) s->x_zp = s->x_signed ? ((const int8_t *)xz->data)[0] : ((const uint8_t *)xz->data)[0];
    }
    if (b) {
        s->bias = malloc((size_t)N * sizeof(float));
        if (!s->bias) return df_node_error(err, DF_ENOMEM, n, "out of memory");
        memcpy(s->bias, b->data, (size_t)N * sizeof(float));
    }
    if (dpu) {
        if (x->dtype == DF_U8) return df_node_error(err, DF_EINVAL, n, "dpu mode needs int8 (or float32) activations");
        int64_t zp_any = 0;
        if (xz) zp_any = xz->dtype == DF_U8 ? ((const uint8_t *)xz->data)[0] : xz->dtype == DF_I8 ? ((const int8_t *)xz->data)[0] : 1;
        if (zp_any)
            return df_node_error(err, DF_EINVAL, n, "dpu mode needs zero point 0");
        if (!df_dpu_fix_of_scale(xscale, &s->fix_x))
            return df_node_error(err, DF_EINVAL, n, "dpu mode: x_scale %g is not a power of two", (double)xscale);
        s->fix_w = malloc((size_t)(N > 0 ? N : 1) * sizeof(int));
        if (!s->fix_w) return df_node_error(err, DF_ENOMEM, n, "out of memory");
        for (int64_t j = 0; j < N; j++) {
            float wsv = ((const float *)ws->data)[nws == 1 ? 0 : j];
            if (!df_dpu_fix_of_scale(wsv, &s->fix_w[j]))
                return df_node_error(err, DF_EINVAL, n, "dpu mode: w_scale[%lld] %g is not a power of two", (long long)j,
                                     (double)wsv);
        }
        if (b) {
            s->bias_q = malloc((size_t)N * sizeof(int32_t));
            if (!s->bias_q) return df_node_error(err, DF_ENOMEM, n, "out of memory");
            for (int64_t j = 0; j < N; j++) {
                /* The DPU adds the bias at the accumulator's fix position, rounded half up. */
                double v = floor(ldexp((double)s->bias[j], s->fix_x + s->fix_w[j]) + 0.5);
                s->bias_q[j] = (int32_t)(v < -2147483648.0 ? -2147483648.0 : v > 2147483647.0 ? 2147483647.0 : v);
            }
        }
        const df_attr *of = df_node_attr(n, "out_fix");
        if (of) {
            s->has_out_fix = true;
            s->out_fix = (int)of->i;
        }
        if (x->dtype == DF_F32) *scratch_bytes = (size_t)s->K;
        return DF_OK;
    }
    if (s->M * s->K * N == 0 || getenv("DF_INT8_LOOP")) {
        *scratch_bytes = s->x_float ? (size_t)(s->M * s->K) : 0;
        return DF_OK;
    }
    df_error e2 = {0};
    const char *qg_env = getenv("DF_QGEMM");
    if (!has_vnni() && !(qg_env && !strcmp(qg_env, "0")) && df_qgemm_takes(s->K, N, w->data)) {
        if (df_qgemm_pack(&s->qg, s->K, N, w->data, &e2)) return df_node_error(err, DF_ENOMEM, n, "%s", e2.msg);
        s->use_qgemm = true;
        /* The kernel's u8 view of x may be a shifted copy (df_qgemm_view_a), made once per run. */
        *scratch_bytes = (size_t)(s->M * s->K);
        return DF_OK;
    }
    /* No oneDNN kernel (an unusual build): the int32 loop below still gives exact results. */
    const bool x_u8 = s->x_float ? !s->x_signed : x->dtype == DF_U8;
    if (qmm_dnnl_create(s, df_node_max_batch(g, n, QMM_X), x_u8 ? dnnl_u8 : dnnl_s8, w->data, n, &e2)) {
        df_log(DF_LOG_DEBUG, "%s", e2.msg);
        s->use_dnnl = false;
    }
    /* A float x is quantized past oneDNN's scratchpad. */
    s->x_q_off = (s->scratch_bytes + 63) & ~(size_t)63;
    *scratch_bytes = s->x_float ? s->x_q_off + (size_t)(s->M * s->K) : s->scratch_bytes;
    return DF_OK;
}

/* Exact int32 reference: the dpu mode, and the fallback when oneDNN has no kernel. */
static void qmm_loop(const qmm_state *s, const df_tensor *x, const int8_t *w, float *y, int8_t *xq_row) {
    const int64_t K = s->K, N = s->N, M = K ? df_shape_numel(&x->shape) / K : s->M;
    for (int64_t i = 0; i < M; i++) {
        const int8_t *xr8 = NULL;
        const uint8_t *xru = NULL;
        if (x->dtype == DF_F32) {
            const float *xf = (const float *)x->data + i * K;
            for (int64_t k = 0; k < K; k++) xq_row[k] = df_dpu_quantize(xf[k], s->fix_x);
            xr8 = xq_row;
        } else if (x->dtype == DF_I8) {
            xr8 = (const int8_t *)x->data + i * K;
        } else {
            xru = (const uint8_t *)x->data + i * K;
        }
        float *yr = y + i * N;
        for (int64_t j = 0; j < N; j++) {
            int64_t acc = 0;
            for (int64_t k = 0; k < K; k++) {
                int32_t xv = xr8 ? xr8[k] : xru[k];
                acc += (int64_t)(xv - s->x_zp) * w[k * N + j];
            }
            if (!s->dpu) {
                yr[j] = (float)acc * s->col_scale[j] + (s->bias ? s->bias[j] : 0.0f);
                continue;
            }
            /* int32 accumulator as the DPU has it (wraps like the hardware would not: saturate). */
            if (s->bias_q) acc += s->bias_q[j];
            acc = acc < INT32_MIN ? INT32_MIN : acc > INT32_MAX ? INT32_MAX : acc;
            int fix_acc = s->fix_x + s->fix_w[j];
            if (s->has_out_fix) yr[j] = ldexpf((float)df_dpu_requant(acc, fix_acc - s->out_fix), -s->out_fix);
            else yr[j] = (float)ldexp((double)acc, -fix_acc);
        }
    }
}

static void gelu_inplace(float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * y[i] * (1.0f + df_fast_erff(y[i] * 0.70710678118654752f));
}

static df_status qmm_run_core(const df_kernel_args *a);

static df_status qmm_run(const df_kernel_args *a) {
    df_status st = qmm_run_core(a);
    const qmm_state *s = a->node->state;
    /* The AVX2 kernel applies a fused GELU in its epilogue; the other paths do it here. */
    if (!st && s && s->gelu && !s->use_qgemm) gelu_inplace(a->out[0]->data, df_shape_numel(&a->out[0]->shape));
    return st;
}

/* QuantizeLinear(x, x_scale, x_zp) of a float x into dst, as ops/quantize_linear.c does it. */
static void quantize_x(const qmm_state *s, const float *x, int64_t n, void *dst) {
    const float lo = s->x_signed ? -128.0f : 0.0f, hi = s->x_signed ? 127.0f : 255.0f, zp = (float)s->x_zp;
    for (int64_t i = 0; i < n; i++) {
        int32_t q = df_q_quantize(x[i], s->x_scale, zp, lo, hi);
        if (s->x_signed) ((int8_t *)dst)[i] = (int8_t)q;
        else ((uint8_t *)dst)[i] = (uint8_t)q;
    }
}

static df_status qmm_run_core(const df_kernel_args *a) {
    qmm_state *s = a->node->state;
    if (!s) return df_node_error(a->err, DF_EINTERNAL, a->node, "QMatMul was not prepared");
    df_tensor *y = a->out[0];
    if (y->nbytes == 0) return DF_OK;
    const df_tensor *x = a->in[QMM_X];
    const int64_t rows = df_shape_numel(&x->shape) / s->K;
    if (s->use_qgemm) {
        /* Scratch holds the kernel's view of x when it is not x itself (see prepare). */
        if (a->scratch_size < (size_t)(rows * s->K))
            return df_node_error(a->err, DF_EINTERNAL, a->node, "scratch too small");
        const df_qgemm_a xa =
            s->x_float ? df_qgemm_quantize_a(x->data, rows * s->K, s->x_scale, s->x_zp, s->x_signed, a->scratch)
                       : df_qgemm_view_a(x->data, x->dtype == DF_I8, rows * s->K, s->x_zp, a->scratch);
        df_qgemm_run(&s->qg, rows, xa, s->K, s->col_scale, s->bias, s->gelu, y->data, s->N, a->threads);
        return DF_OK;
    }
    /* The other paths read int8/uint8 x: a float one is quantized first, into a view of x. */
    df_tensor xq;
    if (s->x_float) {
        if (a->scratch_size < s->x_q_off + (size_t)(rows * s->K))
            return df_node_error(a->err, DF_EINTERNAL, a->node, "scratch too small");
        xq = *x;
        xq.dtype = s->x_signed ? DF_I8 : DF_U8;
        xq.data = (char *)a->scratch + s->x_q_off;
        xq.nbytes = (size_t)(rows * s->K);
        quantize_x(s, x->data, rows * s->K, xq.data);
        x = &xq;
    }
    if (s->use_dnnl) {
        const int64_t m = s->n_buckets > 1 ? rows / s->unit_M : 1;
        if (s->n_buckets > 1 && (m * s->unit_M != rows || m >= ((int64_t)1 << s->n_buckets)))
            return df_node_error(a->err, DF_ESHAPE, a->node, "%lld rows do not fit the prepared row buckets",
                                 (long long)rows);
        const size_t xsz = df_dtype_size(x->dtype);
        int64_t done = 0;
        for (int b = s->n_buckets - 1; b >= 0; b--) {
            if (s->n_buckets > 1 && !(m & ((int64_t)1 << b))) continue;
            const qmm_bucket *bk = &s->bk[b];
            dnnl_memory_set_data_handle(bk->src, (char *)x->data + (size_t)(done * s->K) * xsz);
            dnnl_memory_set_data_handle(bk->dst, (float *)y->data + done * s->N);
            for (int i = 0; i < s->n_prims; i++) {
                const qmm_prim *p = &bk->p[i];
                dnnl_exec_arg_t args[5];
                int na = 0;
                args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, bk->src};
                args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->wei};
                args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, bk->dst};
                if (p->bias_mem) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, p->bias_mem};
                if (p->scratch) {
                    dnnl_memory_set_data_handle(p->scratch, a->scratch);
                    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
                }
                dnnl_status_t r = dnnl_primitive_execute(p->prim, s->stream, na, args);
                if (r == dnnl_success) r = dnnl_stream_wait(s->stream);
                if (r != dnnl_success)
                    return df_node_error(a->err, DF_EINTERNAL, a->node, "oneDNN int8 matmul failed (status %d)", (int)r);
            }
            done += s->n_buckets > 1 ? s->unit_M << b : s->M;
        }
        return DF_OK;
    }
    /* The dpu path quantizes one row at a time into scratch: K bytes (see prepare). */
    if (x->dtype == DF_F32 && a->scratch_size < (size_t)s->K)
        return df_node_error(a->err, DF_EINTERNAL, a->node, "scratch too small");
    qmm_loop(s, x, a->in[QMM_W]->data, y->data, a->scratch);
    return DF_OK;
}

const df_op_def df_op_QMatMul = {
    .op_type = "QMatMul",
    .domain = "ai.dpuflow",
    .infer = qmm_infer,
    .prepare = qmm_prepare,
    .run = qmm_run,
    .release = qmm_release,
    .var_rows = df_var_rows_always,
};
