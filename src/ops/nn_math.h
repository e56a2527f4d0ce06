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
static inline float df_fast_expf(float x) {
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

#endif
