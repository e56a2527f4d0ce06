/* The DPU's integer numerics (Xilinx DPUCZDX8G), for the int8 path's exact validation mode.
 *
 * The DPU keeps every tensor as int8 with a power-of-two scale 2^-fix ("fix position"),
 * rounds half toward +infinity (floor(x + 0.5)) where ONNX rounds half to even, saturates to
 * [-128, 127], accumulates in int32 and requantizes by arithmetic shifts. These helpers are
 * the one definition of those rules: QMatMul's round_mode "dpu" uses them, and the DPU
 * simulator (issue 6) is meant to reuse them. Sources: Vitis AI user guide UG1414 (fix point
 * format), and the DPU's documented "round half up" behaviour; no code was taken from it. */
#ifndef DF_OPS_INT8_DPU_H
#define DF_OPS_INT8_DPU_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* floor(v + 0.5) saturated to [-128, 127]: round half toward +infinity, so -0.5 -> 0,
 * -1.5 -> -1, -2.5 -> -2, 0.5 -> 1, 1.5 -> 2. NaN maps to 0 (the DPU never sees one; a
 * defined value keeps validation runs reproducible). */
static inline int8_t df_dpu_round_sat(float v) {
    if (v != v) return 0;
    /* Not floorf(v + 0.5f): that sum rounds (0.49999997 + 0.5 == 1.0f). v - floor(v) is exact. */
    float r = floorf(v);
    if (v - r >= 0.5f) r += 1.0f;
    if (r < -128.0f) return -128;
    if (r > 127.0f) return 127;
    return (int8_t)r;
}

/* Quantizes x with scale 2^-fix: round_half_up(x * 2^fix), saturated. The product by a power
 * of two is exact in float, so this is the DPU's value bit for bit. */
static inline int8_t df_dpu_quantize(float x, int fix) { return df_dpu_round_sat(ldexpf(x, fix)); }

/* Arithmetic right shift of an int32 accumulator by shift bits with round half up
 * ((acc + 2^(shift-1)) >> shift), saturated to int8; a negative shift is a left shift
 * (saturating). This is the DPU's requantization from the accumulator's fix position
 * (fix_x + fix_w) to the output's. */
static inline int8_t df_dpu_requant(int64_t acc, int shift) {
    int64_t r;
    if (shift > 0) {
        if (shift > 62) shift = 62;
        /* >> on a negative int64 is arithmetic on every compiler we build with (gcc, clang). */
        r = (acc + ((int64_t)1 << (shift - 1))) >> shift;
    } else {
        int s = -shift > 32 ? 32 : -shift;
        r = acc * ((int64_t)1 << s);
    }
    return (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
}

/* The fix position of a power-of-two scale (scale = 2^-fix), or false when scale is not an
 * exact power of two (or not finite and positive). */
static inline bool df_dpu_fix_of_scale(float scale, int *fix) {
    if (!(scale > 0.0f) || isinf(scale)) return false;
    int e;
    float m = frexpf(scale, &e); /* scale = m * 2^e, m in [0.5, 1) */
    if (m != 0.5f) return false;
    *fix = 1 - e;
    return true;
}

#endif
