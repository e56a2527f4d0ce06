/* Pattern-matching helpers shared by the fusion passes (src/graph/fuse_*.c), and the passes'
 * entry points for the table in optimize.c (internal).
 *
 * Every matcher checks that a node is live, has the expected op in the default domain and
 * that intermediate values it would remove have no other reader (graph outputs count as
 * readers), so a rewrite never changes what any surviving node sees. */
#ifndef DF_GRAPH_FUSE_UTIL_H
#define DF_GRAPH_FUSE_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/passes.h"

#define DF_FUSED_DOMAIN "ai.dpuflow"

/* The live node producing value v when its op_type is op (default domain), else -1. */
int df_fuse_producer(const df_graph *g, int v, const char *op);
/* How many live node inputs read v; graph outputs add a large count so they never vanish. */
int df_fuse_uses(const df_graph *g, int v);
/* The only live reader of v when there is exactly one and it is op (NULL = any), else -1. */
int df_fuse_sole_user(const df_graph *g, int v, const char *op);
/* True when v is a float32 constant with one element; its value in *out. */
bool df_fuse_scalar(const df_graph *g, int v, float *out);
/* True when v is a float32 constant scalar within a relative tolerance of want. */
bool df_fuse_scalar_is(const df_graph *g, int v, float want, float rtol);
/* True when v is a constant integer tensor whose values equal want[0..n). */
bool df_fuse_ints_are(const df_graph *g, int v, const int64_t *want, int n);
/* Reduce axes of a ReduceMean node (attribute before opset 18, input after), normalized. */
bool df_fuse_reduce_last_axis(const df_graph *g, const df_node *n, int rank);
/* The other input of a two-input node, given one of them; -1 when v is not an input. */
int df_fuse_other(const df_node *n, int v);
/* Shape equality. */
bool df_fuse_same_shape(const df_shape *a, const df_shape *b);
/* A fresh, uniquely named value (prefix + counter). Returns its index or -1 (out of memory). */
int df_fuse_new_value(df_graph *g, const char *prefix);

/* A pattern matcher anchored at node i: 1 = rewrote, 0 = left alone, -1 = out of memory. */
typedef int (*df_fuse_match_fn)(df_graph *g, int i, const df_optimize_opts *o, df_error *err);
/* The pass driver every fusion shares: calls match on each live default-domain node of
 * op_type (with exactly n_inputs inputs when n_inputs > 0) that existed when the pass began,
 * adding the rewrites to *count. */
df_status df_fuse_each(df_graph *g, const char *op_type, int n_inputs, df_fuse_match_fn match,
                       const df_optimize_opts *o, int *count, df_error *err);
/* A fresh constant value holding t (takes ownership of t's data). */
int df_fuse_new_const(df_graph *g, const char *prefix, df_tensor *t);
/* Appends a node; returns its index or -1 with err set. */
int df_fuse_add_node(df_graph *g, const char *op, const char *domain, const char *name, const int *in, int n_in,
                     const int *out, int n_out, df_error *err);
df_status df_fuse_attr_float(df_graph *g, int node, const char *name, float f, df_error *err);
df_status df_fuse_attr_int(df_graph *g, int node, const char *name, int64_t i, df_error *err);
df_status df_fuse_attr_string(df_graph *g, int node, const char *name, const char *s, df_error *err);
/* Marks node i dead (its outputs stay; the replacement takes them over). */
static inline void df_fuse_kill(df_graph *g, int i) { if (i >= 0) g->nodes[i].dead = true; }

/* --- the passes, in pipeline order (see optimize.c) ------------------------------------- */
df_status df_pass_layernorm(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);
df_status df_pass_gelu(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);
df_status df_pass_qmatmul_gelu(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);
df_status df_pass_qmatmul_quantize(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);
df_status df_pass_attention(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);
df_status df_pass_matmul_bias(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);
df_status df_pass_embed_layernorm(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);
df_status df_pass_skip_layernorm(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);

/* Per-pass rewrite counts of the last df_graph_optimize on this thread, for reports
 * (`dpuflow inspect --passes`). Returns the number of passes; names/counts may be NULL. */
int df_graph_optimize_report(const char *const **names, const int **counts);

#endif
