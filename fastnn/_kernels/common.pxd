# The kernel toolkit, shared by every kernel module: the OpenMP shim and CPU detection, the
# scalar maths (float32 through the vectorisable fnn_math.h, float64 through libm), the one
# reduction mechanism (fnn_reduce.h), the thread count rule, streaming stores and the
# single-threaded BLAS GEMM.  The parallel thresholds themselves are a table in _runtime
# (_runtime.pxd: parallel_min).

cdef extern from "fnn_runtime.h" nogil:
    int FNN_HAVE_OPENMP
    int omp_get_max_threads()
    int omp_get_thread_num()
    void omp_set_num_threads(int n)
    int fnn_cpu_has_avx2()
    int fnn_cpu_has_avx512()

cdef extern from "fnn_math.h" nogil:
    float fnn_absf(float x)
    float fnn_expf(float x)
    float fnn_expm1f(float x)
    float fnn_tanhf(float x)
    float fnn_sigmoidf(float x)
    float fnn_log1pf_pos(float u)
    float fnn_erfcf(float z)
    float fnn_geluf(float x)
    float fnn_gelu_gradf(float x)


# ---- scalar maths: float32 goes to fnn_math.h (vectorisable), float64 to libm ----

from cython cimport floating
from libc.math cimport exp, expm1, tanh, erfc, fabs, log1p, sqrt, sqrtf

cdef extern from *:
    """
    #define FNN_SQRT1_2 0.70710678118654752440      /* 1/sqrt(2) */
    #define FNN_INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
    """
    const double SQRT1_2 "FNN_SQRT1_2"
    const double INV_SQRT_2PI "FNN_INV_SQRT_2PI"


cdef inline floating fexp(floating x) noexcept nogil:
    """exp(x)"""
    if floating is float:
        return fnn_expf(x)
    else:
        return exp(x)


cdef inline floating fexpm1(floating x) noexcept nogil:
    """exp(x) - 1, no cancellation near 0"""
    if floating is float:
        return fnn_expm1f(x)
    else:
        return expm1(x)


cdef inline floating ftanh(floating x) noexcept nogil:
    """tanh(x)"""
    if floating is float:
        return fnn_tanhf(x)
    else:
        return tanh(x)


