/* dpuflow — Hugging Face checkpoints -> static ONNX: checkpoint readers (safetensors, PyTorch
 * zip + pickle, sharded index files), config.json, and the BERT / RoBERTa / XLM-R builders. */
#ifndef DPUFLOW_CONVERT_H
#define DPUFLOW_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"
#include "dpuflow/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct df_graph df_graph;

/* ---- checkpoints ------------------------------------------------------------------------ */

typedef struct df_checkpoint df_checkpoint;

/* Opens path: a model.safetensors, a pytorch_model.bin, a *.index.json of a sharded
 * checkpoint, or a folder (then model.safetensors, pytorch_model.bin,
 * model.safetensors.index.json, pytorch_model.bin.index.json, first found). Every header,
 * offset and size is checked before it is used; nothing in a pickle is ever executed. */
df_status df_checkpoint_open(const char *path, df_checkpoint **out, df_error *err);
/* Parses a safetensors image held in memory (borrowed: it must outlive the checkpoint). */
df_status df_checkpoint_open_safetensors_buffer(const void *buf, size_t size, const char *what,
                                                df_checkpoint **out, df_error *err);
void df_checkpoint_close(df_checkpoint *c);

size_t df_checkpoint_count(const df_checkpoint *c);
/* Name, stored dtype and shape of tensor i (any out-pointer may be NULL). */
void df_checkpoint_info(const df_checkpoint *c, size_t i, const char **name, df_dtype *dtype, df_shape *shape);
/* Index of the tensor called name, or -1. */
int df_checkpoint_find(const df_checkpoint *c, const char *name);
/* The file tensor i came from (for messages). */
const char *df_checkpoint_file(const df_checkpoint *c, size_t i);
/* Copies tensor i into an owned tensor: floating dtypes (F32, F16, BF16, F64) become F32,
 * integer dtypes become I64. */
df_status df_checkpoint_get(const df_checkpoint *c, size_t i, df_tensor *out, df_error *err);
/* The files the checkpoint was read from (for hashes); count via *n. */
const char *const *df_checkpoint_files(const df_checkpoint *c, size_t *n);

/* ---- export ----------------------------------------------------------------------------- */

typedef struct df_export_opts {
    int64_t batch, seq;      /* static input shape; 0 = 1 and 64 */
    /* "logits", "last_hidden_state", "cls", "mean", "pooler"; NULL = logits for
     * *ForSequenceClassification, else last_hidden_state. */
    const char *output;
    const char *config_path; /* NULL = <model_dir>/config.json */
    const char *weights_path;/* NULL = found in model_dir (see df_checkpoint_open) */
    int opset;               /* 0 = 13; LayerNormalization is used from 17 on */
    bool normalize;          /* L2-normalize a cls / mean / pooler embedding */
    bool no_token_type_ids;  /* feed zeros as token types instead of an input */
} df_export_opts;

/* What the builder decided, for metadata and callers. */
typedef struct df_export_info {
    char model_type[32];
    char architecture[64];   /* the class built, e.g. "BertForSequenceClassification" */
    char output_name[64];
    int64_t batch, seq;
    int opset;
    int n_inputs;
    char input_names[3][32];
    int64_t parameters;      /* checkpoint parameters used by the graph */
    int64_t output_shape[3];
    int output_rank;
} df_export_info;

/* Builds the graph (not inferred, not folded) for the checkpoint in model_dir. info may be
 * NULL. */
df_status df_export_hf_graph(const char *model_dir, const df_export_opts *opts, df_graph **out,
                             df_export_info *info, df_error *err);

/* Reads the checkpoint in model_dir, builds the graph, writes out_onnx and out_metadata_json
 * (each atomically; metadata last, so it only exists beside a complete model).
 * out_metadata_json may be NULL. */
df_status df_export_hf(const char *model_dir, const df_export_opts *opts, const char *out_onnx,
                       const char *out_metadata_json, df_error *err);

#ifdef __cplusplus
}
#endif
#endif
