/* Pass "fuse_qdq": QDQ MatMul/Gemm -> ai.dpuflow.QMatMul (ops/qmatmul.c).
 *
 *   x_q -> DequantizeLinear(x_scale, x_zp) -> MatMul/Gemm(., W) [-> Add(bias)]
 *   where W = DequantizeLinear(W_q int8 constant, w_scale, w_zp = 0)
 * becomes QMatMul(x_q, x_scale, x_zp, W_q as [K,N], w_scale[N], bias[N]) -> float32.
 *
 * x_q is usually a QuantizeLinear's output; that node is left alone, so an activation read by
 * several projections (Q, K and V) is quantized once and each QMatMul reads the same bytes.
 * The activation's DequantizeLinear dies when no other node reads it.
 *
 * By the time passes run, inference has already folded DequantizeLinear(W_q) into a float
 * constant (that is also all a weight-only DQ -> MatMul needs: it is dequantized once at load
 * and runs as a float MatMul). The folded node stays in the graph, dead, until compaction, so
 * the int8 weight, its scales and zero points are read from it; a DQ that was not folded is
 * matched the same way.
 *
 * Checks are strict and anything else is left untouched: activation scale and zero point are
 * single constants (per-tensor), the activation is uint8/int8 and not constant; weights are an
 * int8 rank-2 constant with every zero point 0 and scales per tensor or per output column
 * (axis 1 of a [K,N] MatMul weight, axis 0 of a Gemm transB=1 weight); Gemm has transA = 0
 * and a bias C of N values; a following Add is fused only when the MatMul output has no other
 * reader and the other operand is a constant of N values broadcast over the last axis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/fuse_util.h"
#include "graph/passes.h"
#include "ops/qgemm.h"

static bool is_op(const df_node *n, const char *op) {
    return !n->dead && !strcmp(n->op_type, op) && (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
}

static bool is_dq(const df_node *n) {
    return !strcmp(n->op_type, "DequantizeLinear") && (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
}

static bool one_const(const df_value *v, df_dtype dt) {
    return v && v->has_const && v->dtype == dt && df_shape_numel(&v->shape) == 1 && v->shape.rank <= 1;
}

/* Live readers of each value (node inputs), plus one for graph outputs. */
static int *count_readers(const df_graph *g) {
    int *c = calloc((size_t)(g->n_values > 0 ? g->n_values : 1), sizeof *c);
    if (!c) return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) c[n->inputs[k]]++;
    }
    for (int k = 0; k < g->n_outputs; k++) c[g->outputs[k]]++;
    return c;
}

/* The only live node reading value v, or -1. */
static int sole_reader(const df_graph *g, int v) {
    int found = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == v) {
                if (found >= 0 && found != i) return -1;
                found = i;
            }
    }
    return found;
}

typedef struct qdq_match {
    int x_q, x_scale, x_zp;      /* value indices (x_zp may be -1) */
    int dq_node;                 /* the activation's DequantizeLinear */
    const df_tensor *w_q;        /* int8, stored layout */
    bool w_trans;                /* stored as [N,K] (Gemm transB=1) */
    const df_tensor *w_scale;
    float alpha;                 /* Gemm alpha, folded into the weight scales */
    const df_tensor *bias;       /* Gemm C or the Add's constant, N values */
    float beta;
    int add_node;                /* fused Add, or -1 */
    int out;                     /* value the fused node writes */
    int64_t K, N;
} qdq_match;

