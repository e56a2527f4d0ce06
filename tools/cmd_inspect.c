/* dpuflow inspect MODEL.onnx [--seq N] [--batch N] [--passes]: what is in a model and whether
 * dpuflow can run it; --passes adds what each graph pass rewrote and the optimized graph's op
 * histogram. Exit 1 when the checker rejects it. */
#include <inttypes.h>

#include "cli.h"
#include "dpuflow/onnx.h"
#include "dpuflow/session.h"
#include "graph/fuse_util.h"
#include "graph/ir.h"

static const char *USAGE = "MODEL.onnx [--batch 1] [--seq 64] [--passes]";

static void print_value(const df_value *v) {
    printf("  %-24s %-8s [", v->name, df_dtype_name(v->dtype));
    for (int d = 0; d < v->shape.rank; d++) {
        if (d) printf(",");
        if (v->shape.dims[d] >= 0) printf("%" PRId64, v->shape.dims[d]);
        else printf("%s", v->dim_params[d] ? v->dim_params[d] : "?");
    }
    printf("]\n");
}

typedef struct op_count {
    const char *op;
    int n;
} op_count;

static void print_histogram(const df_graph *g, const char *title) {
    op_count counts[256];
    int n_counts = 0, live = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead) continue;
        live++;
        int k = 0;
        while (k < n_counts && strcmp(counts[k].op, g->nodes[i].op_type)) k++;
        if (k == n_counts && n_counts < 256) counts[n_counts++] = (op_count){g->nodes[i].op_type, 0};
        if (k < n_counts) counts[k].n++;
    }
    printf(title, live);
    for (int k = 0; k < n_counts; k++) printf("  %-24s %d\n", counts[k].op, counts[k].n);
}

int df_cmd_inspect(int argc, char **argv) {
    const char *model = NULL;
    long batch = 1, seq = 64;
    bool passes = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("inspect", USAGE);
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc) seq = df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--passes")) passes = true;
        else if (argv[i][0] == '-') return df_cli_usage("inspect", USAGE, "unknown option");
        else model = argv[i];
    }
    if (!model || batch <= 0 || seq <= 0) return df_cli_usage("inspect", USAGE, "MODEL is required; --batch/--seq take positive numbers");
    df_error err = {0};
    df_graph *g = NULL;
    if (df_onnx_load(model, &g, &err)) return df_cli_fail("inspect", &err);
    printf("model: %s\n", model);
    printf("producer: %s %s, ir_version %" PRId64 ", opset %" PRId64 "\n", g->producer_name, g->producer_version,
           g->ir_version, g->opset);
    printf("inputs:\n");
    for (int i = 0; i < g->n_inputs; i++) print_value(&g->values[g->inputs[i]]);
    printf("outputs:\n");
    for (int i = 0; i < g->n_outputs; i++) print_value(&g->values[g->outputs[i]]);
    int64_t params = 0;
    size_t param_bytes = 0;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].is_initializer) {
            params += df_shape_numel(&g->values[v].value.shape);
            param_bytes += g->values[v].value.nbytes;
        }
    printf("parameters: %" PRId64 " (%.2f MB)\n", params, (double)param_bytes / 1e6);
    print_histogram(g, "nodes: %d\nop histogram:\n");

    df_session_opts opts = {.threads = 1, .batch = batch, .seq = seq};
    df_session *s = NULL;
    if (df_session_open_graph(g, &opts, &s, &err)) {
        printf("check: FAILED: %s\n", err.msg);
        return DF_EXIT_FAIL;
    }
    df_session_stats st;
    df_session_get_stats(s, &st);
    printf("check: OK at batch %ld, seq %ld: %zu executable nodes (%zu folded at load), activation arena %.2f MB "
           "(%.2f MB without reuse)\n",
           batch, seq, st.nodes, st.folded, (double)st.arena_bytes / 1e6, (double)st.naive_bytes / 1e6);
    if (passes) {
        const char *const *names;
        const int *rewrites;
        int np = df_graph_optimize_report(&names, &rewrites);
        printf("passes:\n");
        for (int k = 0; k < np; k++) printf("  %-24s %d\n", names[k], rewrites[k]);
        print_histogram(df_session_graph(s), "optimized nodes: %d\noptimized op histogram:\n");
    }
    df_session_close(s);
    return DF_EXIT_OK;
}
