/* Shared between the ONNX reader and writer (internal). */
#ifndef DF_ONNX_INTERNAL_H
#define DF_ONNX_INTERNAL_H

#include "dpuflow/tensor.h"
#include "onnx/onnx.pb-c.h"

df_status df_onnx_tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir, const char *what,
                                    df_tensor *out, df_error *err);

#endif
