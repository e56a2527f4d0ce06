/* Simplification for static inference graphs: Identity and inference-mode Dropout are pure
 * copies, so their consumers can read the input directly. Kept apart from fusion because the
 * checker (`dpuflow check --simplify`, the build's check stage) wants exactly this and no
 * engine-specific rewrites in the file it hands back to the user. */
#include <stdlib.h>
#include <string.h>

#include "graph/passes.h"

/* Dropout is a copy when training_mode (input 2, opset 12+) is absent or a constant false,
 * and its mask output is unused. A constant true names a training graph: reject it. */
static df_status dropout_is_copy(const df_graph *g, const df_node *n, const bool *used, bool *copy, df_error *err) {
    *copy = false;
    const df_value *tm = df_node_in(g, n, 2);
    if (tm) {
        if (!tm->has_const)
            return df_error_set(err, DF_EUNSUPPORTED,
                                "node '%s' (Dropout): training_mode '%s' is only known at run time; export in eval mode",
                                n->name ? n->name : "", tm->name);
        bool on = false;
        if (tm->value.dtype == DF_BOOL || tm->value.dtype == DF_U8 || tm->value.dtype == DF_I8)
            on = ((const uint8_t *)tm->value.data)[0] != 0;
        if (on)
            return df_error_set(err, DF_EUNSUPPORTED,
                                "node '%s' (Dropout): training_mode is true; export the model in eval mode",
                                n->name ? n->name : "");
    }
    if (n->n_outputs > 1 && n->outputs[1] >= 0 && used[n->outputs[1]]) return DF_OK;
    *copy = true;
    return DF_OK;
}

df_status df_graph_simplify(df_graph *g, int *removed, df_error *err) {
    *removed = 0;
    bool *used = calloc((size_t)g->n_values + 1, sizeof *used);
    if (!used) return df_error_set(err, DF_ENOMEM, "simplify: out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) used[n->inputs[k]] = true;
    }
    for (int k = 0; k < g->n_outputs; k++) used[g->outputs[k]] = true;
    df_status st = DF_OK;
    for (int i = 0; i < g->n_nodes; i++) {
        df_node *n = &g->nodes[i];
        if (n->dead || n->domain[0]) continue;
        bool copy = !strcmp(n->op_type, "Identity");
        if (!strcmp(n->op_type, "Dropout") && (st = dropout_is_copy(g, n, used, &copy, err))) break;
        if (!copy || n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs < 1 || n->outputs[0] < 0) continue;
        int in = n->inputs[0], out = n->outputs[0];
        if (g->values[out].is_graph_output) {
            /* The output's name is the model's contract: keep it and make the input's producer
             * write it directly, which only works when that producer is a node whose result
             * nothing else must keep under its own name. */
            df_value *iv = &g->values[in];
            if (iv->producer < 0 || iv->is_graph_output || iv->is_graph_input || iv->has_const) continue;
            df_node *p = &g->nodes[iv->producer];
            for (int k = 0; k < p->n_outputs; k++)
                if (p->outputs[k] == in) p->outputs[k] = out;
            g->values[out].producer = iv->producer;
            iv->producer = -1;
            for (int j = 0; j < g->n_nodes; j++) {
                df_node *c = &g->nodes[j];
                if (c->dead || j == i) continue;
                for (int k = 0; k < c->n_inputs; k++)
                    if (c->inputs[k] == in) c->inputs[k] = out;
            }
        } else {
            for (int j = 0; j < g->n_nodes; j++) {
                df_node *c = &g->nodes[j];
                if (c->dead || j == i) continue;
                for (int k = 0; k < c->n_inputs; k++)
                    if (c->inputs[k] == out) c->inputs[k] = in;
            }
        }
        n->dead = true;
        (*removed)++;
    }
    free(used);
    return st;
}
