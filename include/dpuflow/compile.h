/* dpuflow — the static checker/simplifier and the compiler's artifact writer.
 *
 * For platform cpu the artifact is a static ONNX ("format": "onnx-static" in meta.json):
 * dims pinned, constants and shape subgraphs folded, Identity/Dropout removed. Every tool
 * that loads ONNX (run, infer, bench-model, ONNX Runtime) loads it as-is; the engine's fusions
 * are applied when a session opens it, and compile_log.txt reports the graph as executed. */
#ifndef DPUFLOW_COMPILE_H
#define DPUFLOW_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct df_check_report {
    int nodes_before, nodes_after;   /* live nodes as loaded and as written */
    int folded;                      /* nodes turned into constants */
    int removed;                     /* Identity / Dropout nodes removed */
} df_check_report;

/* Loads in_onnx, pins every dynamic dim of inputs of rank `rank` to shape (NULL: token inputs
 * to [1, 64]), infers and folds, removes Identity/Dropout when simplify, and fails naming
 * the input/node that cannot be made static. Writes out_onnx atomically when not NULL. */
df_status df_check_model(const char *in_onnx, const int64_t *shape, int rank, bool simplify, const char *out_onnx,
                         df_check_report *rep, df_error *err);

typedef struct df_compile_opts {
    const char *model_name;   /* names the artifact: <model_name>_<platform>.onnx */
    const char *platform;     /* "cpu" (NULL = cpu); "fpga" is not supported yet (issue 6) */
    const char *arch;
    int opt_level;
    const int64_t *input_shape;
    int input_rank;
    const char *quant_info;   /* copied beside the artifact when not NULL and present */
    int threads;
} df_compile_opts;

typedef struct df_compile_result {
    char artifact[4096];      /* path of the written artifact */
    char sha256[65];
    size_t task_count;        /* executable nodes (after the engine's fusions) */
    size_t arena_bytes;
    double flops;             /* estimated per inference */
    int nodes_before, nodes_after;
} df_compile_result;

/* Compiles model_onnx into out_dir: the artifact, meta.json, compile_log.txt and a copy of
 * quant_info.json. */
df_status df_compile(const char *model_onnx, const df_compile_opts *o, const char *out_dir, df_compile_result *r,
                     df_error *err);

#ifdef __cplusplus
}
#endif
#endif
