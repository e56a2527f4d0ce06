/* The operator interface: one df_op_def per ONNX operator, registered in ops/registry.c.
 *
 * Adding an operator touches its own file and one line of the table. infer runs once per
 * model and shape; prepare once per loaded session (pack weights, create oneDNN primitives);
 * run is the hot path and must not allocate, lock or make syscalls. */
#ifndef DF_OPS_OP_H
#define DF_OPS_OP_H

#include <stddef.h>

#include "graph/ir.h"

typedef struct df_kernel_args {
    const df_graph *graph;
    const df_node *node;
    const df_tensor *const *in;   /* in[i] is NULL for an omitted optional input */
    int n_in;
    df_tensor *const *out;        /* allocated by the executor with the inferred dtype/shape */
    int n_out;
    void *scratch;                /* prepare's requested scratch bytes, 64-byte aligned */
    size_t scratch_size;
    int threads;                  /* intra-op threads this session may use */
    df_error *err;
} df_kernel_args;

typedef struct df_op_def {
    const char *op_type;
    const char *domain;           /* NULL or "" = ai.onnx; "com.microsoft" for contrib ops */
    /* Sets every output's dtype and shape (and shape_known = true) from the inputs' dtypes,
     * shapes, constant values and the node's attributes. Must name node, op and tensor in
     * errors. Returns DF_ENEEDVALUE when an output shape depends on a runtime input value. */
    df_status (*infer)(df_graph *g, df_node *n, df_error *err);
    /* Optional. Called once per session after inference; may set n->state and
     * *scratch_bytes. */
    df_status (*prepare)(df_graph *g, df_node *n, size_t *scratch_bytes, df_error *err);
    /* Computes outputs. Output buffers are preallocated (and may hold garbage). */
    df_status (*run)(const df_kernel_args *a);
    /* Optional. Frees n->state. */
    void (*release)(df_node *n);
    /* True when the node must never be constant-folded (none of ours today). */
    int no_fold;
    /* For ops with a prepare: whether this node's prepared kernel serves a variable batch
     * (graph->max_batch > 1) when its inputs are batch-scaled, taking the rows it computes
     * from the run's tensors. NULL = it does not, and such a graph keeps a static batch. Ops
     * without a prepare take every size from their run-time tensors and need nothing. */
    bool (*var_rows)(const df_graph *g, const df_node *n);
} df_op_def;

/* The registry (ops/registry.c). */
const df_op_def *df_op_find(const char *op_type, const char *domain);
/* Every registered op in table order, for `dpuflow inspect` and the checker. */
const df_op_def *const *df_op_table(size_t *count);

/* Shared helpers for op files (ops/common.c). */
/* Numpy broadcasting of two shapes; names the node on failure. */
df_status df_broadcast_shape(const df_shape *a, const df_shape *b, df_shape *out, const df_node *n,
                             df_error *err);
/* Normalizes a possibly negative axis for the given rank; names the node on failure. */
df_status df_norm_axis(int64_t axis, int rank, int64_t *out, const df_node *n, df_error *err);
/* Sets output i's dtype and shape. */
void df_set_out(df_graph *g, df_node *n, int i, df_dtype dt, const df_shape *s);
/* Samples a variable-batch plan serves through this node's input i (graph->max_batch when
 * the input is batch-scaled, else 1): prepare builds for rows = (static rows / that) * m for
 * every m up to it. */
int df_node_max_batch(const df_graph *g, const df_node *n, int i);
/* var_rows for ops whose kernel handles any leading row count by itself. */
bool df_var_rows_always(const df_graph *g, const df_node *n);
/* Error helper: "node 'name' (Op): <message>". */
df_status df_node_error(df_error *err, df_status st, const df_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
