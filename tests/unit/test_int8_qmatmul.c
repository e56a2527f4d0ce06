/* The int8 path: DPU numerics (rounding edge cases, saturation, shifts), the QMatMul op against
 * an exact int32 reference, the fuse_qdq pass (fires on the QDQ pattern, leaves near misses
 * alone) and whole QDQ models: int8 path vs the reference Q/DQ kernels (no_int8). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpuflow/onnx.h"
#include "dpuflow/session.h"
#include "graph/ir.h"
#include "graph/passes.h"
#include "ops/int8_dpu.h"
#include "ops/op.h"

/* ---------------------------------------------------------------- DPU numerics --------- */

static void test_dpu_round_edges(void **state) {
    (void)state;
    /* Round half toward +infinity, unlike ONNX's half to even. */
    assert_int_equal(df_dpu_round_sat(0.5f), 1);
    assert_int_equal(df_dpu_round_sat(-0.5f), 0);
    assert_int_equal(df_dpu_round_sat(1.5f), 2);
    assert_int_equal(df_dpu_round_sat(-1.5f), -1);
    assert_int_equal(df_dpu_round_sat(2.5f), 3);
    assert_int_equal(df_dpu_round_sat(-2.5f), -2);
    assert_int_equal(df_dpu_round_sat(-2.6f), -3);
    assert_int_equal(df_dpu_round_sat(0.49999997f), 0);
    assert_int_equal(df_dpu_round_sat(-0.0f), 0);
    /* Saturation to [-128, 127]. */
    assert_int_equal(df_dpu_round_sat(126.5f), 127);
    assert_int_equal(df_dpu_round_sat(127.5f), 127);
    assert_int_equal(df_dpu_round_sat(1e9f), 127);
    assert_int_equal(df_dpu_round_sat(-128.5f), -128);
    assert_int_equal(df_dpu_round_sat(-128.6f), -128);
    assert_int_equal(df_dpu_round_sat(-1e9f), -128);
    assert_int_equal(df_dpu_round_sat(INFINITY), 127);
    assert_int_equal(df_dpu_round_sat(-INFINITY), -128);
    assert_int_equal(df_dpu_round_sat(NAN), 0);
    /* Quantize with scale 2^-fix: x * 2^fix exactly, then the same rounding. */
    assert_int_equal(df_dpu_quantize(0.125f, 2), 1);    /* 0.5 -> 1 */
    assert_int_equal(df_dpu_quantize(-0.125f, 2), 0);   /* -0.5 -> 0 */
    assert_int_equal(df_dpu_quantize(-0.625f, 2), -2);  /* -2.5 -> -2 */
    assert_int_equal(df_dpu_quantize(3.0f, -1), 2);     /* 1.5 -> 2 (scale 2) */
    assert_int_equal(df_dpu_quantize(100.0f, 1), 127);
}

static void test_dpu_requant_and_fix(void **state) {
    (void)state;
    assert_int_equal(df_dpu_requant(5, 1), 3);     /* 2.5 -> 3 */
    assert_int_equal(df_dpu_requant(-5, 1), -2);   /* -2.5 -> -2 */
    assert_int_equal(df_dpu_requant(-3, 1), -1);   /* -1.5 -> -1 */
    assert_int_equal(df_dpu_requant(-1, 1), 0);    /* -0.5 -> 0 */
    assert_int_equal(df_dpu_requant(6, 2), 2);     /* 1.5 -> 2 */
    assert_int_equal(df_dpu_requant(1 << 20, 4), 127);
    assert_int_equal(df_dpu_requant(-(1 << 20), 4), -128);
    assert_int_equal(df_dpu_requant(3, -2), 12);   /* left shift */
    assert_int_equal(df_dpu_requant(100, -2), 127);
    assert_int_equal(df_dpu_requant(7, 0), 7);
    int fix = 0;
    assert_true(df_dpu_fix_of_scale(0.25f, &fix));
    assert_int_equal(fix, 2);
    assert_true(df_dpu_fix_of_scale(4.0f, &fix));
    assert_int_equal(fix, -2);
    assert_true(df_dpu_fix_of_scale(1.0f, &fix));
    assert_int_equal(fix, 0);
    assert_false(df_dpu_fix_of_scale(0.3f, &fix));
    assert_false(df_dpu_fix_of_scale(0.0f, &fix));
    assert_false(df_dpu_fix_of_scale(-0.5f, &fix));
    assert_false(df_dpu_fix_of_scale(INFINITY, &fix));
}

