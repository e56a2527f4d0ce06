/* dpuflow — Vitis AI tool adapters: run the vendor's quantizer (vai_q_onnx) and compiler
 * (vai_c_xir) in place of the built-in quantize and compile stages, and read what they
 * write (the UNILOG lines of the compile log, md5sum.txt, meta.json) into dpuflow's report.
 *
 * model.json, under "target":
 *   "toolchain": "builtin" (default) | "vitis" | "auto" (vitis when both tools are found),
 *   "vai_q_onnx": path, "vai_c_xir": path (default: looked up on PATH),
 *   "tool_timeout_s": 3600.
 * Never run against the real toolchain: see docs/fpga.md, "Vitis AI adapters". */
#ifndef DPUFLOW_VITIS_H
#define DPUFLOW_VITIS_H

#include <stdbool.h>
#include <stddef.h>

#include "dpuflow/pipeline.h"
#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a vai_c_xir log says. Counts are -1 when the log has no such line. */
typedef struct df_vitis_compile_log {
    int device_subgraphs, dpu_subgraphs;  /* "Total device subgraph number N, DPU subgraph number M" */
    char target[128];                     /* "Target architecture: ..." */
    char graph_name[128];                 /* "Graph name: X, with op num: N" */
    long long op_num;
    char xmodel[1024], meta[1024];        /* the paths it says it saved */
    char md5[33];                         /* "The compiled xmodel's md5sum is ..." */
    int infos, warnings, errors;          /* [UNILOG][INFO|WARNING|ERROR/FATAL] lines */
    char first_error[512];                /* the first ERROR/FATAL message */
} df_vitis_compile_log;

/* Parses a vai_c_xir log; name (the file) prefixes errors. Lines other than UNILOG lines are
 * skipped, UNILOG messages it does not know are counted and skipped; a known message that
 * does not parse (a count that is not a number, DPU > device, ...) is DF_EFORMAT naming
 * name:line. */
df_status df_vitis_parse_compile_log(const char *text, size_t len, const char *name, df_vitis_compile_log *out,
                                     df_error *err);
/* md5sum.txt: "<32 hex digits>[  <file>]"; md5 gets the lowercase digest. */
df_status df_vitis_parse_md5sum(const char *text, size_t len, const char *name, char md5[33], df_error *err);

/* The vendor's meta.json: the DPU kernels ("kernel", or "kernels"), target and filename. */
typedef struct df_vitis_meta {
    char **kernels;
    int n_kernels;
    char target[128];
    char filename[256];
} df_vitis_meta;
df_status df_vitis_parse_meta(const char *text, size_t len, const char *name, df_vitis_meta *out, df_error *err);
void df_vitis_meta_free(df_vitis_meta *m);

/* The tool to run: cfg_path when set (must be executable), else the first `name` on PATH. */
df_status df_vitis_find_tool(const char *name, const char *cfg_path, char *out, size_t size, df_error *err);
/* Runs argv[0] (a path) with posix_spawn (no shell), stdout and stderr to log_path, in its own
 * process group, killed after timeout_s. A non-zero exit is DF_EIO naming the log. */
df_status df_vitis_run_tool(char *const argv[], const char *log_path, int timeout_s, df_error *err);

/* True when the config asks for the vendor tools ("vitis", or "auto" with both found). */
bool df_vitis_selected(const df_model_config *c);
/* The quantize stage with vai_q_onnx: out_dir/deploy_model.onnx, quant_info.json, vai_q_onnx.log. */
df_status df_vitis_quantize(const df_model_config *c, const char *fp32_onnx, const char *calib_npz,
                            const char *out_dir, df_error *err);
/* After the built-in compile wrote compiled_dir: runs vai_c_xir on model into compiled_dir/vitis/,
 * parses its log and files, and adds them to compiled_dir/meta.json ("vitis") and
 * compile_log.txt. */
df_status df_vitis_compile(const df_model_config *c, const char *model, const char *compiled_dir,
                           df_vitis_compile_log *log, df_error *err);

#ifdef __cplusplus
}
#endif
#endif
