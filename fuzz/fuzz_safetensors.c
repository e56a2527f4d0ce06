/* libFuzzer: arbitrary bytes as a safetensors file, parsed from memory; every tensor that
 * parses must lie inside the buffer and convert without reading past it. */
#include <stdlib.h>
#include <string.h>

#include "dpuflow/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_checkpoint *c = NULL;
    df_error err;
    df_error_clear(&err);
    if (df_checkpoint_open_safetensors_buffer(data, size, "fuzz.safetensors", &c, &err) == DF_OK) {
        for (size_t i = 0; i < df_checkpoint_count(c); i++) {
            df_tensor t;
            df_shape s;
            df_checkpoint_info(c, i, NULL, NULL, &s);
            if (df_shape_numel(&s) > ((int64_t)1 << 24)) continue; /* cannot happen: data is in the buffer */
            if (df_checkpoint_get(c, i, &t, &err) == DF_OK) df_tensor_free(&t);
        }
        df_checkpoint_close(c);
    } else if (err.msg[0] == '\0' || c != NULL) {
        abort();
    }
    return 0;
}
