/* Runs one operator node outside any model, for operator unit tests:
 *
 *   df_op_case c; op_case_init(&c, "Add", 13);
 *   op_case_input(&c, "A", &tensor_a, false);   // false: runtime input, true: constant
 *   op_case_attr_int(&c, "axis", 1);
 *   op_case_run(&c, 1, &err);                    // infer, prepare, run
 *   c.outputs[0] ... ; op_case_free(&c);
 *
 * It goes through the same infer/prepare/run entry points the executor uses. */
#ifndef DF_TEST_OP_HARNESS_H
#define DF_TEST_OP_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ir.h"
#include "ops/op.h"

#define OP_CASE_MAX_IO 8

typedef struct df_op_case {
    df_graph *g;
    char op_type[64];
    int opset;
    int inputs[OP_CASE_MAX_IO];
    int n_inputs;
    df_attr attrs[16];
    int n_attrs;
    df_tensor outputs[OP_CASE_MAX_IO];
    int n_outputs;
    int node;
} df_op_case;

static inline void op_case_init(df_op_case *c, const char *op_type, int opset) {
    memset(c, 0, sizeof *c);
    df_graph_new(&c->g, NULL);
    c->g->opset = opset;
    strncpy(c->op_type, op_type, sizeof c->op_type - 1);
    c->opset = opset;
    c->node = -1;
}

/* Adds input i (a copy of t). name NULL = omitted optional input. */
static inline void op_case_input(df_op_case *c, const char *name, const df_tensor *t, bool is_const) {
    if (!name) {
        c->inputs[c->n_inputs++] = -1;
        return;
    }
    int v = df_graph_value(c->g, name);
    df_value *val = &c->g->values[v];
    val->dtype = t->dtype;
    val->shape = t->shape;
    val->shape_known = true;
    if (is_const) {
        df_tensor copy;
        df_tensor_copy(&copy, t, NULL);
        df_value_set_const(val, &copy);
    } else {
        df_tensor_copy(&val->value, t, NULL); /* kept for run, not marked const */
        val->is_graph_input = true;
    }
    c->inputs[c->n_inputs++] = v;
}

static inline void op_case_attr(df_op_case *c, const df_attr *a) { c->attrs[c->n_attrs++] = *a; }
static inline void op_case_attr_int(df_op_case *c, const char *name, int64_t v) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_INT, .i = v};
    op_case_attr(c, &a);
}
static inline void op_case_attr_float(df_op_case *c, const char *name, float v) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_FLOAT, .f = v};
    op_case_attr(c, &a);
}
static inline void op_case_attr_ints(df_op_case *c, const char *name, const int64_t *v, size_t n) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_INTS, .ints = (int64_t *)v, .count = n};
    op_case_attr(c, &a);
}

/* Infers, prepares and runs the node with n_outputs outputs; results land in c->outputs. */
static inline df_status op_case_run(df_op_case *c, int n_outputs, df_error *err) {
    const df_op_def *op = df_op_find(c->op_type, "");
    if (!op) return df_error_set(err, DF_EUNSUPPORTED, "op %s is not in the table", c->op_type);
    int outs[OP_CASE_MAX_IO];
    char name[32];
    for (int i = 0; i < n_outputs; i++) {
        snprintf(name, sizeof name, "out%d", i);
        outs[i] = df_graph_value(c->g, name);
    }
    c->node = df_graph_add_node(c->g, c->op_type, "test_node", "", c->inputs, c->n_inputs, outs, n_outputs);
    df_node *n = &c->g->nodes[c->node];
    n->op = op;
    n->opset = c->opset;
    for (int i = 0; i < c->n_attrs; i++) df_node_add_attr(n, &c->attrs[i], NULL);
    df_status st = op->infer(c->g, n, err);
    if (st) return st;
    size_t scratch_bytes = 0;
    if (op->prepare && (st = op->prepare(c->g, n, &scratch_bytes, err))) return st;
    const df_tensor *in[OP_CASE_MAX_IO];
    df_tensor *out[OP_CASE_MAX_IO];
    for (int i = 0; i < c->n_inputs; i++) in[i] = c->inputs[i] >= 0 ? &c->g->values[c->inputs[i]].value : NULL;
    for (int i = 0; i < n_outputs; i++) {
        df_value *v = &c->g->values[outs[i]];
        if ((st = df_tensor_alloc(&c->outputs[i], v->dtype, &v->shape, err))) return st;
        out[i] = &c->outputs[i];
    }
    c->n_outputs = n_outputs;
    void *scratch = scratch_bytes ? aligned_alloc(64, (scratch_bytes + 63) & ~(size_t)63) : NULL;
    df_kernel_args a = {.graph = c->g, .node = n, .in = in, .n_in = c->n_inputs, .out = out,
                        .n_out = n_outputs, .scratch = scratch, .scratch_size = scratch_bytes,
                        .threads = 1, .err = err};
    st = op->run(&a);
    free(scratch);
    return st;
}

static inline void op_case_free(df_op_case *c) {
    for (int i = 0; i < c->n_outputs; i++) df_tensor_free(&c->outputs[i]);
    df_graph_free(c->g);
}

/* Makes a float tensor of the given shape from values (copied). */
static inline df_tensor op_tensor_f32(int rank, const int64_t *dims, const float *values) {
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    df_tensor_alloc(&t, DF_F32, &s, NULL);
    memcpy(t.data, values, t.nbytes);
    return t;
}
static inline df_tensor op_tensor_i64(int rank, const int64_t *dims, const int64_t *values) {
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    df_tensor_alloc(&t, DF_I64, &s, NULL);
    memcpy(t.data, values, t.nbytes);
    return t;
}

#endif
