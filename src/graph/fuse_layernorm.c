/* LayerNorm as torch.onnx.export writes it below opset 17 (BertLayerNorm / nn.LayerNorm):
 *   m = ReduceMean(x, -1); d = x - m; v = ReduceMean(d^2, -1); y = d / sqrt(v + eps)
 *   out = y * gamma + beta
 * becomes one ONNX LayerNormalization(axis=-1, epsilon=eps): one pass over each row instead
 * of nine. The statistics match (population variance, eps inside the root). */
#include <stdio.h>
#include <string.h>

#include "graph/fuse_util.h"

/* Finds the constant operand of a binary node whose other operand is v: a float32 vector of
 * exactly cols values (a [cols] or [1,..,cols] tensor). */
static int affine_param(const df_graph *g, const df_node *n, int v, int64_t cols) {
    int p = df_fuse_other(n, v);
    if (p < 0 || p == v || !g->values[p].has_const || g->values[p].dtype != DF_F32) return -1;
    const df_shape *s = &g->values[p].shape;
    if (s->rank < 1 || s->dims[s->rank - 1] != cols || df_shape_numel(s) != cols) return -1;
    return p;
}

static int match_one(df_graph *g, int r1, const df_optimize_opts *o, df_error *err) {
    (void)o;
    const df_node *n1 = &g->nodes[r1];
    if (n1->n_inputs < 1 || n1->n_outputs != 1) return 0;
    int x = n1->inputs[0];
    const df_value *xv = &g->values[x];
    if (x < 0 || xv->dtype != DF_F32 || !xv->shape_known || xv->shape.rank < 1 || xv->has_const) return 0;
    int rank = xv->shape.rank;
    int64_t cols = xv->shape.dims[rank - 1];
    if (!df_fuse_reduce_last_axis(g, n1, rank)) return 0;
    int m = n1->outputs[0];
    int sub = df_fuse_sole_user(g, m, "Sub");
    if (sub < 0 || g->nodes[sub].inputs[0] != x || g->nodes[sub].inputs[1] != m) return 0;
    int d = g->nodes[sub].outputs[0];
    /* d feeds exactly Pow and Div. */
    if (df_fuse_uses(g, d) != 2) return 0;
    int pw = -1, dv = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead || n->n_inputs < 1 || n->inputs[0] != d || n->domain[0]) continue;
        if (!strcmp(n->op_type, "Pow")) pw = i;
        else if (!strcmp(n->op_type, "Div")) dv = i;
    }
    if (pw < 0 || dv < 0 || g->nodes[pw].n_inputs != 2 || !df_fuse_scalar_is(g, g->nodes[pw].inputs[1], 2.0f, 0.0f))
        return 0;
    int r2 = df_fuse_sole_user(g, g->nodes[pw].outputs[0], "ReduceMean");
    if (r2 < 0 || !df_fuse_reduce_last_axis(g, &g->nodes[r2], rank)) return 0;
    int v = g->nodes[r2].outputs[0];
    int ad = df_fuse_sole_user(g, v, "Add");
    float eps;
    if (ad < 0 || !df_fuse_scalar(g, df_fuse_other(&g->nodes[ad], v), &eps) || !(eps >= 0.0f)) return 0;
    int sq = df_fuse_sole_user(g, g->nodes[ad].outputs[0], "Sqrt");
    if (sq < 0) return 0;
    if (g->nodes[dv].n_inputs != 2 || g->nodes[dv].inputs[1] != g->nodes[sq].outputs[0] ||
        df_fuse_sole_user(g, g->nodes[sq].outputs[0], "Div") != dv)
        return 0;
    /* Optional affine part: Mul(gamma) then Add(beta), either operand order. */
    int y = g->nodes[dv].outputs[0], out = y, gamma = -1, beta = -1, mul = -1, add = -1;
    mul = df_fuse_sole_user(g, y, "Mul");
    if (mul >= 0 && (gamma = affine_param(g, &g->nodes[mul], y, cols)) >= 0) {
        out = g->nodes[mul].outputs[0];
        add = df_fuse_sole_user(g, out, "Add");
        if (add >= 0 && (beta = affine_param(g, &g->nodes[add], out, cols)) >= 0) out = g->nodes[add].outputs[0];
        else add = -1;
    } else {
        mul = -1;
    }
    int ins[3] = {x, gamma, beta};
    if (gamma < 0) {
        /* LayerNormalization needs Scale: ones. */
        df_tensor t = {0};
        df_shape s = {.rank = 1, .dims = {cols}};
        if (df_tensor_alloc(&t, DF_F32, &s, err)) return -1;
        for (int64_t c = 0; c < cols; c++) ((float *)t.data)[c] = 1.0f;
        if ((ins[1] = df_fuse_new_const(g, "ln_ones", &t)) < 0) return -1;
    }
    char name[256];
    snprintf(name, sizeof name, "%s_LayerNorm", g->nodes[r1].name);
    int nn = df_fuse_add_node(g, "LayerNormalization", "", name, ins, beta >= 0 ? 3 : 2, &out, 1, err);
    if (nn < 0) return -1;
    if (df_fuse_attr_int(g, nn, "axis", -1, err) || df_fuse_attr_float(g, nn, "epsilon", eps, err)) return -1;
    const int dead[] = {r1, sub, pw, r2, ad, sq, dv, mul, add};
    for (size_t k = 0; k < sizeof dead / sizeof dead[0]; k++) df_fuse_kill(g, dead[k]);
    return 1;
}

df_status df_pass_layernorm(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "ReduceMean", 0, match_one, o, count, err);
}
