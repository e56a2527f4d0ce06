/* Embeddings: LayerNormalization(axis=-1) of a sum of Gathers from constant tables (word,
 * token type, and position when its ids are runtime, as XLM-R's are) plus dense terms (a
 * position or token-type Gather whose ids were constant has been folded into a constant
 * [1,S,H]) -> one EmbedLayerNormalization (ai.dpuflow) that writes each row once.
 * Every Add and Gather taken must have the sum as its only reader; at least one Gather. */
#include <stdio.h>
#include <string.h>

#include "graph/fuse_util.h"

#define MAX_TERMS 8

typedef struct terms {
    int gidx[MAX_TERMS], gtab[MAX_TERMS], ng;
    int dense[MAX_TERMS], nd;
    int dead[2 * MAX_TERMS], ndead;
    const df_shape *out;
} terms;

static bool gather_term(const df_graph *g, int v, terms *t) {
    int gi = df_fuse_producer(g, v, "Gather");
    if (gi < 0 || df_attr_int(&g->nodes[gi], "axis", 0) != 0 || g->nodes[gi].n_inputs != 2) return false;
    int tab = g->nodes[gi].inputs[0], idx = g->nodes[gi].inputs[1];
    const df_value *tv = &g->values[tab], *iv = &g->values[idx];
    if (!tv->has_const || tv->dtype != DF_F32 || tv->shape.rank != 2 || iv->has_const ||
        (iv->dtype != DF_I64 && iv->dtype != DF_I32) || iv->shape.rank + 1 != t->out->rank)
        return false;
    for (int d = 0; d < iv->shape.rank; d++)
        if (iv->shape.dims[d] != t->out->dims[d]) return false;
    if (t->ng == MAX_TERMS) return false;
    t->gidx[t->ng] = idx;
    t->gtab[t->ng++] = tab;
    t->dead[t->ndead++] = gi;
    return true;
}

static bool collect(const df_graph *g, int v, int reader, terms *t, int depth) {
    if (depth > MAX_TERMS) return false;
    int ad = df_fuse_producer(g, v, "Add");
    if (ad >= 0 && df_fuse_sole_user(g, v, NULL) == reader && !g->values[v].has_const &&
        df_fuse_same_shape(&g->values[v].shape, t->out)) {
        t->dead[t->ndead++] = ad;
        const df_node *n = &g->nodes[ad];
        if (n->n_inputs != 2) return false;
        return collect(g, n->inputs[0], ad, t, depth + 1) && collect(g, n->inputs[1], ad, t, depth + 1);
    }
    if (df_fuse_sole_user(g, v, NULL) == reader && gather_term(g, v, t)) return true;
    const df_value *x = &g->values[v];
    if (x->dtype != DF_F32 || x->shape.rank != t->out->rank || t->nd == MAX_TERMS) return false;
    for (int d = 0; d < x->shape.rank; d++)
        if (x->shape.dims[d] != 1 && x->shape.dims[d] != t->out->dims[d]) return false;
    if (x->shape.dims[x->shape.rank - 1] != t->out->dims[t->out->rank - 1]) return false;
    t->dense[t->nd++] = v;
    return true;
}

static int match_one(df_graph *g, int li, const df_optimize_opts *o, df_error *err) {
    (void)o;
    const df_node *ln = &g->nodes[li];
    if (ln->n_inputs != 3 || ln->inputs[1] < 0 || ln->inputs[2] < 0) return 0;
    for (int k = 1; k < ln->n_outputs; k++)
        if (ln->outputs[k] >= 0) return 0;
    int x = ln->inputs[0];
    const df_value *xv = &g->values[x];
    if (xv->dtype != DF_F32 || xv->shape.rank < 2 || df_attr_int(ln, "stash_type", 1) != 1) return 0;
    int64_t axis = df_attr_int(ln, "axis", -1), cols = xv->shape.dims[xv->shape.rank - 1];
    if (axis != -1 && axis != xv->shape.rank - 1) return 0;
    for (int k = 1; k < 3; k++)
        if (g->values[ln->inputs[k]].dtype != DF_F32 || df_shape_numel(&g->values[ln->inputs[k]].shape) != cols)
            return 0;
    terms t = {.out = &xv->shape};
    if (df_fuse_producer(g, x, "Add") < 0 || !collect(g, x, li, &t, 0) || t.ng < 1) return 0;
    for (int k = 0; k < t.ng; k++)
        if (g->values[t.gtab[k]].shape.dims[1] != cols) return 0;
    int ins[2 + 3 * MAX_TERMS], ni = 0;
    ins[ni++] = ln->inputs[1];
    ins[ni++] = ln->inputs[2];
    for (int k = 0; k < t.ng; k++) {
        ins[ni++] = t.gidx[k];
        ins[ni++] = t.gtab[k];
    }
    for (int k = 0; k < t.nd; k++) ins[ni++] = t.dense[k];
    char name[256];
    snprintf(name, sizeof name, "%s_Embed", ln->name);
    int out = ln->outputs[0];
    float eps = df_attr_float(ln, "epsilon", 1e-5f);
    int ng = t.ng;
    int nn = df_fuse_add_node(g, "EmbedLayerNormalization", DF_FUSED_DOMAIN, name, ins, ni, &out, 1, err);
    if (nn < 0 || df_fuse_attr_float(g, nn, "epsilon", eps, err) || df_fuse_attr_int(g, nn, "gathers", ng, err))
        return -1;
    for (int k = 0; k < t.ndead; k++) df_fuse_kill(g, t.dead[k]);
    df_fuse_kill(g, li);
    return 1;
}

df_status df_pass_embed_layernorm(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "LayerNormalization", 0, match_one, o, count, err);
}
