/*
 * fnn_math.h -- branch-free float32 transcendental functions that the
 * compiler can auto-vectorise (SSE2 / AVX2 / AVX-512, whatever the
 * translation unit is compiled for).
 *
 * Why not libm: glibc's expf/tanhf/erff are scalar calls, so a loop that
 * uses them never vectorises.  These functions use only +, *, /, compares,
 * selects and integer bit tricks, which vectorise everywhere.
 *
 * NaN and +-inf follow IEEE / PyTorch semantics: NaN in gives NaN out,
 * exp(+inf) = inf, exp(-inf) = 0, tanh(+-inf) = +-1, erfc(+inf) = 0, ...
 * Every function is exercised against float64 libm in tests/.
 * Polynomial coefficients were fitted for fastnn (least squares on
 * Chebyshev nodes, relative-error weighted, against mpmath; erfc's against
 * SciPy's float64 erfcx).
 *
 * Accuracy (float32, tests/test_math.py): exp <= 1.4 ulp, tanh <= 7 ulp,
 * sigmoid <= 3, ELU (expm1) <= 2, softplus (log1p) <= 4; exact GELU through
 * erfc: relative error < 1e-6 for x > -2, growing like z^2 eps in the far left
 * tail (1.5e-5 at x = -12), where 1 + erf(x) in float32 would give 0.
 *
 * Double precision uses the C library (exact to < 1 ulp); see common.pxd.
 */
#ifndef FNN_MATH_H
#define FNN_MATH_H

#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(_MSC_VER)
#define FNN_INLINE static __forceinline
#else
#define FNN_INLINE static inline __attribute__((always_inline))
#endif

FNN_INLINE int32_t fnn_f2i_bits(float f) { int32_t i; memcpy(&i, &f, 4); return i; }
FNN_INLINE float fnn_i2f_bits(int32_t i) { float f; memcpy(&f, &i, 4); return f; }

/* |x| without a libm call. */
FNN_INLINE float fnn_absf(float x) { return fnn_i2f_bits(fnn_f2i_bits(x) & 0x7fffffff); }

/* sign of s copied onto the magnitude of m */
FNN_INLINE float fnn_copysignf(float m, float s) {
    return fnn_i2f_bits((fnn_f2i_bits(m) & 0x7fffffff) | (fnn_f2i_bits(s) & (int32_t)0x80000000));
}

/* exp(x).  x = n ln2 + r, |r| <= ln2/2;  exp(x) = 2^n * P(r).
 * 2^n is applied in two halves so results down to the smallest subnormal
 * are correct; large x overflows to inf naturally.  The clamps are written
 * as `a > b ? a : b` so they compile to single max/min instructions; NaN is
 * clamped like any number and restored by the final select. */
FNN_INLINE float fnn_expf(float x) {
    const float shifter = 12582912.0f;           /* 1.5 * 2^23: round to nearest */
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;     /* ln2 with 16 trailing zero bits */
    const float ln2_lo = 1.42860682030941723e-06f;
    float xc = x > -104.0f ? x : -104.0f;        /* NaN -> -104 (restored below) */
    xc = xc < 89.0f ? xc : 89.0f;
    float t = xc * log2e + shifter;
    float n = t - shifter;
    float r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    float p = 0.001382941147312522f;
    p = p * r + 0.008374777622520924f;
    p = p * r + 0.0416683591902256f;
    p = p * r + 0.1666642129421234f;
    p = p * r + 0.49999991059303284f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ni = fnn_f2i_bits(t) - 0x4b400000;   /* n as an integer, read off t's mantissa */
    int32_t n1 = ni >> 1;
    int32_t n2 = ni - n1;
    float s1 = fnn_i2f_bits((n1 + 127) << 23);
    float s2 = fnn_i2f_bits((n2 + 127) << 23);
    float res = (p * s1) * s2;
    return (x != x) ? x : res;
}

/* expm1(x): polynomial near 0 (no cancellation), exp(x) - 1 elsewhere. */
FNN_INLINE float fnn_expm1f(float x) {
    float p = 0.00019858378800563514f;
    p = p * x + 0.0013981927186250687f;
    p = p * x + 0.008333506062626839f;
    p = p * x + 0.04166579619050026f;
    p = p * x + 0.1666666567325592f;
    p = p * x + 0.5f;
    float small = x + (x * x) * p;
    float big = fnn_expf(x) - 1.0f;
    return fnn_absf(x) <= 0.5f ? small : big;
}

/* tanh(x) = x P(x^2) / Q(x^2) on |x| <= 9 (a rational fit, <= 6 ulp), and
 * +-1 beyond (tanh(9) rounds to 1 in float32).  One division, no exp. */
