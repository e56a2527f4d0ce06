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

/* GELU(x) = x * Phi(x), Phi(x) = 1 - h for x >= 0 and h for x < 0, h = erfc(|x|/sqrt 2) / 2,
 * erfc(a) = t (a1 + a2 t + ... + a5 t^4) exp(-a^2), t = 1 / (1 + p a): Abramowitz & Stegun
 * 7.1.26, absolute error below 1.5e-7, so GELU's below 1e-6 for |x| < 10 (the tests compare
 * to 1e-5). A short fit rather than df_fast_erff's because this epilogue's dependency chain
 * is what a GELU layer waits on. 1/(1 + p a) is a reciprocal estimate plus one Newton step
 * (about 23 bits) instead of a division. */
static inline __m256 v_gelu(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
    __m256 d = _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, one);
    __m256 t = _mm256_rcp_ps(d);
    t = _mm256_mul_ps(t, _mm256_fnmadd_ps(d, t, _mm256_set1_ps(2.0f)));
    __m256 q = _mm256_set1_ps(1.061405429f);
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.453152027f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.421413741f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-0.284496736f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(0.254829592f));
    q = _mm256_mul_ps(q, _mm256_mul_ps(_mm256_set1_ps(0.5f), t));
    /* Past |x| ~ 11 h is 0 to float precision; the floor keeps the product out of denormals. */
    __m256 e = v_exp(_mm256_max_ps(_mm256_mul_ps(a, _mm256_sub_ps(_mm256_setzero_ps(), a)), _mm256_set1_ps(-60.0f)));
    __m256 h = _mm256_mul_ps(q, e);
    __m256 phi = _mm256_blendv_ps(_mm256_sub_ps(one, h), h, x); /* sign bit of x selects h */
    return _mm256_mul_ps(x, phi);
}

#endif
