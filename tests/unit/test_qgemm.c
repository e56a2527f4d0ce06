/* The AVX2 int8 GEMM (ops/qgemm.h) against an exact int64 reference, through each view of the
 * activations df_qgemm_view_a can pick: uint8 used as is (narrow when <= 127, else wide),
 * a narrow shifted copy (values spanning <= 127, int8 or uint8), int8 that is never negative
 * used as is (narrow) and int8 + 128 (wide).
 * Shapes cover a partial row tile, a partial column panel, an odd number of k quads (the
 * narrow kernel's single-quad tail) and K = 4; 1 and 2 threads; with and without GELU. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/qgemm.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static int irand(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }

static double gelu_ref(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

typedef struct qcase {
    int64_t M, K, N;
    bool is_signed;
    int lo, hi;          /* activation values drawn from [lo, hi] */
    int32_t zp;          /* the activations' zero point */
    bool expect_narrow, expect_copy, gelu, bias;
    int threads;
} qcase;

static void run_case(const qcase *c) {
    const int64_t M = c->M, K = c->K, N = c->N;
    int8_t *W = malloc((size_t)(K * N));
    uint8_t *X = malloc((size_t)(M * K)), *scratch = malloc((size_t)(M * K));
    float *scale = malloc((size_t)N * sizeof(float)), *bias = malloc((size_t)N * sizeof(float));
    float *C = malloc((size_t)(M * N) * sizeof(float));
    assert_non_null(W), assert_non_null(X), assert_non_null(scratch), assert_non_null(scale), assert_non_null(bias),
        assert_non_null(C);
    for (int64_t i = 0; i < K * N; i++) W[i] = (int8_t)irand(-DF_QGEMM_WMAX, DF_QGEMM_WMAX);
    /* The extremes of the range appear at least once, so the view sees the whole span. */
    for (int64_t i = 0; i < M * K; i++) {
        int v = i == 0 ? c->lo : i == 1 ? c->hi : irand(c->lo, c->hi);
        X[i] = c->is_signed ? (uint8_t)(int8_t)v : (uint8_t)v;
    }
    for (int64_t j = 0; j < N; j++) scale[j] = 1e-4f * (float)irand(1, 40), bias[j] = 0.01f * (float)irand(-50, 50);

    df_qgemm_b pb;
    df_error err = {0};
    assert_int_equal(df_qgemm_pack(&pb, K, N, W, &err), DF_OK);
    df_qgemm_a a = df_qgemm_view_a(X, c->is_signed, M * K, c->zp, scratch);
    assert_int_equal(a.narrow, c->expect_narrow);
    assert_true(c->expect_copy ? a.data == scratch : a.data == X);
    if (a.narrow)
        for (int64_t i = 0; i < M * K; i++) assert_true(a.data[i] <= 127);
    df_qgemm_run(&pb, M, a, K, scale, c->bias ? bias : NULL, c->gelu, C, N, c->threads);

    int fails = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t acc = 0;
            for (int64_t k = 0; k < K; k++) {
                int32_t xv = c->is_signed ? (int8_t)X[i * K + k] : X[i * K + k];
                acc += (int64_t)(xv - c->zp) * W[k * N + j];
            }
            double y = (double)acc * scale[j] + (c->bias ? bias[j] : 0.0);
            if (c->gelu) y = gelu_ref(y);
            double got = C[i * N + j];
            if (fabs(got - y) > 1e-5 * (1.0 + fabs(y)) && fails++ < 5)
                print_error("M%lld K%lld N%lld [%lld,%lld]: %.9g, expected %.9g\n", (long long)M, (long long)K,
                            (long long)N, (long long)i, (long long)j, got, y);
        }
    assert_int_equal(fails, 0);
    df_qgemm_free(&pb);
    free(W), free(X), free(scratch), free(scale), free(bias), free(C);
}

static bool have_kernel(void) {
    int8_t w[4] = {1, 2, 3, 4};
    return df_qgemm_takes(4, 1, w);
}

