#include "dpuflow/tensor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t df_dtype_size(df_dtype dt) {
    switch (dt) {
    case DF_F32: case DF_I32: case DF_U32: return 4;
    case DF_U8: case DF_I8: case DF_BOOL: return 1;
    case DF_U16: case DF_I16: case DF_F16: case DF_BF16: return 2;
    case DF_I64: case DF_U64: case DF_F64: return 8;
    default: return 0;
    }
}

const char *df_dtype_name(df_dtype dt) {
    switch (dt) {
    case DF_F32: return "float32";
    case DF_U8: return "uint8";
    case DF_I8: return "int8";
    case DF_U16: return "uint16";
    case DF_I16: return "int16";
    case DF_I32: return "int32";
    case DF_I64: return "int64";
    case DF_STRING: return "string";
    case DF_BOOL: return "bool";
    case DF_F16: return "float16";
    case DF_F64: return "float64";
    case DF_U32: return "uint32";
    case DF_U64: return "uint64";
    case DF_BF16: return "bfloat16";
    default: return "undefined";
    }
}

int64_t df_shape_numel(const df_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    return n;
}

bool df_shape_equal(const df_shape *a, const df_shape *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

df_shape df_shape_make(int rank, const int64_t *dims) {
    df_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank && i < DF_MAX_RANK; i++) s.dims[i] = dims[i];
    return s;
}

char *df_shape_str(const df_shape *s, char *buf, size_t size) {
    size_t used = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (int i = 0; i < s->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? "," : "", s->dims[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

df_status df_tensor_alloc(df_tensor *t, df_dtype dtype, const df_shape *shape, df_error *err) {
    size_t esize = df_dtype_size(dtype);
    if (esize == 0)
        return df_error_set(err, DF_EUNSUPPORTED, "cannot allocate a tensor of dtype %s", df_dtype_name(dtype));
    if (shape->rank < 0 || shape->rank > DF_MAX_RANK)
        return df_error_set(err, DF_EINVAL, "tensor rank %d is outside 0..%d", shape->rank, DF_MAX_RANK);
    uint64_t n = 1;
    for (int i = 0; i < shape->rank; i++) {
        if (shape->dims[i] < 0)
            return df_error_set(err, DF_ESHAPE, "cannot allocate a tensor with dynamic dim %d", i);
        if (shape->dims[i] != 0 && n > (UINT64_MAX / 16) / (uint64_t)shape->dims[i])
            return df_error_set(err, DF_ERANGE, "tensor is too large");
        n *= (uint64_t)shape->dims[i];
    }
    uint64_t bytes = n * esize;
    if (bytes > ((uint64_t)1 << 40))
        return df_error_set(err, DF_ERANGE, "tensor of %" PRIu64 " bytes is too large", bytes);
    size_t alloc = ((size_t)bytes + 63) & ~(size_t)63;
    if (alloc == 0) alloc = 64;
    void *p = aligned_alloc(64, alloc);
    if (!p) return df_error_set(err, DF_ENOMEM, "out of memory allocating %" PRIu64 " bytes", bytes);
    memset(p, 0, alloc);
    t->dtype = dtype;
    t->shape = *shape;
    t->data = p;
    t->nbytes = (size_t)bytes;
    t->owns_data = true;
    return DF_OK;
}

df_status df_tensor_copy(df_tensor *dst, const df_tensor *src, df_error *err) {
    df_status st = df_tensor_alloc(dst, src->dtype, &src->shape, err);
    if (st) return st;
    if (src->nbytes) memcpy(dst->data, src->data, src->nbytes);
    return DF_OK;
}

void df_tensor_free(df_tensor *t) {
    if (!t) return;
    if (t->owns_data) free(t->data);
    memset(t, 0, sizeof *t);
}