/* ---------------------------------------------------------------- graph building ------- */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int add_const(df_graph *g, const char *name, df_dtype dt, int rank, const int64_t *dims, const void *data) {
    int v = df_graph_value(g, name);
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    df_tensor_alloc(&t, dt, &s, NULL);
    if (t.nbytes) memcpy(t.data, data, t.nbytes);
    g->values[v].dtype = dt;
    g->values[v].shape = s;
    g->values[v].shape_known = true;
    g->values[v].is_initializer = true;
    df_value_set_const(&g->values[v], &t);
    return v;
}

static int add_input(df_graph *g, const char *name, df_dtype dt, int rank, const int64_t *dims) {
    int v = df_graph_value(g, name);
    g->values[v].dtype = dt;
    g->values[v].shape = df_shape_make(rank, dims);
    g->values[v].shape_known = true;
    g->values[v].is_graph_input = true;
    g->inputs = realloc(g->inputs, sizeof(int) * (size_t)(g->n_inputs + 1));
    g->inputs[g->n_inputs++] = v;
    return v;
}

static void set_output(df_graph *g, int v) {
    g->values[v].is_graph_output = true;
    g->outputs = realloc(g->outputs, sizeof(int) * (size_t)(g->n_outputs + 1));
    g->outputs[g->n_outputs++] = v;
}

typedef struct qdq_spec {
    int64_t M, K, N;
    bool u8;              /* uint8 activations with a zero point; else int8, zp 0 */
    bool gemm_transb;     /* Gemm(transB=1) with C instead of MatMul */
    bool bias_add;        /* MatMul followed by Add(bias) */
    bool consumers3;      /* three MatMuls share the activation Q/DQ */
    bool w7;              /* 7-bit weights in [-64, 64]: the AVX2 kernel's range (ops/qgemm.h) */
    /* near misses */
    int w_zp_nonzero;     /* weight zero point 1 */
    bool w_axis_wrong;    /* per-channel scales along the wrong axis */
    bool act_per_axis;    /* activation scale per channel */
    bool w_uint8;         /* uint8 weights */
    bool act_scale_input; /* activation scale is a graph input (not constant) */
} qdq_spec;