cdef inline floating fsigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(-x)), stable in both tails"""
    cdef floating e
    if floating is float:
        return fnn_sigmoidf(x)
    else:
        e = exp(-fabs(x))
        return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


cdef inline floating fnormal_cdf(floating x) noexcept nogil:
    """Phi(x) = erfc(-x / sqrt 2) / 2 (accurate in the left tail)"""
    if floating is float:
        return 0.5 * fnn_erfcf(-x * <float>SQRT1_2)
    else:
        return 0.5 * erfc(-x * SQRT1_2)


cdef inline floating fgelu(floating x) noexcept nogil:
    """x Phi(x)"""
    if floating is float:
        return fnn_geluf(x)
    else:
        return x * (0.5 * erfc(-x * SQRT1_2))


cdef inline floating fgelu_grad(floating x) noexcept nogil:
    """d/dx [x Phi(x)] = Phi(x) + x phi(x)"""
    if floating is float:
        return fnn_gelu_gradf(x)
    else:
        return fnormal_cdf(x) + x * INV_SQRT_2PI * exp(-0.5 * x * x)


cdef inline floating flog1p_pos(floating u) noexcept nogil:
    """log1p(u) for u >= 0"""
    if floating is float:
        return fnn_log1pf_pos(u)
    else:
        return log1p(u)


cdef inline floating fsqrt(floating x) noexcept nogil:
    """sqrt(x)"""
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating fclip(floating v, floating lo, floating hi) noexcept nogil:
    """min(max(v, lo), hi); NaN passes through"""
    return lo if v < lo else (hi if v > hi else v)


# ---- reductions: fnn_reduce.h, sums in FNN_LANES float64 lanes combined in a fixed order ----
# (the result depends on the values and n only, never on the thread count)

cdef extern from "fnn_reduce.h" nogil:
    enum: LANES "FNN_LANES"
    double fnn_sum_f32(const float* x, Py_ssize_t n)
    double fnn_sum_f64(const double* x, Py_ssize_t n)
    double fnn_sumsq_f32(const float* x, Py_ssize_t n)
    double fnn_sumsq_f64(const double* x, Py_ssize_t n)
    double fnn_sqdiff_sum_f32(const float* p, const float* t, Py_ssize_t n)
    double fnn_sqdiff_sum_f64(const double* p, const double* t, Py_ssize_t n)
    void fnn_shifted_sums_f32(const float* x, Py_ssize_t n, double k, double* s1, double* s2)
    void fnn_shifted_sums_f64(const double* x, Py_ssize_t n, double k, double* s1, double* s2)
    void fnn_grad_sums_f32(const float* g, const float* x, Py_ssize_t n, double mean,
                           double* sg, double* sgx)
    void fnn_grad_sums_f64(const double* g, const double* x, Py_ssize_t n, double mean,
                           double* sg, double* sgx)
    void fnn_weighted_grad_sums_f32(const float* g, const float* x, const float* w, Py_ssize_t n,
                                    double mean, double* s1, double* s2)
    void fnn_weighted_grad_sums_f64(const double* g, const double* x, const double* w,
                                    Py_ssize_t n, double mean, double* s1, double* s2)


cdef inline double lane_sum(const floating* v, Py_ssize_t n) noexcept nogil:
    """sum(v[0:n])"""
    if floating is float:
        return fnn_sum_f32(v, n)
    else:
        return fnn_sum_f64(v, n)


cdef inline double lane_sumsq(const floating* v, Py_ssize_t n) noexcept nogil:
    """sum(v[0:n]^2)"""
    if floating is float:
        return fnn_sumsq_f32(v, n)
    else:
        return fnn_sumsq_f64(v, n)


cdef inline double lane_sqdiff_sum(const floating* p, const floating* t, Py_ssize_t n) noexcept nogil:
    """sum((p - t)^2) over [0, n)"""
    if floating is float:
        return fnn_sqdiff_sum_f32(p, t, n)
    else:
        return fnn_sqdiff_sum_f64(p, t, n)


cdef inline void shifted_sums(const floating* x, Py_ssize_t n, double k,
                              double* s1, double* s2) noexcept nogil:
    """s1 += sum(x - k), s2 += sum((x - k)^2)"""
    if floating is float:
        fnn_shifted_sums_f32(x, n, k, s1, s2)
    else:
        fnn_shifted_sums_f64(x, n, k, s1, s2)


cdef inline void grad_sums(const floating* g, const floating* x, Py_ssize_t n, double mean,
                           double* sg, double* sgx) noexcept nogil:
    """sg += sum(g), sgx += sum(g * (x - mean))"""
    if floating is float:
        fnn_grad_sums_f32(g, x, n, mean, sg, sgx)
    else:
        fnn_grad_sums_f64(g, x, n, mean, sg, sgx)


cdef inline void weighted_grad_sums(const floating* g, const floating* x, const floating* w,
                                    Py_ssize_t n, double mean, double* s1,
                                    double* s2) noexcept nogil:
    """s1 += sum(g * w), s2 += sum(g * w * (x - mean))"""
    if floating is float:
        fnn_weighted_grad_sums_f32(g, x, w, n, mean, s1, s2)
    else:
        fnn_weighted_grad_sums_f64(g, x, w, n, mean, s1, s2)


# ---- threads ----

cdef inline int threads_for(Py_ssize_t work, Py_ssize_t threshold, int n_threads) noexcept nogil:
    """Threads to use for `work` elements: one below `threshold`, else one per `threshold`
    elements (at least 2), at most n_threads.

    `threshold` is where 2 threads start to beat 1 (measured per family).  Beyond it a team
    larger than work / threshold costs more to wake than it saves: on 16 cores the ops under
    0.5 ms got 10-50% slower from 8 to 16 threads before this cap (README, "OpenMP scaling").
    """
    cdef Py_ssize_t t
    if work < threshold or n_threads < 2:
        return 1
    if threshold < 1:          # a threshold of 0 (bench/threshold.py): every thread
        return n_threads
    t = work // threshold
    if t < 2:
        t = 2
    return n_threads if t >= n_threads else <int>t

cdef extern from "fnn_stream.h" nogil:
    void fnn_stream_copy_f32(float *dst, const float *src, Py_ssize_t n)
    void fnn_stream_copy_f64(double *dst, const double *src, Py_ssize_t n)
    void fnn_stream_fence()


cdef inline void stream_copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[:n] = src[:n] with non-temporal stores (fnn_stream.h)"""
    if floating is float:
        fnn_stream_copy_f32(dst, src, n)
    else:
        fnn_stream_copy_f64(dst, src, n)


