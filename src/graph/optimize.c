/* The pass pipeline: the order matters (LayerNorm before residual+LayerNorm, MatMul+bias
 * before attention), so it is one table, read top to bottom. */
#include <stddef.h>

#include "graph/passes.h"

static const df_pass passes[] = {
    {NULL, NULL},
};

df_status df_graph_optimize(df_graph *g, const df_optimize_opts *o, df_error *err) {
    df_optimize_opts defaults = {0};
    if (!o) o = &defaults;
    int total = 0;
    for (size_t i = 0; passes[i].run; i++) {
        int count = 0;
        df_status st = passes[i].run(g, o, &count, err);
        if (st) return df_error_prefix(err, "pass %s: ", passes[i].name);
        total += count;
    }
    if (!total) return DF_OK;
    df_graph_compact(g);
    return df_graph_infer(g, err);
}
