/* The integer matmul core shared by MatMulInteger and QLinearMatMul. */
#ifndef DF_OPS_MATMUL_INTEGER_H
#define DF_OPS_MATMUL_INTEGER_H

#include "ops/matmul.h"

/* Where a per-tensor / per-row (A side) / per-column (B side) parameter is read from. */
typedef enum { DF_QP_TENSOR, DF_QP_VECTOR, DF_QP_BATCHED } df_qp_kind;

/* Classifies a zero point or scale of A (a_side) or B: a scalar or one value; a vector of M
 * (A) or N (B) values; or [..., M, 1] / [..., 1, N] matching the operand's batch dims. */
df_status df_qp_classify(const df_value *p, const df_shape *x, bool a_side, df_qp_kind *kind, const df_node *n,
                         df_error *err);
/* The element of such a parameter for matrix number `mat` of the operand and row/column rc. */
static inline int64_t df_qp_index(df_qp_kind kind, int64_t mat, int64_t len, int64_t rc) {
    return kind == DF_QP_TENSOR ? 0 : kind == DF_QP_VECTOR ? rc : mat * len + rc;
}

/* Y[b, i, j] = sum_k (A - a_zp)(B - b_zp) in int32 for uint8/int8 operands. A zero point
 * pointer may be NULL (zero). */
void df_qmm_int32(const df_mm_geom *g, const void *A, df_dtype at, const void *azp, df_qp_kind ak, const void *B,
                  df_dtype bt, const void *bzp, df_qp_kind bk, int32_t *Y, int threads);

#endif
