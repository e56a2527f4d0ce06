/* Vectorizable float math for the nn kernels: libm's expf is a scalar call at -O2 without
 * -ffast-math, which would dominate Softmax. */
#ifndef DF_OPS_NN_MATH_H
#define DF_OPS_NN_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for float, written so gcc vectorizes it (libm's expf is a scalar call at -O2):
 * x = n*ln2 + r with |r| <= ln2/2, exp(r) by its degree-6 Taylor polynomial (relative error
 * about 1.2e-7), 2^n put together in the exponent bits. Inputs below -87.3 underflow to 0. */
__attribute__((always_inline)) static inline float df_fast_expf(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    /* Quiet comparisons (isless/isgreater): ordinary < may trap on NaN, which stops gcc from
     * if-converting, hence from vectorizing. NaN lands inside the range and is restored below. */
    float xc = isless(x, 88.3f) ? x : 88.3f;
    xc = isgreater(xc, -87.3f) ? xc : -87.3f;
    float t = xc * 1.44269504088896341f + magic;
    float nf = t - magic;
    float r = xc - nf * 0.693145751953125f;
    r = r - nf * 1.4286068203094172e-06f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* memcpy, not a union: gcc turns it into a register reinterpretation it can vectorize. */
    int32_t bits = ((int32_t)nf + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float v = p * scale;
    v = isless(x, -87.3f) ? 0.0f : v;
    return x != x ? x : v;
}

/* erf(x) for float, vectorizable. Two branches, both computed and one selected (which is
 * what lets gcc vectorize it):
 *  - |x| < 0.5: the Maclaurin series 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)) to n = 6,
 *    relative error below 1e-8 there, so tiny inputs keep full relative accuracy;
 *  - otherwise 1 - erfc(|x|) with the Chebyshev-fitted erfc of Numerical Recipes (2nd ed.,
 *    section 6.2, "erfcc": fractional error below 1.2e-7), exp through df_fast_expf.
 * Measured against glibc's erff: max abs error about 2e-7 over [-6, 6]. */
__attribute__((always_inline)) static inline float df_fast_erff(float x) {
    float a = fabsf(x);
    float z = x * x;
    float s = 1.0f / 9360.0f;
    s = s * z - 1.0f / 1320.0f;
    s = s * z + 1.0f / 216.0f;
    s = s * z - 1.0f / 42.0f;
    s = s * z + 1.0f / 10.0f;
    s = s * z - 1.0f / 3.0f;
    s = s * z + 1.0f;
    float small = 1.1283791670955126f * x * s;

    float t = 1.0f / (1.0f + 0.5f * a);
    float q = 0.17087277f;
    q = q * t - 0.82215223f;
    q = q * t + 1.48851587f;
    q = q * t - 1.13520398f;
    q = q * t + 0.27886807f;
    q = q * t - 0.18628806f;
    q = q * t + 0.09678418f;
    q = q * t + 0.37409196f;
    q = q * t + 1.00002368f;
    q = q * t - 1.26551223f;
    /* Past |x| ~ 4 erfc is below float's resolution of 1 anyway; clamping the exponent keeps
     * the product out of denormals, which cost ~100 cycles each on x86. */
    float arg = q - z;
    arg = isless(arg, -60.0f) ? -60.0f : arg;
    float erfc = t * df_fast_expf(arg);
    float large = 1.0f - erfc;
    large = isless(x, 0.0f) ? -large : large;
    float r = isless(a, 0.5f) ? small : large;
    return x != x ? x : r;
}

#endif