static void test_views(void **state) {
    (void)state;
    if (!have_kernel()) skip();
    const qcase cases[] = {
        /* uint8 within 0..127: as is, narrow */
        {.M = 5, .K = 12, .N = 20, .lo = 0, .hi = 127, .zp = 3, .expect_narrow = true, .bias = true},
        /* uint8 across 0..255: as is, wide */
        {.M = 5, .K = 12, .N = 20, .lo = 0, .hi = 255, .zp = 128, .bias = true},
        /* uint8 within a span of 127 above 127: shifted copy, narrow */
        {.M = 7, .K = 40, .N = 33, .lo = 100, .hi = 227, .zp = 90, .expect_narrow = true, .expect_copy = true},
        /* int8 within [-64, 63] (7-bit activations): shifted copy, narrow */
        {.M = 64, .K = 312, .N = 40, .is_signed = true, .lo = -64, .hi = 63, .expect_narrow = true,
         .expect_copy = true, .bias = true},
        /* int8 with a lopsided span of 127 */
        {.M = 3, .K = 20, .N = 17, .is_signed = true, .lo = -10, .hi = 117, .zp = -2, .expect_narrow = true,
         .expect_copy = true},
        /* int8 that is never negative: its bytes are already the narrow form, used as is */
        {.M = 6, .K = 16, .N = 18, .is_signed = true, .lo = 0, .hi = 100, .zp = 5, .expect_narrow = true},
        /* int8 over the full range: x + 128, wide */
        {.M = 64, .K = 312, .N = 40, .is_signed = true, .lo = -128, .hi = 127, .expect_copy = true, .bias = true},
        /* one more than a narrow span: wide */
        {.M = 4, .K = 8, .N = 16, .is_signed = true, .lo = -64, .hi = 64, .expect_copy = true},
        /* K = 4: a single quad, so the narrow kernel runs only its tail */
        {.M = 1, .K = 4, .N = 1, .is_signed = true, .lo = -5, .hi = 5, .expect_narrow = true, .expect_copy = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qcase c = cases[i];
        c.threads = 1;
        run_case(&c);
        c.threads = 2;
        run_case(&c);
    }
}

/* The GELU epilogue on both kernels. */
static void test_gelu(void **state) {
    (void)state;
    if (!have_kernel()) skip();
    qcase narrow = {.M = 9, .K = 28, .N = 50, .is_signed = true, .lo = -60, .hi = 60, .expect_narrow = true,
                    .expect_copy = true, .gelu = true, .bias = true, .threads = 1};
    run_case(&narrow);
    qcase wide = narrow;
    wide.lo = -127, wide.hi = 127, wide.expect_narrow = false;
    run_case(&wide);
}

/* Extreme sums: every product at its largest magnitude, where an int16 overflow would show. */
static void test_extremes(void **state) {
    (void)state;
    if (!have_kernel()) skip();
    const int64_t M = 4, K = 64, N = 16;
    int8_t W[64 * 16];
    uint8_t X[4 * 64], scratch[4 * 64];
    float scale[16], C[4 * 16];
    for (int64_t j = 0; j < N; j++) scale[j] = 1.0f;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: uint8 255 but for one 0, so the span is wide; pass 1: 127 everywhere (narrow,
         * used as is). */
        memset(X, pass ? 127 : 255, sizeof X);
        if (!pass) X[M * K - 1] = 0;
        for (int64_t i = 0; i < K * N; i++) W[i] = (int8_t)DF_QGEMM_WMAX;
        df_qgemm_b pb;
        df_error err = {0};
        assert_int_equal(df_qgemm_pack(&pb, K, N, W, &err), DF_OK);
        df_qgemm_a a = df_qgemm_view_a(X, false, M * K, 0, scratch);
        assert_int_equal(a.narrow, pass == 1);
        assert_true(a.data == X);
        df_qgemm_run(&pb, M, a, K, scale, NULL, false, C, N, 1);
        for (int64_t i = 0; i < M; i++) {
            int64_t row = 0;
            for (int64_t k = 0; k < K; k++) row += X[i * K + k];
            for (int64_t j = 0; j < N; j++) assert_true(C[i * N + j] == (float)(row * DF_QGEMM_WMAX));
        }
        df_qgemm_free(&pb);
    }
}

