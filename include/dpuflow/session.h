/* dpuflow — run a model: load, infer static shapes, plan memory once, execute many times. */
#ifndef DPUFLOW_SESSION_H
#define DPUFLOW_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dpuflow/status.h"
#include "dpuflow/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct df_session df_session;
typedef struct df_graph df_graph;

typedef struct df_session_opts {
    int threads;                    /* intra-op threads; 0 = all cores */
    const char *backend;            /* "cpu" (NULL = cpu) */
    /* Pins for the file's symbolic dims, e.g. {"batch","sequence"} = {1,64}. */
    const char *const *dim_names;
    const int64_t *dim_values;
    int n_dims;
    /* Pins every dynamic dim of rank-2 integer inputs (token ids, masks) to [batch, seq] when
     * > 0. Applied after dim_names. */
    int64_t batch, seq;
    /* Sample inputs by name: their shapes pin the remaining dynamic dims, and when an output
     * shape depends on an input's value (a Reshape whose shape is an input), that input's
     * value is bound as a constant. May be NULL. */
    const df_tensor_list *sample_inputs;
    /* Times every step (two clock reads per node); see df_session_profile_print. */
    bool profile;
    /* The fused FP32 and INT8 paths are the default; these keep the graph as loaded (for
     * reference runs and for checking that fusion changes nothing). */
    bool no_fusion;
    bool no_int8;
    /* > 1: one plan for every batch from 1 to max_batch (the server's batcher). Shapes are
     * inferred at max_batch, and runs take inputs whose batch dim is any size up to it. A model
     * whose graph cannot vary its batch (a shape baked into a constant, a reduction over the
     * batch, an op without variable-row kernels) opens at its own static batch instead;
     * df_session_max_batch tells which happened, and df_session_batch_note why. */
    int max_batch;
} df_session_opts;

/* Opens a session for the ONNX model at path. */
df_status df_session_open(const char *path, const df_session_opts *opts, df_session **out, df_error *err);
/* Opens a session for a graph already in memory; takes ownership of g, even on failure. */
df_status df_session_open_graph(df_graph *g, const df_session_opts *opts, df_session **out, df_error *err);

size_t df_session_input_count(const df_session *s);
size_t df_session_output_count(const df_session *s);
/* Name, dtype and static shape of input or output i (any out-pointer may be NULL). */
void df_session_input_info(const df_session *s, size_t i, const char **name, df_dtype *dtype, df_shape *shape);
void df_session_output_info(const df_session *s, size_t i, const char **name, df_dtype *dtype, df_shape *shape);
/* Index of the input called name, or -1. */
int df_session_input_index(const df_session *s, const char *name);

/* Runs the model. inputs are in the model's input order with exactly the planned dtypes and
 * shapes, except that a session with df_session_max_batch() > 0 takes any batch from 1 to it
 * (the same for every batch-carrying input); outputs then have that batch too. outputs[i] becomes a view (owns_data = false) of output i inside the session's
 * memory, valid until the next run or close. No allocation happens here. */
df_status df_session_run(df_session *s, const df_tensor *inputs, size_t n_inputs, df_tensor *outputs, size_t n_outputs,
                         df_error *err);

/* Facts about the plan, for `inspect`, logs and compile reports. */
typedef struct df_session_stats {
    size_t nodes;          /* executable nodes after folding */
    size_t folded;         /* nodes folded into constants at load */
    size_t arena_bytes;    /* activation memory, planned once */
    size_t naive_bytes;    /* what one buffer per value would take */
    size_t scratch_bytes;
    size_t const_bytes;    /* weights and other constants */
    int threads;
} df_session_stats;
/* The largest batch one run accepts: opts.max_batch when the plan varies its batch, else 0
 * (only the static input shapes are accepted). */
int df_session_max_batch(const df_session *s);
/* Why a session asked for max_batch runs at a static batch ("" when it did not or it varies). */
const char *df_session_batch_note(const df_session *s);
void df_session_get_stats(const df_session *s, df_session_stats *stats);

/* The session's graph (inferred, folded); owned by the session. */
const df_graph *df_session_graph(const df_session *s);

/* With opts.profile: prints time per op type over all runs so far, largest first. */
void df_session_profile_print(const df_session *s, FILE *out);

void df_session_close(df_session *s);

#ifdef __cplusplus
}
#endif
#endif
