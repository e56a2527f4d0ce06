/* Whole-graph shape inference with constant folding, and the static checks that go with it.
 *
 * Nodes are visited in topological order. Each op's infer sets its outputs' dtypes and
 * shapes; a node whose inputs are all constant is then run once here and its outputs become
 * constants. That turns the Shape -> Gather -> Concat -> Reshape chains exporters emit for
 * dynamic axes into plain constants, so the executor sees a static graph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ir.h"
#include "ops/op.h"

void df_graph_resolve_ops(df_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        df_node *n = &g->nodes[i];
        if (!n->op) n->op = df_op_find(n->op_type, n->domain);
    }
}

df_status df_graph_check_ops(const df_graph *g, df_error *err) {
    char list[DF_ERROR_MSG_MAX] = "";
    size_t used = 0;
    int missing = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->op || n->dead) continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            if (!g->nodes[j].op && !g->nodes[j].dead && !strcmp(g->nodes[j].op_type, n->op_type) &&
                !strcmp(g->nodes[j].domain, n->domain))
                seen = 1;
        if (seen) continue;
        missing++;
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s%s%s (node '%s')", missing > 1 ? ", " : "",
                                     *n->domain ? n->domain : "", *n->domain ? "." : "", n->op_type, n->name);
    }
    if (missing)
        return df_error_set(err, DF_EUNSUPPORTED, "%d operator type%s not supported: %s", missing,
                            missing > 1 ? "s" : "", list);
    return DF_OK;
}

df_status df_graph_pin_dims(df_graph *g, const char *const *names, const int64_t *values, int count,
                            df_error *err) {
    for (int k = 0; k < g->n_inputs; k++) {
        df_value *v = &g->values[g->inputs[k]];
        for (int d = 0; d < v->shape.rank; d++) {
            if (v->shape.dims[d] >= 0) continue;
            const char *param = v->dim_params[d];
            int pinned = 0;
            for (int i = 0; i < count && names; i++)
                if (param && !strcmp(param, names[i])) {
                    v->shape.dims[d] = values[i];
                    pinned = 1;
                }
            if (!pinned && !names && v->shape.rank == 2 && (v->dtype == DF_I64 || v->dtype == DF_I32)) {
                v->shape.dims[d] = d == 0 ? 1 : 64; /* token inputs default to [1,64] */
                pinned = 1;
            }
            (void)pinned;
        }
        bool known = true;
        for (int d = 0; d < v->shape.rank; d++)
            if (v->shape.dims[d] < 0) known = false;
        v->shape_known = known;
    }
    (void)err;
    return DF_OK;
}

/* Runs node n now on its constant inputs and turns its outputs into constants. */
static df_status fold_node(df_graph *g, df_node *n, df_error *err) {
    const df_tensor *in[64];
    df_tensor outs[16];
    df_tensor *out[16];
    if (n->n_inputs > 64 || n->n_outputs > 16) return DF_OK; /* not worth folding */
    memset(outs, 0, sizeof outs);
    for (int i = 0; i < n->n_inputs; i++) in[i] = df_node_in_const(g, n, i);
    df_status st = DF_OK;
    for (int i = 0; i < n->n_outputs; i++) {
        df_value *v = df_node_out(g, n, i);
        out[i] = &outs[i];
        if (!v) continue;
        if ((st = df_tensor_alloc(&outs[i], v->dtype, &v->shape, err))) goto done;
    }
    size_t scratch_bytes = 0;
    if (n->op->prepare && (st = n->op->prepare(g, n, &scratch_bytes, err))) goto done;
    void *scratch = NULL;
    if (scratch_bytes) {
        scratch = aligned_alloc(64, (scratch_bytes + 63) & ~(size_t)63);
        if (!scratch) {
            st = df_error_set(err, DF_ENOMEM, "out of memory folding node '%s'", n->name);
            goto done;
        }
    }
    df_kernel_args a = {.graph = g, .node = n, .in = in, .n_in = n->n_inputs, .out = out,
                        .n_out = n->n_outputs, .scratch = scratch, .scratch_size = scratch_bytes,
                        .threads = 1, .err = err};
    st = n->op->run(&a);
    free(scratch);
    if (n->op->release && n->state) n->op->release(n);
    n->state = NULL;
    if (st) goto done;
    for (int i = 0; i < n->n_outputs; i++) {
        df_value *v = df_node_out(g, n, i);
        if (v) df_value_set_const(v, &outs[i]);
    }
    n->dead = true;
done:
    for (int i = 0; i < n->n_outputs; i++) df_tensor_free(&outs[i]);
    return st;
}

df_status df_graph_infer_opts(df_graph *g, bool fold, df_error *err) {
    df_status st = df_graph_toposort(g, err);
    if (st) return st;
    df_graph_resolve_ops(g);
    if ((st = df_graph_check_ops(g, err))) return st;

    for (int k = 0; k < g->n_inputs; k++) {
        df_value *v = &g->values[g->inputs[k]];
        if (v->has_const) continue;
        if (v->dtype == DF_UNDEFINED)
            return df_error_set(err, DF_ETYPE, "graph input '%s' has no element type", v->name);
        for (int d = 0; d < v->shape.rank; d++)
            if (v->shape.dims[d] < 0)
                return df_error_set(err, DF_ESHAPE,
                                    "graph input '%s' has dynamic dim %d%s%s%s left unresolved; pin it to a fixed size",
                                    v->name, d, v->dim_params[d] ? " ('" : "", v->dim_params[d] ? v->dim_params[d] : "",
                                    v->dim_params[d] ? "')" : "");
        if (!v->shape_known)
            return df_error_set(err, DF_ESHAPE, "graph input '%s' has no shape", v->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        df_node *n = &g->nodes[i];
        if (n->dead) continue;
        bool all_const = true;
        for (int k = 0; k < n->n_inputs; k++) {
            df_value *v = df_node_in(g, n, k);
            if (!v) continue;
            if (v->dtype == DF_UNDEFINED || !v->shape_known)
                return df_error_set(err, DF_ENOTFOUND,
                                    "node '%s' (%s): input '%s' is unknown (not a graph input, initializer or output of an earlier node)",
                                    n->name, n->op_type, v->name);
            if (!v->has_const) all_const = false;
        }
        if ((st = n->op->infer(g, n, err))) return st;
        for (int k = 0; k < n->n_outputs; k++) {
            df_value *v = df_node_out(g, n, k);
            if (v && (v->dtype == DF_UNDEFINED || !v->shape_known))
                return df_error_set(err, DF_EINTERNAL, "node '%s' (%s): output '%s' was not inferred", n->name,
                                    n->op_type, v->name);
        }
        bool outputs_const = true; /* Constant's infer already set them */
        for (int k = 0; k < n->n_outputs; k++) {
            df_value *v = df_node_out(g, n, k);
            if (v && !v->has_const) outputs_const = false;
        }
        if (outputs_const) {
            n->dead = true;
            continue;
        }
        bool keep = g->keep_dequantize && !strcmp(n->op_type, "DequantizeLinear");
        if (fold && all_const && !n->op->no_fold && !keep) {
            if ((st = fold_node(g, n, err))) return st;
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        df_value *v = &g->values[g->outputs[k]];
        if (v->dtype == DF_UNDEFINED || !v->shape_known)
            return df_error_set(err, DF_ENOTFOUND, "graph output '%s' is never produced", v->name);
    }
    return DF_OK;
}

df_status df_graph_infer(df_graph *g, df_error *err) { return df_graph_infer_opts(g, true, err); }