/* The activation side: value v = DequantizeLinear(x_q, scale, zp) per tensor. */
static bool match_act(const df_graph *g, int v, qdq_match *m) {
    const df_value *val = &g->values[v];
    if (val->has_const || val->producer < 0) return false;
    const df_node *dq = &g->nodes[val->producer];
    if (dq->dead || !is_dq(dq) || dq->n_inputs < 2) return false;
    const df_value *xq = df_node_in(g, dq, 0), *xs = df_node_in(g, dq, 1), *xz = df_node_in(g, dq, 2);
    if (!xq || xq->has_const || (xq->dtype != DF_U8 && xq->dtype != DF_I8)) return false;
    if (!one_const(xs, DF_F32)) return false;
    float s = ((const float *)xs->value.data)[0];
    if (!(s > 0.0f) || s != s) return false;
    if (xz && !one_const(xz, xq->dtype)) return false;
    if (xq->shape.rank < 1) return false;
    m->x_q = dq->inputs[0];
    m->x_scale = dq->inputs[1];
    m->x_zp = xz ? dq->inputs[2] : -1;
    m->dq_node = val->producer;
    return true;
}

/* The weight side: value v is (or was folded from) DequantizeLinear(W_q int8 const, ...). */
static bool match_weight(const df_graph *g, int v, int want_axis, qdq_match *m) {
    const df_value *val = &g->values[v];
    if (val->producer < 0 || val->shape.rank != 2 || val->dtype != DF_F32) return false;
    const df_node *dq = &g->nodes[val->producer];
    if (!is_dq(dq) || dq->n_inputs < 2) return false;
    const df_value *wq = df_node_in(g, dq, 0), *ws = df_node_in(g, dq, 1), *wz = df_node_in(g, dq, 2);
    if (!wq || !wq->has_const || wq->dtype != DF_I8 || wq->shape.rank != 2) return false;
    if (!ws || !ws->has_const || ws->dtype != DF_F32 || ws->shape.rank > 1) return false;
    int64_t nsc = df_shape_numel(&ws->shape);
    if (nsc != 1) {
        int64_t axis = df_attr_int(dq, "axis", 1);
        if (axis < 0) axis += 2;
        if (axis != want_axis || ws->shape.rank != 1 || nsc != wq->shape.dims[want_axis]) return false;
    }
    for (int64_t i = 0; i < nsc; i++) {
        float s = ((const float *)ws->value.data)[i];
        if (!(s > 0.0f) || s != s || s > 3.0e38f) return false;
    }
    if (wz) {
        if (!wz->has_const || wz->dtype != DF_I8 || df_shape_numel(&wz->shape) != nsc) return false;
        const int8_t *z = wz->value.data;
        for (int64_t i = 0; i < nsc; i++)
            if (z[i]) return false;
    }
    m->w_q = &wq->value;
    m->w_scale = &ws->value;
    return true;
}

/* A constant of N float32 values that broadcasts over the last axis only. */
static bool bias_like(const df_value *b, int64_t N) {
    if (!b || !b->has_const || b->dtype != DF_F32 || df_shape_numel(&b->shape) != N || b->shape.rank < 1) return false;
    return b->shape.dims[b->shape.rank - 1] == N;
}