/* x -> Q -> DQ -> MatMul(., DQ(W)) [-> Add] -> y (or Gemm); the float x is an input. */
static df_graph *qdq_graph(const qdq_spec *sp) {
    df_graph *g = NULL;
    df_graph_new(&g, NULL);
    g->opset = 13;
    const int64_t M = sp->M, K = sp->K, N = sp->N;
    int64_t xd[2] = {M, K}, one[1] = {1}, kd[1] = {K};
    int x = add_input(g, "x", DF_F32, 2, xd);
    float xs = 0.05f;
    int vs;
    if (sp->act_scale_input) vs = add_input(g, "x_scale", DF_F32, 0, one);
    else if (sp->act_per_axis) {
        float *s = malloc(sizeof(float) * (size_t)K);
        for (int64_t k = 0; k < K; k++) s[k] = xs;
        vs = add_const(g, "x_scale", DF_F32, 1, kd, s);
        free(s);
    } else vs = add_const(g, "x_scale", DF_F32, 0, one, &xs);
    int vz;
    if (sp->act_per_axis) {
        int8_t *z = calloc((size_t)K, 1);
        vz = add_const(g, "x_zp", DF_I8, 1, kd, z);
        free(z);
    } else if (sp->u8) {
        uint8_t z = 131;
        vz = add_const(g, "x_zp", DF_U8, 0, one, &z);
    } else {
        int8_t z = 0;
        vz = add_const(g, "x_zp", DF_I8, 0, one, &z);
    }
    int xq = df_graph_value(g, "x_q"), xdq = df_graph_value(g, "x_dq");
    int qin[3] = {x, vs, vz};
    df_graph_add_node(g, "QuantizeLinear", "Q", "", qin, 3, &xq, 1);
    df_graph_add_node(g, "DequantizeLinear", "DQ", "", (int[]){xq, vs, vz}, 3, &xdq, 1);
    int n_mm = sp->consumers3 ? 3 : 1;
    for (int c = 0; c < n_mm; c++) {
        char nm[64];
        int64_t wd[2] = {sp->gemm_transb ? N : K, sp->gemm_transb ? K : N};
        int64_t nd[1] = {N};
        int8_t *w = malloc((size_t)(K * N));
        for (int64_t i = 0; i < K * N; i++)
            w[i] = sp->w7 ? (int8_t)((int)(rnd() % 129) - 64) : (int8_t)((int)(rnd() % 255) - 127);
        float *ws = malloc(sizeof(float) * (size_t)(N > K ? N : K));
        for (int64_t j = 0; j < N || j < K; j++) ws[j] = 0.001f * (float)(1 + rnd() % 20);
        int8_t *wz = calloc((size_t)(N > K ? N : K), 1);
        if (sp->w_zp_nonzero) wz[0] = 1;
        snprintf(nm, sizeof nm, "w%d", c);
        int vw = add_const(g, nm, sp->w_uint8 ? DF_U8 : DF_I8, 2, wd, w);
        int64_t axis = sp->gemm_transb ? 0 : 1;
        if (sp->w_axis_wrong) axis = 1 - axis;
        int64_t sd[1] = {wd[axis]};
        snprintf(nm, sizeof nm, "w%d_scale", c);
        int vws = add_const(g, nm, DF_F32, 1, sd, ws);
        snprintf(nm, sizeof nm, "w%d_zp", c);
        int vwz = add_const(g, nm, sp->w_uint8 ? DF_U8 : DF_I8, 1, sd, wz);
        snprintf(nm, sizeof nm, "w%d_dq", c);
        int wdq = df_graph_value(g, nm);
        snprintf(nm, sizeof nm, "WDQ%d", c);
        int wn = df_graph_add_node(g, "DequantizeLinear", nm, "", (int[]){vw, vws, vwz}, 3, &wdq, 1);
        df_attr ax = {.name = "axis", .type = DF_ATTR_INT, .i = axis};
        df_node_add_attr(&g->nodes[wn], &ax, NULL);
        float *b = malloc(sizeof(float) * (size_t)N);
        for (int64_t j = 0; j < N; j++) b[j] = 0.01f * (float)((int)(rnd() % 200) - 100);
        snprintf(nm, sizeof nm, "b%d", c);
        int vb = add_const(g, nm, DF_F32, 1, nd, b);
        snprintf(nm, sizeof nm, "y%d", c);
        int y = df_graph_value(g, nm);
        snprintf(nm, sizeof nm, "MM%d", c);
        if (sp->gemm_transb) {
            int gn = df_graph_add_node(g, "Gemm", nm, "", (int[]){xdq, wdq, vb}, 3, &y, 1);
            df_attr tb = {.name = "transB", .type = DF_ATTR_INT, .i = 1};
            df_node_add_attr(&g->nodes[gn], &tb, NULL);
        } else if (sp->bias_add) {
            snprintf(nm, sizeof nm, "mm%d", c);
            int mm = df_graph_value(g, nm);
            snprintf(nm, sizeof nm, "MM%d", c);
            df_graph_add_node(g, "MatMul", nm, "", (int[]){xdq, wdq}, 2, &mm, 1);
            snprintf(nm, sizeof nm, "Add%d", c);
            df_graph_add_node(g, "Add", nm, "", (int[]){vb, mm}, 2, &y, 1);
        } else {
            df_graph_add_node(g, "MatMul", nm, "", (int[]){xdq, wdq}, 2, &y, 1);
        }
        set_output(g, y);
        free(w), free(ws), free(wz), free(b);
    }
    return g;
}

static int count_ops(const df_graph *g, const char *op) {
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && !strcmp(g->nodes[i].op_type, op)) c++;
    return c;
}

/* Runs the spec's graph with and without the int8 path on the same random x; returns the
 * max abs difference over all outputs and the fused node count. */
