/* Prepacked int8 GEMM for AVX2 CPUs without VNNI:
 *   C[M,N] = (A_u8[M,K] - a_zp) x W_s8[K,N] * col_scale[N] + bias[N]   (float32 out)
 *
 * Why it exists: without VNNI, oneDNN 2.6's int8 matmul runs about 2x slower than its FP32
 * one here, so INT8 models used to run on dequantized weights and gained nothing. AVX2's
 * vpmaddubsw multiplies 32 u8 x s8 pairs at once, twice the multiply-adds per instruction of
 * an 8-float FMA, but it adds neighbouring products into saturating int16: exact only when
 * 2 * 255 * |w| <= 32767, i.e. |w| <= 64. Weights quantized to 7 bits (`dpuflow quantize
 * --weight-bits 7`, ONNX Runtime's "reduce_range") meet that, and then every product and sum
 * is exact: vpmaddwd against ones widens the pairs to int32 and the accumulation is int32.
 * Measured here on BERT's shapes with M = 64: about 95 G multiply-adds/s against 48 for the
 * prepacked FP32 sgemm (ops/sgemm.h).
 *
 * W is packed once into panels of 16 columns; each group of 4 consecutive k is 64 bytes (two
 * vectors of 8 columns x 4 k), so one broadcast of 4 activation bytes feeds 16 columns. A is
 * read in place, row-major, K a multiple of 4. */
#ifndef DF_OPS_QGEMM_H
#define DF_OPS_QGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#define DF_QGEMM_NR 16
#define DF_QGEMM_WMAX 64   /* |w| bound for exact vpmaddubsw sums with u8 activations */

typedef struct df_qgemm_b {
    int64_t K, N, Np;        /* Np = N rounded up to DF_QGEMM_NR */
    int8_t *panels;          /* Np/16 panels of K/4 blocks x 64 bytes, 64-byte aligned */
    int32_t *colsum;         /* Np: sum over k of W[k][n], for the activation zero point */
} df_qgemm_b;

/* Whether this build has the kernel (AVX2) and W can use it: K a multiple of 4 and every
 * |w| <= DF_QGEMM_WMAX. W is [K,N] row-major. */
bool df_qgemm_takes(int64_t K, int64_t N, const int8_t *W);
df_status df_qgemm_pack(df_qgemm_b *pb, int64_t K, int64_t N, const int8_t *W, df_error *err);
void df_qgemm_free(df_qgemm_b *pb);

/* The activations as the kernel reads them: u8 with zero point zp. narrow: every byte is
 * <= 127, which lets the kernel add two vpmaddubsw pair sums in int16 before widening (about
 * 1.3x the multiply-adds per cycle; see qgemm.c). */
typedef struct df_qgemm_a {
    const uint8_t *data;
    int32_t zp;
    bool narrow;
} df_qgemm_a;

/* The kernel's view of n activation bytes x (int8 when is_signed, else uint8) with zero point
 * x_zp, from one scan of their range:
 *   - values all in [0, 127] (uint8, or int8 that is never negative): x itself, narrow;
 *   - values within a span of 127 (what 7-bit activations, `dpuflow quantize --act-bits 7`,
 *     always are): x - min into scratch, narrow, the zero point moved by the same amount;
 *   - otherwise uint8 x itself, or int8 x + 128 into scratch; not narrow.
 * The result is exact in every case. scratch holds n bytes; it is not touched when x is used
 * as is. */
df_qgemm_a df_qgemm_view_a(const void *x, bool is_signed, int64_t n, int32_t x_zp, uint8_t *scratch);

/* QuantizeLinear and df_qgemm_view_a in one pass: n floats x quantized exactly as ONNX's
 * QuantizeLinear does (round half to even of x / scale, plus zp, saturated to int8 when
 * is_signed, else uint8; NaN gives 0 as the standalone op's conversion does) and written to
 * dst (n bytes) as the kernel's view of those values. Bytes go out already offset for the
 * narrow form (int8 + 64); a second pass over the bytes runs only when the values turn out to
 * need another offset. */
df_qgemm_a df_qgemm_quantize_a(const float *x, int64_t n, float scale, int32_t zp, bool is_signed, uint8_t *dst);

/* C[M,N] = (A - a.zp) x W * col_scale + bias. lda, ldc in elements. col_scale has N values;
 * bias is NULL or N values; gelu applies the erf GELU to the result (the epilogue of
 * ops/sgemm.c). threads: OpenMP team. */
void df_qgemm_run(const df_qgemm_b *pb, int64_t M, df_qgemm_a a, int64_t lda, const float *col_scale,
                  const float *bias, bool gelu, float *C, int64_t ldc, int threads);

#endif
