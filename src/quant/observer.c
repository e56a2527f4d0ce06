/* The arithmetic of quantization: power-of-two (DPU) rounding and fix_pos search, and the
 * threshold searches over a histogram of |x| (minmax, percentile, entropy, mse). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/quant.h"

static int8_t sat8(float q) {
    if (q < -128.0f) return -128;
    if (q > 127.0f) return 127;
    return (int8_t)q;
}

int8_t df_pof2_quant_act(float x, int fix_pos) {
    /* DPU_ROUND: ties go up, so -2.5 -> -2 and 2.5 -> 3 (the DPU adds half an LSB and
     * truncates toward -inf in its shifter). */
    return sat8(floorf(ldexpf(x, fix_pos) + 0.5f));
}

int8_t df_pof2_quant_weight(float x, int fix_pos) {
    return sat8(roundf(ldexpf(x, fix_pos))); /* roundf: half away from zero */
}

int df_pof2_overflow_pos(double amax) {
    if (!(amax > 0.0) || !isfinite(amax)) return DF_POF2_FIX_MAX;
    double p = floor(log2(127.0 / amax));
    if (p > DF_POF2_FIX_MAX) return DF_POF2_FIX_MAX;
    if (p < -DF_POF2_FIX_MAX) return -DF_POF2_FIX_MAX;
    return (int)p;
}

static double pof2_sq_error(const float *x, size_t n, int fp, bool act) {
    double e = 0.0;
    const float step = ldexpf(1.0f, -fp);
    for (size_t i = 0; i < n; i++) {
        float q = act ? df_pof2_quant_act(x[i], fp) : df_pof2_quant_weight(x[i], fp);
        double d = (double)q * step - x[i];
        e += d * d;
    }
    return e;
}

int df_pof2_best_pos(const float *x, size_t n, bool act) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) amax = a;
    }
    int fp0 = df_pof2_overflow_pos(amax);
    if (amax == 0.0f) return fp0;
    /* Candidates start at the overflow bound and go finer: below the bound nothing clips and
     * the step only grows, so those can never win; above it, finer steps trade clipping of the
     * largest values for resolution everywhere else. Ties keep the coarser (safer) position. */
    int best = fp0;
    double best_e = pof2_sq_error(x, n, fp0, act);
    for (int fp = fp0 + 1; fp <= fp0 + 4 && fp <= DF_POF2_FIX_MAX; fp++) {
        double e = pof2_sq_error(x, n, fp, act);
        if (e < best_e) {
            best_e = e;
            best = fp;
        }
    }
    return best;
}

/* ---- histogram thresholds ------------------------------------------------------------------ */

static double hist_total(const double *c, int bins) {
    double t = 0.0;
    for (int i = 0; i < bins; i++) t += c[i];
    return t;
}

static double thr_minmax(const double *c, int bins, double width) {
    for (int i = bins - 1; i >= 0; i--)
        if (c[i] > 0.0) return (i + 1) * width;
    return 0.0;
}

static double thr_percentile(const double *c, int bins, double width, double pct) {
    double total = hist_total(c, bins), want = total * pct / 100.0, cum = 0.0;
    if (total <= 0.0) return 0.0;
    for (int i = 0; i < bins; i++) {
        cum += c[i];
        if (cum >= want) return (i + 1) * width;
    }
    return bins * width;
}

/* KL-divergence calibration as described for TensorRT in S. Migacz, "8-bit Inference with
 * TensorRT" (GTC 2017), also ONNX Runtime's CalibrationMethod.Entropy: for each candidate
 * cut i >= 128 bins, P = the first i bins with everything beyond folded into bin i-1; Q = the
 * same i bins merged into 128 levels and expanded back over each level's non-empty bins;
 * the cut with the smallest KL(P || Q) wins, threshold = (i + 0.5) bin widths. */
