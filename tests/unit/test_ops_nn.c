/* Unit tests for the nn family: MatMul and Gemm (oneDNN packed and runtime-weight paths
 * against naive loops), Softmax/LogSoftmax semantics across opsets, LayerNormalization. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "op_harness.h"

static uint32_t rng_state = 12345;
static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static df_tensor rand_f32(int rank, const int64_t *dims) {
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    df_tensor_alloc(&t, DF_F32, &s, NULL);
    float *v = t.data;
    for (int64_t i = 0; i < df_shape_numel(&s); i++) v[i] = frand();
    return t;
}

static float max_abs_diff(const float *a, const float *b, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

/* numpy.matmul by definition: promote 1-D operands, broadcast batch dims, then squeeze. */
static void ref_matmul(const df_tensor *a, const df_tensor *b, float *out) {
    df_shape as = a->shape, bs = b->shape;
    if (as.rank == 1) as = (df_shape){.rank = 2, .dims = {1, a->shape.dims[0]}};
    if (bs.rank == 1) bs = (df_shape){.rank = 2, .dims = {b->shape.dims[0], 1}};
    int64_t M = as.dims[as.rank - 2], K = as.dims[as.rank - 1], N = bs.dims[bs.rank - 1];
    int r = (as.rank > bs.rank ? as.rank : bs.rank) - 2;
    int64_t batch[DF_MAX_RANK], nb = 1;
    for (int d = 0; d < r; d++) {
        int ia = d - (r - (as.rank - 2)), ib = d - (r - (bs.rank - 2));
        int64_t da = ia >= 0 ? as.dims[ia] : 1, db = ib >= 0 ? bs.dims[ib] : 1;
        batch[d] = da > db ? da : db;
        nb *= batch[d];
    }
    const float *A = a->data, *B = b->data;
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t idx[DF_MAX_RANK], rem = bi;
        for (int d = r - 1; d >= 0; d--) idx[d] = rem % batch[d], rem /= batch[d];
        int64_t ao = 0, bo = 0, am = 1, bm = 1;
        for (int d = r - 1; d >= 0; d--) {
            int ia = d - (r - (as.rank - 2)), ib = d - (r - (bs.rank - 2));
            if (ia >= 0) {
                ao += (as.dims[ia] == 1 ? 0 : idx[d]) * am;
                am *= as.dims[ia];
            }
            if (ib >= 0) {
                bo += (bs.dims[ib] == 1 ? 0 : idx[d]) * bm;
                bm *= bs.dims[ib];
            }
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) acc += (double)A[ao * M * K + i * K + k] * B[bo * K * N + k * N + j];
                out[(bi * M + i) * N + j] = (float)acc;
            }
    }
}

typedef struct mm_case {
    int ar;
    int64_t ad[4];
    int br;
    int64_t bd[4];
    int orank;
    int64_t od[4];
} mm_case;

static void run_matmul_case(const mm_case *mc, bool b_const) {
    df_tensor a = rand_f32(mc->ar, mc->ad), b = rand_f32(mc->br, mc->bd);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "MatMul", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b, b_const);
    df_status st = op_case_run(&c, 1, &err);
    if (st) fail_msg("%s", err.msg);
    df_shape want = df_shape_make(mc->orank, mc->od);
    char s1[64], s2[64];
    if (!df_shape_equal(&c.outputs[0].shape, &want))
        fail_msg("shape %s, want %s", df_shape_str(&c.outputs[0].shape, s1, sizeof s1), df_shape_str(&want, s2, sizeof s2));
    int64_t n = df_shape_numel(&want);
    float *ref = malloc((size_t)(n ? n : 1) * sizeof(float));
    ref_matmul(&a, &b, ref);
    float d = max_abs_diff(c.outputs[0].data, ref, n);
    if (d > 1e-4f) fail_msg("max abs diff %g (b_const=%d)", d, b_const);
    free(ref);
    op_case_free(&c);
    df_tensor_free(&a);
    df_tensor_free(&b);
}

