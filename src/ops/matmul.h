/* Shared numpy-matmul geometry, used by MatMul, MatMulInteger and QLinearMatMul. */
#ifndef DF_OPS_MATMUL_H
#define DF_OPS_MATMUL_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/op.h"

typedef struct df_mm_geom {
    int64_t M, K, N;
    int batch_rank;                    /* broadcast batch dims of the output */
    int64_t batch[DF_MAX_RANK];
    int64_t a_bstride[DF_MAX_RANK];    /* element stride of A per output batch dim; 0 = broadcast */
    int64_t b_bstride[DF_MAX_RANK];
    int64_t n_batch;                   /* product of batch */
    bool a_vec, b_vec;                 /* 1-D operand: a row vector / a column vector */
    df_shape out;
} df_mm_geom;

/* numpy.matmul rules: 1-D operands are promoted then squeezed, batch dims broadcast, the
 * inner dims must agree. Fails naming node n and its inputs a_name / b_name. */
df_status df_mm_geom_make(const df_shape *a, const df_shape *b, const char *a_name, const char *b_name,
                          df_mm_geom *g, const df_node *n, df_error *err);
/* Element offsets of batch number bi (row-major over g->batch) in A and B. */
static inline void df_mm_geom_offsets(const df_mm_geom *g, int64_t bi, int64_t *a_off, int64_t *b_off) {
    int64_t ao = 0, bo = 0;
    for (int d = g->batch_rank - 1; d >= 0; d--) {
        int64_t i = bi % g->batch[d];
        bi /= g->batch[d];
        ao += i * g->a_bstride[d];
        bo += i * g->b_bstride[d];
    }
    *a_off = ao;
    *b_off = bo;
}

#endif