static double thr_entropy(const double *c, int bins, double width) {
    const int nq = 128;
    if (bins <= nq) return thr_minmax(c, bins, width);
    double total = hist_total(c, bins);
    if (total <= 0.0) return 0.0;
    int last = bins - 1;
    while (last > 0 && c[last] == 0.0) last--;
    double *p = malloc(sizeof(double) * (size_t)bins), *q = malloc(sizeof(double) * (size_t)bins);
    if (!p || !q) {
        free(p);
        free(q);
        return thr_minmax(c, bins, width);
    }
    double tail = 0.0; /* sum of c[i..bins) */
    for (int i = nq; i < bins; i++) tail += c[i];
    double best_kl = INFINITY;
    int best_i = bins;
    for (int i = nq; i <= bins; i++) {
        if (i > nq) tail -= c[i - 1];
        if (i - 1 > last + 1) break; /* cuts past the data all equal the full histogram */
        double psum = 0.0;
        for (int b = 0; b < i; b++) p[b] = c[b];
        p[i - 1] += tail;
        for (int b = 0; b < i; b++) psum += p[b];
        if (psum <= 0.0) continue;
        for (int j = 0; j < nq; j++) {
            int lo = (int)((int64_t)j * i / nq), hi = (int)((int64_t)(j + 1) * i / nq);
            double s = 0.0;
            int nz = 0;
            for (int b = lo; b < hi; b++) {
                s += c[b];
                nz += c[b] != 0.0;
            }
            for (int b = lo; b < hi; b++) q[b] = (c[b] != 0.0 && nz) ? s / nz : 0.0;
        }
        double qsum = 0.0;
        for (int b = 0; b < i; b++) qsum += q[b];
        if (qsum <= 0.0) continue;
        double kl = 0.0;
        for (int b = 0; b < i; b++) {
            if (p[b] <= 0.0) continue;
            double pn = p[b] / psum;
            /* Q is empty where only the folded-in tail lives: a tiny floor keeps KL finite
             * and still punishes the cut (ONNX Runtime smooths the same way). */
            double qn = q[b] > 0.0 ? q[b] / qsum : 1e-12;
            kl += pn * log(pn / qn);
        }
        if (kl < best_kl) {
            best_kl = kl;
            best_i = i;
        }
    }
    free(p);
    free(q);
    double t = (best_i + 0.5) * width;
    double mx = thr_minmax(c, bins, width);
    return t < mx ? t : mx;
}

/* Threshold T minimizing the expected squared error of quantizing |x| to `levels` steps:
 * values above T clip ((x - T)^2); values below carry uniform rounding noise, step^2 / 12 with
 * step = T / levels. Bin centers stand in for their values. Suffix sums make it O(bins). */
static double thr_mse(const double *c, int bins, double width, int levels) {
    double *s0 = calloc((size_t)bins + 1, sizeof(double)), *s1 = calloc((size_t)bins + 1, sizeof(double)),
           *s2 = calloc((size_t)bins + 1, sizeof(double));
    if (!s0 || !s1 || !s2) {
        free(s0);
        free(s1);
        free(s2);
        return thr_minmax(c, bins, width);
    }
    for (int b = bins - 1; b >= 0; b--) {
        double x = (b + 0.5) * width;
        s0[b] = s0[b + 1] + c[b];
        s1[b] = s1[b + 1] + c[b] * x;
        s2[b] = s2[b + 1] + c[b] * x * x;
    }
    double best_e = INFINITY, best_t = thr_minmax(c, bins, width);
    for (int i = 1; i <= bins; i++) {
        double t = i * width;
        double step = t / levels;
        double head = s0[0] - s0[i];
        double e = head * step * step / 12.0 + (s2[i] - 2.0 * t * s1[i] + t * t * s0[i]);
        if (e < best_e) {
            best_e = e;
            best_t = t;
        }
    }
    free(s0);
    free(s1);
    free(s2);
    return best_t;
}

double df_hist_threshold(const double *counts, int bins, double width, const char *method, double percentile,
                         int levels) {
    if (!counts || bins <= 0 || !(width > 0.0)) return 0.0;
    if (levels <= 0) levels = 127;
    if (!method || !strcmp(method, "percentile"))
        return thr_percentile(counts, bins, width, percentile > 0.0 ? percentile : 99.999);
    if (!strcmp(method, "entropy")) return thr_entropy(counts, bins, width);
    if (!strcmp(method, "mse")) return thr_mse(counts, bins, width, levels);
    return thr_minmax(counts, bins, width);
}
