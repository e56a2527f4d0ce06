/* oneDNN glue shared by MatMul and Gemm: one CPU engine for the process, and a prepared f32
 * matmul "plan" that owns its primitive, stream, memory objects and packed weights.
 *
 * Everything that allocates happens in df_dnnl_mm_create (called from an op's prepare); the
 * run path only swaps data handles and executes. A plan belongs to one node of one session,
 * so runs of the same session must not overlap (the executor runs a session's nodes in order). */
#ifndef DF_OPS_DNNL_COMMON_H
#define DF_OPS_DNNL_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include <oneapi/dnnl/dnnl.h>

#include "graph/ir.h"

/* The process-wide CPU engine, created once (thread-safe). NULL when oneDNN refused. */
dnnl_engine_t df_dnnl_engine(void);

/* What one matmul computes: dst[dims] = eltwise(alpha * (A x B) + bias + beta * dst_before).
 * Dims and strides are in elements, oneDNN order (batch..., rows, cols); a transposed operand
 * is described by swapping its strides, never by moving data. */
typedef struct df_mm_spec {
    int ndims;                        /* 2..DNNL_MAX_NDIMS; all operands have this rank */
    dnnl_dims_t a_dims, a_strides;    /* [..., M, K] */
    dnnl_dims_t b_dims, b_strides;    /* [..., K, N] */
    dnnl_dims_t c_dims;               /* [..., M, N], dense row-major */
    const float *b_const;             /* non-NULL: B is constant; packed once at create */
    float b_scale;                    /* multiplied into constant B while packing (Gemm alpha) */
    const float *bias;                /* NULL, or N floats added to every row (already scaled) */
    float alpha;                      /* output scale; 1 = none */
    float beta;                       /* 0 = dst is overwritten; else sum post-op */
    dnnl_alg_kind_t eltwise;          /* dnnl_alg_kind_undef (0) = none; else an eltwise post-op (gelu_erf, ...) */
    /* Optional: a plan over the same constant B whose packed weights this one borrows when
     * oneDNN wants the same layout for both (the row buckets below), instead of a second copy. */
    const struct df_dnnl_mm *share_weights;
} df_mm_spec;

typedef struct df_dnnl_mm {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_memory_t src, wei, bias, dst, scratch;
    bool b_packed;                    /* wei holds packed weights (owned, or borrowed from share_weights) */
    size_t scratch_bytes;
} df_dnnl_mm;

/* Builds the primitive, packs constant weights and fills *mm. On failure returns
 * DF_EUNSUPPORTED (oneDNN has no implementation: the caller may fall back to a loop) or
 * DF_ENOMEM, with the reason in err naming node n. */
df_status df_dnnl_mm_create(df_dnnl_mm *mm, const df_mm_spec *spec, const df_node *n, df_error *err);
/* Runs the plan. b may be NULL when the weights were packed. dst must hold C when beta != 0. */
df_status df_dnnl_mm_exec(df_dnnl_mm *mm, const float *a, const float *b, float *dst, void *scratch,
                          const df_node *n, df_error *err);
void df_dnnl_mm_destroy(df_dnnl_mm *mm);

/* A 2-D matmul whose row count varies per run, for plans that serve batch 1..max_batch
 * (graph->max_batch): M = rows is a multiple of unit_rows (one sample's rows). oneDNN is about
 * twice as slow with a runtime M, so there is one primitive per power-of-two multiple of
 * unit_rows up to max_mult, all sharing one packed copy of B where oneDNN picks the same
 * layout, and a run of m samples executes the buckets of m's binary digits on consecutive row
 * blocks (m = 5: 4 samples, then 1). max_mult = 1 is the plain static plan. */
#define DF_MM_ROW_BUCKETS 8
typedef struct df_dnnl_mm_rows {
    df_dnnl_mm b[DF_MM_ROW_BUCKETS];  /* b[i]: unit_rows << i rows */
    int n;
    int64_t unit_rows, a_ld, c_ld;    /* row strides of A and C in elements */
    size_t scratch_bytes;             /* the largest bucket's */
} df_dnnl_mm_rows;

/* spec describes one sample's GEMM (a_dims[0] = unit rows, A row-major when max_mult > 1). */
df_status df_dnnl_mm_rows_create(df_dnnl_mm_rows *r, const df_mm_spec *spec, int max_mult, const df_node *n,
                                 df_error *err);
/* rows must be a multiple of unit_rows, at most unit_rows * max_mult. */
df_status df_dnnl_mm_rows_exec(df_dnnl_mm_rows *r, int64_t rows, const float *a, const float *b, float *dst,
                               void *scratch, const df_node *n, df_error *err);
void df_dnnl_mm_rows_destroy(df_dnnl_mm_rows *r);
/* Number of row buckets for max_mult samples: floor(log2(max_mult)) + 1. */
int df_row_buckets(int max_mult);

#endif
