/* Quantization arithmetic: DPU (pof2) rounding and saturation, fix_pos search, and the
 * histogram threshold searches against histograms whose answers are known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "dpuflow/quant.h"

static void test_act_rounding(void **state) {
    (void)state;
    /* DPU_ROUND: ties toward +inf. */
    assert_int_equal(df_pof2_quant_act(0.5f, 0), 1);
    assert_int_equal(df_pof2_quant_act(-0.5f, 0), 0);
    assert_int_equal(df_pof2_quant_act(1.5f, 0), 2);
    assert_int_equal(df_pof2_quant_act(-1.5f, 0), -1);
    assert_int_equal(df_pof2_quant_act(-2.5f, 0), -2);
    assert_int_equal(df_pof2_quant_act(2.5f, 0), 3);
    assert_int_equal(df_pof2_quant_act(-0.49f, 0), 0);
    assert_int_equal(df_pof2_quant_act(-0.51f, 0), -1);
    /* saturation */
    assert_int_equal(df_pof2_quant_act(127.4f, 0), 127);
    assert_int_equal(df_pof2_quant_act(127.6f, 0), 127);
    assert_int_equal(df_pof2_quant_act(-128.4f, 0), -128);
    assert_int_equal(df_pof2_quant_act(-128.5f, 0), -128);
    assert_int_equal(df_pof2_quant_act(-128.6f, 0), -128);
    assert_int_equal(df_pof2_quant_act(1e9f, 0), 127);
    assert_int_equal(df_pof2_quant_act(-1e9f, 0), -128);
    /* fix_pos scales by 2^fp */
    assert_int_equal(df_pof2_quant_act(0.25f, 2), 1);
    assert_int_equal(df_pof2_quant_act(-0.375f, 2), -1); /* -1.5 -> -1 */
    assert_int_equal(df_pof2_quant_act(4.0f, -1), 2);
    assert_int_equal(df_pof2_quant_act(0.1f, 12), 127);  /* 409.6 saturates */
}

static void test_weight_rounding(void **state) {
    (void)state;
    /* half away from zero */
    assert_int_equal(df_pof2_quant_weight(0.5f, 0), 1);
    assert_int_equal(df_pof2_quant_weight(-0.5f, 0), -1);
    assert_int_equal(df_pof2_quant_weight(1.5f, 0), 2);
    assert_int_equal(df_pof2_quant_weight(-1.5f, 0), -2);
    assert_int_equal(df_pof2_quant_weight(-2.5f, 0), -3);
    assert_int_equal(df_pof2_quant_weight(2.5f, 0), 3);
    assert_int_equal(df_pof2_quant_weight(127.5f, 0), 127);
    assert_int_equal(df_pof2_quant_weight(-128.4f, 0), -128);
    assert_int_equal(df_pof2_quant_weight(-128.5f, 0), -128);
    assert_int_equal(df_pof2_quant_weight(-0.125f, 2), -1); /* -0.5 -> -1 */
}

static void test_overflow_pos(void **state) {
    (void)state;
    assert_int_equal(df_pof2_overflow_pos(1.0), 6);    /* 127 / 1 = 127 -> 2^6 */
    assert_int_equal(df_pof2_overflow_pos(127.0), 0);
    assert_int_equal(df_pof2_overflow_pos(128.0), -1);
    assert_int_equal(df_pof2_overflow_pos(0.0), DF_POF2_FIX_MAX);
    assert_int_equal(df_pof2_overflow_pos(1e-30), DF_POF2_FIX_MAX);
    assert_int_equal(df_pof2_overflow_pos(NAN), DF_POF2_FIX_MAX);
    /* the bound never overflows: amax * 2^fp <= 127 */
    for (double a = 0.001; a < 1000; a *= 1.37) assert_true(a * ldexp(1.0, df_pof2_overflow_pos(a)) <= 127.0);
}

