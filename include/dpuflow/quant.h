/* dpuflow — INT8 post-training quantization: calibration data, observers, QDQ rewriting,
 * power-of-two (DPU) rules, and the FP32-vs-INT8 validator.
 *
 * quantize writes, in out_dir:
 *   deploy_model.onnx  a QDQ ONNX (static shapes, pinned from the calibration arrays):
 *                      every MatMul/Gemm with a constant weight gets
 *                        activation -> QuantizeLinear -> DequantizeLinear -> MatMul
 *                        int8 weight initializer     -> DequantizeLinear -> MatMul
 *                      (per channel: opset 13 `axis`; models below opset 13 fall back to
 *                      per-tensor weights, logged). ONNX Runtime and dpuflow both run it.
 *   quant_info.json    per quantized tensor: scale, zero_point, fix_pos (pof2), dtype, axis,
 *                      method, observed min/max/amax, and the rounding the target applies.
 *   quant_log.txt      per quantized layer: cosine and SQNR of its output, FP32 vs fake-quant.
 *
 * Rounding. Standard QuantizeLinear rounds half to even. The DPU rounds activations half
 * toward +infinity (DPU_ROUND: floor(x + 0.5)) and weights/bias half away from zero. The
 * pof2 deploy_model.onnx is the standard-rounding view of the DPU's arithmetic: its weights
 * are already rounded the DPU's way (stored int8), while its activation QuantizeLinear nodes
 * round half to even, which differs from the DPU only on exact ties. quant_info.json records
 * the DPU modes ("round_mode") so a dpu-sim backend can apply them exactly. */
#ifndef DPUFLOW_QUANT_H
#define DPUFLOW_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"
#include "dpuflow/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- calibration corpus (implemented in src/pipeline/calib.c: it needs text/, which quant/
 *      must not depend on) ----------------------------------------------------------------- */

/* Tokenizes a corpus (one sentence per line, UTF-8; empty lines skipped; NULL = the built-in
 * 50 Chinese sentences) into [N, seq] integer arrays named as model_onnx's inputs
 * (input_ids, attention_mask, token_type_ids: whichever the model has; the model's integer
 * dtype, int64 by default) and writes them atomically to out_npz. samples <= 0 = every
 * sentence; more than the corpus holds = the whole corpus. Invalid UTF-8 is an error naming
 * file:line; an empty corpus is an error. */
df_status df_calib_build(const char *corpus_path, int samples, const char *tokenizer_path, int64_t seq,
                         const char *model_onnx, const char *out_npz, df_error *err);

/* The same with a held-out split: every heldout_every-th sentence (1-based: the 5th, 10th, ...
 * for 5) goes to heldout_npz instead, and samples then counts the remaining sentences.
 * heldout_npz NULL or heldout_every < 2 = no split. */
df_status df_calib_build_split(const char *corpus_path, int samples, const char *tokenizer_path, int64_t seq,
                               const char *model_onnx, const char *out_npz, const char *heldout_npz,
                               int heldout_every, df_error *err);

/* The built-in corpus: count sentences. */
const char *const *df_calib_builtin(size_t *count);

/* ---- quantize ------------------------------------------------------------------------------ */

typedef struct df_quant_opts {
    const char *method;   /* "minmax" | "percentile" (default) | "entropy" | "mse" */
    double percentile;    /* percentile method; 0 = 99.999 */
    int bins;             /* histogram bins of |x|; 0 = 2048 */
    const char *scale;    /* "float" (default) | "pof2" */
    const char *weights;  /* "per_channel" (default for float) | "per_tensor" (forced by pof2) */
    int threads;          /* intra-op threads for the calibration runs; 0 = 1 */
    /* 8 (0 = default): weights in [-127, 127]. 7: in [-64, 64] (ONNX Runtime's reduce_range),
     * which CPUs without VNNI multiply exactly at twice the FP32 rate (ops/qgemm.h), for one
     * bit of weight precision; validate shows what it costs. Float scales only. */
    int weight_bits;
    /* 8 (0 = default): activations use every level of int8/uint8. 7: half of them (int8 in
     * [-63, 63], uint8 in [0, 127]), so the AVX2 kernel's faster narrow form applies (about
     * 1.25x, ops/qgemm.h); values past the calibrated range still quantize, to 8 bits, and
     * that run takes the wide form: never wrong, only slower. Float scales only. */
    int act_bits;
} df_quant_opts;

