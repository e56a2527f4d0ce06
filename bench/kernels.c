/* bench_kernels: how fast this CPU runs the GEMMs a BERT encoder is made of, on dpuflow's own
 * kernels, and what that implies for a whole model.
 *
 *   build/bench_kernels [--reps N]      one JSON object per line on stdout
 *
 * For each model shape (TinyBERT-shaped 4L/312/FFN 1200, BERT-base-shaped 12L/768/FFN 3072)
 * at [1,64] it times one layer's four weight GEMMs (QKV, output projection, FFN in, FFN out;
 * M = 64 rows, weights prepacked) with the FP32 sgemm and with the int8 kernel in its wide and
 * narrow forms (ops/qgemm.h), single-threaded, best of several repetitions, and prints the
 * multiply-add rate and the "GEMM floor": layers x that layer time, i.e. what the whole model
 * would take if everything but the weight GEMMs were free. bench/peers/run.sh puts these
 * beside the measured latencies: a ratio target against ONNX Runtime above ORT's time divided
 * by the floor cannot be met by any fusion on this machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/qgemm.h"
#include "ops/sgemm.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t next_u32(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

typedef enum { K_FP32, K_INT8_WIDE, K_INT8_NARROW } kernel;

/* Seconds for one C[M,N] = A[M,K] x W[K,N] (+ bias), best of `reps` timed batches. */
static double time_gemm(kernel kind, int64_t M, int64_t K, int64_t N, int reps) {
    double best = 1e30;
    float *bias = malloc((size_t)N * sizeof(float)), *C = malloc((size_t)(M * N) * sizeof(float));
    for (int64_t j = 0; j < N; j++) bias[j] = 0.01f * (float)(next_u32() % 100);
    const int inner = (int)(2e7 / (double)(M * K * N) * 64) + 1; /* about 20 ms per batch */
    df_error err = {0};
    if (kind == K_FP32) {
        float *W = malloc((size_t)(K * N) * sizeof(float)), *A = malloc((size_t)(M * K) * sizeof(float));
        for (int64_t i = 0; i < K * N; i++) W[i] = (float)((int)(next_u32() % 2001) - 1000) * 1e-4f;
        for (int64_t i = 0; i < M * K; i++) A[i] = (float)((int)(next_u32() % 2001) - 1000) * 1e-3f;
        df_sgemm_b pb;
        if (df_sgemm_pack_b(&pb, K, N, W, N, 1, 1.0f, bias, &err) == DF_OK) {
            for (int r = 0; r < reps; r++) {
                double t0 = now_s();
                for (int i = 0; i < inner; i++) df_sgemm_run(&pb, M, A, K, 1, C, N, 0, NULL, 1);
                double d = (now_s() - t0) / inner;
                best = d < best ? d : best;
            }
            df_sgemm_b_free(&pb);
        }
        free(W), free(A);
    } else {
        int8_t *W = malloc((size_t)(K * N));
        uint8_t *A = malloc((size_t)(M * K));
        float *scale = malloc((size_t)N * sizeof(float));
        for (int64_t i = 0; i < K * N; i++) W[i] = (int8_t)((int)(next_u32() % 129) - 64);
        /* narrow: activations spanning 127 values (7-bit); wide: the full byte range */
        for (int64_t i = 0; i < M * K; i++) A[i] = (uint8_t)(kind == K_INT8_NARROW ? next_u32() % 128 : next_u32() % 256);
        for (int64_t j = 0; j < N; j++) scale[j] = 1e-4f;
        df_qgemm_b pb;
        if (df_qgemm_pack(&pb, K, N, W, &err) == DF_OK) {
            df_qgemm_a a = {A, 64, kind == K_INT8_NARROW};
            for (int r = 0; r < reps; r++) {
                double t0 = now_s();
                for (int i = 0; i < inner; i++) df_qgemm_run(&pb, M, a, K, scale, bias, false, C, N, 1);
                double d = (now_s() - t0) / inner;
                best = d < best ? d : best;
            }
            df_qgemm_free(&pb);
        }
        free(W), free(A), free(scale);
    }
    free(bias), free(C);
    return best < 1e30 ? best : -1.0;
}

int main(int argc, char **argv) {
    int reps = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_kernels [--reps N]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    const struct {
        const char *name;
        int layers;
        int64_t H, F;
    } models[] = {{"tinybert", 4, 312, 1200}, {"bertbase", 12, 768, 3072}};
    const char *kinds[] = {"fp32", "int8_wide", "int8_narrow"};
    const int64_t M = 64;
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        const int64_t H = models[m].H, F = models[m].F;
        const int64_t shapes[4][2] = {{H, 3 * H}, {H, H}, {H, F}, {F, H}}; /* K, N */
        double macs = 0;
        for (int s = 0; s < 4; s++) macs += (double)(M * shapes[s][0] * shapes[s][1]);
        for (int k = 0; k < 3; k++) {
            double layer = 0;
            for (int s = 0; s < 4 && layer >= 0; s++) {
                double t = time_gemm((kernel)k, M, shapes[s][0], shapes[s][1], reps);
                layer = t < 0 ? -1 : layer + t;
            }
            if (layer < 0) {
                printf("{\"model\": \"%s\", \"kernel\": \"%s\", \"available\": false}\n", models[m].name, kinds[k]);
                continue;
            }
            printf("{\"model\": \"%s\", \"kernel\": \"%s\", \"available\": true, \"gmacs\": %.1f, "
                   "\"gemm_floor_ms\": %.3f, \"macs_per_run\": %.0f}\n",
                   models[m].name, kinds[k], macs / layer * 1e-9, layer * models[m].layers * 1e3,
                   macs * models[m].layers);
            fflush(stdout);
        }
    }
    return 0;
}
