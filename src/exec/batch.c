/* Variable batch: one plan that serves every batch from 1 to max_batch.
 *
 * A session asked for max_batch infers, folds, fuses and plans its graph at max_batch, then
 * proves that nothing in it depends on that number: shapes are inferred again with the
 * batch-carrying inputs at two probe batches (1 and 3), and every runtime value must either
 * keep its shape or scale one axis linearly (dim = unit * batch at all three points). A
 * constant folded from the batch (a mask expanded to [max_batch, S], a Reshape target with
 * the batch written in) breaks that at the probes, and the session keeps a static batch.
 * Kernels with a prepare must also say they take their row count from the run (op->var_rows).
 *
 * At run time the executor rewrites the scaled dims of its tensors when the batch changes;
 * the arena was laid out for max_batch, so every smaller batch fits in the same offsets, and
 * kernels that read sizes from their tensors need nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"

/* Rewrites Reshape (and, with expand, Expand) targets whose first entry is `batch` where the
 * data input's first dim is `batch` too, so they follow the input's batch instead: Reshape's 0
 * copies the input's dim, Expand's 1 keeps it. The graph at `batch` is unchanged. Each rewrite
 * gets its own constant (a target may be shared). Returns how many were rewritten. */
static int follow_input_batch(df_graph *g, int64_t batch, bool expand) {
    int rewritten = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead || (n->domain && *n->domain) || n->n_inputs < 2) continue;
        bool reshape = !strcmp(n->op_type, "Reshape");
        if (!reshape && !(expand && !strcmp(n->op_type, "Expand"))) continue;
        if (reshape && n->opset >= 14 && df_attr_int(n, "allowzero", 0)) continue;
        const df_value *x = df_node_in(g, n, 0), *shp = df_node_in(g, n, 1);
        if (!x || !shp || !shp->has_const || shp->dtype != DF_I64 || shp->shape.rank != 1 || shp->shape.dims[0] < 1)
            continue;
        if (x->shape.rank < 1 || x->shape.dims[0] != batch || ((const int64_t *)shp->value.data)[0] != batch)
            continue;
        /* Expand's 1 keeps the input's dim where the two ranks line up. */
        if (!reshape && shp->shape.dims[0] != x->shape.rank) continue;
        df_tensor t;
        if (df_tensor_copy(&t, &shp->value, NULL)) continue;
        ((int64_t *)t.data)[0] = reshape ? 0 : 1;
        char name[512];
        snprintf(name, sizeof name, "%s/batch_follows_input.%d", shp->name, i);
        int v = df_graph_value(g, name); /* may move g->values: x and shp are stale from here */
        if (v < 0) {
            df_tensor_free(&t);
            continue;
        }
        df_value_set_const(&g->values[v], &t);
        g->values[v].producer = -1;
        g->nodes[i].inputs[1] = v;
        rewritten++;
    }
    return rewritten;
}

/* Static exporters write the batch into Reshape targets ([1, S, heads, d]); ONNX's 0 ("copy
 * this dim from the input") says the same at batch 1 and follows the batch at any other.
 * Only targets whose first entry is 1 where the input's first dim is 1 are rewritten, so the
 * model at batch 1 is unchanged. Needs shapes inferred (without folding) at batch 1. */
int df_batch_unbake_reshapes(df_graph *g) { return follow_input_batch(g, 1, false); }

/* Folding at max_batch writes the batch into constants that the graph computed from its
 * inputs' shapes. Two kinds are undone here, on the optimized graph, before the analysis
 * checks the result:
 *  - a folded constant whose max_batch slices along dim 0 are all equal (a default
 *    token_type_ids buffer expanded to [batch, S], and what was gathered from it) becomes one
 *    slice, which its consumers broadcast;
 *  - a Reshape target computed as [batch, ...] from a max_batch-row input becomes "copy the
 *    input's dim" (0), an Expand target likewise "keep the input's dim" (1).
 * Shapes are then inferred again at max_batch; the graph's outputs must keep theirs. */
static bool collapse_uniform(df_value *v, int max_batch) {
    df_tensor *t = &v->value;
    if (v->is_initializer || t->shape.rank < 1 || t->shape.dims[0] != max_batch || !t->nbytes) return false;
    size_t slice = t->nbytes / (size_t)max_batch;
    for (int r = 1; r < max_batch; r++)
        if (memcmp((const char *)t->data + (size_t)r * slice, t->data, slice)) return false;
    df_shape sh = t->shape;
    sh.dims[0] = 1;
    df_tensor one;
    if (df_tensor_alloc(&one, t->dtype, &sh, NULL)) return false;
    memcpy(one.data, t->data, slice);
    df_value_set_const(v, &one);
    return true;
}

bool df_batch_unfold(df_graph *g, int max_batch, char *why, size_t len) {
    int changed = 0;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].has_const) changed += collapse_uniform(&g->values[v], max_batch);
    changed += follow_input_batch(g, max_batch, true);
    if (!changed) return true;
    df_shape *outs = malloc(sizeof(df_shape) * ((size_t)g->n_outputs + 1));
    if (!outs) return false;
    for (int k = 0; k < g->n_outputs; k++) outs[k] = g->values[g->outputs[k]].shape;
    bool ok = true;
    for (int i = 0; ok && i < g->n_nodes; i++) {
        df_node *n = &g->nodes[i];
        if (n->dead) continue;
        df_error e = {0};
        if (n->op->infer(g, n, &e)) {
            snprintf(why, len, "%s", e.msg);
            ok = false;
        }
    }
    for (int k = 0; ok && k < g->n_outputs; k++)
        if (!df_shape_equal(&outs[k], &g->values[g->outputs[k]].shape)) {
            snprintf(why, len, "output '%s' changes shape without its batch-folded constants",
                     g->values[g->outputs[k]].name);
            ok = false;
        }
    free(outs);
    return ok;
}

