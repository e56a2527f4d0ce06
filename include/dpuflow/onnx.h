/* dpuflow — ONNX files <-> the graph IR. */
#ifndef DPUFLOW_ONNX_H
#define DPUFLOW_ONNX_H

#include "dpuflow/status.h"
#include "dpuflow/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct df_graph df_graph;

/* Loads path (a .onnx file) into a new graph, including external-data tensors stored beside
 * it (how models over 2 GiB are saved). The graph is not yet inferred. */
df_status df_onnx_load(const char *path, df_graph **out, df_error *err);
/* The same from memory; base_dir resolves external data (NULL: external data is an error).
 * what names the source in error messages. */
df_status df_onnx_load_buffer(const void *data, size_t size, const char *base_dir, const char *what,
                              df_graph **out, df_error *err);

typedef struct df_onnx_save_opts {
    /* Initializers of at least this many bytes go to "<file>.data" beside the model;
     * 0 = keep everything inline (fails past protobuf's 2 GiB limit). */
    size_t external_threshold;
} df_onnx_save_opts;

/* Writes g (live nodes, constants as initializers) atomically: temp file, fsync, rename. */
df_status df_onnx_save(const df_graph *g, const char *path, const df_onnx_save_opts *opts, df_error *err);

/* Reads one serialized TensorProto (the .pb files of ONNX's node tests). name may be NULL. */
df_status df_onnx_read_tensor(const char *path, df_tensor *out, char **name, df_error *err);

#ifdef __cplusplus
}
#endif
#endif