FNN_INLINE float fnn_tanhf(float x) {
    float xc = x > -9.0f ? x : -9.0f;            /* NaN -> -9 (restored below) */
    xc = xc < 9.0f ? xc : 9.0f;
    float s = xc * xc;
    float p = 1.3442355172853662e-08f;
    p = p * s + 2.0679632960904765e-05f;
    p = p * s + 0.003500200324449925f;
    p = p * s + 0.13385019856538347f;
    p = p * s + 0.9999999925864869f;
    float q = 7.814576766563632e-07f;
    q = q * s + 0.0003292947289985147f;
    q = q * s + 0.025894870866460206f;
    q = q * s + 0.46718341034666805f;
    q = q * s + 1.0f;
    float r = xc * p / q;
    r = r > 1.0f ? 1.0f : r;                     /* never overshoot |tanh| <= 1 */
    r = r < -1.0f ? -1.0f : r;
    return (x != x) ? x : r;
}

/* logistic sigmoid, stable in both tails: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below. */
FNN_INLINE float fnn_sigmoidf(float x) {
    float e = fnn_expf(-fnn_absf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;                /* NaN: e is NaN so e*s is NaN */
}

/* log1p(u) for u >= 0 (all fastnn needs: softplus).  v = 1 + u = 2^k m,
 * m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1); the
 * rounding error of 1 + u is added back as (u - (v - 1)) / v. */
FNN_INLINE float fnn_log1pf_pos(float u) {
    float v = 1.0f + u;
    float corr = (u - (v - 1.0f)) / v;
    int32_t iv = fnn_f2i_bits(v);
    /* shift by the bits of sqrt(1/2) so m lands in [sqrt(1/2), sqrt(2)) */
    int32_t ix = iv - 0x3f3504f3;
    int32_t k = ix >> 23;
    float m = fnn_i2f_bits((ix & 0x007fffff) + 0x3f3504f3);
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float p = 0.23298045992851257f;
    p = p * s2 + 0.2855239510536194f;
    p = p * s2 + 0.40000101923942566f;
    p = p * s2 + 0.6666666865348816f;
    float logm = 2.0f * s + s * s2 * p;
    float r = (float)k * 0.693147180559945309f + logm + corr;
    r = (u == INFINITY) ? u : r;
    return (u != u) ? u : r;
}

/* erfc(z) for all z, and *e = exp(-z^2) as a by-product (the GELU gradient
 * needs exactly that for the normal pdf; 0 for |z| >= 11).  One branch-free
 * formula for every |z|: erfc(|z|) = exp(-z^2) R(t), t = 1/(1 + |z|/2), R a
 * degree-9 polynomial fitted to erfcx on |z| in [0, 11] (relative error 3.7e-8
 * in float64, below float32's rounding), reflected for negative z.  One exp,
 * one division and ten FMAs: no separate series near 0 to compute and select. */
FNN_INLINE float fnn_erfcf_exp(float z, float *e) {
    float a = fnn_absf(z);
    float ac = a > 11.0f ? 11.0f : a;            /* erfc(11) == 0 in float32 (exp(-121) underflows) */
    float t = 1.0f / (1.0f + 0.5f * ac);
    float q = -0.056683603674173355f;
    q = q * t + 0.272337406873703f;
    q = q * t - 0.460227370262146f;
    q = q * t + 0.24465669691562653f;
    q = q * t - 0.0010855220025405288f;
    q = q * t + 0.19023793935775757f;
    q = q * t + 0.24695880711078644f;
    q = q * t + 0.28164634108543396f;
    q = q * t + 0.282162606716156f;
    q = q * t - 3.348701739014359e-06f;
    float ez = fnn_expf(-ac * ac);
    float erfc_abs = ez * q;                     /* erfc(|z|) */
    float r = z >= 0.0f ? erfc_abs : 2.0f - erfc_abs;
    *e = ez;
    return (z != z) ? z : r;
}

FNN_INLINE float fnn_erfcf(float z) {
    float e;
    return fnn_erfcf_exp(z, &e);
}

/* exact GELU: x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 */
FNN_INLINE float fnn_geluf(float x) {
    return x * (0.5f * fnn_erfcf(-x * 0.70710678118654752f));
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x): the erfc and the pdf share one exp. */
FNN_INLINE float fnn_gelu_gradf(float x) {
    float e;
    float cdf = 0.5f * fnn_erfcf_exp(-x * 0.70710678118654752f, &e);
    return cdf + x * (0.39894228040143267794f * e);
}

#endif /* FNN_MATH_H */
