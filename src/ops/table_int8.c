/* The int8 family's entries in the operator table (see ops/registry.c): dpuflow's own
 * operators in the "ai.dpuflow" domain, produced by graph passes (src/graph/fuse_qdq.c). */
#include <stddef.h>

#include "ops/op.h"

extern const df_op_def df_op_QMatMul;

const df_op_def *const df_ops_int8[] = {
    &df_op_QMatMul,
    NULL,
};
