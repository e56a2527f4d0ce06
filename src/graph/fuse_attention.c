/* BERT self-attention as torch.onnx.export writes it (opsets 11-17), after folding:
 *   q = Transpose(Reshape(Add(MatMul(X, Wq), bq), [B,S,nh,d]), [0,2,1,3])
 *   k = Transpose(Reshape(Add(MatMul(X, Wk), bk), [B,S,nh,d]), [0,2,3,1])   (or [0,2,1,3] then [0,1,3,2])
 *   v = Transpose(Reshape(Add(MatMul(X, Wv), bv), [B,S,nh,d]), [0,2,1,3])
 *   p = Softmax(Div(MatMul(q, k), c) [+ mask bias M [B|1,1,1,S]], axis=-1)   (or Mul by 1/c)
 *   Y = Reshape(Transpose(MatMul(p, v), [0,2,1,3]), [B,S,nh*d])
 * -> Attention(X, [Wq|Wk|Wv], [bq|bk|bv], M) (ai.dpuflow). In an INT8 graph fuse_qdq has already
 * made each projection a QMatMul(x_q, ..., W, w_scale, bias); when the three share x_q they
 * merge into one QMatMul over [Wq|Wk|Wv] and AttentionCore(QKV, M) does the rest, so the
 * projections stay int8 and the attention still runs as one blocked kernel. The mask bias stays a graph value:
 * the exporter's Unsqueeze/Cast/Sub/Mul that build it from attention_mask run once per model
 * on B*S elements and are shared by every layer; the op reads it as one row per batch. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "graph/fuse_util.h"

typedef struct proj {
    int w, b;                /* constant weight [H,A] and bias [A] */
    int qmm;                 /* the projection's QMatMul node (int8), or -1 (float MatMul + Add) */
    int dead[5], ndead;
} proj;

/* An int8 projection fuse_qdq made: QMatMul(x_q, x_scale, x_zp, W_q [H,A], w_scale, bias [A]),
 * plain (no activation, not a DPU conv). */
static bool qmm_proj(const df_graph *g, int node, int64_t A) {
    const df_node *q = &g->nodes[node];
    if (q->dead || strcmp(q->op_type, "QMatMul") || !q->domain || strcmp(q->domain, DF_FUSED_DOMAIN) ||
        q->n_inputs != 6 || df_node_attr(q, "activation") || df_node_attr(q, "dpu_subgraph") ||
        df_node_attr(q, "round_mode"))
        return false;
    const df_value *w = df_node_in(g, q, 3), *ws = df_node_in(g, q, 4), *b = df_node_in(g, q, 5);
    return w && w->has_const && w->dtype == DF_I8 && w->shape.rank == 2 && w->shape.dims[1] == A && ws &&
           ws->has_const && ws->dtype == DF_F32 && (df_shape_numel(&ws->shape) == 1 || df_shape_numel(&ws->shape) == A) &&
           b && b->has_const && b->dtype == DF_F32 && df_shape_numel(&b->shape) == A;
}

static bool perm_is(const df_node *n, const int64_t *p) {
    size_t c = 0;
    const int64_t *a = df_attr_ints(n, "perm", &c);
    if (!a || c != 4) return false;
    for (int i = 0; i < 4; i++)
        if (a[i] != p[i]) return false;
    return true;
}

