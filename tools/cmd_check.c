/* dpuflow check MODEL.onnx [--out OUT.onnx] [--batch 1] [--seq 64] [--no-fold]
 *                          [--external-data BYTES] [--simplify]
 * The static checker: pins dynamic dims, infers every shape, folds constants (Shape/Gather
 * chains included) and names what is wrong. With --out it writes the static model; with
 * --no-fold it writes the graph as loaded (a plain load/save round trip); with --simplify it
 * also removes Identity and inference Dropout and writes the unfused static graph (what the
 * build's check stage writes as export/model_sim.onnx). */
#include "cli.h"
#include "dpuflow/compile.h"
#include "dpuflow/onnx.h"
#include "dpuflow/session.h"
#include "graph/ir.h"

static const char *USAGE = "MODEL.onnx [--out OUT.onnx] [--batch 1] [--seq 64] [--no-fold] [--external-data MIN_BYTES] [--simplify]";

int df_cmd_check(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    long batch = 1, seq = 64, external = 0;
    bool fold = true, simplify = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("check", USAGE);
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc) seq = df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--external-data") && i + 1 < argc) external = df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--no-fold")) fold = false;
        else if (!strcmp(argv[i], "--simplify")) simplify = true;
        else if (argv[i][0] == '-') return df_cli_usage("check", USAGE, "unknown option or missing value");
        else model = argv[i];
    }
    if (!model || batch <= 0 || seq <= 0 || external < 0) return df_cli_usage("check", USAGE, "MODEL is required");
    df_error err = {0};
    if (simplify) {
        if (!fold) return df_cli_usage("check", USAGE, "--simplify folds: drop --no-fold");
        int64_t shape[2] = {batch, seq};
        df_check_report rep;
        if (df_check_model(model, shape, 2, true, out, &rep, &err)) return df_cli_fail("check", &err);
        printf("%s: OK at batch %ld, seq %ld: %d nodes -> %d (%d folded, %d Identity/Dropout removed)\n", model, batch,
               seq, rep.nodes_before, rep.nodes_after, rep.folded, rep.removed);
        if (out) printf("wrote %s\n", out);
        return DF_EXIT_OK;
    }
    df_graph *g = NULL;
    if (df_onnx_load(model, &g, &err)) return df_cli_fail("check", &err);
    df_onnx_save_opts save_opts = {.external_threshold = (size_t)external};
    if (!fold) {
        int rc = DF_EXIT_OK;
        if (out && df_onnx_save(g, out, &save_opts, &err)) rc = df_cli_fail("check", &err);
        df_graph_free(g);
        if (!rc) printf("%s: loaded%s%s\n", model, out ? ", saved to " : "", out ? out : "");
        return rc;
    }
    /* The written model must stay standard ONNX that any runtime loads, so no dpuflow fusions. */
    df_session_opts opts = {.threads = 1, .batch = batch, .seq = seq, .no_fusion = true, .no_int8 = true};
    df_session *s = NULL;
    size_t nodes_before = (size_t)g->n_nodes;
    if (df_session_open_graph(g, &opts, &s, &err)) return df_cli_fail("check", &err);
    df_session_stats st;
    df_session_get_stats(s, &st);
    printf("%s: OK at batch %ld, seq %ld: %zu nodes -> %zu after folding\n", model, batch, seq, nodes_before, st.nodes);
    int rc = DF_EXIT_OK;
    if (out) {
        if (df_onnx_save(df_session_graph(s), out, &save_opts, &err)) rc = df_cli_fail("check", &err);
        else printf("wrote %s\n", out);
    }
    df_session_close(s);
    return rc;
}