static double run_both(const qdq_spec *sp, int *fused) {
    df_tensor outs[2][3];
    df_session *s[2] = {NULL, NULL};
    df_error err = {0};
    int64_t xd[2] = {sp->M, sp->K};
    df_shape xs = df_shape_make(2, xd);
    df_tensor x;
    df_tensor_alloc(&x, DF_F32, &xs, NULL);
    for (int64_t i = 0; i < sp->M * sp->K; i++) ((float *)x.data)[i] = 0.05f * ((float)(rnd() % 2001) / 100.0f - 10.0f);
    int n_out = sp->consumers3 ? 3 : 1;
    for (int k = 0; k < 2; k++) {
        uint64_t seed = rng;
        rng = 12345; /* the same weights for both graphs */
        df_graph *g = qdq_graph(sp);
        rng = seed;
        df_session_opts o = {.threads = 1, .no_int8 = k == 1};
        df_status st = df_session_open_graph(g, &o, &s[k], &err);
        if (st) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, DF_OK);
        if (k == 0) *fused = count_ops(df_session_graph(s[k]), "QMatMul");
        st = df_session_run(s[k], &x, 1, outs[k], (size_t)n_out, &err);
        if (st) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, DF_OK);
    }
    double md = 0;
    for (int o = 0; o < n_out; o++) {
        const float *a = outs[0][o].data, *b = outs[1][o].data;
        for (int64_t i = 0; i < (int64_t)(outs[0][o].nbytes / 4); i++) {
            double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
            if (d > md) md = d;
        }
    }
    df_session_close(s[0]);
    df_session_close(s[1]);
    df_tensor_free(&x);
    printf("  [%lld,%lld]x[%lld,%lld]%s%s%s: %d QMatMul, max rel diff vs reference %.3g\n", (long long)sp->M,
           (long long)sp->K, (long long)sp->K, (long long)sp->N, sp->u8 ? " u8" : " s8", sp->bias_add ? " +bias" : "",
           sp->gemm_transb ? " Gemm" : "", *fused, md);
    return md;
}

/* The spec's graph after inference and the optimizer's passes (the caller frees it). */
static df_graph *optimized_graph(const qdq_spec *sp) {
    df_graph *g = qdq_graph(sp);
    df_error err = {0};
    assert_int_equal(df_graph_infer(g, &err), DF_OK);
    df_optimize_opts o = {0};
    assert_int_equal(df_graph_optimize(g, &o, &err), DF_OK);
    return g;
}

static void test_pass_fires_matmul(void **state) {
    (void)state;
    int fused = -1;
    qdq_spec sp = {.M = 16, .K = 48, .N = 40};
    assert_true(run_both(&sp, &fused) < 1e-5);
    assert_int_equal(fused, 1);
    /* The QuantizeLinear read by this one QMatMul only is folded into it: the QMatMul reads
     * the float activation (qmatmul_quantize); the results above are the same either way. */
    df_graph *g = optimized_graph(&sp);
    assert_int_equal(count_ops(g, "QuantizeLinear"), 0);
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && !strcmp(g->nodes[i].op_type, "QMatMul"))
            assert_int_equal(df_node_in(g, &g->nodes[i], 0)->dtype, DF_F32);
    df_graph_free(g);
    sp.u8 = true;
    assert_true(run_both(&sp, &fused) < 1e-5);
    assert_int_equal(fused, 1);
}

/* 7-bit weights take the AVX2 kernel (where built): odd M and N exercise the partial tiles,
 * u8 the zero point, s8 the shift to u8; the result is the exact int32 sum either way. */
static void test_qgemm_path(void **state) {
    (void)state;
    int fused = -1;
    const qdq_spec specs[] = {{.M = 5, .K = 48, .N = 40, .w7 = true},
                              {.M = 5, .K = 48, .N = 40, .w7 = true, .u8 = true},
                              {.M = 64, .K = 312, .N = 17, .w7 = true, .bias_add = true, .u8 = true},
                              {.M = 1, .K = 4, .N = 1, .w7 = true},
                              {.M = 4, .K = 32, .N = 7, .w7 = true, .gemm_transb = true},
                              {.M = 3, .K = 30, .N = 9, .w7 = true, .u8 = true}}; /* K % 4: oneDNN */
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        assert_true(run_both(&specs[i], &fused) < 1e-5);
        assert_int_equal(fused, 1);
    }
}

static void test_pass_bias_gemm_shared(void **state) {
    (void)state;
    int fused = -1;
    qdq_spec sp = {.M = 8, .K = 64, .N = 24, .bias_add = true, .u8 = true};
    assert_true(run_both(&sp, &fused) < 1e-5);
    assert_int_equal(fused, 1);
    qdq_spec gm = {.M = 4, .K = 32, .N = 7, .gemm_transb = true};
    assert_true(run_both(&gm, &fused) < 1e-5);
    assert_int_equal(fused, 1);
    /* Q, K, V: one QuantizeLinear feeds all three fused matmuls, and stays: the activation is
     * quantized once, not once per reader. */
    qdq_spec sh = {.M = 16, .K = 32, .N = 32, .consumers3 = true, .bias_add = true};
    df_graph *g = optimized_graph(&sh);
    assert_int_equal(count_ops(g, "QMatMul"), 3);
    assert_int_equal(count_ops(g, "QuantizeLinear"), 1);
    assert_int_equal(count_ops(g, "DequantizeLinear"), 0);
    assert_int_equal(count_ops(g, "Add"), 0);
    assert_int_equal(count_ops(g, "MatMul"), 0);
    df_graph_free(g);
    assert_true(run_both(&sh, &fused) < 1e-5);
    assert_int_equal(fused, 3);
}