static void test_matmul_shapes(void **state) {
    (void)state;
    static const mm_case cases[] = {
        {1, {4}, 1, {4}, 0, {0}},
        {1, {4}, 2, {4, 3}, 1, {3}},
        {2, {2, 4}, 1, {4}, 1, {2}},
        {2, {3, 4}, 2, {4, 5}, 2, {3, 5}},
        {3, {2, 8, 32}, 2, {32, 24}, 3, {2, 8, 24}},          /* [B,S,K] x [K,N]: folded into one GEMM */
        {3, {2, 64, 312}, 2, {312, 312}, 3, {2, 64, 312}},
        {4, {2, 3, 5, 8}, 4, {2, 3, 8, 5}, 4, {2, 3, 5, 5}},   /* attention QK^T */
        {4, {2, 1, 5, 8}, 4, {1, 3, 8, 6}, 4, {2, 3, 5, 6}},   /* both broadcast */
        {2, {5, 8}, 4, {2, 3, 8, 6}, 4, {2, 3, 5, 6}},         /* A broadcast over B's batch */
        {4, {2, 3, 5, 8}, 2, {8, 6}, 4, {2, 3, 5, 6}},
        {3, {3, 5, 8}, 1, {8}, 2, {3, 5}},
        {1, {8}, 3, {3, 8, 6}, 2, {3, 6}},
        {2, {0, 4}, 2, {4, 3}, 2, {0, 3}},
        {2, {3, 0}, 2, {0, 2}, 2, {3, 2}},                     /* K = 0: zeros */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_matmul_case(&cases[i], false);
        run_matmul_case(&cases[i], true);
    }
}

static void test_matmul_int64(void **state) {
    (void)state;
    int64_t ad[2] = {2, 3}, bd[2] = {3, 2};
    int64_t av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {7, 8, 9, 10, 11, 12};
    df_tensor a = op_tensor_i64(2, ad, av), b = op_tensor_i64(2, bd, bv);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "MatMul", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    const int64_t *y = c.outputs[0].data;
    assert_int_equal(y[0], 58);
    assert_int_equal(y[1], 64);
    assert_int_equal(y[2], 139);
    assert_int_equal(y[3], 154);
    op_case_free(&c);
    df_tensor_free(&a);
    df_tensor_free(&b);
}

static void test_matmul_k_mismatch(void **state) {
    (void)state;
    int64_t ad[2] = {2, 3}, bd[2] = {4, 5};
    df_tensor a = rand_f32(2, ad), b = rand_f32(2, bd);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "MatMul", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "test_node"));
    assert_non_null(strstr(err.msg, "'A'"));
    op_case_free(&c);
    /* Batch dims that do not broadcast. */
    int64_t a3[3] = {2, 3, 4}, b3[3] = {3, 4, 2};
    df_tensor a2 = rand_f32(3, a3), b2 = rand_f32(3, b3);
    op_case_init(&c, "MatMul", 13);
    op_case_input(&c, "A", &a2, false);
    op_case_input(&c, "B", &b2, false);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    op_case_free(&c);
    df_tensor_free(&a);
    df_tensor_free(&b);
    df_tensor_free(&a2);
    df_tensor_free(&b2);
}

/* --- Gemm ------------------------------------------------------------------------------ */
enum { C_NONE, C_VEC, C_ROW, C_COL, C_FULL, C_SCALAR };

