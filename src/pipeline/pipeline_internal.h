/* pipeline/: the stage adapters (stages.c) the runner (build.c) calls. Internal. */
#ifndef DF_PIPELINE_INTERNAL_H
#define DF_PIPELINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "dpuflow/compile.h"
#include "dpuflow/pipeline.h"

typedef struct df_pl_validation {
    bool ok;
    double cos_mean, cos_min;   /* worst output's */
    double top1;                /* worst classifier output's; < 0 when none */
    size_t rows;
} df_pl_validation;

df_status df_pl_export(const df_model_config *c, const char *out_onnx, const char *out_meta, df_error *err);
df_status df_pl_calibrate(const df_model_config *c, const char *model_onnx, const char *out_npz, df_error *err);
df_status df_pl_quantize(const df_model_config *c, const char *fp32_onnx, const char *calib_npz, const char *out_dir,
                         int threads, df_error *err);
df_status df_pl_validate(const df_model_config *c, const char *fp32_onnx, const char *int8_onnx, const char *npz,
                         const char *log_path, int threads, df_pl_validation *v, df_error *err);
/* df_compile, then the Vitis AI compiler when the config selects it (stages.c). */
df_status df_pl_compile(const df_model_config *c, const char *model, const df_compile_opts *co, const char *out_dir,
                        df_compile_result *cr, df_error *err);

#endif
