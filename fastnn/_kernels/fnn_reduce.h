/*
 * fnn_reduce.h -- vectorised sums for the normalisation kernels.
 *
 * A floating-point sum is a serial dependency chain, and without -ffast-math
 * (which fastnn never uses: it breaks NaN/inf semantics) the compiler may
 * not reorder it, so `s += x[i]` runs one add at a time.  `#pragma omp simd
 * reduction` (enabled by -fopenmp or -fopenmp-simd, see setup.py) allows
 * exactly this reordering and nothing else: the loop becomes SIMD lanes of
 * partial sums combined at the end.  The result is deterministic for a
 * given SIMD target (it does not depend on the thread count); targets may
 * differ in the last bits.  All sums accumulate in double.
 */
#ifndef FNN_REDUCE_H
#define FNN_REDUCE_H

#include <stddef.h>

#define FNN_DEFINE_REDUCTIONS(T, SUFFIX)                                              \
/* s1 += sum(x - k), s2 += sum((x - k)^2) */                                          \
static inline void fnn_shifted_sums_##SUFFIX(const T *x, ptrdiff_t n, double k,      \
                                             double *s1, double *s2) {               \
    double a = 0, b = 0;                                                              \
    _Pragma("omp simd reduction(+:a,b)")                                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        double d = (double)x[i] - k;                                                  \
        a += d;                                                                       \
        b += d * d;                                                                   \
    }                                                                                 \
    *s1 += a;                                                                         \
    *s2 += b;                                                                         \
}                                                                                     \
/* sg += sum(g), sgx += sum(g * (x - mean)) */                                        \
static inline void fnn_grad_sums_##SUFFIX(const T *g, const T *x, ptrdiff_t n,       \
                                          double mean, double *sg, double *sgx) {    \
    double a = 0, b = 0;                                                              \
    _Pragma("omp simd reduction(+:a,b)")                                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        a += (double)g[i];                                                            \
        b += (double)g[i] * ((double)x[i] - mean);                                    \
    }                                                                                 \
    *sg += a;                                                                         \
    *sgx += b;                                                                        \
}                                                                                     \
/* s1 += sum(g * w), s2 += sum(g * w * (x - mean)) */                                 \
static inline void fnn_weighted_grad_sums_##SUFFIX(const T *g, const T *x, const T *w,\
                                                   ptrdiff_t n, double mean,         \
                                                   double *s1, double *s2) {         \
    double a = 0, b = 0;                                                              \
    _Pragma("omp simd reduction(+:a,b)")                                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        double t = (double)g[i] * (double)w[i];                                       \
        a += t;                                                                       \
        b += t * ((double)x[i] - mean);                                               \
    }                                                                                 \
    *s1 += a;                                                                         \
    *s2 += b;                                                                         \
}

FNN_DEFINE_REDUCTIONS(float, f32)
FNN_DEFINE_REDUCTIONS(double, f64)

#endif /* FNN_REDUCE_H */