# ---- single-threaded GEMM called from nogil code inside an OpenMP loop ----
# fn == 0: fastnn's own GEMM (fnn_gemm.h: packed panels, register-blocked
# microkernel of the SIMD target this module is compiled for).  Otherwise fn
# is the address of a Fortran-BLAS sgemm/dgemm (SciPy's Cython export,
# scipy.linalg.cython_blas), chosen by fastnn.ops._common.gemm_backend();
# row-major C = op(A) op(B) is the column-major call gemm(tB, tA, N, M, K, B, A)
# on the same memory.

cdef extern from "fnn_gemm.h" nogil:
    void fnn_gemm_f32(int ta, int tb, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, float alpha,
                      const float* A, Py_ssize_t lda, const float* B, Py_ssize_t ldb,
                      float beta, float* C, Py_ssize_t ldc)
    void fnn_gemm_f64(int ta, int tb, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, double alpha,
                      const double* A, Py_ssize_t lda, const double* B, Py_ssize_t ldb,
                      double beta, double* C, Py_ssize_t ldc)
    int fnn_gemm_mr()
    int fnn_gemm_nr_f32()
    int fnn_gemm_nr_f64()
    int fnn_gemm_kc_f32()
    int fnn_gemm_kc_f64()
    double fnn_gemm_peak_f32(Py_ssize_t n)

ctypedef void (*sgemm_t)(char *ta, char *tb, int *m, int *n, int *k, float *alpha, float *a, int *lda,
                         float *b, int *ldb, float *beta, float *c, int *ldc) noexcept nogil
ctypedef void (*dgemm_t)(char *ta, char *tb, int *m, int *n, int *k, double *alpha, double *a, int *lda,
                         double *b, int *ldb, double *beta, double *c, int *ldc) noexcept nogil


cdef inline void gemm_rm(size_t fn, bint trans_a, bint trans_b, int M, int N, int K, floating alpha,
                          const floating* A, int lda, const floating* B, int ldb,
                          floating beta, floating* C, int ldc) noexcept nogil:
    """row-major C (M, N) = alpha op(A) op(B) + beta C, op = transpose when trans_*;
    fn 0: fastnn's GEMM, else a BLAS gemm's address"""
    cdef char ta = 84 if trans_a else 78      # 'T' / 'N'
    cdef char tb = 84 if trans_b else 78
    if fn == 0:
        if floating is float:
            fnn_gemm_f32(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        else:
            fnn_gemm_f64(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
    elif floating is float:
        (<sgemm_t>fn)(&tb, &ta, &N, &M, &K, &alpha, <float*>B, &ldb, <float*>A, &lda, &beta, C, &ldc)
    else:
        (<dgemm_t>fn)(&tb, &ta, &N, &M, &K, &alpha, <double*>B, &ldb, <double*>A, &lda, &beta, C, &ldc)
