/* Shared by tests/unit/test_fusion_*.c: runs the torch-exported fixture models with and
 * without fusion (DF_PASSES restricts the pipeline to the passes under test) and checks that
 * every output agrees and that the fused op appears. */
#ifndef DF_TEST_FUSION_HARNESS_H
#define DF_TEST_FUSION_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/session.h"
#include "dpuflow/tensor.h"
#include "graph/ir.h"

static int fh_count_ops(const df_session *s, const char *op) {
    const df_graph *g = df_session_graph(s);
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && !strcmp(g->nodes[i].op_type, op)) c++;
    return c;
}

static df_session *fh_open(const char *model, const df_tensor_list *in, bool no_fusion) {
    df_session *s = NULL;
    df_error err = {0};
    df_session_opts o = {.threads = 1, .sample_inputs = in, .no_fusion = no_fusion};
    if (df_session_open(model, &o, &s, &err)) {
        fprintf(stderr, "open %s: %s\n", model, err.msg);
        return NULL;
    }
    return s;
}

static int fh_run(df_session *s, const df_tensor_list *in, df_tensor *outs, size_t n_out) {
    size_t n = df_session_input_count(s);
    df_tensor ins[8];
    if (n > 8) return -1;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        df_session_input_info(s, i, &name, NULL, NULL);
        const df_tensor *t = df_tensor_list_find(in, name);
        if (!t) return -1;
        ins[i] = *t;
    }
    df_error err = {0};
    if (df_session_run(s, ins, n, outs, n_out, &err)) {
        fprintf(stderr, "run: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Runs model (fixture stem + opset) on the fixture inputs (suffix "" or "_b2") with only
 * `passes` enabled (NULL: the default pipeline); returns the number of `op` nodes in the fused graph, or -1 on failure.
 * *max_diff gets the largest |fused - unfused| over all outputs, relative to max(1, |ref|)
 * when rel is set. */
static int fh_compare(const char *stem, int opset, const char *suffix, const char *passes, const char *op,
                      bool rel, double *max_diff) {
    char model[512], inputs[512];
    snprintf(model, sizeof model, "%s/tests/fixtures/models/%s_op%d.onnx", DF_SOURCE_DIR, stem, opset);
    snprintf(inputs, sizeof inputs, "%s/tests/fixtures/models/%s.inputs%s.npz", DF_SOURCE_DIR, stem, suffix);
    df_tensor_list in = {0};
    df_error err = {0};
    if (df_npz_read(inputs, &in, &err)) {
        fprintf(stderr, "%s: %s\n", inputs, err.msg);
        return -1;
    }
    if (passes) setenv("DF_PASSES", passes, 1);
    else unsetenv("DF_PASSES");
    df_session *a = fh_open(model, &in, false), *b = fh_open(model, &in, true);
    unsetenv("DF_PASSES");
    int count = -1;
    df_tensor oa[8], ob[8];
    size_t n_out = a ? df_session_output_count(a) : 0;
    if (!a || !b || n_out > 8 || n_out != df_session_output_count(b)) goto done;
    if (fh_run(a, &in, oa, n_out) || fh_run(b, &in, ob, n_out)) goto done;
    double md = 0;
    for (size_t k = 0; k < n_out; k++) {
        if (oa[k].nbytes != ob[k].nbytes || oa[k].dtype != DF_F32) goto done;
        const float *x = oa[k].data, *y = ob[k].data;
        for (size_t i = 0; i < oa[k].nbytes / sizeof(float); i++) {
            double d = fabs((double)x[i] - y[i]);
            if (rel) d /= fmax(1.0, fabs(y[i]));
            if (!(d <= md)) md = d; /* NaN propagates */
        }
    }
    *max_diff = md;
    count = fh_count_ops(a, op);
    printf("  %s_op%d%s: %d x %s, max diff %.3g\n", stem, opset, suffix, count, op, md);
done:
    df_session_close(a);
    df_session_close(b);
    df_tensor_list_free(&in);
    return count;
}

/* Every fixture family at every exported opset, single and batch-2 (padded) inputs. */
static void fh_all(const char *passes, const char *op, int min_count_per_model, bool rel, double tol) {
    static const char *stems[] = {"bert_tiny", "bert_mean", "bert_pooler", "xlmr_tiny"};
    static const int opsets[] = {11, 13, 14, 17};
    static const char *suffixes[] = {"", "_b2"};
    for (size_t s = 0; s < 4; s++)
        for (size_t o = 0; o < 4; o++)
            for (size_t k = 0; k < 2; k++) {
                double md = 1e9;
                int c = fh_compare(stems[s], opsets[o], suffixes[k], passes, op, rel, &md);
                if (c < min_count_per_model || !(md <= tol))
                    fail_msg("%s_op%d%s: %d x %s (want >= %d), max diff %g (tol %g)", stems[s], opsets[o], suffixes[k],
                             c, op, min_count_per_model, md, tol);
            }
}

#endif
