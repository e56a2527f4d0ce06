/* AVX2 forms of the activation math shared by the GEMM epilogues (ops/sgemm.c, ops/qgemm.c).
 * Include only where __AVX2__ and __FMA__ are defined. */
#ifndef DF_OPS_SIMD_MATH_H
#define DF_OPS_SIMD_MATH_H

#include <immintrin.h>

/* df_fast_expf / df_fast_erff (ops/nn_math.h) spelled in intrinsics, same constants and
 * steps: gcc at -O2 does not if-convert their selects, so the scalar forms stay scalar
 * (measured: 13 ns per element, more than the GEMM itself for the 1200-wide layer). */
static inline __m256 v_exp(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 xc = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
    __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 nf = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(0.693145751953125f), xc);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(1.4286068203094172e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(127)), 23);
    __m256 v = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ), v);
}

/* GELU(x) = x * Phi(x), Phi(x) = 1 - h for x >= 0 and h for x < 0, h = erfc(a) / 2 with
 * a = |x| / sqrt 2, and erfc(a) = (1 + c1 a + ... + c6 a^6)^-16: Abramowitz & Stegun 7.1.28,
 * absolute error below 3e-7. Measured against double erf over [-20, 20]: GELU's max abs error
 * 8.1e-7 (the tests compare to 1e-5). Chosen over 7.1.26 (t-polynomial times exp(-a^2)) because
 * it needs no exp: about 20 vector operations instead of 36, 0.51 against 0.88 ns per element
 * here, and GELU layers wait on this epilogue. The 16th power is four squarings; a is capped at
 * 10 (erfc is 0 in float long before) so d^16 stays finite, and 1/d^16 is a reciprocal estimate
 * plus one Newton step (about 23 bits). */
static inline __m256 v_gelu(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
    a = _mm256_min_ps(a, _mm256_set1_ps(10.0f));
    __m256 d = _mm256_set1_ps(0.0000430638f);
    d = _mm256_fmadd_ps(d, a, _mm256_set1_ps(0.0002765672f));
    d = _mm256_fmadd_ps(d, a, _mm256_set1_ps(0.0001520143f));
    d = _mm256_fmadd_ps(d, a, _mm256_set1_ps(0.0092705272f));
    d = _mm256_fmadd_ps(d, a, _mm256_set1_ps(0.0422820123f));
    d = _mm256_fmadd_ps(d, a, _mm256_set1_ps(0.0705230784f));
    d = _mm256_fmadd_ps(d, a, one);
    d = _mm256_mul_ps(d, d);
    d = _mm256_mul_ps(d, d);
    d = _mm256_mul_ps(d, d);
    d = _mm256_mul_ps(d, d);
    __m256 t = _mm256_rcp_ps(d);
    t = _mm256_mul_ps(t, _mm256_fnmadd_ps(d, t, _mm256_set1_ps(2.0f)));
    __m256 h = _mm256_mul_ps(t, _mm256_set1_ps(0.5f));
    __m256 phi = _mm256_blendv_ps(_mm256_sub_ps(one, h), h, x); /* sign bit of x selects h */
    return _mm256_mul_ps(x, phi);
}

#endif
