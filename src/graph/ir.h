/* The graph IR, shared by graph/, onnx/, ops/ and exec/ (internal: not installed).
 *
 * A graph owns arrays of values and nodes that refer to each other by index, so passes may
 * append to either array without invalidating what other code holds. Shapes are static:
 * after df_graph_infer every value has a known dtype and shape, or the checker says which
 * one does not. */
#ifndef DF_GRAPH_IR_H
#define DF_GRAPH_IR_H

#include <stdbool.h>
#include <stdint.h>

#include "dpuflow/status.h"
#include "dpuflow/tensor.h"

struct df_op_def;

typedef enum df_attr_type {
    DF_ATTR_UNDEFINED = 0,
    DF_ATTR_FLOAT = 1,
    DF_ATTR_INT = 2,
    DF_ATTR_STRING = 3,
    DF_ATTR_TENSOR = 4,
    DF_ATTR_GRAPH = 5,
    DF_ATTR_FLOATS = 6,
    DF_ATTR_INTS = 7,
    DF_ATTR_STRINGS = 8,
} df_attr_type; /* values equal ONNX AttributeProto.AttributeType */

typedef struct df_attr {
    char *name;
    df_attr_type type;
    float f;
    int64_t i;
    char *s;            /* NUL-terminated copy; s_len holds the byte length */
    size_t s_len;
    df_tensor t;        /* DF_ATTR_TENSOR */
    float *floats;      /* DF_ATTR_FLOATS */
    int64_t *ints;      /* DF_ATTR_INTS */
    char **strings;     /* DF_ATTR_STRINGS */
    size_t count;       /* length of floats / ints / strings */
} df_attr;

typedef struct df_value {
    char *name;
    df_dtype dtype;        /* DF_UNDEFINED until inferred */
    df_shape shape;
    bool shape_known;      /* false: rank or some dim still unknown */
    /* Symbolic names for dims the file left dynamic ("batch", "sequence"); NULL when fixed. */
    char *dim_params[DF_MAX_RANK];
    bool has_const;        /* an initializer, a Constant, or folded at load */
    df_tensor value;       /* valid when has_const */
    bool is_initializer;   /* came from the file's initializer list */
    int producer;          /* node index, or -1 for graph inputs and constants */
    bool is_graph_input;
    bool is_graph_output;
    /* Set by df_batch_analyze when the graph serves a variable batch: this runtime value's
     * dim batch_axis is batch_unit * (rows in the run); other dims never change. */
    bool batch_scaled;
    int8_t batch_axis;
    int64_t batch_unit;
} df_value;

typedef struct df_node {
    char *name;
    char *op_type;
    char *domain;          /* "" for the default ai.onnx domain */
    int opset;             /* the model's opset for this node's domain */
    int *inputs;           /* value indices; -1 for an omitted optional input */
    int n_inputs;
    int *outputs;          /* value indices; -1 for an omitted optional output */
    int n_outputs;
    df_attr *attrs;
    int n_attrs;
    const struct df_op_def *op; /* resolved by df_graph_resolve_ops; NULL when unknown */
    void *state;           /* per-node prepared state owned by the op (packed weights, ...) */
    bool dead;             /* removed by a pass; skipped everywhere, compacted later */
} df_node;

typedef struct df_graph {
    char *name;
    df_value *values;
    int n_values, cap_values;
    df_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs;           /* runtime graph inputs (initializers excluded) */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int64_t opset;         /* ai.onnx opset */
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    void *name_index;      /* name -> value index hash (graph.c) */
    /* Folding leaves DequantizeLinear nodes alone: a saved INT8 artifact keeps its int8
     * weights (4x smaller) and the QDQ pattern that sessions turn into int8 GEMMs. */
    bool keep_dequantize;
    /* > 1: shapes were inferred at this batch and df_batch_analyze proved that every runtime
     * value scales linearly with it, so one plan (arena, packed weights, primitives) serves
     * any batch from 1 to max_batch; prepare builds kernels for variable rows. 0 or 1: static. */
    int max_batch;
} df_graph;

