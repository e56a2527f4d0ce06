/* dpuflow — the build pipeline: model.json and the stage runner behind `dpuflow build`.
 *
 * model.json keys (all others are an error naming the key; paths are relative to the
 * config file's directory):
 *   model_name (required; letters, digits, '_', '-', '.'), framework ("pytorch" | "onnx"),
 *   model_path (required: an HF folder or an .onnx file), config_path, tokenizer (required),
 *   task (required), input_shape ([1, 64]), output,
 *   calibration {corpus, samples 50, method "percentile" | "minmax" | "entropy" | "mse"},
 *   quantization {scale "float" | "pof2", weights "per_channel" | "per_tensor", weight_bits 8 | 7,
 *                 act_bits 8 | 7,
 *                 thresholds {cosine 0.99, top1 0.99}},
 *   target {platform "cpu" | "fpga", arch, opt_level 2, batch 1,
 *           toolchain "builtin" | "vitis" | "auto", vai_q_onnx, vai_c_xir, tool_timeout_s 3600},
 *   output_dir ("build/<model_name>").
 * With platform fpga the scale must be pof2. */
#ifndef DPUFLOW_PIPELINE_H
#define DPUFLOW_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DF_CFG_MAX_RANK 8

typedef struct df_model_config {
    char *config_file;     /* as given */
    char *model_name;
    char *framework;       /* "pytorch" | "onnx" */
    char *model_path;      /* resolved against the config's directory */
    char *config_path;     /* resolved; NULL when absent */
    char *tokenizer;       /* resolved */
    char *task;
    int64_t input_shape[DF_CFG_MAX_RANK];
    int input_rank;
    char *output;          /* NULL = the exporter's default */
    char *calib_corpus;    /* resolved; NULL = built-in sentences */
    int calib_samples;
    char *calib_method;
    char *scale;           /* "float" | "pof2" */
    char *weights;         /* "per_channel" | "per_tensor" */
    int weight_bits;       /* 8 (default) | 7: see df_quant_opts */
    int act_bits;          /* 8 (default) | 7: see df_quant_opts */
    double thr_cosine, thr_top1;
    char *platform;        /* "cpu" | "fpga" */
    char *arch;            /* NULL when absent */
    int opt_level;
    int batch;
    char *output_dir;      /* resolved */
    /* Vitis AI adapters (dpuflow/vitis.h): target.toolchain "builtin" | "vitis" | "auto",
     * target.vai_q_onnx / target.vai_c_xir (resolved; NULL = PATH), target.tool_timeout_s. */
    char *toolchain;
    char *vai_q_onnx, *vai_c_xir;
    int tool_timeout_s;
} df_model_config;

/* Parses and validates path; every path it names must exist (output_dir excepted). */
df_status df_model_config_load(const char *path, df_model_config **out, df_error *err);
void df_model_config_free(df_model_config *c);

/* ---- the build -------------------------------------------------------------------------- */
typedef enum df_build_stage {
    DF_STAGE_EXPORT = 0,
    DF_STAGE_CHECK,
    DF_STAGE_CALIBRATE,
    DF_STAGE_QUANTIZE,
    DF_STAGE_VALIDATE,
    DF_STAGE_COMPILE,
    DF_STAGE_REGISTER,
    DF_STAGE_COUNT
} df_build_stage;

const char *df_build_stage_name(df_build_stage s);
/* -1 when name is not a stage. */
int df_build_stage_parse(const char *name);

typedef struct df_build_opts {
    const char *registry;  /* NULL = model_registry.json in the current directory */
    int from;              /* first stage to run regardless of the cache; -1 = none */
    bool force;            /* ignore every stamp */
    bool quiet;            /* no progress lines on stdout */
    int threads;           /* 0 = 1 */
} df_build_opts;

typedef struct df_build_result {
    int ran, cached, skipped;      /* stages: did work / up to date / not applicable */
    double seconds[DF_STAGE_COUNT];
    bool ran_stage[DF_STAGE_COUNT];
    bool validate_ok;              /* false: a WARN (the build still succeeds) */
    double total_seconds;
    df_build_stage failed;               /* meaningful when the call fails */
} df_build_result;

/* Runs export .. register in order under cfg->output_dir, one progress line per stage,
 * caching by content hash in output_dir/.stamps/. Stops at the first failing stage; its
 * error is prefixed with the stage's name. */
df_status df_build(const df_model_config *cfg, const df_build_opts *o, df_build_result *r, df_error *err);

#ifdef __cplusplus
}
#endif
#endif