static void run_gemm_case(int ta, int tb, float alpha, float beta, int ckind, bool b_const, bool c_const) {
    const int64_t M = 5, K = 7, N = 6;
    int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
    df_tensor a = rand_f32(2, ad), b = rand_f32(2, bd), cc = {0};
    int64_t cd[2];
    int cr = 0;
    switch (ckind) {
    case C_VEC: cr = 1, cd[0] = N; break;
    case C_ROW: cr = 2, cd[0] = 1, cd[1] = N; break;
    case C_COL: cr = 2, cd[0] = M, cd[1] = 1; break;
    case C_FULL: cr = 2, cd[0] = M, cd[1] = N; break;
    case C_SCALAR: cr = 0; break;
    }
    if (ckind != C_NONE) cc = rand_f32(cr, cd);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "Gemm", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b, b_const);
    if (ckind != C_NONE) op_case_input(&c, "C", &cc, c_const);
    op_case_attr_int(&c, "transA", ta);
    op_case_attr_int(&c, "transB", tb);
    op_case_attr_float(&c, "alpha", alpha);
    op_case_attr_float(&c, "beta", beta);
    if (op_case_run(&c, 1, &err)) fail_msg("%s", err.msg);
    const float *A = a.data, *B = b.data, *C = cc.data, *Y = c.outputs[0].data;
    float worst = 0.0f;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            double want = alpha * acc;
            if (ckind != C_NONE) {
                float cv = ckind == C_VEC || ckind == C_ROW ? C[j] : ckind == C_COL ? C[i]
                         : ckind == C_FULL ? C[i * N + j] : C[0];
                want += beta * cv;
            }
            float d = fabsf((float)want - Y[i * N + j]);
            worst = d > worst ? d : worst;
        }
    if (worst > 1e-4f)
        fail_msg("gemm transA=%d transB=%d alpha=%g beta=%g C=%d bconst=%d cconst=%d: diff %g", ta, tb, alpha, beta,
                 ckind, b_const, c_const, worst);
    op_case_free(&c);
    df_tensor_free(&a);
    df_tensor_free(&b);
    df_tensor_free(&cc);
}

static void test_gemm_combos(void **state) {
    (void)state;
    const float alphas[] = {1.0f, 0.5f}, betas[] = {1.0f, 2.0f, 0.0f};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int ai = 0; ai < 2; ai++)
                for (int bi = 0; bi < 3; bi++)
                    for (int ck = C_NONE; ck <= C_SCALAR; ck++)
                        for (int bc = 0; bc < 2; bc++)
                            for (int cc = 0; cc < 2; cc++) run_gemm_case(ta, tb, alphas[ai], betas[bi], ck, bc, cc);
}

static void test_gemm_errors(void **state) {
    (void)state;
    int64_t ad[2] = {3, 4}, bd[2] = {5, 6}, cd[2] = {2, 6};
    df_tensor a = rand_f32(2, ad), b = rand_f32(2, bd);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "Gemm", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "test_node"));
    op_case_free(&c);
    int64_t bd2[2] = {4, 6};
    df_tensor b2 = rand_f32(2, bd2), cbad = rand_f32(2, cd);
    op_case_init(&c, "Gemm", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b2, true);
    op_case_input(&c, "C", &cbad, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "'C'"));
    op_case_free(&c);
    df_tensor_free(&a);
    df_tensor_free(&b);
    df_tensor_free(&b2);
    df_tensor_free(&cbad);
}

/* --- Softmax / LogSoftmax --------------------------------------------------------------- */
/* Reference over outer x len x inner with doubles. */
static void ref_softmax(const float *x, float *y, int64_t outer, int64_t len, int64_t inner, int log) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *xr = x + o * len * inner + in;
            float *yr = y + o * len * inner + in;
            double m = -INFINITY, s = 0;
            for (int64_t i = 0; i < len; i++) m = xr[i * inner] > m ? xr[i * inner] : m;
            for (int64_t i = 0; i < len; i++) s += exp(xr[i * inner] - m);
            for (int64_t i = 0; i < len; i++)
                yr[i * inner] = log ? (float)(xr[i * inner] - m - log1p(s - 1)) : (float)(exp(xr[i * inner] - m) / s);
        }
}

static void check_softmax(const char *op, int opset, int64_t axis, bool set_axis, int64_t outer, int64_t len,
                          int64_t inner) {
    int64_t dims[3] = {2, 3, 40};
    df_tensor x = rand_f32(3, dims);
    float *xv = x.data;
    for (int i = 0; i < 240; i++) xv[i] *= 20.0f; /* large logits */
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, op, opset);
    op_case_input(&c, "x", &x, false);
    if (set_axis) op_case_attr_int(&c, "axis", axis);
    if (op_case_run(&c, 1, &err)) fail_msg("%s", err.msg);
    float ref[240];
    ref_softmax(xv, ref, outer, len, inner, !strcmp(op, "LogSoftmax"));
    float d = max_abs_diff(c.outputs[0].data, ref, 240);
    if (d > 1e-5f) fail_msg("%s opset %d axis %lld: diff %g", op, opset, (long long)axis, d);
    op_case_free(&c);
    df_tensor_free(&x);
}

