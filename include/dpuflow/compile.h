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
    const char *platform;     /* "cpu" (NULL = cpu) or "fpga" */
    const char *arch;         /* fpga: a built-in profile name or an arch.json path (NULL = ZCU104) */
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
    /* fpga only */
    int dpu_subgraphs, cpu_subgraphs;
    double dpu_mac_coverage;  /* % of MACs on the DPU */
    double latency_ms;        /* estimated, batch 1, one DPU core */
} df_compile_result;

/* Compiles model_onnx into out_dir: the artifact, meta.json, compile_log.txt and a copy of
 * quant_info.json. */
df_status df_compile(const char *model_onnx, const df_compile_opts *o, const char *out_dir, df_compile_result *r,
                     df_error *err);

/* ---- FPGA target profiles (data: src/compile/fpga_profiles.c; sources in docs/fpga.md) ---- */

typedef struct df_fpga_profile {
    char name[64];            /* "DPUCZDX8G/ZCU104", or the arch.json path */
    char dpu[32];             /* "B4096" */
    uint64_t fingerprint;     /* 0 when not known */
    int arch;                 /* fingerprint & 0xF */
    int pp, icp, ocp;         /* pixel / input-channel / output-channel parallelism */
    int cores;
    double clock_mhz;
    /* conv engine limits */
    int kernel_min, kernel_max, stride_min, stride_max, channel_parallel, bank_depth;
    double leaky_alpha;       /* 26/256: the only leaky-relu slope the DPU fuses */
    /* cost model parameters */
    double ddr_gbs;           /* DDR bandwidth, GB/s, shared by the cores */
    double ddr_efficiency;    /* fraction of it a DPU core streams at */
    double invoke_us;         /* fixed cost per DPU subgraph invocation */
    double cpu_gflops;        /* ARM side, per thread, for CPU subgraphs */
    int cpu_cores;
    double cpu_ghz;
    double boundary_gbs;      /* CPU-side copy/convert rate for tensors crossing a boundary */
} df_fpga_profile;

/* Peak ops per cycle: PP * ICP * OCP * 2 (B4096: 8 * 16 * 16 * 2 = 4096). */
int df_fpga_peak_ops_per_cycle(const df_fpga_profile *p);
/* Fills p from a built-in name (DPUCZDX8G/ZCU104, DPUCZDX8G/ZCU102, DPUCZDX8G/KV260; NULL =
 * ZCU104) or from an arch.json path ({"fingerprint": "0x..."}); errors name the file. */
df_status df_fpga_profile_get(const char *name_or_path, df_fpga_profile *p, df_error *err);
/* Decodes a DPUCZDX8G fingerprint into PP/ICP/OCP (ARCH = fp & 0xF). */
df_status df_fpga_decode_fingerprint(uint64_t fp, df_fpga_profile *p, df_error *err);
/* The built-in profile names, NULL-terminated. */
const char *const *df_fpga_profile_names(void);

#ifdef __cplusplus
}
#endif
#endif
