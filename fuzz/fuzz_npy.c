/* libFuzzer: arbitrary bytes as an .npy image. Anything may be rejected; nothing may crash,
 * over-read or leak, and whatever is accepted must be self-consistent. */
#include <stdlib.h>
#include <string.h>

#include "dpuflow/tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_tensor t;
    df_error err;
    df_error_clear(&err);
    if (df_npy_parse(data, size, &t, &err) == DF_OK) {
        int64_t numel = df_shape_numel(&t.shape);
        if ((uint64_t)numel * df_dtype_size(t.dtype) != t.nbytes || t.nbytes > size) abort();
        if (t.dtype == DF_BOOL)
            for (size_t i = 0; i < t.nbytes; i++)
                if (((uint8_t *)t.data)[i] > 1) abort();
        df_tensor_free(&t);
    } else if (err.msg[0] == '\0') {
        abort();  /* every failure must say why */
    }
    return 0;
}