static void test_softmax_opsets(void **state) {
    (void)state;
    const char *ops[2] = {"Softmax", "LogSoftmax"};
    for (int i = 0; i < 2; i++) {
        /* opset 11: coerced to 2-D at axis, normalized over the flattened tail. */
        check_softmax(ops[i], 11, 0, false, 2, 120, 1);     /* default axis 1 -> [2, 120] */
        check_softmax(ops[i], 11, 1, true, 2, 120, 1);
        check_softmax(ops[i], 11, 0, true, 1, 240, 1);
        check_softmax(ops[i], 11, -1, true, 6, 40, 1);
        /* opset 13: one axis. */
        check_softmax(ops[i], 13, 0, false, 6, 40, 1);      /* default axis -1 */
        check_softmax(ops[i], 13, 1, true, 2, 3, 40);
        check_softmax(ops[i], 13, 0, true, 1, 2, 120);
        check_softmax(ops[i], 13, -1, true, 6, 40, 1);
    }
}

static void test_softmax_masks(void **state) {
    (void)state;
    int64_t dims[2] = {2, 4};
    float xv[8] = {1.0f, -INFINITY, 2.0f, -10000.0f, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    df_tensor x = op_tensor_f32(2, dims, xv);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "Softmax", 13);
    op_case_input(&c, "x", &x, false);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    const float *y = c.outputs[0].data;
    assert_float_equal(y[1], 0.0f, 0.0f);
    assert_float_equal(y[3], 0.0f, 0.0f);
    assert_float_equal(y[0] + y[2], 1.0f, 1e-6f);
    assert_float_equal(y[2], 1.0f / (1.0f + expf(-1.0f)), 1e-6f);
    /* A row with no finite entry has no distribution: NaN, as numpy's reference gives. */
    for (int i = 4; i < 8; i++) assert_true(isnan(y[i]));
    op_case_free(&c);
    /* Axis out of range names the node. */
    op_case_init(&c, "Softmax", 13);
    op_case_input(&c, "x", &x, false);
    op_case_attr_int(&c, "axis", 2);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ERANGE);
    assert_non_null(strstr(err.msg, "test_node"));
    op_case_free(&c);
    df_tensor_free(&x);
}

/* --- LayerNormalization ----------------------------------------------------------------- */
static void ref_layernorm(const float *x, const float *scale, const float *bias, float *y, float *mean, float *inv,
                          int64_t outer, int64_t cols, float eps) {
    for (int64_t r = 0; r < outer; r++) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < cols; c++) m += x[r * cols + c];
        m /= cols;
        for (int64_t c = 0; c < cols; c++) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
        v /= cols;
        double is = 1.0 / sqrt(v + eps);
        mean[r] = (float)m;
        inv[r] = (float)is;
        for (int64_t c = 0; c < cols; c++)
            y[r * cols + c] = (float)((x[r * cols + c] - m) * is * (scale ? scale[c] : 1) + (bias ? bias[c] : 0));
    }
}

