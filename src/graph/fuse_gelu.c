/* GELU in its exact (erf) form, as torch.onnx.export writes F.gelu / nn.GELU below opset 20:
 *   x * (1 + erf(x / sqrt2)) * 0.5        (Mul(x, Add) then Mul(., 0.5))
 *   (x * 0.5) * (1 + erf(x / sqrt2))      (Mul(x, 0.5) first)
 * with x / sqrt2 written as Div(x, 1.4142135) or Mul(x, 0.70710677), becomes one ONNX Gelu.
 * With opts->tanh_gelu the Gelu carries approximate="tanh" (faster, not bit-compatible). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/fuse_util.h"

/* True when node k is Mul(x, 0.5) in either order. */
static bool is_half_of(const df_graph *g, int k, int x) {
    if (k < 0) return false;
    const df_node *n = &g->nodes[k];
    return n->n_inputs == 2 && df_fuse_other(n, x) >= 0 && df_fuse_other(n, x) != x &&
           df_fuse_scalar_is(g, df_fuse_other(n, x), 0.5f, 0.0f);
}

static int match_one(df_graph *g, int e, const df_optimize_opts *o, df_error *err) {
    int t = g->nodes[e].inputs[0];
    if (t < 0) return 0;
    /* t = x / sqrt(2) */
    int sc = df_fuse_producer(g, t, "Div"), x = -1;
    if (sc >= 0) {
        if (!df_fuse_scalar_is(g, g->nodes[sc].inputs[1], (float)M_SQRT2, 1e-6f)) return 0;
        x = g->nodes[sc].inputs[0];
    } else if ((sc = df_fuse_producer(g, t, "Mul")) >= 0) {
        const df_node *m = &g->nodes[sc];
        for (int k = 0; k < 2 && x < 0; k++)
            if (df_fuse_scalar_is(g, m->inputs[1 - k], (float)M_SQRT1_2, 1e-6f)) x = m->inputs[k];
        if (x < 0) return 0;
    } else {
        return 0;
    }
    const df_value *xv = &g->values[x];
    if (xv->dtype != DF_F32 || xv->has_const || df_fuse_sole_user(g, t, "Erf") != e) return 0;
    int ef = g->nodes[e].outputs[0];
    int ad = df_fuse_sole_user(g, ef, "Add");
    if (ad < 0 || !df_fuse_scalar_is(g, df_fuse_other(&g->nodes[ad], ef), 1.0f, 0.0f)) return 0;
    int a = g->nodes[ad].outputs[0];
    int m1 = df_fuse_sole_user(g, a, "Mul");
    if (m1 < 0) return 0;
    int other = df_fuse_other(&g->nodes[m1], a);
    int half = -1, out;
    int m2 = -1;
    if (other == x) {
        m2 = df_fuse_sole_user(g, g->nodes[m1].outputs[0], "Mul");
        if (!is_half_of(g, m2, g->nodes[m1].outputs[0])) return 0;
        out = g->nodes[m2].outputs[0];
    } else {
        half = df_fuse_producer(g, other, "Mul");
        if (!is_half_of(g, half, x) || df_fuse_sole_user(g, other, "Mul") != m1) return 0;
        out = g->nodes[m1].outputs[0];
    }
    char name[256];
    snprintf(name, sizeof name, "%s_Gelu", g->nodes[e].name);
    int nn = df_fuse_add_node(g, "Gelu", "", name, &x, 1, &out, 1, err);
    if (nn < 0) return -1;
    if (o->tanh_gelu && df_fuse_attr_string(g, nn, "approximate", "tanh", err)) return -1;
    const int dead[] = {sc, e, ad, m1, m2, half};
    for (size_t k = 0; k < sizeof dead / sizeof dead[0]; k++) df_fuse_kill(g, dead[k]);
    return 1;
}

df_status df_pass_gelu(df_graph *g, const df_optimize_opts *o, int *count, df_error *err) {
    return df_fuse_each(g, "Erf", 1, match_one, o, count, err);
}
