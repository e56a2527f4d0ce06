#include "graph/fuse_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int df_fuse_producer(const df_graph *g, int v, const char *op) {
    if (v < 0) return -1;
    int p = g->values[v].producer;
    if (p < 0 || p >= g->n_nodes) return -1;
    const df_node *n = &g->nodes[p];
    if (n->dead || strcmp(n->op_type, op) || (n->domain && n->domain[0])) return -1;
    /* producer can be stale after a rewrite: confirm the node really writes v. */
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] == v) return p;
    return -1;
}

int df_fuse_uses(const df_graph *g, int v) {
    int c = g->values[v].is_graph_output ? 1000 : 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++) c += n->inputs[k] == v;
    }
    return c;
}

int df_fuse_sole_user(const df_graph *g, int v, const char *op) {
    if (v < 0 || g->values[v].is_graph_output) return -1;
    int found = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++) {
            if (n->inputs[k] != v) continue;
            if (found >= 0) return -1;
            found = i;
        }
    }
    if (found < 0) return -1;
    const df_node *n = &g->nodes[found];
    if (op && (strcmp(n->op_type, op) || (n->domain && n->domain[0]))) return -1;
    return found;
}

bool df_fuse_scalar(const df_graph *g, int v, float *out) {
    if (v < 0) return false;
    const df_value *x = &g->values[v];
    if (!x->has_const || x->value.dtype != DF_F32 || df_shape_numel(&x->value.shape) != 1) return false;
    *out = ((const float *)x->value.data)[0];
    return true;
}

bool df_fuse_scalar_is(const df_graph *g, int v, float want, float rtol) {
    float f;
    if (!df_fuse_scalar(g, v, &f)) return false;
    return fabsf(f - want) <= rtol * fabsf(want);
}

bool df_fuse_ints_are(const df_graph *g, int v, const int64_t *want, int n) {
    if (v < 0 || !g->values[v].has_const) return false;
    int64_t got[DF_MAX_RANK * 2];
    size_t cnt = 0;
    df_error e;
    if (n > (int)(sizeof got / sizeof got[0]) ||
        df_tensor_to_i64(&g->values[v].value, got, sizeof got / sizeof got[0], &cnt, &e))
        return false;
    if ((int)cnt != n) return false;
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) return false;
    return true;
}

bool df_fuse_reduce_last_axis(const df_graph *g, const df_node *n, int rank) {
    if (df_attr_int(n, "keepdims", 1) != 1) return false;
    int64_t axes[DF_MAX_RANK];
    size_t cnt = 0;
    const int64_t *a = df_attr_ints(n, "axes", &cnt);
    if (a) {
        if (cnt != 1) return false;
        axes[0] = a[0];
    } else {
        /* opset 18 moved axes to an input. */
        if (n->n_inputs < 2 || n->inputs[1] < 0 || !g->values[n->inputs[1]].has_const) return false;
        df_error e;
        if (df_tensor_to_i64(&g->values[n->inputs[1]].value, axes, DF_MAX_RANK, &cnt, &e) || cnt != 1) return false;
    }
    return axes[0] == -1 || axes[0] == rank - 1;
}

int df_fuse_other(const df_node *n, int v) {
    if (n->n_inputs != 2) return -1;
    if (n->inputs[0] == v) return n->inputs[1];
    if (n->inputs[1] == v) return n->inputs[0];
    return -1;
}

bool df_fuse_same_shape(const df_shape *a, const df_shape *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return true;
}

int df_fuse_new_value(df_graph *g, const char *prefix) {
    char name[256];
    for (int k = g->n_values;; k++) {
        snprintf(name, sizeof name, "%s_fused_%d", prefix, k);
        if (df_graph_find_value(g, name) < 0) break;
    }
    return df_graph_value(g, name);
}

int df_fuse_new_const(df_graph *g, const char *prefix, df_tensor *t) {
    int v = df_fuse_new_value(g, prefix);
    if (v < 0) {
        df_tensor_free(t);
        return -1;
    }
    df_value *x = &g->values[v];
    x->dtype = t->dtype;
    x->shape = t->shape;
    x->shape_known = true;
    x->is_initializer = true;
    df_value_set_const(x, t);
    return v;
}

int df_fuse_add_node(df_graph *g, const char *op, const char *domain, const char *name, const int *in, int n_in,
                     const int *out, int n_out, df_error *err) {
    int i = df_graph_add_node(g, op, name, domain, in, n_in, out, n_out);
    if (i < 0) df_error_set(err, DF_ENOMEM, "out of memory adding fused node '%s'", name);
    return i;
}

df_status df_fuse_attr_float(df_graph *g, int node, const char *name, float f, df_error *err) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_FLOAT, .f = f};
    return df_node_add_attr(&g->nodes[node], &a, err);
}

df_status df_fuse_attr_int(df_graph *g, int node, const char *name, int64_t i, df_error *err) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_INT, .i = i};
    return df_node_add_attr(&g->nodes[node], &a, err);
}

df_status df_fuse_attr_string(df_graph *g, int node, const char *name, const char *s, df_error *err) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_STRING, .s = (char *)s, .s_len = strlen(s)};
    return df_node_add_attr(&g->nodes[node], &a, err);
}

df_status df_fuse_each(df_graph *g, const char *op_type, int n_inputs, df_fuse_match_fn match,
                       const df_optimize_opts *o, int *count, df_error *err) {
    int n0 = g->n_nodes; /* nodes a rewrite appends are not anchors */
    for (int i = 0; i < n0; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead || strcmp(n->op_type, op_type) || n->domain[0]) continue;
        if (n_inputs > 0 && n->n_inputs != n_inputs) continue;
        int r = match(g, i, o, err);
        if (r < 0) return DF_ENOMEM;
        *count += r;
    }
    return DF_OK;
}