/* Weights outside [-64, 64] or K not a multiple of 4 are refused, with a message. */
static void test_refusals(void **state) {
    (void)state;
    if (!have_kernel()) skip();
    int8_t w[8] = {0, 65, 0, 0, 0, 0, 0, 0};
    df_qgemm_b pb;
    df_error err = {0};
    assert_int_not_equal(df_qgemm_pack(&pb, 4, 2, w, &err), DF_OK);
    assert_non_null(strstr(err.msg, "|w|"));
    w[1] = 1;
    assert_int_not_equal(df_qgemm_pack(&pb, 2, 4, w, &err), DF_OK);
    /* An empty activation tensor still gives a usable view. */
    uint8_t none[1];
    df_qgemm_a a = df_qgemm_view_a(none, true, 0, 0, none);
    assert_true(a.narrow);
}

/* QuantizeLinear's value for one float (ops/quantize_linear.c), the reference for
 * df_qgemm_quantize_a. */
static int32_t quantize_ref(float x, float scale, int32_t zp, bool is_signed) {
    float v = nearbyintf(x / scale) + (float)zp;
    if (v != v) return 0;
    float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* Floats quantized and viewed in one pass: every byte of the view minus its zero point equals
 * QuantizeLinear's value minus the zero point, the view is narrow exactly when the values
 * span <= 127, and the GEMM on it matches the exact reference. */
static void test_quantize_view(void **state) {
    (void)state;
    if (!have_kernel()) skip();
    const struct {
        bool is_signed;
        int32_t zp;
        float lo, hi;   /* floats drawn from [lo, hi] (scale 0.05) */
        bool narrow;
        int64_t n;
    } cases[] = {
        {true, 0, -3.1f, 3.1f, true, 77},     /* int8 within [-62, 62]: written narrow as is */
        {true, 0, 0.0f, 6.0f, true, 64},      /* int8 [0, 120]: shifted */
        {true, 3, -7.0f, 7.0f, false, 100},   /* int8 full range, saturating: wide */
        {false, 0, 0.0f, 6.3f, true, 33},     /* uint8 [0, 126]: narrow as is */
        {false, 128, -6.0f, 6.0f, false, 200}, /* uint8 around 128, full span: wide */
        {false, 10, -1.0f, 2.0f, true, 5},    /* short: the scalar tail only */
    };
    const float scale = 0.05f;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int64_t n = cases[c].n;
        float *x = malloc((size_t)n * sizeof(float));
        uint8_t *dst = malloc((size_t)n);
        assert_non_null(x), assert_non_null(dst);
        for (int64_t i = 0; i < n; i++)
            x[i] = cases[c].lo + (cases[c].hi - cases[c].lo) * (float)(next_u32() % 10001) / 10000.0f;
        x[0] = cases[c].lo, x[n - 1] = cases[c].hi;
        df_qgemm_a a = df_qgemm_quantize_a(x, n, scale, cases[c].zp, cases[c].is_signed, dst);
        assert_ptr_equal(a.data, dst);
        assert_int_equal(a.narrow, cases[c].narrow);
        for (int64_t i = 0; i < n; i++) {
            int32_t q = quantize_ref(x[i], scale, cases[c].zp, cases[c].is_signed);
            if ((int32_t)a.data[i] - a.zp != q - cases[c].zp)
                fail_msg("case %zu [%lld]: x %.6g -> byte %d (zp %d), QuantizeLinear gives %d (zp %d)", c, (long long)i,
                         (double)x[i], a.data[i], a.zp, q, cases[c].zp);
            if (a.narrow) assert_true(a.data[i] <= 127);
        }
        free(x), free(dst);
    }
    /* NaN quantizes to 0 and infinities saturate, as the standalone op does. */
    float odd[40];
    uint8_t dst[40];
    for (int i = 0; i < 40; i++) odd[i] = (float)(i % 5) * 0.1f;
    odd[3] = NAN, odd[35] = NAN, odd[7] = INFINITY, odd[38] = -INFINITY;
    df_qgemm_a a = df_qgemm_quantize_a(odd, 40, 0.01f, 0, true, dst);
    for (int i = 0; i < 40; i++)
        assert_int_equal((int32_t)a.data[i] - a.zp, quantize_ref(odd[i], 0.01f, 0, true));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_quantize_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