static bool match_node(const df_graph *g, int ni, const int *readers, qdq_match *m) {
    const df_node *n = &g->nodes[ni];
    memset(m, 0, sizeof *m);
    m->alpha = 1.0f;
    m->beta = 1.0f;
    m->add_node = -1;
    bool gemm = is_op(n, "Gemm");
    if (!gemm && !is_op(n, "MatMul")) return false;
    if (n->n_inputs < 2 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->n_outputs < 1 || n->outputs[0] < 0) return false;
    if (gemm) {
        if (df_attr_int(n, "transA", 0) != 0) return false;
        m->w_trans = df_attr_int(n, "transB", 0) != 0;
        m->alpha = df_attr_float(n, "alpha", 1.0f);
        m->beta = df_attr_float(n, "beta", 1.0f);
        if (!(m->alpha > 0.0f) || m->alpha != m->alpha) return false;
    }
    if (!match_act(g, n->inputs[0], m)) return false;
    if (!match_weight(g, n->inputs[1], m->w_trans ? 0 : 1, m)) return false;
    const df_value *x = &g->values[m->x_q];
    m->K = m->w_q->shape.dims[m->w_trans ? 1 : 0];
    m->N = m->w_q->shape.dims[m->w_trans ? 0 : 1];
    if (x->shape.dims[x->shape.rank - 1] != m->K) return false;
    if (gemm && x->shape.rank != 2) return false;
    if (!gemm && x->shape.rank < 2) return false;
    m->out = n->outputs[0];
    if (gemm && n->n_inputs > 2 && n->inputs[2] >= 0) {
        const df_value *c = &g->values[n->inputs[2]];
        if (!bias_like(c, m->N) || (c->shape.rank == 2 && c->shape.dims[0] != 1)) return false;
        m->bias = &c->value;
    }
    /* A bias Add right after a MatMul (torch exports Linear as MatMul + Add at rank 3). */
    if (!gemm && readers[m->out] == 1 && !g->values[m->out].is_graph_output) {
        int ai = sole_reader(g, m->out);
        const df_node *add = ai >= 0 ? &g->nodes[ai] : NULL;
        if (add && is_op(add, "Add") && add->n_inputs == 2 && add->n_outputs == 1 && add->outputs[0] >= 0) {
            int other = add->inputs[0] == m->out ? add->inputs[1] : add->inputs[0];
            const df_value *b = other >= 0 ? &g->values[other] : NULL;
            const df_value *o = &g->values[add->outputs[0]];
            if (add->inputs[0] != add->inputs[1] && bias_like(b, m->N) && b->shape.rank <= o->shape.rank &&
                o->shape.rank == g->values[m->out].shape.rank) {
                m->bias = &b->value;
                m->add_node = ai;
                m->out = add->outputs[0];
            }
        }
    }
    return true;
}

/* A fresh constant value named base+suffix holding t (ownership taken); -1 on failure. */
static int new_const(df_graph *g, const char *base, const char *suffix, df_tensor *t) {
    char name[512];
    for (int k = 0;; k++) {
        if (k) snprintf(name, sizeof name, "%s%s_%d", base, suffix, k);
        else snprintf(name, sizeof name, "%s%s", base, suffix);
        if (df_graph_find_value(g, name) < 0) break;
    }
    int v = df_graph_value(g, name);
    if (v < 0) return -1;
    df_value *val = &g->values[v];
    val->dtype = t->dtype;
    val->shape = t->shape;
    val->shape_known = true;
    df_value_set_const(val, t);
    return v;
}

static df_status rewrite(df_graph *g, int ni, const qdq_match *m, df_error *err) {
    const int64_t K = m->K, N = m->N;
    df_tensor w = {0}, ws = {0}, b = {0};
    int64_t wd[2] = {K, N}, nd[1] = {N};
    df_shape wshape = df_shape_make(2, wd), nshape = df_shape_make(1, nd);
    df_status st;
    if ((st = df_tensor_alloc(&w, DF_I8, &wshape, err)) || (st = df_tensor_alloc(&ws, DF_F32, &nshape, err)) ||
        (m->bias && (st = df_tensor_alloc(&b, DF_F32, &nshape, err))))
        goto fail;
    const int8_t *src = m->w_q->data;
    int8_t *dst = w.data;
    if (m->w_trans) {
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++) dst[k * N + j] = src[j * K + k];
    } else {
        memcpy(dst, src, (size_t)(K * N));
    }
    const float *sc = m->w_scale->data;
    int64_t nsc = df_shape_numel(&m->w_scale->shape);
    for (int64_t j = 0; j < N; j++) ((float *)ws.data)[j] = sc[nsc == 1 ? 0 : j] * m->alpha;
    if (m->bias)
        for (int64_t j = 0; j < N; j++) ((float *)b.data)[j] = ((const float *)m->bias->data)[j] * m->beta;
    /* Copy names before values may move (df_graph_value can grow the array). */
    char base[400];
    snprintf(base, sizeof base, "%s", g->nodes[ni].name && *g->nodes[ni].name ? g->nodes[ni].name : g->values[m->out].name);
    int vw = new_const(g, base, "_wq", &w);
    int vs = vw >= 0 ? new_const(g, base, "_wscale", &ws) : -1;
    int vb = -1;
    if (vs >= 0 && m->bias) vb = new_const(g, base, "_bias", &b);
    if (vw < 0 || vs < 0 || (m->bias && vb < 0)) {
        st = df_error_set(err, DF_ENOMEM, "node '%s': out of memory", base);
        goto fail;
    }
    int ins[6] = {m->x_q, m->x_scale, m->x_zp, vw, vs, vb};
    int out = m->out;
    char name[440];
    snprintf(name, sizeof name, "%s_qmatmul", base);
    int q = df_graph_add_node(g, "QMatMul", name, "ai.dpuflow", ins, m->bias ? 6 : 5, &out, 1);
    if (q < 0) return df_error_set(err, DF_ENOMEM, "node '%s': out of memory", base);
    g->nodes[q].opset = 1;
    g->nodes[ni].dead = true;
    if (m->add_node >= 0) g->nodes[m->add_node].dead = true;
    return DF_OK;
