/* libFuzzer: arbitrary bytes as an .npz archive, parsed from memory. The size cap is low so
 * a declared size that slips past the checks shows up as an allocation failure here. */
#include <stdlib.h>
#include <string.h>

#include "dpuflow/tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_tensor_list l;
    df_error err;
    df_error_clear(&err);
    if (df_npz_parse_buffer(data, size, (uint64_t)64 << 20, &l, &err) == DF_OK) {
        for (size_t i = 0; i < l.count; i++) {
            const df_tensor *t = &l.items[i].tensor;
            if ((uint64_t)df_shape_numel(&t->shape) * df_dtype_size(t->dtype) != t->nbytes) abort();
            if (df_tensor_list_find(&l, l.items[i].name) != t) abort();  /* names are unique */
        }
        df_tensor_list_free(&l);
    } else if (err.msg[0] == '\0' || l.count != 0) {
        abort();
    }
    return 0;
}
