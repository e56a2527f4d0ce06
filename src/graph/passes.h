/* Graph rewrites that run after shape inference: simplification and fusion (internal).
 * Each pass takes an inferred, static graph, rewrites it in place (new nodes appended, old
 * ones marked dead) and leaves it inferable again. compile and sessions share them. */
#ifndef DF_GRAPH_PASSES_H
#define DF_GRAPH_PASSES_H

#include <stdbool.h>

#include "graph/ir.h"

typedef struct df_optimize_opts {
    bool no_fusion;     /* keep the graph as exported (reference runs, debugging) */
    bool no_int8;       /* run QDQ graphs through the reference Q/DQ kernels */
    bool tanh_gelu;     /* allow the tanh GELU approximation (off: erf GELU only) */
    /* Set by df_graph_optimize on CPUs without VNNI: only MatMuls whose int8 weights the AVX2
     * kernel takes exactly (7-bit, ops/qgemm.h) become QMatMul; the rest run dequantized. */
    bool int8_qgemm_only;
} df_optimize_opts;

/* One pass: returns how many rewrites it made in *count. */
typedef df_status (*df_pass_fn)(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);

typedef struct df_pass {
    const char *name;
    df_pass_fn run;
} df_pass;

/* Runs every pass in order, then compacts and re-infers the graph. */
df_status df_graph_optimize(df_graph *g, const df_optimize_opts *o, df_error *err);
/* Removes Identity and inference Dropout (graph/simplify.c); the caller compacts and re-infers. */ df_status df_graph_simplify(df_graph *g, int *removed, df_error *err);
/* QDQ MatMul/Gemm [+ bias Add] -> ai.dpuflow.QMatMul (graph/fuse_qdq.c); off with no_int8. */
df_status df_pass_fuse_qdq(df_graph *g, const df_optimize_opts *o, int *count, df_error *err);

#endif
