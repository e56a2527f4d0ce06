/* libFuzzer target: arbitrary bytes as an ONNX model, then the checker (infer + fold) on
 * whatever loads. Neither may crash, leak or read out of bounds. */
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/onnx.h"
#include "dpuflow/session.h"
#include "graph/ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_graph *g = NULL;
    df_error err;
    if (df_onnx_load_buffer(data, size, NULL, "fuzz", &g, &err)) return 0;
    /* Folding runs kernels on the file's constants: cap the work so the fuzzer stays fast. */
    int64_t total = 0;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].has_const) total += (int64_t)g->values[v].value.nbytes;
    if (total > (1 << 20) || g->n_nodes > 64) {
        df_graph_free(g);
        return 0;
    }
    df_session_opts opts = {.threads = 1, .batch = 1, .seq = 8};
    df_session *s = NULL;
    if (df_session_open_graph(g, &opts, &s, &err) == DF_OK) df_session_close(s);
    return 0;
}