fail:
    df_tensor_free(&w);
    df_tensor_free(&ws);
    df_tensor_free(&b);
    return st;
}


df_status df_pass_fuse_qdq(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    *count = 0;
    if (o && o->no_int8) return DF_OK;
    int *readers = count_readers(g);
    if (!readers) return df_error_set(err, DF_ENOMEM, "out of memory");
    int n0 = g->n_nodes;
    int *dq_touched = calloc((size_t)(n0 > 0 ? n0 : 1), sizeof *dq_touched);
    if (!dq_touched) {
        free(readers);
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    df_status st = DF_OK;
    for (int i = 0; i < n0; i++) {
        qdq_match m;
        if (!match_node(g, i, readers, &m)) continue;
        /* The value range is the same in either layout; the K % 4 rule is on K itself. */
        if (o && o->int8_qgemm_only &&
            (m.K % 4 || !df_qgemm_takes(m.w_q->shape.dims[0] * m.w_q->shape.dims[1], 1, (const int8_t *)m.w_q->data)))
            continue;
        if ((st = rewrite(g, i, &m, err))) break;
        dq_touched[m.dq_node] = 1;
        (*count)++;
    }
    /* Activation DQs whose every reader was fused are dead now. */
    if (!st && *count) {
        free(readers);
        readers = count_readers(g);
        if (!readers) st = df_error_set(err, DF_ENOMEM, "out of memory");
        for (int i = 0; !st && i < n0; i++) {
            if (!dq_touched[i]) continue;
            df_node *dq = &g->nodes[i];
            if (dq->outputs[0] >= 0 && readers[dq->outputs[0]] == 0) dq->dead = true;
        }
    }
    free(dq_touched);
    free(readers);
    return st;
}

/* Gelu(QMatMul(...)) -> QMatMul(activation = "gelu"): the int8 kernel applies it in its
 * epilogue, saving a pass over the FFN's widest tensor (the FP32 path gets the same from
 * matmul_bias). Runs after the gelu pass has turned the Erf pattern into Gelu. */
static int match_qmm_gelu(df_graph *g, int i, const df_optimize_opts *o, df_error *err) {
    (void)o;
    const df_node *gl = &g->nodes[i];
    if (strcmp(df_attr_string(gl, "approximate", "none"), "none") || gl->n_outputs != 1) return 0;
    int x = gl->inputs[0], p = x >= 0 ? g->values[x].producer : -1;
    if (p < 0 || g->nodes[p].dead || strcmp(g->nodes[p].op_type, "QMatMul") || df_fuse_uses(g, x) != 1) return 0;
    const df_node *q = &g->nodes[p];
    /* A DPU conv (fpga artifact) has no GELU engine: the GELU stays on the CPU side. */
    if (df_node_attr(q, "activation") || df_node_attr(q, "dpu_subgraph") ||
        strcmp(df_attr_string(q, "round_mode", "onnx"), "onnx"))
        return 0;
    if (df_fuse_attr_string(g, p, "activation", "gelu", err)) return -1;
    int y = g->nodes[i].outputs[0];
    g->nodes[p].outputs[0] = y;
    g->values[y].producer = p;
    df_fuse_kill(g, i);
    return 1;
}

df_status df_pass_qmatmul_gelu(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "Gelu", 1, match_qmm_gelu, o, count, err);
}

