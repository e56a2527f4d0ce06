/* The DPU/CPU partitioner on small hand-built graphs (the fused form: QMatMul = a quantized
 * Linear): each placement rule with its reason, the bank-depth fallback, convex merging
 * (BERT's residual Add may not join the CPU subgraph that feeds the DPU), boundary tensors,
 * and the cost model over the result. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compile/fpga.h"

static int val(df_graph *g, const char *name, df_dtype dt, int rank, const int64_t *dims) {
    int v = df_graph_value(g, name);
    assert_true(v >= 0);
    g->values[v].dtype = dt;
    g->values[v].shape = df_shape_make(rank, dims);
    g->values[v].shape_known = true;
    return v;
}

static int cval(df_graph *g, const char *name, df_dtype dt, int rank, const int64_t *dims, double fill) {
    int v = val(g, name, dt, rank, dims);
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    assert_int_equal(df_tensor_alloc(&t, dt, &s, NULL), DF_OK);
    int64_t n = df_shape_numel(&s);
    for (int64_t i = 0; i < n; i++) {
        if (dt == DF_F32) ((float *)t.data)[i] = (float)fill;
        else if (dt == DF_I8) ((int8_t *)t.data)[i] = (int8_t)fill;
        else if (dt == DF_I64) ((int64_t *)t.data)[i] = (int64_t)fill;
    }
    df_value_set_const(&g->values[v], &t);
    return v;
}

static int input(df_graph *g, const char *name, df_dtype dt, int rank, const int64_t *dims) {
    int v = val(g, name, dt, rank, dims);
    g->values[v].is_graph_input = true;
    g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof(int));
    g->inputs[g->n_inputs++] = v;
    return v;
}

static void output(df_graph *g, int v) {
    g->values[v].is_graph_output = true;
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof(int));
    g->outputs[g->n_outputs++] = v;
}

static int node(df_graph *g, const char *op, const char *name, const char *domain, const int *in, int n_in, int out) {
    int k = df_graph_add_node(g, op, name, domain, in, n_in, &out, 1);
    assert_true(k >= 0);
    return k;
}

/* x -> QuantizeLinear -> QMatMul(K, N) -> returns the QMatMul's node index; *y its output. */
static int linear(df_graph *g, const char *name, int x_f32, int64_t M, int64_t K, int64_t N, int *y) {
    char b[128];
    int64_t one = 1, mk[3] = {1, M, K}, kn[2] = {K, N}, mn[3] = {1, M, N};
    snprintf(b, sizeof b, "%s_s", name);
    int s = cval(g, b, DF_F32, 0, &one, 0.0625);
    snprintf(b, sizeof b, "%s_zp", name);
    int zp = cval(g, b, DF_I8, 0, &one, 0);
    snprintf(b, sizeof b, "%s_xq", name);
    int xq = val(g, b, DF_I8, 3, mk);
    snprintf(b, sizeof b, "%s_quant", name);
    node(g, "QuantizeLinear", b, "", (int[]){x_f32, s, zp}, 3, xq);
    snprintf(b, sizeof b, "%s_w", name);
    int w = cval(g, b, DF_I8, 2, kn, 1);
    snprintf(b, sizeof b, "%s_ws", name);
    int ws = cval(g, b, DF_F32, 1, &N, 0.125);
    snprintf(b, sizeof b, "%s_y", name);
    *y = val(g, b, DF_F32, 3, mn);
    return node(g, "QMatMul", name, "ai.dpuflow", (int[]){xq, s, zp, w, ws}, 5, *y);
}

static const char *reason_of(const df_fpga_partition *pt, const df_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return pt->place[i].reason;
    fail_msg("no node %s", name);
    return NULL;
}

static df_fpga_side side_of(const df_fpga_partition *pt, const df_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return pt->place[i].side;
    fail_msg("no node %s", name);
    return DF_SIDE_CPU;
}

static int sub_of(const df_fpga_partition *pt, const df_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return pt->place[i].subgraph;
    return -2;
}