static void set_batch_dim(df_graph *g, const int *carry, int n_carry, int64_t b) {
    for (int k = 0; k < n_carry; k++) g->values[carry[k]].shape.dims[0] = b;
}

/* Re-infers every live node's outputs with the carried inputs at batch b into at[]. */
static bool infer_at(df_graph *g, const int *carry, int n_carry, int64_t b, df_shape *at, char *why, size_t len) {
    set_batch_dim(g, carry, n_carry, b);
    for (int i = 0; i < g->n_nodes; i++) {
        df_node *n = &g->nodes[i];
        if (n->dead) continue;
        df_error e = {0};
        if (n->op->infer(g, n, &e)) {
            snprintf(why, len, "at batch %lld: %s", (long long)b, e.msg);
            return false;
        }
    }
    for (int v = 0; v < g->n_values; v++) at[v] = g->values[v].shape;
    return true;
}

static void shape_text(const df_shape *s, char *buf, size_t len) { df_shape_str(s, buf, len); }

bool df_batch_analyze(df_graph *g, int max_batch, char *why, size_t len) {
    why[0] = '\0';
    const int nv = g->n_values;
    int *carry = malloc(sizeof(int) * ((size_t)g->n_inputs + 1));
    df_shape *at_max = malloc(sizeof(df_shape) * ((size_t)nv + 1));
    df_shape *at_1 = malloc(sizeof(df_shape) * ((size_t)nv + 1));
    df_shape *at_p = malloc(sizeof(df_shape) * ((size_t)nv + 1));
    bool ok = false;
    if (!carry || !at_max || !at_1 || !at_p) {
        snprintf(why, len, "out of memory");
        goto done;
    }
    int n_carry = 0;
    for (int k = 0; k < g->n_inputs; k++) {
        const df_value *v = &g->values[g->inputs[k]];
        if (!v->has_const && v->shape.rank >= 1 && v->shape.dims[0] == max_batch) carry[n_carry++] = g->inputs[k];
    }
    if (!n_carry) {
        snprintf(why, len, "no input has the batch (%d) as its first dim", max_batch);
        goto done;
    }
    for (int v = 0; v < nv; v++) at_max[v] = g->values[v].shape;
    /* A second probe that is neither 1 nor max_batch: a folded [max_batch, ...] constant
     * still broadcasts against batch 1, but not against this. */
    const int64_t probe = max_batch == 3 ? 2 : 3;
    bool inferred = infer_at(g, carry, n_carry, 1, at_1, why, len) && infer_at(g, carry, n_carry, probe, at_p, why, len);
    for (int v = 0; v < nv; v++) g->values[v].shape = at_max[v];
    if (!inferred) goto done;

    for (int v = 0; v < nv; v++) {
        df_value *val = &g->values[v];
        val->batch_scaled = false;
        if (val->has_const) continue;
        const df_shape *m = &at_max[v], *a = &at_1[v], *p = &at_p[v];
        int axis = -1, n_diff = 0;
        bool linear = m->rank == a->rank && m->rank == p->rank;
        for (int d = 0; linear && d < m->rank; d++) {
            if (m->dims[d] == a->dims[d] && a->dims[d] == p->dims[d]) continue;
            n_diff++;
            axis = d;
            linear = a->dims[d] > 0 && a->dims[d] * max_batch == m->dims[d] && a->dims[d] * probe == p->dims[d];
        }
        if (!linear || n_diff > 1) {
            char s1[96], sp[96], sm[96];
            shape_text(a, s1, sizeof s1);
            shape_text(p, sp, sizeof sp);
            shape_text(m, sm, sizeof sm);
            snprintf(why, len, "value '%s' is %s at batch 1, %s at %lld and %s at %d: not linear in the batch",
                     val->name, s1, sp, (long long)probe, sm, max_batch);
            goto done;
        }
        if (n_diff == 1) {
            val->batch_scaled = true;
            val->batch_axis = (int8_t)axis;
            val->batch_unit = a->dims[axis];
        }
    }
    g->max_batch = max_batch; /* var_rows reads it */
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead || !n->op->prepare) continue;
        bool scaled_in = false;
        for (int k = 0; k < n->n_inputs; k++) {
            const df_value *v = df_node_in(g, n, k);
            scaled_in |= v && v->batch_scaled;
        }
        if (scaled_in && !(n->op->var_rows && n->op->var_rows(g, n))) {
            snprintf(why, len, "node '%s' (%s) is prepared for a fixed number of rows", n->name, n->op_type);
            goto done;
        }
    }
    g->max_batch = max_batch;
    ok = true;
done:
    if (!ok) {
        g->max_batch = 0;
        for (int v = 0; v < g->n_values; v++) g->values[v].batch_scaled = false;
    }
    free(carry);
    free(at_max);
    free(at_1);
    free(at_p);
    return ok;
}
