/* Helpers shared by the shape family (ops/table_shape.c): input checks, reading integer
 * parameters from constant inputs, and one strided copy that Transpose, Slice, Expand and Tile
 * all reduce to. Internal to src/ops. */
#ifndef DF_OPS_SHAPE_COMMON_H
#define DF_OPS_SHAPE_COMMON_H

#include <stdint.h>
#include <string.h>

#include "ops/op.h"

/* Rank of the index space the strided copy accepts; Tile doubles the tensor's rank. */
#define SH_MAX_COPY_RANK (2 * DF_MAX_RANK)
/* Below this many bytes a copy is not worth waking threads for. */
#define SH_PARALLEL_BYTES ((size_t)1 << 18)

static inline int sh_threads(const df_kernel_args *a) { return a->threads > 0 ? a->threads : 1; }

/* Checks that input i exists and has a known dtype and shape; returns it through *out. */
static inline df_status sh_input(const df_graph *g, const df_node *n, int i, df_value **out, df_error *err) {
    df_value *v = df_node_in(g, n, i);
    *out = v;
    if (!v) return df_node_error(err, DF_EINVAL, n, "input %d is missing", i);
    if (v->dtype == DF_UNDEFINED || !v->shape_known)
        return df_node_error(err, DF_ESHAPE, n, "input '%s' has no known dtype and shape", v->name);
    *out = v;
    return DF_OK;
}

/* Like sh_input, and the dtype must have a fixed element size (no strings). */
static inline df_status sh_input_bytes(const df_graph *g, const df_node *n, int i, df_value **out, df_error *err) {
    df_status st = sh_input(g, n, i, out, err);
    if (st) return st;
    if (df_dtype_size((*out)->dtype) == 0)
        return df_node_error(err, DF_ETYPE, n, "input '%s' has unsupported dtype %s", (*out)->name,
                             df_dtype_name((*out)->dtype));
    return DF_OK;
}

static inline int sh_is_int_index(df_dtype dt) { return dt == DF_I64 || dt == DF_I32; }

/* Reads the integer values of input i when it is constant; DF_ENEEDVALUE otherwise (the executor
 * then binds the runtime value and infers again). */
static inline df_status sh_const_ints(const df_graph *g, const df_node *n, int i, int64_t *vals, size_t max,
                                      size_t *count, df_error *err) {
    df_value *v = df_node_in(g, n, i);
    if (!v) return df_node_error(err, DF_EINVAL, n, "input %d is missing", i);
    if (!v->has_const) return df_node_error(err, DF_ENEEDVALUE, n, "needs the value of input '%s'", v->name);
    if (!sh_is_int_index(v->value.dtype))
        return df_node_error(err, DF_ETYPE, n, "input '%s' must be int32 or int64, got %s", v->name,
                             df_dtype_name(v->value.dtype));
    if (v->value.shape.rank > 1)
        return df_node_error(err, DF_ESHAPE, n, "input '%s' must be a scalar or 1-D", v->name);
    if (df_shape_numel(&v->value.shape) > (int64_t)max)
        return df_node_error(err, DF_ERANGE, n, "input '%s' has more than %zu values", v->name, max);
    df_tensor_to_i64(&v->value, vals, max, count, NULL);
    return DF_OK;
}

/* The same at run time, from a bound tensor. */
static inline df_status sh_run_ints(const df_kernel_args *a, int i, int64_t *vals, size_t max, size_t *count) {
    const df_tensor *t = i < a->n_in ? a->in[i] : NULL;
    if (!t) return df_node_error(a->err, DF_EINVAL, a->node, "input %d is missing", i);
    if (!sh_is_int_index(t->dtype) || df_shape_numel(&t->shape) > (int64_t)max)
        return df_node_error(a->err, DF_EINVAL, a->node, "input %d must hold at most %zu int32/int64 values", i, max);
    df_tensor_to_i64(t, vals, max, count, NULL);
    return DF_OK;
}

/* Output = input bytes (Reshape, Squeeze, Identity, ...); nothing to do when the executor
 * aliased the two buffers. */
static inline df_status sh_copy_through(const df_kernel_args *a) {
    const df_tensor *in = a->in[0];
    df_tensor *out = a->out[0];
    size_t n = in->nbytes < out->nbytes ? in->nbytes : out->nbytes;
    if (n && out->data != in->data) memcpy(out->data, in->data, n);
    return DF_OK;
}

/* Fills dst (contiguous, shape dims[0..rank)) from src, where element (i0..ir-1) comes from
 * src + sum(i_k * strides[k]) elements. Strides may be zero (broadcast) or negative
 * (reversed slices). Defined in ops/transpose.c. */
void sh_strided_copy(void *dst, const void *src, int rank, const int64_t *dims, const int64_t *strides,
                     size_t esize, int threads);

/* Row-major element strides of a shape. */
static inline void sh_strides(const df_shape *s, int64_t *strides) {
    int64_t st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        strides[i] = st;
        st *= s->dims[i];
    }
}

#endif