static void test_rules(void **state) {
    (void)state;
    df_graph *g = NULL;
    assert_int_equal(df_graph_new(&g, NULL), DF_OK);
    int64_t x3[3] = {1, 16, 64}, four[4] = {1, 16, 2, 32}, tq[4] = {1, 2, 16, 32}, tk[4] = {1, 2, 32, 16},
            sc[4] = {1, 2, 16, 16}, flat[2] = {16, 64}, ids[2] = {1, 16}, emb[2] = {100, 64}, n4 = 4, n2 = 2,
            p4[4] = {0, 2, 1, 3};
    int x = input(g, "x", DF_F32, 3, x3);
    int y;
    linear(g, "q_proj", x, 16, 64, 64, &y);
    int shp = cval(g, "shape4", DF_I64, 1, &n4, 0);
    int r = val(g, "r", DF_F32, 4, four);
    node(g, "Reshape", "split_heads", "", (int[]){y, shp}, 2, r);
    int t = val(g, "t", DF_F32, 4, tq);
    int tn = node(g, "Transpose", "to_heads", "", (int[]){r}, 1, t);
    df_attr perm = {.name = "perm", .type = DF_ATTR_INTS, .ints = p4, .count = 4};
    assert_int_equal(df_node_add_attr(&g->nodes[tn], &perm, NULL), DF_OK);
    int kt = input(g, "kt", DF_F32, 4, tk);
    int s = val(g, "scores", DF_F32, 4, sc);
    node(g, "MatMul", "qk", "", (int[]){t, kt}, 2, s);
    int p = val(g, "probs", DF_F32, 4, sc);
    node(g, "Softmax", "softmax", "", (int[]){s}, 1, p);
    output(g, p);
    int gam = cval(g, "gamma", DF_F32, 1, &x3[2], 1), bet = cval(g, "beta", DF_F32, 1, &x3[2], 0);
    int ln = val(g, "ln", DF_F32, 3, x3);
    node(g, "LayerNormalization", "ln", "", (int[]){x, gam, bet}, 3, ln);
    int e = val(g, "erf", DF_F32, 3, x3);
    node(g, "Erf", "erf", "", (int[]){ln}, 1, e);
    output(g, e);
    int rm = val(g, "rm", DF_F32, 3, x3);
    node(g, "ReduceMean", "ln_mean", "", (int[]){x}, 1, rm);
    output(g, rm);
    int id = input(g, "ids", DF_I64, 2, ids);
    int tab = cval(g, "emb", DF_F32, 2, emb, 0.5);
    int ge = val(g, "gathered", DF_F32, 3, x3);
    node(g, "Gather", "embed", "", (int[]){tab, id}, 2, ge);
    output(g, ge);
    int id2 = val(g, "ids2", DF_I64, 2, ids);
    node(g, "Add", "ids_plus", "", (int[]){id, id}, 2, id2);
    output(g, id2);
    int shp2 = cval(g, "shape2", DF_I64, 1, &n2, 0);
    int fl = val(g, "flat", DF_F32, 2, flat);
    node(g, "Reshape", "fold_batch", "", (int[]){y, shp2}, 2, fl);
    output(g, fl);
    int wf = cval(g, "wf", DF_F32, 2, (int64_t[]){64, 64}, 0.1);
    int mf = val(g, "mf", DF_F32, 3, x3);
    node(g, "MatMul", "float_linear", "", (int[]){x, wf}, 2, mf);
    output(g, mf);
    /* K = 32784: ceil(32784/16) = 2049 banks > 2048 */
    int64_t bigk[3] = {1, 2, 32784};
    int xb = input(g, "xb", DF_F32, 3, bigk);
    int yb;
    linear(g, "too_deep", xb, 2, 32784, 16, &yb);
    output(g, yb);
    int lr = val(g, "lrelu", DF_F32, 3, x3);
    int lrn = node(g, "LeakyRelu", "lrelu", "", (int[]){y}, 1, lr);
    df_attr al = {.name = "alpha", .type = DF_ATTR_FLOAT, .f = 0.01f};
    assert_int_equal(df_node_add_attr(&g->nodes[lrn], &al, NULL), DF_OK);
    output(g, lr);
    int rl = val(g, "relu", DF_F32, 3, x3);
    node(g, "Relu", "relu", "", (int[]){y}, 1, rl);
    output(g, rl);

    df_fpga_profile prof;
    df_error err = {0};
    assert_int_equal(df_fpga_profile_get(NULL, &prof, &err), DF_OK);
    df_fpga_partition pt;
    assert_int_equal(df_fpga_partition_build(g, &prof, &pt, &err), DF_OK);
    assert_int_equal(side_of(&pt, g, "q_proj"), DF_SIDE_DPU);
    assert_non_null(strstr(reason_of(&pt, g, "q_proj"), "conv 1x1 in_ch 64 out_ch 64"));
    assert_int_equal(side_of(&pt, g, "q_proj_quant"), DF_SIDE_CPU);
    assert_true(pt.place[1].dpu_round || pt.place[0].dpu_round);
    assert_int_equal(side_of(&pt, g, "split_heads"), DF_SIDE_DPU);
    assert_int_equal(side_of(&pt, g, "to_heads"), DF_SIDE_DPU);
    assert_int_equal(side_of(&pt, g, "qk"), DF_SIDE_CPU);
    assert_non_null(strstr(reason_of(&pt, g, "qk"), "two activations"));
    assert_non_null(strstr(reason_of(&pt, g, "softmax"), "Softmax"));
    assert_non_null(strstr(reason_of(&pt, g, "ln"), "LayerNormalization"));
    assert_non_null(strstr(reason_of(&pt, g, "ln_mean"), "LayerNorm decomposition"));
    assert_non_null(strstr(reason_of(&pt, g, "erf"), "GELU"));
    assert_non_null(strstr(reason_of(&pt, g, "embed"), "Gather"));
    assert_non_null(strstr(reason_of(&pt, g, "ids_plus"), "int64"));
    assert_int_equal(side_of(&pt, g, "fold_batch"), DF_SIDE_CPU);
    assert_non_null(strstr(reason_of(&pt, g, "fold_batch"), "batch"));
    assert_non_null(strstr(reason_of(&pt, g, "float_linear"), "not quantized"));
    assert_int_equal(side_of(&pt, g, "too_deep"), DF_SIDE_CPU);
    assert_non_null(strstr(reason_of(&pt, g, "too_deep"), "2049 > 2048"));
    assert_non_null(strstr(reason_of(&pt, g, "lrelu"), "26/256"));
    assert_int_equal(side_of(&pt, g, "relu"), DF_SIDE_DPU);
    /* q_proj, its reshape/transpose and the fused relu are one DPU subgraph. */
    int sq = sub_of(&pt, g, "q_proj");
    assert_int_equal(sub_of(&pt, g, "split_heads"), sq);
    assert_int_equal(sub_of(&pt, g, "to_heads"), sq);
    assert_int_equal(sub_of(&pt, g, "relu"), sq);
    assert_int_equal(pt.n_dpu, 1);
    assert_true(pt.macs_dpu == 16.0 * 64 * 64);
    df_fpga_partition_free(&pt);
    df_graph_free(g);
}

