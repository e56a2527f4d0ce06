/* The fpga compile path's internals: partitioner, cost model, MD5 (compile/, internal).
 * Unit tests include this header; nothing outside compile/ does. */
#ifndef DF_COMPILE_FPGA_H
#define DF_COMPILE_FPGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/compile.h"
#include "graph/ir.h"

typedef enum df_fpga_side { DF_SIDE_CPU = 0, DF_SIDE_DPU = 1 } df_fpga_side;

/* Where one node runs and why. */
typedef struct df_fpga_place {
    df_fpga_side side;
    int subgraph;          /* index into df_fpga_partition.subgraphs */
    char reason[160];      /* why it is on the CPU (empty for DPU nodes), or what it maps to */
    double macs;           /* multiply-accumulates of this node (matrix products) */
    double flops;          /* float work when on the CPU */
    /* For DPU matrix products: the 1x1 conv it maps to */
    int64_t conv_pixels, conv_in, conv_out;
    bool dpu_round;        /* a QuantizeLinear feeding only DPU convs: rounds the DPU's way */
} df_fpga_place;

typedef struct df_fpga_tensor {
    int value;             /* value index */
    int64_t bytes;         /* as it lies in DDR: int8 at a DPU edge, its dtype otherwise */
} df_fpga_tensor;

typedef struct df_fpga_subgraph {
    df_fpga_side side;
    char name[96];
    int *nodes;            /* node indices, topological order */
    int n_nodes;
    df_fpga_tensor *ins, *outs;  /* tensors crossing its boundary */
    int n_ins, n_outs;
    double macs, flops;
    /* cost model results */
    double compute_cycles, ddr_bytes, ddr_cycles, time_us, boundary_us, util;
} df_fpga_subgraph;

typedef struct df_fpga_partition {
    const df_graph *g;
    df_fpga_place *place;  /* per node (dead nodes: CPU, subgraph -1) */
    df_fpga_subgraph *subgraphs;
    int n_subgraphs, n_dpu, n_cpu;
    double macs_total, macs_dpu;
} df_fpga_partition;

/* The bank-depth rule of the conv engine: kw * kh * ceil(in_ch / channel_parallel) <= depth. */
bool df_fpga_bank_ok(const df_fpga_profile *p, int kw, int kh, int64_t in_ch);

/* Places every live node of g (an inferred graph after fuse_qdq: QMatMul = a quantized Linear)
 * and merges the nodes into maximal convex subgraphs. */
df_status df_fpga_partition_build(const df_graph *g, const df_fpga_profile *p, df_fpga_partition *out,
                                  df_error *err);
void df_fpga_partition_free(df_fpga_partition *pt);

/* Cost model (fpga_cost.c). */
typedef struct df_fpga_cost {
    double latency_us;          /* one inference, batch 1, one DPU core, subgraphs in sequence */
    double dpu_us, cpu_us, boundary_us;
    double max_task_us;
    char max_task[96];
    double fps_total;           /* with every DPU core busy */
    double fps_per_core;
    const char *bound;          /* what limits fps_total: "dpu", "cpu" or "ddr" */
} df_fpga_cost;

/* Cycles of one DPU 1x1 conv (pixels x in -> out channels) at the profile's parallelism, and
 * its utilization (useful MACs / MACs the padded tiles cost). */
double df_fpga_conv_cycles(const df_fpga_profile *p, int64_t pixels, int64_t in_ch, int64_t out_ch, double *util);
void df_fpga_cost_eval(df_fpga_partition *pt, const df_fpga_profile *p, df_fpga_cost *c);

/* MD5 (RFC 1321), md5.c. */
typedef struct df_md5 {
    uint32_t s[4];
    uint64_t len;
    uint8_t buf[64];
} df_md5;
void df_md5_init(df_md5 *m);
void df_md5_update(df_md5 *m, const void *data, size_t n);
void df_md5_final(df_md5 *m, uint8_t out[16]);
/* Hex digest of a whole file. */
df_status df_md5_file(const char *path, char hex[33], df_error *err);

/* Load, pin, infer+fold, simplify, compact, re-infer (compile.c): the static graph. */
df_status df_compile_make_static(const char *path, const int64_t *shape, int rank, bool simplify, df_graph **out,
                                 df_check_report *rep, df_error *err);

/* The same with fuse_qdq applied before compaction: QDQ Linear layers -> ai.dpuflow.QMatMul. */
df_status df_compile_make_static_int8(const char *path, const int64_t *shape, int rank, df_graph **out,
                                      df_check_report *rep, int *fused, df_error *err);

/* The fpga path of df_compile (fpga_compile.c). */
df_status df_compile_fpga(const char *model_onnx, const df_compile_opts *o, const char *out_dir,
                          df_compile_result *r, df_error *err);

#endif