/* --- construction ----------------------------------------------------------------------- */
df_status df_graph_new(df_graph **out, df_error *err);
void df_graph_free(df_graph *g);
/* Finds a value by name, or -1. */
int df_graph_find_value(const df_graph *g, const char *name);
/* Finds or creates the value called name; returns its index or -1 on allocation failure. */
int df_graph_value(df_graph *g, const char *name);
/* Appends a node (copies op_type/name/domain strings; inputs/outputs are value indices).
 * Returns the node index or -1 on allocation failure. */
int df_graph_add_node(df_graph *g, const char *op_type, const char *name, const char *domain,
                      const int *inputs, int n_inputs, const int *outputs, int n_outputs);
/* Adds an attribute to node (takes a deep copy). */
df_status df_node_add_attr(df_node *n, const df_attr *a, df_error *err);
/* Sets value v to a constant (takes ownership of t's data). */
void df_value_set_const(df_value *v, df_tensor *t);
/* Sorts nodes topologically (stable for already-sorted graphs); names a cycle on failure. */
df_status df_graph_toposort(df_graph *g, df_error *err);
/* Drops dead nodes and values that nothing references. */
void df_graph_compact(df_graph *g);

/* --- attribute accessors: the default when the attribute is absent ----------------------- */
const df_attr *df_node_attr(const df_node *n, const char *name);
int64_t df_attr_int(const df_node *n, const char *name, int64_t def);
float df_attr_float(const df_node *n, const char *name, float def);
/* NUL-terminated string or def. */
const char *df_attr_string(const df_node *n, const char *name, const char *def);
/* Pointer to the ints and their count, or NULL (count 0) when absent. */
const int64_t *df_attr_ints(const df_node *n, const char *name, size_t *count);
const float *df_attr_floats(const df_node *n, const char *name, size_t *count);
const df_tensor *df_attr_tensor(const df_node *n, const char *name);

/* --- node access for operators -------------------------------------------------------- */
static inline df_value *df_node_in(const df_graph *g, const df_node *n, int i) {
    return (i < n->n_inputs && n->inputs[i] >= 0) ? &g->values[n->inputs[i]] : NULL;
}
static inline df_value *df_node_out(const df_graph *g, const df_node *n, int i) {
    return (i < n->n_outputs && n->outputs[i] >= 0) ? &g->values[n->outputs[i]] : NULL;
}
/* The constant value of input i, or NULL when it is absent or only known at run time. */
static inline const df_tensor *df_node_in_const(const df_graph *g, const df_node *n, int i) {
    df_value *v = df_node_in(g, n, i);
    return (v && v->has_const) ? &v->value : NULL;
}

/* Reads an integer tensor (int32 or int64) into int64s; for shapes, axes, starts/ends. */
df_status df_tensor_to_i64(const df_tensor *t, int64_t *out, size_t max, size_t *count, df_error *err);

/* --- whole-graph steps (graph/infer.c, graph/check.c) ---------------------------------- */
/* Links every node to its operator in the op table. Unknown ops stay NULL. */
void df_graph_resolve_ops(df_graph *g);
/* Pins graph inputs' dynamic dims (dim_params) to the given values, e.g. batch=1 seq=64.
 * names/values may be NULL: then every dynamic dim of rank-2 token inputs becomes [1, 64]. */
df_status df_graph_pin_dims(df_graph *g, const char *const *names, const int64_t *values, int count,
                            df_error *err);
/* Infers every value's dtype and shape in topological order, folding nodes whose inputs are all
 * constant (so Shape/Gather/Concat subgraphs become constants). Fails naming node/op/tensor. */
df_status df_graph_infer(df_graph *g, df_error *err);
/* The same, optionally without folding (the checker's dry run). */
df_status df_graph_infer_opts(df_graph *g, bool fold, df_error *err);
/* Lists every operator type the table lacks (all of them, not just the first). */
df_status df_graph_check_ops(const df_graph *g, df_error *err);

#endif
