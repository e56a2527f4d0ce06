/* libFuzzer: arbitrary bytes as a torch.save data.pkl through the restricted pickle machine.
 * Whatever comes back must be self-consistent: contiguous tensors that fit their storage. */
#include <stdlib.h>
#include <string.h>

#include "convert/convert_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_pk_tensor *t = NULL;
    size_t n = 0;
    df_error err;
    df_error_clear(&err);
    if (df_pickle_state_dict(data, size, "fuzz.pkl", &t, &n, &err) == DF_OK) {
        for (size_t i = 0; i < n; i++) {
            int64_t numel = df_shape_numel(&t[i].shape);
            if (!t[i].name || !t[i].storage_key || t[i].offset < 0 || numel < 0 || t[i].offset + numel > t[i].storage_numel)
                abort();
        }
        df_pk_tensors_free(t, n);
    } else if (err.msg[0] == '\0' || t != NULL || n != 0) {
        abort();
    }
    return 0;
}
