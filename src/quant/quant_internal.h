/* Shared by quantize.c and validate.c: calibration rows, sessions with extra outputs, and the
 * FP32-vs-INT8 comparison behind quant_log.txt and validate. */
#ifndef DF_QUANT_INTERNAL_H
#define DF_QUANT_INTERNAL_H

#include <stdio.h>

#include "dpuflow/quant.h"
#include "dpuflow/session.h"
#include "graph/ir.h"

/* An .npz of [N, seq] arrays, fed one row at a time as [1, seq]. */
typedef struct qx_rows {
    const char *path;
    df_tensor_list list;
    size_t rows;
    int64_t seq;
} qx_rows;

df_status qx_rows_load(const char *path, qx_rows *r, df_error *err);
void qx_rows_free(qx_rows *r);
/* Fills feed[] (the session's inputs, in order) with [1, seq] views of row r. */
df_status qx_rows_feed(const qx_rows *rows, const df_session *s, size_t r, df_tensor *feed, df_error *err);

/* Makes value `name` an extra graph output (no-op when it already is one). */
df_status qx_add_output(df_graph *g, const char *name, df_error *err);
/* Pins every dynamic input dim from a [1, seq] row of rows, then infers (folds) g. */
df_status qx_pin_and_infer(df_graph *g, const qx_rows *rows, df_error *err);
/* Opens path with names[] added as outputs, inputs pinned to [1, seq]. */
df_status qx_open(const char *path, const char *const *names, size_t n_names, const qx_rows *rows, int threads,
                  df_session **out, df_error *err);

/* Per-layer error of a quantized model against its FP32 source. */
typedef struct qx_layer {
    char *name;        /* the layer's output tensor */
    double cos_sum, cos_min, sig, noise;
    size_t n;
} qx_layer;

typedef struct qx_layers {
    qx_layer *items;
    size_t count;
} qx_layers;

/* Layers = outputs of MatMul/Gemm nodes of int8_path that consume a DequantizeLinear output
 * and also exist in fp32_path. Runs both over every row. */
df_status qx_layer_errors(const char *fp32_path, const char *int8_path, const qx_rows *rows, int threads,
                          qx_layers *out, df_error *err);
void qx_layers_print(const qx_layers *l, FILE *f);
void qx_layers_free(qx_layers *l);

/* Index of the session output called name, or -1. */
int qx_output_index(const df_session *s, const char *name);

/* Cosine of two float vectors (1 when both are all zero). */
double qx_cosine(const float *a, const float *b, size_t n);

#endif
