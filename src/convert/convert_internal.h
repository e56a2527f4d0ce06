/* convert/ internals shared by the readers, the builders and the fuzzers. */
#ifndef DF_CONVERT_INTERNAL_H
#define DF_CONVERT_INTERNAL_H

#include <stdint.h>

#include "dpuflow/convert.h"

/* One tensor of a torch.save'd state dict, as the pickle describes it: which storage (a zip
 * member "<prefix>/data/<key>"), its element type and size, and where the tensor lies in it.
 * Only contiguous tensors are returned (anything else is an error naming the key). */
typedef struct df_pk_tensor {
    char *name;
    char *storage_key;
    df_dtype dtype;
    int64_t storage_numel;   /* elements the storage declares */
    int64_t offset;          /* storage offset, in elements */
    df_shape shape;
} df_pk_tensor;

/* Runs the restricted pickle machine over a torch.save data.pkl: only the opcodes and the
 * globals torch emits for a state dict are accepted (any other global is an error naming it);
 * nothing is called or imported. what names the source in messages. */
df_status df_pickle_state_dict(const uint8_t *buf, size_t size, const char *what, df_pk_tensor **out,
                               size_t *count, df_error *err);
void df_pk_tensors_free(df_pk_tensor *t, size_t n);

/* The parsed config.json fields the builders use. */
typedef struct df_hf_config {
    char path[512];
    char model_type[32];       /* "bert", "roberta", "xlm-roberta" */
    char architecture[64];     /* architectures[0], or "" */
    int64_t hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    int64_t max_position_embeddings, type_vocab_size, vocab_size, pad_token_id;
    double layer_norm_eps;
    int64_t num_labels;        /* 0 when the config names no labels */
    char **labels;             /* id2label in id order (num_labels entries) or NULL */
    char *architectures_json;  /* the architectures array as JSON text, or NULL */
} df_hf_config;

df_status df_hf_config_load(const char *path, df_hf_config *cfg, df_error *err);
void df_hf_config_free(df_hf_config *cfg);

#endif