/* BERT's residual: LN -> Quantize -> QMatMul -> Add(., LN). {LN, Quantize, Add} would be a
 * non-convex CPU subgraph (LN -> DPU -> Add leaves it and comes back), so Add is its own. */
static void test_convex(void **state) {
    (void)state;
    df_graph *g = NULL;
    assert_int_equal(df_graph_new(&g, NULL), DF_OK);
    int64_t x3[3] = {1, 4, 32};
    int x = input(g, "x", DF_F32, 3, x3);
    int gam = cval(g, "gamma", DF_F32, 1, &x3[2], 1), bet = cval(g, "beta", DF_F32, 1, &x3[2], 0);
    int ln = val(g, "ln", DF_F32, 3, x3);
    node(g, "LayerNormalization", "ln", "", (int[]){x, gam, bet}, 3, ln);
    int y;
    linear(g, "dense", ln, 4, 32, 32, &y);
    int z = val(g, "z", DF_F32, 3, x3);
    node(g, "Add", "residual", "", (int[]){y, ln}, 2, z);
    output(g, z);
    df_fpga_profile prof;
    df_error err = {0};
    assert_int_equal(df_fpga_profile_get("DPUCZDX8G/KV260", &prof, &err), DF_OK);
    df_fpga_partition pt;
    assert_int_equal(df_fpga_partition_build(g, &prof, &pt, &err), DF_OK);
    assert_int_equal(pt.n_subgraphs, 3);
    assert_int_equal(pt.n_dpu, 1);
    assert_int_equal(pt.n_cpu, 2);
    assert_int_equal(sub_of(&pt, g, "ln"), sub_of(&pt, g, "dense_quant"));
    assert_int_not_equal(sub_of(&pt, g, "ln"), sub_of(&pt, g, "residual"));
    assert_non_null(strstr(reason_of(&pt, g, "residual"), "no fix position"));
    /* The DPU subgraph reads the int8 activation (128 bytes) and writes its output as int8. */
    const df_fpga_subgraph *d = &pt.subgraphs[sub_of(&pt, g, "dense")];
    assert_int_equal(d->side, DF_SIDE_DPU);
    assert_int_equal(d->n_ins, 1);
    assert_int_equal(d->ins[0].bytes, 4 * 32);
    assert_int_equal(d->n_outs, 1);
    assert_int_equal(d->outs[0].bytes, 4 * 32);
    /* Cost: one conv of 4 pixels x 32 x 32 = 1 * 2 * 2 tiles = 4 cycles; DDR = weights 1024 +
     * bias 32 + features (128 in + 128 out) = 1312 bytes at 19.2e9 * 0.6 / 300e6 = 38.4
     * bytes/cycle = 34.17 cycles: memory bound. */
    df_fpga_cost c;
    df_fpga_cost_eval(&pt, &prof, &c);
    assert_true(d->compute_cycles == 4.0);
    assert_true(fabs(d->ddr_bytes - 1312.0) < 1e-9);
    assert_true(fabs(d->ddr_cycles - 1312.0 / 38.4) < 1e-9);
    assert_true(fabs(d->time_us - (1312.0 / 38.4 / 300.0 + prof.invoke_us)) < 1e-9);
    assert_true(fabs(d->boundary_us - 256.0 / (prof.boundary_gbs * 1e3)) < 1e-12);
    assert_true(fabs(c.latency_us - (c.dpu_us + c.cpu_us + c.boundary_us)) < 1e-9);
    assert_true(c.fps_total > 0 && c.fps_per_core == c.fps_total);
    df_fpga_partition_free(&pt);
    df_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rules), cmocka_unit_test(test_convex)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
