/* The elementwise family's entries in the operator table (see ops/registry.c). */
#include <stddef.h>

#include "ops/op.h"

const df_op_def *const df_ops_elementwise[] = {
    NULL,
};