static void test_best_pos(void **state) {
    (void)state;
    float one = 1.0f;
    /* exactly representable at the bound: finer positions only saturate */
    assert_int_equal(df_pof2_best_pos(&one, 1, true), 6);
    assert_int_equal(df_pof2_best_pos(&one, 1, false), 6);
    /* one outlier and many small values exact at fp 8: clipping the outlier wins */
    size_t n = 100000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    x[0] = 1.0f;
    for (size_t i = 1; i < n; i++) x[i] = 3.0f / 256.0f;
    assert_int_equal(df_pof2_best_pos(x, n, true), 8);
    assert_int_equal(df_pof2_best_pos(x, n, false), 8);
    /* the search never leaves bound .. bound + 4 */
    x[0] = 1000.0f;
    int fp = df_pof2_best_pos(x, n, true);
    assert_true(fp >= df_pof2_overflow_pos(1000.0) && fp <= df_pof2_overflow_pos(1000.0) + 4);
    free(x);
    float zero = 0.0f;
    assert_int_equal(df_pof2_best_pos(&zero, 1, true), DF_POF2_FIX_MAX);
}

static void test_hist_minmax_percentile(void **state) {
    (void)state;
    double c[16] = {0};
    c[0] = 5;
    c[9] = 1;
    assert_true(fabs(df_hist_threshold(c, 16, 0.5, "minmax", 0, 127) - 5.0) < 1e-12);
    double u[100];
    for (int i = 0; i < 100; i++) u[i] = 1;
    assert_true(fabs(df_hist_threshold(u, 100, 1.0, "percentile", 50, 127) - 50.0) < 1e-12);
    assert_true(fabs(df_hist_threshold(u, 100, 1.0, "percentile", 100, 127) - 100.0) < 1e-12);
    double p[100] = {0};
    p[0] = 1e6;
    p[99] = 1;
    /* one outlier in a million sits beyond the 99.999th percentile */
    assert_true(fabs(df_hist_threshold(p, 100, 1.0, "percentile", 99.999, 127) - 1.0) < 1e-12);
    assert_true(fabs(df_hist_threshold(p, 100, 1.0, NULL, 0, 127) - 1.0) < 1e-12); /* default percentile */
    double z[8] = {0};
    assert_true(df_hist_threshold(z, 8, 1.0, "percentile", 99.9, 127) == 0.0);
}

static void test_hist_entropy(void **state) {
    (void)state;
    double *c = calloc(2048, sizeof *c);
    assert_non_null(c);
    /* Laplace body (scale 50 bins, empty past ~690) and two far outliers: KL cuts inside the
     * body (537.5 bins today), far below the max. (A flat body plus a flat tail would not do:
     * Q spreads each level over its non-empty bins only, so it reproduces such a P exactly.) */
    for (int i = 0; i < 2048; i++) c[i] = floor(1e6 * exp(-i / 50.0));
    c[1500] = c[2000] = 1;
    double t = df_hist_threshold(c, 2048, 1.0, "entropy", 0, 127);
    assert_true(t >= 128.0 && t < 700.0);
    /* a uniform histogram keeps (almost) everything */
    for (int i = 0; i < 2048; i++) c[i] = 10;
    t = df_hist_threshold(c, 2048, 1.0, "entropy", 0, 127);
    assert_true(t > 1900.0 && t <= 2048.0);
    free(c);
}

static void test_hist_mse(void **state) {
    (void)state;
    double *c = calloc(2048, sizeof *c);
    assert_non_null(c);
    /* 1e6 values uniform over [0, 100) and one at ~2000: minimizing
     * N (T/127)^2 / 12 + (2000.5 - T)^2 gives T = 2000.5 / (1 + 1e6 / (12 * 127^2 / 2)) ~ 324. */
    for (int i = 0; i < 100; i++) c[i] = 10000;
    c[2000] = 1;
    double t = df_hist_threshold(c, 2048, 1.0, "mse", 0, 127);
    assert_true(t > 300.0 && t < 350.0);
    /* no outlier: the threshold covers the data */
    c[2000] = 0;
    t = df_hist_threshold(c, 2048, 1.0, "mse", 0, 127);
    assert_true(t >= 99.0 && t <= 101.0);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_rounding),      cmocka_unit_test(test_weight_rounding),
        cmocka_unit_test(test_overflow_pos),      cmocka_unit_test(test_best_pos),
        cmocka_unit_test(test_hist_minmax_percentile), cmocka_unit_test(test_hist_entropy),
        cmocka_unit_test(test_hist_mse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
