/* Prepacked sgemm against a double-precision reference: edge sizes (1, odd, N not a multiple
 * of the 24-column panel, K across several KC steps), bias, GELU epilogue, accumulate,
 * strided (transposed) A and B, 1 and 2 threads, and an output with a wider row stride. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/sgemm.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

typedef struct gcase {
    int64_t M, K, N;
    bool bias, gelu, accumulate, trans_a, trans_b;
    int threads;
    int64_t ldc_pad;
} gcase;

static int max_fail_report = 5;

static void run_case(const gcase *c) {
    const int64_t M = c->M, K = c->K, N = c->N, ldc = N + c->ldc_pad;
    float *A = malloc((size_t)(M * K) * sizeof(float)), *B = malloc((size_t)(K * N) * sizeof(float));
    float *bias = malloc((size_t)N * sizeof(float)), *C = malloc((size_t)(M * ldc) * sizeof(float));
    float *C0 = malloc((size_t)(M * ldc) * sizeof(float));
    assert_non_null(A), assert_non_null(B), assert_non_null(bias), assert_non_null(C), assert_non_null(C0);
    for (int64_t i = 0; i < M * K; i++) A[i] = frand();
    for (int64_t i = 0; i < K * N; i++) B[i] = frand();
    for (int64_t i = 0; i < N; i++) bias[i] = frand();
    for (int64_t i = 0; i < M * ldc; i++) C0[i] = C[i] = frand();
    /* Logical A (m,k) / B (k,n) as stored. */
    int64_t a_rs = c->trans_a ? 1 : K, a_cs = c->trans_a ? M : 1;
    int64_t b_rs = c->trans_b ? 1 : N, b_cs = c->trans_b ? K : 1;
    const float scale = 0.75f;
    df_sgemm_b pb;
    df_error err;
    assert_int_equal(df_sgemm_pack_b(&pb, K, N, B, b_rs, b_cs, scale, c->bias ? bias : NULL, &err), DF_OK);
    size_t wsb = df_sgemm_workspace_bytes(M, K, a_cs);
    void *ws = wsb ? aligned_alloc(64, (wsb + 63) / 64 * 64) : NULL;
    int flags = (c->gelu ? DF_SGEMM_GELU : 0) | (c->accumulate ? DF_SGEMM_ACCUMULATE : 0);
    df_sgemm_run(&pb, M, A, a_rs, a_cs, C, ldc, flags, ws, c->threads);

    int bad = 0;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)A[i * a_rs + k * a_cs] * ((double)B[k * b_rs + j * b_cs] * scale);
                s += p, mag += fabs(p);
            }
            if (c->accumulate) s += C0[i * ldc + j], mag += fabs(C0[i * ldc + j]);
            if (c->bias) s += bias[j], mag += fabs(bias[j]);
            if (c->gelu) s = 0.5 * s * (1.0 + erf(s / sqrt(2.0)));
            double tol = 1e-5 * sqrt((double)K + 2) * (mag + 1e-3) + 1e-6;
            double got = C[i * ldc + j];
            if (!(fabs(got - s) <= tol)) {
                if (bad++ < max_fail_report)
                    print_error("M=%lld K=%lld N=%lld flags=%d ta=%d tb=%d thr=%d: C[%lld,%lld] = %.9g, want %.9g\n",
                                (long long)M, (long long)K, (long long)N, flags, c->trans_a, c->trans_b, c->threads,
                                (long long)i, (long long)j, got, s);
            }
        }
        /* The padding between rows is never written. */
        for (int64_t j = N; j < ldc; j++)
            if (C[i * ldc + j] != C0[i * ldc + j]) bad++;
    }
    assert_int_equal(bad, 0);
    df_sgemm_b_free(&pb);
    free(ws), free(A), free(B), free(bias), free(C), free(C0);
}

static void test_shapes(void **state) {
    (void)state;
    const int64_t Ms[] = {1, 2, 3, 4, 5, 7, 64, 65};
    const int64_t Ks[] = {1, 3, 17, 256, 257, 600};
    const int64_t Ns[] = {1, 5, 23, 24, 25, 48, 100};
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ks / sizeof *Ks; b++)
            for (size_t d = 0; d < sizeof Ns / sizeof *Ns; d++) {
                int v = (int)(a * 7 + b * 3 + d);
                gcase c = {.M = Ms[a], .K = Ks[b], .N = Ns[d], .bias = v % 2, .gelu = (v / 2) % 2,
                           .accumulate = (v / 4) % 2, .threads = 1};
                run_case(&c);
            }
}

static void test_flags_and_threads(void **state) {
    (void)state;
    for (int f = 0; f < 8; f++)
        for (int t = 1; t <= 2; t++) {
            gcase c = {.M = 64, .K = 312, .N = 312, .bias = f & 1, .gelu = (f >> 1) & 1, .accumulate = (f >> 2) & 1,
                       .threads = t};
            run_case(&c);
            c.M = 13, c.K = 770, c.N = 53, c.ldc_pad = 7;
            run_case(&c);
            c.M = 130, c.N = 10; /* fewer panels than threads: the rows are split */
            run_case(&c);
        }
}

static void test_strided_operands(void **state) {
    (void)state;
    for (int t = 1; t <= 2; t++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gcase c = {.M = 37, .K = 300, .N = 50, .bias = true, .trans_a = ta, .trans_b = tb, .threads = t};
                run_case(&c);
                c.M = 1, c.K = 5, c.N = 1;
                run_case(&c);
            }
}

static void test_bert_shape(void **state) {
    (void)state;
    gcase c = {.M = 64, .K = 768, .N = 3072, .bias = true, .gelu = true, .threads = 2};
    run_case(&c);
}

static void test_gelu_extremes(void **state) {
    (void)state;
    /* Large sums of either sign: GELU goes to x and to 0 without NaN or denormal trouble. */
    float A[2 * 2] = {30.0f, 0.0f, -30.0f, 0.0f}, B[2 * 1] = {1.0f, 0.0f}, C[2];
    df_sgemm_b pb;
    df_error err;
    assert_int_equal(df_sgemm_pack_b(&pb, 2, 1, B, 1, 1, 1.0f, NULL, &err), DF_OK);
    df_sgemm_run(&pb, 2, A, 2, 1, C, 1, DF_SGEMM_GELU, NULL, 1);
    assert_true(fabsf(C[0] - 30.0f) < 1e-5f);
    assert_true(fabsf(C[1]) < 1e-6f);
    df_sgemm_b_free(&pb);
}

static void test_empty_rejected(void **state) {
    (void)state;
    df_sgemm_b pb;
    df_error err;
    float B[1] = {1};
    assert_int_equal(df_sgemm_pack_b(&pb, 0, 4, B, 4, 1, 1.0f, NULL, &err), DF_EINVAL);
    assert_non_null(strstr(err.msg, "sgemm"));
    assert_null(pb.panels);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),          cmocka_unit_test(test_flags_and_threads),
        cmocka_unit_test(test_strided_operands), cmocka_unit_test(test_bert_shape),
        cmocka_unit_test(test_gelu_extremes),   cmocka_unit_test(test_empty_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