static void test_layernorm(void **state) {
    (void)state;
    int64_t xd[3] = {2, 3, 4};
    df_tensor x = rand_f32(3, xd);
    float *xv = x.data;
    for (int i = 0; i < 24; i++) xv[i] = xv[i] * 3.0f + 100.0f; /* offset rows: two-pass matters */
    for (int variant = 0; variant < 4; variant++) {
        /* 0: axis -1, scale [4] + bias [4]; 1: axis 1, scale [3,4] + bias [4] (broadcast inside);
         * 2: axis -1 scale only with Mean/InvStdDev; 3: axis 1, scale [1,4], no bias */
        int64_t axis = variant == 1 || variant == 3 ? 1 : -1;
        int64_t outer = axis == 1 ? 2 : 6, cols = 24 / outer;
        df_tensor sc, b = {0};
        int64_t d4[1] = {4}, d34[2] = {3, 4}, d14[2] = {1, 4};
        if (variant == 1) sc = rand_f32(2, d34);
        else if (variant == 3) sc = rand_f32(2, d14);
        else sc = rand_f32(1, d4);
        if (variant < 2) b = rand_f32(1, d4);
        float full_s[12], full_b[12];
        for (int64_t c = 0; c < cols; c++) {
            full_s[c] = ((float *)sc.data)[variant == 1 ? c : c % 4];
            full_b[c] = b.data ? ((float *)b.data)[c % 4] : 0.0f;
        }
        df_op_case c;
        df_error err = {0};
        op_case_init(&c, "LayerNormalization", 17);
        op_case_input(&c, "X", &x, false);
        op_case_input(&c, "Scale", &sc, true);
        if (b.data) op_case_input(&c, "B", &b, true);
        op_case_attr_int(&c, "axis", axis);
        op_case_attr_float(&c, "epsilon", 1e-5f);
        if (op_case_run(&c, 3, &err)) fail_msg("variant %d: %s", variant, err.msg);
        float y[24], mean[6], inv[6];
        ref_layernorm(xv, full_s, b.data ? full_b : NULL, y, mean, inv, outer, cols, 1e-5f);
        float d = max_abs_diff(c.outputs[0].data, y, 24);
        if (d > 1e-4f) fail_msg("variant %d: Y diff %g", variant, d);
        assert_int_equal(c.outputs[1].shape.rank, 3);
        assert_int_equal(c.outputs[1].shape.dims[2], 1);
        assert_true(max_abs_diff(c.outputs[1].data, mean, outer) < 1e-4f);
        assert_true(max_abs_diff(c.outputs[2].data, inv, outer) < 1e-3f);
        op_case_free(&c);
        df_tensor_free(&sc);
        df_tensor_free(&b);
    }
    /* Scale that does not fit the normalized dims. */
    int64_t bad[1] = {5};
    df_tensor sc = rand_f32(1, bad);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "LayerNormalization", 17);
    op_case_input(&c, "X", &x, false);
    op_case_input(&c, "Scale", &sc, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "'Scale'"));
    op_case_free(&c);
    df_tensor_free(&sc);
    df_tensor_free(&x);
}

/* --- BatchNormalization ---------------------------------------------------------- */
static void test_batchnorm(void **state) {
    (void)state;
    int64_t xd[4] = {2, 3, 2, 2}, cd[1] = {3};
    df_tensor x = rand_f32(4, xd);
    float sv[3] = {1.0f, 2.0f, 0.5f}, bv[3] = {0.0f, 1.0f, -1.0f}, mv[3] = {0.1f, -0.2f, 0.3f}, vv[3] = {1.0f, 4.0f, 0.25f};
    df_tensor p[4] = {op_tensor_f32(1, cd, sv), op_tensor_f32(1, cd, bv), op_tensor_f32(1, cd, mv),
                      op_tensor_f32(1, cd, vv)};
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "BatchNormalization", 15);
    op_case_input(&c, "X", &x, false);
    op_case_input(&c, "scale", &p[0], true);
    op_case_input(&c, "B", &p[1], true);
    op_case_input(&c, "input_mean", &p[2], true);
    op_case_input(&c, "input_var", &p[3], true);
    if (op_case_run(&c, 1, &err)) fail_msg("%s", err.msg);
    const float *xv = x.data, *y = c.outputs[0].data;
    for (int i = 0; i < 24; i++) {
        int ch = (i / 4) % 3;
        float want = (xv[i] - mv[ch]) / sqrtf(vv[ch] + 1e-5f) * sv[ch] + bv[ch];
        assert_float_equal(y[i], want, 1e-5f);
    }
    op_case_free(&c);
    df_tensor_free(&x);
    for (int i = 0; i < 4; i++) df_tensor_free(&p[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_shapes),   cmocka_unit_test(test_matmul_int64),
        cmocka_unit_test(test_matmul_k_mismatch), cmocka_unit_test(test_gemm_combos),
        cmocka_unit_test(test_gemm_errors),     cmocka_unit_test(test_softmax_opsets),
        cmocka_unit_test(test_softmax_masks),   cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_batchnorm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
