/* Residual Add + LayerNormalization(axis=-1) -> SkipLayerNormalization (ai.dpuflow): the sum
 * is normalized while it is still in registers instead of going through memory. Only when
 * both addends are runtime tensors of the output's exact shape and the sum has no other
 * reader; the LayerNorm must not export its optional mean/inv-std outputs. */
#include <stdio.h>
#include <string.h>

#include "graph/fuse_util.h"

static int match_one(df_graph *g, int li, const df_optimize_opts *o, df_error *err) {
    (void)o;
    const df_node *ln = &g->nodes[li];
    if (ln->n_inputs != 3 || ln->inputs[1] < 0 || ln->inputs[2] < 0) return 0;
    for (int k = 1; k < ln->n_outputs; k++)
        if (ln->outputs[k] >= 0) return 0;
    int x = ln->inputs[0];
    const df_value *xv = &g->values[x];
    if (xv->dtype != DF_F32 || xv->shape.rank < 1) return 0;
    int64_t axis = df_attr_int(ln, "axis", -1);
    if (axis != -1 && axis != xv->shape.rank - 1) return 0;
    int64_t cols = xv->shape.dims[xv->shape.rank - 1];
    for (int k = 1; k < 3; k++) {
        const df_value *p = &g->values[ln->inputs[k]];
        if (p->dtype != DF_F32 || df_shape_numel(&p->shape) != cols) return 0;
    }
    if (df_attr_int(ln, "stash_type", 1) != 1) return 0;
    int ad = df_fuse_producer(g, x, "Add");
    if (ad < 0 || df_fuse_sole_user(g, x, "LayerNormalization") != li) return 0;
    int a = g->nodes[ad].inputs[0], b = g->nodes[ad].inputs[1];
    if (a < 0 || b < 0) return 0;
    const df_value *av = &g->values[a], *bv = &g->values[b];
    if (av->has_const || bv->has_const || av->dtype != DF_F32 || bv->dtype != DF_F32 ||
        !df_fuse_same_shape(&av->shape, &xv->shape) || !df_fuse_same_shape(&bv->shape, &xv->shape))
        return 0;
    char name[256];
    snprintf(name, sizeof name, "%s_Skip", ln->name);
    int ins[4] = {a, b, ln->inputs[1], ln->inputs[2]};
    int out = ln->outputs[0];
    float eps = df_attr_float(ln, "epsilon", 1e-5f);
    int nn = df_fuse_add_node(g, "SkipLayerNormalization", DF_FUSED_DOMAIN, name, ins, 4, &out, 1, err);
    if (nn < 0 || df_fuse_attr_float(g, nn, "epsilon", eps, err)) return -1;
    df_fuse_kill(g, ad);
    df_fuse_kill(g, li);
    return 1;
}

df_status df_pass_skip_layernorm(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "LayerNormalization", 0, match_one, o, count, err);
}
