/* Numpy-style broadcasting for the elementwise operators.
 *
 * Every elementwise kernel is written as a "row" function: n contiguous outputs from inputs
 * that each either advance one element per output or repeat one element. The iterator below
 * reduces any broadcast to loops of such rows: it aligns the inputs to the output's rank,
 * gives broadcast dims a stride of 0, drops size-1 dims and merges neighbouring dims that are
 * laid out contiguously in every operand. After that a same-shape add is one row, a scalar
 * operand is a row with step 0, and BERT's [B,S,H] + [H] bias add is B*S rows of H. */
#ifndef DF_OPS_BROADCAST_H
#define DF_OPS_BROADCAST_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/op.h"

#define DF_BCAST_MAX_IN 4

/* Below this many output elements a kernel runs on the calling thread: a parallel region
 * costs a few microseconds, more than a small elementwise op takes. */
#define DF_ELTWISE_PAR_MIN 65536

/* Writes n contiguous outputs; input i starts at in[i] and advances step[i] elements (0 or 1)
 * per output. ctx is the operator's own data (attributes, a nested kernel). */
typedef void (*df_row_fn)(int64_t n, void *out, const void *const *in, const int64_t *step,
                          const void *ctx);

typedef struct df_bcast {
    int n_in;
    int rank;        /* collapsed rank, >= 1 */
    int64_t numel;   /* output elements; 0 means nothing to do */
    int64_t dims[DF_MAX_RANK];
    int64_t strides[DF_BCAST_MAX_IN][DF_MAX_RANK]; /* in elements; 0 = broadcast */
} df_bcast;

/* Plans the iteration of out from n_in (<= DF_BCAST_MAX_IN) inputs. Returns false when an
 * input does not broadcast to out (infer should have caught that). */
bool df_bcast_plan(df_bcast *p, const df_shape *out, const df_shape *const *in, int n_in);

/* Runs fn over the plan; in OpenMP threads when the output is large enough. */
void df_bcast_exec(const df_bcast *p, df_row_fn fn, const void *ctx, void *out, size_t out_esize,
                   const void *const *in, const size_t *in_esize, int threads);

/* Plan and run for tensors; errors name the node. */
df_status df_eltwise(const df_kernel_args *a, df_tensor *out, const df_tensor *const *in, int n_in,
                     df_row_fn fn, const void *ctx);

/* Output shape of an n-way broadcast; names the node and the offending input on failure. */
df_status df_broadcast_shapes(const df_graph *g, const df_node *n, int first, int count, df_shape *out,
                              df_error *err);

#endif