static void test_pass_near_misses(void **state) {
    (void)state;
    qdq_spec base = {.M = 4, .K = 16, .N = 8};
    qdq_spec cases[5];
    for (int i = 0; i < 5; i++) cases[i] = base;
    cases[0].w_zp_nonzero = 1;
    cases[1].w_axis_wrong = true;
    cases[2].act_per_axis = true;
    cases[3].w_uint8 = true;
    cases[4].act_scale_input = true;
    for (int i = 0; i < 5; i++) {
        df_graph *g = qdq_graph(&cases[i]);
        df_error err = {0};
        df_status st = df_graph_infer(g, &err);
        if (st) fprintf(stderr, "case %d: %s\n", i, err.msg);
        assert_int_equal(st, DF_OK);
        df_optimize_opts o = {0};
        assert_int_equal(df_graph_optimize(g, &o, &err), DF_OK);
        if (count_ops(g, "QMatMul") != 0) fprintf(stderr, "near miss %d was fused\n", i);
        assert_int_equal(count_ops(g, "QMatMul"), 0);
        assert_int_equal(count_ops(g, "MatMul"), 1);
        df_graph_free(g);
    }
    /* no_int8 keeps the graph as it is. */
    df_graph *g = qdq_graph(&base);
    df_error err = {0};
    assert_int_equal(df_graph_infer(g, &err), DF_OK);
    df_optimize_opts o = {.no_int8 = true};
    assert_int_equal(df_graph_optimize(g, &o, &err), DF_OK);
    assert_int_equal(count_ops(g, "QMatMul"), 0);
    df_graph_free(g);
}

/* ---------------------------------------------------------------- the op, dpu mode ------ */

/* QMatMul(round_mode="dpu") on float x: quantize with round half up, int32 accumulate, bias at
 * the accumulator's fix position, output shift-requantized to out_fix. Checked by hand. */
static void test_qmatmul_dpu_mode(void **state) {
    (void)state;
    df_graph *g = NULL;
    df_graph_new(&g, NULL);
    g->opset = 13;
    int64_t xd[2] = {1, 4}, one[1] = {1}, wd[2] = {4, 2}, nd[1] = {2};
    int x = add_input(g, "x", DF_F32, 2, xd);
    float xs = 0.5f; /* fix 1 */
    int vs = add_const(g, "xs", DF_F32, 0, one, &xs);
    int8_t w[8] = {1, 1, 1, -1, 1, 2, 1, 0};       /* [4,2] */
    int vw = add_const(g, "w", DF_I8, 2, wd, w);
    float ws[2] = {0.25f, 0.5f};                    /* fix 2, 1 */
    int vws = add_const(g, "ws", DF_F32, 1, nd, ws);
    float b[2] = {0.375f, -0.3f};
    int vb = add_const(g, "b", DF_F32, 1, nd, b);
    int y = df_graph_value(g, "y");
    int nn = df_graph_add_node(g, "QMatMul", "q", "ai.dpuflow", (int[]){x, vs, -1, vw, vws, vb}, 6, &y, 1);
    df_attr rm = {.name = "round_mode", .type = DF_ATTR_STRING, .s = "dpu", .s_len = 3};
    df_node_add_attr(&g->nodes[nn], &rm, NULL);
    df_attr of = {.name = "out_fix", .type = DF_ATTR_INT, .i = 1};
    df_node_add_attr(&g->nodes[nn], &of, NULL);
    set_output(g, y);
    df_session *s = NULL;
    df_error err = {0};
    df_status st = df_session_open_graph(g, &(df_session_opts){.threads = 1}, &s, &err);
    if (st) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, DF_OK);
    /* x*2 = {0.5, -0.5, -2.5, 300} -> q = {1, 0, -2, 127} */
    float xv[4] = {0.25f, -0.25f, -1.25f, 150.0f};
    df_shape xsh = df_shape_make(2, xd);
    df_tensor xt = {.dtype = DF_F32, .shape = xsh, .data = xv, .nbytes = sizeof xv};
    df_tensor out;
    assert_int_equal(df_session_run(s, &xt, 1, &out, 1, &err), DF_OK);
    /* col0: acc = 1 + 0 - 2 + 127 = 126 at fix 3; bias 0.375*8 = 3 -> 129; to fix 1: shift 2:
     * (129 + 2) >> 2 = 32 -> 16.0. col1: acc = 1 - 0 - 4 + 0 = -3 at fix 2; bias -0.3*4 = -1.2
     * -> floor(-0.7) = -1 -> -4; shift 1: (-4 + 1) >> 1 = -2 -> -1.0 */
    const float *yv = out.data;
    assert_float_equal(yv[0], 16.0f, 0.0f);
    assert_float_equal(yv[1], -1.0f, 0.0f);
    df_session_close(s);
}

