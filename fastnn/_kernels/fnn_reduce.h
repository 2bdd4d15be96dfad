/*
 * fnn_reduce.h -- the one reduction mechanism of fastnn's kernels: sums in FNN_LANES
 * float64 lanes, combined in a fixed order.
 *
 * A floating-point sum is a serial dependency chain, and without -ffast-math (which
 * fastnn never uses: it breaks NaN/inf semantics) the compiler may not reorder it, so
 * `s += x[i]` runs one add at a time.  Here element i goes to lane i % FNN_LANES for the
 * whole multiple of FNN_LANES, the tail is summed in order, and the lanes are then added
 * to the tail's sum from lane 0 up.  That order is written in the source, so the compiler
 * vectorises the lanes (FNN_LANES independent chains) without reassociating anything:
 * the result depends on n and the values only, not on the thread count (callers cut
 * their work by shape).  Plain sums are the same on every SIMD target; a sum of
 * products may differ in the last bits where the target's FMA contracts a multiply-add.
 * Every sum accumulates in double.
 *
 * FNN_LANE_SUM / FNN_LANE_SUM2 are the mechanism; the functions below (float and double
 * inputs, exposed through common.pxd) are its uses.
 */
#ifndef FNN_REDUCE_H
#define FNN_REDUCE_H

#include <stddef.h>

#define FNN_LANES 16

/* *OUT_A += sum over i in [0, n) of (double)(EXPR_A), EXPR_A an expression of i. */
#define FNN_LANE_SUM(n, i, EXPR_A, OUT_A)                                                  \
    do {                                                                                   \
        double la_[FNN_LANES], ta_ = 0;                                                    \
        ptrdiff_t n_ = (n), m_ = n_ - n_ % FNN_LANES, b_, i;                               \
        for (int k_ = 0; k_ < FNN_LANES; k_++) la_[k_] = 0;                                \
        for (b_ = 0; b_ < m_; b_ += FNN_LANES)                                             \
            for (int k_ = 0; k_ < FNN_LANES; k_++) {                                       \
                i = b_ + k_;                                                               \
                la_[k_] += (double)(EXPR_A);                                               \
            }                                                                              \
        for (i = m_; i < n_; i++) ta_ += (double)(EXPR_A);                                 \
        for (int k_ = 0; k_ < FNN_LANES; k_++) ta_ += la_[k_];                             \
        *(OUT_A) += ta_;                                                                   \
    } while (0)

/* Two sums in one pass: *OUT_A += sum(EXPR_A), *OUT_B += sum(EXPR_B). */
#define FNN_LANE_SUM2(n, i, EXPR_A, EXPR_B, OUT_A, OUT_B)                                  \
    do {                                                                                   \
        double la_[FNN_LANES], lb_[FNN_LANES], ta_ = 0, tb_ = 0;                           \
        ptrdiff_t n_ = (n), m_ = n_ - n_ % FNN_LANES, b_, i;                               \
        for (int k_ = 0; k_ < FNN_LANES; k_++) { la_[k_] = 0; lb_[k_] = 0; }               \
        for (b_ = 0; b_ < m_; b_ += FNN_LANES)                                             \
            for (int k_ = 0; k_ < FNN_LANES; k_++) {                                       \
                i = b_ + k_;                                                               \
                la_[k_] += (double)(EXPR_A);                                               \
                lb_[k_] += (double)(EXPR_B);                                               \
            }                                                                              \
        for (i = m_; i < n_; i++) { ta_ += (double)(EXPR_A); tb_ += (double)(EXPR_B); }   \
        for (int k_ = 0; k_ < FNN_LANES; k_++) { ta_ += la_[k_]; tb_ += lb_[k_]; }         \
        *(OUT_A) += ta_;                                                                   \
        *(OUT_B) += tb_;                                                                   \
    } while (0)

#define FNN_DEFINE_REDUCTIONS(T, SUFFIX)                                                   \
/* sum(x) */                                                                               \
static inline double fnn_sum_##SUFFIX(const T *x, ptrdiff_t n) {                          \
    double s = 0;                                                                          \
    FNN_LANE_SUM(n, i, x[i], &s);                                                          \
    return s;                                                                              \
}                                                                                          \
/* sum(x^2) */                                                                             \
static inline double fnn_sumsq_##SUFFIX(const T *x, ptrdiff_t n) {                        \
    double s = 0;                                                                          \
    FNN_LANE_SUM(n, i, (double)x[i] * (double)x[i], &s);                                   \
    return s;                                                                              \
}                                                                                          \
/* sum((p - t)^2) */                                                                       \
static inline double fnn_sqdiff_sum_##SUFFIX(const T *p, const T *t, ptrdiff_t n) {       \
    double s = 0;                                                                          \
    FNN_LANE_SUM(n, i, ((double)p[i] - (double)t[i]) * ((double)p[i] - (double)t[i]), &s); \
    return s;                                                                              \
}                                                                                          \
/* s1 += sum(x - k), s2 += sum((x - k)^2) */                                               \
static inline void fnn_shifted_sums_##SUFFIX(const T *x, ptrdiff_t n, double k,           \
                                             double *s1, double *s2) {                    \
    FNN_LANE_SUM2(n, i, (double)x[i] - k, ((double)x[i] - k) * ((double)x[i] - k), s1, s2);\
}                                                                                          \
/* sg += sum(g), sgx += sum(g * (x - mean)) */                                             \
static inline void fnn_grad_sums_##SUFFIX(const T *g, const T *x, ptrdiff_t n,            \
                                          double mean, double *sg, double *sgx) {         \
    FNN_LANE_SUM2(n, i, g[i], (double)g[i] * ((double)x[i] - mean), sg, sgx);              \
}                                                                                          \
/* s1 += sum(g * w), s2 += sum(g * w * (x - mean)) */                                      \
static inline void fnn_weighted_grad_sums_##SUFFIX(const T *g, const T *x, const T *w,    \
                                                   ptrdiff_t n, double mean,              \
                                                   double *s1, double *s2) {              \
    FNN_LANE_SUM2(n, i, (double)g[i] * (double)w[i],                                       \
                  (double)g[i] * (double)w[i] * ((double)x[i] - mean), s1, s2);            \
}

FNN_DEFINE_REDUCTIONS(float, f32)
FNN_DEFINE_REDUCTIONS(double, f64)

#endif /* FNN_REDUCE_H */
