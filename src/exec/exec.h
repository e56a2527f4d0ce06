/* Executor internals: the plan and the backend vtable (internal). */
#ifndef DF_EXEC_H
#define DF_EXEC_H

#include "dpuflow/session.h"
#include "graph/ir.h"
#include "ops/op.h"

/* A planned step: one live node with its kernel arguments bound to the session's tensors. */
typedef struct df_step {
    df_node *node;
    const df_tensor **in;
    df_tensor **out;
    df_kernel_args args;
    uint64_t profile_ns;     /* accumulated when the session profiles */
} df_step;

typedef struct df_plan {
    df_graph *graph;
    df_step *steps;
    int n_steps;
    df_tensor *tensors;      /* one per value: views into the arena, constants or user inputs */
    uint8_t *arena;
    size_t arena_bytes, naive_bytes;
    void *scratch;
    size_t scratch_bytes;
    int threads;
    size_t folded;
    bool profile;
    uint64_t profile_runs;
    void *backend_state;     /* owned by the backend (vart: its runner), freed in release */
    /* Variable batch (graph->max_batch > 1): the batch-scaled runtime values and the batch
     * the tensors' shapes currently describe. */
    int *scaled;
    int n_scaled;
    int64_t cur_batch;
} df_plan;

/* A backend turns a plan into work: cpu runs the op table's kernels; dpu-sim and vart will
 * run partitions of it. */
typedef struct df_backend {
    const char *name;
    /* Optional: reads the backend's own model format (vart: an .xmodel) into a graph that
     * declares only the inputs and outputs; NULL = the file is ONNX. */
    df_status (*load)(const char *path, df_graph **out, df_error *err);
    df_status (*prepare)(df_plan *p, df_error *err); /* once per session */
    df_status (*execute)(df_plan *p, df_error *err); /* per run: the hot path */
    void (*release)(df_plan *p);
} df_backend;

const df_backend *df_backend_find(const char *name);
extern const df_backend df_backend_cpu;

/* Variable batch (exec/batch.c). */
/* Rewrites Reshape targets that carry batch 1 to "copy the input's dim"; shapes must be
 * inferred (unfolded) at batch 1. Returns how many were rewritten. */
int df_batch_unbake_reshapes(df_graph *g);
/* Undoes what folding at max_batch wrote into constants (uniform [max_batch, ...] constants,
 * Reshape targets) and re-infers; false with why when the graph cannot be rebuilt. */
bool df_batch_unfold(df_graph *g, int max_batch, char *why, size_t len);
/* Proves the graph (inferred and optimized at max_batch) serves any batch up to it; marks
 * the scaled values and sets g->max_batch, or says why not. */
bool df_batch_analyze(df_graph *g, int max_batch, char *why, size_t len);

/* Memory planner: assigns arena offsets to every runtime value by lifetime. */
df_status df_plan_build(df_plan *p, df_error *err);
void df_plan_free(df_plan *p);

#endif