/* ---------------------------------------------------------------- fixture models ------- */

static void model_int8_vs_reference(const char *file, size_t *fused_out, double *diff) {
    char path[1024], inp[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/int8/%s", DF_SOURCE_DIR, file);
    const char *stem = strstr(file, "xlmr") ? "xlmr_tiny" : "bert_tiny";
    snprintf(inp, sizeof inp, "%s/tests/fixtures/models/%s.inputs.npz", DF_SOURCE_DIR, stem);
    df_tensor_list in = {0};
    df_error err = {0};
    assert_int_equal(df_npz_read(inp, &in, &err), DF_OK);
    df_tensor outs[2][4];
    df_session *s[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        df_session_opts o = {.threads = 1, .sample_inputs = &in, .no_int8 = k == 1};
        df_status st = df_session_open(path, &o, &s[k], &err);
        if (st) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, DF_OK);
        size_t ni = df_session_input_count(s[k]);
        df_tensor ins[8];
        for (size_t i = 0; i < ni && i < 8; i++) {
            const char *name;
            df_session_input_info(s[k], i, &name, NULL, NULL);
            const df_tensor *t = df_tensor_list_find(&in, name);
            assert_non_null(t);
            ins[i] = *t;
        }
        st = df_session_run(s[k], ins, ni, outs[k], df_session_output_count(s[k]), &err);
        if (st) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, DF_OK);
    }
    *fused_out = (size_t)count_ops(df_session_graph(s[0]), "QMatMul");
    /* The attention pass still fuses each layer when its projections are int8. */
    assert_int_equal(count_ops(df_session_graph(s[0]), "AttentionCore"), 2);
    double md = 0;
    for (size_t o = 0; o < df_session_output_count(s[0]); o++) {
        const float *a = outs[0][o].data, *b = outs[1][o].data;
        for (size_t i = 0; i < outs[0][o].nbytes / 4; i++) {
            double d = fabs((double)a[i] - (double)b[i]);
            if (d > md) md = d;
        }
    }
    *diff = md;
    df_session_close(s[0]);
    df_session_close(s[1]);
    df_tensor_list_free(&in);
}

static void test_fixture_models(void **state) {
    (void)state;
    const char *files[] = {"bert_tiny_qdq_s8.onnx", "bert_tiny_qdq_u8.onnx", "xlmr_tiny_qdq_s8.onnx",
                           "xlmr_tiny_qdq_u8.onnx", "bert_tiny_qdq_w7.onnx"};
    for (size_t i = 0; i < 5; i++) {
        size_t fused = 0;
        double d = 0;
        model_int8_vs_reference(files[i], &fused, &d);
        printf("  %s: %zu QMatMul, int8 path vs reference Q/DQ max abs diff %.3g\n", files[i], fused, d);
        /* Every constant-weight MatMul/Gemm of the fixtures is int8: per layer one merged Q|K|V
         * projection (feeding AttentionCore), the output and two FFN ones (2 layers x 4), plus
         * the BERT fixtures' pooler and classifier. */
        assert_true(fused >= (strstr(files[i], "xlmr") ? 8u : 10u));
        /* Integer accumulation is exact; the reference accumulates dequantized floats, so they
         * differ by float rounding only, amplified a little through LayerNorm and softmax. */
        assert_true(d < 1e-4);
    }
}

int main(void) {
    setenv("DF_INT8", "1", 1); /* test the int8 path even where sessions would skip it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dpu_round_edges),
        cmocka_unit_test(test_dpu_requant_and_fix),
        cmocka_unit_test(test_pass_fires_matmul),
        cmocka_unit_test(test_pass_bias_gemm_shared),
        cmocka_unit_test(test_qgemm_path),
        cmocka_unit_test(test_pass_near_misses),
        cmocka_unit_test(test_qmatmul_dpu_mode),
        cmocka_unit_test(test_fixture_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