/* Walks back from value v through Reshape([B,S,nh,d]) <- Add(bias) <- MatMul(X, W). */
static bool match_proj(const df_graph *g, int v, int reader, int *x, const df_shape *hs, proj *pr) {
    if (df_fuse_sole_user(g, v, NULL) != reader) return false;
    int rs = df_fuse_producer(g, v, "Reshape");
    if (rs < 0 || !df_fuse_same_shape(&g->values[v].shape, hs)) return false;
    int a = g->nodes[rs].inputs[0];
    if (df_fuse_sole_user(g, a, "Reshape") != rs) return false;
    int64_t A_ = hs->dims[2] * hs->dims[3];
    int qp = g->values[a].producer;
    if (qp >= 0 && qmm_proj(g, qp, A_)) {
        const df_node *q = &g->nodes[qp];
        int xi = q->inputs[0];
        const df_value *xv = &g->values[xi];
        if ((*x >= 0 && xi != *x) || xv->shape.rank != 3 || xv->shape.dims[0] != hs->dims[0] ||
            xv->shape.dims[1] != hs->dims[1] || df_node_in(g, q, 3)->shape.dims[0] != xv->shape.dims[2])
            return false;
        *x = xi;
        pr->qmm = qp;
        pr->dead[pr->ndead++] = rs;
        pr->dead[pr->ndead++] = qp;
        return true;
    }
    pr->qmm = -1;
    int ad = df_fuse_producer(g, a, "Add");
    if (ad < 0) return false;
    const df_node *an = &g->nodes[ad];
    int mm = -1, bias = -1;
    for (int k = 0; k < 2 && an->n_inputs == 2; k++) {
        int m = df_fuse_producer(g, an->inputs[k], "MatMul");
        if (m >= 0 && df_fuse_sole_user(g, an->inputs[k], "Add") == ad) {
            mm = m;
            bias = an->inputs[1 - k];
        }
    }
    if (mm < 0 || bias < 0) return false;
    const df_node *mn = &g->nodes[mm];
    int xi = mn->inputs[0], w = mn->inputs[1];
    if (xi < 0 || w < 0 || (*x >= 0 && xi != *x)) return false;
    const df_value *wv = &g->values[w], *bv = &g->values[bias], *xv = &g->values[xi];
    int64_t A = hs->dims[2] * hs->dims[3];
    if (xv->dtype != DF_F32 || xv->shape.rank != 3 || xv->shape.dims[0] != hs->dims[0] ||
        xv->shape.dims[1] != hs->dims[1] || !wv->has_const || wv->dtype != DF_F32 || wv->shape.rank != 2 ||
        wv->shape.dims[0] != xv->shape.dims[2] || wv->shape.dims[1] != A || !bv->has_const || bv->dtype != DF_F32 ||
        bv->shape.rank != 1 || bv->shape.dims[0] != A)
        return false;
    *x = xi;
    pr->w = w;
    pr->b = bias;
    pr->dead[pr->ndead++] = rs;
    pr->dead[pr->ndead++] = ad;
    pr->dead[pr->ndead++] = mm;
    return true;
}

/* The fused node (Attention or AttentionCore, named after the Softmax node si) with its
 * num_heads and scale, and the matched nodes it replaces marked dead: 1, or -1 with err set. */
static int add_fused(df_graph *g, const char *op, int si, const int *ins, int n_in, int out, int64_t nh, float scale,
                     const int *dead, int nd, const proj *const pp[3], df_error *err) {
    char name[256];
    snprintf(name, sizeof name, "%s_%s", g->nodes[si].name, op);
    int nn = df_fuse_add_node(g, op, DF_FUSED_DOMAIN, name, ins, n_in, &out, 1, err);
    if (nn < 0 || df_fuse_attr_int(g, nn, "num_heads", nh, err) || df_fuse_attr_float(g, nn, "scale", scale, err))
        return -1;
    for (int k = 0; k < nd; k++) df_fuse_kill(g, dead[k]);
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < pp[t]->ndead; k++) df_fuse_kill(g, pp[t]->dead[k]);
    return 1;
}

/* The int8 form: one QMatMul over [Wq|Wk|Wv] (per-column scales, biases concatenated) into a
 * fresh QKV value, then AttentionCore. The three must share x_q's scale and zero point. */
static int fuse_int8(df_graph *g, int si, const proj *const pp[3], int x, int64_t H, int64_t A, int64_t B, int64_t S,
                     int64_t nh, float scale, int mask, int out, const int *dead, int nd, df_error *err) {
    const df_node *q0 = &g->nodes[pp[0]->qmm];
    for (int t = 1; t < 3; t++) {
        const df_node *qt = &g->nodes[pp[t]->qmm];
        if (qt->inputs[1] != q0->inputs[1] || qt->inputs[2] != q0->inputs[2]) return 0;
    }
    df_tensor w = {0}, ws = {0}, b = {0};
    df_shape wsh = {.rank = 2, .dims = {H, 3 * A}}, vsh = {.rank = 1, .dims = {3 * A}};
    if (df_tensor_alloc(&w, DF_I8, &wsh, err) || df_tensor_alloc(&ws, DF_F32, &vsh, err) ||
        df_tensor_alloc(&b, DF_F32, &vsh, err)) {
        df_tensor_free(&w);
        df_tensor_free(&ws);
        return -1;
    }
    int8_t *wd = w.data;
    float *sd = ws.data, *bd = b.data;
    for (int t = 0; t < 3; t++) {
        const df_node *qt = &g->nodes[pp[t]->qmm];
        const df_value *wt = df_node_in(g, qt, 3), *st = df_node_in(g, qt, 4), *bt = df_node_in(g, qt, 5);
        const int8_t *src = wt->value.data;
        for (int64_t r = 0; r < H; r++) memcpy(wd + r * 3 * A + t * A, src + r * A, (size_t)A);
        bool per_tensor = df_shape_numel(&st->shape) == 1;
        for (int64_t j = 0; j < A; j++) sd[t * A + j] = ((const float *)st->value.data)[per_tensor ? 0 : j];
        memcpy(bd + t * A, bt->value.data, (size_t)A * sizeof(float));
    }
    int wv = df_fuse_new_const(g, "attn_qkv_weight_q", &w);
    int sv = wv < 0 ? -1 : df_fuse_new_const(g, "attn_qkv_weight_scale", &ws);
    int bv = sv < 0 ? -1 : df_fuse_new_const(g, "attn_qkv_bias", &b);
    int qkv = bv < 0 ? -1 : df_fuse_new_value(g, "attn_qkv");
    if (qkv < 0) {
        df_tensor_free(&w);
        df_tensor_free(&ws);
        df_tensor_free(&b);
        return df_error_set(err, DF_ENOMEM, "out of memory packing attention weights"), -1;
    }
    /* Later passes in this round read shapes before the final re-inference. */
    g->values[qkv].dtype = DF_F32;
    g->values[qkv].shape = (df_shape){.rank = 3, .dims = {B, S, 3 * A}};
    g->values[qkv].shape_known = true;
    char name[256];
    snprintf(name, sizeof name, "%s_QKV", g->nodes[si].name);
    const df_node *q = &g->nodes[pp[0]->qmm];
    int qin[6] = {x, q->inputs[1], q->inputs[2], wv, sv, bv};
    int qn = df_fuse_add_node(g, "QMatMul", DF_FUSED_DOMAIN, name, qin, 6, &qkv, 1, err);
    if (qn < 0) return -1;
    int cin[2] = {qkv, mask};
    return add_fused(g, "AttentionCore", si, cin, mask >= 0 ? 2 : 1, out, nh, scale, dead, nd, pp, err);
}

