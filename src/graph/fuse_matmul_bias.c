/* MatMul with a constant [K,N] weight, then Add of a constant [N] bias (either operand order,
 * as torch writes `bias + x @ W`), optionally then Gelu (from fuse_gelu.c) -> one MatMulBias
 * (ai.dpuflow) with oneDNN's bias and gelu post-ops. Runs after the attention pass, which
 * takes the Q/K/V projections for itself. */
#include <stdio.h>
#include <string.h>

#include "graph/fuse_util.h"

static int match_one(df_graph *g, int mi, const df_optimize_opts *o, df_error *err) {
    (void)o;
    const df_node *mm = &g->nodes[mi];
    if (mm->n_inputs != 2 || mm->n_outputs != 1) return 0;
    int a = mm->inputs[0], w = mm->inputs[1];
    if (a < 0 || w < 0) return 0;
    const df_value *av = &g->values[a], *wv = &g->values[w];
    if (av->dtype != DF_F32 || av->has_const || av->shape.rank < 2 || !wv->has_const || wv->dtype != DF_F32 ||
        wv->shape.rank != 2 || av->shape.dims[av->shape.rank - 1] != wv->shape.dims[0])
        return 0;
    int64_t N = wv->shape.dims[1];
    int y = mm->outputs[0];
    int ad = df_fuse_sole_user(g, y, "Add");
    if (ad < 0) return 0;
    int b = df_fuse_other(&g->nodes[ad], y);
    if (b < 0 || b == y || !g->values[b].has_const || g->values[b].dtype != DF_F32 ||
        df_shape_numel(&g->values[b].shape) != N || g->values[b].shape.dims[g->values[b].shape.rank - 1] != N ||
        g->values[b].shape.rank > g->values[y].shape.rank)
        return 0;
    int out = g->nodes[ad].outputs[0];
    const char *act = "";
    int ge = df_fuse_sole_user(g, out, "Gelu");
    if (ge >= 0) {
        const char *ap = df_attr_string(&g->nodes[ge], "approximate", "none");
        act = !strcmp(ap, "tanh") ? "gelu_tanh" : !strcmp(ap, "none") ? "gelu" : NULL;
        if (!act) {
            act = "";
            ge = -1;
        } else {
            out = g->nodes[ge].outputs[0];
        }
    }
    char name[256];
    snprintf(name, sizeof name, "%s_Bias%s", g->nodes[mi].name, ge >= 0 ? "Gelu" : "");
    int ins[3] = {a, w, b};
    int nn = df_fuse_add_node(g, "MatMulBias", DF_FUSED_DOMAIN, name, ins, 3, &out, 1, err);
    if (nn < 0) return -1;
    if (act[0] && df_fuse_attr_string(g, nn, "activation", act, err)) return -1;
    df_fuse_kill(g, mi);
    df_fuse_kill(g, ad);
    df_fuse_kill(g, ge);
    return 1;
}

df_status df_pass_matmul_bias(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "MatMul", 0, match_one, o, count, err);
}
