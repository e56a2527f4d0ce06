/* The fused family's entries in the operator table (see ops/registry.c): dpuflow's own
 * operators in the "ai.dpuflow" domain, produced by graph passes (src/graph/optimize.c). */
#include <stddef.h>

#include "ops/op.h"

extern const df_op_def df_op_MatMulBias;
extern const df_op_def df_op_Attention;
extern const df_op_def df_op_AttentionCore;
extern const df_op_def df_op_SkipLayerNormalization;
extern const df_op_def df_op_EmbedLayerNormalization;

const df_op_def *const df_ops_fused[] = {
    &df_op_MatMulBias,
    &df_op_Attention,
    &df_op_AttentionCore,
    &df_op_SkipLayerNormalization,
    &df_op_EmbedLayerNormalization,
    NULL,
};