/* A per-tensor quantization's (dtype, zero point): an absent zero point is uint8 0, as
 * QuantizeLinear's output type and DequantizeLinear's default say. */
static bool q_params(const df_graph *g, int scale_v, int zp_v, float *scale, df_dtype *dt, int32_t *zp) {
    if (scale_v < 0 || !one_const(&g->values[scale_v], DF_F32)) return false;
    *scale = ((const float *)g->values[scale_v].value.data)[0];
    if (zp_v < 0) {
        *dt = DF_U8;
        *zp = 0;
        return true;
    }
    const df_value *z = &g->values[zp_v];
    if (one_const(z, DF_U8)) *zp = ((const uint8_t *)z->value.data)[0];
    else if (one_const(z, DF_I8)) *zp = ((const int8_t *)z->value.data)[0];
    else return false;
    *dt = z->dtype;
    return true;
}

/* QuantizeLinear(x) read by one QMatMul only (as its x_q, with the same scale and zero point)
 * -> that QMatMul reads x and quantizes it itself (ops/qmatmul.c): the AVX2 kernel then gets
 * its bytes from one pass over the floats instead of a QuantizeLinear node plus a scan of its
 * output. Results are identical: the node quantizes exactly as QuantizeLinear does. An
 * activation with several QMatMul readers (unfused Q, K, V) keeps its QuantizeLinear, so it
 * is still quantized once; DPU-mode QMatMuls (fpga artifacts) keep theirs too. */
static int match_qmm_quantize(df_graph *g, int i, const df_optimize_opts *o, df_error *err) {
    (void)o, (void)err;
    const df_node *q = &g->nodes[i];
    if (q->n_inputs < 2 || q->n_outputs != 1 || q->inputs[0] < 0 || q->outputs[0] < 0) return 0;
    const int x = q->inputs[0], y = q->outputs[0];
    const df_value *xv = &g->values[x];
    if (xv->dtype != DF_F32 || xv->has_const || g->values[y].is_graph_output) return 0;
    float scale;
    df_dtype dt;
    int32_t zp;
    if (!q_params(g, q->inputs[1], q->n_inputs > 2 ? q->inputs[2] : -1, &scale, &dt, &zp)) return 0;
    int readers = 0;
    for (int k = 0; k < g->n_nodes; k++) {
        const df_node *r = &g->nodes[k];
        if (r->dead) continue;
        for (int j = 0; j < r->n_inputs; j++) {
            if (r->inputs[j] != y) continue;
            if (j != 0 || strcmp(r->op_type, "QMatMul") || df_node_attr(r, "dpu_subgraph") ||
                strcmp(df_attr_string(r, "round_mode", "onnx"), "onnx"))
                return 0;
            float rs;
            df_dtype rdt;
            int32_t rzp;
            if (!q_params(g, r->inputs[1], r->n_inputs > 2 ? r->inputs[2] : -1, &rs, &rdt, &rzp) || rs != scale ||
                rdt != dt || rzp != zp)
                return 0;
            readers++;
        }
    }
    const int user = readers == 1 ? df_fuse_sole_user(g, y, NULL) : -1; /* QMatMul is not default-domain */
    if (user < 0) return 0;
    g->nodes[user].inputs[0] = x;
    df_fuse_kill(g, i);
    return 1;
}

df_status df_pass_qmatmul_quantize(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "QuantizeLinear", 0, match_qmm_quantize, o, count, err);
}