static int match_one(df_graph *g, int si, const df_optimize_opts *o, df_error *err) {
    (void)o;
    static const int64_t P0213[4] = {0, 2, 1, 3}, P0231[4] = {0, 2, 3, 1}, P0132[4] = {0, 1, 3, 2};
    const df_node *sm = &g->nodes[si];
    int sv = sm->inputs[0];
    const df_value *svv = &g->values[sv];
    if (svv->dtype != DF_F32 || svv->shape.rank != 4) return 0;
    int64_t axis = df_attr_int(sm, "axis", sm->opset >= 13 ? -1 : 1);
    if (axis != -1 && axis != 3) return 0;
    const int64_t B = svv->shape.dims[0], nh = svv->shape.dims[1], S = svv->shape.dims[2];
    if (svv->shape.dims[3] != S) return 0;
    int dead[24], nd = 0;
    dead[nd++] = si;
    /* scores [+ mask] */
    int scaled = sv, mask = -1;
    int ad = df_fuse_producer(g, sv, "Add");
    if (ad >= 0) {
        if (df_fuse_sole_user(g, sv, "Softmax") != si || g->nodes[ad].n_inputs != 2) return 0;
        for (int k = 0; k < 2; k++) {
            int c = g->nodes[ad].inputs[k];
            /* The scaled scores: a Div/Mul of a MatMul (the mask bias is often a Mul too). */
            int sp = df_fuse_producer(g, c, "Div");
            if (sp < 0) sp = df_fuse_producer(g, c, "Mul");
            if (sp >= 0 && df_fuse_producer(g, g->nodes[sp].inputs[0], "MatMul") >= 0) {
                scaled = c;
                mask = g->nodes[ad].inputs[1 - k];
                break;
            }
        }
        if (mask < 0) return 0;
        const df_value *mv = &g->values[mask];
        if (mv->dtype != DF_F32 || mv->shape.rank != 4 || (mv->shape.dims[0] != 1 && mv->shape.dims[0] != B) ||
            mv->shape.dims[1] != 1 || mv->shape.dims[2] != 1 || mv->shape.dims[3] != S)
            return 0;
        dead[nd++] = ad;
    }
    int reader = ad >= 0 ? ad : si;
    if (df_fuse_sole_user(g, scaled, NULL) != reader) return 0;
    float c, scale;
    int sc = df_fuse_producer(g, scaled, "Div");
    if (sc >= 0 && df_fuse_scalar(g, g->nodes[sc].inputs[1], &c) && c != 0.0f) {
        scale = 1.0f / c;
    } else if ((sc = df_fuse_producer(g, scaled, "Mul")) >= 0 &&
               df_fuse_scalar(g, g->nodes[sc].inputs[1], &c)) {
        scale = c;
    } else {
        return 0;
    }
    dead[nd++] = sc;
    int qk = df_fuse_producer(g, g->nodes[sc].inputs[0], "MatMul");
    if (qk < 0 || df_fuse_sole_user(g, g->nodes[sc].inputs[0], NULL) != sc) return 0;
    dead[nd++] = qk;
    /* q and k^T */
    int qt = df_fuse_producer(g, g->nodes[qk].inputs[0], "Transpose");
    int kt = df_fuse_producer(g, g->nodes[qk].inputs[1], "Transpose");
    if (qt < 0 || kt < 0 || !perm_is(&g->nodes[qt], P0213) ||
        df_fuse_sole_user(g, g->nodes[qk].inputs[0], NULL) != qk || df_fuse_sole_user(g, g->nodes[qk].inputs[1], NULL) != qk)
        return 0;
    dead[nd++] = qt;
    dead[nd++] = kt;
    int kr_v;
    if (perm_is(&g->nodes[kt], P0231)) {
        kr_v = g->nodes[kt].inputs[0];
    } else if (perm_is(&g->nodes[kt], P0132)) {
        int k2 = df_fuse_producer(g, g->nodes[kt].inputs[0], "Transpose");
        if (k2 < 0 || !perm_is(&g->nodes[k2], P0213) || df_fuse_sole_user(g, g->nodes[kt].inputs[0], NULL) != kt) return 0;
        dead[nd++] = k2;
        kr_v = g->nodes[k2].inputs[0];
        kt = k2;
    } else {
        return 0;
    }
    /* head shape from q's reshape */
    const df_shape *hs = &g->values[g->nodes[qt].inputs[0]].shape;
    if (hs->rank != 4 || hs->dims[0] != B || hs->dims[1] != S || hs->dims[2] != nh) return 0;
    int x = -1;
    proj pq = {0}, pk = {0}, pv = {0};
    if (!match_proj(g, g->nodes[qt].inputs[0], qt, &x, hs, &pq) || !match_proj(g, kr_v, kt, &x, hs, &pk)) return 0;
    /* probabilities times v */
    int p = sm->outputs[0];
    int pvm = df_fuse_sole_user(g, p, "MatMul");
    if (pvm < 0 || g->nodes[pvm].inputs[0] != p) return 0;
    int vt = df_fuse_producer(g, g->nodes[pvm].inputs[1], "Transpose");
    if (vt < 0 || !perm_is(&g->nodes[vt], P0213) || df_fuse_sole_user(g, g->nodes[pvm].inputs[1], NULL) != pvm ||
        !match_proj(g, g->nodes[vt].inputs[0], vt, &x, hs, &pv))
        return 0;
    dead[nd++] = pvm;
    dead[nd++] = vt;
    int ot = df_fuse_sole_user(g, g->nodes[pvm].outputs[0], "Transpose");
    if (ot < 0 || !perm_is(&g->nodes[ot], P0213)) return 0;
    int orr = df_fuse_sole_user(g, g->nodes[ot].outputs[0], "Reshape");
    if (orr < 0) return 0;
    int out = g->nodes[orr].outputs[0];
    const int64_t d = hs->dims[3], A = nh * d, H = g->values[x].shape.dims[2];
    const df_shape *os = &g->values[out].shape;
    if (os->rank != 3 || os->dims[0] != B || os->dims[1] != S || os->dims[2] != A) return 0;
    dead[nd++] = ot;
    dead[nd++] = orr;
    if (pq.qmm >= 0 || pk.qmm >= 0 || pv.qmm >= 0) {
        if (pq.qmm < 0 || pk.qmm < 0 || pv.qmm < 0) return 0;
        return fuse_int8(g, si, (const proj *[3]){&pq, &pk, &pv}, x, H, A, B, S, nh, scale, mask, out, dead, nd, err);
    }
    /* Packed weights: row r of W is [Wq[r,:] | Wk[r,:] | Wv[r,:]]. */
    df_tensor w = {0}, b = {0};
    df_shape ws = {.rank = 2, .dims = {H, 3 * A}}, bs = {.rank = 1, .dims = {3 * A}};
    if (df_tensor_alloc(&w, DF_F32, &ws, err) || df_tensor_alloc(&b, DF_F32, &bs, err)) {
        df_tensor_free(&w);
        return -1;
    }
    const proj *pp[3] = {&pq, &pk, &pv};
    float *wd = w.data, *bd = b.data;
    for (int t = 0; t < 3; t++) {
        const float *src = g->values[pp[t]->w].value.data, *bsrc = g->values[pp[t]->b].value.data;
        for (int64_t r = 0; r < H; r++) memcpy(wd + r * 3 * A + t * A, src + r * A, (size_t)A * sizeof(float));
        memcpy(bd + t * A, bsrc, (size_t)A * sizeof(float));
    }
    int wv = df_fuse_new_const(g, "attn_qkv_weight", &w);
    int bv = wv < 0 ? -1 : df_fuse_new_const(g, "attn_qkv_bias", &b);
    if (wv < 0 || bv < 0) {
        df_tensor_free(&b);
        return df_error_set(err, DF_ENOMEM, "out of memory packing attention weights"), -1;
    }
    int ins[4] = {x, wv, bv, mask};
    return add_fused(g, "Attention", si, ins, mask >= 0 ? 4 : 3, out, nh, scale, dead, nd, pp, err);
}

df_status df_pass_attention(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "Softmax", 1, match_one, o, count, err);
}
