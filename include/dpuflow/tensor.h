/* dpuflow — dtypes, shapes, tensors, and .npy / .npz files. */
#ifndef DPUFLOW_TENSOR_H
#define DPUFLOW_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values equal ONNX TensorProto.DataType so the loader maps them one to one. */
typedef enum df_dtype {
    DF_UNDEFINED = 0,
    DF_F32 = 1,
    DF_U8 = 2,
    DF_I8 = 3,
    DF_U16 = 4,
    DF_I16 = 5,
    DF_I32 = 6,
    DF_I64 = 7,
    DF_STRING = 8,
    DF_BOOL = 9,
    DF_F16 = 10,
    DF_F64 = 11,
    DF_U32 = 12,
    DF_U64 = 13,
    DF_BF16 = 16,
} df_dtype;

#define DF_MAX_RANK 8

typedef struct df_shape {
    int rank;                     /* 0 = scalar */
    int64_t dims[DF_MAX_RANK];    /* all >= 0 once a shape is static */
} df_shape;

/* A plain value type: dtype, static shape and a pointer to contiguous row-major data.
 * owns_data says whether df_tensor_free releases data (a tensor can view memory it does not
 * own, such as an executor arena slot or an mmap'ed initializer). */
typedef struct df_tensor {
    df_dtype dtype;
    df_shape shape;
    void *data;
    size_t nbytes;
    bool owns_data;
} df_tensor;

size_t df_dtype_size(df_dtype dt);       /* 0 for undefined or string */
const char *df_dtype_name(df_dtype dt);  /* "float32", "int64", ... (numpy names) */

int64_t df_shape_numel(const df_shape *s);   /* 1 for a scalar */
bool df_shape_equal(const df_shape *a, const df_shape *b);
df_shape df_shape_make(int rank, const int64_t *dims);
/* Writes "[1,64,312]" into buf; returns buf. */
char *df_shape_str(const df_shape *s, char *buf, size_t size);

/* Allocates zeroed, 64-byte aligned storage for dtype and shape; t->owns_data = true. */
df_status df_tensor_alloc(df_tensor *t, df_dtype dtype, const df_shape *shape, df_error *err);
/* Deep copy of src into dst (dst is overwritten, not freed). */
df_status df_tensor_copy(df_tensor *dst, const df_tensor *src, df_error *err);
/* Releases owned data and resets t to an empty tensor. Safe on a zeroed or freed tensor. */
void df_tensor_free(df_tensor *t);

/* .npy / .npz. Arrays come back in C order with owned data; names are the npz member names
 * without the ".npy" suffix. Fortran-order and object arrays are rejected with a message. */
typedef struct df_named_tensor {
    char *name;
    df_tensor tensor;
} df_named_tensor;

typedef struct df_tensor_list {
    df_named_tensor *items;
    size_t count;
} df_tensor_list;

df_status df_npy_read(const char *path, df_tensor *out, df_error *err);
df_status df_npy_write(const char *path, const df_tensor *t, df_error *err);
/* Parses one .npy image held in memory (used by the npz reader and the fuzzers). */
df_status df_npy_parse(const void *buf, size_t size, df_tensor *out, df_error *err);

df_status df_npz_read(const char *path, df_tensor_list *out, df_error *err);
/* Writes atomically: temp file, fsync, rename. */
df_status df_npz_write(const char *path, const df_tensor_list *list, df_error *err);
/* Appends a deep copy of t under name. */
df_status df_tensor_list_add(df_tensor_list *list, const char *name, const df_tensor *t, df_error *err);
const df_tensor *df_tensor_list_find(const df_tensor_list *list, const char *name);
void df_tensor_list_free(df_tensor_list *list);

/* Upper bound on the decompressed bytes an .npz may declare, summed over its members. Declared
 * sizes are checked against it before anything is allocated, so a zip bomb fails fast. */
#define DF_NPZ_MAX_BYTES ((uint64_t)16 << 30)

/* Reads an .npz image held in memory (used by the fuzzers and by callers that already hold
 * the bytes). max_bytes caps the total decompressed size; 0 means DF_NPZ_MAX_BYTES. */
df_status df_npz_parse_buffer(const void *buf, size_t size, uint64_t max_bytes, df_tensor_list *out,
                              df_error *err);

#ifdef __cplusplus
}
#endif
#endif