df_status df_quantize(const char *fp32_onnx, const char *calib_npz, const df_quant_opts *o, const char *out_dir,
                      df_error *err);

/* ---- validate ------------------------------------------------------------------------------ */

typedef struct df_validate_opts {
    double cosine;   /* threshold on each output's mean cosine; 0 = 0.99 */
    double top1;     /* top-1 agreement threshold for classifier outputs; 0 = 0.99 */
    int threads;     /* 0 = 1 */
    bool quiet;      /* do not print the table to stdout */
} df_validate_opts;

#define DF_VALIDATE_MAX_OUTPUTS 16

typedef struct df_validate_output {
    char name[128];
    double cos_mean, cos_min;
    bool classifier;        /* top-1 measured */
    double top1;            /* agreement in [0,1] when classifier */
} df_validate_output;

typedef struct df_validate_set {
    size_t rows;
    size_t n_outputs;
    df_validate_output out[DF_VALIDATE_MAX_OUTPUTS];
} df_validate_set;

typedef struct df_validate_result {
    bool ok;                 /* every output of every set meets the thresholds */
    df_validate_set calib;   /* on inputs_npz */
    df_validate_set heldout; /* rows == 0 when no held-out set was given */
    size_t layers;           /* layers in the per-layer table */
    double layer_cos_min;    /* worst per-layer mean cosine */
} df_validate_result;

/* Runs both models over every row of inputs_npz (and heldout_npz when not NULL), one row as
 * batch 1. An output passes when its mean cosine >= opts.cosine and, for classifiers (an
 * output named like "logits", or rank 2 with a last dim <= 32 whose name does not say
 * embedding/pooler/hidden), top-1 agreement >= opts.top1. A miss is a WARN, not an error:
 * the call returns DF_OK with r->ok false. The per-layer table is appended to
 * log_path_append when not NULL. */
df_status df_validate(const char *fp32_onnx, const char *int8_onnx, const char *inputs_npz, const char *heldout_npz,
                      const df_validate_opts *o, df_validate_result *r, const char *log_path_append, df_error *err);

/* ---- the arithmetic, exposed for tests and for the dpu-sim backend ------------------------- */

/* DPU activation rounding: floor(v + 0.5) (half toward +inf), saturated to [-128, 127]. */
int8_t df_pof2_quant_act(float x, int fix_pos);
/* DPU weight/bias rounding: half away from zero, saturated to [-128, 127]. */
int8_t df_pof2_quant_weight(float x, int fix_pos);
/* floor(log2(127 / amax)): the largest fix_pos at which amax does not overflow int8.
 * amax <= 0 gives DF_POF2_FIX_MAX. */
int df_pof2_overflow_pos(double amax);
#define DF_POF2_FIX_MAX 24
#define DF_POF2_ACT_FIX_MAX 12
/* Best of five fix_pos candidates (overflow bound .. bound+4) by squared error over x[n],
 * with the given rounding (activation rounding when act, else weight rounding). */
int df_pof2_best_pos(const float *x, size_t n, bool act);

/* Threshold (an |x| value) chosen by method from a histogram of |x|: counts[bins] over
 * [0, bins * width). levels = the positive quantized levels (127 for int8, 255 for uint8 with
 * zero point 0). percentile in (0, 100]. minmax returns the upper edge of the last non-empty
 * bin. */
double df_hist_threshold(const double *counts, int bins, double width, const char *method, double percentile,
                         int levels);

#ifdef __cplusplus
}
#endif
#endif
